"""deploys/tasks/host_files.py: an operation only for what the host does not already have."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from pyinfra.api.util import get_template

from deploys.tasks import host_files
from facts.files import DIGEST_LIMIT, Listing
from kafkaform.templating import JINJA_OPTIONS, render, template_path
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, host_paths, responses
from tests.unit.fakes import host_files as files_answer
from tests.unit.test_observability import with_monitor

H1 = "@fake/kafka-1"
SYSCTL = "/etc/sysctl.d/60-kafkaform.conf"
KERNEL = "Prepare the OS | Kernel settings for Kafka and ZooKeeper"
APPLY = "Prepare the OS | Apply kernel settings"


def sysctl_text() -> str:
    from kafkaform.settings import DEFAULTS

    return render("common/sysctl.conf.j2", sysctl=DEFAULTS["sysctl"])


def run_with(answers: dict):
    return run_deploy(fake_hosts("debian12", 1, fake_responses=responses("debian12") | answers))


def test_a_file_the_host_has_gets_no_operation():
    ops = run_with(files_answer({SYSCTL: sysctl_text()})).ops(H1)
    assert KERNEL not in ops and APPLY not in ops


@pytest.mark.parametrize(
    ("text", "mode"), [("vm.swappiness = 60\n", "644"), (None, "600")], ids=["content", "mode"]
)
def test_a_file_that_differs_is_written_and_acted_on(text, mode):
    run = run_with(files_answer({SYSCTL: text or sysctl_text()}, mode=mode))
    assert KERNEL in run.ops(H1) and APPLY in run.ops(H1)
    assert f"chmod 644 {SYSCTL}" in run.executed(H1)


def test_owner_counts_only_where_the_deploy_sets_it():
    # sysctl's file names no owner (as before: pyinfra then leaves it alone).
    assert KERNEL not in run_with(files_answer({SYSCTL: sysctl_text()}, user="nobody")).ops(H1)
    # A service's config names root:<service user>: another owner is put right.
    assert host_files.matches(
        {"mode": 0o640, "user": "root", "group": "kafka"}, "640", "root", "kafka"
    )
    assert not host_files.matches(
        {"mode": 0o640, "user": "root", "group": "root"}, "640", "root", "kafka"
    )
    assert not host_files.matches(None, None, None, None)


def test_directories_already_right_get_no_operation():
    right = host_paths(directories={"/opt/kafka": ("755", "root", "root")})
    assert "Install the Kafka distribution | Directory /opt/kafka" not in run_with(right).ops(H1)
    wrong = host_paths(directories={"/opt/kafka": ("700", "root", "root")})
    assert "Install the Kafka distribution | Directory /opt/kafka" in run_with(wrong).ops(H1)


def test_rendering_matches_pyinfras_template_operation(monkeypatch):
    """Files written before (by pyinfra's files.template) are byte-identical to what is
    rendered now: upgrading kafkaform rewrites nothing and restarts nothing."""
    rendered: list[tuple[str, dict, str]] = []

    def recording(template, **variables):
        text = render(template, **variables)
        rendered.append((template, variables, text))
        return text

    monkeypatch.setattr(host_files, "render", recording)
    run_deploy(with_monitor("debian12"))
    run_deploy(fake_hosts("rocky9", 1))  # node_exporter's own unit on EL
    templates = {template for template, _, _ in rendered}
    assert {
        "common/java-service.service.j2",
        "roll/roll.sh.j2",
        "common/sysctl.conf.j2",
    } <= templates
    assert "node_exporter/node-exporter.service.j2" in templates
    for template, variables, text in rendered:
        pyinfra_text = get_template(template_path(template), dict(JINJA_OPTIONS)).render(variables)
        assert pyinfra_text == text, template


def test_listing_reads_a_real_tree(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    conf.chmod(0o750)
    (conf / "a.cfg").write_text("x=1\n")
    (conf / "a.cfg").chmod(0o640)
    (conf / "link").symlink_to(conf / "a.cfg")
    (conf / "sub").mkdir()
    (conf / "sub" / "deeper.cfg").write_text("no\n")
    fact = Listing()
    command = fact.command(directories=(str(conf), str(tmp_path / "none")))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    found = fact.process(out.stdout.splitlines())
    assert list(found) == [str(conf)]  # no entry for a directory that does not exist
    assert found[str(conf)]["mode"] == 0o750
    # Its regular files only: no link, nothing from a subdirectory.
    assert found[str(conf)]["files"] == {
        str(conf / "a.cfg"): {
            "mode": 0o640,
            "user": found[str(conf)]["user"],
            "group": found[str(conf)]["group"],
            "sha256": hashlib.sha256(b"x=1\n").hexdigest(),
        }
    }


def test_large_files_are_listed_unread_so_they_never_count_as_written(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "server.log.1").write_bytes(b"x" * DIGEST_LIMIT)  # a rotated log: not read
    (logs / "gc.log").write_bytes(b"y" * (DIGEST_LIMIT - 1))
    fact = Listing()
    command = fact.command(directories=(str(logs),))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    found = fact.process(out.stdout.splitlines())[str(logs)]["files"]
    assert list(found) == [str(logs / "gc.log")]
    assert (
        found[str(logs / "gc.log")]["sha256"]
        == hashlib.sha256(b"y" * (DIGEST_LIMIT - 1)).hexdigest()
    )


def test_directories_are_read_once_per_host_several_in_one_command():
    run = run_deploy(fake_hosts("debian12", 1))
    listings = [c for c in run.prepared[H1] if "-printf 'dir " in c]
    asked = [d for c in listings for d in c.split("if [ -d ")[1:]]
    directories = [a.split(" ]", 1)[0] for a in asked]
    assert len(directories) == len(set(directories))  # none read twice
    assert len(listings) < len(directories) / 2  # mostly several per command


def test_several_missing_directories_are_made_in_one_operation():
    run = run_deploy(fake_hosts("debian12", 1))
    dirs = (
        "/var/lib/zookeeper/data /var/lib/zookeeper/datalog /var/lib/zookeeper/conf "
        "/var/log/zookeeper"
    )
    assert f"ZooKeeper | Directories {dirs.replace(' ', ', ')}" in run.ops(H1)
    assert (
        f"mkdir -p {dirs} && chmod 750 {dirs} && chown zookeeper:zookeeper {dirs}"
        in run.executed(H1)
    )
    # One directory alone keeps pyinfra's own operation.
    assert "ZooKeeper | Directory /etc/zookeeper" in run.ops(H1)


def test_only_the_directories_that_differ_are_made():
    have = host_paths(directories={"/var/lib/zookeeper/data": ("750", "zookeeper", "zookeeper")})
    ops = run_with(have).ops(H1)
    assert (
        "ZooKeeper | Directories /var/lib/zookeeper/datalog, /var/lib/zookeeper/conf, "
        "/var/log/zookeeper" in ops
    )
