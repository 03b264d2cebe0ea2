"""The real deploy with ``kafkaid: "auto"`` and foreign volumes, on @fake hosts, with an
in-memory ZooKeeper standing in for the roll session's client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from pyinfra.api.exceptions import PyinfraError

from deploys.tasks import broker_identity
from deploys.tasks.roll import RollSession
from facts.live import HEADER
from kafkaform import broker_claims
from kafkaform.partition_reads import Layout
from tests.unit.converged import recording_writes
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.livestates import CLUSTER_ID, KAFKA_DATA, deployed, output

CLAIMS = "/kafka/kafkaform/broker-ids"
SERVER_PROPERTIES = "/etc/kafka/server.properties"


class Stat:
    def __init__(self, version: int) -> None:
        self.version = version


class FakeZooKeeper:
    """The kazoo calls the deploy makes: get, get_children, create (if absent), set (at a
    version). ``before_create``: called once per path before its create, to stage a race."""

    def __init__(self, nodes: dict[str, bytes] | None = None) -> None:
        self.stopped = False
        self.nodes = {path: (data, 0) for path, data in (nodes or {}).items()}
        self.before_create: dict[str, Callable[[], None]] = {}
        self.creates: list[str] = []

    def get(self, path: str) -> tuple[bytes, Stat]:
        if path not in self.nodes:
            raise NoNodeError(path)
        data, version = self.nodes[path]
        return data, Stat(version)

    def get_children(self, path: str) -> list[str]:
        found = {p[len(path) + 1 :].split("/")[0] for p in self.nodes if p.startswith(path + "/")}
        if not found and path not in self.nodes:
            raise NoNodeError(path)
        return sorted(found)

    def create(self, path: str, value: bytes, makepath: bool = False) -> None:
        if (race := self.before_create.pop(path, None)) is not None:
            race()
        if path in self.nodes:
            raise NodeExistsError(path)
        self.creates.append(path)
        self.nodes[path] = (value, 0)

    def set(self, path: str, value: bytes, version: int = -1) -> None:
        if path not in self.nodes:
            raise NoNodeError(path)
        if version not in (-1, self.nodes[path][1]):
            raise BadVersionError(path)
        self.nodes[path] = (value, self.nodes[path][1] + 1)

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        pass

    def owner(self, broker: int) -> str:
        return json.loads(self.get(f"{CLAIMS}/{broker}")[0])["host"]


def cluster_znodes(
    registered: dict[int, str] | None = None, claims: dict[int, str] | None = None
) -> dict[str, bytes]:
    nodes = {"/kafka/cluster/id": json.dumps({"version": "1", "id": CLUSTER_ID}).encode()}
    for broker, host in (registered or {}).items():
        nodes[f"/kafka/brokers/ids/{broker}"] = json.dumps({"host": host, "port": 9092}).encode()
    for broker, owner in (claims or {}).items():
        nodes[f"{CLAIMS}/{broker}"] = json.dumps({"host": owner}).encode()
    return nodes


def with_live(hosts: list, lives: dict[str, list[str]]) -> list:
    for name, host in hosts:
        if name in lives:
            host["fake_responses"] = {HEADER: lives[name], **host["fake_responses"]}
    return hosts


def deploy(hosts: list, zookeeper: FakeZooKeeper | None, **run: Any) -> dict[str, str]:
    """Each host's server.properties as the deploy renders it."""
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts}
    session = RollSession(token="t" if zookeeper else None, client=zookeeper)
    with recording_writes(written):
        run_deploy(hosts, session=session, **run)
    return {name: w["files"][SERVER_PROPERTIES][0] for name, w in written.items()}


def broker_ids(rendered: dict[str, str]) -> dict[str, int]:
    return {
        name.removeprefix("@fake/"): int(line.split("=", 1)[1])
        for name, text in rendered.items()
        for line in text.splitlines()
        if line.startswith("broker.id=")
    }


def test_first_deploy_of_three_auto_hosts_renders_ids_1_to_3(monkeypatch):
    asked = []
    monkeypatch.setattr(
        broker_identity, "open_client", lambda cluster, timeout: asked.append(timeout)
    )
    rendered = deploy(fake_hosts("debian12", 3, kafkaid="auto"), zookeeper=None)
    assert broker_ids(rendered) == {"kafka-1": 1, "kafka-2": 2, "kafka-3": 3}
    assert asked == [broker_identity.PROBE_SECONDS]  # no ensemble answered: not claimed


def test_a_run_without_the_roll_lock_still_claims_through_zookeeper(monkeypatch):
    # No roll session (as in a --limit run of new hosts, where nothing runs), but the
    # ensemble answers: kafka-1 and kafka-2 hold claims 1 and 3, kafka-3 is new.
    zookeeper = FakeZooKeeper(
        cluster_znodes(
            registered={1: "10.0.0.11", 3: "10.0.0.12"},
            claims={1: "@fake/kafka-1", 3: "@fake/kafka-2"},
        )
    )
    monkeypatch.setattr(broker_identity, "open_client", lambda cluster, timeout: zookeeper)
    hosts = fake_hosts("debian12", 3, kafkaid="auto")
    rendered = deploy(hosts, zookeeper=None)
    assert broker_ids(rendered) == {"kafka-1": 1, "kafka-2": 3, "kafka-3": 2}
    assert zookeeper.owner(2) == "@fake/kafka-3"
    assert zookeeper.stopped  # the client it opened for this is closed again


def test_auto_ids_are_claimed_in_zookeeper_and_reach_every_file():
    zookeeper = FakeZooKeeper(cluster_znodes())
    hosts = fake_hosts("debian12", 3, kafkaid="auto")
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts}
    with recording_writes(written):
        run = run_deploy(hosts, session=RollSession(token="t", client=zookeeper))
    assert [zookeeper.owner(b) for b in (1, 2, 3)] == [
        "@fake/kafka-1",
        "@fake/kafka-2",
        "@fake/kafka-3",
    ]
    files = written["@fake/kafka-2"]["files"]
    assert "broker.id=2\n" in files[SERVER_PROPERTIES][0]
    assert "Kafka broker 2 (kafkaform)" in files["/etc/systemd/system/kafka.service"][0]
    assert "broker 2." in files["/etc/kafka/jmx-exporter.yml"][0]
    assert "auto" not in run.executed("@fake/kafka-2").replace("autopurge", "")


def test_a_lost_claim_race_is_read_again_and_never_collides():
    zookeeper = FakeZooKeeper(cluster_znodes())

    def another_run_claims_1_for_kafka_2() -> None:
        zookeeper.nodes[f"{CLAIMS}/1"] = (json.dumps({"host": "@fake/kafka-2"}).encode(), 0)

    zookeeper.before_create[f"{CLAIMS}/1"] = another_run_claims_1_for_kafka_2
    rendered = deploy(fake_hosts("debian12", 3, kafkaid="auto"), zookeeper)
    assert broker_ids(rendered) == {"kafka-1": 2, "kafka-2": 1, "kafka-3": 3}
    assert {b: zookeeper.owner(b) for b in (1, 2, 3)} == {
        1: "@fake/kafka-2",
        2: "@fake/kafka-1",
        3: "@fake/kafka-3",
    }


def test_a_rebuilt_host_takes_its_id_back_and_a_rerun_writes_nothing():
    claims = {1: "@fake/kafka-1", 2: "@fake/kafka-2", 3: "@fake/kafka-3"}
    zookeeper = FakeZooKeeper(
        cluster_znodes(registered={1: "10.0.0.11", 2: "10.0.0.12"}, claims=claims)
    )
    hosts = with_live(
        fake_hosts("debian12", 3, kafkaid="auto"),
        {"@fake/kafka-1": deployed(1), "@fake/kafka-2": deployed(2)},  # kafka-3: a new disk
    )
    assert broker_ids(deploy(hosts, zookeeper)) == {"kafka-1": 1, "kafka-2": 2, "kafka-3": 3}
    assert zookeeper.creates == []


def test_a_replacement_under_a_new_name_takes_the_gone_brokers_id():
    claims = {1: "@fake/kafka-1", 2: "@fake/kafka-2", 3: "@fake/kafka-3"}
    zookeeper = FakeZooKeeper(
        cluster_znodes(registered={1: "10.0.0.11", 3: "10.0.0.13"}, claims=claims)
    )
    hosts = fake_hosts("debian12", 4, ensemble=1, kafkaid="auto")
    del hosts[1]  # kafka-2 is gone
    hosts = with_live(
        hosts,
        {
            "@fake/kafka-1": deployed(1, ensemble=1),
            "@fake/kafka-3": deployed(3, ensemble=1, zookeeper=False),
        },
    )
    assert broker_ids(deploy(hosts, zookeeper)) == {"kafka-1": 1, "kafka-3": 3, "kafka-4": 2}
    assert zookeeper.owner(2) == "@fake/kafka-4"


def test_the_gone_broker_s_replicas_are_not_stranded_when_an_auto_host_takes_its_id(monkeypatch):
    """The deploy refuses a removed broker that holds replicas (kafkaform drain first), but
    not one whose id the replacement takes: its partitions come back with it."""
    zookeeper = FakeZooKeeper(
        cluster_znodes(registered={1: "10.0.0.11", 3: "10.0.0.13"}, claims={1: "@fake/kafka-1"})
    )
    monkeypatch.setattr(broker_claims, "open_client", lambda cluster, timeout: zookeeper)
    layout = Layout({("orders", 0): (1, 2, 3), ("orders", 1): (2, 3, 1)}, registered={1: "a"})
    hosts = fake_hosts("debian12", 4, ensemble=1, kafkaid="auto")
    del hosts[1]  # kafka-2 is gone
    hosts = with_live(hosts, {"@fake/kafka-1": deployed(1, ensemble=1)})
    hosts[1][1]["kafkaid"] = 3  # kafka-3 is numbered: it alone would leave broker 2 stranded
    rendered = deploy(hosts, zookeeper, layout=layout)
    assert broker_ids(rendered) == {"kafka-1": 1, "kafka-3": 3, "kafka-4": 2}

    # kafka-4's volume names broker 3 (kafka-3's): the id resolution refuses, and says only
    # that, not that broker 2 must be drained.
    foreign = deployed(3, ensemble=1, zookeeper=False)
    with pytest.raises(PyinfraError) as refused:
        deploy(with_live(hosts, {"@fake/kafka-4": foreign}), zookeeper, layout=layout)
    assert "kafka-4: kafkaid" in str(refused.value) and "drain" not in str(refused.value)

    hosts.pop()  # without kafka-4, broker 2's replicas have no host: refused
    with pytest.raises(PyinfraError, match=r"broker 2 \(not registered\): kafkaid: holds 2"):
        deploy(hosts, zookeeper, layout=layout)


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ({"broker.id": "2", "cluster.id": CLUSTER_ID}, "its data names broker 2"),
        ({"broker.id": "3", "cluster.id": "AnotherCluster00000000"}, "belongs to Kafka cluster"),
    ],
)
def test_a_foreign_volume_stops_the_run_before_any_operation(meta: dict[str, Any], words: str):
    zookeeper = FakeZooKeeper(cluster_znodes(registered={1: "10.0.0.11", 2: "10.0.0.12"}))
    volume = output(kafka_dirs={KAFKA_DATA: (3, {"version": "0", **meta})})
    hosts = with_live(
        fake_hosts("debian12", 3, kafkaid="auto"),
        {"@fake/kafka-1": deployed(1), "@fake/kafka-2": deployed(2), "@fake/kafka-3": volume},
    )
    with pytest.raises(PyinfraError) as raised:
        deploy(hosts, zookeeper)
    message = str(raised.value)
    assert message.startswith("refusing this deploy, nothing was changed; 1 problem(s):")
    assert "@fake/kafka-3: " in message and words in message
    assert zookeeper.creates == []  # refused before anything was claimed either


def test_a_kept_volume_is_given_to_the_new_kafka_account_before_the_broker_starts():
    zookeeper = FakeZooKeeper(
        cluster_znodes(registered={1: "10.0.0.11", 2: "10.0.0.12"}, claims={3: "@fake/kafka-3"})
    )
    kept = output(kafka_dirs={KAFKA_DATA: (3, {"broker.id": "3", "cluster.id": CLUSTER_ID})})
    hosts = with_live(
        fake_hosts("debian12", 3, kafkaid="auto"),
        {"@fake/kafka-1": deployed(1), "@fake/kafka-2": deployed(2), "@fake/kafka-3": kept},
    )
    session = RollSession(token="t", client=zookeeper)
    run = run_deploy(hosts, session=session)
    adopt = f"chown -R kafka:kafka {KAFKA_DATA}"
    commands = run.commands["@fake/kafka-3"]
    (at,) = [i for i, c in enumerate(commands) if adopt in c]
    account = commands.index(next(c for c in commands if c.startswith("useradd") and "kafka" in c))
    start = commands.index("systemctl start kafka.service")
    assert account < at < start
    assert not any(adopt in c for c in run.commands["@fake/kafka-1"])
    # kafka-1 and 2 ran before any claim was written (a first deploy): claimed now; kafka-3
    # already held broker 3's claim.
    assert zookeeper.creates == [f"{CLAIMS}/1", f"{CLAIMS}/2"]
    assert zookeeper.owner(3) == "@fake/kafka-3"


def test_status_shows_auto_hosts_by_the_ids_zookeeper_knows(monkeypatch, capsys, tmp_path):
    from kafkaform import cli, status_reads, verify
    from tests.unit.test_status import HEALTHY

    zookeeper = FakeZooKeeper(
        cluster_znodes(registered={1: "10.0.0.11", 2: "10.0.0.12", 3: "10.0.0.13"}, claims={})
    )
    zookeeper.nodes[f"{CLAIMS}/2"] = (json.dumps({"host": "kafka-2"}).encode(), 0)
    monkeypatch.setattr(verify, "zk_client", lambda hosts, timeout, settings: zookeeper)
    judged = []

    def observe(cluster, timeout):
        judged.append({n.name: n.kafkaid for n in cluster.nodes})
        return HEALTHY

    monkeypatch.setattr(status_reads, "observe", observe)
    inventory = tmp_path / "inv.py"
    hosts = [
        (
            f"kafka-{i}",
            {"ssh_hostname": f"10.0.0.1{i}", "kafkaid": "auto", "zookeeper": True, "zkid": i},
        )
        for i in (1, 2, 3)
    ]
    inventory.write_text(f"hosts = ({hosts!r}, {{}})\n")
    assert cli.main(["status", str(inventory), "--json"]) == 0
    assert judged == [{"kafka-1": 1, "kafka-2": 2, "kafka-3": 3}]
    assert [row["broker"] for row in json.loads(capsys.readouterr().out)["hosts"]] == [1, 2, 3]
    assert zookeeper.stopped


def test_without_an_answering_ensemble_tools_keep_the_inventory_as_it_is(monkeypatch):
    from kafkaform import broker_claims, verify
    from kafkaform.cluster import Cluster

    def silent(hosts, timeout, settings):
        raise TimeoutError("no server answered")

    monkeypatch.setattr(verify, "zk_client", silent)
    hosts = [("kafka-1", {"kafkaid": "auto", "zookeeper": True, "zkid": 1})]
    cluster = Cluster.from_hosts(hosts)
    assert broker_claims.open_client(cluster, 0.1) is None
    assert broker_claims.with_claimed_ids(cluster) is cluster
    explicit = Cluster.from_hosts([("kafka-1", {"kafkaid": 1, "zookeeper": True, "zkid": 1})])
    monkeypatch.setattr(verify, "zk_client", lambda hosts, timeout, settings: pytest.fail("asked"))
    assert broker_claims.with_claimed_ids(explicit) is explicit  # nothing to resolve
