"""The directories a deploy writes into and the files directly in them, read in one command."""

from __future__ import annotations

import os
import shlex

from pyinfra.api import FactBase

DIGEST_LIMIT = 1 << 20  # what the deploy writes (configs, units, scripts) is far smaller


class Listing(FactBase):
    """
    Returns ``{directory: {"mode": 0o750, "user": ..., "group": ..., "files": {path: {"mode":
    0o640, "user": ..., "group": ..., "sha256": ...}}}}`` for those of ``directories`` that
    exist (their regular files only: no links, no subdirectories). Files of DIGEST_LIMIT bytes
    or more get no sha256 (so they never count as already written): a log directory's
    rotated files are gigabytes a no-op deploy must not read.
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, directories: tuple[str, ...]) -> str:
        parts = []
        for directory in directories:
            d = shlex.quote(directory)
            files = f"find {d} -mindepth 1 -maxdepth 1 -type f"
            small = f"{files} -size -{DIGEST_LIMIT}c"
            parts.append(
                f"if [ -d {d} ]; then find {d} -maxdepth 0 -printf 'dir %m %u %g %p\\n'; "
                f"{files} -printf 'file %m %u %g %p\\n'; {small} -exec sha256sum {{}} +; fi"
            )
        # A listing that fails (a file it cannot read) leaves those files unknown: they are
        # then written again, never skipped, so the fact itself need not fail.
        return "; ".join([*parts, "true"])

    def process(self, output: list[str]) -> dict:
        found: dict[str, dict] = {}
        digests: dict[str, str] = {}
        for line in output:
            kind, _, rest = line.partition(" ")
            if kind in ("dir", "file"):
                mode, user, group, path = rest.split(" ", 3)
                attributes = {"mode": int(mode, 8), "user": user, "group": group}
                if kind == "dir":
                    found.setdefault(path, {"files": {}}).update(attributes)
                else:
                    directory = found.setdefault(os.path.dirname(path), {"files": {}})
                    directory["files"][path] = attributes
            else:
                digest, _, path = line.partition("  ")
                digests[path] = digest
        for directory in found.values():
            directory["files"] = {
                path: {**attributes, "sha256": digests[path]}
                for path, attributes in directory["files"].items()
                if path in digests
            }
        return found
