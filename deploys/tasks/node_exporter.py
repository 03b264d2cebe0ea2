"""node_exporter on every host, as its own user under a systemd unit.

Debian/Ubuntu: the distribution's package (user ``prometheus``, flags in /etc/default).
EL: the release tarball, sha256-checked, with our unit of the same name and a user of its own
(EL's base repositories have no node_exporter, and EPEL is not assumed).
"""

from __future__ import annotations

import functools
import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.files import File
from pyinfra.facts.server import Arch
from pyinfra.operations import files, server, systemd

from deploys.tasks.common import host_platform, serve_daemon, service_user
from deploys.tasks.download import fetch_verified
from deploys.tasks.host_files import ensure_directories, put_secret, put_template
from deploys.tasks.tls_files import put_tls_files
from kafkaform import artifacts, monitoring_auth
from kafkaform.cluster import Node
from kafkaform.monitoring import NODE_EXPORTER_UNIT
from kafkaform.platforms import Platform

TARBALL_USER = "node_exporter"
PACKAGE_USER = "prometheus"  # Debian's unit runs it as Prometheus's user
# A secured cluster's node_exporter: its TLS files (tls/) and who may scrape it.
CONFIG_DIR = "/etc/node_exporter"
WEB_CONFIG = f"{CONFIG_DIR}/web.yml"
INSTALL_ROOT = "/opt/node_exporter"
q = shlex.quote
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def node_exporter_flags(node: Node) -> list[str]:
    s = node.settings
    listen = monitoring_auth.listen(s["node_exporter_listen_address"], s["node_exporter_port"])
    web = [f"--web.config.file={WEB_CONFIG}"] if monitoring_auth.secured(s) else []
    return [f"--web.listen-address={listen}", *web, *s["node_exporter_flags"]]


def web_security(node: Node, group: str) -> None:
    """A secured cluster's node_exporter: TLS and basic auth (Prometheus's scraping user).
    node_exporter reads web.yml and the certificate at each connection: no restart."""
    s = node.settings
    if not monitoring_auth.secured(s):
        return
    ensure_directories([CONFIG_DIR], mode="750", user="root", group=group)
    put_tls_files(node, f"{CONFIG_DIR}/tls", group)
    put_secret(
        "node_exporter users and TLS (web.yml)",
        WEB_CONFIG,
        monitoring_auth.web_config(s, f"{CONFIG_DIR}/tls", (monitoring_auth.SCRAPER,)),
        mode="640",
        group=group,
    )


def release_name(version: str, arch: str) -> str:
    return f"node_exporter-{version}.linux-{arch}"


def release_url(version: str, arch: str) -> str:
    return (
        f"https://github.com/prometheus/node_exporter/releases/download/v{version}/"
        f"{release_name(version, arch)}.tar.gz"
    )


@functools.cache
def expected_sha256(url: str, pinned: str | None) -> str:
    if pinned:
        return pinned.lower()
    try:
        return artifacts.fetch_sha256_from_sums(url)
    except artifacts.ArtifactError as error:
        raise PyinfraError(f"{error}; or pin node_exporter_sha256") from None


def packages(platform: Platform) -> list[str]:
    """Debian/Ubuntu: the distribution's package (in the host's one package transaction)."""
    return [NODE_EXPORTER_UNIT] if platform.family == "apt" else []


@deploy("node_exporter")
def install_node_exporter(node: Node) -> None:
    """Runs after the package transaction: on EL, the release tarball; then its flags and unit."""
    if host_platform().family == "apt":
        _configure_package(node)
    else:
        _from_tarball(node)


def _configure_package(node: Node) -> None:
    web_security(node, PACKAGE_USER)
    flags = put_template(
        f"{NODE_EXPORTER_UNIT} flags",
        "node_exporter/default.j2",
        f"/etc/default/{NODE_EXPORTER_UNIT}",
        flags=node_exporter_flags(node),
    )
    serve_daemon(NODE_EXPORTER_UNIT, restart=[flags])


def _from_tarball(node: Node) -> None:
    s = node.settings
    arch = ARCHES.get(str(host.get_fact(Arch) or "x86_64"), "amd64")
    name = release_name(s["node_exporter_version"], arch)
    binary = f"{INSTALL_ROOT}/{name}/node_exporter"
    service_user(TARBALL_USER, home="/nonexistent")
    web_security(node, TARBALL_USER)
    ensure_directories([INSTALL_ROOT], mode="755")
    if not host.get_fact(File, path=binary):
        url = s["node_exporter_url"] or release_url(s["node_exporter_version"], arch)
        tarball = f"{s['download_dir']}/{name}.tar.gz"
        files.directory(name="Download directory", path=s["download_dir"], mode="700")
        fetch_verified(
            f"Download and verify {name}.tar.gz",
            url,
            tarball,
            ("sha256", expected_sha256(url, s["node_exporter_sha256"])),
        )
        server.shell(
            name=f"Unpack {name}",
            commands=[
                f"tar -xzf {q(tarball)} -C {q(INSTALL_ROOT)} --no-same-owner"
                f" {q(f'{name}/node_exporter')} && rm -f {q(tarball)}"
            ],
        )
    unit = put_template(
        f"systemd unit {NODE_EXPORTER_UNIT}.service",
        "node_exporter/node-exporter.service.j2",
        f"/etc/systemd/system/{NODE_EXPORTER_UNIT}.service",
        run_as=TARBALL_USER,
        # systemd splits ExecStart like a shell and understands its quotes.
        binary=q(binary),
        flags=[q(flag) for flag in node_exporter_flags(node)],
    )
    if unit:
        systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    serve_daemon(NODE_EXPORTER_UNIT, restart=[unit])
