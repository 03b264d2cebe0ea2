"""Offline tests of the lab's pure logic: addresses, state, inventory, parsing, CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Inventory, State
from pyinfra.api.exceptions import InventoryError
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory_from_files

from kafkaform import cluster, validate
from kafkaform.lab import cli as lab_cli
from kafkaform.lab import lifecycle, network, plan, rootfs
from kafkaform.lab import state as labstate
from kafkaform.settings import DEFAULTS

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = str(REPO / "inventories" / "lab.py")


def lab_state(tmp_path: Path, count: int) -> dict[str, Any]:
    return plan.with_nodes(labstate.new_state(tmp_path), count)


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5), (6, 5), (9, 5), (244, 5)],
)
def test_ensemble_size(nodes: int, expected: int) -> None:
    assert cluster.ensemble_size(nodes) == expected


def test_ensemble_size_rejects_empty_lab() -> None:
    with pytest.raises(ValueError):
        cluster.ensemble_size(0)


def test_addresses_and_names() -> None:
    assert plan.node_name(1) == "kafka-1"
    assert plan.node_ip(1) == "10.213.0.11"
    assert plan.node_ip(12) == "10.213.0.22"
    assert plan.node_ip(plan.MAX_NODES) == "10.213.0.254"
    assert plan.node_index("kafka-17") == 17
    with pytest.raises(ValueError):
        plan.node_ip(0)
    with pytest.raises(ValueError):
        plan.node_ip(plan.MAX_NODES + 1)


@pytest.mark.parametrize("name", ["kafka-0", "kafka-01", "kafka-x", "zk-1", "kafka-245", ""])
def test_node_index_rejects_other_names(name: str) -> None:
    with pytest.raises(plan.LabError):
        plan.node_index(name)


def test_with_nodes_grows_and_keeps_existing(tmp_path: Path) -> None:
    state = lab_state(tmp_path, 2)
    state["nodes"][0]["pid"] = 4242
    grown = plan.with_nodes(state, 4)
    assert [n["name"] for n in grown["nodes"]] == ["kafka-1", "kafka-2", "kafka-3", "kafka-4"]
    assert [n["ip"] for n in grown["nodes"]][-1] == "10.213.0.14"
    assert grown["nodes"][0]["pid"] == 4242
    assert grown["nodes"][3]["pid"] is None
    # Asking for fewer never forgets a node that exists (`lab down` removes them).
    assert len(plan.with_nodes(grown, 1)["nodes"]) == 4


def test_state_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(tmp_path / "lab"))
    assert labstate.load_state() is None
    state = lab_state(tmp_path / "lab", 3)
    state["nodes"][1]["pid"] = 99
    labstate.save_state(state)
    assert labstate.state_path() == tmp_path / "lab" / "state.json"
    assert labstate.load_state() == state
    on_disk = json.loads((tmp_path / "lab" / "state.json").read_text())
    assert on_disk["bridge"] == "kf-br0"
    assert on_disk["gateway"] == "10.213.0.1"
    assert on_disk["prefix"] == 24
    assert on_disk["ssh_key"] == str(tmp_path / "lab" / "id_ed25519")
    assert on_disk["known_hosts"] == str(tmp_path / "lab" / "known_hosts")
    assert on_disk["mirror_url"] == "http://10.213.0.1:8213"
    assert on_disk["nodes"][1] == {"name": "kafka-2", "ip": "10.213.0.12", "pid": 99}


def test_corrupt_state_is_an_actionable_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{")
    with pytest.raises(plan.LabError, match="lab down"):
        labstate.load_state(tmp_path)


def test_paths_follow_lab_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKAFORM_LAB_DIR", raising=False)
    assert labstate.get_lab_dir() == Path("/var/lib/kafkaform/lab")
    assert rootfs.base_dir() == Path("/var/lib/kafkaform/base-bookworm")
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", "/srv/kf/lab")
    assert rootfs.base_dir() == Path("/srv/kf/base-bookworm")
    assert labstate.node_dir("kafka-2") == Path("/srv/kf/lab/nodes/kafka-2")


@pytest.mark.parametrize(("count", "zookeepers"), [(1, 1), (2, 1), (3, 3), (4, 3), (6, 5)])
def test_inventory_roles(tmp_path: Path, count: int, zookeepers: int) -> None:
    hosts = plan.inventory_hosts(lab_state(tmp_path, count))
    assert [name for name, _ in hosts] == [f"kafka-{i}" for i in range(1, count + 1)]
    assert [data["kafkaid"] for _, data in hosts] == list(range(1, count + 1))
    zk = [(name, data["zkid"]) for name, data in hosts if data.get("zookeeper")]
    assert zk == [(f"kafka-{i}", i) for i in range(1, zookeepers + 1)]
    assert all("zkid" not in data for _, data in hosts if not data.get("zookeeper"))


def test_inventory_ssh_data(tmp_path: Path) -> None:
    _, data = plan.inventory_hosts(lab_state(tmp_path, 2))[1]
    assert data["ssh_hostname"] == "10.213.0.12"
    assert data["ssh_user"] == "root"
    assert data["ssh_key"] == str(tmp_path / "id_ed25519")
    assert data["ssh_known_hosts_file"] == str(tmp_path / "known_hosts")
    assert data["ssh_strict_host_key_checking"] == "accept-new"


def test_inventory_group_data(tmp_path: Path) -> None:
    data = plan.inventory_group_data(lab_state(tmp_path, 1))
    assert {k: data[k] for k in ("kafka_mirror", "kafka_heap", "zookeeper_heap")} == {
        "kafka_mirror": "http://10.213.0.1:8213/kafka",
        "kafka_heap": "512m",
        "zookeeper_heap": "256m",
    }
    assert data["maven_mirror"] == "http://10.213.0.1:8213/maven2"
    # Short alert delays for the tests; every one names a real alert_for key.
    assert set(data["alert_for"]) <= set(DEFAULTS["alert_for"])
    assert set(data["alert_for"].values()) == {"15s"}
    assert validate.check([("kafka-1", {**data, "kafkaid": 1, "zookeeper": True, "zkid": 1})]) == []


def test_monitoring_host_is_opt_in_and_kept(tmp_path: Path) -> None:
    plain = lab_state(tmp_path, 3)
    assert [n["name"] for n in plain["nodes"]] == ["kafka-1", "kafka-2", "kafka-3"]
    watched = plan.with_nodes(plain, 3, monitoring=True)
    assert watched["nodes"][-1] == {
        "name": "monitor",
        "ip": "10.213.0.10",
        "pid": None,
        "monitoring": True,
    }
    # Growing the brokers later keeps the monitoring host, after them.
    grown = plan.with_nodes(watched, 4)
    assert [n["name"] for n in grown["nodes"]] == [
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "kafka-4",
        "monitor",
    ]
    hosts = dict(plan.inventory_hosts(grown))
    assert hosts["monitor"]["monitoring"] is True
    assert "kafkaid" not in hosts["monitor"] and "zookeeper" not in hosts["monitor"]
    # ZooKeeper is sized from the brokers only: 4 brokers -> 3 servers.
    assert sum(1 for data in hosts.values() if data.get("zookeeper")) == 3
    assert validate.check(plan.inventory_hosts(grown)) == []


def load_lab_inventory() -> Inventory:
    # The CLI's loader records the file being executed on the current pyinfra state.
    with ctx_state.use(State()):
        return make_inventory_from_files(LAB_INVENTORY)


def test_inventory_file_reads_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(tmp_path))
    labstate.save_state(lab_state(tmp_path, 3))
    inventory = load_lab_inventory()
    assert sorted(host.name for host in inventory) == ["kafka-1", "kafka-2", "kafka-3"]
    host = inventory.get_host("kafka-3")
    assert host.data.ssh_hostname == "10.213.0.13"
    assert host.data.zkid == 3
    assert host.data.kafka_mirror == "http://10.213.0.1:8213/kafka"
    assert host.data.kafka_heap == "512m"
    assert [h.name for h in inventory.get_group("lab")] == ["kafka-1", "kafka-2", "kafka-3"]


def test_inventory_file_without_a_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(tmp_path))
    with pytest.raises(InventoryError, match="kafkaform lab up"):
        load_lab_inventory()


def test_hosts_file_maps_names_to_lab_addresses(tmp_path: Path) -> None:
    text = plan.hosts_file(lab_state(tmp_path, 2)["nodes"])
    assert "10.213.0.11\tkafka-1\n" in text
    assert "10.213.0.12\tkafka-2\n" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert "127.0.1.1" not in text


def test_network_file() -> None:
    text = plan.network_file("10.213.0.13", ["192.0.2.53"])
    assert "Name=host0" in text
    assert "Address=10.213.0.13/24" in text
    assert "Gateway=10.213.0.1" in text
    assert "DNS=192.0.2.53" in text
    assert "DHCP" not in text
    assert plan.resolv_conf(["192.0.2.53", "192.0.2.54"]) == (
        "nameserver 192.0.2.53\nnameserver 192.0.2.54\n"
    )


DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_parse_deb822_sources() -> None:
    assert rootfs.parse_deb822_sources(DEB822) == (
        "http://deb.debian.org/debian",
        "http://security.example.org/debian-security",
    )
    assert rootfs.parse_deb822_sources("Types: deb-src\nURIs: http://x/\nSuites: bookworm\n") == (
        None,
        None,
    )


def test_parse_sources_list() -> None:
    text = (
        "# comment\n"
        "deb-src http://src.example.org/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example.org/debian bookworm main\n"
        "deb http://mirror.example.org/debian-security bookworm-security main\n"
    )
    assert rootfs.parse_sources_list(text) == (
        "http://mirror.example.org/debian",
        "http://mirror.example.org/debian-security",
    )


def test_apt_sources_cover_updates_and_security() -> None:
    text = rootfs.apt_sources("http://m/debian", "http://m/debian-security")
    assert "URIs: http://m/debian\nSuites: bookworm bookworm-updates\n" in text
    assert "URIs: http://m/debian-security\nSuites: bookworm-security\n" in text


def test_nat_rules_are_for_the_lab_only() -> None:
    rules = network.nat_rules()
    assert ("nat", "POSTROUTING") in [(table, chain) for table, chain, _ in rules]
    masquerade = next(match for _, chain, match in rules if chain == "POSTROUTING")
    assert masquerade[:5] == ["-s", "10.213.0.0/24", "!", "-o", "kf-br0"]
    forward = [match for _, chain, match in rules if chain == "FORWARD"]
    assert [m[:2] for m in forward] == [["-i", "kf-br0"], ["-o", "kf-br0"]]
    assert all(network.RULE_COMMENT in match for _, _, match in rules)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kafkaform")
    lab_cli.add_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_parsing() -> None:
    args = parse(["lab", "up", "--nodes", "4", "--no-artifacts"])
    assert (args.nodes, args.no_artifacts, args.func) == (4, True, lab_cli._cmd_up)
    assert args.monitoring is False
    assert parse(["lab", "up", "--monitoring"]).monitoring is True
    assert parse(["lab", "up"]).nodes == 3
    assert parse(["lab", "down", "--purge"]).purge is True
    assert parse(["lab", "kill", "kafka-2"]).node == "kafka-2"
    ssh = parse(["lab", "ssh", "kafka-1", "ls", "-l", "/"])
    assert (ssh.node, ssh.command) == ("kafka-1", ["ls", "-l", "/"])


@pytest.mark.parametrize("action", ["up", "down", "status", "stop", "start", "kill", "wipe", "ssh"])
def test_every_command_has_help(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["lab", action, "--help"])
    assert exit_info.value.code == 0
    assert "usage: kafkaform lab" in capsys.readouterr().out


def test_ssh_command(tmp_path: Path) -> None:
    labstate.save_state(lab_state(tmp_path, 2), tmp_path)
    argv = lifecycle.ssh_command("kafka-2", tmp_path)
    assert argv[0] == "ssh"
    assert argv[-1] == "root@10.213.0.12"
    assert ["-i", str(tmp_path / "id_ed25519")] == argv[1:3]
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in argv
    assert "StrictHostKeyChecking=accept-new" in argv
    with pytest.raises(plan.LabError, match="no node"):
        lifecycle.ssh_command("kafka-3", tmp_path)


def test_commands_without_a_lab_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(plan.LabError, match="kafkaform lab up"):
        lifecycle.ssh_command("kafka-1", tmp_path)


@pytest.mark.parametrize("action", ["stop", "start", "kill", "wipe"])
def test_node_commands_reach_their_action(
    action: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, str, dict]] = []
    for name in ("stop", "start", "kill", "wipe"):
        monkeypatch.setattr(
            lab_cli,
            f"{name}_node",
            lambda node, _name=name, **kwargs: calls.append((_name, node, kwargs)),
        )
    args = parse(["lab", action, "kafka-2"])
    assert args.func(args) == 0
    ((called, node, kwargs),) = calls
    assert (called, node) == (action, "kafka-2")
    assert kwargs.get("timeout") == (120.0 if action == "start" else None)


def test_lab_errors_are_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(tmp_path))
    args = parse(["lab", "ssh", "kafka-1", "true"])
    assert args.func(args) == 1
    assert "kafkaform lab: error: no lab is up" in capsys.readouterr().err


def test_wipe_deletes_a_stopped_hosts_disk_and_refuses_a_running_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    state = lab_state(tmp_path, 2)

    @contextlib.contextmanager
    def running_lab(lab_dir, progress):
        yield tmp_path, state

    disk = labstate.node_dir("kafka-2", tmp_path)
    (disk / "upper" / "var").mkdir(parents=True)
    unmounted: list[str] = []
    monkeypatch.setattr(lifecycle, "running_lab", running_lab)
    monkeypatch.setattr(
        lifecycle, "unmount_disk", lambda name, lab, progress: unmounted.append(name)
    )
    monkeypatch.setattr(lifecycle, "is_mounted", lambda path: False)
    monkeypatch.setattr(lifecycle, "nspawn_pid", lambda name, lab: 4242)
    with pytest.raises(plan.LabError, match="kafka-2 is running"):
        lifecycle.wipe_node("kafka-2", tmp_path, progress=lambda line: None)
    assert disk.is_dir() and unmounted == []
    monkeypatch.setattr(lifecycle, "nspawn_pid", lambda name, lab: None)
    lifecycle.wipe_node("kafka-2", tmp_path, progress=lambda line: None)
    assert not disk.exists() and unmounted == ["kafka-2"]
    with pytest.raises(plan.LabError, match="no node"):
        lifecycle.wipe_node("kafka-3", tmp_path, progress=lambda line: None)
