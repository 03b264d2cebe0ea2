"""Render candidate -> check -> place -> reload, for every config that has a checker.

The placing step is planned whenever a live file differs from what this run wants (read at
prepare time), not only when a candidate changed in this run: a run that failed or was
interrupted after writing the candidates is finished by the next plain run, and a host with
nothing to do gets no operation at all (no change reported).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.tasks.host_files import ensure_directories, has_file, put_text
from kafkaform.candidates import Candidate, place_script, staging_dir


def place_checked(
    what: str,
    component: str,
    candidates: Sequence[Candidate],
    check: str,
    checker: str,
    activate: str | None = None,
) -> OperationMeta | None:
    """Stage ``candidates`` in ``component``'s staging directory; if any live file differs,
    run ``check`` (a shell command reading the staging directory) and place them only if it
    passes, then ``activate``. Returns the placing operation, or None if nothing differs."""
    stage = staging_dir(component)
    # Root's only: candidates may hold secrets (Alertmanager receivers).
    paths = sorted({stage, *(os.path.dirname(f"{stage}/{c.name}") for c in candidates)})
    ensure_directories(paths, mode="700", user="root", group="root")
    for c in candidates:
        put_text(f"Candidate for {c.dest}", f"{stage}/{c.name}", c.text, c.mode, c.user, c.group)
    if all(has_file(c.dest, c.text, c.mode, c.user, c.group) for c in candidates):
        return None
    return server.shell(
        name=f"Check {what} with {checker}, then put it in place",
        commands=[place_script(host.name, what, stage, candidates, check, checker, activate)],
    )
