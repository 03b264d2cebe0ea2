"""Fake hosts for offline runs of the real deploy through pyinfra's @fake connector.

Each fake host answers the fact commands the deploy asks with what a fresh machine of the
given distribution would say; every other command "succeeds" with no output.
"""

from __future__ import annotations

import hashlib
from typing import Any

OS_RELEASE = {
    "debian12": 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm',
    "ubuntu2204": 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"',
    "ubuntu2404": 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"',
    "centos7": 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"',
    "rocky9": 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"',
}
RELEASE_FILES = {"centos7": ("/etc/centos-release", "CentOS Linux release 7.9.2009 (Core)")}


def responses(distro: str, memory_kb: int = 8_000_000, **overrides: Any) -> dict:
    release = f"/etc/os-release\n{OS_RELEASE[distro]}\n---"
    if distro in RELEASE_FILES:
        path, text = RELEASE_FILES[distro]
        release += f"\n{path}\n{text}\n---"
    defaults = {
        "*-release": release.split("\n"),
        "vmstat -s": [f"{memory_kb} K total memory"],
        "systemd-detect-virt": ["none"],
        "uname -s": ["Linux"],
        "command -v useradd": ["/usr/sbin/useradd"],
        "command -v groupadd": ["/usr/sbin/groupadd"],
        # A secured cluster's users and ACLs step (deploys/tasks/access.py): none of either.
        "echo kafkaform-acls": ["kafkaform-acls", "kafkaform-scram-users"],
    }
    # Overrides first: the fake connector answers with the first matcher that fits.
    return {**overrides, **{k: v for k, v in defaults.items() if k not in overrides}}


def fake_hosts(distro: str, nodes: int = 3, ensemble: int | None = None, **data: Any) -> list:
    ensemble = nodes if ensemble is None else ensemble
    hosts = []
    for i in range(1, nodes + 1):
        host: dict[str, Any] = {
            "ssh_hostname": f"10.0.0.{10 + i}",
            "kafkaid": i,
            "fake_delay": 0,
            "fake_delay_jitter": 0,
            "fake_responses": responses(distro),
            # The deploy resolves the tarball's checksum on the control machine: pin it offline.
            "kafka_sha512": "0" * 128,
            "node_exporter_sha256": "1" * 64,  # EL hosts: the release tarball, pinned offline
            **data,
        }
        if i <= ensemble:
            host.update(zookeeper=True, zkid=i)
        hosts.append((f"@fake/kafka-{i}", host))
    return hosts


# What facts.files.Listing's command (and no other) contains.
LISTING = "-printf 'dir "


def host_files(
    files: dict[str, str], mode: str = "644", user: str = "root", group: str = "root"
) -> dict:
    """fake_responses: the host has ``files`` (path -> text), as facts.files.Listing reads
    them."""
    return host_paths(files={path: (text, mode, user, group) for path, text in files.items()})


def host_paths(
    files: dict[str, tuple[str, str, str, str]] | None = None,
    directories: dict[str, tuple[str, str, str]] | None = None,
) -> dict:
    """fake_responses: the host has ``files`` (path -> (text, mode, user, group)) and
    ``directories`` (path -> (mode, user, group)). One answer for any listing: it names them
    all, and the deploy looks up only the directories it asked about."""
    lines = [f"dir {m} {u} {g} {path}" for path, (m, u, g) in (directories or {}).items()]
    for path, (text, m, u, g) in (files or {}).items():
        digest = hashlib.sha256(text.encode()).hexdigest()
        lines += [f"file {m} {u} {g} {path}", f"{digest}  {path}"]
    return {LISTING: lines}


def accounts_on_host(accounts: dict[str, tuple[str, str]]) -> dict:
    """fake_responses: the host has these service users (name -> (home, shell)), each with
    its own group, as facts.host.Account reads them."""
    return {
        f"getent passwd {name} |": [f"passwd {name}:x:990:990::{home}:{shell}", f"group {name}"]
        for name, (home, shell) in accounts.items()
    }
