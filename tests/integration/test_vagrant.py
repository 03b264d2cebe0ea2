"""Vagrant with the docker provider, for real: a dev node, a baked box, a cluster from the box.

VirtualBox and libvirt cannot boot here (no VMs): their configuration is checked with
`vagrant validate` only (libvirt with the real vagrant-libvirt plugin; VirtualBox's provider
needs a VBoxManage on PATH to load, so a stand-in that only reports a version is put there).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from kafkaform import dev, dockerd, verify
from kafkaform.cluster import Cluster
from tests.integration.conftest import (
    BIN,
    changed_operations,
    deploy,
    installs,
    require,
    run,
)

BOX_NAME = "kafkaform/kafka"


@pytest.fixture(scope="module")
def vagrant_home(docker_ready, tmp_path_factory) -> Path:
    # Machines and added boxes of this test only: a developer's own stay untouched.
    return tmp_path_factory.mktemp("vagrant")


def vagrant_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "KAFKAFORM_PROV"))}
    env.update(
        VAGRANT_CHECKPOINT_DISABLE="1",
        VAGRANT_DOTFILE_PATH=str(home / "dotfile"),
        VAGRANT_HOME=str(home / "vagrant.d"),
        KAFKAFORM_BIN=str(BIN),
        **extra,
    )
    return env


def vagrant(env: dict[str, str], *args: str, timeout: float = 900):
    return run("vagrant", *args, env=env, timeout=timeout)


def cluster_of(env: dict[str, str]) -> Cluster:
    """The nodes as clients see them: the plan's private addresses and ids."""
    return Cluster.from_hosts(
        (
            m["name"],
            {
                **{k: v for k, v in m.items() if k not in ("name", "ip")},
                "kafka_advertised_host": m["ip"],
            },
        )
        for m in dev.machines(env)
    )


def on_machine(env: dict[str, str], name: str, command: str) -> str:
    return vagrant(env, "ssh", name, "-c", f"sudo sh -c {json.dumps(command)}").stdout


def identity(env: dict[str, str], name: str) -> dict[str, str]:
    out = on_machine(
        env,
        name,
        "cat /etc/machine-id; cat /etc/ssh/ssh_host_ed25519_key.pub; "
        "cat /var/lib/zookeeper/data/myid 2>/dev/null || echo none",
    ).split("\n")
    return {"machine_id": out[0].strip(), "host_key": out[1].split()[1], "myid": out[2].strip()}


# ---------------------------------------------------------------------------------------------


def test_vagrantfile_validates_for_every_provider(vagrant_home, tmp_path):
    plugins = run("vagrant", "plugin", "list", env=vagrant_env(vagrant_home)).stdout
    require("vagrant-libvirt" in plugins, "the vagrant-libvirt plugin is missing (.ci/bootstrap)")
    stand_in = tmp_path / "VBoxManage"
    stand_in.write_text('#!/bin/sh\n[ "$1" = --version ] && echo 7.0.20r163906 && exit 0\nexit 1\n')
    stand_in.chmod(0o755)
    path = f"{tmp_path}:{os.environ['PATH']}"
    for provider in ("virtualbox", "libvirt", "docker"):
        for extra in ({}, {"KAFKA_NODES": "3"}, {"KAFKA_BAKE": "1"}):
            env = vagrant_env(vagrant_home, VAGRANT_DEFAULT_PROVIDER=provider, PATH=path, **extra)
            out = vagrant(env, "validate").stdout
            assert "Vagrantfile validated successfully" in out, (provider, extra, out)


def test_machines_and_ids_come_from_the_dev_plan(vagrant_home):
    env = vagrant_env(vagrant_home, KAFKA_NODES="3")
    status = vagrant(env, "status", "--machine-readable").stdout
    names = sorted(set(re.findall(r"^\d+,(kafka-\d+),state,", status, re.M)))
    assert names == ["kafka-1", "kafka-2", "kafka-3"]
    assert [m["zkid"] for m in dev.machines(env)] == [1, 2, 3]
    bake = vagrant(vagrant_env(vagrant_home, KAFKA_BAKE="1"), "status", "--machine-readable")
    assert re.findall(r"^\d+,([^,]+),state,", bake.stdout, re.M) == ["kafka-base"]


# --- `vagrant up`: one dev node, provisioned by the Vagrantfile's own trigger ------------------


@pytest.fixture(scope="class")
def dev_node(vagrant_home):
    env = vagrant_env(vagrant_home)
    started = time.monotonic()
    try:
        proc = vagrant(env, "up")
        out = proc.stdout + proc.stderr  # pyinfra logs on stderr
        print(f"vagrant up (dev node, provisioned): {time.monotonic() - started:.1f}s")
        yield env, out
    finally:
        vagrant(env, "destroy", "-f")


class TestDevNode:
    def test_plain_vagrant_up_ends_with_a_deployed_node(self, dev_node):
        _, out = dev_node
        assert "running /" in out and "deploys/kafka.py" in out
        assert "Start and enable kafka" in out

    def test_message_from_the_host_through_private_ip_and_forwarded_port(self, dev_node):
        env, _ = dev_node
        cluster = cluster_of(env)
        assert verify.ensemble_modes(cluster) == {"kafka-1": "leader"}  # a quorum of one
        assert verify.registered_brokers(cluster) == [1]
        private = verify.bootstrap(cluster)
        assert private == "192.168.56.11:9092"
        verify.create_topic(private, "dev-box", partitions=1, replication=1, min_isr=1)
        verify.produce("127.0.0.1:9092", "dev-box", "hello through the forwarded port")
        seen = verify.consume(private, "dev-box", "hello through the forwarded port")
        assert "hello through the forwarded port" in seen
        assert identity(env, "kafka-1")["myid"] == "1"


# --- bake a docker box, add it by name and version, start a 2-node cluster from it ------------


@pytest.fixture(scope="class")
def docker_box(vagrant_home):
    env = vagrant_env(vagrant_home, KAFKA_BAKE="1")
    output = vagrant_home / "boxes"
    image = None
    try:
        started = time.monotonic()
        vagrant(env, "up")
        baked = time.monotonic()
        run(str(BIN / "kafkaform"), "box", "package", "--provider", "docker",
            "--output-dir", str(output), env=env)  # fmt: skip
        packaged = time.monotonic()
        print(f"bake {baked - started:.1f}s, package {packaged - baked:.1f}s")
        vagrant(env, "destroy", "-f")  # its address and memory are free for the cluster
        catalog = json.loads((output / "metadata.json").read_text())
        version = catalog["versions"][-1]["version"]
        image = f"{BOX_NAME}-box:{version}"
        yield output / "metadata.json", version
    finally:
        vagrant(env, "destroy", "-f")
        if image:
            dockerd.docker("rmi", image, check=False)


@pytest.fixture(scope="class")
def box_cluster(vagrant_home, docker_box):
    catalog, version = docker_box
    env = vagrant_env(vagrant_home)
    added = vagrant(env, "box", "add", str(catalog), "--provider", "docker",
                    "--box-version", version).stdout  # fmt: skip
    env = vagrant_env(
        vagrant_home,
        KAFKA_NODES="2",
        KAFKA_BOX=BOX_NAME,
        KAFKA_BOX_VERSION=version,
        KAFKAFORM_PROVISION="0",  # the deploy runs below, with --json to inspect it
    )
    try:
        vagrant(env, "up")
        started = time.monotonic()
        result = deploy("inventories/dev.py", env=env)
        print(f"deploy of 2 nodes from the docker box: {time.monotonic() - started:.1f}s")
        yield env, result, added
    finally:
        vagrant(env, "destroy", "-f")
        vagrant(vagrant_env(vagrant_home), "box", "remove", BOX_NAME, "--all")


class TestDockerBox:
    def test_box_is_in_a_versioned_catalog_with_its_sha256(self, docker_box, box_cluster):
        catalog_path, version = docker_box
        catalog = json.loads(catalog_path.read_text())
        assert catalog["name"] == BOX_NAME
        entry = next(v for v in catalog["versions"] if v["version"] == version)
        (provider,) = entry["providers"]
        assert provider["name"] == "docker" and provider["checksum_type"] == "sha256"
        box_file = Path(provider["url"].removeprefix("file://"))
        from kafkaform.boxcatalog import sha256_of

        assert sha256_of(box_file) == provider["checksum"]
        _, _, added = box_cluster
        assert f"Successfully added box '{BOX_NAME}' (v{version}) for 'docker'" in added

    def test_deploy_on_the_baked_box_installs_nothing(self, box_cluster):
        _, result, _ = box_cluster
        assert result["results"]["totals"]["error"] == 0
        assert installs(result) == []
        # It did configure and start the services.
        assert any("Start and enable kafka" in op for op in changed_operations(result))

    def test_every_node_from_the_box_has_its_own_identity(self, box_cluster):
        env, _, _ = box_cluster
        ids = {name: identity(env, name) for name in ("kafka-1", "kafka-2")}
        assert ids["kafka-1"]["machine_id"] != ids["kafka-2"]["machine_id"]
        assert all(re.fullmatch(r"[0-9a-f]{32}", i["machine_id"]) for i in ids.values())
        assert ids["kafka-1"]["host_key"] != ids["kafka-2"]["host_key"]
        plan = {m["name"]: m for m in dev.machines(env)}
        assert ids["kafka-1"]["myid"] == str(plan["kafka-1"]["zkid"]) == "1"
        assert ids["kafka-2"]["myid"] == "none"  # broker only: 2 nodes, an ensemble of 1

    def test_cluster_from_the_box_carries_a_message_across_nodes(self, box_cluster):
        env, _, _ = box_cluster
        cluster = cluster_of(env)
        assert verify.registered_brokers(cluster) == [1, 2]
        verify.create_topic(
            verify.bootstrap(cluster), "from-box", partitions=2, replication=2, min_isr=1
        )
        verify.produce(verify.bootstrap(cluster, ["kafka-1"]), "from-box", "baked once, run twice")
        seen = verify.consume(
            verify.bootstrap(cluster, ["kafka-2"]), "from-box", "baked once, run twice"
        )
        assert "baked once, run twice" in seen

    def test_second_deploy_on_the_box_cluster_changes_nothing(self, box_cluster):
        env, _, _ = box_cluster
        assert changed_operations(deploy("inventories/dev.py", env=env)) == []
