"""The real deploy running a ZooKeeper membership change on @fake hosts: the actions' order
across hosts, the join files, the reconfig calls on the control machine (recorded), the files
of the dynamic layout."""

from __future__ import annotations

import pytest

from facts.live import HEADER
from tests.unit.converged import converged, recording_writes
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.livestates import deployed

ZOO_CFG = "/etc/zookeeper/zoo.cfg"


def hosts_running(nodes: int, running: int, members: int) -> list:
    """``nodes`` hosts whose first ``running`` run a ZooKeeper ensemble of that size (all run
    brokers); the inventory puts ZooKeeper on the first ``members``."""
    hosts = fake_hosts("debian12", nodes, ensemble=members)
    for i, (_, host) in enumerate(hosts, 1):
        live = deployed(i, ensemble=running, zookeeper=i <= running)
        services = ("zookeeper", "kafka") if i <= running else ("kafka",)
        live += [f"running\t{service}\tkafka_2.13-3.9.2" for service in services]
        host["fake_responses"] = {HEADER: live, **converged("follower")}
    return hosts


def global_order(run) -> list[str]:
    """Operation names in the order pyinfra runs them over all hosts."""
    order = []
    for op_hash in run.state.get_op_order():
        (name,) = run.state.op_meta[op_hash].names  # one name on every host
        order.append(name.replace("@fake/", ""))
    return order


def membership(order: list[str]) -> list[str]:
    """Each membership action, in order."""
    prefix = "ZooKeeper membership | "
    return [n.removeprefix(prefix) for n in order if n.startswith(prefix)]


WRITTEN: dict[str, dict] = {}


@pytest.fixture(scope="module")
def grown():
    hosts = hosts_running(5, running=3, members=5)
    WRITTEN.update({name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts})
    with recording_writes(WRITTEN):
        return run_deploy(hosts)


def test_growing_3_to_5_joins_then_adds_each_server_before_the_next(grown):
    order = global_order(grown)
    assert membership(order) == [
        "start server 4 on kafka-4 to join the ensemble",
        "reconfig: add server(s) 4",
        "start server 5 on kafka-5 to join the ensemble",
        "reconfig: add server(s) 5",
    ]
    assert grown.control == [("add", (4,)), ("add", (5,))]
    first = order.index("ZooKeeper membership | start server 4 on kafka-4 to join the ensemble")
    last = max(i for i, n in enumerate(order) if n.startswith("ZooKeeper membership"))
    zookeeper_files = [i for i, n in enumerate(order) if n.startswith("ZooKeeper | ")]
    brokers = [i for i, n in enumerate(order) if n.startswith("Kafka broker | ")]
    assert max(zookeeper_files) < first  # units, myid, scripts are in place first
    assert last < min(brokers)  # brokers follow the new ensemble


def test_joiners_are_started_by_their_join_only(grown):
    for host in ("kafka-4", "kafka-5"):
        names = grown.ops(f"@fake/{host}")
        assert not any("Start and enable zookeeper" in n for n in names), host
        assert not any("Restart zookeeper safely" in n for n in names), host
    # No join file outside the joins: the running members' membership is ZooKeeper's.
    for i in range(1, 6):
        assert "/etc/zookeeper/zoo.cfg.dynamic.join" not in WRITTEN[f"@fake/kafka-{i}"]["files"]


def test_a_join_writes_the_committed_members_and_itself_then_waits_until_it_follows(grown):
    joined = grown.executed("@fake/kafka-4")
    members = "".join(
        f"server.{i}=10.0.0.{10 + i}:2888:3888:participant;0.0.0.0:2181\n" for i in (1, 2, 3)
    )
    assert members + "server.4=10.0.0.14:2888:3888:participant;2181\n" in joined
    assert "rm -f /var/lib/zookeeper/conf/zoo.cfg.dynamic.*" in joined
    assert joined.index("mv -f /etc/zookeeper/zoo.cfg.dynamic.join.tmp") < joined.index(
        "systemctl start zookeeper.service"
    )
    assert "zookeeper-safe-restart --wait-only --size 4" in joined
    assert "zookeeper-safe-restart --wait-only --size 5" in grown.executed("@fake/kafka-5")


def test_the_static_zoo_cfg_has_no_membership_and_the_unit_builds_the_working_one(grown):
    text = WRITTEN["@fake/kafka-4"]["files"]["/etc/zookeeper/zoo.cfg"][0]
    assert "server." not in text and "dynamicConfigFile" not in text
    assert "reconfigEnabled=true\n" in text and "standaloneEnabled=false\n" in text
    unit = WRITTEN["@fake/kafka-4"]["files"]["/etc/systemd/system/zookeeper.service"][0]
    assert (
        "ExecStartPre=/usr/local/sbin/zookeeper-config /etc/zookeeper/zoo.cfg "
        "/etc/zookeeper/zoo.cfg.dynamic.join /var/lib/zookeeper/conf 4 "
        "/etc/zookeeper/zoo.cfg.bootstrap\n" in unit
    )
    assert "UMask=0027\n" in unit
    assert "QuorumPeerMain /var/lib/zookeeper/conf/zoo.cfg\n" in unit
    assert unit.index('ExecStartPre=/bin/sh -c "') < unit.index("ExecStartPre=/usr/local/sbin")
    script = WRITTEN["@fake/kafka-4"]["files"]["/usr/local/sbin/zookeeper-config"]
    assert script[1:] == ("755", "root", "root")


def test_brokers_get_the_new_zookeeper_connect(grown):
    connect = ",".join(f"10.0.0.{10 + i}:2181" for i in range(1, 6)) + "/kafka"
    text = WRITTEN["@fake/kafka-1"]["files"]["/etc/kafka/server.properties"][0]
    assert f"zookeeper.connect={connect}\n" in text
    # ... through the usual broker roll, after the ZooKeeper steps.
    order = global_order(grown)
    assert order.index("Kafka broker | Restart kafka safely (one host at a time)") > max(
        i for i, n in enumerate(order) if n.startswith("ZooKeeper membership")
    )


def test_shrinking_5_to_3_removes_followers_then_the_leader_each_retired():
    run = run_deploy(hosts_running(5, running=5, members=3), leader=4)
    assert membership(global_order(run)) == [
        "reconfig: remove server(s) 5",
        "stop and disable server 5 on kafka-5",
        "reconfig: remove server(s) 4",
        "stop and disable server 4 on kafka-4",
    ]
    assert run.control == [("remove", (5,)), ("remove", (4,))]
    retired = run.executed("@fake/kafka-5")
    assert "systemctl disable --now zookeeper.service" in retired
    assert (
        "rm -f /etc/zookeeper/zoo.cfg.dynamic.join /etc/zookeeper/zoo.cfg.bootstrap "
        "/etc/zookeeper/kafkaform-admin.secret /var/lib/zookeeper/conf/zoo.cfg.dynamic.*" in retired
    )
    assert "systemctl disable" not in run.executed("@fake/kafka-1")


def test_1_to_3_joins_both_then_adds_them_in_one_reconfig():
    run = run_deploy(hosts_running(3, running=1, members=3))
    assert membership(global_order(run)) == [
        "start server 2 on kafka-2 to join the ensemble",
        "start server 3 on kafka-3 to join the ensemble",
        "reconfig: add server(s) 2,3",
    ]
    assert run.control == [("add", (2, 3))]
    assert "zookeeper-safe-restart --wait-only --size 2" in run.executed("@fake/kafka-2")


def test_a_fresh_ensemble_gets_join_files_and_the_bootstrap_then_the_acl():
    written = {}
    hosts = fake_hosts("debian12", 3)
    written.update({name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts})
    with recording_writes(written):
        run = run_deploy(hosts)
    members = "".join(f"server.{i}=10.0.0.{10 + i}:2888:3888:participant;2181\n" for i in (1, 2, 3))
    for name in written:
        files = written[name]["files"]
        assert files["/etc/zookeeper/zoo.cfg.dynamic.join"] == (members, "640", "root", "zookeeper")
        bootstrap = files["/etc/zookeeper/zoo.cfg.bootstrap"]
        assert bootstrap[0].startswith("DigestAuthenticationProvider.superDigest=super:")
        assert bootstrap[1:] == ("640", "root", "zookeeper")
        secret = files["/etc/zookeeper/kafkaform-admin.secret"]
        assert secret[1:] == ("600", "root", "root") and len(secret[0].strip()) >= 32
        assert "rm -f /etc/zookeeper/zoo.cfg.bootstrap" in run.executed(name)
    # One password for the run, on every host.
    assert len({written[n]["files"]["/etc/zookeeper/kafkaform-admin.secret"] for n in written}) == 1
    assert run.control == [("bootstrap-acl", ())]
    order = global_order(run)
    acl = order.index(
        "ZooKeeper membership | give the kafkaform ZooKeeper user its ACL on /zookeeper/config"
    )
    assert acl < order.index("ZooKeeper membership | Delete the ZooKeeper bootstrap superuser")


def test_a_set_password_is_not_kept_on_the_hosts():
    written = {}
    hosts = fake_hosts("debian12", 3)
    for _, data in hosts:
        data["zookeeper_admin_password"] = "a-long-enough-password"
    written.update({name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts})
    with recording_writes(written):
        run_deploy(hosts)
    for name in written:
        files = written[name]["files"]
        assert "/etc/zookeeper/kafkaform-admin.secret" not in files
        # The same derivation as ensemble_config's: the superuser's digest from the password.
        from kafkaform.ensemble_config import bootstrap_text

        text = bootstrap_text("a-long-enough-password")
        assert files["/etc/zookeeper/zoo.cfg.bootstrap"][0] == text


def test_the_reconfig_client_reaches_the_ensemble_of_a_fresh_plan():
    from deploys.tasks.zookeeper import client_hosts
    from facts.live import build_state
    from kafkaform.cluster import Cluster
    from kafkaform.ensemble_change import plan_ensemble_change
    from tests.unit.livestates import output

    hosts = [(f"kafka-{i}", {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i,
                             "zookeeper": True, "zkid": i}) for i in (1, 2, 3)]  # fmt: skip
    cluster = Cluster.from_hosts(hosts)
    plan = plan_ensemble_change(cluster, {n: build_state(output()) for n, _ in hosts})
    assert client_hosts(cluster, plan, sorted(plan.committed)) == (
        "10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181"
    )
