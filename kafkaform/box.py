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
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kafkaform import dockerd, settings
from kafkaform.boxcatalog import (
    DEFAULT_NAME,
    PROVIDERS,
    VERSION_RE,
    BoxError,
    add_to_catalog,
    catalog_provider,
    docker_image_name,
    installed_kafka,
    load_catalog,
    next_version,
    sha256_of,
    write_docker_box,
)
from kafkaform.hostops import HostError, Progress, progress
from kafkaform.lab.export import export_rootfs, read_link

DEFAULT_OUTPUT = Path("boxes")
REPO = Path(__file__).resolve().parent.parent
# Where the bake leaves the link to the Kafka it installed (deploys/tasks/distribution.py).
CURRENT_KAFKA = f"{settings.DEFAULTS['kafka_install_root']}/current"


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
    container = _machine_id(root, machine, "docker")
    progress(f"docker commit {container[:12]} {image}")
    dockerd.docker("commit", "--change", 'CMD ["/lib/systemd/systemd"]', container, image)
    write_docker_box(dest, image)


def package_lab(node: str, dest: Path, info: dict[str, Any], progress: Progress) -> None:
    export_rootfs(node, dest, info, progress=progress)


def baked_current(provider: str, machine: str, node: str, root: Path) -> str:
    """Where the baked machine's ``current`` Kafka link points: read from the machine."""
    if provider == "lab":
        target = read_link(node, CURRENT_KAFKA)
    elif provider == "docker":
        container = _machine_id(root, machine, "docker")
        target = dockerd.docker("exec", container, "readlink", CURRENT_KAFKA).stdout.strip()
    else:
        _machine_id(root, machine, provider)
        target = _vagrant(root).ssh(vm_name=machine, command=f"readlink {CURRENT_KAFKA}").strip()
    if not target:
        raise BoxError(f"the baked machine has no {CURRENT_KAFKA}: bake it first")
    return target


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
    # What the bake installed (its inventory may pin another version than this release's).
    kafka_version, scala_version = installed_kafka(baked_current(provider, machine, node, root))
    version = version or next_version(catalog or {}, provider, kafka_version)
    if not VERSION_RE.match(version):
        raise BoxError(f"box version must be numbers and dots (like 3.9.2.1), got {version!r}")
    short = name.rsplit("/", 1)[-1]
    suffix = "tar.zst" if provider == "lab" else "box"
    dest = output / f"{short}-{version}-{provider}.{suffix}"
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    description = f"Kafka {kafka_version} (Scala {scala_version}), Java, no host ids"
    if provider == "docker":
        package_docker(machine, partial, docker_image_name(name, version), root, progress)
    elif provider == "lab":
        info = {"name": name, "version": version, "kafka_version": kafka_version}
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
            progress=progress,
        )
    except (BoxError, HostError) as exc:
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
