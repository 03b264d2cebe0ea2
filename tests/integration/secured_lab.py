"""The lab deployed with ``security: "sasl_ssl"`` from day one (3 brokers and the monitoring
host, from the run's lab box): shared by test_security.py, which reads it, and then
test_certificate_rotation.py, which renews and rotates its certificates (conftest runs the two
in a row)."""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import NamedTuple

from kafkaform import monitoring_auth, pki
from kafkaform.cluster import Cluster
from tests.integration.conftest import BIN, LabsMade, fresh_lab, lab_inventory_with, run

# Created by the deploy's topics step, whose tools log in with the host's client config.
LISTED_TOPIC = {
    "name": "secured.events",
    "partitions": 3,
    "replication_factor": 3,
    "configs": {"min.insync.replicas": "2"},
}

# Users and ACLs as code: alice may use the listed topic (and the verify helpers' groups, by
# prefix); bob may log in and nothing else. Their passwords come from the environment.
USERS = [
    {"name": "alice", "password_env": "KAFKAFORM_TEST_ALICE"},
    {"name": "bob", "password_env": "KAFKAFORM_TEST_BOB"},
]
PASSWORDS = {"alice": f"alice-{uuid.uuid4().hex}", "bob": f"bob-{uuid.uuid4().hex}"}
ACLS = [
    {
        "principal": "User:alice",
        "resource_type": "topic",
        "resource_name": LISTED_TOPIC["name"],
        "operations": ["Describe", "Read", "Write"],
    },
    {
        "principal": "User:alice",
        "resource_type": "group",
        "resource_name": "kafkaform-verify",
        "pattern_type": "prefixed",
        "operations": ["Read"],
    },
]
# The first deploy's certificates: fewer days than test_certificate_rotation's renewal bound
# (so its deploy renews them), more than the default one (so test_security's re-run does not).
CERT_DAYS = 40
SETTINGS = {
    "security": "sasl_ssl",
    "tls_cert_days": CERT_DAYS,
    "kafka_topics": [LISTED_TOPIC],
    "kafka_users": USERS,
    "kafka_acls": ACLS,
}
MONITOR = "monitor"


class SecuredLab(NamedTuple):
    root: Path  # where inventories of this lab go
    inventory: str
    pki: Path  # under the test run's directory, never ~/.kafkaform
    first: dict  # the first deploy's --json result
    shown: str  # all the first deploy printed


def secrets_of(pki_dir: Path) -> list[str]:
    values = [p.read_text().strip() for p in (pki_dir / "secrets").iterdir() if p.is_file()]
    assert values, "no generated password: nothing would be checked"
    return values + list(PASSWORDS.values())


def secured_deploy(inventory: str, pki_dir: Path) -> tuple[dict, str]:
    """The deploy with --diff: its result and all it printed (stdout, stderr), in which no
    generated password may be."""
    proc = run(str(BIN / "pyinfra"), "-y", "--json", "--diff", inventory, "deploys/kafka.py")
    shown = proc.stdout + proc.stderr
    for value in secrets_of(pki_dir):
        assert value not in shown, "a generated password is in the deploy's output"
    return json.loads(proc.stdout), shown


class Kept:
    """The secured lab made last, and the LabsMade.count it was made at."""

    lab: SecuredLab | None = None
    made: int = 0


def secured_lab(box: Path, root: Path) -> SecuredLab:
    """The secured lab: the one made before if no other lab replaced it since, else a new one
    (its files under ``root``)."""
    if Kept.lab is not None and Kept.made == LabsMade.count:
        print("sharing the secured lab")
        return Kept.lab
    fresh_lab(3, monitoring=True, box=box)
    os.environ["KAFKAFORM_TEST_ALICE"] = PASSWORDS["alice"]
    os.environ["KAFKAFORM_TEST_BOB"] = PASSWORDS["bob"]
    pki_dir = root / "pki"
    inventory = lab_inventory_with(root, pki_dir=str(pki_dir), **SETTINGS)
    first, shown = secured_deploy(inventory, pki_dir)
    assert first["results"]["totals"]["error"] == 0
    Kept.lab, Kept.made = SecuredLab(root, inventory, pki_dir, first, shown), LabsMade.count
    return Kept.lab


def targets_down(cluster: Cluster) -> list[str]:
    """The scrape URLs the monitoring host's Prometheus (read over TLS, logged in) does not
    have up; asserts it has targets at all."""
    monitor = cluster.node(MONITOR)
    port = monitor.settings["prometheus_port"]
    access = monitoring_auth.exporter_access(monitor.settings, port, lambda: "")
    context = ssl.create_default_context(cafile=str(pki.trusted_ca_file(monitor.settings)))
    token = base64.b64encode(f"{access.username}:{access.password}".encode()).decode()
    request = urllib.request.Request(f"https://{monitor.address}:{port}/api/v1/targets")
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        targets = json.load(response)["data"]["activeTargets"]
    assert targets
    return [t["scrapeUrl"] for t in targets if t["health"] != "up"]
