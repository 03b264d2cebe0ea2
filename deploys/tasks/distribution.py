"""The Kafka distribution (also ZooKeeper's jars): downloaded or uploaded, sha512-checked, unpacked.

Versions are unpacked side by side under kafka_install_root. The services' units name the
version's own directory, so a new version reaches each host when its turn in the roll restarts
it; the ``current`` symlink (for people and tools) follows once the host's services run it.
The previous version stays for a rollback.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server

from deploys.tasks.host_files import ensure_directories
from facts.kafka import MARKER, KafkaInstallations
from kafkaform import artifacts
from kafkaform.cluster import Node
from kafkaform.deploy_support import prepared_fact


@functools.cache
def expected_sha512(url: str | None, local_file: str | None, pinned: str | None) -> str:
    """The checksum to hold the tarball to, settled on the control machine before upload."""
    if pinned:
        return artifacts.parse_sha512(pinned)
    if local_file:
        actual = artifacts.sha512_of(local_file)
        published = Path(local_file + ".sha512")
        # An air-gapped site that copied the .sha512 along gets the same check as a download.
        if published.exists() and artifacts.parse_sha512(published.read_text()) != actual:
            raise PyinfraError(f"{local_file} does not match its checksum file {published}")
        return actual
    assert url
    return artifacts.fetch_sha512(url)


def tarball_url(settings: dict) -> str:
    return settings["kafka_url"] or artifacts.tarball_url(
        settings["kafka_mirror"], settings["kafka_version"], settings["scala_version"]
    )


def install_dir(settings: dict) -> str:
    name = artifacts.distribution_name(settings["kafka_version"], settings["scala_version"])
    return f"{settings['kafka_install_root']}/{name}"


@deploy("Install the Kafka distribution")
def install_distribution(node: Node) -> str:
    """Unpack the configured version beside the others; returns its directory."""
    s = node.settings
    name = artifacts.distribution_name(s["kafka_version"], s["scala_version"])
    root = s["kafka_install_root"]
    installed = prepared_fact(KafkaInstallations, install_root=root)

    ensure_directories([root], mode="755", user="root", group="root")
    # By the full name: another Scala build of the same Kafka version is another directory.
    if name not in installed["distributions"]:
        local = s["kafka_local_file"]
        url = None if local else tarball_url(s)
        sha512 = expected_sha512(url, local, s["kafka_sha512"])
        tarball = f"{s['download_dir']}/{name}.tgz"
        files.directory(name="Download directory", path=s["download_dir"], mode="700")
        if local:
            files.put(name=f"Upload {name}.tgz", src=local, dest=tarball)
        else:
            files.download(name=f"Download {url}", src=url, dest=tarball, force=True)
        server.shell(
            name=f"Verify sha512 and unpack {name}",
            commands=[unpack_script(tarball, root, name, sha512)],
        )
    return install_dir(s)


@deploy("Point current at the configured Kafka version")
def mark_current(node: Node) -> OperationMeta:
    """After the host's services were (re)started on it: never ahead of what runs."""
    path = install_dir(node.settings)
    name = path.rsplit("/", 1)[-1]
    return files.link(
        name=f"Make {name} current",
        path=f"{node.settings['kafka_install_root']}/current",
        target=path,
    )


def unpack_script(tarball: str, root: str, name: str, sha512: str) -> str:
    q = shlex.quote
    staging = f"{root}/.staging-{name}"
    # The marker is written last: the KafkaInstallations fact only trusts complete trees.
    return " && ".join(
        [
            "set -e",
            f"if ! echo {q(sha512 + '  ' + tarball)} | sha512sum -c --status; then "
            f"echo {q(f'sha512 of {tarball} does not match {sha512}')} >&2; "
            f"rm -f {q(tarball)}; exit 1; fi",
            f"rm -rf {q(staging)} && mkdir -p {q(staging)}",
            f"tar -xzf {q(tarball)} -C {q(staging)} --no-same-owner",
            f"rm -rf {q(root + '/' + name)}",
            f"mv {q(staging + '/' + name)} {q(root + '/' + name)}",
            f"rmdir {q(staging)}",
            f"echo {q(sha512)} > {q(root + '/' + name + '/' + MARKER)}",
            f"rm -f {q(tarball)}",
        ]
    )
