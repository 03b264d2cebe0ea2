"""What Kafka distributions a host has installed, and which one is current."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

MARKER = ".kafkaform-sha512"  # written last by the install, so a half-extracted tree never counts


class KafkaInstallations(FactBase):
    """
    Returns ``{"versions": {"3.9.2": "<sha512>"}, "current": "3.9.2" or None}`` for the
    distributions fully installed under ``install_root``.
    """

    @staticmethod
    def default() -> dict:
        return {"versions": {}, "current": None}

    def command(self, install_root: str) -> str:
        root = shlex.quote(install_root)
        return (
            f'for m in {root}/*/{MARKER}; do [ -f "$m" ] && '
            f'for j in $(dirname "$m")/libs/kafka_*.jar; do '
            f'echo "version $j $(cat "$m")"; done; done; '
            f'echo "current $(readlink {root}/current || true)"'
        )

    def process(self, output: list[str]) -> dict:
        versions: dict[str, str] = {}
        current_dir = None
        by_dir: dict[str, str] = {}
        for line in output:
            kind, _, rest = line.partition(" ")
            if kind == "version":
                jar, _, sha = rest.partition(" ")
                name = jar.rsplit("/", 1)[-1]
                # kafka_<scala>-<version>.jar is the broker jar; skip -sources/-test jars
                stem = name[: -len(".jar")]
                if stem.count("-") != 1:
                    continue
                version = stem.split("-", 1)[1]
                versions[version] = sha
                by_dir[jar.split("/libs/")[0].rstrip("/").rsplit("/", 1)[-1]] = version
            elif kind == "current" and rest.strip():
                current_dir = rest.strip().rstrip("/").rsplit("/", 1)[-1]
        return {"versions": versions, "current": by_dir.get(current_dir or "")}
