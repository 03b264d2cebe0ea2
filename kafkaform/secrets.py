"""Secrets on the control machine: where a cluster's generated passwords live, and how a
password an inventory names (an environment variable, a file) is read.

The inventory never holds a password: ``kafka_users`` entries name a variable or a file, and
the passwords kafkaform needs for itself (the brokers' SCRAM user, ZooKeeper's users, the
monitoring's basic auth) are generated once and kept under the cluster's ``pki_dir``, mode 0600
in a 0700 directory, beside its CA. A value read here is handed to the deploy's secret uploads
(deploys.tasks.host_files.put_secret) and never printed.
"""

from __future__ import annotations

import os
import re
import secrets as random_source
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SECRET_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
GENERATED_BYTES = 24  # 32 URL-safe characters: no quoting needed in JAAS or properties files


class SecretError(ValueError):
    """A password cannot be had; the message names where it was looked for, never a value."""


def pki_dir(settings: Mapping[str, Any]) -> Path:
    """The control machine's directory of this cluster's CA, certificates and passwords."""
    configured = settings.get("pki_dir")
    if configured:
        return Path(str(configured)).expanduser()
    return Path.home() / ".kafkaform" / str(settings["cluster_name"])


def private_dir(path: Path) -> Path:
    """``path`` created if missing, and narrowed to its owner (0700) either way."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str | bytes) -> None:
    """``text`` into ``path``, readable by its owner only from the first byte on. The file is
    replaced at once (a reader never sees half of it), through a temporary file of its own
    so that two kafkaform processes never write into the same one."""
    private_dir(path.parent)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode() if isinstance(text, str) else text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_private(path: Path) -> str:
    """A file kafkaform wrote with write_private; narrowed back to 0600 if someone (a restore
    from a backup, a copy) widened it."""
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text()


def generated(settings: Mapping[str, Any], name: str) -> str:
    """The cluster's password ``name``, made on first use and the same on every later run
    (also when two runs make it at once: the first one written wins, the other reads it)."""
    if not SECRET_NAME_RE.match(name):
        raise ValueError(f"not a secret name: {name!r}")
    path = private_dir(pki_dir(settings)) / "secrets" / name
    if not path.exists():
        private_dir(path.parent)
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", dir=path.parent)
        with os.fdopen(fd, "w") as out:
            out.write(random_source.token_urlsafe(GENERATED_BYTES) + "\n")
        try:
            os.link(temp, path)  # fails if another run made it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    value = read_private(path).strip()
    if not value:
        raise SecretError(f"generated password {name}: {path} is empty (delete it to make one)")
    return value


def named(spec: Mapping[str, Any], where: str) -> str:
    """The password an inventory entry names with ``password_env`` (an environment variable
    on the control machine) or ``password_file`` (a file there); ``where`` names the entry in
    errors."""
    if "password_env" in spec:
        variable = str(spec["password_env"])
        value = os.environ.get(variable)
        if not value:
            raise SecretError(f"{where}: environment variable {variable} is not set or empty")
        return value
    if "password_file" in spec:
        path = Path(str(spec["password_file"])).expanduser()
        try:
            value = path.read_text().rstrip("\r\n")  # the line end, not the password's spaces
        except OSError as exc:
            raise SecretError(
                f"{where}: cannot read password_file {path}: {exc.strerror}"
            ) from None
        if not value:
            raise SecretError(f"{where}: password_file {path} is empty")
        return value
    raise SecretError(f"{where}: give password_env or password_file")
