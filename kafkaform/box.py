"""Package a baked machine as a reusable box, listed in a versioned catalog.

    KAFKA_BAKE=1 vagrant up && kafkaform box package --provider docker  # virtualbox, libvirt
    kafkaform lab up --nodes 1 && pyinfra -y --data base_box=true inventories/lab.py \\
        deploys/base_box.py \\
        && kafkaform box package --provider lab

virtualbox/libvirt: ``vagrant package`` (python-vagrant). docker: the baked container is
committed into an image and a docker-provider box names it. lab: the baked host's root
filesystem is exported for ``kafkaform lab up --box FILE``.

Every box is added to ``<output>/metadata.json``, a Vagrant catalog (name, versions, provider,
url, sha256), so teams run ``vagrant box add <output>/metadata.json --box-version V`` (or set
``KAFKA_BOX_URL``) and ``vagrant box outdated`` tells them when a newer bake exists.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkaform import settings
from kafkaform.artifacts import file_digest
from kafkaform.dockerd import DockerError
from kafkaform.lab import LabError

Progress = Callable[[str], None]

DEFAULT_NAME = "kafkaform/kafka"
DEFAULT_OUTPUT = Path("boxes")
PROVIDERS = ("virtualbox", "libvirt", "docker", "lab")
LAB_PROVIDER = "kafkaform-lab"  # not a Vagrant provider: `vagrant box add` never picks it
BOX_INFO = "etc/kafkaform/box.json"  # inside a lab box: what it is (not which host)
VERSION_RE = re.compile(r"^\d+(\.\d+)*$")
REPO = Path(__file__).resolve().parent.parent


class BoxError(Exception):
    """A packaging problem with a message a person can act on."""


# ---------------------------------------------------------------------------------------------
# Catalog (pure).


def catalog_provider(provider: str) -> str:
    return LAB_PROVIDER if provider == "lab" else provider


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def next_version(catalog: dict[str, Any], provider: str, kafka_version: str) -> str:
    """``<kafka version>.<n>``: one more bake of this Kafka for this provider."""
    name = catalog_provider(provider)
    revisions = [
        int(entry["version"][len(kafka_version) + 1 :])
        for entry in catalog.get("versions", [])
        if entry["version"].startswith(kafka_version + ".")
        and entry["version"][len(kafka_version) + 1 :].isdigit()
        and any(p["name"] == name for p in entry.get("providers", []))
    ]
    return f"{kafka_version}.{max(revisions, default=0) + 1}"


def add_to_catalog(
    catalog: dict[str, Any] | None,
    *,
    name: str,
    version: str,
    provider: str,
    url: str,
    sha256: str,
    description: str,
) -> dict[str, Any]:
    """The catalog with this box added; a box of the same version and provider is replaced."""
    if not VERSION_RE.match(version):
        raise BoxError(f"box version must be numbers and dots (like 3.9.2.1), got {version!r}")
    catalog = dict(catalog or {"name": name, "versions": []})
    if catalog.get("name") != name:
        raise BoxError(f"the catalog lists {catalog.get('name')!r}, not {name!r}")
    catalog.setdefault("description", "Kafka and ZooKeeper, installed by kafkaform; no host ids")
    versions = [dict(v) for v in catalog.get("versions", [])]
    entry = next((v for v in versions if v["version"] == version), None)
    if entry is None:
        entry = {"version": version, "providers": []}
        versions.append(entry)
    entry["description"] = description
    pname = catalog_provider(provider)
    entry["providers"] = [p for p in entry.get("providers", []) if p["name"] != pname] + [
        {"name": pname, "url": url, "checksum_type": "sha256", "checksum": sha256}
    ]
    catalog["versions"] = sorted(versions, key=lambda v: _version_key(v["version"]))
    return catalog


def find_in_catalog(
    catalog: dict[str, Any], provider: str, version: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(version, provider entry): the given version, else the newest that has the provider."""
    pname = catalog_provider(provider)
    for entry in sorted(
        catalog.get("versions", []), key=lambda v: _version_key(v["version"]), reverse=True
    ):
        if version not in (None, entry["version"]):
            continue
        for p in entry.get("providers", []):
            if p["name"] == pname:
                return entry["version"], p
    wanted = f"version {version}" if version else "any version"
    raise BoxError(f"the catalog has no {pname} box for {wanted}")


def load_catalog(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise BoxError(f"{path} is not valid JSON: {exc}") from exc


def sha256_of(path: Path) -> str:
    return file_digest(path, "sha256")


def docker_box_vagrantfile(image: str) -> str:
    return (
        'Vagrant.configure("2") do |config|\n'
        "  config.vm.provider :docker do |d|\n"
        f'    d.image = "{image}"\n'
        "  end\n"
        "end\n"
    )


def docker_image_name(name: str, version: str) -> str:
    return f"{name.lower()}-box:{version}"


def write_docker_box(dest: Path, image: str) -> None:
    """A docker-provider box: metadata.json and a Vagrantfile naming the image."""
    with tarfile.open(dest, "w:gz") as tar:
        for member, text in (
            ("metadata.json", json.dumps({"provider": "docker"}) + "\n"),
            ("Vagrantfile", docker_box_vagrantfile(image)),
        ):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------------------------
# Packaging.


def _vagrant(root: Path) -> Any:
    import vagrant

    return vagrant.Vagrant(str(root), quiet_stdout=False, quiet_stderr=False)


def _machine_id(root: Path, machine: str, provider: str) -> str:
    dotfile = Path(os.environ.get("VAGRANT_DOTFILE_PATH") or root / ".vagrant")
    if not dotfile.is_absolute():
        dotfile = root / dotfile
    path = dotfile / "machines" / machine / provider / "id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise BoxError(
            f"no {provider} machine {machine!r} ({path} is missing): bake it first with "
            "`KAFKA_BAKE=1 vagrant up`"
        ) from None


def package_vagrant(
    provider: str, machine: str, dest: Path, root: Path, progress: Progress
) -> None:
    _machine_id(root, machine, provider)
    progress(f"vagrant package {machine} --output {dest}")
    # vagrant package halts the machine and exports its disk with the provider's own tools.
    _vagrant(root).package(vm_name=machine, output=str(dest))


def package_docker(machine: str, dest: Path, image: str, root: Path, progress: Progress) -> None:
    from kafkaform import dockerd

    container = _machine_id(root, machine, "docker")
    progress(f"docker commit {container[:12]} {image}")
    dockerd.docker("commit", "--change", 'CMD ["/lib/systemd/systemd"]', container, image)
    write_docker_box(dest, image)


def package_lab(node: str, dest: Path, info: dict[str, Any], progress: Progress) -> None:
    from kafkaform import lab

    lab.export_rootfs(node, dest, info, progress=progress)


def package(
    provider: str,
    *,
    name: str = DEFAULT_NAME,
    version: str | None = None,
    output: Path = DEFAULT_OUTPUT,
    machine: str = "kafka-base",
    node: str = "kafka-1",
    base_url: str | None = None,
    root: Path = REPO,
    progress: Progress = print,
) -> tuple[Path, dict[str, Any]]:
    """Package the baked machine; returns the box file and the updated catalog."""
    if provider not in PROVIDERS:
        raise BoxError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    output = output.absolute()
    output.mkdir(parents=True, exist_ok=True)
    catalog_path = output / "metadata.json"
    catalog = load_catalog(catalog_path)
    version = version or next_version(catalog or {}, provider, settings.KAFKA_VERSION)
    if not VERSION_RE.match(version):
        raise BoxError(f"box version must be numbers and dots (like 3.9.2.1), got {version!r}")
    short = name.rsplit("/", 1)[-1]
    suffix = "tar.zst" if provider == "lab" else "box"
    dest = output / f"{short}-{version}-{provider}.{suffix}"
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    description = (
        f"Kafka {settings.KAFKA_VERSION} (Scala {settings.SCALA_VERSION}), Java, no host ids"
    )
    if provider == "docker":
        package_docker(machine, partial, docker_image_name(name, version), root, progress)
    elif provider == "lab":
        info = {"name": name, "version": version, "kafka_version": settings.KAFKA_VERSION}
        package_lab(node, partial, info, progress)
    else:
        package_vagrant(provider, machine, partial, root, progress)
    os.replace(partial, dest)
    sha256 = sha256_of(dest)
    url = (base_url.rstrip("/") + "/" + dest.name) if base_url else dest.as_uri()
    catalog = add_to_catalog(
        catalog,
        name=name,
        version=version,
        provider=provider,
        url=url,
        sha256=sha256,
        description=description,
    )
    tmp = catalog_path.with_name(".metadata.json.tmp")
    tmp.write_text(json.dumps(catalog, indent=2) + "\n")
    os.replace(tmp, catalog_path)
    size = dest.stat().st_size / 1e6
    progress(
        f"{dest} ({size:.0f} MB, sha256 {sha256[:16]}...) in {time.monotonic() - started:.0f}s; "
        f"catalog {catalog_path}: {name} {version} ({catalog_provider(provider)})"
    )
    return dest, catalog


def resolve_lab_box(path: Path, version: str | None = None) -> tuple[Path, str]:
    """(box file, sha256) for ``lab up --box``: a box file, or a catalog and a version.

    A box listed in a catalog (the one given, or the metadata.json beside the file) must match
    its recorded sha256.
    """
    path = path.absolute()
    if path.suffix == ".json":
        catalog = load_catalog(path)
        if catalog is None:
            raise BoxError(f"no catalog at {path}")
        _, entry = find_in_catalog(catalog, "lab", version)
        url = entry["url"]
        box = Path(url[len("file://") :]) if url.startswith("file://") else path.parent / url
        expected: str | None = entry["checksum"]
    else:
        box, expected = path, None
        beside = load_catalog(path.parent / "metadata.json") or {}
        for entry in beside.get("versions", []):
            for p in entry.get("providers", []):
                if p["name"] == LAB_PROVIDER and p["url"].endswith("/" + path.name):
                    expected = p["checksum"]
    if not box.is_file():
        raise BoxError(f"no lab box at {box}")
    actual = sha256_of(box)
    if expected and actual != expected:
        raise BoxError(f"{box} does not match the sha256 its catalog lists ({expected[:16]}...)")
    return box, actual


# ---------------------------------------------------------------------------------------------
# CLI.


def _cmd_package(args: argparse.Namespace) -> int:
    try:
        package(
            args.provider,
            name=args.name,
            version=args.version,
            output=args.output_dir,
            machine=args.machine,
            node=args.node,
            base_url=args.base_url,
            progress=lambda line: print(line, flush=True),
        )
    except (BoxError, LabError, DockerError) as exc:
        print(f"kafkaform box: error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"kafkaform box: error: {' '.join(map(str, exc.cmd))} failed", file=sys.stderr)
        return 1
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "box",
        help="package a baked machine as a reusable box with a versioned catalog",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="box_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "package",
        help="package the baked machine and add it to <output>/metadata.json",
        description=(
            "virtualbox/libvirt: `vagrant package` of the bake machine (KAFKA_BAKE=1 vagrant "
            "up); docker: commit its container into an image and write a docker box; lab: "
            "export a baked lab host's root filesystem (stops the host) for "
            "`kafkaform lab up --box FILE`."
        ),
    )
    p.add_argument("--provider", required=True, choices=PROVIDERS)
    p.add_argument("--name", default=DEFAULT_NAME, help="box name (default %(default)s)")
    p.add_argument(
        "--version",
        default=None,
        help=f"box version (default: <Kafka version>.<next bake>, e.g. {settings.KAFKA_VERSION}.1)",
    )
    p.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where boxes and metadata.json go (default %(default)s)",
    )
    p.add_argument(
        "--machine", default="kafka-base", help="Vagrant machine to package (default %(default)s)"
    )
    p.add_argument("--node", default="kafka-1", help="lab host to export (default %(default)s)")
    p.add_argument(
        "--base-url",
        default=None,
        help="URL the boxes will be served from (default: file:// URLs of the output dir)",
    )
    p.set_defaults(func=_cmd_package)
