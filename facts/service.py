"""Whether a running service still runs what is on disk.

Each kafkaform unit records, as it starts, a digest of the files that service reads (config,
unit, the binaries' install marker) in its runtime directory, /run/kafkaform-<service>/started
(systemd creates it for the service user at start and removes it at stop, on every systemd
kafkaform supports, CentOS 7's 219 included). Comparing it with the
digest of those files now tells a process that runs an older config — left behind by a run that
failed or was interrupted mid-roll — even when this run changes nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from pyinfra.api import FactBase


def runtime_dir(service: str) -> str:
    """The unit's RuntimeDirectory= (a name under /run)."""
    return f"kafkaform-{service}"


def started_file(service: str) -> str:
    return f"/run/{runtime_dir(service)}/started"


def digest_command(files: Iterable[str]) -> str:
    """A shell pipeline printing one digest of the files' contents (missing files count as
    empty). Validation keeps paths to a shell-safe set; quoting is the second line."""
    return f"cat {' '.join(shlex.quote(f) for f in files)} 2>/dev/null | sha256sum | cut -c1-64"


def record_command(service: str, files: Iterable[str]) -> str:
    """What the unit runs, as the service user, before the service starts."""
    return f"{digest_command(files)} > {started_file(service)}"


class ServiceDrift(FactBase):
    """
    Returns ``{"active": bool, "drift": bool, "reload": bool}``: whether the service runs,
    whether it was started with other files than those on disk now, and whether systemd's
    loaded unit is older than the unit file.
    """

    @staticmethod
    def default() -> dict:
        return {"active": False, "drift": False, "reload": False}

    def command(self, service: str, files: tuple[str, ...]) -> str:
        return (
            f"if systemctl is-active --quiet {service}.service; then echo active; "
            f'[ "$({digest_command(files)})" = '
            f'"$(cat {started_file(service)} 2>/dev/null)" ] || echo drift; '
            f"systemctl show -p NeedDaemonReload {service}.service; fi"
        )

    def process(self, output: list[str]) -> dict:
        lines = [line.strip() for line in output]
        return {
            "active": "active" in lines,
            "drift": "drift" in lines,
            "reload": "NeedDaemonReload=yes" in lines,
        }
