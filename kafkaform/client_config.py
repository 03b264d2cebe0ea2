"""The confluent-kafka (librdkafka) configuration of kafkaform's own clients on the control
machine (verify, status, rebalance, the benchmarks): where the cluster's clients connect and,
on a secured cluster, how a user logs in (SASL_SSL, SCRAM-SHA-512, the cluster's CA from
pki_dir). Also the file the lag exporter reads on the monitoring host (``properties_text``).

The password comes from the cluster's pki_dir (kafkaform.secrets): the dict holds it, so it
is handed to a client and never printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafkaform import pki, security
from kafkaform.cluster import Cluster


def login(
    settings: Mapping[str, Any], user: str = security.ADMIN_USER, ca_location: str | None = None
) -> dict[str, str]:
    """The security keys of a client logging in as ``user`` (nothing on a plaintext cluster);
    ``ca_location``: the CA file where the client runs (default: the control machine's)."""
    if not security.clients_log_in(settings):
        return {}
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": security.SCRAM_MECHANISM,
        "sasl.username": user,
        "sasl.password": security.scram_password(settings, user),
        "ssl.ca.location": ca_location or str(pki.trusted_ca_file(settings)),
        "ssl.endpoint.identification.algorithm": "https",
    }


def settings_of(cluster: Cluster) -> Mapping[str, Any]:
    """The settings the cluster's clients follow (the security setting is cluster-wide)."""
    return (cluster.brokers or list(cluster.nodes))[0].settings


def login_of(cluster: Cluster, user: str = security.ADMIN_USER) -> dict[str, str]:
    """``user``'s login to the cluster (nothing on a plaintext one)."""
    return login(settings_of(cluster), user)


def client_config(
    cluster: Cluster, user: str = security.ADMIN_USER, servers: str | None = None
) -> dict[str, str]:
    """bootstrap.servers (the cluster's, or ``servers``) and ``user``'s login."""
    return {
        "bootstrap.servers": servers or cluster.bootstrap_servers(),
        **login(settings_of(cluster), user),
    }


def properties_text(config: Mapping[str, str]) -> str:
    """A librdkafka configuration as ``key=value`` lines (the lag exporter's client file on
    the monitoring host: upload it with put_secret, it may hold a password)."""
    return "".join(f"{key}={value}\n" for key, value in config.items())


def lag_exporter_config(cluster: Cluster, ca_location: str) -> str:
    """The lag exporter's client file: the monitoring user over the cluster's client
    listener, trusting ``ca_location`` (the CA file on the monitoring host)."""
    settings = settings_of(cluster)
    config = {
        "bootstrap.servers": cluster.bootstrap_servers(),
        **login(settings, security.MONITOR_USER, ca_location),
    }
    return properties_text(config)
