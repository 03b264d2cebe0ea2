"""The files and directories a deploy writes, read in one command per directory (or list)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class FilesIn(FactBase):
    """
    Returns ``{path: {"mode": 0o640, "user": "root", "group": "kafka", "sha256": "..."}}`` for
    the regular files directly in ``directory`` (empty if there is none).
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, directory: str) -> str:
        d = shlex.quote(directory)
        return (
            f"if [ -d {d} ]; then "
            f"find {d} -maxdepth 1 -type f -printf 'stat %m %u %g %p\\n'; "
            f"find {d} -maxdepth 1 -type f -exec sha256sum {{}} +; fi"
        )

    def process(self, output: list[str]) -> dict:
        found: dict[str, dict] = {}
        digests: dict[str, str] = {}
        for line in output:
            if line.startswith("stat "):
                mode, user, group, path = line[5:].split(" ", 3)
                found[path] = {"mode": int(mode, 8), "user": user, "group": group}
            else:
                digest, _, path = line.partition("  ")
                digests[path] = digest
        return {
            path: {**attributes, "sha256": digests[path]}
            for path, attributes in found.items()
            if path in digests
        }


class Directories(FactBase):
    """
    Returns ``{path: {"mode": 0o750, "user": "kafka", "group": "kafka"}}`` for those of
    ``paths`` that are directories.
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, paths: tuple[str, ...]) -> str:
        listed = " ".join(shlex.quote(p) for p in paths)
        return f"find {listed} -maxdepth 0 -type d -printf '%m %u %g %p\\n' 2>/dev/null || true"

    def process(self, output: list[str]) -> dict:
        found = {}
        for line in output:
            mode, user, group, path = line.split(" ", 3)
            found[path] = {"mode": int(mode, 8), "user": user, "group": group}
        return found
