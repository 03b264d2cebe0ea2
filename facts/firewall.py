"""What the host firewall's deploy (deploys/tasks/firewall.py) reads on a host."""

from __future__ import annotations

from pyinfra.api import FactBase

from kafkaform.firewall import TABLE, digest_of


class FirewallTable(FactBase):
    """
    Returns the digest the live ``inet kafkaform`` table carries (kafkaform.firewall's
    marker), ``""`` when the table is loaded without one, or ``None`` when it is not loaded
    (or nft is not installed).
    """

    def command(self) -> str:
        return (
            f"if out=$(nft list table inet {TABLE} 2>/dev/null); then "
            'echo loaded; printf "%s\\n" "$out"; else echo absent; fi'
        )

    def process(self, output: list[str]) -> str | None:
        if not output or output[0].strip() != "loaded":
            return None
        return digest_of("\n".join(output[1:])) or ""


class SshSession(FactBase):
    """
    Returns ``(client address, server port)`` of the SSH connection the deploy runs over, as
    the host sees it (SSH_CONNECTION), or ``None`` when the connection is not SSH. sudo drops
    SSH_CONNECTION from the environment, so it is read from the nearest process above that
    still has it.
    """

    def command(self) -> str:
        return (
            'p=$$; while [ "${p:-1}" -gt 1 ]; do '
            "v=$(tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p'); "
            '[ -n "$v" ] && { echo "$v"; break; }; '
            "p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null); done; true"
        )

    def process(self, output: list[str]) -> tuple[str, int] | None:
        fields = output[0].split() if output else []
        if len(fields) != 4 or not fields[3].isdigit():
            return None
        return fields[0], int(fields[3])
