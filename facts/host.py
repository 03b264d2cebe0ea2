"""Host facts pyinfra does not ship."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class ContainerVirtualization(FactBase):
    """
    Returns the container technology the host runs in (``"systemd-nspawn"``, ``"docker"``,
    ...) or ``None`` on a VM or bare metal. Kernel tunables cannot be set from inside a
    container, so the deploy writes them but does not apply them there.
    """

    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        value = output[0].strip() if output else ""
        return None if value in ("", "none") else value


class Account(FactBase):
    """
    Returns ``{"group": <primary group name>, "home": ..., "shell": ...}`` for a user, or
    ``None`` if there is none. One cheap lookup: pyinfra's own Users fact reads every account
    of the host with lastlog and shadow, about half a second per call.
    """

    def command(self, user: str) -> str:
        user = shlex.quote(user)
        return (
            f"getent passwd {user} | sed 's/^/passwd /'; "
            f"id -gn {user} 2>/dev/null | sed 's/^/group /' || true"
        )

    def process(self, output: list[str]) -> dict | None:
        found: dict[str, str] = {}
        for line in output:
            kind, _, rest = line.strip().partition(" ")
            if kind == "passwd":
                fields = rest.split(":")
                if len(fields) >= 7:
                    found.update(home=fields[5], shell=fields[6])
            elif kind == "group" and rest:
                found["group"] = rest
        return found if {"home", "shell", "group"} <= found.keys() else None
