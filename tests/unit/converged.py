"""Fake hosts on which an earlier deploy of the same inventory completed: they answer every
fact with what that deploy left (files, directories, users, packages, running services)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from pyinfra.context import ctx_host
from pyinfra.operations import files, server

from kafkaform.settings import JMX_EXPORTER_SHA256
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import accounts_on_host, fake_hosts, host_paths, responses

JAR = "/opt/jmx-exporter/jmx_prometheus_javaagent-1.0.1.jar"
CANDIDATE = "Candidate for "  # deploys/tasks/checked_config.py's staging step
CONVERGED_PACKAGES = (
    "curl",
    "tar",
    "gzip",
    "ca-certificates",
    "openjdk-17-jre-headless",
    "prometheus-node-exporter",
    "rsyslog",
    "rsyslog-relp",
    "logrotate",
)


def converged(zookeeper_mode: str, drift: bool = False, files: Mapping | None = None) -> dict:
    """What a Debian host that an earlier deploy set up answers about its packages, Kafka
    installation and services (``drift``: its services run other files than those on disk,
    as after an interrupted run); ``files``: answers about its files (``converged_hosts``)."""
    return {**(files or {}), **_converged(zookeeper_mode, drift)}


def _converged(zookeeper_mode: str, drift: bool) -> dict:
    return responses(
        "debian12",
        **{
            # facts.service.ServiceDrift (first: its command also names the files below)
            "is-active --quiet": ["active", *(["drift"] if drift else []), "NeedDaemonReload=no"],
            "printf srvr": ["Zookeeper version: 3.8.4", f"Mode: {zookeeper_mode}"],
            "dpkg -l": [f"ii  {p}  1.0-1 amd64 x" for p in CONVERGED_PACKAGES],
            f"sha256sum {JAR}": [f"{JMX_EXPORTER_SHA256['1.0.1']}  {JAR}"],
            ".kafkaform-sha512": [
                "installed kafka_2.13-3.9.2 abc",
                "current /opt/kafka/kafka_2.13-3.9.2",
            ],
            "systemctl show": [
                "Id=zookeeper.service",
                "SubState=running",
                "",
                "Id=kafka.service",
                "SubState=running",
            ],
        },
    )


@contextmanager
def recording_writes(written: dict[str, dict]):
    """Record, per host, what the deploy's file, directory and user operations ask for."""
    real = files.put, files.directory, server.user

    def put(*args, **kwargs):
        text = kwargs["src"].getvalue()
        modes = (kwargs.get("mode") or "644", kwargs.get("user"), kwargs.get("group"))
        owner = [m or "root" for m in modes]
        on_host = written[ctx_host.get().name]["files"]
        on_host[kwargs["dest"]] = (text, *owner)
        if kwargs["name"].startswith(CANDIDATE):  # its check passed: placed as the live file
            on_host[kwargs["name"].removeprefix(CANDIDATE)] = (text, *owner)
        return real[0](*args, **kwargs)

    def directory(*args, **kwargs):
        modes = (kwargs.get("mode") or "755", kwargs.get("user"), kwargs.get("group"))
        written[ctx_host.get().name]["directories"][kwargs["path"]] = tuple(
            m or "root" for m in modes
        )
        return real[1](*args, **kwargs)

    def user(*args, **kwargs):
        written[ctx_host.get().name]["accounts"][kwargs["user"]] = (kwargs["home"], kwargs["shell"])
        return real[2](*args, **kwargs)

    for wrapper, operation in zip((put, directory, user), real, strict=True):
        wrapper._inner = operation._inner  # pyinfra's operations call each other's
    files.put, files.directory, server.user = put, directory, user
    try:
        yield
    finally:
        files.put, files.directory, server.user = real


def converged_hosts(
    nodes: int = 3, zookeeper_mode: str = "follower", drift: bool = False, **data: Any
) -> list:
    """Debian hosts after a complete deploy of this inventory (``data``): a deploy runs on
    fresh fakes first, and what it wrote is what these hosts then have."""
    fresh = fake_hosts("debian12", nodes, **data)
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in fresh}
    with recording_writes(written):
        run_deploy(fresh)
    hosts = fake_hosts("debian12", nodes, **data)
    for name, host in hosts:
        state = written[name]
        host["fake_responses"] = converged(
            zookeeper_mode,
            drift,
            files={
                **host_paths(state["files"], state["directories"]),
                **accounts_on_host(state["accounts"]),
            },
        )
    return hosts
