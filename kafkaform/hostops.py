"""Operations on this machine shared by the lab, the Docker engine helper and the dev nodes.

Commands (found on a root PATH that may lack the sbin directories), apt-get installs, /proc
scanning, mounts, a detached static-file HTTP server, a file lock, atomic writes and SSH
keys. Standard library only: the Vagrantfile imports kafkaform.dev, which uses this, with
whatever Python it finds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]

# root's PATH may lack the sbin directories when run through sudo or cron.
SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
)


class HostError(Exception):
    """A problem on this machine with a message a person can act on."""


def progress(line: str) -> None:
    """The CLIs' progress output: one line, shown at once even when piped."""
    print(line, flush=True)


def which(command: str) -> str | None:
    return shutil.which(command, path=SEARCH_PATH)


def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (found on SEARCH_PATH), output captured; HostError when ``check`` fails."""
    exe = which(argv[0]) or argv[0]
    try:
        result = subprocess.run([exe, *argv[1:]], capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise HostError(f"{argv[0]} is not installed") from exc
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise HostError(f"`{' '.join(argv)}` failed (exit {result.returncode}): {output}")
    return result


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        raise HostError(f"{why}: use sudo")


def apt_install(packages: list[str], progress: Progress = progress) -> None:
    """apt-get install ``packages``; on a failure refresh the package lists once and retry."""
    if which("apt-get") is None:
        raise HostError(f"missing {', '.join(packages)} and no apt-get to install them")
    progress(f"installing host packages: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        # A clean machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise HostError(f"apt-get install {' '.join(packages)} failed: {result.stderr.strip()}")


# ---------------------------------------------------------------------------------------------
# Processes, read from /proc.


def pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat_fields(pid: int) -> list[str]:
    # After the last ")": the command name may itself hold spaces and parentheses.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def alive(pid: int | None) -> bool:
    """True while ``pid`` runs (a zombie does not count; one of our own children is reaped)."""
    if not pid:
        return False
    # A process this Python started stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def ppid(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def find_processes(match: Callable[[list[str]], bool]) -> list[int]:
    """Running processes whose command line ``match`` accepts."""
    return [pid for pid in pids() if (cmd := cmdline(pid)) and match(cmd) and alive(pid)]


def wait_exit(waited: list[int], timeout: float) -> list[int]:
    """Wait until the processes exit; returns those still running at the timeout."""
    deadline = time.monotonic() + timeout
    left = [pid for pid in waited if alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [pid for pid in left if alive(pid)]
    return left


def terminate(victims: list[int], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is still running after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 0.0)):
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        victims = wait_exit(victims, wait)


# ---------------------------------------------------------------------------------------------
# Mounts and trees.


def mountpoints() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return points


def is_mounted(path: Path) -> bool:
    return str(path) in mountpoints()


def umount_under(path: Path) -> None:
    """Unmount everything at or below ``path``, deepest first."""
    prefix = str(path).rstrip("/") + "/"
    inside = [p for p in mountpoints() if p == str(path) or p.startswith(prefix)]
    for point in sorted(set(inside), key=len, reverse=True):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "--lazy", point], check=False)


def remove_tree(path: Path) -> None:
    """``rm -rf`` that never follows a mount into this machine's own files.

    An interrupted debootstrap leaves /proc, /sys and maybe /dev mounted inside its target.
    """
    if not path.exists() and not path.is_symlink():
        return
    umount_under(path)
    run(["rm", "-rf", "--one-file-system", str(path)])


# ---------------------------------------------------------------------------------------------
# Files: atomic writes, a lock, SSH keys.


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Readers (inventories, a concurrent status) never see a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The JSON document in ``path``, or None when there is no such file; ValueError (naming
    the file) when it is not JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from exc


@contextlib.contextmanager
def locked(path: Path, progress: Progress, waiting: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; says ``waiting`` when another holder makes us wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(waiting)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_ssh_key(key: Path, comment: str) -> str:
    """The public half of the ed25519 key at ``key``, made (without passphrase) when missing."""
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
    return Path(f"{key}.pub").read_text()


# ---------------------------------------------------------------------------------------------
# A static-file HTTP server (the artifact mirrors), detached so it outlives the command.


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def address_is_local(address: str) -> bool:
    """Whether this machine holds ``address`` (so a server can bind it)."""
    with contextlib.suppress(OSError), socket.socket() as sock:
        sock.bind((address, 0))
        return True
    return False


def http_server_argv(root: Path, address: str, port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", "--bind", address, "--directory", str(root)] + [
        str(port)
    ]


def http_server_pids(address: str, port: int) -> list[int]:
    """Static-file servers of ours listening on address:port, found by command line."""
    return find_processes(lambda cmd: "http.server" in cmd and address in cmd and str(port) in cmd)


def start_http_server(
    root: Path, address: str, port: int, log: Path | None = None, timeout: float = 15.0
) -> int:
    """Serve ``root`` at http://address:port from a detached process; returns its pid once
    the port answers."""
    with open(log or os.devnull, "ab") as out:
        proc = subprocess.Popen(
            http_server_argv(root, address, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while not port_answers(address, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            where = f"; see {log}" if log else ""
            raise HostError(f"could not serve {root} at http://{address}:{port}{where}")
        time.sleep(0.1)
    return proc.pid


def stop_http_server(address: str, port: int) -> bool:
    """Stop every server of ours on address:port; True when one was running."""
    running = http_server_pids(address, port)
    terminate(running)
    return bool(running)
