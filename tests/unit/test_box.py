"""Box catalogs, docker boxes, lab box checksums, and dockerd's iptables clean-up: offline."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from kafkaform import box, boxcatalog, dockerd, settings
from kafkaform.lab.plan import with_nodes
from kafkaform.lab.state import new_state, node_dir, save_state


def add(catalog, version, provider, sha="a" * 64):
    return boxcatalog.add_to_catalog(
        catalog,
        name="kafkaform/kafka",
        version=version,
        provider=provider,
        url=f"file:///boxes/kafka-{version}-{provider}.box",
        sha256=sha,
        description=f"bake {version}",
    )


def test_catalog_lists_versions_providers_and_checksums():
    catalog = add(None, "3.9.2.1", "docker")
    catalog = add(catalog, "3.9.2.1", "virtualbox", "b" * 64)
    catalog = add(catalog, "3.9.2.2", "docker", "c" * 64)
    assert catalog["name"] == "kafkaform/kafka"
    assert [v["version"] for v in catalog["versions"]] == ["3.9.2.1", "3.9.2.2"]
    first = catalog["versions"][0]["providers"]
    assert {p["name"] for p in first} == {"docker", "virtualbox"}
    assert all(p["checksum_type"] == "sha256" for p in first)
    # Re-packaging the same version and provider replaces its entry.
    again = add(catalog, "3.9.2.2", "docker", "d" * 64)
    (entry,) = again["versions"][1]["providers"]
    assert entry["checksum"] == "d" * 64


def test_versions_sort_numerically_and_the_next_bake_counts_up():
    catalog = None
    for version in ("3.9.2.9", "3.9.2.10", "3.9.2.2"):
        catalog = add(catalog, version, "docker")
    assert [v["version"] for v in catalog["versions"]] == ["3.9.2.2", "3.9.2.9", "3.9.2.10"]
    assert boxcatalog.next_version(catalog, "docker", "3.9.2") == "3.9.2.11"
    # Per provider and per Kafka version: a new Kafka starts at .1.
    assert boxcatalog.next_version(catalog, "lab", "3.9.2") == "3.9.2.1"
    assert boxcatalog.next_version(catalog, "docker", "3.9.3") == "3.9.3.1"
    assert boxcatalog.find_in_catalog(catalog, "docker")[0] == "3.9.2.10"
    assert boxcatalog.find_in_catalog(catalog, "docker", "3.9.2.9")[0] == "3.9.2.9"
    with pytest.raises(boxcatalog.BoxError, match="no kafkaform-lab box"):
        boxcatalog.find_in_catalog(catalog, "lab")


@pytest.mark.parametrize("version", ["v1", "3.9.2-1", "", "3..1"])
def test_bad_versions_are_refused(version):
    with pytest.raises(boxcatalog.BoxError, match="numbers and dots"):
        add(None, version, "docker")


def test_a_catalog_of_another_box_is_not_mixed_in():
    with pytest.raises(boxcatalog.BoxError, match="not 'kafkaform/kafka'"):
        add({"name": "acme/zookeeper", "versions": []}, "1.0.0", "docker")


def test_docker_box_names_its_image(tmp_path):
    dest = tmp_path / "kafka.box"
    boxcatalog.write_docker_box(dest, "kafkaform/kafka-box:3.9.2.1")
    with tarfile.open(dest) as tar:
        assert sorted(tar.getnames()) == ["Vagrantfile", "metadata.json"]
        metadata = json.load(tar.extractfile("metadata.json"))
        vagrantfile = tar.extractfile("Vagrantfile").read().decode()
    assert metadata == {"provider": "docker"}
    assert 'd.image = "kafkaform/kafka-box:3.9.2.1"' in vagrantfile
    assert (
        boxcatalog.docker_image_name("kafkaform/kafka", "3.9.2.1") == "kafkaform/kafka-box:3.9.2.1"
    )


def lab_box_with_catalog(tmp_path: Path, content: bytes, listed: bytes) -> Path:
    path = tmp_path / "kafka-3.9.2.1-lab.tar.zst"
    path.write_bytes(content)
    catalog = boxcatalog.add_to_catalog(
        None,
        name="kafkaform/kafka",
        version="3.9.2.1",
        provider="lab",
        url=path.as_uri(),
        sha256=hashlib.sha256(listed).hexdigest(),
        description="test",
    )
    (tmp_path / "metadata.json").write_text(json.dumps(catalog))
    return path


def test_lab_box_is_held_to_its_catalog_checksum(tmp_path):
    path = lab_box_with_catalog(tmp_path, b"rootfs", b"rootfs")
    assert boxcatalog.resolve_lab_box(tmp_path / "metadata.json") == (
        path,
        boxcatalog.sha256_of(path),
    )
    assert boxcatalog.resolve_lab_box(path)[0] == path
    path.write_bytes(b"tampered")
    for given in (tmp_path / "metadata.json", path):
        with pytest.raises(boxcatalog.BoxError, match="does not match the sha256"):
            boxcatalog.resolve_lab_box(given)


IPTABLES_FILTER = """-P INPUT ACCEPT
-P FORWARD DROP
-N DOCKER
-N DOCKER-USER
-A FORWARD -i kf-br0 -m comment --comment kafkaform-lab -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i br-0123456789ab ! -o br-0123456789ab -j ACCEPT
-A DOCKER-USER -j RETURN
"""


def test_docker_clean_up_removes_only_dockers_rules():
    deletes = [" ".join(argv[4:]) for argv in dockerd.docker_rules("filter", IPTABLES_FILTER)]
    assert "-D FORWARD -j DOCKER-USER" in deletes
    assert "-D FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" in deletes
    assert "-D FORWARD -i br-0123456789ab ! -o br-0123456789ab -j ACCEPT" in deletes
    assert not any("kf-br0" in rule for rule in deletes)  # the lab's rules stay


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("/opt/kafka/kafka_2.13-3.9.2", ("3.9.2", "2.13")),
        ("kafka_2.12-3.8.1/", ("3.8.1", "2.12")),
    ],
)
def test_installed_kafka_is_read_from_the_current_link(current, expected):
    assert boxcatalog.installed_kafka(current) == expected


def test_a_current_link_that_is_no_distribution_is_refused():
    with pytest.raises(boxcatalog.BoxError, match="was the bake complete"):
        boxcatalog.installed_kafka("/opt/kafka/something-else")


def test_the_catalog_records_the_kafka_the_bake_installed(tmp_path, monkeypatch):
    # The bake's inventory pinned Kafka 3.8.1 on Scala 2.12, not this release's default.
    assert settings.KAFKA_VERSION != "3.8.1"
    lab = tmp_path / "lab"
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(lab))
    save_state(with_nodes(new_state(lab), 1), lab)
    upper = node_dir("kafka-1", lab) / "upper" / "opt" / "kafka"
    upper.mkdir(parents=True)
    (upper / "current").symlink_to("/opt/kafka/kafka_2.12-3.8.1")
    exported = {}

    def export(node, dest, info, progress):
        exported.update(info, node=node)
        dest.write_bytes(b"rootfs")

    monkeypatch.setattr(box, "package_lab", export)
    dest, catalog = box.package("lab", output=tmp_path / "out", progress=lambda line: None)
    (entry,) = catalog["versions"]
    assert entry["version"] == "3.8.1.1"
    assert entry["description"] == "Kafka 3.8.1 (Scala 2.12), Java, no host ids"
    assert exported == {
        "name": "kafkaform/kafka",
        "version": "3.8.1.1",
        "kafka_version": "3.8.1",
        "node": "kafka-1",
    }
    assert dest.name == "kafka-3.8.1.1-lab.tar.zst"


def test_packaging_a_machine_that_was_not_baked_is_refused(tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    monkeypatch.setenv("KAFKAFORM_LAB_DIR", str(lab))
    save_state(with_nodes(new_state(lab), 1), lab)
    (node_dir("kafka-1", lab) / "upper").mkdir(parents=True)
    (tmp_path / "base").mkdir()
    monkeypatch.setattr(box, "package_lab", lambda *args: pytest.fail("nothing to package"))
    with pytest.raises(boxcatalog.BoxError, match="bake it first"):
        box.package("lab", output=tmp_path / "out", progress=lambda line: None)
