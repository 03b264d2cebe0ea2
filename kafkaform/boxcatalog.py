"""The box catalog, pure: versions, providers, checksums and what a box file holds.

A catalog is a Vagrant ``metadata.json`` (name, versions, provider, url, sha256) that teams
point ``vagrant box add`` or ``kafkaform lab up --box`` at. Nothing here runs Vagrant, Docker
or the lab: kafkaform.box packages boxes with those, kafkaform.lab reads lab boxes.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path
from typing import Any

from kafkaform.artifacts import file_digest
from kafkaform.hostops import read_json

DEFAULT_NAME = "kafkaform/kafka"
PROVIDERS = ("virtualbox", "libvirt", "docker", "lab")
LAB_PROVIDER = "kafkaform-lab"  # not a Vagrant provider: `vagrant box add` never picks it
BOX_INFO = "etc/kafkaform/box.json"  # inside a lab box: what it is (not which host)
VERSION_RE = re.compile(r"^\d+(\.\d+)*$")
# The name the Kafka distribution unpacks to (kafkaform.artifacts.distribution_name).
DISTRIBUTION_RE = re.compile(r"kafka_(?P<scala>\d+(?:\.\d+)*)-(?P<kafka>\d+(?:\.\d+)*)")


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
        return read_json(path)
    except ValueError as exc:
        raise BoxError(str(exc)) from exc


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


def installed_kafka(current: str) -> tuple[str, str]:
    """(Kafka version, Scala version) of the distribution a baked machine's ``current``
    link points at (``/opt/kafka/kafka_2.13-3.9.2`` or just its name)."""
    match = DISTRIBUTION_RE.fullmatch(current.rstrip("/").rsplit("/", 1)[-1])
    if not match:
        raise BoxError(
            f"the baked machine's current Kafka ({current!r}) is not a kafka_<scala>-<version> "
            "directory: was the bake complete?"
        )
    return match["kafka"], match["scala"]
