"""A lab host's disk (its base and its own changes) written as a lab box, and files read from
that disk while the host runs or not."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kafkaform import identity
from kafkaform.hostops import Progress, remove_tree, run, umount_under
from kafkaform.lab.nodes import running_lab, stop_locked
from kafkaform.lab.rootfs import TAR_FLAGS, node_base
from kafkaform.lab.state import get_lab_dir, node_dir, require_state

BOX_INFO = "etc/kafkaform/box.json"  # inside a lab box: what it is (not which host)


def export_rootfs(
    name: str,
    dest: Path,
    info: Mapping[str, Any],
    lab_dir: str | Path | None = None,
    progress: Progress = print,
) -> None:
    """Stop host ``name`` and write its root filesystem (base + its changes) as a lab box.

    The lab lock is held from the stop to the end of the export, so no other lab command
    boots the host (or changes its disk) in between. Files the host wrote after its bake's
    identity scrub (shutdown journal, host keys, a machine-id) are left out, so every host
    started from the box makes its own.
    """
    with running_lab(lab_dir, progress) as (lab, state):
        stop_locked(state, name, lab, progress=progress)
        home = node_dir(name, lab)
        view, extra = home / "export", home / "export-extra"
        umount_under(view)
        view.mkdir(exist_ok=True)
        remove_tree(extra)
        # Under another name, so the excludes below (which see names before the rename)
        # drop the host's copies but not these.
        (extra / "x-etc" / "kafkaform").mkdir(parents=True)
        (extra / "x-etc" / "machine-id").write_text("")
        (extra / "x-etc" / "kafkaform" / "box.json").write_text(json.dumps(dict(info)) + "\n")
        # A read-only overlay of the host's changes on its base: the host's view of its disk.
        lower = f"{home / 'upper'}:{node_base(state, lab)}"
        run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}", str(view)])
        progress(f"exporting {name}'s root filesystem to {dest}")
        excludes = [*identity.made_at_boot(), f"./{BOX_INFO}"]
        try:
            run(
                ["tar", "--zstd", "-cf", str(dest), *TAR_FLAGS, "-C", str(view)]
                + [f"--exclude={pattern}" for pattern in excludes]
                + [".", "-C", str(extra), "--transform=flags=r;s,^\\./x-etc/,./etc/,"]
                + ["./x-etc/machine-id", "./x-etc/kafkaform/box.json"]
            )
        finally:
            umount_under(view)
            remove_tree(extra)
            view.rmdir()


def read_link(name: str, path: str, lab_dir: str | Path | None = None) -> str | None:
    """The target of symlink ``path`` on host ``name``'s disk (its own changes over its
    base, as the overlay shows them), or None when there is no such link."""
    lab = get_lab_dir(lab_dir)
    relative = path.lstrip("/")
    for layer in (node_dir(name, lab) / "upper", node_base(require_state(lab), lab)):
        found = layer / relative
        try:
            mode = found.lstat().st_mode
        except FileNotFoundError:
            continue
        # A 0/0 character device is the overlay's mark for a file the host deleted.
        if stat.S_ISCHR(mode) and found.lstat().st_rdev == 0:
            return None
        return os.readlink(found) if stat.S_ISLNK(mode) else None
    return None
