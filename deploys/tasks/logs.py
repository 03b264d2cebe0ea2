"""Log shipping: rsyslog on every host sends its service logs to the sink(s) over RELP.

RELP rather than plain TCP syslog: a TCP sender only learns that a sink went away after some
lines were written into a dead connection, and those are lost; RELP confirms every line, so
the queue keeps what was not confirmed. rsyslog and its RELP module are in the base
repositories of Debian, Ubuntu and EL 7-9.

A secured cluster ships over TLS (RELP's own, GnuTLS) with the hosts' certificates: the sink
takes lines only from the cluster's hosts (their names, in a certificate of the cluster's
CA), and a sender sends only to a sink that proves its name (kafkaform.monitoring:
relp_sinks, relp_senders).
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import server

from deploys.tasks.checked_config import place_checked
from deploys.tasks.common import host_platform, serve_daemon
from deploys.tasks.host_files import ensure_directories, put_template
from deploys.tasks.monitoring import restart_on_new_tls
from deploys.tasks.tls_files import put_tls_files
from kafkaform.candidates import Candidate, rsyslog_check, staging_dir
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import prepared_fact
from kafkaform.monitoring import journal_units, log_files, relp_senders, relp_sinks, relp_tls
from kafkaform.templating import render

# Installed (deploys/tasks/install.py) only where logs are shipped: the inventory has a sink.
PACKAGES = ["rsyslog", "rsyslog-relp", "logrotate"]
QUEUE_DIR = "/var/spool/rsyslog-kafkaform"
RSYSLOG_DIR = "/etc/rsyslog.d"
SINK_CONF = "50-kafkaform-sink.conf"
SHIP_CONF = "60-kafkaform-ship.conf"
q = shlex.quote


def _ubuntu() -> bool:
    meta = prepared_fact(LinuxDistribution).get("release_meta") or {}
    return str(meta.get("ID", "")).lower() == "ubuntu"


@deploy("Log shipping")
def configure_log_shipping(cluster: Cluster, node: Node) -> None:
    if not cluster.monitoring:
        return  # no sink in this inventory: the services' own rotation keeps disks bounded
    s = node.settings
    platform = host_platform()
    if _ubuntu():
        # Ubuntu's rsyslog drops root for `syslog`, which must read the service logs.
        for user in (
            s["kafka_user"] if node.kafkaid is not None else None,
            s["zookeeper_user"] if node.zookeeper else None,
        ):
            if user:
                server.shell(
                    name=f"Let rsyslog read {user}'s logs",
                    commands=[
                        f"id -nG syslog | grep -qw {q(user)} || usermod -aG {q(user)} syslog"
                    ],
                )
    ensure_directories([QUEUE_DIR], mode="700")
    tls = relp_tls(s, RSYSLOG_DIR)
    tls_changed = None
    if tls:
        # Ubuntu's rsyslog reads them after dropping root for `syslog`.
        tls_changed = put_tls_files(node, f"{RSYSLOG_DIR}/tls", "syslog" if _ubuntu() else "root")
    sinks = relp_sinks(cluster, secured=tls is not None)
    # Every host stages the shipping config first: pyinfra identifies an operation by its
    # place in the run, shared by all hosts, so the sink (monitoring hosts only) comes after.
    candidates = [
        Candidate(
            SHIP_CONF,
            f"{RSYSLOG_DIR}/{SHIP_CONF}",
            render(
                "rsyslog/ship.conf.j2",
                sinks=sinks,
                port=s["log_sink_port"],
                queue_dir=QUEUE_DIR,
                max_disk=s["log_queue_max_disk"],
                tls=tls,
                files=log_files(node),
                units=journal_units(node),
                # EL's rsyslog.conf loads imjournal itself; Debian's reads the journal's socket.
                load_imjournal=platform.family == "apt",
            ),
        )
    ]
    if node.monitoring:
        ensure_directories([s["log_sink_dir"]], mode="750", group="adm")
        candidates.append(
            Candidate(
                SINK_CONF,
                f"{RSYSLOG_DIR}/{SINK_CONF}",
                render(
                    "rsyslog/sink.conf.j2",
                    port=s["log_sink_port"],
                    address=s["log_sink_listen_address"],
                    sink_dir=s["log_sink_dir"],
                    tls=tls,
                    peers=relp_senders(cluster),
                ),
            )
        )
        put_template(
            "logrotate for the log sink",
            "rsyslog/logrotate-sink.j2",
            "/etc/logrotate.d/kafkaform-sink",
            sink_dir=s["log_sink_dir"],
            keep_days=s["log_sink_keep_days"],
        )
    place_checked(
        "the rsyslog configuration",
        "rsyslog",
        candidates,
        check=rsyslog_check(staging_dir("rsyslog"), [c.name for c in candidates]),
        checker="rsyslogd -N1",
        # rsyslog has no reload of its configuration; its queues survive a restart.
        activate="systemctl try-restart rsyslog.service",
    )
    serve_daemon("rsyslog", restart=[])
    if tls_changed:
        # The sink's listener and the senders' open connections keep the certificates they
        # started with.
        restart_on_new_tls("rsyslog", tls_changed)
