"""Every launcher against the real jars of Kafka distributions (kafkaform's build, cached by
`kafkaform artifacts build`): the class it picks exists, and the tool answers --version.

Offline when the distributions are cached; in CI (CI=true) a missing one is built, never a
skip. The launchers run with the lab's java (/usr/bin/java, as on the hosts).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from kafkaform import artifacts, programs, settings
from kafkaform.artifacts.places import mirror_root
from tests.unit.test_host_tools import write_launchers

# The configured version, and the older one the upgrade tests start from: their tools live in
# different jars than in earlier 3.x releases, and must be found in both.
VERSIONS = (settings.KAFKA_VERSION, "3.8.1")
IN_CI = os.environ.get("CI") == "true"


def distribution_tarball(version: str) -> Path:
    name = artifacts.distribution_name(version, settings.SCALA_VERSION)
    cached = mirror_root() / "kafka" / version / f"{name}.tgz"
    if cached.exists():
        return cached
    if not IN_CI:
        pytest.skip(
            f"no cached Kafka {version}: run `kafkaform artifacts build --kafka-version {version}`"
        )
    return artifacts.build_distribution(version, settings.SCALA_VERSION)


@pytest.fixture(scope="module", params=VERSIONS)
def distribution(request, tmp_path_factory) -> Path:
    if not os.access(settings.JAVA_BIN, os.X_OK):
        if IN_CI:
            pytest.fail(f"{settings.JAVA_BIN} is missing in CI (.ci/bootstrap installs it)")
        pytest.skip(f"no {settings.JAVA_BIN}")
    tarball = distribution_tarball(request.param)
    root = tmp_path_factory.mktemp(f"kafka-{request.param}")
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="data")
    (home,) = root.iterdir()
    return home


@pytest.fixture(scope="module")
def launchers(distribution, tmp_path_factory) -> Path:
    return write_launchers(tmp_path_factory.mktemp("bin"), kafka_home=str(distribution))


def version_of(home: Path) -> str:
    return home.name.rsplit("-", 1)[-1]


@pytest.mark.parametrize("tool", [t for t in programs.TOOLS if t.connects_to == "kafka"])
def test_each_kafka_tool_runs_and_tells_its_version(launchers, distribution, tool):
    proc = subprocess.run(
        [str(launchers / tool.name), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == version_of(distribution)


def test_perf_test_prints_its_usage(launchers):
    proc = subprocess.run(
        [str(launchers / "kafka-producer-perf-test"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # ProducerPerformance exits 1 after its help, as it does under Apache's script.
    assert proc.stdout.startswith("usage: producer-performance"), proc.stderr
    assert "--producer.config" in proc.stdout


def test_every_tool_s_newest_class_is_in_the_jars(distribution):
    # zookeeper-shell cannot be asked for its version (it connects on start): its choice, as
    # every tool's, is checked in the jars' listings. Both versions hold the newest names.
    listed = set()
    for jar in (distribution / "libs").glob("*.jar"):
        with zipfile.ZipFile(jar) as archive:
            listed.update(archive.namelist())
    for tool in programs.TOOLS:
        assert tool.classes[0].replace(".", "/") + ".class" in listed, tool.name
