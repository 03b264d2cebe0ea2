"""The lab as a whole and one host at a time: up, down, start, stop, kill, status, ssh.

Each command takes the lab lock once and holds it to the end.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kafkaform.boxcatalog import BoxError, resolve_lab_box
from kafkaform.hostops import Progress, is_mounted, remove_tree, wait_exit
from kafkaform.lab.mirror import build_artifacts, ensure_mirror, serving_root, stop_mirror
from kafkaform.lab.network import ensure_network, remove_network, remove_stale_veth
from kafkaform.lab.nodes import (
    container_init_pid,
    force_stop,
    nspawn_pid,
    running_lab,
    ssh_answers,
    start_nodes,
    stop_locked,
    unmount_disk,
)
from kafkaform.lab.plan import (
    MAX_NODES,
    LabError,
    State,
    find_node,
    kafka_nodes,
    with_nodes,
)
from kafkaform.lab.rootfs import (
    BASE_NAME,
    base_dir,
    boxes_dir,
    ensure_base,
    ensure_box_root,
    ensure_prerequisites,
    lab_public_key,
    node_base,
    require_root,
)
from kafkaform.lab.state import (
    get_lab_dir,
    lab_lock,
    load_state,
    new_state,
    node_dir,
    require_state,
    save_state,
    state_path,
)


def up(
    nodes: int,
    *,
    with_artifacts: bool = True,
    lab_dir: str | Path | None = None,
    timeout: float = 120.0,
    progress: Progress = print,
    monitoring: bool = False,
    box: Path | None = None,
    box_version: str | None = None,
) -> State:
    """Bring up (or grow) the lab to ``nodes`` hosts (plus the monitoring host if
    ``monitoring``); running hosts are left alone. ``box`` (a lab box file or its catalog)
    starts new hosts from a baked rootfs instead of the debootstrap base."""
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    started = time.monotonic()
    ensure_prerequisites(progress)
    lab = get_lab_dir(lab_dir)
    with lab_lock(lab, progress):
        public_key = lab_public_key(lab)
        state = with_nodes(load_state(lab) or new_state(lab), nodes, monitoring)
        if box is not None:
            use_box(state, lab, box, box_version, progress)
        # A lab started from a box keeps growing from it; else the base, built while the
        # artifacts are (they do not depend on each other, and each takes about a minute).
        prepare_base_and_artifacts(
            public_key if not state.get("base") else None, with_artifacts, lab, progress
        )
        ensure_network(progress)
        ensure_mirror(state, serving_root(lab), lab, progress)
        save_state(state, lab)
        wanted = [node["name"] for node in state["nodes"]]
        if len(kafka_nodes(state)) > nodes:
            progress(f"note: the lab keeps its {len(wanted)} nodes (`lab down` removes them)")
        booted = start_nodes(state, wanted, lab, timeout, progress)
    already = len(wanted) - len(booted)
    progress(
        f"lab up: {len(wanted)} nodes ({len(booted)} booted, {already} already running) "
        f"in {time.monotonic() - started:.1f}s; try `pyinfra inventories/lab.py exec -- hostname`"
    )
    return state


def prepare_base_and_artifacts(
    public_key: str | None, with_artifacts: bool, lab: Path, progress: Progress
) -> None:
    """Build the base rootfs (when ``public_key`` is given: the lab needs one) and the
    artifacts (``with_artifacts``) at the same time; the first failure is raised once both
    are done."""
    jobs = []
    if public_key is not None:
        jobs.append(lambda: ensure_base(public_key, lab, progress))
    if with_artifacts:
        jobs.append(lambda: build_artifacts(progress))
    if len(jobs) < 2:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="lab-up") as pool:
        futures = [pool.submit(job) for job in jobs]
    for future in futures:
        future.result()


def use_box(state: State, lab: Path, box: Path, version: str | None, progress: Progress) -> None:
    try:
        path, sha256 = resolve_lab_box(box, version)
    except BoxError as exc:
        raise LabError(str(exc)) from None
    root = ensure_box_root(path, sha256, lab, progress)
    disks = lab / "nodes"
    if node_base(state, lab) != root and disks.is_dir() and any(disks.iterdir()):
        raise LabError(
            f"the lab's hosts run from {node_base(state, lab)}: `kafkaform lab down` first"
        )
    state["base"] = str(root)


def start_node(
    name: str, lab_dir: str | Path | None = None, timeout: float = 120.0, progress: Progress = print
) -> None:
    """Boot a stopped, killed or died node again on its existing disk."""
    with running_lab(lab_dir, progress) as (lab, state):
        find_node(state, name)
        # After a machine restart the bridge, NAT and mirror are gone too.
        ensure_network(progress)
        if state.get("mirror_root") and Path(state["mirror_root"]).is_dir():
            ensure_mirror(state, Path(state["mirror_root"]), lab, progress)
        if not start_nodes(state, [name], lab, timeout, progress):
            progress(f"{name} is already running")


def stop_node(
    name: str, lab_dir: str | Path | None = None, timeout: float = 90.0, progress: Progress = print
) -> None:
    """Shut a node down cleanly (systemd powers off); its disk is kept."""
    with running_lab(lab_dir, progress) as (lab, state):
        stop_locked(state, name, lab, timeout, progress)


def kill_node(name: str, lab_dir: str | Path | None = None, progress: Progress = print) -> None:
    """Crash a node: SIGKILL its systemd (the container's PID 1), as a power cut would."""
    with running_lab(lab_dir, progress) as (lab, state):
        node = find_node(state, name)
        pid = nspawn_pid(name, lab)
        if pid is None:
            raise LabError(f"{name} is not running")
        init = container_init_pid(pid)
        if init is None:
            raise LabError(f"{name}: no container init under systemd-nspawn {pid}")
        # Killing nspawn instead would leave the container running, orphaned.
        os.kill(init, signal.SIGKILL)
        if wait_exit([pid], 30):
            raise LabError(f"{name}: systemd-nspawn {pid} still running 30s after its init died")
        progress(f"killed {name} (init pid {init})")
        node["pid"] = None
        save_state(state, lab)


def wipe_node(name: str, lab_dir: str | Path | None = None, progress: Progress = print) -> None:
    """Delete a stopped or killed node's disk: `lab start` then boots it on a new one, as a
    machine rebuilt from scratch under the same name and address."""
    with running_lab(lab_dir, progress) as (lab, state):
        find_node(state, name)
        if nspawn_pid(name, lab) is not None:
            raise LabError(f"{name} is running: `kafkaform lab kill {name}` or `lab stop` first")
        unmount_disk(name, lab, progress)
        if is_mounted(node_dir(name, lab) / "merged"):
            raise LabError(f"{name}: its disk is still mounted; nothing was deleted")
        remove_tree(node_dir(name, lab))
        progress(f"wiped {name}'s disk; `kafkaform lab start {name}` boots it on a new one")


def down(
    *, purge: bool = False, lab_dir: str | Path | None = None, progress: Progress = print
) -> None:
    """Kill every host (no clean shutdown: its disk is deleted next) and remove the nodes,
    state, mirror, NAT rules and bridge.

    The base rootfs and SSH key stay for a fast next ``up`` unless ``purge``.
    """
    require_root()
    lab = get_lab_dir(lab_dir)
    if not lab.exists():
        remove_network(progress)  # in case a lab directory was deleted by hand
        if purge:
            remove_tree(base_dir(lab))
        progress(f"no lab at {lab}")
        return
    with lab_lock(lab, progress):
        state = load_state(lab) or new_state(lab)
        nodes_root = lab / "nodes"
        names = {node["name"] for node in state["nodes"]}
        if nodes_root.is_dir():
            names |= {entry.name for entry in nodes_root.iterdir()}
        ordered = sorted(names, key=lambda n: (len(n), n))
        # The disks are deleted next, so there is nothing to shut down cleanly for: a clean
        # poweroff of a whole cluster at once waits on brokers whose ZooKeeper is gone.
        for name in ordered:
            if (pid := nspawn_pid(name, lab)) is not None:
                force_stop(pid)
                progress(f"  {name} stopped")
            remove_stale_veth(name)
        for name in ordered:
            remove_tree(node_dir(name, lab))
        if nodes_root.is_dir():
            nodes_root.rmdir()
        stop_mirror(state)
        remove_network(progress)
        for leftover in (state_path(lab), Path(state["known_hosts"]), lab / "mirror.log"):
            leftover.unlink(missing_ok=True)
        if purge:
            base = base_dir(lab)
            progress(f"purging {lab} and the base rootfs {base}")
            for path in [base, *base.parent.glob(f"{BASE_NAME}.partial-*")]:
                remove_tree(path)
            base.parent.joinpath(f"{BASE_NAME}.log").unlink(missing_ok=True)
            remove_tree(boxes_dir(lab))  # lab boxes unpacked by `lab up --box`
            remove_tree(lab)
    progress("lab down" + (" (purged)" if purge else "; base rootfs kept for the next `lab up`"))


def status(lab_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per node: name, ip, pid, running, ssh."""
    state = load_state(lab_dir)
    if state is None:
        return []
    rows = []
    for node in state["nodes"]:
        pid = nspawn_pid(node["name"], lab_dir)
        running = pid is not None
        rows.append(
            {
                "name": node["name"],
                "ip": node["ip"],
                "pid": pid,
                "running": running,
                "ssh": running and ssh_answers(node["ip"], timeout=1.0),
            }
        )
    return rows


def ssh_command(name: str, lab_dir: str | Path | None = None) -> list[str]:
    """The argv prefix that runs a command on node ``name`` as root."""
    state = require_state(lab_dir)
    node = find_node(state, name)
    return [
        "ssh",
        "-i",
        state["ssh_key"],
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={state['known_hosts']}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        f"root@{node['ip']}",
    ]
