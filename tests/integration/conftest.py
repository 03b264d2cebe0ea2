"""Integration tests: real hosts in the local lab, the real CLI, real ZooKeeper and Kafka.

They need root (systemd-nspawn). Outside CI a machine that cannot run them skips them; in CI
(CI=true) that is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from kafkaform.boxcatalog import resolve_lab_box
from kafkaform.cluster import Cluster
from kafkaform.hostops import remove_tree
from kafkaform.lab.lifecycle import ssh_command, status
from kafkaform.lab.rootfs import box_root
from kafkaform.lab.state import get_lab_dir, load_state
from kafkaform.validate import load_inventory

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI") == "true"
LAB_INVENTORY = "inventories/lab.py"


# Modules that share one deployed lab run in a row (where the first of them was collected), in
# this order: plain_lab's readers; the secured lab's reader, then the module that rotates its
# certificates (secured_lab.py).
SHARED_LABS = (
    ("test_cluster.py", "test_host_tools.py", "test_status.py"),
    ("test_security.py", "test_certificate_rotation.py"),
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    for names in SHARED_LABS:
        sharing = [i for i in items if i.path.parent == HERE and i.path.name in names]
        if not sharing:
            continue
        # Where the first of them was, in the group's order; the rest keep theirs.
        first = items.index(sharing[0])
        rest = [i for i in items if i not in sharing]
        sharing.sort(key=lambda i: names.index(i.path.name))  # stable
        items[:] = rest[:first] + sharing + rest[first:]


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"integration prerequisite missing in CI: {reason}")
    pytest.skip(reason)


def run(
    *argv: str, timeout: float = 1800, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run a command from the repo root; unless check=False a failure raises with its output."""
    started = time.monotonic()
    proc = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    took = time.monotonic() - started
    print(f"$ {' '.join(argv)}  ({took:.1f}s, exit {proc.returncode})")
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def kafkaform(*args: str) -> subprocess.CompletedProcess:
    return run(str(BIN / "kafkaform"), *args)


def deploy(
    inventory: str = LAB_INVENTORY,
    entry: str = "deploys/kafka.py",
    env: dict[str, str] | None = None,
) -> dict:
    """The README's command, with --json so the result can be counted."""
    proc = run(str(BIN / "pyinfra"), "-y", "--json", inventory, entry, env=env)
    result = json.loads(proc.stdout)
    print(f"installed: {installs(result)}")  # on a host from the lab box: none of what it holds
    return result


def failing_deploy(inventory: str) -> str:
    """Run a deploy that must fail; return everything it printed."""
    proc = run(str(BIN / "pyinfra"), "-y", inventory, "deploys/kafka.py", check=False)
    assert proc.returncode != 0, "the deploy was expected to fail"
    return proc.stdout + proc.stderr


def lab_inventory_with(
    directory: Path, hosts: dict[str, dict] | None = None, **overrides: object
) -> str:
    """An inventory file of the running lab with extra group data (e.g. kafka_properties)
    and, per host name in ``hosts``, extra host data."""
    path = directory / "lab_with_overrides.py"
    path.write_text(
        "from kafkaform.lab.plan import inventory_group_data, inventory_hosts\n"
        "from kafkaform.lab.state import load_state\n\n"
        "_state = load_state()\n"
        f"_extra = {hosts or {}!r}\n"
        "_hosts = [(name, {**data, **_extra.get(name, {})}) for name, data in "
        "inventory_hosts(_state)]\n"
        f"lab = (_hosts, {{**inventory_group_data(_state), **{overrides!r}}})\n"
    )
    return str(path)


def on_node(node: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(*ssh_command(node), command, check=check)


def changed_operations(result: dict) -> list[str]:
    return [
        f"{op['name']} on {', '.join(op['success'])}"
        for op in result["results"]["operations"]
        if op["success"]
    ]


INSTALL_WORDS = ("Install", "Download", "Upload", "Unpack", "unpack")


def installs(result: dict) -> list[str]:
    """Changed operations that installed or fetched something (none on a baked host)."""
    return [op for op in changed_operations(result) if any(w in op for w in INSTALL_WORDS)]


def lab_cluster() -> Cluster:
    inventory = load_inventory(str(REPO / LAB_INVENTORY))
    return Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)


@pytest.fixture(scope="session")
def lab_allowed() -> None:
    require(os.geteuid() == 0, "the local lab needs root")
    require(sys.platform.startswith("linux"), "the local lab needs Linux")
    require(shutil.which("apt-get") is not None, "the local lab installs its tools with apt-get")


class LabsMade:
    """How many labs fresh_lab started in this run: a lab kept for sharing is only the lab
    that is up while this count has not moved."""

    count = 0


def fresh_lab(nodes: int, monitoring: bool = False, box: Path | None = None) -> Cluster:
    """A new lab of ``nodes`` brokers (and the monitoring host if ``monitoring``), started
    from the lab box ``box`` if given."""
    LabsMade.count += 1
    kafkaform("lab", "down")
    kafkaform(
        "lab",
        "up",
        "--nodes",
        str(nodes),
        *(["--monitoring"] if monitoring else []),
        *(["--box", str(box)] if box else []),
    )
    return lab_cluster()


class PlainLab:
    """The lab plain_lab deployed last, and the LabsMade.count it was made at."""

    cluster: Cluster | None = None
    made: int = 0


def plain_lab(nodes: int = 3) -> Cluster:
    """A lab of ``nodes`` brokers installed from bare hosts and deployed with the lab's own
    inventory: shared by the modules that read it or leave it as they found it (run in a row:
    SHARED_LABS), made again once another lab replaced it or one of its hosts is down
    (a test that kills one does so last)."""
    kept = PlainLab.cluster
    if (
        kept is not None
        and PlainLab.made == LabsMade.count
        and len(kept.nodes) == nodes
        and all(row["running"] and row["ssh"] for row in status())
    ):
        print(f"sharing the deployed {nodes}-node lab")
        return kept
    cluster = fresh_lab(nodes)
    result = deploy()
    assert result["results"]["totals"]["error"] == 0
    PlainLab.cluster, PlainLab.made = cluster, LabsMade.count
    return cluster


class LabBox(NamedTuple):
    catalog: Path  # the metadata.json listing the box: fresh_lab(..., box=catalog)
    bake: dict  # the bake's `pyinfra --json` result


@pytest.fixture(scope="session")
def lab_box(lab_allowed, tmp_path_factory) -> Iterator[LabBox]:
    """One lab box per run: a fresh lab host baked (deploys/base_box.py) and exported with
    `kafkaform box package --provider lab`. Modules whose subject is not the installation
    start their hosts from it, so their deploys only configure (measured on the lab: a
    3-node deploy 27 s instead of 85 s).
    Each bake is another box: its unpacked rootfs is removed at the end of the run."""
    output = tmp_path_factory.mktemp("lab-boxes")
    fresh_lab(1)
    started = time.monotonic()
    # The lab inventory gives every host a role: the bake is asked for explicitly.
    baked = json.loads(
        run(
            str(BIN / "pyinfra"),
            "-y",
            "--json",
            "--data",
            "base_box=true",
            LAB_INVENTORY,
            "deploys/base_box.py",
        ).stdout
    )
    assert baked["results"]["totals"]["error"] == 0
    bake_done = time.monotonic()
    kafkaform(
        "box", "package", "--provider", "lab", "--node", "kafka-1", "--output-dir", str(output)
    )
    print(f"lab bake {bake_done - started:.1f}s, export {time.monotonic() - bake_done:.1f}s")
    catalog = output / "metadata.json"
    yield LabBox(catalog, baked)
    root = box_root(resolve_lab_box(catalog)[1], get_lab_dir())
    state = load_state()
    if state is not None and state.get("base") == str(root):
        kafkaform("lab", "down")  # its hosts' disks lie on the rootfs removed next
    remove_tree(root)


@pytest.fixture(scope="session")
def docker_ready(lab_allowed):
    """A Docker engine (started here, and stopped again, if none runs), the systemd image,
    Vagrant, and the local artifact mirror the dev nodes install from."""
    from kafkaform import artifacts, dockerd, settings

    require(shutil.which("vagrant") is not None, "Vagrant is not installed (.ci/bootstrap)")
    started = dockerd.ensure_running()
    try:
        dockerd.ensure_base_image()
        artifacts.build_distribution(settings.KAFKA_VERSION, settings.SCALA_VERSION)
        artifacts.fetch_jmx_agent(settings.JMX_EXPORTER_VERSION)
        yield
    finally:
        if started:
            dockerd.stop()
