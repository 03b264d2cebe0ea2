"""Files and directories the deploy writes: an operation only for those the host does not
already have as wanted (content, mode, owner).

pyinfra's file operations check each path over SSH when they run (stat, its directory, a
checksum: three commands per file and host), which made up most of a no-op deploy. Here each
directory is read once (several in one command) before any operation runs; the host then gets
the same pyinfra operation as before for every path that differs, and none for the others.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Iterable
from io import BytesIO, StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_state
from pyinfra.operations import files, server

from facts.files import Listing
from kafkaform.deploy_support import once_per_run
from kafkaform.templating import render


def matches(have: dict | None, mode: str | None, user: str | None, group: str | None) -> bool:
    """``have`` (from facts.files.Listing) as wanted; None: not checked, as in pyinfra."""
    return (
        have is not None
        and (mode is None or have.get("mode") == int(mode, 8))
        and (user is None or have.get("user") == user)
        and (group is None or have.get("group") == group)
    )


def listed(directories: Iterable[str]) -> dict[str, dict | None]:
    """Each directory's state (None: there is none), read once per host and run, several
    directories in one command."""
    directories = list(dict.fromkeys(directories))
    if ctx_state.get().current_stage != StateStage.Prepare:  # operations may have run
        found = host.get_fact(Listing, directories=tuple(directories))
        return {d: found.get(d) for d in directories}
    known = once_per_run(("listed", host.name), dict)  # this host's greenlet alone uses it
    unknown = [d for d in directories if d not in known]
    if unknown:
        found = host.get_fact(Listing, directories=tuple(unknown))
        known.update({d: found.get(d) for d in unknown})
    return {d: known[d] for d in directories}


def as_bytes(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def has_file(
    dest: str,
    text: str | bytes,
    mode: str | None,
    user: str | None = None,
    group: str | None = None,
) -> bool:
    """The host had ``dest`` with this content, mode and owner before the run began."""
    directory = listed([os.path.dirname(dest)])[os.path.dirname(dest)]
    have = (directory or {"files": {}})["files"].get(dest)
    return (
        matches(have, mode, user, group)
        and have is not None
        and have["sha256"] == hashlib.sha256(as_bytes(text)).hexdigest()
    )


def put_text(
    name: str,
    dest: str,
    text: str,
    mode: str,
    user: str | None = None,
    group: str | None = None,
) -> OperationMeta | None:
    """files.put of ``text``; None (no operation) if ``dest`` already is exactly that."""
    if has_file(dest, text, mode, user, group):
        return None
    return files.put(name=name, src=StringIO(text), dest=dest, mode=mode, user=user, group=group)


@operation()
def secret_file(text: str | bytes, dest: str, mode: str, user: str, group: str):
    """Upload ``text`` to ``dest`` showing nothing of it, not even with --diff.

    The file that receives the upload exists with mode 0600 first, so the secret is never
    readable by others, not for an instant: the SFTP upload truncates and fills it in place
    (as root straight into ``dest``; with sudo into a temporary file of the SSH user's, which
    is copied over). Only then the wanted owner and mode are set.
    """
    temp = host.get_temp_filename(f"secret:{dest}")
    q = shlex.quote
    yield StringCommand(f"umask 077 && mkdir -p {q(os.path.dirname(dest))}")
    yield StringCommand(f"[ -e {q(dest)} ] || install -m 600 /dev/null {q(dest)}")
    yield StringCommand(f'install -m 600 -o "${{SUDO_USER:-$(id -un)}}" /dev/null {q(temp)}')
    yield FileUploadCommand(BytesIO(as_bytes(text)), dest, remote_temp_filename=temp)
    yield StringCommand(f"rm -f {q(temp)}")
    yield StringCommand(f"chown {q(f'{user}:{group}')} {q(dest)} && chmod {q(mode)} {q(dest)}")


def put_secret(
    name: str,
    dest: str,
    text: str | bytes,
    mode: str = "600",
    user: str = "root",
    group: str = "root",
) -> OperationMeta | None:
    """``text`` (a key, a password, a file that holds one) at ``dest`` as ``put_text`` would
    put it, but never shown in the deploy's output (see secret_file). ``mode`` must not let
    others read it."""
    if int(mode, 8) & 0o007:
        raise ValueError(f"{dest}: a secret file's mode {mode} lets every user read it")
    if has_file(dest, text, mode, user, group):
        return None
    return secret_file(
        name=f"{name} (secret: content not shown)",
        text=text,
        dest=dest,
        mode=mode,
        user=user,
        group=group,
    )


def put_template(
    name: str,
    template: str,
    dest: str,
    mode: str = "644",
    user: str | None = None,
    group: str | None = None,
    **variables: Any,
) -> OperationMeta | None:
    """``template`` (under templates/) rendered with ``variables``, as ``put_text``."""
    return put_text(name, dest, render(template, **variables), mode, user, group)


def ensure_directories(
    paths: Iterable[str], mode: str | None = None, user: str | None = None, group: str | None = None
) -> None:
    """Create those of ``paths`` that are missing, and set mode and owner where they differ:
    pyinfra's files.directory for one, the same commands in one operation for several."""
    paths = list(paths)
    have = listed(paths)
    todo = [path for path in paths if not matches(have[path], mode, user, group)]
    if len(todo) == 1:
        files.directory(
            name=f"Directory {todo[0]}", path=todo[0], user=user, group=group, mode=mode
        )
    elif todo:
        server.shell(
            name=f"Directories {', '.join(todo)}",
            commands=[directories_script(todo, mode, user, group)],
        )


def directories_script(
    paths: list[str], mode: str | None, user: str | None, group: str | None
) -> str:
    """What files.directory runs for a path (mkdir -p, chmod, chown), for each of ``paths``."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    steps = [f"mkdir -p {quoted}"]
    if mode:
        steps.append(f"chmod {shlex.quote(mode)} {quoted}")
    if user or group:
        owner = (user or "") + (f":{group}" if group else "")
        steps.append(f"chown {shlex.quote(owner)} {quoted}")
    return " && ".join(steps)


def changed(*ops: OperationMeta | None) -> Callable[[], bool]:
    """Whether any of ``ops`` changed the host (a None, no operation, changed nothing)."""
    queued = [op for op in ops if op is not None]
    return lambda: any(op.did_change() for op in queued)
