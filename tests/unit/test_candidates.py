"""Check before placing: the script the deploy runs, run here with the real promtool and amtool
against temporary "live" and staging directories.

The checkers come with Debian's prometheus and prometheus-alertmanager packages (.ci/bootstrap
installs them); outside CI a machine without them skips, in CI that is a failure. rsyslogd is
checked on a lab host instead (tests/integration/test_observability.py).
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kafkaform import monitoring
from kafkaform.candidates import Candidate, place_script, rsyslog_check
from kafkaform.cluster import Cluster, resolve_settings
from kafkaform.templating import render

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
BAD_RULE = "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: up ==\n"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing in CI: .ci/bootstrap installs {package}")
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path


class Site:
    """A live directory, a staging directory, and a marker file that ``activate`` touches."""

    def __init__(self, root: Path) -> None:
        self.live, self.stage, self.activated = root / "etc", root / "stage", root / "activated"
        self.live.mkdir()
        self.stage.mkdir()

    def stage_files(self, candidates: list[Candidate]) -> None:
        for c in candidates:
            path = self.stage / c.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(c.text)

    def run(self, candidates: list[Candidate], check: str, checker: str):
        self.stage_files(candidates)
        script = place_script(
            "mon-1",
            "the test configuration",
            str(self.stage),
            candidates,
            check,
            checker,
            activate=f"touch {shlex.quote(str(self.activated))}",
        )
        # pyinfra runs commands with sh -c: dash on Debian.
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True)


def prometheus_candidates(site: Site, extra_rule: str | None = None) -> list[Candidate]:
    hosts = [
        (f"k{i}", {"ssh_hostname": f"10.1.0.{i}", "kafkaid": i, "zookeeper": True, "zkid": i})
        for i in (1, 2, 3)
    ] + [("mon", {"ssh_hostname": "10.1.0.100", "monitoring": True})]
    cluster = Cluster.from_hosts(hosts)
    rules = monitoring.render_rules(cluster.node("mon").settings)
    if extra_rule:
        rules["zz-extra.rules.yml"] = extra_rule
    config = monitoring.prometheus_config(cluster, cluster.node("mon"))
    return [
        Candidate("prometheus.yml", str(site.live / "prometheus.yml"), config, "644", USER, GROUP)
    ] + [
        Candidate(f"rules/{n}", str(site.live / "rules" / n), text, "644", USER, GROUP)
        for n, text in rules.items()
    ]


def promtool_check(site: Site) -> str:
    return f"{tool('promtool', 'prometheus')} check config {site.stage}/prometheus.yml"


def test_good_prometheus_candidates_are_checked_then_placed_once(tmp_path):
    site = Site(tmp_path)
    candidates = prometheus_candidates(site)
    first = site.run(candidates, promtool_check(site), "promtool")
    assert first.returncode == 0, first.stderr
    for c in candidates:
        assert Path(c.dest).read_text() == c.text
    assert site.activated.exists()
    assert first.stdout.count("placed ") == len(candidates)

    site.activated.unlink()
    again = site.run(candidates, promtool_check(site), "promtool")
    assert again.returncode == 0 and again.stdout == ""
    assert not site.activated.exists(), "nothing placed, nothing reloaded"


def test_a_bad_rule_file_never_replaces_the_live_files(tmp_path):
    site = Site(tmp_path)
    good = prometheus_candidates(site)
    assert site.run(good, promtool_check(site), "promtool").returncode == 0
    site.activated.unlink()
    live_before = {c.dest: Path(c.dest).read_text() for c in good}

    # A new scrape target (the config changes too) together with a broken rule file.
    bad = prometheus_candidates(site, extra_rule=BAD_RULE)
    bad[0] = Candidate(
        bad[0].name, bad[0].dest, bad[0].text.replace("10.1.0.1:", "10.1.0.9:"), "644", USER, GROUP
    )
    result = site.run(bad, promtool_check(site), "promtool")
    assert result.returncode != 0
    assert (
        "mon-1: promtool rejected the test configuration (candidate prometheus.yml, "
        in result.stderr
    )
    assert "rules/zz-extra.rules.yml" in result.stderr  # promtool's own words
    assert "parse error" in result.stderr
    assert {c.dest: Path(c.dest).read_text() for c in good} == live_before
    assert not (site.live / "rules" / "zz-extra.rules.yml").exists()
    assert not list(site.live.rglob("*.kafkaform-new"))
    assert not site.activated.exists()


def test_an_interrupted_run_is_finished_by_the_next_one(tmp_path):
    # The candidates were staged by a run that stopped before placing them: the live files
    # are old. The next run changes no candidate, and still checks and places them.
    site = Site(tmp_path)
    candidates = prometheus_candidates(site)
    site.stage_files(candidates)
    (site.live / "prometheus.yml").write_text("# the old configuration\n")
    result = site.run(candidates, promtool_check(site), "promtool")
    assert result.returncode == 0, result.stderr
    assert (site.live / "prometheus.yml").read_text() == candidates[0].text
    assert site.activated.exists()


def test_a_live_file_with_the_wrong_mode_is_placed_again(tmp_path):
    site = Site(tmp_path)
    candidates = prometheus_candidates(site)[:1]
    candidates = [Candidate(c.name, c.dest, c.text, "640", USER, GROUP) for c in candidates]
    check = promtool_check(site).replace("check config", "check config --syntax-only")
    assert site.run(candidates, check, "promtool").returncode == 0
    os.chmod(candidates[0].dest, 0o644)
    site.activated.unlink()
    assert site.run(candidates, check, "promtool").returncode == 0
    assert oct(os.stat(candidates[0].dest).st_mode & 0o777) == "0o640"
    assert site.activated.exists()


def alertmanager_candidate(site: Site, text: str) -> Candidate:
    return Candidate("alertmanager.yml", str(site.live / "alertmanager.yml"), text, "640", USER)


def test_a_bad_alertmanager_config_is_refused_and_a_good_one_placed(tmp_path):
    amtool = tool("amtool", "prometheus-alertmanager")
    site = Site(tmp_path)
    check = f"{amtool} check-config {site.stage}/alertmanager.yml"
    s = resolve_settings({})
    good = render(
        "alertmanager/alertmanager.yml.j2",
        route=s["alertmanager_route"],
        receivers=s["alertmanager_receivers"],
    )
    bad = good.replace("receivers:", "receivers_typo:", 1)
    (site.live / "alertmanager.yml").write_text("# live\n")

    refused = site.run([alertmanager_candidate(site, bad)], check, "amtool")
    assert refused.returncode != 0
    assert (
        "mon-1: amtool rejected the test configuration (candidate alertmanager.yml"
        in refused.stderr
    )
    assert "FAILED" in refused.stderr  # amtool's own output
    assert (site.live / "alertmanager.yml").read_text() == "# live\n"
    assert not site.activated.exists()

    placed = site.run([alertmanager_candidate(site, good)], check, "amtool")
    assert placed.returncode == 0, placed.stderr
    assert (site.live / "alertmanager.yml").read_text() == good
    assert oct(os.stat(site.live / "alertmanager.yml").st_mode & 0o777) == "0o640"


def test_values_reach_the_script_quoted(tmp_path):
    site = Site(tmp_path)
    odd = tmp_path / "dir with spaces; touch pwned"
    odd.mkdir()
    candidate = Candidate("a b.conf", str(odd / "x $(touch pwned).conf"), "x\n", "644", USER)
    result = site.run([candidate], "true", "true")
    assert result.returncode == 0, result.stderr
    assert Path(candidate.dest).read_text() == "x\n"
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_rsyslog_check_reads_the_candidates_in_place_of_the_live_files(tmp_path):
    # A stand-in for rsyslogd -N1 that prints the configuration it was given.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "rsyslogd"
    fake.write_text('#!/bin/sh\nmain="$3"; cat "$main"; grep -h . "$(dirname "$main")"/*.conf\n')
    fake.chmod(0o755)
    conf_dir, stage = tmp_path / "rsyslog.d", tmp_path / "stage"
    conf_dir.mkdir()
    stage.mkdir()
    (tmp_path / "rsyslog.conf").write_text(f"$IncludeConfig {conf_dir}/*.conf\n")
    (conf_dir / "10-site.conf").write_text("# the site's own\n")
    (conf_dir / "60-kafkaform-ship.conf").write_text("# live ship\n")
    (stage / "60-kafkaform-ship.conf").write_text("# candidate ship\n")
    check = rsyslog_check(
        str(stage),
        ["60-kafkaform-ship.conf"],
        main_conf=str(tmp_path / "rsyslog.conf"),
        conf_dir=str(conf_dir),
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(["sh", "-c", check], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert str(conf_dir) not in out.stdout  # the main file includes the copy instead
    assert "# the site's own" in out.stdout and "# candidate ship" in out.stdout
    assert "# live ship" not in out.stdout
