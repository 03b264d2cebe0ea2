"""zookeeper-safe-restart's membership-change options, run for real against fake servers.

The script is rendered as the deploy renders it; the roll library is a stub that runs each
wait's check once, and the ZooKeeper servers are local sockets that answer ``srvr`` with a
mode. What is checked: which servers the gate waits for, and what counts as serving."""

from __future__ import annotations

import os
import socketserver
import subprocess
import threading
from collections.abc import Iterator

import pytest

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
    """Server 1's script (the final ensemble: all five) with ``args``; modes by zkid."""
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


def test_size_one_means_serving_standalone(tmp_path, servers):
    out = run_script(tmp_path, servers, {1: "standalone"}, "--wait-only", "--size", "1")
    assert "OK server 1 to serve" in out
    out = run_script(tmp_path, servers, {1: "follower"}, "--wait-only", "--size", "1")
    assert "FAILED server 1 to serve" in out


def test_a_two_server_step_needs_both_others_serving(tmp_path, servers):
    # 3 -> 2: server 1 restarts into {1, 2} while server 3, leaving, still serves.
    modes = {1: "follower", 2: "follower", 3: "leader"}
    out = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2, 3), "--size", "2")
    assert "RESTARTED" in out
    out = run_script(
        tmp_path, servers, {1: "follower", 2: "follower"}, "--gate", gate(servers, 2), "--size", "2"
    )
    assert "only 1 of 2 serve" in out and "RESTARTED" not in out


@pytest.mark.parametrize(("mode", "skipped"), [("leader", True), ("follower", False)])
def test_the_first_pass_leaves_a_leader_for_the_second(servers, mode, skipped):
    from deploys.tasks.roll import RollSession
    from deploys.tasks.zookeeper import action_script
    from kafkaform.cluster import Cluster
    from kafkaform.ensemble_change import Action, EnsemblePlan

    zk = port(servers[0][1])
    Server.modes[zk] = mode
    cluster = Cluster.from_hosts(
        [("kafka-1", {"zookeeper": True, "zkid": 1, "zookeeper_client_port": zk})]
    )
    action = Action("restart", "kafka-1", 1, ((1, "127.0.0.1:2888:3888"),), leader_last=True)
    script = action_script(cluster, EnsemblePlan(), action, RollSession(token=None))
    first_line = script.splitlines()[0]  # the leader check comes before anything is written
    done = subprocess.run(
        ["sh", "-c", first_line + "\necho NOT SKIPPED"], capture_output=True, text=True
    )
    assert ("server 1 leads: it restarts last" in done.stdout) is skipped
    assert ("NOT SKIPPED" in done.stdout) is not skipped


def test_a_leaving_leader_stops_until_another_leads_then_starts_again(tmp_path, servers):
    modes = {1: "leader", 2: "leader", 3: "follower"}  # 2: what the others elect meanwhile
    out = run_script(
        tmp_path, servers, modes, "--hand-off", "--gate", gate(servers, 2, 3), "--size", "3"
    )
    assert out.index("SYSTEMCTL stop zookeeper.service") < out.index("OK another server to lead")
    assert out.index("OK another server to lead") < out.index("SYSTEMCTL start zookeeper.service")


def test_a_leaving_leader_is_not_started_before_another_leads(tmp_path, servers):
    modes = {1: "leader", 2: "follower", 3: "follower"}
    out = run_script(
        tmp_path, servers, modes, "--hand-off", "--gate", gate(servers, 2, 3), "--size", "3"
    )
    assert "FAILED another server to lead" in out
    assert "SYSTEMCTL start" not in out


def test_a_leaving_follower_has_nothing_to_hand_off(tmp_path, servers):
    modes = {1: "follower", 2: "leader", 3: "follower"}
    out = run_script(
        tmp_path, servers, modes, "--hand-off", "--gate", gate(servers, 2, 3), "--size", "3"
    )
    assert "nothing to hand off" in out and "SYSTEMCTL" not in out


def test_a_server_restarts_standalone_only_once_it_holds_what_the_others_hold(tmp_path, servers):
    # 3 -> 1: server 1 restarts alone while server 2, the last one leaving, still serves.
    modes = {1: "follower", 2: "leader"}
    Server.zxids[port(servers[1][1])] = "0x100000009"  # server 2 is ahead
    try:
        behind = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2), "--size", "1")
        assert "FAILED this server to hold every transaction" in behind
        assert "RESTARTED" not in behind
    finally:
        Server.zxids.clear()
    level = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2), "--size", "1")
    assert "OK this server to hold every transaction" in level and "RESTARTED" in level


def test_a_step_checks_the_roll_lock_on_serving_servers_only(tmp_path, servers):
    # The inventory's list (the library's) names servers a growing ensemble has not started.
    modes = {1: "follower", 2: "leader", 3: "follower"}
    out = run_script(tmp_path, servers, modes, "--gate", gate(servers, 2, 3), "--size", "4")
    expected = ",".join(f"127.0.0.1:{port(servers[z - 1][1])}" for z in (1, 2, 3))
    assert f"LOCK ON {expected}" in out
    plain = run_script(tmp_path, servers, modes)  # outside a step: the library's list
    assert "LOCK ON 10.0.0.11:2181,10.0.0.14:2181" in plain
