"""The lab's hosts as processes: found, booted, waited for, stopped and killed.

A host is a systemd-nspawn process booting systemd from the host's overlay disk; it is found
by its command line rather than by a recorded pid, which goes stale when the machine
restarts. What changes a host runs under the lab lock (``running_lab`` takes it once per
command; the lock is not re-entrant).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kafkaform import identity
from kafkaform.hostops import (
    Progress,
    alive,
    children,
    cmdline,
    find_processes,
    is_mounted,
    ppid,
    run,
    wait_exit,
    which,
    write_atomic,
)
from kafkaform.lab.network import bridge_exists, host_dns_servers, remove_stale_veth
from kafkaform.lab.plan import (
    BRIDGE,
    LabError,
    State,
    find_node,
    hosts_file,
    network_file,
    resolv_conf,
)
from kafkaform.lab.rootfs import install_authorized_key, lab_public_key, node_base, require_root
from kafkaform.lab.state import get_lab_dir, lab_lock, node_dir, require_state, save_state


def nspawn_pid(name: str, lab_dir: str | Path | None = None) -> int | None:
    """The pid of the systemd-nspawn running node ``name``, found from its command line.

    Found by scanning rather than trusting the recorded pid, which goes stale when the
    machine restarts and may then belong to an unrelated process.
    """
    merged = str(node_dir(name, lab_dir) / "merged")
    matches = set(
        find_processes(lambda cmd: Path(cmd[0]).name == "systemd-nspawn" and merged in cmd)
    )
    # nspawn briefly forks helpers with the same command line; the parent is the one to signal.
    top = [pid for pid in matches if ppid(pid) not in matches]
    return min(top) if top else None


def container_init_pid(nspawn: int) -> int | None:
    """The container's PID 1 (systemd), a child of its systemd-nspawn."""
    for child in children(nspawn):
        cmd = cmdline(child)
        if cmd and Path(cmd[0]).name != "systemd-nspawn":
            return child
    return None


def ensure_disk(name: str, lab: Path, base: Path) -> tuple[Path, bool]:
    """Mount the node's overlay; returns (merged root, whether the disk is new)."""
    if not (base / "etc" / "os-release").exists():
        raise LabError(f"the base rootfs {base} is missing; run `kafkaform lab up`")
    home = node_dir(name, lab)
    upper, work, merged = home / "upper", home / "work", home / "merged"
    fresh = not upper.exists()
    for path in (upper, work, merged):
        path.mkdir(parents=True, exist_ok=True)
    if not is_mounted(merged):
        if any(ch in str(path) for path in (base, home) for ch in ",:"):
            raise LabError(f"lab paths must not contain ',' or ':' (overlay syntax): {home}")
        options = f"lowerdir={base},upperdir={upper},workdir={work}"
        run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)])
    return merged, fresh


def write_node_files(
    root: Path, node: Mapping[str, Any], state: State, public_key: str, dns: list[str], fresh: bool
) -> None:
    etc = root / "etc"
    # Explicit modes: debootstrap leaves these files executable.
    write_atomic(etc / "hostname", node["name"] + "\n")
    write_atomic(etc / "hosts", hosts_file(state["nodes"]))
    network = etc / "systemd" / "network"
    network.mkdir(parents=True, exist_ok=True)
    # Same name as systemd's own container file, which it overrides (that one wants DHCP).
    (network / "80-container-host0.network").write_text(network_file(node["ip"], dns))
    write_atomic(etc / "resolv.conf", resolv_conf(dns))
    # Per node, so a lab key made after the base was cached still gets in.
    install_authorized_key(root, public_key)
    if fresh:  # empty: systemd makes the host's own id at its first boot
        (root / identity.MACHINE_ID.lstrip("/")).write_text("")


def boot(name: str, lab: Path) -> int:
    home = node_dir(name, lab)
    remove_stale_veth(name)
    argv = [
        which("systemd-nspawn") or "systemd-nspawn",
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
    if not bridge_exists():
        return False  # the lab's addresses would route off this machine
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_ssh(
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
            elif not alive(node.get("pid")):
                log = node_dir(name, lab) / "console.log"
                raise LabError(f"{name} stopped while booting; see {log}")
        if waiting and time.monotonic() - started > timeout:
            logs = ", ".join(str(node_dir(name, lab) / "console.log") for name in waiting)
            raise LabError(
                f"sshd did not answer within {timeout:.0f}s on {', '.join(waiting)}; see {logs}"
            )
        if waiting:
            time.sleep(0.3)


def refresh_known_hosts(state: State, lab: Path) -> None:
    # Read each host's keys straight from its disk: trusted, with no first-use guess.
    lines = []
    for node in state["nodes"]:
        ssh_dir = node_dir(node["name"], lab) / "upper" / "etc" / "ssh"
        for pub in sorted(ssh_dir.glob("ssh_host_*_key.pub")):
            fields = pub.read_text().split()
            if len(fields) >= 2:
                lines.append(f"{node['ip']} {fields[0]} {fields[1]}\n")
    write_atomic(Path(state["known_hosts"]), "".join(lines))


def start_nodes(
    state: State, names: list[str], lab: Path, timeout: float, progress: Progress
) -> list[str]:
    """Mount and boot the named nodes that are not running; returns those it booted."""
    public_key = lab_public_key(lab)
    dns = host_dns_servers()
    if not dns:
        progress("warning: no usable nameserver on this machine; hosts cannot resolve names")
    booted = []
    for node in state["nodes"]:
        name = node["name"]
        node["pid"] = nspawn_pid(name, lab)
        merged = node_dir(name, lab) / "merged"
        if name in names and node["pid"] is None:
            root, fresh = ensure_disk(name, lab, node_base(state, lab))
            write_node_files(root, node, state, public_key, dns, fresh)
            if fresh:
                remove_known_host(state, node["ip"])
            progress(f"booting {name} ({node['ip']})" + (" on a new disk" if fresh else ""))
            node["pid"] = boot(name, lab)
            booted.append(name)
        elif is_mounted(merged):
            # Running nodes learn about added ones; stopped ones get it at their next boot.
            write_atomic(merged / "etc" / "hosts", hosts_file(state["nodes"]))
    save_state(state, lab)  # before waiting, so `lab down` can clean up a failed boot
    wait_for_ssh([n for n in state["nodes"] if n["name"] in booted], lab, timeout, progress)
    refresh_known_hosts(state, lab)
    save_state(state, lab)
    return booted


def remove_known_host(state: State, ip: str) -> None:
    path = Path(state["known_hosts"])
    if path.exists():
        kept = [line for line in path.read_text().splitlines(True) if line.split(" ", 1)[0] != ip]
        write_atomic(path, "".join(kept))


def signal_stop(name: str, lab: Path) -> int | None:
    pid = nspawn_pid(name, lab)
    if pid is not None:
        # nspawn turns SIGTERM into an orderly poweroff of the container's systemd.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return pid


def force_stop(pid: int) -> None:
    init = container_init_pid(pid)
    for victim in (init, pid):
        if victim and alive(victim):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
    wait_exit([pid], 10)


def stop_many(names: list[str], lab: Path, timeout: float, progress: Progress) -> None:
    pids = {name: pid for name in names if (pid := signal_stop(name, lab)) is not None}
    if pids:
        progress(f"stopping {', '.join(pids)}")
    started = time.monotonic()
    left = set(wait_exit(list(pids.values()), timeout))
    for name, pid in pids.items():
        if pid in left:
            progress(f"  {name} did not power off within {timeout:.0f}s; killing it")
            force_stop(pid)
        else:
            progress(f"  {name} stopped after {time.monotonic() - started:.1f}s")


def unmount_disk(name: str, lab: Path, progress: Progress) -> None:
    merged = node_dir(name, lab) / "merged"
    if is_mounted(merged) and run(["umount", str(merged)], check=False).returncode != 0:
        progress(f"warning: {merged} is busy; left mounted")


def stop_locked(
    state: State, name: str, lab: Path, timeout: float = 90.0, progress: Progress = print
) -> None:
    """Shut node ``name`` down cleanly and unmount its disk; the caller holds the lab lock."""
    node = find_node(state, name)
    if nspawn_pid(name, lab) is None:
        progress(f"{name} is not running")
    stop_many([name], lab, timeout, progress)
    unmount_disk(name, lab, progress)
    node["pid"] = None
    save_state(state, lab)


@contextlib.contextmanager
def running_lab(lab_dir: str | Path | None, progress: Progress) -> Iterator[tuple[Path, State]]:
    """(lab directory, state) of the lab that is up, under the lab lock for the whole block."""
    require_root()
    lab = get_lab_dir(lab_dir)
    with lab_lock(lab, progress):
        yield lab, require_state(lab)
