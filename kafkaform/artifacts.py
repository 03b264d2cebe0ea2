"""Kafka artifacts: Apache checksums, and a distribution assembled from Maven Central.

Hosts install Kafka from a tarball laid out like the Apache archive
(``<mirror>/<version>/kafka_<scala>-<version>.tgz`` with a ``.sha512`` beside it). Where the
archive is unreachable but Maven Central is (proxied networks, and every test here),
``build_distribution`` assembles an equivalent tarball from the released jars and writes it in
that same layout, so a plain HTTP server on ``mirror_root()`` stands in for the archive.

Only ``libs/`` matters: services run ``java -cp '<kafka>/libs/*' <main class>`` from our own
units, so no ``bin/`` scripts are shipped.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from kafkaform import settings

Progress = Callable[[str], None]
Coordinate = tuple[str, str, str]  # (groupId, artifactId, version)

# Entry points in the 3.9 jars, checked by running them. Tools are migrating from core (Scala)
# to the kafka-tools jar release by release (the producer is still in core in 3.9), so these
# names hold for 3.9, not for every 3.x.
MAIN_CLASSES: dict[str, str] = {
    "broker": "kafka.Kafka",
    "zookeeper": "org.apache.zookeeper.server.quorum.QuorumPeerMain",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "console_producer": "kafka.tools.ConsoleProducer",
    "console_consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "zookeeper_shell": "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka",
}

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
_DEPENDENCY_PLUGIN_VERSION = "3.8.1"

# Fixed tar metadata: the tarball's bytes, and so its published sha512, depend only on content.
_TAR_MTIME = 946684800  # 2000-01-01T00:00:00Z
_GZIP_LEVEL = 6  # jars are already deflated; higher levels cost time for almost nothing

_TOOLS_LOG4J = """\
# Command-line tools: warnings and errors on stderr, so stdout carries only the tool's output.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
_SCALA_RE = re.compile(r"^\d+\.\d+$")
_HEX128_RE = re.compile(r"^[0-9a-fA-F]{128}$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")  # Maven 3.8 emits colour resets even in batch mode


class ArtifactError(RuntimeError):
    """An artifact could not be built, fetched or verified; the message says what to fix."""


# --- names and places -------------------------------------------------------------------------


def distribution_name(version: str, scala: str = settings.SCALA_VERSION) -> str:
    """``kafka_2.13-3.9.2``: the tarball's top directory and base name."""
    return f"kafka_{scala}-{version}"


def tarball_url(mirror: str, version: str, scala: str = settings.SCALA_VERSION) -> str:
    """URL of a release tarball under an Apache-style mirror (``.../dist/kafka``)."""
    return f"{mirror.rstrip('/')}/{version}/{distribution_name(version, scala)}.tgz"


def default_cache_dir() -> Path:
    """``$KAFKAFORM_CACHE``, else ``~/.cache/kafkaform``."""
    env = os.environ.get("KAFKAFORM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kafkaform"


def mirror_root(cache_dir: Path | None = None) -> Path:
    """Directory to serve over HTTP: ``<served base>/kafka`` then works as a ``kafka_mirror``."""
    return (cache_dir if cache_dir is not None else default_cache_dir()) / "mirror"


# --- checksums --------------------------------------------------------------------------------


def file_digest(path: Path, algorithm: str) -> str:
    """Lowercase hex digest of a file, read in chunks (tarballs and boxes are large)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha512_of(path: Path) -> str:
    return file_digest(path, "sha512")


def parse_sha512(text: str) -> str:
    """The SHA-512 in a checksum file, as 128 lowercase hex characters.

    Accepts Apache's ``gpg --print-md SHA512`` output (``name: 1A2B3C4D ...`` wrapped over
    lines), ``sha512sum`` output (``<hex>  name``), BSD ``SHA512 (name) = <hex>`` and a bare
    digest. Raises ValueError for anything else.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty SHA-512 checksum file")
    lines = stripped.splitlines()

    # sha512sum / bare digest: the hex comes first on a single line.
    first = lines[0].split()
    if len(lines) == 1 and first and _HEX128_RE.match(first[0]):
        return first[0].lower()

    bsd = re.match(r"^SHA512 ?\(.*\) ?= ?([0-9a-fA-F]{128})$", stripped)
    if bsd:
        return bsd.group(1).lower()

    # Apache/gpg: "name:" then hex groups; gpg also breaks after "name:" when the name is long.
    if ":" in stripped:
        digits = "".join(stripped.split(":", 1)[1].split())
        if _HEX128_RE.match(digits):
            return digits.lower()

    preview = stripped[:80].replace("\n", "\\n")
    raise ValueError(
        "not a SHA-512 checksum: expected Apache's 'NAME: 1A2B3C4D ...' or sha512sum's "
        f"'<128 hex>  NAME', got {preview!r}"
    )


def format_apache_sha512(filename: str, hexdigest: str) -> str:
    """Checksum text laid out as ``gpg --print-md SHA512 FILE`` writes it (Apache's .sha512).

    Upper-case groups of 8 hex digits, wrapped at 80 columns with continuation lines aligned
    under the first group; a name longer than 38 characters puts the digest on its own lines.
    """
    if not _HEX128_RE.match(hexdigest):
        raise ValueError(f"not a SHA-512 hex digest: {hexdigest!r}")
    groups = [hexdigest[i : i + 8].upper() for i in range(0, 128, 8)]
    head = f"{filename}: "
    if len(head) > 40:
        lines, indent = [head], " "
        line = groups[0]
    else:
        lines, indent = [], " " * len(head)
        line = head + groups[0]
    for group in groups[1:]:
        if len(line) + 1 + len(group) > 80:
            lines.append(line)
            line = indent + group
        else:
            line += " " + group
    lines.append(line)
    return "\n".join(lines) + "\n"


def fetch_sha512(url: str, timeout: float = 30) -> str:
    """Fetch and parse ``<url>.sha512`` (Apache publishes one beside every tarball)."""
    sums_url = url + ".sha512"
    try:
        with urllib.request.urlopen(sums_url, timeout=timeout) as resp:
            # A checksum file is tiny; a cap keeps a wrong URL from streaming a tarball.
            body = resp.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        raise ArtifactError(f"cannot fetch {sums_url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ArtifactError(f"cannot fetch {sums_url}: {reason}") from exc
    try:
        return parse_sha512(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise ArtifactError(f"bad checksum file {sums_url}: {exc}") from exc


# --- reproducible tarball ---------------------------------------------------------------------


def _walk_sorted(root: Path) -> Iterator[Path]:
    """Every path under root, parents before children, siblings by name."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk_sorted(entry)


def _tarinfo(name: str, *, directory: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = _TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_reproducible_tgz(src: Path, dest: Path, top: str) -> None:
    """Pack src's contents under ``top/`` into dest, byte-identical for identical content.

    Members are sorted with fixed mtime/owner/mode and the gzip header carries no name or
    time. Written to a temp file beside dest and renamed, so dest is never half-written.
    """
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0
            ) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    tar.addfile(_tarinfo(top, directory=True))
                    for path in _walk_sorted(src):
                        name = f"{top}/{path.relative_to(src).as_posix()}"
                        if path.is_symlink() or not (path.is_dir() or path.is_file()):
                            raise ArtifactError(f"cannot pack {path}: not a file or directory")
                        if path.is_dir():
                            tar.addfile(_tarinfo(name, directory=True))
                        else:
                            info = _tarinfo(name, directory=False, size=path.stat().st_size)
                            with open(path, "rb") as fh:
                                tar.addfile(info, fh)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- assembling from Maven Central ------------------------------------------------------------


def _check_versions(kafka_version: str, scala_version: str) -> None:
    # They end up in XML and in paths: refuse anything that is not a plain version.
    if not _VERSION_RE.match(kafka_version):
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
        <version>{_DEPENDENCY_PLUGIN_VERSION}</version>
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


def _run_mvn(work: Path, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ArtifactError("mvn not found on PATH: install Maven (Debian: apt-get install maven)")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(work / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    proc = subprocess.run(
        cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if proc.returncode != 0:
        raise ArtifactError(
            f"mvn could not resolve the Kafka jars (exit {proc.returncode}). Check that the "
            "version exists on Maven Central and that Central, or the mirror in "
            f"~/.m2/settings.xml, is reachable.\n{_mvn_errors(proc.stdout)}"
        )


def _mvn_errors(output: str) -> str:
    # Maven follows the real error with a generic "[ERROR] " block of help links; keep the
    # lines before that, which name the missing artifact or the unreachable repository.
    lines = [_ANSI_RE.sub("", line).rstrip() for line in output.splitlines()]
    errors: list[str] = []
    for line in lines:
        if line == "[ERROR]" and errors:
            break
        if line.startswith("[ERROR]"):
            errors.append(line)
    return "\n".join(errors or lines[-25:])


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
        _run_mvn(work, libs)
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
    _write_text_atomic(sums, format_apache_sha512(tgz.name, sha512_of(tgz)))
    size_mb = tgz.stat().st_size / 1e6
    progress(f"Built {tgz} ({size_mb:.0f} MB) in {time.monotonic() - started:.0f} s")
    return tgz


# --- the JMX exporter agent from Maven Central ------------------------------------------------

JMX_AGENT = ("io.prometheus.jmx", "jmx_prometheus_javaagent")


def maven_path(group: str, artifact: str, version: str) -> str:
    """``io/prometheus/jmx/<artifact>/<version>/<artifact>-<version>.jar`` (Maven layout)."""
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def jmx_agent_url(maven_mirror: str, version: str) -> str:
    return f"{maven_mirror.rstrip('/')}/{maven_path(*JMX_AGENT, version)}"


def fetch_maven_sha1(url: str, timeout: float = 30) -> str:
    """The ``.sha1`` Maven repositories publish beside every file."""
    sums_url = url + ".sha1"
    try:
        with urllib.request.urlopen(sums_url, timeout=timeout) as resp:
            body = resp.read(4096).decode("ascii", errors="replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ArtifactError(f"cannot fetch {sums_url}: {getattr(exc, 'reason', exc)}") from exc
    words = body.split()
    if not words or not re.fullmatch(r"[0-9a-fA-F]{40}", words[0]):
        raise ArtifactError(f"{sums_url} is not a SHA-1 checksum: {body[:60]!r}")
    return words[0].lower()


def fetch_sha256_from_sums(url: str, timeout: float = 30) -> str:
    """A release's sha256 from the ``sha256sums.txt`` beside it (Prometheus projects' layout)."""
    base, _, name = url.rpartition("/")
    sums_url = f"{base}/sha256sums.txt"
    try:
        with urllib.request.urlopen(sums_url, timeout=timeout) as resp:
            body = resp.read(256 * 1024).decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ArtifactError(f"cannot fetch {sums_url}: {getattr(exc, 'reason', exc)}") from exc
    for line in body.splitlines():
        words = line.split()
        if (
            len(words) == 2
            and words[1].lstrip("*") == name
            and re.fullmatch(r"[0-9a-fA-F]{64}", words[0])
        ):
            return words[0].lower()
    raise ArtifactError(f"{sums_url} lists no sha256 for {name}")


def fetch_jmx_agent(
    version: str = settings.JMX_EXPORTER_VERSION,
    cache_dir: Path | None = None,
    progress: Progress = print,
) -> Path:
    """The JMX exporter jar in Maven layout under ``<mirror>/maven2``, with .sha1 and .sha256.

    mvn -C checks the download against the .sha1 Maven Central publishes; a version whose
    sha256 kafkaform knows is also held to that, so the mirror serves only what was checked.
    """
    if not _VERSION_RE.match(version):
        raise ValueError(f"JMX exporter version must look like 1.0.1, got {version!r}")
    jar = mirror_root(cache_dir) / "maven2" / maven_path(*JMX_AGENT, version)
    known = settings.JMX_EXPORTER_SHA256.get(version)
    sha256_file = jar.with_name(jar.name + ".sha256")
    if jar.is_file() and sha256_file.is_file():
        if sha256_file.read_text().split()[0] == file_digest(jar, "sha256") and known in (
            None,
            file_digest(jar, "sha256"),
        ):
            progress(f"Using cached {jar}")
            return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ArtifactError("mvn not found on PATH: install Maven (Debian: apt-get install maven)")
    progress(f"Fetching {':'.join(JMX_AGENT)}:{version} with mvn from Maven Central")
    with tempfile.TemporaryDirectory(prefix="kafkaform-jmx-") as tmp:
        cmd = [
            mvn,
            "-q",
            "-B",
            "-C",  # strict checksums: fail unless the jar matches Central's published .sha1
            "-Dstyle.color=never",
            f"org.apache.maven.plugins:maven-dependency-plugin:{_DEPENDENCY_PLUGIN_VERSION}:copy",
            f"-Dartifact={':'.join(JMX_AGENT)}:{version}",
            f"-DoutputDirectory={tmp}",
        ]
        proc = subprocess.run(
            cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
        )
        fetched = Path(tmp) / jar.name
        if proc.returncode != 0 or not fetched.is_file():
            raise ArtifactError(
                f"mvn could not fetch the JMX exporter {version} (exit {proc.returncode})\n"
                f"{_mvn_errors(proc.stdout)}"
            )
        sha256 = file_digest(fetched, "sha256")
        if known and sha256 != known:
            raise ArtifactError(f"{jar.name} from Maven has sha256 {sha256}, expected {known}")
        jar.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fetched, jar.with_name(f".{jar.name}.tmp"))
        os.replace(jar.with_name(f".{jar.name}.tmp"), jar)
    _write_text_atomic(jar.with_name(jar.name + ".sha1"), file_digest(jar, "sha1") + "\n")
    # Written last: its presence means the jar beside it is complete and checked.
    _write_text_atomic(sha256_file, f"{sha256}  {jar.name}\n")
    progress(f"Stored {jar}")
    return jar


# --- command line -----------------------------------------------------------------------------


def _stderr(message: str) -> None:
    # Progress on stderr keeps stdout to the result, for $(kafkaform artifacts build).
    print(message, file=sys.stderr, flush=True)


def _cmd_build(args: argparse.Namespace) -> int:
    try:
        path = build_distribution(
            args.kafka_version, args.scala_version, args.cache_dir, progress=_stderr
        )
    except (ArtifactError, ValueError) as exc:
        print(f"kafkaform artifacts build: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def _cmd_checksum(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        text = format_apache_sha512(path.name, sha512_of(path))
    except OSError as exc:
        print(f"kafkaform artifacts checksum: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register ``kafkaform artifacts {build,checksum}``."""
    parser = subparsers.add_parser(
        "artifacts",
        help="build or checksum Kafka tarballs",
        description="Kafka artifacts: assemble a distribution from Maven Central, checksum files.",
    )
    sub = parser.add_subparsers(dest="artifacts_command", required=True, metavar="ACTION")

    build = sub.add_parser(
        "build",
        help="assemble a Kafka tarball from Maven Central (needs mvn)",
        description=(
            "Assemble kafka_<scala>-<version>.tgz from the Apache Kafka jars on Maven Central "
            "and store it, with an Apache-format .sha512, under <cache>/mirror/kafka/<version>/. "
            "Serve <cache>/mirror over HTTP and set kafka_mirror to <that URL>/kafka. "
            "Prints the tarball's path."
        ),
    )
    build.add_argument(
        "--kafka-version",
        default=settings.KAFKA_VERSION,
        help="Kafka release (default: %(default)s)",
    )
    build.add_argument(
        "--scala-version",
        default=settings.SCALA_VERSION,
        help="Scala build of Kafka (default: %(default)s)",
    )
    build.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache directory (default: $KAFKAFORM_CACHE or ~/.cache/kafkaform)",
    )
    build.set_defaults(func=_cmd_build)

    checksum = sub.add_parser(
        "checksum",
        help="print a file's SHA-512 in Apache's .sha512 format",
        description="Print FILE's SHA-512 as Apache publishes it (gpg --print-md SHA512 layout).",
    )
    checksum.add_argument("file", type=Path, metavar="FILE", help="file to checksum")
    checksum.set_defaults(func=_cmd_checksum)


__all__ = [
    "MAIN_CLASSES",
    "ArtifactError",
    "add_cli",
    "build_distribution",
    "default_cache_dir",
    "distribution_name",
    "fetch_sha512",
    "format_apache_sha512",
    "maven_coordinates",
    "mirror_root",
    "parse_sha512",
    "render_pom",
    "sha512_of",
    "tarball_url",
    "write_reproducible_tgz",
]
