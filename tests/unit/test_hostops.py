"""The shared host operations, on this machine: processes, files, the lock, the HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kafkaform import hostops


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_which_looks_in_the_sbin_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "/usr/sbin" in hostops.SEARCH_PATH.split(os.pathsep)
    assert hostops.which("sh") is not None
    assert hostops.which("no-such-command-kafkaform") is None


def test_run_reports_the_failed_command() -> None:
    assert hostops.run(["sh", "-c", "echo out"]).stdout == "out\n"
    with pytest.raises(hostops.HostError, match=r"`sh -c echo no >&2; exit 3` failed \(exit 3\)"):
        hostops.run(["sh", "-c", "echo no >&2; exit 3"])
    assert hostops.run(["sh", "-c", "exit 3"], check=False).returncode == 3
    with pytest.raises(hostops.HostError, match="is not installed"):
        hostops.run(["no-such-command-kafkaform"])


def test_apt_install_refreshes_the_lists_once_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "apt-get"
    # Fails until `apt-get update` ran, as on a machine without package lists.
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f'if [ "$1" = update ]; then touch {tmp_path}/lists; exit 0; fi\n'
        f"[ -e {tmp_path}/lists ]\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    lines: list[str] = []
    hostops.apt_install(["zstd", "iptables"], lines.append)
    assert calls.read_text().splitlines() == [
        "install -y -q --no-install-recommends zstd iptables",
        "update -q",
        "install -y -q --no-install-recommends zstd iptables",
    ]
    assert lines == ["installing host packages: zstd iptables"]


def test_processes_are_found_waited_for_and_terminated() -> None:
    marker = f"kafkaform-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        assert hostops.alive(proc.pid)
        assert hostops.cmdline(proc.pid)[-1] == marker
        assert hostops.ppid(proc.pid) == os.getpid()
        assert proc.pid in hostops.children(os.getpid())
        assert hostops.find_processes(lambda cmd: marker in cmd) == [proc.pid]
        assert hostops.wait_exit([proc.pid], 0.3) == [proc.pid]
        hostops.terminate([proc.pid])
        assert not hostops.alive(proc.pid)  # reaped, not a zombie
        assert hostops.find_processes(lambda cmd: marker in cmd) == []
    finally:
        proc.kill()
    assert not hostops.alive(None)


def test_write_atomic_sets_the_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    hostops.write_atomic(target, "one\n")
    hostops.write_atomic(target, "two\n", mode=0o600)
    assert target.read_text() == "two\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_lock_makes_a_second_holder_wait_and_says_so(tmp_path: Path) -> None:
    lock = tmp_path / "dir" / ".lock"
    # The second holder is another process: flock is per open file, and pyinfra's gevent
    # patching (loaded by other tests) turns threads into greenlets that a blocking flock stops.
    second = (
        "import sys\nfrom pathlib import Path\nfrom kafkaform import hostops\n"
        "with hostops.locked(Path(sys.argv[1]), print, 'waiting for the other one'):\n"
        "    print('second holds it')\n"
    )
    said: list[str] = []
    with hostops.locked(lock, said.append, "never said"):
        proc = subprocess.Popen(
            [sys.executable, "-c", second, str(lock)], stdout=subprocess.PIPE, text=True
        )
        time.sleep(1)  # the second holder tries the lock meanwhile
        assert proc.poll() is None
    out, _ = proc.communicate(timeout=30)
    assert out.splitlines() == ["waiting for the other one", "second holds it"]
    assert said == []


def test_ssh_key_is_made_once(tmp_path: Path) -> None:
    if hostops.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "keys" / "id_ed25519"
    public = hostops.ensure_ssh_key(key, "kafkaform-test")
    assert public.startswith("ssh-ed25519 ") and public.strip().endswith(" kafkaform-test")
    assert hostops.ensure_ssh_key(key, "other comment") == public


def test_the_http_server_serves_detached_and_stops(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "hello.txt").write_text("hello\n")
    port = free_port()
    log = tmp_path / "server.log"
    pid = hostops.start_http_server(tmp_path, "127.0.0.1", port, log)
    try:
        assert hostops.http_server_pids("127.0.0.1", port) == [pid]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/kafka/hello.txt", timeout=5) as r:
            assert r.read() == b"hello\n"
        assert os.getsid(pid) == pid  # its own session: it outlives the command
    finally:
        assert hostops.stop_http_server("127.0.0.1", port)
    assert not hostops.port_answers("127.0.0.1", port)
    assert not hostops.stop_http_server("127.0.0.1", port)


def test_a_server_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        # Bound but not listening: the server cannot bind, and nothing answers.
        with pytest.raises(
            hostops.HostError, match=f"could not serve .* at http://127.0.0.1:{port}"
        ):
            hostops.start_http_server(tmp_path, "127.0.0.1", port, timeout=3)


def test_address_is_local() -> None:
    assert hostops.address_is_local("127.0.0.1")
    assert not hostops.address_is_local("192.0.2.1")  # TEST-NET-1: never this machine's
