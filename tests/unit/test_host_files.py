"""deploys/tasks/host_files.py: an operation only for what the host does not already have."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from pyinfra.api.util import get_template

from deploys.tasks import host_files
from facts.files import Directories, FilesIn
from kafkaform.templating import JINJA_OPTIONS, render, template_path
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import directories_on_host, fake_hosts, responses
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
    right = directories_on_host({"/opt/kafka": ("755", "root", "root")})
    assert "Install the Kafka distribution | Directory /opt/kafka" not in run_with(right).ops(H1)
    wrong = directories_on_host({"/opt/kafka": ("700", "root", "root")})
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


def test_files_in_and_directories_read_a_real_tree(tmp_path):
    (tmp_path / "conf").mkdir(mode=0o750)
    (tmp_path / "conf" / "a.cfg").write_text("x=1\n")
    (tmp_path / "conf" / "a.cfg").chmod(0o640)
    (tmp_path / "conf" / "link").symlink_to(tmp_path / "conf" / "a.cfg")
    (tmp_path / "conf" / "sub").mkdir()

    def read(fact, **arguments):
        command = fact.command(**arguments)
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout
        return fact.process(out.splitlines())

    found = read(FilesIn(), directory=str(tmp_path / "conf"))
    (entry,) = found.values()
    assert list(found) == [str(tmp_path / "conf" / "a.cfg")]  # no link, no subdirectory
    assert entry["mode"] == 0o640
    assert entry["sha256"] == hashlib.sha256(b"x=1\n").hexdigest()
    assert read(FilesIn(), directory=str(tmp_path / "none")) == {}
    dirs = read(Directories(), paths=(str(tmp_path / "conf"), str(tmp_path / "none")))
    assert list(dirs) == [str(tmp_path / "conf")] and dirs[str(tmp_path / "conf")]["mode"] == 0o750
