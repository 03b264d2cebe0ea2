"""The kafkaform ZooKeeper user's password kept on a ZooKeeper host (generated once when the
setting zookeeper_admin_password is unset; kafkaform.ensemble_config.SECRET_FILE)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class AdminSecret(FactBase):
    """Returns the password in ``path`` (root only), or ``None`` when there is none."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return f"if [ -s {q} ]; then head -n 1 {q}; fi"

    def process(self, output: list[str]) -> str | None:
        value = output[0].strip() if output else ""
        return value or None
