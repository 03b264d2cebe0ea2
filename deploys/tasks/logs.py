"""Log shipping: rsyslog on every host sends its service logs to the sink(s) over RELP.

RELP rather than plain TCP syslog: a TCP sender only learns that a sink went away after some
lines were written into a dead connection, and those are lost; RELP confirms every line, so
the queue keeps what was not confirmed. rsyslog and its RELP module are in the base
repositories of Debian, Ubuntu and EL 7-9.
"""

from __future__ import annotations

import re

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

from deploys.tasks.common import host_platform, install_packages, serve_daemon
from kafkaform.cluster import Cluster, Node
from kafkaform.monitoring import journal_units, log_files
from kafkaform.templating import JINJA_OPTIONS, template_path

PACKAGES = ["rsyslog", "rsyslog-relp", "logrotate"]
QUEUE_DIR = "/var/spool/rsyslog-kafkaform"


def _ubuntu() -> bool:
    meta = host.get_fact(LinuxDistribution).get("release_meta") or {}
    return str(meta.get("ID", "")).lower() == "ubuntu"


@deploy("Log shipping")
def configure_log_shipping(cluster: Cluster, node: Node) -> None:
    s = node.settings
    platform = host_platform()
    install_packages(platform, PACKAGES, "Install rsyslog, its RELP module and logrotate")
    if not cluster.monitoring:
        return  # no sink in this inventory: the services' own rotation keeps disks bounded
    if _ubuntu():
        # Ubuntu's rsyslog drops root for `syslog`, which must read the service logs.
        for user in (
            s["kafka_user"] if node.kafkaid is not None else None,
            s["zookeeper_user"] if node.zookeeper else None,
        ):
            if user:
                server.shell(
                    name=f"Let rsyslog read {user}'s logs",
                    commands=[f"id -nG syslog | grep -qw {user} || usermod -aG {user} syslog"],
                )
    files.directory(name=f"Directory {QUEUE_DIR}", path=QUEUE_DIR, mode="700")
    changed = []
    if node.monitoring:
        files.directory(
            name=f"Directory {s['log_sink_dir']}", path=s["log_sink_dir"], group="adm", mode="750"
        )
        changed.append(
            files.template(
                name="rsyslog log sink",
                src=template_path("rsyslog/sink.conf.j2"),
                dest="/etc/rsyslog.d/50-kafkaform-sink.conf",
                mode="644",
                port=s["log_sink_port"],
                sink_dir=s["log_sink_dir"],
                jinja_env_kwargs=JINJA_OPTIONS,
            )
        )
        files.template(
            name="logrotate for the log sink",
            src=template_path("rsyslog/logrotate-sink.j2"),
            dest="/etc/logrotate.d/kafkaform-sink",
            mode="644",
            sink_dir=s["log_sink_dir"],
            keep_days=s["log_sink_keep_days"],
            jinja_env_kwargs=JINJA_OPTIONS,
        )
    sinks = [
        {"id": re.sub(r"[^A-Za-z0-9]", "_", sink.name), "address": sink.address}
        for sink in cluster.monitoring
    ]
    changed.append(
        files.template(
            name="rsyslog shipping to the log sink",
            src=template_path("rsyslog/ship.conf.j2"),
            dest="/etc/rsyslog.d/60-kafkaform-ship.conf",
            mode="644",
            sinks=sinks,
            port=s["log_sink_port"],
            queue_dir=QUEUE_DIR,
            max_disk=s["log_queue_max_disk"],
            files=log_files(node),
            units=journal_units(node),
            # EL's rsyslog.conf loads imjournal itself; Debian's reads the journal's socket.
            load_imjournal=platform.family == "apt",
            jinja_env_kwargs=JINJA_OPTIONS,
        )
    )
    server.shell(
        name="Check the rsyslog configuration",
        commands=["rsyslogd -N1 -f /etc/rsyslog.conf"],
        _if=any_changed(*changed),
    )
    # The queues are saved on shutdown and read back: a restart loses no line.
    serve_daemon("rsyslog", restart=changed)
