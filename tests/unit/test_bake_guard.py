"""The preflight on @fake hosts: deploys/base_box.py refuses hosts that are not fresh, and
the live-cluster checks read every host once, before any operation is queued."""

from __future__ import annotations

import gevent
import pytest
from pyinfra.api.exceptions import PyinfraError

from facts.live import HEADER, build_state
from kafkaform.cluster import Cluster
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, responses
from tests.unit.livestates import deployed

BOX = "deploys/base_box.py"
PREFLIGHT = "tests/unit/preflight_deploy.py"
SCRUB = "Remove the host identity | Remove host keys, machine-id, per-host files"


def bake_hosts(count: int = 1, live: dict[int, list[str]] | None = None, **data) -> list:
    """``count`` id-less hosts marked for baking; ``live``: index -> LiveState output."""
    hosts = []
    for i in range(1, count + 1):
        answers = {HEADER: (live or {}).get(i, [])}
        hosts.append(
            (
                f"@fake/kafka-{i}",
                {
                    "fake_delay": 0,
                    "fake_delay_jitter": 0,
                    "fake_responses": responses("debian12", **answers),
                    "base_box": True,
                    "kafka_sha512": "0" * 128,
                    "node_exporter_sha256": "1" * 64,
                    **data,
                },
            )
        )
    return hosts


def test_bake_of_fresh_hosts_reads_each_once_and_goes_on():
    run = run_deploy(bake_hosts(3), deploy=BOX)
    for i in (1, 2, 3):
        host = f"@fake/kafka-{i}"
        assert sum(HEADER in c for c in run.commands[host]) == 1
        assert any(op.startswith(SCRUB) for op in run.ops(host))


def test_bake_refuses_a_deployed_host_before_any_operation():
    with pytest.raises(PyinfraError) as refused:
        run_deploy(bake_hosts(3, live={2: deployed(2)}), deploy=BOX)
    message = str(refused.value)
    assert message.startswith("refusing the bake (deploys/base_box.py is for fresh machines")
    assert "nothing was changed; 4 problem(s)" in message
    assert "@fake/kafka-2: zookeeper data: myid 2 in /var/lib/zookeeper/data" in message
    assert "@fake/kafka-2: kafka data: meta.properties of broker 2" in message
    assert "@fake/kafka-2: kafka service: kafka is here (service active" in message
    assert "kafka-1" not in message and "kafka-3" not in message


def test_bake_refuses_hosts_with_roles():
    with pytest.raises(PyinfraError, match=r"kafka-1: kafkaid, zookeeper: the inventory gives"):
        run_deploy(fake_hosts("debian12", nodes=1), deploy=BOX)


def test_a_fresh_lab_host_marked_for_baking_keeps_its_roles_out_of_the_way():
    # `pyinfra --data base_box=true inventories/lab.py deploys/base_box.py` on a new lab host.
    hosts = fake_hosts("debian12", nodes=1, base_box=True)
    run = run_deploy(hosts, deploy=BOX)
    assert any(op.startswith(SCRUB) for op in run.ops("@fake/kafka-1"))


def test_deploy_preflight_lists_every_hosts_refusal_at_once():
    hosts = fake_hosts("debian12", kafka_data_dirs=["/data2/kafka"])
    for i, (_, data) in enumerate(hosts, start=1):
        data["fake_responses"] = responses("debian12", **{HEADER: deployed(i)})
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts, deploy=PREFLIGHT)
    message = str(refused.value)
    assert message.startswith("refusing this deploy, nothing was changed; 3 problem(s)")
    for i in (1, 2, 3):
        assert f"@fake/kafka-{i}: kafka_data_dirs: the live log dir /var/lib/kafka/data" in message


def test_deploy_preflight_passes_a_rerun_and_reads_each_host_once():
    hosts = fake_hosts("debian12")
    for i, (_, data) in enumerate(hosts, start=1):
        data["fake_responses"] = responses("debian12", **{HEADER: deployed(i)})
    run = run_deploy(hosts, deploy=PREFLIGHT)
    for i in (1, 2, 3):
        assert sum(HEADER in c for c in run.commands[f"@fake/kafka-{i}"]) == 1


def test_hosts_loaded_at_once_share_one_reading_and_one_verdict(monkeypatch):
    # The CLI runs the deploy file for every host in its own greenlet at the same time.
    from deploys.tasks import preflight

    reads = []

    def slow_read(inventory, cluster):
        reads.append(inventory)
        gevent.sleep(0.01)  # the other greenlets run meanwhile
        return {"kafka-1": build_state(deployed(1))}

    monkeypatch.setattr(preflight, "live_states", slow_read)
    cluster = Cluster.from_hosts([("kafka-1", {"base_box": True})])
    run = object()  # stands for this run's inventory
    greenlets = [gevent.spawn(preflight.refuse_unsafe_bake, run, cluster) for _ in range(3)]
    gevent.joinall(greenlets)
    assert len(reads) == 1
    for greenlet in greenlets:
        assert isinstance(greenlet.exception, PyinfraError)
        assert "kafka-1: zookeeper data: myid 1" in str(greenlet.exception)
