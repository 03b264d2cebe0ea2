"""The Prometheus JMX exporter agent from Maven Central (its official channel), kept in Maven
layout under the cache's mirror, checked against Central's .sha1 and kafkaform's sha256."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from kafkaform import settings
from kafkaform.artifacts.checksums import file_digest
from kafkaform.artifacts.errors import ArtifactError
from kafkaform.artifacts.files import write_text_atomic
from kafkaform.artifacts.maven import DEPENDENCY_PLUGIN_VERSION, VERSION_RE, mvn_errors, run_mvn
from kafkaform.artifacts.places import maven_path, mirror_root

JMX_AGENT = ("io.prometheus.jmx", "jmx_prometheus_javaagent")


def jmx_agent_url(maven_mirror: str, version: str) -> str:
    return f"{maven_mirror.rstrip('/')}/{maven_path(*JMX_AGENT, version)}"


def _cached(jar: Path, sha256_file: Path, known: str | None) -> bool:
    if not (jar.is_file() and sha256_file.is_file()):
        return False
    actual = file_digest(jar, "sha256")
    return sha256_file.read_text().split()[0] == actual and known in (None, actual)


def fetch_jmx_agent(
    version: str = settings.JMX_EXPORTER_VERSION,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = print,
) -> Path:
    """The JMX exporter jar in Maven layout under ``<mirror>/maven2``, with .sha1 and .sha256.

    mvn -C checks the download against the .sha1 Maven Central publishes; a version whose
    sha256 kafkaform knows is also held to that, so the mirror serves only what was checked.
    """
    if not VERSION_RE.match(version):
        raise ValueError(f"JMX exporter version must look like 1.0.1, got {version!r}")
    jar = mirror_root(cache_dir) / "maven2" / maven_path(*JMX_AGENT, version)
    known = settings.JMX_EXPORTER_SHA256.get(version)
    sha256_file = jar.with_name(jar.name + ".sha256")
    if _cached(jar, sha256_file, known):
        progress(f"Using cached {jar}")
        return jar
    progress(f"Fetching {':'.join(JMX_AGENT)}:{version} with mvn from Maven Central")
    with tempfile.TemporaryDirectory(prefix="kafkaform-jmx-") as tmp:
        proc = run_mvn(
            [
                "-C",  # strict checksums: fail unless the jar matches Central's published .sha1
                f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN_VERSION}:copy",
                f"-Dartifact={':'.join(JMX_AGENT)}:{version}",
                f"-DoutputDirectory={tmp}",
            ],
            cwd=Path(tmp),
        )
        fetched = Path(tmp) / jar.name
        if proc.returncode != 0 or not fetched.is_file():
            raise ArtifactError(
                f"mvn could not fetch the JMX exporter {version} (exit {proc.returncode})\n"
                f"{mvn_errors(proc.stdout)}"
            )
        sha256 = file_digest(fetched, "sha256")
        if known and sha256 != known:
            raise ArtifactError(f"{jar.name} from Maven has sha256 {sha256}, expected {known}")
        jar.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fetched, jar.with_name(f".{jar.name}.tmp"))
        os.replace(jar.with_name(f".{jar.name}.tmp"), jar)
    write_text_atomic(jar.with_name(jar.name + ".sha1"), file_digest(jar, "sha1") + "\n")
    # Written last: its presence means the jar beside it is complete and checked.
    write_text_atomic(sha256_file, f"{sha256}  {jar.name}\n")
    progress(f"Stored {jar}")
    return jar
