"""Kafka artifacts: checksums, a distribution assembled from Maven Central, the JMX agent.

    places        how Apache names a tarball; the cache and its mirror layouts (Apache, Maven)
    checksums     file digests, Apache's .sha512 format, published checksums fetched over HTTP
    files         atomic text files and the reproducible .tgz
    maven         running mvn and reading its errors
    distribution  kafka_<scala>-<version>.tgz assembled from the released jars (build_distribution)
    jmx_agent     the Prometheus JMX exporter jar fetched into the mirror (fetch_jmx_agent)
    cli           ``kafkaform artifacts {build,checksum}``
    errors        ArtifactError

The names below are the package's public face, so callers write ``artifacts.build_distribution``
whichever module holds it.
"""

from __future__ import annotations

from kafkaform.artifacts.checksums import (
    fetch_maven_sha1,
    fetch_sha256_from_sums,
    fetch_sha512,
    file_digest,
    format_apache_sha512,
    parse_sha512,
    sha512_of,
)
from kafkaform.artifacts.cli import add_cli
from kafkaform.artifacts.distribution import build_distribution, maven_coordinates, render_pom
from kafkaform.artifacts.errors import ArtifactError
from kafkaform.artifacts.files import write_reproducible_tgz
from kafkaform.artifacts.jmx_agent import JMX_AGENT, fetch_jmx_agent, jmx_agent_url
from kafkaform.artifacts.places import (
    default_cache_dir,
    distribution_name,
    maven_path,
    mirror_root,
    tarball_url,
)

__all__ = [
    "JMX_AGENT",
    "ArtifactError",
    "add_cli",
    "build_distribution",
    "default_cache_dir",
    "distribution_name",
    "fetch_jmx_agent",
    "fetch_maven_sha1",
    "fetch_sha256_from_sums",
    "fetch_sha512",
    "file_digest",
    "format_apache_sha512",
    "jmx_agent_url",
    "maven_coordinates",
    "maven_path",
    "mirror_root",
    "parse_sha512",
    "render_pom",
    "sha512_of",
    "tarball_url",
    "write_reproducible_tgz",
]
