"""deploys/base_box.py run offline against @fake hosts with no ids, per distribution."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import PyinfraError

from facts.live import HEADER as LIVE_STATE
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import responses

H = "@fake/kafka-base"
BOX = "deploys/base_box.py"


def box_host(distro: str, **data) -> list:
    return [
        (
            H,
            {
                "fake_delay": 0,
                "fake_delay_jitter": 0,
                "fake_responses": responses(distro),
                "base_box": True,
                "kafka_sha512": "0" * 128,
                "node_exporter_sha256": "1" * 64,
                **data,
            },
        )
    ]


@pytest.mark.parametrize(
    ("distro", "java", "clean"),
    [
        ("centos7", "yum install -y java-11-openjdk-headless", "yum clean all"),
        ("rocky9", "dnf install -y java-17-openjdk-headless", "dnf clean all"),
        # The lists go with the stamp of their update: a host from the box that installs more
        # (a monitoring host) updates them first, however soon after the bake.
        (
            "debian12",
            "install --no-install-recommends openjdk-17-jre-headless",
            "rm -f /var/lib/apt/periodic/update-success-stamp",
        ),
        (
            "ubuntu2204",
            "install --no-install-recommends openjdk-17-jre-headless",
            "rm -f /var/lib/apt/periodic/update-success-stamp",
        ),
    ],
)
def test_bake_installs_everything_then_removes_the_identity(distro, java, clean):
    run = run_deploy(box_host(distro), deploy=BOX)
    ops, sent = run.ops(H), run.executed(H)
    assert java in sent
    assert "Install the Kafka distribution | Verify sha512 and unpack kafka_2.13-3.9.2" in ops
    assert any(op.startswith("JMX exporter agent | Download and verify") for op in ops)
    assert any(op.startswith("node_exporter |") for op in ops)
    assert any("rsyslog" in op for op in ops)
    assert "Service users | Create a service user | User kafka (no login)" in ops
    assert "Service users | Create a service user | User zookeeper (no login)" in ops
    # No identity is ever written: no ZooKeeper or broker configuration, no service started.
    assert not [op for op in ops if op.startswith(("ZooKeeper |", "Kafka broker |"))]
    # The read-only preflight fact (facts/live.py) names myid too: not a write.
    before_scrub = "\n".join(c for c in run.commands[H][:-1] if LIVE_STATE not in c)
    assert "myid" not in before_scrub and "server.properties" not in before_scrub
    # The scrub runs last, and removes what would make two machines from the box the same.
    assert ops[-1] == (
        "Remove the host identity | Remove host keys, machine-id, per-host files, logs and "
        "package caches"
    )
    scrub = run.commands[H][-1]
    for fragment in (
        clean,
        "rm -f /etc/ssh/ssh_host_*",
        "truncate -s 0 /etc/machine-id",
        "/var/lib/zookeeper/data/myid",
        "/var/lib/kafka/data/*",
        # ZooKeeper's membership files and the kafkaform ZooKeeper user's password.
        "/etc/zookeeper/zoo.cfg.dynamic.join",
        "/etc/zookeeper/zoo.cfg.bootstrap",
        "/etc/zookeeper/kafkaform-admin.secret",
        "/var/lib/zookeeper/conf/*",
        "find /var/log -type f -delete",
        "vagrant insecure public key",
    ):
        assert fragment in scrub, fragment


def test_centos7_bake_points_yum_at_the_vault_first():
    ops = run_deploy(box_host("centos7"), deploy=BOX).ops(H)
    (transaction,) = [op for op in ops if op.startswith("Install ") and "base packages" in op]
    assert ops.index("Prepare the OS | Point CentOS 7 repositories at the vault") < ops.index(
        transaction
    )


@pytest.mark.parametrize(("distro", "dropin"), [("debian12", True), ("rocky9", False)])
def test_sshd_makes_host_keys_at_boot_where_the_distribution_does_not(distro, dropin):
    ops = run_deploy(box_host(distro), deploy=BOX).ops(H)
    assert ("Remove the host identity | sshd makes its host keys at boot" in ops) is dropin


def test_bake_checks_settings_but_not_roles():
    with pytest.raises(PyinfraError, match="kafka_hepa"):
        run_deploy(box_host("debian12", kafka_hepa="1g"), deploy=BOX)


def test_kafka_deploy_on_a_host_without_ids_installs_no_service():
    # "no role" is a warning (a retired broker's host keeps its place in the inventory):
    # a fresh host without ids gets no ZooKeeper, no broker, and nothing is stopped there.
    ops = run_deploy(box_host("debian12", ssh_hostname="10.0.0.50")).ops(H)
    assert ops[0] == "Install base packages, node_exporter"  # no Java, no Kafka distribution
    assert not any(op.startswith(("ZooKeeper", "Kafka broker", "systemd unit")) for op in ops)
    assert not any("retired" in op or "disable" in op for op in ops), ops
