"""Inventory validation: each problem names the host and the field; all are reported at once."""

from __future__ import annotations

import textwrap

import pytest
from pyinfra.api.exceptions import PyinfraError

from kafkaform.cli import main
from kafkaform.validate import check, findings
from tests.unit.deployrun import REPO, run_deploy
from tests.unit.fakes import fake_hosts


def node(name: str, **data):
    return (name, data)


def three(**extra):
    return [node(f"k{i}", zookeeper=True, zkid=i, kafkaid=i, **extra) for i in (1, 2, 3)]


def messages(hosts, **kw) -> list[str]:
    return [str(p) for p in check(hosts, **kw)]


def test_good_three_node_cluster_has_no_problem():
    assert messages(three()) == []


def test_single_node_is_valid():
    assert messages([node("dev", zookeeper=True, zkid=1, kafkaid=1)]) == []


def test_duplicate_ids_name_both_hosts():
    hosts = [
        node("a", zookeeper=True, zkid=1, kafkaid=1),
        node("b", zookeeper=True, zkid=1, kafkaid=1),
        node("c", zookeeper=True, zkid=3, kafkaid=3),
    ]
    assert messages(hosts) == [
        "a, b: zkid: 1 is used by 2 hosts",
        "a, b: kafkaid: 1 is used by 2 hosts",
    ]


@pytest.mark.parametrize("zkid", [0, 256, -1])
def test_zkid_outside_range(zkid):
    assert messages([node("a", zookeeper=True, zkid=zkid, kafkaid=1)]) == [
        f"a: zkid: {zkid} is outside 1..255"
    ]


def test_flag_without_zkid_and_zkid_without_flag():
    hosts = [
        node("a", zookeeper=True, kafkaid=1),
        node("b", zkid=2, kafkaid=2),
        node("c", zookeeper=True, zkid=3, kafkaid=3),
    ]
    assert messages(hosts) == [
        "a: zkid: missing: zookeeper is True but no zkid is set",
        "b: zkid: set but zookeeper is not True",
    ]


@pytest.mark.parametrize("bad", [True, "1", 1.0])
def test_ids_must_be_integers_and_a_bool_is_not_one(bad):
    hosts = [node("a", zookeeper=True, zkid=bad, kafkaid=bad)]
    assert messages(hosts) == [
        f"a: zkid: must be an integer, got {bad!r}",
        f'a: kafkaid: must be an integer or "auto", got {bad!r}',
    ]


def test_zookeeper_flag_must_be_bool():
    assert messages([node("a", zookeeper="yes", zkid=1, kafkaid=1)])[0] == (
        "a: zookeeper: must be True or False, got 'yes'"
    )


def test_no_zookeeper_and_no_broker():
    assert messages([node("a", kafkaid=1)]) == [
        "inventory: zookeeper: no host has zookeeper: True and a zkid"
    ]
    assert messages([node("a", zookeeper=True, zkid=1)]) == [
        "inventory: kafkaid: no host has a kafkaid (no broker)"
    ]


def test_host_without_any_role_is_a_warning_saying_what_the_deploy_does_there():
    # A broker being retired keeps its host listed without kafkaid (README: removing a broker).
    hosts = [*three(), node("spare")]
    assert messages(hosts) == []
    (warning,) = [p for p in findings(hosts) if p.where == "spare"]
    assert warning.warning and warning.field == "kafkaid"
    assert "no role" in warning.message and "only stops and disables" in warning.message


def test_even_ensemble_is_an_error_unless_allowed():
    hosts = [node(f"k{i}", zookeeper=True, zkid=i, kafkaid=i) for i in (1, 2)]
    (problem,) = messages(hosts)
    assert problem.startswith("inventory: zookeeper: 2 ZooKeeper servers: an even ensemble")
    allowed = [(n, {**d, "allow_even_ensemble": True}) for n, d in hosts]
    assert messages(allowed) == []


def test_replication_beyond_broker_count_is_reported_once_for_all_hosts():
    hosts = three(kafka_properties={"default.replication.factor": 4})
    assert messages(hosts) == [
        "k1, k2, k3: kafka_properties['default.replication.factor']: "
        "4 cannot be satisfied by 3 broker(s)"
    ]


def test_min_insync_above_replication_factor():
    hosts = three(kafka_properties={"min.insync.replicas": 3, "default.replication.factor": 2})
    assert messages(hosts) == [
        "k1, k2, k3: kafka_properties['min.insync.replicas']: "
        "3 must be between 1 and the replication factor (2)"
    ]


def test_derived_properties_cannot_be_overridden():
    hosts = three(kafka_properties={"broker.id": 7})
    assert messages(hosts) == [
        "k1, k2, k3: kafka_properties['broker.id']: derived by kafkaform: set kafkaid instead"
    ]


def test_unknown_setting_suggests_the_right_name():
    hosts = three(kafka_heep="1g")
    assert messages(hosts) == [
        "k1, k2, k3: kafka_heep: unknown setting (did you mean 'kafka_heap'?)"
    ]


def test_wrong_types_and_sizes():
    hosts = three(kafka_port="9092", kafka_heap="lots", kafka_data_dirs=["data"])
    assert messages(hosts) == [
        "k1, k2, k3: kafka_port: expected int, got '9092'",
        "k1, k2, k3: kafka_data_dirs[0]: 'data' is not an absolute path",
        "k1, k2, k3: kafka_heap: 'lots' is not a size like '512m' or '4g'",
    ]


def test_every_problem_is_reported_at_once():
    hosts = [
        node("a", zookeeper=True, zkid=300, kafkaid=1, kafka_prot=1),
        node("b", zookeeper=True, zkid=2, kafkaid=1),
    ]
    found = messages(hosts)
    assert "a: zkid: 300 is outside 1..255" in found
    assert "a, b: kafkaid: 1 is used by 2 hosts" in found
    assert "a: kafka_prot: unknown setting (did you mean 'kafka_port'?)" in found


@pytest.fixture
def inventory_dir(tmp_path, monkeypatch):
    (tmp_path / "group_data").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_inventory(directory, hosts: str, group_all: str = "") -> str:
    (directory / "cluster.py").write_text(textwrap.dedent(hosts))
    (directory / "group_data" / "all.py").write_text(textwrap.dedent(group_all))
    return str(directory / "cluster.py")


def test_cli_accepts_a_good_inventory(inventory_dir, capsys):
    path = write_inventory(
        inventory_dir,
        """
        brokers = [("h1", {"ssh_hostname": "192.0.2.1", "zookeeper": True, "zkid": 1,
                           "kafkaid": 1})]
        """,
        'kafka_heap = "1g"\n',
    )
    assert main(["validate", path]) == 0
    assert "OK" in capsys.readouterr().out


def test_cli_names_the_group_file_of_a_typo_and_fails(inventory_dir, capsys):
    path = write_inventory(
        inventory_dir,
        """
        brokers = [
            ("h1", {"zookeeper": True, "zkid": 1, "kafkaid": 1}),
            ("h2", {"zookeeper": True, "zkid": 1, "kafkaid": 2}),
        ]
        """,
        "zookeeper_heep = '1g'\n",
    )
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert (
        "group_data/all.py: zookeeper_heep: unknown setting (did you mean 'zookeeper_heap'?)" in out
    )
    assert "h1, h2: zkid: 1 is used by 2 hosts" in out


def test_deploy_refuses_a_bad_inventory_before_any_operation():
    hosts = fake_hosts("debian12", 2)  # an even ensemble
    with pytest.raises(PyinfraError, match="even ensemble"):
        run_deploy(hosts)


def test_cli_reports_an_inventory_that_cannot_load(inventory_dir, capsys):
    (inventory_dir / "broken.py").write_text("raise RuntimeError('no such cloud')\n")
    assert main(["validate", str(inventory_dir / "broken.py")]) == 2
    assert "cannot load the inventory: no such cloud" in capsys.readouterr().out


def test_shipped_example_inventory_is_valid(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["validate", "inventories/prod.py"]) == 0
