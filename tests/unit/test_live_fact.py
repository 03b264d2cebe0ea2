"""facts.live.LiveState: its shell command run for real on a directory tree, and its parser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from facts.live import HEADER, LiveState, build_state, parse_properties
from tests.unit.livestates import KAFKA_DATA, ZK_DATA, deployed, output

SH = shutil.which("sh")


def run_fact(root: Path, zk_dirs=(), kafka_dirs=()) -> dict:
    """The fact's command as a host's sh runs it, over files under ``root``."""
    command = LiveState().command(
        zookeeper_config=str(root / "etc/zookeeper/zoo.cfg"),
        kafka_config=str(root / "etc/kafka/server.properties"),
        zookeeper_dirs=[str(root / d) for d in zk_dirs],
        kafka_dirs=[str(root / d) for d in kafka_dirs],
    )
    proc = subprocess.run([SH, "-c", command], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0] == HEADER
    return LiveState().process(lines)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def deployed_tree(tmp_path: Path) -> Path:
    """A host after a deploy: live configs, myid, ZooKeeper snapshots, a broker's log dirs."""
    root = tmp_path / "host root"  # a space in every path
    write(
        root / "etc/zookeeper/zoo.cfg",
        f"# Managed by kafkaform\ndataDir={root}/zk data\ndataLogDir = {root}/zklog  \n"
        "server.1=10.0.0.11:2888:3888\nserver.2=10.0.0.12:2888:3888\n",
    )
    write(root / "zk data/myid", "2\n")
    write(root / "zk data/version-2/snapshot.100000000", "")
    write(root / "zklog/version-2/log.100000001", "")
    write(
        root / "etc/kafka/server.properties",
        f"broker.id=2\nlog.dirs={root}/k1, {root}/k2\nlog.dir=/ignored\n",
    )
    meta = "#\n#Fri Nov 27 07:00:00 UTC 2026\nversion=0\nbroker.id=2\ncluster.id=abc"  # no EOL
    write(root / "k1/meta.properties", meta)
    (root / "k1/orders-0").mkdir()
    (root / "k1/orders-1").mkdir()
    write(root / "k1/recovery-point-offset-checkpoint", "0\n")
    (root / "k2").mkdir()
    return root


def test_fact_reads_live_configs_and_the_data_they_point_at(deployed_tree: Path):
    root = deployed_tree
    state = run_fact(root)
    zk = state["zookeeper"]
    assert zk["config"]["server.2"] == "10.0.0.12:2888:3888"
    assert zk["data_dir"] == f"{root}/zk data" and zk["datalog_dir"] == f"{root}/zklog"
    assert zk["myid"] == 2 and zk["has_data"] is True
    kafka = state["kafka"]
    assert kafka["log_dirs"] == [f"{root}/k1", f"{root}/k2"]
    assert kafka["meta"] == {f"{root}/k1": {"version": "0", "broker.id": "2", "cluster.id": "abc"}}
    assert kafka["has_data"] is True
    assert state["dirs"]["kafka"][f"{root}/k1"]["partitions"] == 2  # files are not partitions
    assert state["dirs"]["kafka"][f"{root}/k2"] == {"exists": True, "partitions": 0, "meta": None}


def test_fact_probes_the_inventorys_directories_too(deployed_tree: Path):
    root = deployed_tree
    write(root / "new zk/myid", "2")
    state = run_fact(root, zk_dirs=["new zk", "missing"], kafka_dirs=["k1", "k3"])
    zk_dirs, kafka_dirs = state["dirs"]["zookeeper"], state["dirs"]["kafka"]
    assert zk_dirs[f"{root}/new zk"] == {"exists": True, "files": 0, "myid": "2"}
    assert zk_dirs[f"{root}/missing"] == {"exists": False, "files": 0, "myid": None}
    assert kafka_dirs[f"{root}/k3"] == {"exists": False, "partitions": 0, "meta": None}
    # Probed twice (live and inventory): read once, not doubled.
    assert kafka_dirs[f"{root}/k1"]["meta"]["broker.id"] == "2"


def test_fact_on_a_fresh_host(tmp_path: Path):
    state = run_fact(tmp_path, zk_dirs=["var/lib/zookeeper/data"], kafka_dirs=["kafka"])
    assert state["zookeeper"] == {
        "config": None,
        "data_dir": None,
        "datalog_dir": None,
        "myid": None,
        "has_data": False,
        "layout": None,
        "dynamic": None,
        "join": None,
        "bootstrap": False,
    }
    assert state["kafka"] == {"config": None, "log_dirs": [], "meta": {}, "has_data": False}


def test_fact_uses_kafkas_default_log_dir_when_none_is_set(tmp_path: Path):
    write(tmp_path / "etc/kafka/server.properties", "broker.id=1\n")
    assert run_fact(tmp_path)["kafka"]["log_dirs"] == ["/tmp/kafka-logs"]


def test_fact_falls_back_to_log_dir(tmp_path: Path):
    write(tmp_path / "etc/kafka/server.properties", f"log.dir={tmp_path}/only\n")
    assert run_fact(tmp_path)["kafka"]["log_dirs"] == [f"{tmp_path}/only"]


def test_paths_reach_the_shell_quoted(tmp_path: Path):
    hostile = "d'$(touch INJECTED)`touch INJECTED2`;touch INJECTED3"
    state = run_fact(tmp_path, kafka_dirs=[hostile])
    assert not list(tmp_path.glob("INJECTED*")) and not list(Path.cwd().glob("INJECTED*"))
    assert state["dirs"]["kafka"][f"{tmp_path}/{hostile}"]["exists"] is False


def test_log_dirs_from_a_live_config_are_not_globbed(tmp_path: Path):
    (tmp_path / "a1").mkdir()
    write(tmp_path / "etc/kafka/server.properties", f"log.dirs={tmp_path}/a*\n")
    state = run_fact(tmp_path)
    assert state["kafka"]["log_dirs"] == [f"{tmp_path}/a*"]
    assert state["dirs"]["kafka"][f"{tmp_path}/a*"]["exists"] is False


def test_systemd_states_are_read():
    lines = [
        HEADER,
        "unit\tzookeeper\tLoadState=loaded",
        "unit\tzookeeper\tActiveState=active",
        "unit\tzookeeper\tUnitFileState=enabled",
        "unit\tzookeeper\tMainPID=812",
        "unit\tkafka\tLoadState=loaded",
        "unit\tkafka\tActiveState=failed",
        "unit\tkafka\tUnitFileState=disabled",
        "unit\tkafka\tMainPID=0",
    ]
    services = LiveState().process(lines)["services"]
    assert services["zookeeper"] == {
        "active": True,
        "enabled": True,
        "unit": True,
        "pid": 812,
        "distribution": None,
    }
    assert services["kafka"] == {
        "active": False,
        "enabled": False,
        "unit": True,
        "pid": None,
        "distribution": None,
    }


def test_no_systemd_and_no_output_is_an_empty_host():
    empty = LiveState().process([])
    assert empty == LiveState.default()
    assert empty["services"]["kafka"] == {
        "active": False,
        "enabled": False,
        "unit": False,
        "pid": None,
        "distribution": None,
    }


def test_unknown_and_malformed_lines_are_ignored():
    lines = [
        *deployed(1),
        "garbage",
        "unit\tnginx\tActiveState=active",
        "kdir",
        "myid\t/nowhere\t9",
    ]
    assert LiveState().process(lines) == build_state(deployed(1))


def test_a_myid_that_is_not_a_number_is_no_id_but_still_evidence():
    state = build_state(output(zoo_cfg={"dataDir": ZK_DATA}, zk_dirs={ZK_DATA: (0, "garbage")}))
    assert state["zookeeper"]["myid"] is None
    assert state["dirs"]["zookeeper"][ZK_DATA]["myid"] == "garbage"


def test_has_data_needs_meta_or_partitions_in_a_live_dir():
    props = {"log.dirs": KAFKA_DATA}
    empty = build_state(output(server_properties=props, kafka_dirs={KAFKA_DATA: (0, None)}))
    assert empty["kafka"]["has_data"] is False
    used = build_state(output(server_properties=props, kafka_dirs={KAFKA_DATA: (1, None)}))
    assert used["kafka"]["has_data"] is True


def test_properties_parsing():
    text = ["# c", "! c", "", "a=1", " b : 2 ", "c 3", "d==x", "a=last", "e="]
    assert parse_properties(text) == {"a": "last", "b": "2", "c": "3", "d": "=x", "e": ""}
