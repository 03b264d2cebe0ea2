"""zookeeper-safe-restart's gate, run for real against fake servers.

The script is rendered as the deploy renders it; the roll library is a stub that runs each
wait's check once, and the ZooKeeper servers are local sockets that answer ``srvr`` with a
mode. What is checked: which servers the gate waits for (the committed membership in the
newest dynamic file, else the join file, else the rendered list), and what counts as
serving."""

from __future__ import annotations

import os
import socketserver
import subprocess
import threading
from collections.abc import Iterator

import pytest

from kafkaform.ensemble_config import SORT_VERSIONS
from kafkaform.templating import render

STUB_LIBRARY = """
ROLL_LOCK_ENSEMBLE=10.0.0.11:2181,10.0.0.14:2181
take_roll_lock() { echo "LOCK ON $ROLL_LOCK_ENSEMBLE"; }
unit_prop() { echo 0; }
restart_unit() { echo "RESTARTED $1"; }
# wait_for WHO UNIT WHAT SECONDS CHECK...: the check once, no waiting.
wait_for() {
    local what=$3; shift 4
    if "$@"; then echo "OK $what"; else echo "FAILED $what"; exit 1; fi
}
"""


class Server(socketserver.BaseRequestHandler):
    modes: dict[int, str] = {}
    zxids: dict[int, str] = {}

    def handle(self) -> None:
        self.request.recv(4)
        port = self.server.server_address[1]
        zxid = self.zxids.get(port, "0x100000005")
        answer = f"Zookeeper version: 3.8.4\nZxid: {zxid}\nMode: {self.modes[port]}\n"
        self.request.sendall(answer.encode())


@pytest.fixture
def servers() -> Iterator[list[tuple[int, socketserver.TCPServer]]]:
    """Five fake servers on local ports; set their modes through Server.modes[port]."""
    started = []
    for zkid in range(1, 6):
        server = socketserver.TCPServer(("127.0.0.1", 0), Server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        started.append((zkid, server))
    yield started
    for _, server in started:
        server.shutdown()
        server.server_close()


def port(server: socketserver.TCPServer) -> int:
    return server.server_address[1]


def run_script(tmp_path, servers, modes: dict[int, str], *args: str) -> str:
    """Server 1's script (the rendered ensemble: all five) with ``args``; modes by zkid. Its
    dynamic directory is tmp_path/work, its join file tmp_path/join."""
    for zkid, server in servers:
        Server.modes[port(server)] = modes.get(zkid, "")
    library = tmp_path / "roll.sh"
    library.write_text(STUB_LIBRARY)
    text = render(
        "zookeeper/zookeeper-safe-restart.sh.j2",
        roll_library=str(library),
        zkid=1,
        client_port=port(servers[0][1]),
        ensemble_size=5,
        peers=[f"'{z} 127.0.0.1 {port(s)}'" for z, s in servers[1:]],
        gate_seconds=1,
        wait_seconds=1,
        dynamic_dir=str(tmp_path / "work"),
        join_file=str(tmp_path / "join"),
        sort_versions=SORT_VERSIONS,
    )
    script = tmp_path / "zookeeper-safe-restart"
    script.write_text(text)
    # systemctl as the script calls it directly: recorded, never run.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "systemctl").write_text('#!/bin/sh\necho "SYSTEMCTL $*"\n')
    (fake_bin / "systemctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env)
    return done.stdout + done.stderr


def gate(servers, *zkids: int) -> str:
    return ",".join(f"{z} 127.0.0.1 {port(servers[z - 1][1])}" for z in zkids)


def test_the_gate_waits_only_for_the_listed_servers(tmp_path, servers):
    # Servers 4 and 5 are down: the final ensemble's gate would refuse, the step's passes.
    modes = {1: "follower", 2: "leader", 3: "follower"}
    refused = run_script(tmp_path, servers, modes)
    assert "server 4" in refused and "RESTARTED" not in refused
    step = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2, 3), "--size", "3")
    assert "RESTARTED zookeeper.service" in step
    assert "OK server 1 to serve" in step


def test_a_listed_server_that_does_not_serve_stops_the_restart(tmp_path, servers):
    modes = {1: "follower", 2: "leader", 3: "follower"}
    out = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2, 3, 4), "--size", "4")
    assert "server 4 (127.0.0.1:" in out and "not serving (mode: no answer)" in out
    assert "RESTARTED" not in out


def test_a_standalone_server_restarts_into_a_quorum_without_a_gate(tmp_path, servers):
    # Leaving standalone: the new server 2 runs but cannot serve alone yet.
    modes = {1: "standalone", 2: ""}
    out = run_script(tmp_path, servers, modes, "--size", "3")
    assert "RESTARTED zookeeper.service" in out
    # Afterwards it must serve in a quorum: still standalone is a failure.
    assert "FAILED server 1 to serve" in out


def test_size_one_means_leading_a_quorum_of_one_or_standalone(tmp_path, servers):
    for mode in ("leader", "standalone"):
        out = run_script(tmp_path, servers, {1: mode}, "--wait-only", "--size", "1")
        assert "OK server 1 to serve" in out, mode
    out = run_script(tmp_path, servers, {1: "follower"}, "--wait-only", "--size", "1")
    assert "FAILED server 1 to serve" in out


def member_lines(servers, *zkids: int, client: str = "0.0.0.0:") -> str:
    return "".join(
        f"server.{z}=127.0.0.1:2888:3888:participant;{client}{port(servers[z - 1][1])}\n"
        for z in zkids
    )


def test_the_gate_is_the_newest_committed_membership_on_the_host(tmp_path, servers):
    # Rendered with five servers; ZooKeeper committed {1, 2, 3} last (4 and 5 are gone).
    work = tmp_path / "work"
    work.mkdir()
    (work / "zoo.cfg.dynamic.ff").write_text(member_lines(servers, 1, 2, 3, 4, 5))
    (work / "zoo.cfg.dynamic.100000000").write_text(member_lines(servers, 1, 2, 3))
    modes = {1: "follower", 2: "leader", 3: "follower"}
    out = run_script(tmp_path, servers, modes)
    assert "RESTARTED zookeeper.service" in out
    expected = ",".join(f"127.0.0.1:{port(servers[z - 1][1])}" for z in (1, 2, 3))
    assert f"LOCK ON {expected}" in out
    # One of the committed members down: refused.
    out = run_script(tmp_path, servers, {1: "follower", 2: "leader"})
    assert "server 3 (127.0.0.1:" in out and "RESTARTED" not in out


def test_a_server_not_in_the_newest_file_gates_on_its_join_file(tmp_path, servers):
    # A joiner not added yet: its newest file is the committed one, without it.
    work = tmp_path / "work"
    work.mkdir()
    (work / "zoo.cfg.dynamic.100000000").write_text(member_lines(servers, 2, 3, 4))
    (tmp_path / "join").write_text(member_lines(servers, 1, 2, 3, client=""))
    out = run_script(tmp_path, servers, {1: "follower", 2: "leader", 3: "follower"})
    assert "RESTARTED zookeeper.service" in out
    expected = ",".join(f"127.0.0.1:{port(servers[z - 1][1])}" for z in (1, 2, 3))
    assert f"LOCK ON {expected}" in out


def test_a_single_member_file_means_a_quorum_of_one(tmp_path, servers):
    (tmp_path / "join").write_text(member_lines(servers, 1))
    out = run_script(tmp_path, servers, {1: "leader"})
    assert "RESTARTED zookeeper.service" in out and "OK server 1 to serve" in out


def test_a_two_server_step_needs_both_others_serving(tmp_path, servers):
    # 3 -> 2: server 1 restarts into {1, 2} while server 3, leaving, still serves.
    modes = {1: "follower", 2: "follower", 3: "leader"}
    out = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2, 3), "--size", "2")
    assert "RESTARTED" in out
    out = run_script(
        tmp_path, servers, {1: "follower", 2: "follower"}, "--gate", gate(servers, 2), "--size", "2"
    )
    assert "only 1 of 2 serve" in out and "RESTARTED" not in out


def test_hand_off_is_gone(tmp_path, servers):
    # A leaving leader hands off inside reconfig now: the option is refused, nothing runs.
    out = run_script(tmp_path, servers, {1: "leader"}, "--hand-off")
    assert "usage:" in out and "SYSTEMCTL" not in out


def test_a_step_checks_the_roll_lock_on_serving_servers_only(tmp_path, servers):
    # The inventory's list (the library's) names servers a growing ensemble has not started.
    modes = {1: "follower", 2: "leader", 3: "follower"}
    out = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2, 3), "--size", "4")
    expected = ",".join(f"127.0.0.1:{port(servers[z - 1][1])}" for z in (1, 2, 3))
    assert f"LOCK ON {expected}" in out
    plain = run_script(tmp_path, servers, modes)  # outside a step: the library's list
    assert "LOCK ON 10.0.0.11:2181,10.0.0.14:2181" in plain
