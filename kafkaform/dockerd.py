"""A Docker engine for Vagrant's docker provider on machines without VMs, and its base image.

``ensure_running`` starts ``dockerd`` detached (installing docker.io with apt-get when it is
missing) unless one already answers; ``stop`` stops only a daemon this module started and
removes the iptables rules, chains and bridges that daemon added (never those that were there
before it started, such as a system Docker's). ``ensure_base_image`` imports the local lab's
Debian 12 rootfs (systemd + sshd, no host identity) as a systemd image with Vagrant's user, so
nothing is ever pulled from a registry.

Only the standard library is used here: the Vagrantfile imports this through kafkaform.dev.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkaform import identity
from kafkaform.hostops import (
    HostError,
    Progress,
    alive,
    apt_install,
    cmdline,
    progress,
    read_json,
    wait_exit,
    which,
)
from kafkaform.lab.rootfs import ensure_base_for_image

STATE_DIR = Path("/var/lib/kafkaform")
DATA_ROOT = STATE_DIR / "docker"
STATE_FILE = STATE_DIR / "dockerd.json"
LOG_FILE = STATE_DIR / "dockerd.log"
BASE_IMAGE = "kafkaform/debian12-systemd:2"  # bump when PREPARE_IMAGE changes
# Measured here: systemd as PID 1 in a container needs these (--privileged fails).
SYSTEMD_RUN_ARGS = [
    "--cap-add",
    "SYS_ADMIN",
    "--cap-add",
    "NET_ADMIN",
    "--security-opt",
    "seccomp=unconfined",
    "--cgroupns=host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
]
# What the image adds to the lab rootfs: Vagrant's login, and no key of this machine's.
PREPARE_IMAGE = "\n".join(
    [
        "set -e",
        *identity.vagrant_login_commands(),
        "# Docker configures the network before systemd starts; networkd would only make every "
        "unit",
        "# that wants network-online.target wait two minutes for interfaces it does not manage.",
        "systemctl mask systemd-networkd.service systemd-networkd-wait-online.service",
        "",
    ]
)
_DOCKER_BRIDGE = re.compile(r"\b(docker0|br-[0-9a-f]{12})\b")
IPTABLES_TABLES = ("filter", "nat")


class DockerError(HostError):
    """A Docker problem with a message a person can act on."""


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    exe = which("docker")
    if exe is None:
        raise DockerError("the docker client is not installed (apt-get install docker.io)")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise DockerError(f"`docker {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def answers() -> bool:
    """True when a Docker engine answers on the default socket."""
    if which("docker") is None:
        return False
    try:
        return docker("version", check=False, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _load_state() -> dict[str, Any]:
    try:
        return read_json(STATE_FILE) or {}
    except ValueError:
        return {}


def _is_dockerd(pid: int | None) -> bool:
    return bool(pid) and alive(pid) and Path((cmdline(pid) or [""])[0]).name == "dockerd"


def _iptables_listing(table: str) -> str:
    if which("iptables") is None:
        return ""
    return subprocess.run(
        ["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True
    ).stdout


def docker_bridges(links: list[str]) -> list[str]:
    """The names among ``links`` that Docker gives its bridges."""
    return sorted(name for name in links if re.fullmatch(r"docker0|br-[0-9a-f]{12}", name))


def network_snapshot() -> dict[str, Any]:
    """Docker-looking bridges and the iptables listings (empty without iptables): taken
    before our dockerd starts, so that stopping it removes only what it added."""
    links = [link.name for link in Path("/sys/class/net").iterdir()]
    return {
        "bridges": docker_bridges(links),
        "iptables": {table: _iptables_listing(table) for table in IPTABLES_TABLES},
    }


def _forward_policy(listing: str) -> str | None:
    match = re.search(r"^-P FORWARD (\w+)", listing, re.M)
    return match.group(1) if match else None


def ensure_running(progress: Progress = progress, timeout: float = 90) -> bool:
    """Start dockerd unless an engine answers; True when this call started it."""
    if answers():
        return False
    if not (which("dockerd") and which("docker")):
        if os.geteuid() != 0:
            raise DockerError("dockerd is not installed; install docker.io (needs root)")
        apt_install(["docker.io"], progress)
    state = _load_state()
    if _is_dockerd(state.get("pid")):
        raise DockerError(f"dockerd {state['pid']} is running but does not answer; see {LOG_FILE}")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    before = network_snapshot()
    progress(f"starting dockerd (data in {DATA_ROOT}, log {LOG_FILE})")
    with LOG_FILE.open("ab") as log:
        proc = subprocess.Popen(
            [which("dockerd") or "dockerd", "--data-root", str(DATA_ROOT)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, like the lab's hosts
        )
    policy = _forward_policy(before["iptables"]["filter"])
    record = {"pid": proc.pid, "forward_policy": policy, "before": before}
    STATE_FILE.write_text(json.dumps(record) + "\n")
    deadline = time.monotonic() + timeout
    while not answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DockerError(f"dockerd did not start within {timeout:.0f}s; see {LOG_FILE}")
        time.sleep(0.5)
    return True


def stop(progress: Progress = progress, timeout: float = 60) -> bool:
    """Stop the dockerd this module started (never another) and clean up after it."""
    state = _load_state()
    pid = state.get("pid")
    if not _is_dockerd(pid):
        STATE_FILE.unlink(missing_ok=True)
        return False
    progress(f"stopping dockerd {pid}")
    os.kill(pid, signal.SIGTERM)
    if wait_exit([pid], timeout):
        os.kill(pid, signal.SIGKILL)
        wait_exit([pid], 10)
    cleanup_network(state.get("forward_policy"), state.get("before"))
    STATE_FILE.unlink(missing_ok=True)
    return True


def docker_rules(table: str, rules: str, before: str = "") -> list[list[str]]:
    """Delete commands for the rules in ``iptables -S`` output ``rules`` that Docker added
    and that were not already in the listing ``before``."""
    existing = set(before.splitlines())
    deletes = []
    for line in rules.splitlines():
        if not line.startswith("-A ") or line in existing:
            continue
        if "-j DOCKER" in line or _DOCKER_BRIDGE.search(line):
            deletes.append(["iptables", "-w", "-t", table, "-D", *line.split()[1:]])
    return deletes


def docker_chains(rules: str, before: str = "") -> list[str]:
    """The DOCKER* chains in ``rules`` that the listing ``before`` did not have."""
    existing = set(re.findall(r"^-N (DOCKER\S*)", before, re.M))
    return [c for c in re.findall(r"^-N (DOCKER\S*)", rules, re.M) if c not in existing]


def cleanup_commands(
    before: dict[str, Any] | None, now: dict[str, Any], forward_policy: str | None
) -> list[list[str]]:
    """The commands that remove what our dockerd added between the snapshots ``before`` (taken
    when it started) and ``now``: its rules, its chains (emptied first, as one may jump to
    another), its bridges, and the FORWARD policy it set to DROP. What was there before, a
    system Docker's for one, stays. A state file written before kafkaform took a snapshot
    has none: then every Docker-looking rule, chain and bridge goes.
    """
    before = before or {}
    earlier = before.get("iptables", {})
    commands = []
    for table, listing in now["iptables"].items():
        commands += docker_rules(table, listing, earlier.get(table, ""))
        chains = docker_chains(listing, earlier.get(table, ""))
        commands += [["iptables", "-w", "-t", table, "-F", chain] for chain in chains]
        commands += [["iptables", "-w", "-t", table, "-X", chain] for chain in chains]
    if forward_policy:
        commands.append(["iptables", "-w", "-P", "FORWARD", forward_policy])
    earlier_bridges = set(before.get("bridges", []))
    commands += [
        ["ip", "link", "delete", name] for name in now["bridges"] if name not in earlier_bridges
    ]
    return commands


def cleanup_network(forward_policy: str | None, before: dict[str, Any] | None = None) -> None:
    """Remove what our dockerd added (see cleanup_commands)."""
    for argv in cleanup_commands(before, network_snapshot(), forward_policy):
        if which(argv[0]):
            subprocess.run(argv, capture_output=True)


def image_exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def ensure_base_image(progress: Progress = progress) -> str:
    """The systemd base image, imported from the lab's base rootfs when missing."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    base = ensure_base_for_image(progress)
    raw = BASE_IMAGE.rsplit(":", 1)[0] + ":rootfs"
    progress(f"importing {base} as {raw}")
    tar = subprocess.Popen(
        ["tar", "-C", str(base), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE
    )
    try:
        docker("import", "-", raw, stdin=tar.stdout)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    name = f"kafkaform-image-prep-{os.getpid()}"
    try:
        docker("run", "--name", name, raw, "/bin/sh", "-c", PREPARE_IMAGE)
        docker("commit", "--change", 'CMD ["/lib/systemd/systemd"]', name, BASE_IMAGE)
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", raw, check=False)
    progress(f"built {BASE_IMAGE}")
    return BASE_IMAGE


# ---------------------------------------------------------------------------------------------
# CLI.


def _cmd_up(args: argparse.Namespace) -> int:
    started = ensure_running()
    ensure_base_image()
    if not args.no_artifacts:
        # A machine without VMs here has no internet either: the dev nodes install from the
        # local mirror (kafkaform.dev.ensure_mirror), filled from Maven Central.
        from kafkaform import artifacts, settings

        artifacts.build_distribution(
            settings.KAFKA_VERSION, settings.SCALA_VERSION, progress=progress
        )
        artifacts.fetch_jmx_agent(settings.JMX_EXPORTER_VERSION, progress=progress)
    progress(("started dockerd; " if started else "dockerd already running; ") + "image ready")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    if not stop():
        progress("no dockerd started by kafkaform is running")
    return 0


def _cli(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except HostError as exc:
            print(f"kafkaform docker: error: {exc}", file=sys.stderr)
            return 1

    return run


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "docker",
        help="Docker engine and systemd image for `vagrant up` without VMs (root)",
        description=(
            "Start a Docker engine (installing docker.io if needed) and import the systemd "
            f"image {BASE_IMAGE} from the local lab's Debian 12 rootfs, for Vagrant's docker "
            "provider. Nothing is pulled from a registry."
        ),
    )
    actions = parser.add_subparsers(dest="docker_command", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up",
        help="start dockerd if none answers; build the image and the local artifact mirror",
    )
    up.add_argument(
        "--no-artifacts",
        action="store_true",
        help="skip the local mirror (nodes then use the Apache archive and Maven Central)",
    )
    up.set_defaults(func=_cli(_cmd_up))
    actions.add_parser(
        "down", help="stop the dockerd kafkaform started; remove its iptables chains"
    ).set_defaults(func=_cli(_cmd_down))
