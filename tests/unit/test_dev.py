"""The Vagrant dev nodes' single source of ids, the Vagrantfile that reads it, the inventory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kafkaform import dev, dockerd
from kafkaform.validate import check, load_inventory

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("vagrantfile_probe.rb")


def test_one_node_by_default_with_ids_1():
    (node,) = dev.machines({})
    assert node == {
        "name": "kafka-1",
        "ip": "192.168.56.11",
        "kafkaid": 1,
        "zookeeper": True,
        "zkid": 1,
    }


@pytest.mark.parametrize(("count", "ensemble"), [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5), (9, 5)])
def test_n_nodes_get_ids_1_to_n_and_an_odd_ensemble(count, ensemble):
    nodes = dev.machines({"KAFKA_NODES": str(count)})
    assert [n["kafkaid"] for n in nodes] == list(range(1, count + 1))
    assert [n.get("zkid") for n in nodes if n.get("zookeeper")] == list(range(1, ensemble + 1))
    assert len({n["ip"] for n in nodes}) == count
    # The inventory model validates as a cluster.
    assert (
        check([(n["name"], {k: v for k, v in n.items() if k not in ("name", "ip")}) for n in nodes])
        == []
    )


@pytest.mark.parametrize("raw", ["0", "10", "two", "-1"])
def test_bad_node_counts_are_refused(raw):
    with pytest.raises(dev.DevError, match="KAFKA_NODES"):
        dev.machines({"KAFKA_NODES": raw})


def test_bake_machine_has_no_ids_and_runs_the_box_deploy():
    env = {"KAFKA_BAKE": "1", "KAFKA_NODES": "3"}
    assert dev.machines(env) == [{"name": "kafka-base", "ip": "192.168.56.10", "base_box": True}]
    plan = dev.plan(env)
    assert plan["deploy"] == "deploys/base_box.py" and not plan["forward_kafka_port"]
    assert dev.plan({})["deploy"] == "deploys/kafka.py"
    assert plan["docker"]["image"] == dockerd.BASE_IMAGE
    assert "--cgroupns=host" in plan["docker"]["create_args"]


def probe(env: dict[str, str]) -> dict:
    ruby = shutil.which("ruby")
    if ruby is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ruby (installed with vagrant by .ci/bootstrap) is missing in CI")
        pytest.skip("ruby is not installed")
    full = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    full.update(env, KAFKAFORM_BIN=str(Path(sys.executable).parent))
    proc = subprocess.run(
        [ruby, str(PROBE), str(REPO / "Vagrantfile")],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


@pytest.mark.parametrize("env", [{}, {"KAFKA_NODES": "3"}, {"KAFKA_BAKE": "1"}])
def test_vagrantfile_defines_exactly_the_planned_machines(env):
    seen = probe(env)
    planned = dev.machines(env)
    assert [(m["name"], m["hostname"], m["private_ip"]) for m in seen["machines"]] == [
        (m["name"], m["name"], m["ip"]) for m in planned
    ]
    assert [m["primary"] for m in seen["machines"]] == [True] + [False] * (len(planned) - 1)
    # Kafka forwarded to the host on the first node of a cluster, never on the bake machine.
    expected_forwards = [] if "KAFKA_BAKE" in env else [9092]
    assert seen["machines"][0]["forwards"] == expected_forwards
    # One deploy for all machines, after the last one is up.
    deploy = next(t for t in seen["triggers"] if "up" in t["on"])
    assert deploy["only_on"] == planned[-1]["name"]
    assert seen["providers"] == ["virtualbox", "docker", "libvirt"]


def test_vagrantfile_box_default_and_override():
    assert probe({})["box"] == "centos/7"
    assert probe({"KAFKA_BOX": "kafkaform/kafka"})["box"] == "kafkaform/kafka"


SSH_CONFIG = """Host kafka-1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  IdentityFile "/work/my repo/.vagrant/machines/kafka-1/docker/private_key"
  IdentitiesOnly yes

Host kafka-2
  HostName 172.17.0.3
  User root
  Port 22
"""


def test_ssh_config_and_host_data():
    parsed = dev.parse_ssh_config(SSH_CONFIG)
    assert (
        parsed["kafka-1"]["IdentityFile"]
        == "/work/my repo/.vagrant/machines/kafka-1/docker/private_key"
    )
    nodes = dev.machines({"KAFKA_NODES": "2"})
    one = dev.host_data(nodes[0], parsed["kafka-1"])
    assert one["ssh_port"] == 2222 and one["_sudo"] is True
    assert one["kafka_advertised_host"] == "192.168.56.11"
    assert (one["zkid"], one["kafkaid"]) == (1, 1)
    two = dev.host_data(nodes[1], parsed["kafka-2"])
    assert "_sudo" not in two and "zkid" not in two and two["kafkaid"] == 2


@pytest.fixture
def dev_inventory(tmp_path, monkeypatch):
    """inventories/dev.py against one running node, on a machine with a built local mirror
    and the private network; servers are recorded, not started."""
    mirror = tmp_path / "cache" / "mirror"
    (mirror / "kafka").mkdir(parents=True)
    (mirror / "maven2").mkdir()
    monkeypatch.setenv("KAFKAFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KAFKA_NODES", raising=False)
    monkeypatch.delenv("KAFKA_BAKE", raising=False)
    monkeypatch.setattr(dev, "ssh_configs", lambda root=dev.REPO: dev.parse_ssh_config(SSH_CONFIG))
    monkeypatch.setattr(dev, "address_is_local", lambda address: address == dev.HOST_ADDRESS)
    monkeypatch.setattr(dev, "http_server_pids", lambda address, port: [])
    started = []
    monkeypatch.setattr(
        dev, "start_http_server", lambda root, address, port: started.append((root, address, port))
    )
    return started, mirror


def test_loading_the_dev_inventory_serves_nothing(dev_inventory):
    started, _ = dev_inventory
    inventory = load_inventory(str(REPO / "inventories" / "dev.py"))  # `kafkaform validate`
    host = inventory.get_host("kafka-1")
    assert host.data.kafka_mirror == "http://192.168.56.1:8214/kafka"
    assert host.data.maven_mirror == "http://192.168.56.1:8214/maven2"
    assert started == []


def test_a_deploy_serves_the_mirror_when_it_first_connects(dev_inventory):
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    started, mirror = dev_inventory
    state = State()  # as the pyinfra CLI does: the inventory is loaded before State.init
    with ctx_state.use(state):
        inventory = make_inventory(str(REPO / "inventories" / "dev.py"), cwd=str(REPO))
    assert started == []
    state.init(inventory, Config())
    host = inventory.get_host("kafka-1")
    state.trigger_callbacks("host_before_connect", host)
    state.trigger_callbacks("host_before_connect", host)
    assert started == [(mirror, "192.168.56.1", 8214)]  # once per run


def test_the_tarball_is_served_to_the_nodes_not_uploaded(dev_inventory):
    data = dev.group_data()
    # Served: the hosts download from the mirror; an upload would name a kafka_local_file.
    assert data["kafka_mirror"].startswith("http://192.168.56.1:")
    assert "kafka_local_file" not in data
    assert (data["kafka_heap"], data["zookeeper_heap"]) == ("512m", "256m")
    text = (REPO / "inventories" / "dev.py").read_text()
    assert "upload" not in text and "served" in text


def test_no_mirror_without_a_build_or_the_private_network(dev_inventory, monkeypatch):
    monkeypatch.setattr(dev, "address_is_local", lambda address: False)
    assert dev.mirror_url() is None and dev.ensure_mirror() is None
    assert "kafka_mirror" not in dev.group_data()
