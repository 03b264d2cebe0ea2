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
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kafkaform import artifacts, dockerd
from kafkaform.cluster import planned_roles
from kafkaform.hostops import (
    HostError,
    address_is_local,
    http_server_pids,
    port_answers,
    start_http_server,
    stop_http_server,
)
from kafkaform.local_hosts import DEV_MIRROR_PORT, DEV_VM_MEMORY_MB, SMALL_HEAPS, security_level

REPO = Path(__file__).resolve().parent.parent
NETWORK_PREFIX = "192.168.56."  # VirtualBox's default host-only range
FIRST_OCTET = 10  # kafka-i at .10+i; the bake machine at .10
MAX_NODES = 9
BAKE_NAME = "kafka-base"
# This machine's address on the private network (VirtualBox host-only, libvirt and Vagrant's
# docker network all give the host .1): where a local artifact mirror is served to the nodes.
HOST_ADDRESS = f"{NETWORK_PREFIX}1"


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
    return [
        {
            "name": f"kafka-{i}",
            "ip": f"{NETWORK_PREFIX}{FIRST_OCTET + i}",
            **planned_roles(i, count),
        }
        for i in range(1, count + 1)
    ]


def plan(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the Vagrantfile needs, as JSON-ready data."""
    bake = baking(env)
    return {
        "machines": machines(env),
        "deploy": "deploys/base_box.py" if bake else "deploys/kafka.py",
        "inventory": "inventories/dev.py",
        "forward_kafka_port": not bake,
        "memory_mb": DEV_VM_MEMORY_MB,
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


def mirror_url() -> str | None:
    """Where the nodes find kafkaform's local artifact mirror (``kafkaform artifacts build``),
    or None: served only where one was built (machines that cannot reach the Apache archive
    or Maven Central, like CI) and the private network exists; elsewhere the nodes use the
    defaults. Starts nothing: ``ensure_mirror`` does, when a deploy connects.
    """
    if not (artifacts.mirror_root() / "kafka").is_dir() or not address_is_local(HOST_ADDRESS):
        return None
    return f"http://{HOST_ADDRESS}:{DEV_MIRROR_PORT}"


def ensure_mirror() -> str | None:
    """Serve the local artifact mirror to the nodes (detached: later deploys use it too,
    `stop_mirror` ends it); returns its URL, or None when there is none to serve."""
    url = mirror_url()
    if url is None:
        return None
    if http_server_pids(HOST_ADDRESS, DEV_MIRROR_PORT) and port_answers(
        HOST_ADDRESS, DEV_MIRROR_PORT
    ):
        return url
    try:
        start_http_server(artifacts.mirror_root(), HOST_ADDRESS, DEV_MIRROR_PORT)
    except HostError as exc:
        raise DevError(str(exc)) from None
    return url


def stop_mirror() -> bool:
    return stop_http_server(HOST_ADDRESS, DEV_MIRROR_PORT)


def group_data() -> dict[str, Any]:
    """The dev group's data: small heaps and, when one was built here, the local mirror's URLs
    (the hosts download the Kafka tarball and the JMX agent from it)."""
    data: dict[str, Any] = {**SMALL_HEAPS, **security_level()}
    # Without a local mirror: the Apache archive and Maven Central, the settings' defaults.
    url = mirror_url()
    if url:
        data["kafka_mirror"] = f"{url}/kafka"
        if (artifacts.mirror_root() / "maven2").is_dir():
            data["maven_mirror"] = f"{url}/maven2"
    return data


def serve_mirror_on_connect(state: Any) -> None:
    """Start the mirror when the pyinfra run ``state`` first connects to a node: a deploy
    (which fetches from it), not a mere load of the inventory (`kafkaform validate`)."""
    from pyinfra.api.state import BaseStateCallback

    class ServeMirror(BaseStateCallback):
        started = False

        def host_before_connect(self, state: Any, host: Any) -> None:
            # Once per run: hosts connect in parallel greenlets, which would race to start it.
            if not self.started:
                self.started = True
                ensure_mirror()

    handler = ServeMirror()
    if getattr(state, "initialised", False):
        state.add_callback_handler(handler)
        return
    # The CLI loads the inventory before State.init, which resets the callback handlers.
    init = state.init

    def init_then_register(*args: Any, **kwargs: Any) -> Any:
        result = init(*args, **kwargs)
        state.add_callback_handler(handler)
        return result

    state.init = init_then_register


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
