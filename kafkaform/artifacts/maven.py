"""Running Maven (``mvn``) for kafkaform's artifacts, and reading its errors.

Maven is how artifacts come from Maven Central, or from the mirror that a site's
``~/.m2/settings.xml`` names, with Maven's own checksum checks and cache.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from kafkaform.artifacts.errors import ArtifactError

DEPENDENCY_PLUGIN_VERSION = "3.8.1"
# Versions end up in XML and in paths: only plain dotted numbers pass.
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")  # Maven 3.8 emits colour resets even in batch mode


def run_mvn(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``mvn -q -B <args>`` in ``cwd``, stdout and stderr together in ``.stdout``; never raises
    for Maven's own failure (the caller words it), only when mvn is not installed."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ArtifactError("mvn not found on PATH: install Maven (Debian: apt-get install maven)")
    return subprocess.run(
        [mvn, "-q", "-B", "-Dstyle.color=never", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def mvn_errors(output: str) -> str:
    """The lines of Maven's output that name the cause (a missing artifact, an unreachable
    repository), without the generic block of help links Maven prints after them."""
    lines = [_ANSI_RE.sub("", line).rstrip() for line in output.splitlines()]
    errors: list[str] = []
    for line in lines:
        if line == "[ERROR]" and errors:
            break
        if line.startswith("[ERROR]"):
            errors.append(line)
    return "\n".join(errors or lines[-25:])
