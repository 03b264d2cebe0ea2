"""What Kafka distributions a host has installed, and which one is current."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

MARKER = ".kafkaform-sha512"  # written last by the install, so a half-extracted tree never counts


class KafkaInstallations(FactBase):
    """
    Returns ``{"distributions": {"kafka_2.13-3.9.2": "<sha512>"}, "current": "kafka_2.13-3.9.2"
    or None}``: the distributions fully installed under ``install_root``, by their full name
    (``kafka_<scala>-<version>``, the tarball's top directory and the name the install gives
    its directory), so the same Kafka version built for another Scala is another distribution.
    """

    @staticmethod
    def default() -> dict:
        return {"distributions": {}, "current": None}

    def command(self, install_root: str) -> str:
        root = shlex.quote(install_root)
        return (
            # "current" is a link to one of them, not another distribution.
            f'for m in {root}/*/{MARKER}; do d=$(dirname "$m"); [ -f "$m" ] && [ ! -L "$d" ] && '
            f'echo "installed $(basename "$d") $(cat "$m")"; done; '
            f'echo "current $(readlink {root}/current || true)"'
        )

    def process(self, output: list[str]) -> dict:
        distributions: dict[str, str] = {}
        current = None
        for line in output:
            kind, _, rest = line.strip().partition(" ")
            if kind == "installed":
                name, _, sha512 = rest.partition(" ")
                distributions[name] = sha512
            elif kind == "current" and rest.strip():
                current = rest.strip().rstrip("/").rsplit("/", 1)[-1]
        return {
            "distributions": distributions,
            "current": current if current in distributions else None,
        }
