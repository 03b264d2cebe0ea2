"""``kafkaform lab ...``: the lab's command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkaform.hostops import HostError, progress
from kafkaform.lab.lifecycle import (
    down,
    kill_node,
    ssh_command,
    start_node,
    status,
    stop_node,
    up,
    wipe_node,
)
from kafkaform.lab.mirror import answering
from kafkaform.lab.plan import BRIDGE, MONITOR_IP, MONITOR_NAME, NODE_PREFIX
from kafkaform.lab.state import DEFAULT_LAB_DIR, load_state, state_path


def _cli(action: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(action(args) or 0)
        except HostError as exc:
            print(f"kafkaform lab: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("kafkaform lab: interrupted", file=sys.stderr)
            return 130

    return run


@_cli
def _cmd_up(args: argparse.Namespace) -> int:
    up(
        args.nodes,
        with_artifacts=not args.no_artifacts,
        timeout=args.timeout,
        progress=progress,
        monitoring=args.monitoring,
        box=args.box,
        box_version=args.box_version,
    )
    return 0


@_cli
def _cmd_down(args: argparse.Namespace) -> int:
    down(purge=args.purge, progress=progress)
    return 0


@_cli
def _cmd_status(args: argparse.Namespace) -> int:
    state = load_state()
    if state is None:
        print(f"no lab is up ({state_path()} is missing)")
        return 1
    rows = status()
    print(f"{'NAME':<10} {'IP':<15} {'RUNNING':<8} SSH")
    for row in rows:
        running = f"yes ({row['pid']})" if row["running"] else "no"
        print(f"{row['name']:<10} {row['ip']:<15} {running:<8} {'yes' if row['ssh'] else 'no'}")
    mirror = "yes" if answering() else "no"
    print(f"mirror {state['mirror_url']} answering: {mirror} (serving {state.get('mirror_root')})")
    return 0 if all(row["ssh"] for row in rows) else 3


@_cli
def _cmd_node(args: argparse.Namespace) -> int:
    """stop, start, kill or wipe one host."""
    if args.lab_command == "start":
        start_node(args.node, timeout=args.timeout, progress=progress)
    else:
        actions = {"stop": stop_node, "kill": kill_node, "wipe": wipe_node}
        actions[args.lab_command](args.node, progress=progress)
    return 0


@_cli
def _cmd_ssh(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = ssh_command(args.node) + command
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 0  # not reached


def add_cli(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="local multi-node lab: Debian hosts as systemd-nspawn containers (root)",
        description=(
            f"Run N Debian hosts ({NODE_PREFIX}1..N at 10.213.0.11..) as systemd-nspawn "
            f"containers on bridge {BRIDGE}, for `pyinfra inventories/lab.py ...`. "
            f"Lab directory: $KAFKAFORM_LAB_DIR (default {DEFAULT_LAB_DIR})."
        ),
    )
    actions = parser.add_subparsers(dest="lab_command", required=True, metavar="ACTION")

    p = actions.add_parser(
        "up",
        help="create or grow the lab and boot its hosts (idempotent)",
        description="Build the base rootfs if needed, set up the bridge and NAT, serve the "
        "artifact mirror and boot kafka-1..N; running hosts are left alone.",
    )
    p.add_argument("--nodes", type=int, default=3, help="number of hosts (default 3)")
    p.add_argument(
        "--no-artifacts",
        action="store_true",
        help="do not build the Kafka distribution; serve what is already there",
    )
    p.add_argument(
        "--monitoring",
        action="store_true",
        help=f"also boot the monitoring host {MONITOR_NAME} ({MONITOR_IP}): Prometheus, "
        "Alertmanager and the log sink (kept until `lab down`)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for sshd (default 120)"
    )
    p.add_argument(
        "--box",
        type=Path,
        default=None,
        metavar="FILE",
        help="start new hosts from a lab box (`kafkaform box package --provider lab`) or "
        "from its catalog metadata.json (checked against its sha256)",
    )
    p.add_argument(
        "--box-version", default=None, help="with a catalog: the version (default: newest)"
    )
    p.set_defaults(func=_cmd_up)

    p = actions.add_parser(
        "down",
        help="stop and remove every host, the mirror, NAT rules and bridge",
        description="Stop all hosts at once (their disks are deleted next, so there is no "
        "clean shutdown: use `lab stop` for that) and remove their disks, the state, the "
        "mirror, NAT rules and the bridge. The base rootfs is kept unless --purge.",
    )
    p.add_argument("--purge", action="store_true", help="also delete the base rootfs and key")
    p.set_defaults(func=_cmd_down)

    p = actions.add_parser(
        "status",
        help="show each host: address, running, ssh answering",
        description="Table of hosts; exit 0 when every host answers ssh, 3 otherwise.",
    )
    p.set_defaults(func=_cmd_status)

    for action, text in (
        ("stop", "shut a host down cleanly; its disk is kept"),
        ("start", "boot a stopped or crashed host again on its disk"),
        ("kill", "crash a host: SIGKILL its systemd (no clean shutdown)"),
        ("wipe", "delete a stopped host's disk (`start` boots it as a new machine)"),
    ):
        p = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("node", help="host name, e.g. kafka-2")
        if action == "start":
            p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for sshd")
        p.set_defaults(func=_cmd_node)

    p = actions.add_parser(
        "ssh",
        help="ssh into a host as root (or run COMMAND there)",
        description="ssh into a lab host as root with the lab's key and known_hosts.",
    )
    p.add_argument("node", help="host name, e.g. kafka-1")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (default: a shell)")
    p.set_defaults(func=_cmd_ssh)
