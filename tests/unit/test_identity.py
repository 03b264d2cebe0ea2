"""One home for a machine's identity: what each image leaves out, and the role plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploys.tasks.box import scrub_script
from kafkaform import identity
from kafkaform.cluster import Cluster, ensemble_size, planned_roles
from kafkaform.validate import check


def test_a_base_rootfs_is_left_without_identity(tmp_path: Path) -> None:
    (tmp_path / "etc" / "ssh").mkdir(parents=True)
    for key in ("ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "ssh_host_rsa_key"):
        (tmp_path / "etc" / "ssh" / key).write_text("KEY")
    (tmp_path / "etc" / "ssh" / "sshd_config").write_text("Port 22\n")
    (tmp_path / "etc" / "machine-id").write_text("0123456789abcdef\n")
    (tmp_path / "var" / "lib" / "dbus").mkdir(parents=True)
    (tmp_path / "var" / "lib" / "dbus" / "machine-id").write_text("0123456789abcdef\n")
    identity.scrub_root(tmp_path)
    assert sorted(p.name for p in (tmp_path / "etc" / "ssh").iterdir()) == ["sshd_config"]
    assert (tmp_path / "etc" / "machine-id").read_text() == ""
    assert os.readlink(tmp_path / "var" / "lib" / "dbus" / "machine-id") == "/etc/machine-id"
    dropin = tmp_path / identity.SSH_KEYGEN_DROPIN_PATH.lstrip("/")
    assert dropin.read_text() == identity.SSH_KEYGEN_DROPIN
    # Keys first, then sshd's own config check, which needs them.
    lines = identity.SSH_KEYGEN_DROPIN.splitlines()
    assert lines.index("ExecStartPre=/usr/bin/ssh-keygen -A") < lines.index(
        "ExecStartPre=/usr/sbin/sshd -t"
    )


def test_a_rootfs_without_dbus_id_gets_none(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    identity.scrub_root(tmp_path)
    assert not (tmp_path / "var" / "lib" / "dbus" / "machine-id").is_symlink()


@pytest.mark.parametrize("family", ["apt", "dnf"])
def test_the_bake_scrub_removes_the_same_identity(family: str) -> None:
    node = Cluster.from_hosts([("bake", {})]).node("bake")
    script = scrub_script(node, family)
    for step in identity.scrub_commands(family):
        assert step in script
    assert "rm -f /etc/ssh/ssh_host_*" in script
    assert "truncate -s 0 /etc/machine-id" in script
    assert f"rm -f {identity.ROOT_AUTHORIZED_KEYS}" in script
    assert identity.VAGRANT_INSECURE_KEY in script
    assert ("HWADDR" in script) is (family != "apt")


def test_an_export_leaves_out_what_a_booted_host_made() -> None:
    patterns = identity.made_at_boot()
    assert patterns == ["./etc/machine-id", "./etc/ssh/ssh_host_*", "./var/log/journal/*"]


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5), (6, 5), (9, 5), (244, 5)],
)
def test_the_role_plan_runs_an_odd_ensemble_on_the_first_hosts(hosts: int, expected: int) -> None:
    assert ensemble_size(hosts) == expected
    plan = [planned_roles(i, hosts) for i in range(1, hosts + 1)]
    assert [roles["kafkaid"] for roles in plan] == list(range(1, hosts + 1))
    assert [roles.get("zkid") for roles in plan if roles.get("zookeeper")] == list(
        range(1, expected + 1)
    )
    if hosts <= 9:
        assert check([(f"h{i}", roles) for i, roles in enumerate(plan, 1)]) == []


def test_the_role_plan_refuses_hosts_outside_the_cluster() -> None:
    with pytest.raises(ValueError):
        ensemble_size(0)
    with pytest.raises(ValueError):
        planned_roles(4, 3)
