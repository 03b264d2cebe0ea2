"""Vagrant dev nodes: the one place their names, addresses and ids come from.

The Vagrantfile runs ``python -m kafkaform.dev plan`` to learn which machines to define, and
``inventories/dev.py`` reads the same plan (plus ``vagrant ssh-config``) to deploy onto them,
so a node's zkid/kafkaid is never written twice.

Environment (read by both):
    KAFKA_NODES=N   N nodes kafka-1..N (default 1); ZooKeeper on the first 1, 3 or 5
    KAFKA_BAKE=1    one id-less machine, kafka-base, provisioned with deploys/base_box.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kafkaform.lab import ensemble_size

REPO = Path(__file__).resolve().parent.parent
NETWORK_PREFIX = "192.168.56."  # VirtualBox's default host-only range
FIRST_OCTET = 10  # kafka-i at .10+i; the bake machine at .10
MAX_NODES = 9
BAKE_NAME = "kafka-base"
KAFKA_HEAP = "512m"  # a dev VM is small, and docker containers see the host's whole memory
ZOOKEEPER_HEAP = "256m"
VM_MEMORY_MB = 2048
# This machine's address on the private network (VirtualBox host-only, libvirt and Vagrant's
# docker network all give the host .1): where a local artifact mirror is served to the nodes.
HOST_ADDRESS = f"{NETWORK_PREFIX}1"
MIRROR_PORT = 8214


class DevError(Exception):
    """A dev-node problem with a message a person can act on."""


def node_count(env: dict[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get("KAFKA_NODES", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_NODES:
        raise DevError(f"KAFKA_NODES must be a number from 1 to {MAX_NODES}, got {raw!r}")
    return int(raw)


def baking(env: dict[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("KAFKA_BAKE", "") not in ("", "0")


def machines(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Each machine's name, private address and role attributes (the inventory model)."""
    if baking(env):
        return [{"name": BAKE_NAME, "ip": f"{NETWORK_PREFIX}{FIRST_OCTET}", "base_box": True}]
    count = node_count(env)
    ensemble = ensemble_size(count)
    planned = []
    for i in range(1, count + 1):
        machine: dict[str, Any] = {
            "name": f"kafka-{i}",
            "ip": f"{NETWORK_PREFIX}{FIRST_OCTET + i}",
            "kafkaid": i,
        }
        if i <= ensemble:
            machine.update(zookeeper=True, zkid=i)
        planned.append(machine)
    return planned


def plan(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the Vagrantfile needs, as JSON-ready data."""
    from kafkaform import dockerd

    bake = baking(env)
    return {
        "machines": machines(env),
        "deploy": "deploys/base_box.py" if bake else "deploys/kafka.py",
        "inventory": "inventories/dev.py",
        "forward_kafka_port": not bake,
        "memory_mb": VM_MEMORY_MB,
        "docker": {
            "image": dockerd.BASE_IMAGE,
            "cmd": ["/lib/systemd/systemd"],
            "create_args": dockerd.SYSTEMD_RUN_ARGS,
        },
    }


# ---------------------------------------------------------------------------------------------
# The inventory side.


def parse_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """``vagrant ssh-config`` output (one Host block per machine) as {machine: {key: value}}."""
    hosts: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) != 2:
            continue
        key, value = words[0], words[1].strip().strip('"')
        if key == "Host":
            current = hosts.setdefault(value, {})
        elif current is not None:
            current[key] = value
    return hosts


def ssh_configs(root: Path = REPO) -> dict[str, dict[str, str]]:
    """SSH settings of the running machines, through python-vagrant."""
    import vagrant

    v = vagrant.Vagrant(str(root), quiet_stderr=True)
    try:
        return parse_ssh_config(v.ssh_config())
    except subprocess.CalledProcessError as exc:
        raise DevError(
            "`vagrant ssh-config` failed: are the machines up? Run `vagrant up` "
            "(with the same KAFKA_NODES / KAFKA_BAKE as now)"
        ) from exc


def host_data(machine: dict[str, Any], ssh: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ssh_hostname": ssh["HostName"],
        "ssh_port": int(ssh.get("Port", "22")),
        "ssh_user": ssh.get("User", "vagrant"),
        # Vagrant makes a new host key with every machine: nothing to pin.
        "ssh_strict_host_key_checking": "off",
        "ssh_known_hosts_file": "/dev/null",
        # Clients on the host and the other nodes reach the private address.
        "kafka_advertised_host": machine["ip"],
    }
    if "IdentityFile" in ssh:
        data["ssh_key"] = ssh["IdentityFile"]
    if data["ssh_user"] != "root":
        data["_sudo"] = True
    data.update({k: v for k, v in machine.items() if k not in ("name", "ip")})
    return data


def _mirror_state() -> Path:
    from kafkaform import artifacts

    return artifacts.default_cache_dir() / "dev-mirror.json"


def _is_local(address: str) -> bool:
    with contextlib.suppress(OSError), socket.socket() as sock:
        sock.bind((address, 0))
        return True
    return False


def _answers(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
        return True
    return False


def _mirror_pid() -> int | None:
    try:
        pid = int(json.loads(_mirror_state().read_text())["pid"])
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError):
        return None
    return pid if b"http.server" in cmd and str(MIRROR_PORT).encode() in cmd else None


def ensure_mirror() -> str | None:
    """Serve kafkaform's local artifact mirror (``kafkaform artifacts build``) to the nodes.

    Only where one was built (machines that cannot reach the Apache archive or Maven Central,
    like CI) and only once the private network exists; elsewhere the nodes use the defaults.
    """
    from kafkaform import artifacts

    root = artifacts.mirror_root()
    if not (root / "kafka").is_dir() or not _is_local(HOST_ADDRESS):
        return None
    url = f"http://{HOST_ADDRESS}:{MIRROR_PORT}"
    if _mirror_pid() and _answers(HOST_ADDRESS, MIRROR_PORT):
        return url
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", HOST_ADDRESS, "--directory", str(root)]
        + [str(MIRROR_PORT)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # serves the later deploys too; `stop_mirror` ends it
    )
    _mirror_state().write_text(json.dumps({"pid": proc.pid, "root": str(root)}) + "\n")
    deadline = time.monotonic() + 15
    while not _answers(HOST_ADDRESS, MIRROR_PORT):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DevError(f"could not serve {root} at {url}")
        time.sleep(0.1)
    return url


def stop_mirror() -> bool:
    pid = _mirror_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    _mirror_state().unlink(missing_ok=True)
    return pid is not None


def group_data() -> dict[str, Any]:
    data: dict[str, Any] = {"kafka_heap": KAFKA_HEAP, "zookeeper_heap": ZOOKEEPER_HEAP}
    # Without a local mirror: the Apache archive and Maven Central, the settings' defaults.
    mirror = ensure_mirror()
    if mirror:
        from kafkaform import artifacts

        data["kafka_mirror"] = f"{mirror}/kafka"
        if (artifacts.mirror_root() / "maven2").is_dir():
            data["maven_mirror"] = f"{mirror}/maven2"
    return data


def inventory_hosts(root: Path = REPO) -> list[tuple[str, dict[str, Any]]]:
    ssh = ssh_configs(root)
    hosts = []
    for machine in machines():
        if machine["name"] not in ssh:
            raise DevError(f"{machine['name']} is not running: run `vagrant up`")
        hosts.append((machine["name"], host_data(machine, ssh[machine["name"]])))
    return hosts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kafkaform.dev", description="The Vagrant dev nodes' plan (JSON)."
    )
    parser.add_argument(
        "action",
        choices=["plan", "stop-mirror"],
        help="plan: print the plan the Vagrantfile uses; stop-mirror: stop the artifact mirror",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "stop-mirror":
            stop_mirror()
            return 0
        print(json.dumps(plan(), indent=2))
    except DevError as exc:
        print(f"kafkaform: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
