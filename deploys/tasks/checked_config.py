"""Render candidate -> check -> place -> reload, for every config that has a checker.

The placing step is planned whenever a live file differs from what this run wants (read at
prepare time), not only when a candidate changed in this run: a run that failed or was
interrupted after writing the candidates is finished by the next plain run, and a host with
nothing to do gets no operation at all (no change reported).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from io import StringIO

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations import files, server

from kafkaform.candidates import Candidate, place_script, staging_dir


def _live_matches(candidate: Candidate) -> bool:
    if host.get_fact(Sha256File, path=candidate.dest) != candidate.sha256:
        return False
    live = host.get_fact(File, path=candidate.dest) or {}
    return (live.get("mode"), live.get("user"), live.get("group")) == (
        int(f"{int(candidate.mode, 8):o}"),
        candidate.user,
        candidate.group,
    )


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
    for path in sorted({stage, *(os.path.dirname(f"{stage}/{c.name}") for c in candidates)}):
        files.directory(name=f"Directory {path}", path=path, user="root", group="root", mode="700")
    for c in candidates:
        files.put(
            name=f"Candidate for {c.dest}",
            src=StringIO(c.text),
            dest=f"{stage}/{c.name}",
            mode=c.mode,
            user=c.user,
            group=c.group,
        )
    if all(_live_matches(c) for c in candidates):
        return None
    return server.shell(
        name=f"Check {what} with {checker}, then put it in place",
        commands=[place_script(host.name, what, stage, candidates, check, checker, activate)],
    )
