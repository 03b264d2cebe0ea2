"""Facts several tasks need are asked once per host and run (kafkaform.deploy_support)."""

from __future__ import annotations

import pytest

from tests.unit.converged import converged_hosts
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.test_observability import with_monitor

ONCE = {
    "platform": "ls -pdL *-release",
    "installed packages": "dpkg -l",
    "memory": "vmstat -s",
    "live state": "kafkaform-live-state",
    "systemd units": "systemctl show --all --property Id --property SubState",
}


@pytest.mark.parametrize(
    "hosts",
    [fake_hosts("debian12", 3), with_monitor("debian12"), converged_hosts()],
    ids=["fresh", "with-monitoring", "converged"],
)
def test_each_fact_is_asked_once_per_host_while_the_deploy_is_prepared(hosts):
    run = run_deploy(hosts)
    for host, commands in run.prepared.items():
        for what, command in ONCE.items():
            asked = [c for c in commands if command in c]
            assert len(asked) <= 1, (host, what, len(asked))
        assert [c for c in commands if "dpkg -l" in c], host  # it was asked, once


def test_accounts_already_right_get_no_user_operations():
    run = run_deploy(converged_hosts())
    for host in run.commands:
        assert not [op for op in run.ops(host) if "Create a service user" in op], host
        assert not [c for c in run.commands[host] if "lastlog" in c or "useradd" in c], host
