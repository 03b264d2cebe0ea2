"""Where the lab lives on this machine: its directory, the state file and the lab lock."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from kafkaform.hostops import Progress, locked, read_json, write_atomic
from kafkaform.lab.plan import BRIDGE, GATEWAY, MIRROR_URL, PREFIX, LabError, State

DEFAULT_LAB_DIR = "/var/lib/kafkaform/lab"


def get_lab_dir(lab_dir: str | Path | None = None) -> Path:
    chosen = lab_dir or os.environ.get("KAFKAFORM_LAB_DIR") or DEFAULT_LAB_DIR
    return Path(chosen).absolute()


def state_path(lab_dir: str | Path | None = None) -> Path:
    return get_lab_dir(lab_dir) / "state.json"


def node_dir(name: str, lab_dir: str | Path | None = None) -> Path:
    return get_lab_dir(lab_dir) / "nodes" / name


def ssh_key_path(lab_dir: str | Path | None = None) -> Path:
    """The lab's own login key (root on every host)."""
    return get_lab_dir(lab_dir) / "id_ed25519"


def new_state(lab_dir: str | Path | None = None) -> State:
    lab = get_lab_dir(lab_dir)
    return {
        "bridge": BRIDGE,
        "gateway": GATEWAY,
        "prefix": PREFIX,
        "ssh_key": str(ssh_key_path(lab)),
        "known_hosts": str(lab / "known_hosts"),
        "mirror_url": MIRROR_URL,
        "mirror_pid": None,
        "mirror_root": None,
        "nodes": [],
    }


def load_state(lab_dir: str | Path | None = None) -> State | None:
    """The running lab's state, or None when no lab is up."""
    try:
        return read_json(state_path(lab_dir))
    except ValueError as exc:
        raise LabError(f"{exc}; run `kafkaform lab down`") from exc


def require_state(lab_dir: str | Path | None = None) -> State:
    state = load_state(lab_dir)
    if state is None:
        raise LabError(f"no lab is up (no {state_path(lab_dir)}); run `kafkaform lab up`")
    return state


def save_state(state: State, lab_dir: str | Path | None = None) -> None:
    path = state_path(lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(state, indent=2) + "\n")


@contextlib.contextmanager
def lab_lock(lab: Path, progress: Progress) -> Iterator[None]:
    """One lab command at a time (the lock is not re-entrant: take it once per command)."""
    with locked(lab / ".lock", progress, "waiting for another kafkaform lab command to finish"):
        yield
