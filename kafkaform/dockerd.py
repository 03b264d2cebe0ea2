"""A Docker engine for Vagrant's docker provider on machines without VMs, and its base image.

``ensure_running`` starts ``dockerd`` detached (installing docker.io with apt-get when it is
missing) unless one already answers; ``stop`` stops only a daemon this module started and
removes the iptables chains and bridges it leaves behind. ``ensure_base_image`` imports the
local lab's Debian 12 rootfs (systemd + sshd, no host keys, empty machine-id) as a systemd
image with Vagrant's user, so nothing is ever pulled from a registry.

Only the standard library is used here: the Vagrantfile imports this through kafkaform.dev.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[str], None]

STATE_DIR = Path("/var/lib/kafkaform")
DATA_ROOT = STATE_DIR / "docker"
STATE_FILE = STATE_DIR / "dockerd.json"
LOG_FILE = STATE_DIR / "dockerd.log"
BASE_IMAGE = "kafkaform/debian12-systemd:2"  # bump when _PREPARE_IMAGE changes
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
# Public by design: every Vagrant box accepts it until Vagrant swaps in a per-machine key.
VAGRANT_INSECURE_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niN"
    "ltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMz"
    "F8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiY"
    "JnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVY"
    "CzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key"
)
# What the image adds to the lab rootfs: Vagrant's login, and no key of this machine's.
_PREPARE_IMAGE = f"""set -e
useradd --create-home --shell /bin/bash vagrant
install -d -m 700 -o vagrant -g vagrant /home/vagrant/.ssh
echo '{VAGRANT_INSECURE_KEY}' > /home/vagrant/.ssh/authorized_keys
chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys
chmod 600 /home/vagrant/.ssh/authorized_keys
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/vagrant
chmod 440 /etc/sudoers.d/vagrant
rm -f /root/.ssh/authorized_keys
# Docker configures the network before systemd starts; networkd would only make every unit
# that wants network-online.target wait two minutes for interfaces it does not manage.
systemctl mask systemd-networkd.service systemd-networkd-wait-online.service
"""
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
)
_DOCKER_BRIDGE = re.compile(r"\b(docker0|br-[0-9a-f]{12})\b")


class DockerError(Exception):
    """A Docker problem with a message a person can act on."""


def _which(command: str) -> str | None:
    return shutil.which(command, path=_SEARCH_PATH)


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    exe = _which("docker")
    if exe is None:
        raise DockerError("the docker client is not installed (apt-get install docker.io)")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise DockerError(f"`docker {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def answers() -> bool:
    """True when a Docker engine answers on the default socket."""
    if _which("docker") is None:
        return False
    try:
        return docker("version", check=False, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _load_state() -> dict:
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _is_dockerd(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return Path(cmd.decode()).name == "dockerd" and stat not in ("Z", "X")


def _forward_policy() -> str | None:
    if _which("iptables") is None:
        return None
    out = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True)
    match = re.search(r"^-P FORWARD (\w+)", out.stdout, re.M)
    return match.group(1) if match else None


def _install_docker(progress: Progress) -> None:
    if _which("dockerd") and _which("docker"):
        return
    if os.geteuid() != 0 or _which("apt-get") is None:
        raise DockerError("dockerd is not installed; install docker.io (needs root and apt-get)")
    progress("installing docker.io with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise DockerError(f"apt-get install docker.io failed: {result.stderr.strip()}")


def ensure_running(progress: Progress = print, timeout: float = 90) -> bool:
    """Start dockerd unless an engine answers; True when this call started it."""
    if answers():
        return False
    _install_docker(progress)
    state = _load_state()
    if _is_dockerd(state.get("pid")):
        raise DockerError(f"dockerd {state['pid']} is running but does not answer; see {LOG_FILE}")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    policy = _forward_policy()
    progress(f"starting dockerd (data in {DATA_ROOT}, log {LOG_FILE})")
    with LOG_FILE.open("ab") as log:
        proc = subprocess.Popen(
            [_which("dockerd") or "dockerd", "--data-root", str(DATA_ROOT)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, like the lab's hosts
        )
    STATE_FILE.write_text(json.dumps({"pid": proc.pid, "forward_policy": policy}) + "\n")
    deadline = time.monotonic() + timeout
    while not answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DockerError(f"dockerd did not start within {timeout:.0f}s; see {LOG_FILE}")
        time.sleep(0.5)
    return True


def stop(progress: Progress = print, timeout: float = 60) -> bool:
    """Stop the dockerd this module started (never another) and clean up after it."""
    state = _load_state()
    pid = state.get("pid")
    if not _is_dockerd(pid):
        STATE_FILE.unlink(missing_ok=True)
        return False
    progress(f"stopping dockerd {pid}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_dockerd(pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    if _is_dockerd(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    cleanup_network(state.get("forward_policy"))
    STATE_FILE.unlink(missing_ok=True)
    return True


def docker_rules(table: str, rules: str) -> list[list[str]]:
    """Delete commands for the rules in ``iptables -S`` output that Docker added."""
    deletes = []
    for line in rules.splitlines():
        if not line.startswith("-A "):
            continue
        if "-j DOCKER" in line or _DOCKER_BRIDGE.search(line):
            deletes.append(["iptables", "-w", "-t", table, "-D", *line.split()[1:]])
    return deletes


def cleanup_network(forward_policy: str | None) -> None:
    """Remove what dockerd leaves: its rules and chains, its bridges, a DROP FORWARD policy."""
    if _which("iptables"):
        for table in ("filter", "nat"):
            listing = subprocess.run(
                ["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True
            ).stdout
            for argv in docker_rules(table, listing):
                subprocess.run(argv, capture_output=True)
            chains = re.findall(r"^-N (DOCKER\S*)", listing, re.M)
            for chain in chains:
                subprocess.run(["iptables", "-w", "-t", table, "-F", chain], capture_output=True)
            for chain in chains:
                subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True)
        if forward_policy:
            subprocess.run(["iptables", "-w", "-P", "FORWARD", forward_policy], capture_output=True)
    for link in Path("/sys/class/net").iterdir():
        if re.fullmatch(r"docker0|br-[0-9a-f]{12}", link.name):
            subprocess.run(["ip", "link", "delete", link.name], capture_output=True)


def image_exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def ensure_base_image(progress: Progress = print) -> str:
    """The systemd base image, imported from the lab's base rootfs when missing."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    from kafkaform import lab

    lab.ensure_prerequisites(progress)
    lab_dir = lab.get_lab_dir()
    with lab._locked(lab_dir, progress):
        base = lab.ensure_base(lab._ensure_ssh_key(lab_dir), lab_dir, progress)
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
        docker("run", "--name", name, raw, "/bin/sh", "-c", _PREPARE_IMAGE)
        docker("commit", "--change", 'CMD ["/lib/systemd/systemd"]', name, BASE_IMAGE)
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", raw, check=False)
    progress(f"built {BASE_IMAGE}")
    return BASE_IMAGE


# ---------------------------------------------------------------------------------------------
# CLI.


def _cmd_up(args: argparse.Namespace) -> int:
    started = ensure_running(progress=_progress)
    ensure_base_image(progress=_progress)
    if not args.no_artifacts:
        # A machine without VMs here has no internet either: the dev nodes install from the
        # local mirror (kafkaform.dev.ensure_mirror), filled from Maven Central.
        from kafkaform import artifacts, settings

        artifacts.build_distribution(
            settings.KAFKA_VERSION, settings.SCALA_VERSION, progress=_progress
        )
        artifacts.fetch_jmx_agent(settings.JMX_EXPORTER_VERSION, progress=_progress)
    _progress(("started dockerd; " if started else "dockerd already running; ") + "image ready")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    if not stop(progress=_progress):
        _progress("no dockerd started by kafkaform is running")
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)


def _cli(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except DockerError as exc:
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
