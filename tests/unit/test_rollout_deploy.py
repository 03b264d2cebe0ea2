"""The real deploy on @fake hosts of a running cluster in the middle of a security rollout:
what one run renders and restarts at its step."""

from __future__ import annotations

import pytest

from facts.live import HEADER
from kafkaform import zookeeper_security
from tests.unit.converged import recording_writes
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.livestates import CLUSTER_ID, KAFKA_DATA, ZK_DATA, ZK_LOG, members, output

SERVER_PROPERTIES = "/etc/kafka/server.properties"
ZOO_CFG = "/etc/zookeeper/zoo.cfg"
PLAIN_LISTENERS = {"listeners": "PLAINTEXT://0.0.0.0:9092"}
# zoo.cfg's keys of a server at quorum_secured (what decides a server's stage).
QUORUM_SECURED = {
    "clientPort": "2181",
    "secureClientPort": "2182",
    **zookeeper_security.STAGE_SWITCHES[zookeeper_security.QUORUM_SECURED],
}


def running(
    index: int, zoo_cfg: dict, server_properties: dict, dynamic: tuple | None = None
) -> list[str]:
    """A host of a running 3-node cluster with these live configs (``dynamic``: ZooKeeper's
    committed member lines, default every address)."""
    meta = {"version": "0", "broker.id": str(index), "cluster.id": CLUSTER_ID}
    return output(
        {"zookeeper": ("active", "enabled"), "kafka": ("active", "enabled")},
        {"dataDir": ZK_DATA, "dataLogDir": ZK_LOG, "reconfigEnabled": "true", **zoo_cfg},
        {"broker.id": str(index), "log.dirs": KAFKA_DATA, **server_properties},
        {ZK_DATA: (3, str(index)), ZK_LOG: (2, None)},
        {KAFKA_DATA: (4, meta)},
        dynamic or members(3),
    )


@pytest.fixture
def step_3_run(tmp_path, capsys):
    """Every host at step 2 (ZooKeeper quorum secured, brokers plaintext): the run renders
    step 3 (the brokers' secure listeners)."""
    hosts = fake_hosts("debian12", 3, security="sasl_ssl", pki_dir=str(tmp_path))
    for i, (_, host) in enumerate(hosts, 1):
        host["fake_responses"][HEADER] = running(i, QUORUM_SECURED, PLAIN_LISTENERS)
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts}
    with recording_writes(written):
        run = run_deploy(hosts)
    return run, written, capsys.readouterr().err


def test_the_brokers_get_their_secure_listeners_beside_plaintext(step_3_run):
    run, written, said = step_3_run
    text = written["@fake/kafka-1"]["files"][SERVER_PROPERTIES][0]
    assert (
        "listeners=PLAINTEXT://0.0.0.0:9092,INTERNAL://0.0.0.0:9091,CLIENT://0.0.0.0:9095" in text
    )
    assert "inter.broker.listener.name=PLAINTEXT" in text
    assert "User:ANONYMOUS" in text
    assert "zookeeper.set.acl=false" in text
    assert "renders step 3/5 (kafka_secure_listeners)" in said
    # The broker restarts through its safe-restart gates, one host at a time.
    assert any("kafka-safe-restart" in c for c in run.commands["@fake/kafka-1"])


BOTH = "PLAINTEXT://0.0.0.0:9092,INTERNAL://0.0.0.0:9091,CLIENT://0.0.0.0:9095"
AT_STEP_3 = {"listeners": BOTH, "inter.broker.listener.name": "PLAINTEXT"}
AT_STEP_4 = {"listeners": BOTH, "inter.broker.listener.name": "INTERNAL"}
AT_STEP_5 = {
    "listeners": "INTERNAL://0.0.0.0:9091,CLIENT://0.0.0.0:9095",
    "inter.broker.listener.name": "INTERNAL",
}
AT_SASL_SSL = {
    "secureClientPort": "2182",
    **zookeeper_security.STAGE_SWITCHES[zookeeper_security.SASL_SSL_STAGE],
}


def staged_run(tmp_path, monkeypatch, security: str, live: dict, secured: bool):
    """A run from ``live`` brokers (ZooKeeper at quorum_secured), the znodes' ACL as read
    from ZooKeeper being ``secured``; what host 1 ran, in order."""
    from deploys.tasks import rollout as rollout_task

    monkeypatch.setattr(rollout_task, "znodes_secured", lambda cluster: secured)
    protected: list[bool] = []  # kafkaform's own znodes, from the control machine
    monkeypatch.setattr(
        rollout_task,
        "protect_kafkaform_znodes",
        lambda cluster, secure=True: protected.append(secure),
    )
    hosts = fake_hosts("debian12", 3, security=security, pki_dir=str(tmp_path))
    for i, (_, host) in enumerate(hosts, 1):
        host["fake_responses"][HEADER] = running(i, QUORUM_SECURED, live)
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts}
    with recording_writes(written):
        run = run_deploy(hosts)
    return run.commands["@fake/kafka-1"], protected


def position(commands: list[str], needle: str) -> int:
    return next(i for i, c in enumerate(commands) if needle in c)


def test_znodes_get_the_secure_acls_after_the_roll_that_protects_new_ones(tmp_path, monkeypatch):
    commands, protected = staged_run(tmp_path, monkeypatch, "sasl_ssl", AT_STEP_3, False)
    migrate = position(commands, "--zookeeper.acl=secure")
    assert position(commands, "kafka-safe-restart") < migrate
    assert protected == [True]


def test_znodes_are_opened_before_brokers_stop_logging_in(tmp_path, monkeypatch):
    commands, protected = staged_run(tmp_path, monkeypatch, "plaintext", AT_STEP_3, True)
    opened = position(commands, "--zookeeper.acl=unsecure")
    assert opened < position(commands, "kafka-safe-restart")
    assert protected == [False]


def test_znodes_already_as_wanted_are_left_alone(tmp_path, monkeypatch):
    commands, protected = staged_run(tmp_path, monkeypatch, "sasl_ssl", AT_STEP_3, True)
    assert not [c for c in commands if "ZkSecurityMigrator" in c]
    assert protected == []


@pytest.mark.parametrize(
    ("security", "kafka_live", "zookeeper_live", "lines", "wanted"),
    [
        # The last step forward: the plain port goes to loopback before the servers roll.
        ("sasl_ssl", AT_STEP_4, QUORUM_SECURED, ";0.0.0.0:2181", ";127.0.0.1:2181"),
        # And back: every address again, before the servers roll back.
        ("sasl_ssl_held", AT_STEP_5, AT_SASL_SSL, ";127.0.0.1:2181", ";2181"),
        # Nothing to change.
        ("sasl_ssl", AT_STEP_5, AT_SASL_SSL, ";127.0.0.1:2181", None),
    ],
)
def test_the_members_plain_client_address_moves_with_the_last_step(
    tmp_path, monkeypatch, security, kafka_live, zookeeper_live, lines, wanted
):
    from deploys.tasks import rollout as rollout_task

    asked: list[dict] = []
    monkeypatch.setattr(
        rollout_task, "reconfig_members", lambda cluster, members: asked.append(members)
    )
    monkeypatch.setattr(rollout_task, "znodes_secured", lambda cluster: True)
    data = {"security": "sasl_ssl", "kafka_plaintext_listener": security == "sasl_ssl_held"}
    hosts = fake_hosts("debian12", 3, pki_dir=str(tmp_path), **data)
    committed = {f"server.{i}": f"10.0.0.{10 + i}:2888:3888:participant{lines}" for i in (1, 2, 3)}
    for i, (_, host) in enumerate(hosts, 1):
        host["fake_responses"][HEADER] = running(
            i, zookeeper_live, kafka_live, ("100000000", committed)
        )
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts}
    with recording_writes(written):
        run_deploy(hosts)
    if wanted is None:
        assert asked == []
    else:
        assert [sorted(m) for m in asked] == [[1, 2, 3]]
        assert all(v.endswith(f"participant{wanted}") for v in asked[0].values())
