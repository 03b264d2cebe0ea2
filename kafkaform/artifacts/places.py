"""Names and places: how Apache names a Kafka tarball, where kafkaform caches artifacts, and
the Apache and Maven layouts under the cache's mirror directory that a plain HTTP server serves."""

from __future__ import annotations

import os
from pathlib import Path

from kafkaform import settings


def distribution_name(version: str, scala: str = settings.SCALA_VERSION) -> str:
    """``kafka_2.13-3.9.2``: the tarball's top directory and base name."""
    return f"kafka_{scala}-{version}"


def tarball_url(mirror: str, version: str, scala: str = settings.SCALA_VERSION) -> str:
    """URL of a release tarball under an Apache-style mirror (``.../dist/kafka``)."""
    return f"{mirror.rstrip('/')}/{version}/{distribution_name(version, scala)}.tgz"


def maven_path(group: str, artifact: str, version: str) -> str:
    """``io/prometheus/jmx/<artifact>/<version>/<artifact>-<version>.jar`` (Maven layout)."""
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def default_cache_dir() -> Path:
    """``$KAFKAFORM_CACHE``, else ``~/.cache/kafkaform``."""
    env = os.environ.get("KAFKAFORM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kafkaform"


def mirror_root(cache_dir: Path | None = None) -> Path:
    """Directory to serve over HTTP: ``<served base>/kafka`` then works as a ``kafka_mirror``."""
    return (cache_dir if cache_dir is not None else default_cache_dir()) / "mirror"
