"""testinfra verification of a running cluster, over SSH, for any inventory:

    pytest tests/verify --inventory inventories/prod.py

Each test runs once per host that has the role it checks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import testinfra

from kafkaform.broker_claims import with_claimed_ids
from kafkaform.cluster import Cluster, Node
from kafkaform.validate import load_inventory


def pytest_addoption(parser):
    parser.addoption("--inventory", required=True, help="pyinfra inventory of the cluster")


def _cluster(config) -> Cluster:
    if not hasattr(config, "_kafkaform_cluster"):
        inventory = load_inventory(config.getoption("--inventory"))
        cluster = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
        # kafkaid "auto": the ids the deploy claimed for those hosts.
        config._kafkaform_cluster = with_claimed_ids(cluster)
    return config._kafkaform_cluster


def pytest_generate_tests(metafunc):
    cluster = _cluster(metafunc.config)
    roles = {
        "zookeeper_node": cluster.ensemble,
        "broker_node": cluster.brokers,
        "any_node": list(cluster.nodes),
    }
    for fixture, nodes in roles.items():
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, nodes, ids=[n.name for n in nodes])


def ssh_config(node: Node, directory: Path) -> Path:
    """An ssh_config for one host from its inventory data (user, key, port, known_hosts)."""
    data = node.data
    lines = [f"Host {node.address}", f"  User {data.get('ssh_user', 'root')}"]
    if data.get("ssh_port"):
        lines.append(f"  Port {data['ssh_port']}")
    if data.get("ssh_key"):
        lines.append(f"  IdentityFile {data['ssh_key']}")
    if data.get("ssh_known_hosts_file"):
        lines.append(f"  UserKnownHostsFile {data['ssh_known_hosts_file']}")
    if data.get("ssh_strict_host_key_checking"):
        lines.append(f"  StrictHostKeyChecking {data['ssh_strict_host_key_checking']}")
    path = directory / f"{node.name}.ssh_config"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def cluster(request) -> Cluster:
    """The whole cluster of the inventory (the tests' nodes are hosts of it)."""
    return _cluster(request.config)


@pytest.fixture(scope="session")
def _ssh_dir():
    with tempfile.TemporaryDirectory(prefix="kafkaform-verify-") as directory:
        yield Path(directory)


@pytest.fixture
def host_of(_ssh_dir):
    def connect(node: Node):
        config = ssh_config(node, _ssh_dir)
        sudo = node.data.get("ssh_user", "root") != "root"
        return testinfra.get_host(f"ssh://{node.address}", ssh_config=str(config), sudo=sudo)

    return connect
