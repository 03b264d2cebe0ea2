"""The ZooKeeper server mode on a host, read with the ``srvr`` four-letter word."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class ZooKeeperMode(FactBase):
    """
    Returns ``"leader"``, ``"follower"``, ``"standalone"`` (or another mode ZooKeeper
    reports), or ``None`` when no server answers on the port.
    """

    requires_command = "bash"

    def command(self, port: int = 2181, ca: str | None = None) -> str:
        if ca:  # a secured server answers on its TLS port only
            return (
                f"printf srvr | timeout 10 openssl s_client -quiet -connect 127.0.0.1:{port} "
                f"-CAfile {shlex.quote(ca)} -verify_return_error 2>/dev/null || true"
            )
        # bash's /dev/tcp: no nc/telnet needed on minimal hosts.
        return (
            f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && printf srvr >&3 && cat <&3' "
            "2>/dev/null || true"
        )

    def process(self, output: list[str]) -> str | None:
        for line in output:
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None
