"""`lab up` builds the base rootfs and the Kafka distribution at the same time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kafkaform.lab import lifecycle


def test_base_and_artifacts_are_built_at_the_same_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each job waits for the other to have started: one after the other would time out.
    both_running = threading.Barrier(2, timeout=10)
    done = []

    def base(public_key, lab, progress):
        both_running.wait()
        done.append(("base", public_key, lab))

    def artifacts(progress):
        both_running.wait()
        done.append(("artifacts",))

    monkeypatch.setattr(lifecycle, "ensure_base", base)
    monkeypatch.setattr(lifecycle, "build_artifacts", artifacts)
    lifecycle.prepare_base_and_artifacts("ssh-ed25519 KEY", True, tmp_path, print)
    assert sorted(done) == [("artifacts",), ("base", "ssh-ed25519 KEY", tmp_path)]


def test_a_failed_job_fails_up_after_the_other_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished = threading.Event()

    def base(public_key, lab, progress):
        raise lifecycle.LabError("debootstrap failed")

    def artifacts(progress):
        finished.wait(0.2)
        finished.set()

    monkeypatch.setattr(lifecycle, "ensure_base", base)
    monkeypatch.setattr(lifecycle, "build_artifacts", artifacts)
    with pytest.raises(lifecycle.LabError, match="debootstrap failed"):
        lifecycle.prepare_base_and_artifacts("key", True, tmp_path, print)
    assert finished.is_set()


@pytest.mark.parametrize(
    ("public_key", "with_artifacts", "expected"),
    [(None, True, ["artifacts"]), ("key", False, ["base"]), (None, False, [])],
)
def test_only_what_is_asked_for_is_built(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    public_key: str | None,
    with_artifacts: bool,
    expected: list[str],
) -> None:
    done: list[str] = []
    monkeypatch.setattr(lifecycle, "ensure_base", lambda *args: done.append("base"))
    monkeypatch.setattr(lifecycle, "build_artifacts", lambda *args: done.append("artifacts"))
    lifecycle.prepare_base_and_artifacts(public_key, with_artifacts, tmp_path, print)
    assert done == expected
