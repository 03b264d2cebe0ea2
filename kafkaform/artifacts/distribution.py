"""A Kafka distribution assembled from Maven Central, written as the Apache archive lays it out.

Hosts install Kafka from a tarball laid out like the Apache archive
(``<mirror>/<version>/kafka_<scala>-<version>.tgz`` with a ``.sha512`` beside it). Where the
archive is unreachable but Maven Central is (proxied networks, and every test here),
``build_distribution`` assembles an equivalent tarball from the released jars and writes it in
that same layout, so a plain HTTP server on ``mirror_root()`` stands in for the archive.

Only ``libs/`` matters: services run ``java -cp '<kafka>/libs/*' <main class>`` from our own
units, so no ``bin/`` scripts are shipped. The tools' jar (kafka-tools) is in, with its
ProducerPerformance, TopicCommand and the rest.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from kafkaform import settings
from kafkaform.artifacts.checksums import format_apache_sha512, parse_sha512, sha512_of
from kafkaform.artifacts.errors import ArtifactError
from kafkaform.artifacts.files import write_reproducible_tgz, write_text_atomic
from kafkaform.artifacts.maven import DEPENDENCY_PLUGIN_VERSION, VERSION_RE, mvn_errors, run_mvn
from kafkaform.artifacts.places import distribution_name, mirror_root
from kafkaform.hostops import Progress

Coordinate = tuple[str, str, str]  # (groupId, artifactId, version)

# The logging stack the Apache 3.9 tarball ships. Pinned because Maven's transitive choice
# (reload4j 1.2.19 via slf4j-reload4j) is older than the release's.
_LOGGING_3X: list[Coordinate] = [
    ("org.slf4j", "slf4j-api", "1.7.36"),
    ("org.slf4j", "slf4j-reload4j", "1.7.36"),
    ("ch.qos.reload4j", "reload4j", "1.2.25"),
]
# Older 3.x poms may still drag in log4j 1.2.17 / slf4j-log4j12; a second binding would make
# SLF4J pick one at random, so they are excluded in favour of the pinned stack above.
_EXCLUDED = [("log4j", "log4j"), ("org.slf4j", "slf4j-log4j12")]

_TOOLS_LOG4J = """\
# Command-line tools: warnings and errors on stderr, so stdout carries only the tool's output.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

_SCALA_RE = re.compile(r"^\d+\.\d+$")


def _check_versions(kafka_version: str, scala_version: str) -> None:
    # They end up in XML and in paths: refuse anything that is not a plain version.
    if not VERSION_RE.match(kafka_version):
        raise ValueError(f"Kafka version must look like 3.9.2, got {kafka_version!r}")
    if not _SCALA_RE.match(scala_version):
        raise ValueError(f"Scala version must look like 2.13, got {scala_version!r}")
    if kafka_version.split(".")[0] != "3":
        raise ValueError(
            f"cannot assemble Kafka {kafka_version}: only 3.x is supported (the last line that "
            "runs on ZooKeeper; 4.x also changes the logging stack)"
        )


def maven_coordinates(
    kafka_version: str, scala_version: str = settings.SCALA_VERSION
) -> list[Coordinate]:
    """Direct dependencies of the assembled distribution: broker + ZooKeeper, tools, logging."""
    _check_versions(kafka_version, scala_version)
    return [
        ("org.apache.kafka", f"kafka_{scala_version}", kafka_version),
        ("org.apache.kafka", "kafka-tools", kafka_version),
        *_LOGGING_3X,
    ]


def render_pom(coordinates: list[Coordinate]) -> str:
    """A throwaway pom whose runtime classpath is the distribution's libs/."""
    exclusions = "".join(
        f"<exclusion><groupId>{g}</groupId><artifactId>{a}</artifactId></exclusion>"
        for g, a in _EXCLUDED
    )
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version><exclusions>{exclusions}</exclusions></dependency>"
        for g, a, v in coordinates
    )
    return f"""\
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 \
http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkaform.local</groupId>
  <artifactId>kafka-distribution</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def _provenance(name: str, coordinates: list[Coordinate], jars: list[str]) -> str:
    # No timestamp or host name: the tarball must stay byte-identical across rebuilds.
    lines = [
        f"{name} assembled by kafkaform from Maven Central; not an Apache release tarball.",
        "Requested (runtime scope, transitive):",
        *(f"  {g}:{a}:{v}" for g, a, v in coordinates),
        "Excluded everywhere:",
        *(f"  {g}:{a}" for g, a in _EXCLUDED),
        f"libs/ ({len(jars)} jars):",
        *(f"  {jar}" for jar in jars),
    ]
    return "\n".join(lines) + "\n"


def _cached(tgz: Path, sums: Path) -> bool:
    if not (tgz.is_file() and sums.is_file()):
        return False
    try:
        return parse_sha512(sums.read_text(encoding="utf-8")) == sha512_of(tgz)
    except (OSError, ValueError):
        return False


def resolve_jars(work: Path, libs: Path) -> None:
    """Copy the runtime classpath of ``work/pom.xml`` into ``libs`` with mvn."""
    pom = str(work / "pom.xml")
    args = ["-f", pom, "dependency:copy-dependencies", "-DincludeScope=runtime"]
    proc = run_mvn([*args, f"-DoutputDirectory={libs}"], cwd=work)
    if proc.returncode != 0:
        raise ArtifactError(
            f"mvn could not resolve the Kafka jars (exit {proc.returncode}). Check that the "
            "version exists on Maven Central and that Central, or the mirror in "
            f"~/.m2/settings.xml, is reachable.\n{mvn_errors(proc.stdout)}"
        )


def build_distribution(
    kafka_version: str,
    scala_version: str = settings.SCALA_VERSION,
    cache_dir: Path | None = None,
    progress: Progress = print,
) -> Path:
    """Assemble ``kafka_<scala>-<version>.tgz`` from Maven Central, cached in mirror layout.

    Returns ``<cache>/mirror/kafka/<version>/kafka_<scala>-<version>.tgz``; an Apache-format
    ``.sha512`` is written beside it. A cached tarball that matches its checksum is reused.
    """
    coordinates = maven_coordinates(kafka_version, scala_version)
    name = distribution_name(kafka_version, scala_version)
    dest_dir = mirror_root(cache_dir) / "kafka" / kafka_version
    tgz = dest_dir / f"{name}.tgz"
    sums = dest_dir / f"{name}.tgz.sha512"
    if _cached(tgz, sums):
        progress(f"Using cached {tgz}")
        return tgz
    if tgz.exists():
        progress(f"{tgz} is missing its .sha512 or does not match it; rebuilding")

    with tempfile.TemporaryDirectory(prefix="kafkaform-dist-") as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(render_pom(coordinates), encoding="utf-8")
        stage = work / "dist"
        libs = stage / "libs"
        libs.mkdir(parents=True)

        progress(
            f"Resolving Kafka {kafka_version} (Scala {scala_version}) jars with mvn from Maven "
            "Central; a first run downloads about 80 MB ..."
        )
        started = time.monotonic()
        resolve_jars(work, libs)
        jars = sorted(p.name for p in libs.glob("*.jar"))
        core = f"kafka_{scala_version}-{kafka_version}.jar"
        if core not in jars:
            raise ArtifactError(f"mvn finished but {core} is not among the resolved jars")
        progress(f"Resolved {len(jars)} jars in {time.monotonic() - started:.0f} s")

        config = stage / "config"
        config.mkdir()
        (config / "tools-log4j.properties").write_text(_TOOLS_LOG4J, encoding="utf-8")
        (stage / "kafkaform-assembled.txt").write_text(
            _provenance(name, coordinates, jars), encoding="utf-8"
        )

        progress(f"Writing {tgz}")
        dest_dir.mkdir(parents=True, exist_ok=True)
        write_reproducible_tgz(stage, tgz, name)

    # The checksum goes last: its presence means the tarball beside it is complete.
    write_text_atomic(sums, format_apache_sha512(tgz.name, sha512_of(tgz)))
    size_mb = tgz.stat().st_size / 1e6
    progress(f"Built {tgz} ({size_mb:.0f} MB) in {time.monotonic() - started:.0f} s")
    return tgz
