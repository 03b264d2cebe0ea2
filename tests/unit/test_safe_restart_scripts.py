"""The safe-restart scripts and the roll lock library as a deploy renders them: valid bash,
inventory values quoted, the rules they enforce written into them."""

from __future__ import annotations

import subprocess

import pytest

from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.test_deploy_plan import converged


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, str]:
    """Every file the deploy uploaded to kafka-1, by destination path."""
    from pyinfra.connectors.fake import FakeConnector

    uploads: dict[str, str] = {}
    real = FakeConnector.put_file

    def capture(self, filename_or_io, remote_filename, *args, **kwargs):
        if self.host.name == "@fake/kafka-1":
            data = (
                filename_or_io.read()
                if hasattr(filename_or_io, "read")
                else open(filename_or_io, "rb").read()
            )
            uploads[remote_filename] = data.decode() if isinstance(data, bytes) else data
            if hasattr(filename_or_io, "seek"):
                filename_or_io.seek(0)
        return real(self, filename_or_io, remote_filename, *args, **kwargs)

    FakeConnector.put_file = capture
    try:
        run_deploy(fake_hosts("debian12", 3, fake_responses=converged("follower")))
    finally:
        FakeConnector.put_file = real
    return uploads


@pytest.mark.parametrize(
    "path",
    [
        "/usr/local/sbin/kafka-safe-restart",
        "/usr/local/sbin/zookeeper-safe-restart",
        "/usr/local/lib/kafkaform/roll.sh",
    ],
)
def test_scripts_are_valid_bash(scripts, path):
    subprocess.run(["bash", "-n"], input=scripts[path], text=True, check=True)


def test_zookeeper_script_knows_the_other_servers_and_the_ensemble_size(scripts):
    text = scripts["/usr/local/sbin/zookeeper-safe-restart"]
    assert "ENSEMBLE_SIZE=3\n" in text
    assert "    '2 10.0.0.12 2181'\n    '3 10.0.0.13 2181'\n)" in text
    assert "'1 10.0.0.11" not in text  # not itself
    assert 'take_roll_lock "$WHO" "$token"' in text


def test_kafka_script_gates_on_min_isr_with_the_brokers_default(scripts):
    text = scripts["/usr/local/sbin/kafka-safe-restart"]
    assert "BROKER=1\nADDRESS=10.0.0.11\nPORT=9092\n" in text
    assert "DEFAULT_MIN_ISR=2\n" in text
    assert "-f /usr/local/lib/kafkaform/partitions.awk" in text
    # the version's own tools, not whatever "current" points at
    assert "-cp '/opt/kafka/kafka_2.13-3.9.2/libs/*' org.apache.kafka.tools.TopicCommand" in text


def test_the_lock_lives_in_zookeepers_root_over_the_whole_ensemble(scripts):
    text = scripts["/usr/local/lib/kafkaform/roll.sh"]
    assert "ROLL_LOCK_PATH=/kafkaform/roll-lock\n" in text
    assert "ROLL_LOCK_ENSEMBLE=10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181" in text


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        ("WARN something\nError while executing topic command: timed out\n\n", "timed out"),
        ("", "(the tool printed nothing)"),
    ],
)
def test_a_failed_describe_says_the_tools_reason(scripts, printed, reason):
    text = scripts["/usr/local/sbin/kafka-safe-restart"]
    check = text[text.index("check() {") : text.index("\n}\n", text.index("check() {")) + 3]
    stub = f"topics() {{ printf %b {printed!r}; return 1; }}\n"
    program = stub + check + "check under_min_isr || true\n"
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True).stdout
    assert out.startswith("cannot describe topics: ") and out.strip().endswith(reason), out


def test_the_broker_s_registration_is_its_chroot_path_with_the_session_timeout(scripts):
    text = scripts["/usr/local/sbin/kafka-safe-restart"]
    assert "REGISTRATION=/kafka/brokers/ids/1\nSESSION_SECONDS=18\n" in text


def before_start(scripts, tmp_path, answers: list[str]) -> subprocess.CompletedProcess:
    """The script's --before-start with zk_shell answering ``answers`` in turn (the last one
    from then on), the roll library's wait_for with no pauses."""
    text = scripts["/usr/local/sbin/kafka-safe-restart"]
    library = scripts["/usr/local/lib/kafkaform/roll.sh"].replace(
        'sleep "${pause:-${WAIT_PAUSES[*]: -1}}"', ":"
    )
    (tmp_path / "roll.sh").write_text(library)
    for i, answer in enumerate(answers):
        (tmp_path / f"answer{i}").write_text(answer)
    stub = (
        "zk_shell() { local n; n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count;"
        f" (( n < {len(answers) - 1} )) || n={len(answers) - 1}; cat answer$n; }}\n"
    )
    script = text.replace("source /usr/local/lib/kafkaform/roll.sh\n", "source roll.sh\n" + stub)
    script = script.replace("SESSION_SECONDS=18", "SESSION_SECONDS=-29")  # a 1 s deadline
    (tmp_path / "script").write_text(script)
    return subprocess.run(
        ["bash", "script", "--before-start"], cwd=tmp_path, capture_output=True, text=True
    )


HELD = "cZxid = 0x10\nephemeralOwner = 0x200043f16e70001\ndataLength = 200\n"
GONE = "Node does not exist: /kafka/brokers/ids/1\n"


def test_before_start_passes_at_once_when_no_earlier_process_is_registered(scripts, tmp_path):
    done = before_start(scripts, tmp_path, [GONE])
    assert done.returncode == 0 and done.stdout == "", done
    assert (tmp_path / "count").read_text().strip() == "1"


def test_before_start_waits_for_a_dead_broker_s_session_to_expire(scripts, tmp_path):
    done = before_start(scripts, tmp_path, [HELD, HELD, GONE])
    assert done.returncode == 0, done
    assert "still registered by an earlier process; waiting up to 1s" in done.stdout
    assert (tmp_path / "count").read_text().strip() == "3"


def test_before_start_gives_up_naming_the_session_that_holds_the_id(scripts, tmp_path):
    done = before_start(scripts, tmp_path, [HELD])
    assert done.returncode == 1
    assert "gave up after 1s waiting for the earlier registration of broker 1 to expire" in (
        done.stderr
    )
    assert "/kafka/brokers/ids/1 is still held by session 0x200043f16e70001" in done.stderr


def function_of(text: str, name: str) -> str:
    start = text.index(f"{name}() {{")
    return text[start : text.index("\n}\n", start) + 3]


def test_a_restart_with_a_step_between_stops_runs_it_then_starts(scripts):
    library = scripts["/usr/local/lib/kafkaform/roll.sh"]
    program = (
        'systemctl() { echo "systemctl $*"; }\n'
        "unit_prop() { echo no; }\n"
        'between() { echo "between"; }\n'
        + function_of(library, "restart_unit")
        + "restart_unit kafka.service between\n"
    )
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True).stdout
    assert out.splitlines() == [
        "systemctl reset-failed kafka.service",
        "systemctl stop kafka.service",
        "between",
        "systemctl start kafka.service",
    ]


@pytest.mark.parametrize(
    ("before", "stop", "asks"),
    [
        ("success", "success", False),  # a clean stop: its session closed with it
        ("signal", "success", True),  # it had died (kill -9, a crash) before the restart
        ("success", "timeout", True),  # killed at the stop timeout, mid controlled shutdown
    ],
)
def test_only_a_broker_that_died_or_was_killed_waits_for_its_registration(
    scripts, before, stop, asks
):
    text = scripts["/usr/local/sbin/kafka-safe-restart"]
    program = (
        f"UNIT=kafka.service\nUNIT_RESULT={before}\nunit_prop() {{ echo {stop}; }}\n"
        'await_unregistered() { echo "asked ZooKeeper"; }\n' + function_of(text, "after_stop")
        + "after_stop\n"
    )  # fmt: skip
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True).stdout
    assert ("asked ZooKeeper" in out) == asks
