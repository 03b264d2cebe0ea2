"""``kafkaform artifacts {build,checksum}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kafkaform import settings
from kafkaform.artifacts.checksums import format_apache_sha512, sha512_of
from kafkaform.artifacts.distribution import build_distribution
from kafkaform.artifacts.errors import ArtifactError


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
