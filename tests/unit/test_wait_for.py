"""roll.sh's wait_for, as the deploy renders it: tries soon after a start, then every 2 s."""

from __future__ import annotations

import subprocess

from tests.unit.test_safe_restart_scripts import scripts  # noqa: F401  (fixture)

ROLL = "/usr/local/lib/kafkaform/roll.sh"


def wait(library: str, tmp_path, passes_at: int, seconds: int = 600) -> subprocess.CompletedProcess:
    """Run wait_for on a check that passes at its ``passes_at``-th try; sleep only records."""
    (tmp_path / "roll.sh").write_text(library)
    script = f"""
        source {tmp_path}/roll.sh
        sleep() {{ echo "pause $1"; }}
        probe() {{
            echo x >> {tmp_path}/tries
            [ "$(wc -l < {tmp_path}/tries)" -ge {passes_at} ] || {{ echo "not yet"; return 1; }}
        }}
        wait_for tester unit.service "the probe" {seconds} probe
        echo "passed after $(wc -l < {tmp_path}/tries) tries"
    """
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)


def test_first_tries_come_quickly_then_every_two_seconds(scripts, tmp_path):  # noqa: F811
    done = wait(scripts[ROLL], tmp_path, passes_at=15)
    assert done.returncode == 0, done.stderr
    pauses = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("pause")]
    assert pauses == ["0.2", "0.3", *["0.5"] * 8, "1", "2", "2", "2"]
    assert "passed after 15 tries" in done.stdout


def test_a_passing_check_does_not_wait(scripts, tmp_path):  # noqa: F811
    done = wait(scripts[ROLL], tmp_path, passes_at=1)
    assert done.returncode == 0 and "pause" not in done.stdout


def test_gives_up_after_its_seconds_with_the_last_answer(scripts, tmp_path):  # noqa: F811
    done = wait(scripts[ROLL], tmp_path, passes_at=10**9, seconds=0)
    assert done.returncode == 1
    assert "tester: gave up after 0s waiting for the probe: not yet" in done.stderr
