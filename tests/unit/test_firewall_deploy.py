"""The host firewall in the real deploy, offline against @fake hosts (deploys/tasks/firewall.py):
nothing on clusters without it, the package per distribution, checked and loaded rules before
any service starts, no change on a converged host, the SSH guard, and removal."""

from __future__ import annotations

import os
import subprocess

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys.tasks.firewall import RULES_FILE, UNIT_FILE, addresses_of
from facts.firewall import SshSession
from kafkaform.cluster import Cluster
from kafkaform.firewall import Leaving, accepted, digest_of, host_rules, ruleset
from tests.unit.converged import converged_hosts
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, host_files
from tests.unit.test_ensemble_change_deploy import global_order, hosts_running
from tests.unit.test_install_list import transactions

H1 = "@fake/kafka-1"
LOAD = "systemctl reload-or-restart kafkaform-firewall.service"


def firewall_ops(ops: list[str]) -> list[str]:
    return [op for op in ops if op.startswith("Firewall |")]


def with_answers(hosts: list, **answers) -> list:
    """``hosts`` whose fake hosts answer ``answers`` (matcher -> output) before anything else."""
    for _, data in hosts:
        kept = {k: v for k, v in data["fake_responses"].items() if k not in answers}
        data["fake_responses"] = {**answers, **kept}
    return hosts


def test_no_firewall_no_operation_and_no_nftables():
    run = run_deploy(fake_hosts("debian12", 3))
    for name in run.names:
        assert firewall_ops(run.ops(name)) == []
        assert "nft" not in run.executed(name).replace("nftables.service", "")
        assert "nftables" not in transactions(run.commands[name])[0]


@pytest.mark.parametrize(
    ("distro", "installer"),
    [
        ("debian12", "apt-get"),
        ("ubuntu2404", "apt-get"),
        ("centos7", "yum install -y"),
        ("rocky9", "dnf install -y"),
    ],
)
def test_firewall_installs_nftables_and_loads_checked_rules_before_the_services(distro, installer):
    run = run_deploy(fake_hosts(distro, 3, firewall=True))
    ops, sent = run.ops(H1), run.executed(H1)
    (transaction,) = transactions(run.commands[H1])
    assert installer in transaction and " nftables" in transaction
    check = "nft -c -f /var/lib/kafkaform/candidates/firewall/firewall.nft"
    assert check in sent
    assert sent.index(check) < sent.index(LOAD)
    load = next(i for i, op in enumerate(ops) if "Load the firewall rules" in op)
    assert load < next(i for i, op in enumerate(ops) if "Start and enable zookeeper" in op)
    assert load < next(i for i, op in enumerate(ops) if "Start and enable kafka" in op)
    assert "Enable kafkaform-firewall" in " ".join(ops)
    assert "systemctl daemon-reload" in sent


def kept_digest(hosts: list, name: str) -> str:
    """The digest of the rules the deploy keeps on ``name`` (the fakes' addresses are IPs)."""
    cluster = Cluster.from_hosts(hosts)
    addresses = {n.name: (n.address,) for n in cluster.nodes}
    return digest_of(ruleset(name, *host_rules(cluster, cluster.node(name), addresses)))


def with_live_tables(hosts: list) -> list:
    """Converged hosts with nftables installed, the kept rules loaded and the unit enabled."""
    for name, data in hosts:
        data["fake_responses"]["dpkg -l"].append("ii  nftables  1.0-1 amd64 x")
        marker = f'comment "kafkaform-ruleset {kept_digest(hosts, name)}: dropped"'
        with_answers(
            [(name, data)],
            **{
                "echo loaded": ["loaded", f"counter packets 0 bytes 0 {marker}"],
                "kafkaform-firewall.service": [
                    "Id=kafkaform-firewall.service",
                    "SubState=exited",
                    "UnitFileState=enabled",
                ],
            },
        )
    return hosts


def test_converged_firewall_host_gets_no_change():
    run = run_deploy(with_live_tables(converged_hosts(firewall=True)))
    for name in run.commands:
        ops = firewall_ops(run.ops(name))
        sent = "\n".join(run.commands[name][len(run.prepared[name]) :])  # after the facts
        # Kept enabled and running as any service is: an operation that sends nothing here.
        assert ops == ["Firewall | Enable kafkaform-firewall"], (name, ops)
        assert "nft " not in sent and LOAD not in sent, name
        for verb in ("start", "enable", "restart", "reload"):
            assert f"systemctl {verb} kafkaform-firewall" not in sent, name


def test_a_live_table_that_differs_is_reloaded_without_rewriting_the_file():
    hosts = with_live_tables(converged_hosts(firewall=True))
    with_answers(hosts[:1], **{"echo loaded": ["absent"]})  # e.g. flushed by hand
    run = run_deploy(hosts)
    ops = firewall_ops(run.ops(H1))
    assert [op for op in ops if "Load the firewall rules" in op]
    assert not [op for op in ops if "Candidate" in op or "put it in place" in op]
    assert LOAD in run.executed(H1)
    assert LOAD not in run.executed("@fake/kafka-2")


def test_a_new_broker_changes_every_hosts_rules_before_it_starts():
    # With ZooKeeper's client port open to the control machine only (not to anyone).
    only = {"firewall": True, "firewall_control_sources": ["192.168.9.5"]}
    hosts = with_live_tables(converged_hosts(**only))
    new = fake_hosts("debian12", 4, ensemble=3, **only)[3]
    run = run_deploy([*hosts, new])
    for name in ("@fake/kafka-1", "@fake/kafka-2", "@fake/kafka-3"):
        sent = run.executed(name)
        assert "nft -c -f /var/lib/kafkaform/candidates/firewall/firewall.nft" in sent, name
        assert LOAD in sent, name
    ops = run.ops("@fake/kafka-4")
    load = next(i for i, op in enumerate(ops) if "Load the firewall rules" in op)
    assert load < next(i for i, op in enumerate(ops) if "Start and enable kafka" in op)


def test_ssh_guard_stops_the_run_before_any_change():
    hosts = fake_hosts("debian12", 3, firewall=True, firewall_admin_sources=["10.1.0.0/16"])
    with_answers(hosts, SSH_CONNECTION=["10.2.0.7 50000 10.0.0.11 22"])
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts)
    message = str(refused.value)
    assert "10.2.0.7 to port 22" in message and "nothing was changed" in message
    with_answers(hosts, SSH_CONNECTION=["10.1.3.7 50000 10.0.0.11 22"])
    assert LOAD in run_deploy(hosts).executed(H1)


def test_turning_the_firewall_off_removes_table_unit_and_file():
    hosts = fake_hosts("debian12", 2, ensemble=1)
    with_answers(hosts[:1], **host_files({UNIT_FILE: "unit", RULES_FILE: "rules"}))
    run = run_deploy(hosts)
    removal = [op for op in run.ops(H1) if "Remove the firewall" in op]
    assert removal
    sent = run.executed(H1)
    assert "systemctl disable --now kafkaform-firewall.service" in sent
    assert "nft delete table inet kafkaform" in sent
    assert firewall_ops(run.ops("@fake/kafka-2")) == []


def test_removed_zookeeper_servers_keep_the_quorum_ports_until_the_change_ends():
    """5 -> 3: servers 4 and 5 must still reach the quorum ports while the reconfig that
    removes them runs (its quorum is counted in the old membership); the kept rules, placed
    at the end, drop them."""
    hosts = hosts_running(5, running=5, members=3)
    for _, data in hosts:
        data.update(firewall=True, firewall_control_sources=["192.168.9.5"])
    run = run_deploy(hosts)
    order = global_order(run)
    during = order.index(
        "Firewall | Check the firewall rules of this run's changes with nft -c, then load them"
    )
    remove = next(i for i, n in enumerate(order) if n.startswith("ZooKeeper membership | reconfig"))
    kept = max(i for i, n in enumerate(order) if n.startswith("Firewall | Load the firewall rules"))
    assert during < remove < kept
    sent = run.executed(H1)
    assert "nft -f /var/lib/kafkaform/candidates/firewall-during/firewall.nft" in sent
    assert sent.index("firewall-during/firewall.nft") < sent.index(LOAD)
    cluster = Cluster.from_hosts(hosts)
    addresses = {n.name: (n.address,) for n in cluster.nodes}
    node = cluster.node(H1)
    assert not accepted(host_rules(cluster, node, addresses)[0], "10.0.0.15", 2888)
    while_removing = host_rules(cluster, node, addresses, Leaving(ensemble=("10.0.0.15",)))[0]
    assert accepted(while_removing, "10.0.0.15", 2888)


def test_names_are_resolved_on_the_control_machine_and_unknown_ones_stop_the_run():
    assert addresses_of("10.0.0.11") == ("10.0.0.11",)
    assert "127.0.0.1" in addresses_of("localhost")
    with pytest.raises(PyinfraError, match="cannot resolve no-such-host.invalid"):
        addresses_of("no-such-host.invalid")


def test_ssh_session_fact_finds_the_connection_above_sudo():
    """The fact's command in a real shell whose own environment lacks SSH_CONNECTION (as
    under sudo) while its parent's has it."""
    command = SshSession().command()
    done = subprocess.run(
        ["sh", "-c", 'env -u SSH_CONNECTION sh -c "$FACT"'],
        env={**os.environ, "SSH_CONNECTION": "10.9.8.7 5555 10.0.0.1 2222", "FACT": command},
        capture_output=True,
        text=True,
        check=True,
    )
    assert SshSession().process(done.stdout.splitlines()) == ("10.9.8.7", 2222)
    env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    alone = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
    if "SSH_CONNECTION" not in os.environ:  # this test itself may run over SSH
        assert SshSession().process(alone.stdout.splitlines()) is None
