"""The Prometheus JMX exporter javaagent, from Maven Central (or a Maven-layout mirror).

One jar per version under jmx_exporter_dir; the services load it through their units
(``-javaagent:<jar>=[<address>:]<port>:<rules>``), so a new version or new rules restart them
safely. On a secured cluster the rules file also holds the agent's basic auth user (a salted
hash: kafkaform.monitoring_auth), rendered by the services' tasks with ``auth=agent.auth``.

No TLS on the agent's endpoint: the agent reads only a password-protected keystore whose
password would sit in the same file, and its user's password opens nothing but these
metrics (monitoring_auth.JMX_SCRAPER).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta

from deploys.tasks.download import fetch_verified
from deploys.tasks.host_files import ensure_directories
from kafkaform import artifacts
from kafkaform.cluster import Node
from kafkaform.monitoring_auth import JmxBasicAuth, jmx_basic_auth
from kafkaform.settings import JMX_EXPORTER_SHA256


@dataclass(frozen=True)
class JmxAgent:
    jar: str
    installed: OperationMeta | None  # None: the right jar was already there
    address: str | None = None  # None: serve on every address
    auth: JmxBasicAuth | None = None  # for the rules template; None: no authentication

    def argument(self, port: int, rules: str) -> str:
        """What follows ``-javaagent:``: serve /metrics at ``port`` (of ``address``)."""
        if not self.address:
            return f"{self.jar}={port}:{rules}"
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.jar}={host}:{port}:{rules}"


@functools.cache
def expected_checksum(url: str, version: str, pinned: str | None) -> tuple[str, str]:
    """Pinned sha256, else the one kafkaform knows for the version, else Maven's .sha1."""
    if pinned:
        return ("sha256", pinned.lower())
    if version in JMX_EXPORTER_SHA256:
        return ("sha256", JMX_EXPORTER_SHA256[version])
    try:
        return ("sha1", artifacts.fetch_maven_sha1(url))
    except artifacts.ArtifactError as error:
        raise PyinfraError(f"{error}; or pin jmx_exporter_sha256") from None


@deploy("JMX exporter agent")
def install_jmx_agent(node: Node) -> JmxAgent:
    s = node.settings
    version = s["jmx_exporter_version"]
    url = artifacts.jmx_agent_url(s["maven_mirror"], version)
    root = s["jmx_exporter_dir"]
    jar = f"{root}/{url.rsplit('/', 1)[-1]}"
    ensure_directories([root], mode="755", user="root", group="root")
    op = fetch_verified(
        f"Download and verify {url.rsplit('/', 1)[-1]}",
        url,
        jar,
        expected_checksum(url, version, s["jmx_exporter_sha256"]),
    )
    return JmxAgent(jar, op, s["jmx_exporter_listen_address"], jmx_basic_auth(s))
