"""The local lab: N Debian hosts as systemd-nspawn containers on a bridge, no VMs needed.

Each host boots real systemd as PID 1 from its own overlay over one shared base rootfs, with
its own hostname, address, machine-id and SSH host keys. The containers and the artifact
mirror run detached, so they outlive the ``kafkaform lab`` command that started them; the
state file records what is running so later commands (and ``inventories/lab.py``) find it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]
State = dict[str, Any]

DEFAULT_LAB_DIR = "/var/lib/kafkaform/lab"
SUITE = "bookworm"
BASE_NAME = f"base-{SUITE}"
BRIDGE = "kf-br0"
GATEWAY = "10.213.0.1"
PREFIX = 24
SUBNET = "10.213.0.0/24"
FIRST_OCTET = 10  # kafka-i gets 10.213.0.(10+i)
MAX_NODES = 244  # keeps the last address at .254
NODE_PREFIX = "kafka-"
MIRROR_PORT = 8213
MIRROR_URL = f"http://{GATEWAY}:{MIRROR_PORT}"
RULE_COMMENT = "kafkaform-lab"
BASE_PACKAGES = (
    "systemd,systemd-sysv,openssh-server,python3,iproute2,dbus,sudo,ca-certificates,procps,"
    "iputils-ping,less"
)
# Commands the lab runs on this machine, and the Debian package that provides each.
HOST_PREREQUISITES = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "iptables": "iptables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "zstd": "zstd",  # lab boxes (`kafkaform box package --provider lab`, `lab up --box`)
}
# root's PATH may lack the sbin directories when run through sudo or cron.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
)
ZOOKEEPER_HEAP = "256m"
# The opt-in monitoring host (`lab up --monitoring`): Prometheus, Alertmanager, the log sink.
MONITOR_NAME = "monitor"
MONITOR_IP = "10.213.0.10"  # just below kafka-1
KAFKA_HEAP = "512m"  # the lab's hosts share this machine's memory


class LabError(Exception):
    """A lab problem with a message a person can act on."""


# ---------------------------------------------------------------------------------------------
# Pure logic: names, addresses, rendered files, inventory.


def ensemble_size(nodes: int) -> int:
    """ZooKeeper servers for a lab of ``nodes`` hosts: always odd, at most five."""
    if nodes < 1:
        raise ValueError(f"a lab needs at least one node, got {nodes}")
    if nodes < 3:
        return 1
    if nodes < 5:
        return 3
    return 5


def node_name(index: int) -> str:
    return f"{NODE_PREFIX}{index}"


def node_index(name: str) -> int:
    match = re.fullmatch(rf"{NODE_PREFIX}([1-9][0-9]*)", name)
    if not match or int(match.group(1)) > MAX_NODES:
        raise LabError(f"{name!r} is not a lab node name (kafka-1 .. kafka-{MAX_NODES})")
    return int(match.group(1))


def node_ip(index: int) -> str:
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} is outside 1..{MAX_NODES}")
    return str(ipaddress.ip_network(SUBNET)[FIRST_OCTET + index])


def new_state(lab_dir: str | Path | None = None) -> State:
    lab = get_lab_dir(lab_dir)
    return {
        "bridge": BRIDGE,
        "gateway": GATEWAY,
        "prefix": PREFIX,
        "ssh_key": str(lab / "id_ed25519"),
        "known_hosts": str(lab / "known_hosts"),
        "mirror_url": MIRROR_URL,
        "mirror_pid": None,
        "mirror_root": None,
        "nodes": [],
    }


def with_nodes(state: State, count: int, monitoring: bool = False) -> State:
    """The state listing nodes kafka-1..kafka-max(count, existing), then the monitoring host
    if asked for now or before; known pids are kept."""
    known = {node["name"]: node for node in state["nodes"]}
    highest = max([count, *(node_index(name) for name in known if name != MONITOR_NAME)])
    nodes = [
        known.get(node_name(i), {"name": node_name(i), "ip": node_ip(i), "pid": None})
        for i in range(1, highest + 1)
    ]
    if monitoring or MONITOR_NAME in known:
        fresh = {"name": MONITOR_NAME, "ip": MONITOR_IP, "pid": None, "monitoring": True}
        nodes.append(known.get(MONITOR_NAME, fresh))
    return {**state, "nodes": nodes}


def kafka_nodes(state: State) -> list[dict[str, Any]]:
    """The broker hosts kafka-1..N, in order (not the monitoring host)."""
    nodes = [node for node in state["nodes"] if not node.get("monitoring")]
    return sorted(nodes, key=lambda node: node_index(node["name"]))


def hosts_file(nodes: list[Mapping[str, Any]]) -> str:
    # Each name maps to its lab address (not 127.0.1.1) so ZooKeeper and Kafka bind and
    # advertise an address the other hosts can reach.
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{node['ip']}\t{node['name']}" for node in nodes]
    return "\n".join(lines) + "\n"


def network_file(ip: str, dns: list[str]) -> str:
    lines = [
        "[Match]",
        "Name=host0",
        "",
        "[Network]",
        f"Address={ip}/{PREFIX}",
        f"Gateway={GATEWAY}",
        *(f"DNS={server}" for server in dns),
        "LinkLocalAddressing=no",
        "IPv6AcceptRA=no",
    ]
    return "\n".join(lines) + "\n"


def resolv_conf(dns: list[str]) -> str:
    return "".join(f"nameserver {server}\n" for server in dns)


def inventory_hosts(state: State) -> list[tuple[str, dict[str, Any]]]:
    """pyinfra hosts for the lab: every node a broker, the first ensemble_size() ZooKeeper."""
    nodes = kafka_nodes(state)
    zookeepers = ensemble_size(len(nodes)) if nodes else 0
    ssh = {
        "ssh_user": "root",
        "ssh_key": state["ssh_key"],
        "ssh_known_hosts_file": state["known_hosts"],
        "ssh_strict_host_key_checking": "accept-new",
    }
    hosts = []
    for position, node in enumerate(nodes):
        index = node_index(node["name"])
        data: dict[str, Any] = {"ssh_hostname": node["ip"], **ssh, "kafkaid": index}
        if position < zookeepers:
            data.update(zookeeper=True, zkid=index)
        hosts.append((node["name"], data))
    for node in state["nodes"]:
        if node.get("monitoring"):
            hosts.append((node["name"], {"ssh_hostname": node["ip"], **ssh, "monitoring": True}))
    return hosts


LAB_ALERT_FOR = (
    "broker_down",
    "under_replicated",
    "under_min_isr",
    "offline_partitions",
    "active_controller",
    "zookeeper_not_serving",
    "zookeeper_quorum",
    "host_down",
    "consumer_lag",
)


def inventory_group_data(state: State) -> dict[str, Any]:
    return {
        "kafka_mirror": state["mirror_url"].rstrip("/") + "/kafka",
        "kafka_heap": KAFKA_HEAP,
        "zookeeper_heap": ZOOKEEPER_HEAP,
        # The JMX exporter jar from the lab's Maven-layout mirror (kafkaform.artifacts).
        "maven_mirror": state["mirror_url"].rstrip("/") + "/maven2",
        # Quick scrapes and short `for:` so a crash alerts within a test's patience.
        "prometheus_scrape_interval": "5s",
        "prometheus_evaluation_interval": "5s",
        "alert_for": {key: "15s" for key in LAB_ALERT_FOR},
        "alertmanager_route": {"group_wait": "5s", "group_interval": "10s"},
        # The lab's root filesystems are overlays, which node_exporter skips by default.
        "node_exporter_flags": [
            "--collector.filesystem.fs-types-exclude=^(autofs|proc|sysfs|tmpfs|devpts|cgroup2?)$"
        ],
        "lag_exporter_interval_seconds": 5,
    }


def parse_deb822_sources(text: str) -> tuple[str | None, str | None]:
    """(main mirror, security mirror) for bookworm from a deb822 .sources file."""
    mirror = security = None
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or not fields.get("uris"):
            continue
        uri = fields["uris"].split()[0]
        suites = fields.get("suites", "").split()
        if SUITE in suites and mirror is None:
            mirror = uri
        if f"{SUITE}-security" in suites and security is None:
            security = uri
    return mirror, security


def parse_sources_list(text: str) -> tuple[str | None, str | None]:
    """(main mirror, security mirror) for bookworm from a one-line-style sources.list."""
    mirror = security = None
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) < 3 or words[0] != "deb":
            continue
        if words[2] == SUITE and mirror is None:
            mirror = words[1]
        if words[2] == f"{SUITE}-security" and security is None:
            security = words[1]
    return mirror, security


def apt_sources(mirror: str, security: str) -> str:
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
    )


def nat_rules() -> list[tuple[str, str, list[str]]]:
    """(table, chain, match) of each rule the lab adds; the comment marks them as ours."""
    mark = ["-m", "comment", "--comment", RULE_COMMENT]
    return [
        ("nat", "POSTROUTING", ["-s", SUBNET, "!", "-o", BRIDGE, *mark, "-j", "MASQUERADE"]),
        # Docker sets the FORWARD policy to DROP; these keep the lab's traffic flowing.
        ("filter", "FORWARD", ["-i", BRIDGE, *mark, "-j", "ACCEPT"]),
        ("filter", "FORWARD", ["-o", BRIDGE, *mark, "-j", "ACCEPT"]),
    ]


# ---------------------------------------------------------------------------------------------
# Paths and the state file.


def get_lab_dir(lab_dir: str | Path | None = None) -> Path:
    chosen = lab_dir or os.environ.get("KAFKAFORM_LAB_DIR") or DEFAULT_LAB_DIR
    return Path(chosen).absolute()


def base_dir(lab_dir: str | Path | None = None) -> Path:
    return get_lab_dir(lab_dir).parent / BASE_NAME


def state_path(lab_dir: str | Path | None = None) -> Path:
    return get_lab_dir(lab_dir) / "state.json"


def node_dir(name: str, lab_dir: str | Path | None = None) -> Path:
    return get_lab_dir(lab_dir) / "nodes" / name


def load_state(lab_dir: str | Path | None = None) -> State | None:
    """The running lab's state, or None when no lab is up."""
    path = state_path(lab_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise LabError(f"{path} is not valid JSON ({exc}); run `kafkaform lab down`") from exc


def save_state(state: State, lab_dir: str | Path | None = None) -> None:
    path = state_path(lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(state, indent=2) + "\n")


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    # Readers (inventories, concurrent status) never see a half-written file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _require_state(lab_dir: str | Path | None) -> State:
    state = load_state(lab_dir)
    if state is None:
        raise LabError(f"no lab is up (no {state_path(lab_dir)}); run `kafkaform lab up`")
    return state


def _find_node(state: State, name: str) -> dict[str, Any]:
    for node in state["nodes"]:
        if node["name"] == name:
            return node
    names = ", ".join(node["name"] for node in state["nodes"]) or "none"
    raise LabError(f"the lab has no node {name!r} (nodes: {names})")


# ---------------------------------------------------------------------------------------------
# Host plumbing: commands, processes, mounts.


def _which(command: str) -> str | None:
    return shutil.which(command, path=_SEARCH_PATH)


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = _which(argv[0]) or argv[0]
    try:
        result = subprocess.run([exe, *argv[1:]], capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed") from exc
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise LabError(f"`{' '.join(argv)}` failed (exit {result.returncode}): {output}")
    return result


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (containers, mounts, bridge, iptables): use sudo")


def ensure_prerequisites(progress: Progress = print) -> None:
    """Install this machine's lab tools with apt-get when any is missing."""
    _require_root()
    missing = sorted({pkg for cmd, pkg in HOST_PREREQUISITES.items() if not _which(cmd)})
    if not missing:
        return
    if not _which("apt-get"):
        raise LabError(f"missing {', '.join(missing)} and no apt-get to install them")
    progress(f"installing host packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        # A clean machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(f"apt-get install {' '.join(missing)} failed: {result.stderr.strip()}")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _reap(pid: int) -> None:
    # A process this Python started stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def nspawn_pid(name: str, lab_dir: str | Path | None = None) -> int | None:
    """The pid of the systemd-nspawn running node ``name``, found from its command line.

    Found by scanning rather than trusting the recorded pid, which goes stale when the
    machine restarts and may then belong to an unrelated process.
    """
    merged = str(node_dir(name, lab_dir) / "merged")
    matches = {
        pid
        for pid in _pids()
        if (cmd := _cmdline(pid))
        and Path(cmd[0]).name == "systemd-nspawn"
        and merged in cmd
        and _alive(pid)
    }
    # nspawn briefly forks helpers with the same command line; the parent is the one to signal.
    top = [pid for pid in matches if _ppid(pid) not in matches]
    return min(top) if top else None


def container_init_pid(nspawn: int) -> int | None:
    """The container's PID 1 (systemd), a child of its systemd-nspawn."""
    for child in _children(nspawn):
        cmd = _cmdline(child)
        if cmd and Path(cmd[0]).name != "systemd-nspawn":
            return child
    return None


def _wait_exit(pids: list[int], timeout: float) -> list[int]:
    """Wait until the processes exit; returns those still running at the timeout."""
    deadline = time.monotonic() + timeout
    left = [pid for pid in pids if _alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [pid for pid in left if _alive(pid)]
    return left


def _mountpoints() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return points


def _is_mounted(path: Path) -> bool:
    return str(path) in _mountpoints()


def _umount_under(path: Path) -> None:
    """Unmount everything at or below ``path``, deepest first."""
    prefix = str(path).rstrip("/") + "/"
    inside = [p for p in _mountpoints() if p == str(path) or p.startswith(prefix)]
    for point in sorted(set(inside), key=len, reverse=True):
        if _run(["umount", point], check=False).returncode != 0:
            _run(["umount", "--lazy", point], check=False)


def _remove_tree(path: Path) -> None:
    # Never follow a leftover bind mount (an interrupted debootstrap leaves /proc, /sys and
    # maybe /dev mounted inside its target) into this machine's own files.
    if not path.exists() and not path.is_symlink():
        return
    _umount_under(path)
    _run(["rm", "-rf", "--one-file-system", str(path)])


# ---------------------------------------------------------------------------------------------
# The base rootfs.


def apt_mirrors() -> tuple[str, str]:
    """This machine's Debian mirror and security mirror, so the lab uses what works here."""
    mirror = security = None
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        mirror, security = parse_deb822_sources(sources.read_text())
    legacy = Path("/etc/apt/sources.list")
    if mirror is None and legacy.exists():
        mirror, security = parse_sources_list(legacy.read_text())
    if mirror is None:
        raise LabError(f"no Debian {SUITE} mirror found in {sources} or {legacy}")
    if security is None:
        security = mirror.rstrip("/") + "-security"  # deb.debian.org's layout
    return mirror, security


def _debootstrap(target: Path, mirror: str, log: Path, progress: Progress) -> None:
    argv = [
        _which("debootstrap") or "debootstrap",
        "--variant=minbase",
        f"--include={BASE_PACKAGES}",
        SUITE,
        str(target),
        mirror,
    ]
    started = time.monotonic()
    seen: set[str] = set()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            words = line.split()
            # Hundreds of per-package lines: show one line per phase.
            if len(words) >= 2 and words[0] == "I:" and words[1] not in seen:
                seen.add(words[1])
                progress(f"  debootstrap [{time.monotonic() - started:4.0f}s] {line[3:].strip()}")
            elif words[:1] in (["E:"], ["W:"]):
                progress(f"  debootstrap: {line.strip()}")
        if proc.wait() != 0:
            raise LabError(f"debootstrap failed (exit {proc.returncode}); see {log}")


def _configure_base(root: Path, mirror: str, security: str, public_key: str) -> None:
    etc = root / "etc"
    (etc / "apt" / "sources.list").unlink(missing_ok=True)
    (etc / "apt" / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (etc / "apt" / "sources.list.d" / "debian.sources").write_text(apt_sources(mirror, security))
    _install_authorized_key(root, public_key)
    # Host keys are made on each host's first boot so no two hosts share them; the unit's own
    # `sshd -t` check must run after that, so the ExecStartPre list is rebuilt.
    dropin = etc / "systemd" / "system" / "ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "kafkaform-host-keys.conf").write_text(
        "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\n"
        "ExecStartPre=/usr/sbin/sshd -t\n"
    )
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    # Empty machine-id: each host's systemd makes its own on first boot.
    (etc / "machine-id").write_text("")
    dbus_id = root / "var" / "lib" / "dbus" / "machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
        dbus_id.symlink_to("/etc/machine-id")
    units = etc / "systemd" / "system"
    # apt's daily timers would take the dpkg lock in the middle of a deploy.
    for unit in ("apt-daily.service", "apt-daily-upgrade.service"):
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    _run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service"])


def _install_authorized_key(root: Path, public_key: str) -> None:
    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    _write_atomic(ssh_dir / "authorized_keys", public_key.strip() + "\n", mode=0o600)


def ensure_base(
    public_key: str, lab_dir: str | Path | None = None, progress: Progress = print
) -> Path:
    """The cached base rootfs, built with debootstrap when missing."""
    base = base_dir(lab_dir)
    if (base / "etc" / "os-release").exists():
        return base
    if base.exists():
        raise LabError(f"{base} exists but is not a rootfs; `kafkaform lab down --purge` clears it")
    base.parent.mkdir(parents=True, exist_ok=True)
    for stale in base.parent.glob(f"{BASE_NAME}.partial-*"):
        progress(f"removing an interrupted base build: {stale}")
        _remove_tree(stale)
    mirror, security = apt_mirrors()
    partial = base.parent / f"{BASE_NAME}.partial-{os.getpid()}"
    log = base.parent / f"{BASE_NAME}.log"
    progress(f"building the base rootfs ({SUITE} from {mirror}; about a minute) into {base}")
    started = time.monotonic()
    try:
        _debootstrap(partial, mirror, log, progress)
        _configure_base(partial, mirror, security, public_key)
    except BaseException:
        _remove_tree(partial)
        raise
    _umount_under(partial)
    # Only a complete build gets the real name, so an interrupted one is never used.
    os.rename(partial, base)
    progress(f"base rootfs ready in {time.monotonic() - started:.0f}s")
    return base


# ---------------------------------------------------------------------------------------------
# Network: bridge, forwarding, NAT.


def _bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def _iptables_rule(action: str, table: str, chain: str, match: list[str]) -> bool:
    return _run(["iptables", "-w", "-t", table, action, chain, *match], check=False).returncode == 0


def ensure_network(progress: Progress = print) -> None:
    """Bridge with the gateway address, IPv4 forwarding and NAT; safe to repeat."""
    if not _bridge_exists():
        progress(f"creating bridge {BRIDGE} ({GATEWAY}/{PREFIX})")
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addresses = _run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE]).stdout
    if f" {GATEWAY}/{PREFIX} " not in addresses:
        _run(["ip", "addr", "add", f"{GATEWAY}/{PREFIX}", "dev", BRIDGE])
    _run(["ip", "link", "set", BRIDGE, "up"])
    # Same as `sysctl -w net.ipv4.ip_forward=1`, without needing procps on this machine.
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    for table, chain, match in nat_rules():
        if not _iptables_rule("-C", table, chain, match):
            # FORWARD: ahead of any DROP/REJECT rule another tool appended.
            if chain == "FORWARD":
                _run(["iptables", "-w", "-t", table, "-I", chain, "1", *match])
            else:
                _run(["iptables", "-w", "-t", table, "-A", chain, *match])


def remove_network(progress: Progress = print) -> None:
    if _which("iptables"):
        for table, chain, match in nat_rules():
            while _iptables_rule("-C", table, chain, match):
                _iptables_rule("-D", table, chain, match)
    if _bridge_exists():
        progress(f"removing bridge {BRIDGE}")
        _run(["ip", "link", "delete", BRIDGE], check=False)
    # ip_forward stays on: other tools on this machine (Docker) may rely on it too.


def host_dns_servers() -> list[str]:
    """Nameservers the hosts can use: this machine's own, unless they are loopback stubs."""
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        with contextlib.suppress(OSError):
            servers = []
            for line in Path(path).read_text().splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    with contextlib.suppress(ValueError):
                        if not ipaddress.ip_address(words[1]).is_loopback:
                            servers.append(words[1])
            if servers:
                return servers
    return []


# ---------------------------------------------------------------------------------------------
# The artifact mirror.


def _mirror_pids() -> list[int]:
    return [
        pid
        for pid in _pids()
        if "http.server" in (cmd := _cmdline(pid))
        and GATEWAY in cmd
        and str(MIRROR_PORT) in cmd
        and _alive(pid)
    ]


def _port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _mirror_root(with_artifacts: bool, lab: Path, progress: Progress) -> Path:
    # Imported here: the artifact builder (and Maven) is only needed when the lab starts.
    from kafkaform import artifacts, settings

    if with_artifacts:
        artifacts.build_distribution(
            settings.KAFKA_VERSION, settings.SCALA_VERSION, progress=progress
        )
        artifacts.fetch_jmx_agent(settings.JMX_EXPORTER_VERSION, progress=progress)
    root = Path(artifacts.mirror_root())
    if not root.is_dir():
        root = lab / "mirror"  # nothing built yet: serve an empty directory
        root.mkdir(parents=True, exist_ok=True)
    return root


def ensure_mirror(state: State, root: Path, lab: Path, progress: Progress = print) -> None:
    """Serve ``root`` at MIRROR_URL from a detached process (restarted if the root changed)."""
    running = _mirror_pids()
    if running and state.get("mirror_root") == str(root) and state.get("mirror_pid") in running:
        return
    stop_mirror(state)
    progress(f"serving {root} at {MIRROR_URL}")
    log = lab / "mirror.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", GATEWAY, "--directory", str(root)]
            + [str(MIRROR_PORT)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state.update(mirror_pid=proc.pid, mirror_root=str(root))
    deadline = time.monotonic() + 15
    while not _port_answers(GATEWAY, MIRROR_PORT):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"the artifact mirror did not start on {MIRROR_URL}; see {log}")
        time.sleep(0.1)


def stop_mirror(state: State) -> None:
    pids = _mirror_pids()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in _wait_exit(pids, 5):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    state.update(mirror_pid=None)


# ---------------------------------------------------------------------------------------------
# Nodes.


def _ensure_ssh_key(lab: Path) -> str:
    key = lab / "id_ed25519"
    if not key.exists():
        lab.mkdir(parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kafkaform-lab", "-f", str(key)])
    return Path(f"{key}.pub").read_text()


def node_base(state: State, lab: Path) -> Path:
    """The lower layer of every host's disk: the debootstrap base, or a lab box's rootfs."""
    return Path(state["base"]) if state.get("base") else base_dir(lab)


def _ensure_disk(name: str, lab: Path, base: Path) -> tuple[Path, bool]:
    """Mount the node's overlay; returns (merged root, whether the disk is new)."""
    if not (base / "etc" / "os-release").exists():
        raise LabError(f"the base rootfs {base} is missing; run `kafkaform lab up`")
    home = node_dir(name, lab)
    upper, work, merged = home / "upper", home / "work", home / "merged"
    fresh = not upper.exists()
    for path in (upper, work, merged):
        path.mkdir(parents=True, exist_ok=True)
    if not _is_mounted(merged):
        if any(ch in str(path) for path in (base, home) for ch in ",:"):
            raise LabError(f"lab paths must not contain ',' or ':' (overlay syntax): {home}")
        options = f"lowerdir={base},upperdir={upper},workdir={work}"
        _run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)])
    return merged, fresh


def _write_node_files(
    root: Path, node: Mapping[str, Any], state: State, public_key: str, dns: list[str], fresh: bool
) -> None:
    etc = root / "etc"
    # Explicit modes: debootstrap leaves these files executable.
    _write_atomic(etc / "hostname", node["name"] + "\n")
    _write_atomic(etc / "hosts", hosts_file(state["nodes"]))
    network = etc / "systemd" / "network"
    network.mkdir(parents=True, exist_ok=True)
    # Same name as systemd's own container file, which it overrides (that one wants DHCP).
    (network / "80-container-host0.network").write_text(network_file(node["ip"], dns))
    _write_atomic(etc / "resolv.conf", resolv_conf(dns))
    # Per node, so a lab key made after the base was cached still gets in.
    _install_authorized_key(root, public_key)
    if fresh:
        (etc / "machine-id").write_text("")


def _remove_stale_veth(name: str, timeout: float = 10.0) -> None:
    """Drop the host side of a dead node's veth pair.

    The kernel tears a killed container's network namespace down asynchronously; until it
    has, nspawn cannot create the pair again ("vb-NAME: File exists").
    """
    link = f"vb-{name}"[:15]  # nspawn truncates to the kernel's interface name limit
    deadline = time.monotonic() + timeout
    while Path(f"/sys/class/net/{link}").exists():
        _run(["ip", "link", "delete", link], check=False)
        if time.monotonic() > deadline:
            raise LabError(f"{name}: stale interface {link} cannot be removed")
        time.sleep(0.2)


def _boot(name: str, lab: Path) -> int:
    home = node_dir(name, lab)
    _remove_stale_veth(name)
    argv = [
        _which("systemd-nspawn") or "systemd-nspawn",
        "-b",
        "-D",
        str(home / "merged"),
        "-M",
        name,
        "--register=no",
        "--keep-unit",
        "--console=passive",
        f"--network-bridge={BRIDGE}",
    ]
    with (home / "console.log").open("ab") as log:
        log.write(f"\n--- kafkaform: booting {name} at {time.ctime()} ---\n".encode())
        log.flush()
        # Own session, no terminal: the host outlives this command and its shell.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def ssh_answers(ip: str, timeout: float = 2.0) -> bool:
    """True when an SSH server greets on ip:22."""
    if not _bridge_exists():
        return False  # the lab's addresses would route off this machine
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _wait_for_ssh(
    nodes: list[dict[str, Any]], lab: Path, timeout: float, progress: Progress
) -> None:
    started = time.monotonic()
    waiting = {node["name"]: node for node in nodes}
    while waiting:
        for name, node in list(waiting.items()):
            if ssh_answers(node["ip"], timeout=1.0):
                progress(
                    f"  {name} ({node['ip']}) answers ssh after {time.monotonic() - started:.1f}s"
                )
                del waiting[name]
            elif not _alive(node.get("pid")):
                log = node_dir(name, lab) / "console.log"
                raise LabError(f"{name} stopped while booting; see {log}")
        if waiting and time.monotonic() - started > timeout:
            logs = ", ".join(str(node_dir(name, lab) / "console.log") for name in waiting)
            raise LabError(
                f"sshd did not answer within {timeout:.0f}s on {', '.join(waiting)}; see {logs}"
            )
        if waiting:
            time.sleep(0.3)


def _refresh_known_hosts(state: State, lab: Path) -> None:
    # Read each host's keys straight from its disk: trusted, with no first-use guess.
    lines = []
    for node in state["nodes"]:
        ssh_dir = node_dir(node["name"], lab) / "upper" / "etc" / "ssh"
        for pub in sorted(ssh_dir.glob("ssh_host_*_key.pub")):
            fields = pub.read_text().split()
            if len(fields) >= 2:
                lines.append(f"{node['ip']} {fields[0]} {fields[1]}\n")
    _write_atomic(Path(state["known_hosts"]), "".join(lines))


@contextlib.contextmanager
def _locked(lab: Path, progress: Progress) -> Iterator[None]:
    """One lab command at a time."""
    lab.mkdir(parents=True, exist_ok=True)
    with (lab / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("waiting for another kafkaform lab command to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start_nodes(
    state: State, names: list[str], lab: Path, timeout: float, progress: Progress
) -> list[str]:
    """Mount and boot the named nodes that are not running; returns those it booted."""
    public_key = _ensure_ssh_key(lab)
    dns = host_dns_servers()
    if not dns:
        progress("warning: no usable nameserver on this machine; hosts cannot resolve names")
    booted = []
    for node in state["nodes"]:
        name = node["name"]
        node["pid"] = nspawn_pid(name, lab)
        merged = node_dir(name, lab) / "merged"
        if name in names and node["pid"] is None:
            root, fresh = _ensure_disk(name, lab, node_base(state, lab))
            _write_node_files(root, node, state, public_key, dns, fresh)
            if fresh:
                _remove_known_host(state, node["ip"])
            progress(f"booting {name} ({node['ip']})" + (" on a new disk" if fresh else ""))
            node["pid"] = _boot(name, lab)
            booted.append(name)
        elif _is_mounted(merged):
            # Running nodes learn about added ones; stopped ones get it at their next boot.
            _write_atomic(merged / "etc" / "hosts", hosts_file(state["nodes"]))
    save_state(state, lab)  # before waiting, so `lab down` can clean up a failed boot
    _wait_for_ssh([n for n in state["nodes"] if n["name"] in booted], lab, timeout, progress)
    _refresh_known_hosts(state, lab)
    save_state(state, lab)
    return booted


def _remove_known_host(state: State, ip: str) -> None:
    path = Path(state["known_hosts"])
    if path.exists():
        kept = [line for line in path.read_text().splitlines(True) if line.split(" ", 1)[0] != ip]
        _write_atomic(path, "".join(kept))


def up(
    nodes: int,
    *,
    with_artifacts: bool = True,
    lab_dir: str | Path | None = None,
    timeout: float = 120.0,
    progress: Progress = print,
    monitoring: bool = False,
    box: Path | None = None,
    box_version: str | None = None,
) -> State:
    """Bring up (or grow) the lab to ``nodes`` hosts (plus the monitoring host if
    ``monitoring``); running hosts are left alone. ``box`` (a lab box file or its catalog)
    starts new hosts from a baked rootfs instead of the debootstrap base."""
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    started = time.monotonic()
    ensure_prerequisites(progress)
    lab = get_lab_dir(lab_dir)
    with _locked(lab, progress):
        public_key = _ensure_ssh_key(lab)
        state = with_nodes(load_state(lab) or new_state(lab), nodes, monitoring)
        if box is not None:
            _use_box(state, lab, box, box_version, progress)
        elif not state.get("base"):  # a lab started from a box keeps growing from it
            ensure_base(public_key, lab, progress)
        ensure_network(progress)
        ensure_mirror(state, _mirror_root(with_artifacts, lab, progress), lab, progress)
        save_state(state, lab)
        wanted = [node["name"] for node in state["nodes"]]
        if len(kafka_nodes(state)) > nodes:
            progress(f"note: the lab keeps its {len(wanted)} nodes (`lab down` removes them)")
        booted = _start_nodes(state, wanted, lab, timeout, progress)
    already = len(wanted) - len(booted)
    progress(
        f"lab up: {len(wanted)} nodes ({len(booted)} booted, {already} already running) "
        f"in {time.monotonic() - started:.1f}s; try `pyinfra inventories/lab.py exec -- hostname`"
    )
    return state


def _use_box(state: State, lab: Path, box: Path, version: str | None, progress: Progress) -> None:
    from kafkaform.box import BoxError, resolve_lab_box

    try:
        path, sha256 = resolve_lab_box(box, version)
    except BoxError as exc:
        raise LabError(str(exc)) from None
    root = ensure_box_root(path, sha256, lab, progress)
    disks = lab / "nodes"
    if node_base(state, lab) != root and disks.is_dir() and any(disks.iterdir()):
        raise LabError(
            f"the lab's hosts run from {node_base(state, lab)}: `kafkaform lab down` first"
        )
    state["base"] = str(root)


def ensure_box_root(box: Path, sha256: str, lab: Path, progress: Progress = print) -> Path:
    """A lab box's rootfs, unpacked once per content (keyed by its sha256) beside the base."""
    root = lab.parent / "boxes" / sha256[:16]
    if (root / "etc" / "os-release").exists():
        return root
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    _remove_tree(partial)
    partial.mkdir(parents=True)
    progress(f"unpacking lab box {box} into {root}")
    try:
        _run(["tar", "--zstd", "-xf", str(box), "-C", str(partial), *_TAR_FLAGS])
        if not (partial / "etc" / "os-release").exists():
            raise LabError(f"{box} is not a lab box (no etc/os-release inside)")
    except BaseException:
        _remove_tree(partial)
        raise
    os.rename(partial, root)
    return root


# Numeric ids (the box's users, not this machine's) and file capabilities (ping, ...).
_TAR_FLAGS = ["--numeric-owner", "--xattrs", "--xattrs-include=*"]


def export_rootfs(
    name: str,
    dest: Path,
    info: Mapping[str, Any],
    lab_dir: str | Path | None = None,
    progress: Progress = print,
) -> None:
    """Stop host ``name`` and write its root filesystem (base + its changes) as a lab box.

    Files the host wrote after its bake's identity scrub (shutdown journal, host keys, a
    machine-id) are left out, so every host started from the box makes its own.
    """
    stop_node(name, lab_dir, progress=progress)
    lab = get_lab_dir(lab_dir)
    with _locked(lab, progress):
        state = _require_state(lab)
        home = node_dir(name, lab)
        view, extra = home / "export", home / "export-extra"
        _umount_under(view)
        view.mkdir(exist_ok=True)
        _remove_tree(extra)
        # Under another name, so the excludes below (which see names before the rename)
        # drop the host's copies but not these.
        (extra / "x-etc" / "kafkaform").mkdir(parents=True)
        (extra / "x-etc" / "machine-id").write_text("")
        (extra / "x-etc" / "kafkaform" / "box.json").write_text(json.dumps(dict(info)) + "\n")
        # A read-only overlay of the host's changes on its base: the host's view of its disk.
        lower = f"{home / 'upper'}:{node_base(state, lab)}"
        _run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}", str(view)])
        progress(f"exporting {name}'s root filesystem to {dest}")
        try:
            _run(
                ["tar", "--zstd", "-cf", str(dest), *_TAR_FLAGS, "-C", str(view)]
                + ["--exclude=./etc/machine-id", "--exclude=./etc/ssh/ssh_host_*"]
                + ["--exclude=./var/log/journal/*", "--exclude=./etc/kafkaform/box.json", "."]
                + ["-C", str(extra), "--transform=flags=r;s,^\\./x-etc/,./etc/,"]
                + ["./x-etc/machine-id", "./x-etc/kafkaform/box.json"]
            )
        finally:
            _umount_under(view)
            _remove_tree(extra)
            view.rmdir()


def _signal_stop(name: str, lab: Path) -> int | None:
    pid = nspawn_pid(name, lab)
    if pid is not None:
        # nspawn turns SIGTERM into an orderly poweroff of the container's systemd.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return pid


def _force_stop(pid: int) -> None:
    init = container_init_pid(pid)
    for victim in (init, pid):
        if victim and _alive(victim):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
    _wait_exit([pid], 10)


def _stop_many(names: list[str], lab: Path, timeout: float, progress: Progress) -> None:
    pids = {name: pid for name in names if (pid := _signal_stop(name, lab)) is not None}
    if pids:
        progress(f"stopping {', '.join(pids)}")
    started = time.monotonic()
    left = set(_wait_exit(list(pids.values()), timeout))
    for name, pid in pids.items():
        if pid in left:
            progress(f"  {name} did not power off within {timeout:.0f}s; killing it")
            _force_stop(pid)
        else:
            progress(f"  {name} stopped after {time.monotonic() - started:.1f}s")


def _unmount_disk(name: str, lab: Path, progress: Progress) -> None:
    merged = node_dir(name, lab) / "merged"
    if _is_mounted(merged) and _run(["umount", str(merged)], check=False).returncode != 0:
        progress(f"warning: {merged} is busy; left mounted")


def start_node(
    name: str, lab_dir: str | Path | None = None, timeout: float = 120.0, progress: Progress = print
) -> None:
    """Boot a stopped, killed or died node again on its existing disk."""
    _require_root()
    lab = get_lab_dir(lab_dir)
    with _locked(lab, progress):
        state = _require_state(lab)
        _find_node(state, name)
        # After a machine restart the bridge, NAT and mirror are gone too.
        ensure_network(progress)
        if state.get("mirror_root") and Path(state["mirror_root"]).is_dir():
            ensure_mirror(state, Path(state["mirror_root"]), lab, progress)
        if not _start_nodes(state, [name], lab, timeout, progress):
            progress(f"{name} is already running")


def stop_node(
    name: str, lab_dir: str | Path | None = None, timeout: float = 90.0, progress: Progress = print
) -> None:
    """Shut a node down cleanly (systemd powers off); its disk is kept."""
    _require_root()
    lab = get_lab_dir(lab_dir)
    with _locked(lab, progress):
        state = _require_state(lab)
        node = _find_node(state, name)
        if nspawn_pid(name, lab) is None:
            progress(f"{name} is not running")
        _stop_many([name], lab, timeout, progress)
        _unmount_disk(name, lab, progress)
        node["pid"] = None
        save_state(state, lab)


def kill_node(name: str, lab_dir: str | Path | None = None, progress: Progress = print) -> None:
    """Crash a node: SIGKILL its systemd (the container's PID 1), as a power cut would."""
    _require_root()
    lab = get_lab_dir(lab_dir)
    with _locked(lab, progress):
        state = _require_state(lab)
        node = _find_node(state, name)
        pid = nspawn_pid(name, lab)
        if pid is None:
            raise LabError(f"{name} is not running")
        init = container_init_pid(pid)
        if init is None:
            raise LabError(f"{name}: no container init under systemd-nspawn {pid}")
        # Killing nspawn instead would leave the container running, orphaned.
        os.kill(init, signal.SIGKILL)
        if _wait_exit([pid], 30):
            raise LabError(f"{name}: systemd-nspawn {pid} still running 30s after its init died")
        progress(f"killed {name} (init pid {init})")
        node["pid"] = None
        save_state(state, lab)


def down(
    *, purge: bool = False, lab_dir: str | Path | None = None, progress: Progress = print
) -> None:
    """Stop every host and remove the nodes, state, mirror, NAT rules and bridge.

    The base rootfs and SSH key stay for a fast next ``up`` unless ``purge``.
    """
    _require_root()
    lab = get_lab_dir(lab_dir)
    if not lab.exists():
        remove_network(progress)  # in case a lab directory was deleted by hand
        if purge:
            _remove_tree(base_dir(lab))
        progress(f"no lab at {lab}")
        return
    with _locked(lab, progress):
        state = load_state(lab) or new_state(lab)
        nodes_root = lab / "nodes"
        names = {node["name"] for node in state["nodes"]}
        if nodes_root.is_dir():
            names |= {entry.name for entry in nodes_root.iterdir()}
        ordered = sorted(names, key=lambda n: (len(n), n))
        # The disks are deleted next, so there is nothing to shut down cleanly for: a clean
        # poweroff of a whole cluster at once waits on brokers whose ZooKeeper is gone.
        for name in ordered:
            if (pid := nspawn_pid(name, lab)) is not None:
                _force_stop(pid)
                progress(f"  {name} stopped")
            _remove_stale_veth(name)
        for name in ordered:
            _remove_tree(node_dir(name, lab))
        if nodes_root.is_dir():
            nodes_root.rmdir()
        stop_mirror(state)
        remove_network(progress)
        for leftover in (state_path(lab), Path(state["known_hosts"]), lab / "mirror.log"):
            leftover.unlink(missing_ok=True)
        if purge:
            base = base_dir(lab)
            progress(f"purging {lab} and the base rootfs {base}")
            for path in [base, *base.parent.glob(f"{BASE_NAME}.partial-*")]:
                _remove_tree(path)
            base.parent.joinpath(f"{BASE_NAME}.log").unlink(missing_ok=True)
            _remove_tree(base.parent / "boxes")  # lab boxes unpacked by `lab up --box`
            _remove_tree(lab)
    progress("lab down" + (" (purged)" if purge else "; base rootfs kept for the next `lab up`"))


def status(lab_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per node: name, ip, pid, running, ssh."""
    state = load_state(lab_dir)
    if state is None:
        return []
    rows = []
    for node in state["nodes"]:
        pid = nspawn_pid(node["name"], lab_dir)
        running = pid is not None
        rows.append(
            {
                "name": node["name"],
                "ip": node["ip"],
                "pid": pid,
                "running": running,
                "ssh": running and ssh_answers(node["ip"], timeout=1.0),
            }
        )
    return rows


def ssh_command(name: str, lab_dir: str | Path | None = None) -> list[str]:
    """The argv prefix that runs a command on node ``name`` as root."""
    state = _require_state(lab_dir)
    node = _find_node(state, name)
    return [
        "ssh",
        "-i",
        state["ssh_key"],
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={state['known_hosts']}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        f"root@{node['ip']}",
    ]


# ---------------------------------------------------------------------------------------------
# CLI.


def _cli(action: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(action(args) or 0)
        except LabError as exc:
            print(f"kafkaform lab: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("kafkaform lab: interrupted", file=sys.stderr)
            return 130

    return run


def _progress(line: str) -> None:
    print(line, flush=True)


@_cli
def _cmd_up(args: argparse.Namespace) -> int:
    up(
        args.nodes,
        with_artifacts=not args.no_artifacts,
        timeout=args.timeout,
        progress=_progress,
        monitoring=args.monitoring,
        box=args.box,
        box_version=args.box_version,
    )
    return 0


@_cli
def _cmd_down(args: argparse.Namespace) -> int:
    down(purge=args.purge, progress=_progress)
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
    # Without the bridge the gateway address is not local and a connect would leave the machine.
    serving = _bridge_exists() and _mirror_pids() and _port_answers(GATEWAY, MIRROR_PORT)
    mirror = "yes" if serving else "no"
    print(f"mirror {state['mirror_url']} answering: {mirror} (serving {state.get('mirror_root')})")
    return 0 if all(row["ssh"] for row in rows) else 3


@_cli
def _cmd_stop(args: argparse.Namespace) -> int:
    stop_node(args.node, progress=_progress)
    return 0


@_cli
def _cmd_start(args: argparse.Namespace) -> int:
    start_node(args.node, timeout=args.timeout, progress=_progress)
    return 0


@_cli
def _cmd_kill(args: argparse.Namespace) -> int:
    kill_node(args.node, progress=_progress)
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
        description="Stop all hosts cleanly and remove their disks, the state, the mirror, "
        "NAT rules and the bridge. The base rootfs is kept unless --purge.",
    )
    p.add_argument("--purge", action="store_true", help="also delete the base rootfs and key")
    p.set_defaults(func=_cmd_down)

    p = actions.add_parser(
        "status",
        help="show each host: address, running, ssh answering",
        description="Table of hosts; exit 0 when every host answers ssh, 3 otherwise.",
    )
    p.set_defaults(func=_cmd_status)

    for action, func, text in (
        ("stop", _cmd_stop, "shut a host down cleanly; its disk is kept"),
        ("start", _cmd_start, "boot a stopped or crashed host again on its disk"),
        ("kill", _cmd_kill, "crash a host: SIGKILL its systemd (no clean shutdown)"),
    ):
        p = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("node", help="host name, e.g. kafka-2")
        if action == "start":
            p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for sshd")
        p.set_defaults(func=func)

    p = actions.add_parser(
        "ssh",
        help="ssh into a host as root (or run COMMAND there)",
        description="ssh into a lab host as root with the lab's key and known_hosts.",
    )
    p.add_argument("node", help="host name, e.g. kafka-1")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (default: a shell)")
    p.set_defaults(func=_cmd_ssh)
