"""zookeeper-config, the unit's ExecStartPre, run for real: which membership file ZooKeeper's
working config names, the refusal of a removed server, the bootstrap digest, the pruning."""

from __future__ import annotations

import subprocess

from kafkaform.ensemble_config import SORT_VERSIONS
from kafkaform.templating import render


def run(tmp_path, myid: int = 1) -> subprocess.CompletedProcess:
    script = tmp_path / "zookeeper-config"
    script.write_text(render("zookeeper/zookeeper-config.sh.j2", sort_versions=SORT_VERSIONS))
    args = [tmp_path / "zoo.cfg", tmp_path / "join", tmp_path / "work", str(myid)]
    return subprocess.run(
        ["sh", str(script), *map(str, args), str(tmp_path / "bootstrap")],
        capture_output=True,
        text=True,
    )


def setup(tmp_path, versions: dict[str, str]) -> None:
    (tmp_path / "zoo.cfg").write_text("tickTime=2000\ndynamicConfigFile=/stale\n")
    work = tmp_path / "work"
    work.mkdir()
    for version, text in versions.items():
        (work / f"zoo.cfg.dynamic.{version}").write_text(text)


def working(tmp_path) -> str:
    return (tmp_path / "work" / "zoo.cfg").read_text()


def test_the_newest_version_listing_this_server_wins_by_length_then_order(tmp_path):
    setup(
        tmp_path, {"ff": "server.1=a\n", "100000000": "server.1=b\n", "10000000a": "server.1=c\n"}
    )
    (tmp_path / "join").write_text("server.1=j\n")
    assert run(tmp_path).returncode == 0
    text = working(tmp_path)
    assert text.endswith(f"dynamicConfigFile={tmp_path}/work/zoo.cfg.dynamic.10000000a\n")
    assert text.count("dynamicConfigFile=") == 1  # kafkaform's own line never reaches it
    assert "tickTime=2000\n" in text


def test_a_joiner_not_added_yet_starts_from_its_join_file(tmp_path):
    setup(tmp_path, {"200000001": "server.2=x\nserver.3=y\n"})  # committed, without it
    (tmp_path / "join").write_text("server.1=j\nserver.2=x\n")
    assert run(tmp_path).returncode == 0
    assert working(tmp_path).endswith(f"dynamicConfigFile={tmp_path}/join\n")


def test_a_removed_server_is_refused(tmp_path):
    setup(tmp_path, {"1000000ac": "server.2=x\nserver.3=y\n"})
    done = run(tmp_path)
    assert done.returncode == 1
    assert "server 1 is in no ZooKeeper configuration (the newest, 1000000ac" in done.stderr
    assert not (tmp_path / "work" / "zoo.cfg").exists()


def test_the_bootstrap_digest_is_added_while_its_file_exists(tmp_path):
    setup(tmp_path, {})
    (tmp_path / "join").write_text("server.1=j\n")
    (tmp_path / "bootstrap").write_text("DigestAuthenticationProvider.superDigest=super:x\n")
    run(tmp_path)
    assert "DigestAuthenticationProvider.superDigest=super:x\n" in working(tmp_path)
    (tmp_path / "bootstrap").unlink()
    run(tmp_path)
    assert "superDigest" not in working(tmp_path)


def test_only_the_newest_five_versions_are_kept(tmp_path):
    versions = [f"10000000{i}" for i in range(8)]
    setup(tmp_path, {v: "server.1=a\n" for v in versions})
    run(tmp_path)
    left = sorted(p.name for p in (tmp_path / "work").iterdir() if "dynamic" in p.name)
    assert left == [f"zoo.cfg.dynamic.{v}" for v in versions[3:]]
