"""The lab's box export (offline: commands recorded, not run) and reading a host's disk."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from kafkaform.lab import export, lifecycle, nodes, plan
from kafkaform.lab import state as labstate


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lab = tmp_path / "lab"
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(lab))
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "os-release").write_text("ID=debian\n")
    state = plan.with_nodes(labstate.new_state(lab), 2)
    labstate.save_state({**state, "base": str(base)}, lab)
    for name in ("kafka-1", "kafka-2"):
        (labstate.node_dir(name, lab) / "upper").mkdir(parents=True)
    return lab


def lock_is_held(lab: Path) -> bool:
    with (lab / ".lock").open("w") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def test_export_holds_the_lab_lock_from_the_stop_to_the_end(
    lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    stop = nodes.stop_locked

    def stop_and_look(*args, **kwargs):
        seen.append(("stop", lock_is_held(lab)))
        return stop(*args, **kwargs)

    def run(argv: list[str], check: bool = True):
        seen.append((argv[0], lock_is_held(lab)))
        return None

    monkeypatch.setattr(export, "stop_locked", stop_and_look)
    monkeypatch.setattr(export, "run", run)
    monkeypatch.setattr(export, "umount_under", lambda path: seen.append(("umount", True)))
    monkeypatch.setattr(nodes, "require_root", lambda: None)
    monkeypatch.setattr(nodes, "nspawn_pid", lambda name, lab_dir=None: None)
    monkeypatch.setattr(nodes, "is_mounted", lambda path: False)
    lines: list[str] = []
    export.export_rootfs("kafka-1", tmp_path / "box.tar.zst", {"version": "1"}, lab, lines.append)
    assert [step for step, _ in seen if step != "umount"] == ["stop", "mount", "tar"]
    assert all(held for _, held in seen), seen
    assert not lock_is_held(lab)  # released at the end
    assert lines[0] == "kafka-1 is not running"


def test_export_leaves_out_what_a_booted_host_made(
    lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argvs: list[list[str]] = []
    monkeypatch.setattr(export, "run", lambda argv, check=True: argvs.append(argv))
    monkeypatch.setattr(export, "umount_under", lambda path: None)
    monkeypatch.setattr(nodes, "require_root", lambda: None)
    monkeypatch.setattr(export, "stop_locked", lambda *args, **kwargs: None)
    export.export_rootfs("kafka-2", tmp_path / "box.tar.zst", {}, lab, lambda line: None)
    tar = next(argv for argv in argvs if argv[0] == "tar")
    excludes = {arg.split("=", 1)[1] for arg in tar if arg.startswith("--exclude=")}
    assert excludes == {
        "./etc/machine-id",
        "./etc/ssh/ssh_host_*",
        "./var/log/journal/*",
        "./etc/kafkaform/box.json",
    }
    # The empty machine-id and the box's description go in under their real names.
    assert tar[-2:] == ["./x-etc/machine-id", "./x-etc/kafkaform/box.json"]


def test_read_link_sees_the_hosts_changes_over_its_base(lab: Path) -> None:
    state = labstate.load_state(lab)
    base = Path(state["base"])
    (base / "opt" / "kafka").mkdir(parents=True)
    os.symlink("/opt/kafka/kafka_2.13-3.9.1", base / "opt" / "kafka" / "current")
    assert export.read_link("kafka-1", "/opt/kafka/current", lab) == "/opt/kafka/kafka_2.13-3.9.1"
    upper = labstate.node_dir("kafka-1", lab) / "upper" / "opt" / "kafka"
    upper.mkdir(parents=True)
    os.symlink("/opt/kafka/kafka_2.12-3.8.1", upper / "current")
    assert export.read_link("kafka-1", "/opt/kafka/current", lab) == "/opt/kafka/kafka_2.12-3.8.1"
    assert export.read_link("kafka-1", "/opt/kafka/none", lab) is None
    # kafka-2 deleted the link: the overlay marks that with a 0/0 character device.
    whiteout = labstate.node_dir("kafka-2", lab) / "upper" / "opt" / "kafka"
    whiteout.mkdir(parents=True)
    os.mknod(whiteout / "current", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    assert export.read_link("kafka-2", "/opt/kafka/current", lab) is None


def test_lab_down_help_says_the_hosts_are_killed(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from kafkaform.lab import cli as lab_cli

    parser = argparse.ArgumentParser(prog="kafkaform")
    lab_cli.add_cli(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["lab", "down", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "cleanly" not in text.replace("no clean shutdown", "")
    assert "Stop all hosts at once" in text and "no clean shutdown" in text
    assert "`lab stop`" in text  # where a clean shutdown is


def test_lab_down_kills_rather_than_powering_off(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the help says is what down does: SIGKILL at once, no SIGTERM and wait.
    killed: list[int] = []
    monkeypatch.setattr(lifecycle, "require_root", lambda: None)
    monkeypatch.setattr(lifecycle, "nspawn_pid", lambda name, lab_dir=None: 1000)
    monkeypatch.setattr(lifecycle, "force_stop", killed.append)
    monkeypatch.setattr(lifecycle, "remove_stale_veth", lambda name: None)
    monkeypatch.setattr(lifecycle, "stop_mirror", lambda state: None)
    monkeypatch.setattr(lifecycle, "remove_network", lambda progress: None)
    monkeypatch.setattr(
        nodes, "signal_stop", lambda *a: pytest.fail("down must not ask for a poweroff")
    )
    lifecycle.down(lab_dir=lab, progress=lambda line: None)
    assert killed == [1000, 1000]
