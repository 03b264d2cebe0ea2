"""A Kafka broker: server.properties from defaults + overrides, its own user and unit."""

import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.context import ctx_state
from pyinfra.operations import server

from deploys.tasks.host_files import put_secret, put_text
from deploys.tasks.host_tools import client_config_path, put_client_config
from deploys.tasks.jmx_exporter import JmxAgent
from deploys.tasks.preflight import live_states
from deploys.tasks.roll import LIB_DIR, RollSession
from deploys.tasks.scram import builtin_users, put_scram_users
from deploys.tasks.service import GATE_SECONDS, JavaService
from deploys.tasks.tls_files import put_tls_files
from deploys.tasks.upgrade import upgrade_plan
from kafkaform import programs, security
from kafkaform.candidates import Candidate, place_script, stage_script, staging_dir
from kafkaform.cluster import Cluster, Node
from kafkaform.live import leaving_broker
from kafkaform.settings import JAVA_BIN
from kafkaform.templating import render, template_path
from kafkaform.upgrade import pinned_properties
from kafkaform.zookeeper_security import shell_jvm_options, zookeeper_client_jaas

SERVER_TEMPLATE = "kafka/server.properties.j2"
CONFIG_CHECKER = "Kafka's configuration parser"
PARTITIONS_AWK = f"{LIB_DIR}/partitions.awk"  # the safe restart's reading of partition health
# Kafka's zookeeper.session.timeout.ms when unset: how long a broker that died stays registered.
SESSION_TIMEOUT_MS = 18000
# Kafka's loggers, each to its own file (the appenders of kafkaform.programs.BROKER).
LOGGERS = {
    "kafka.controller": {"level": "INFO", "appender": "controller"},
    "state.change.logger": {"level": "INFO", "appender": "state_change"},
    "kafka.log.LogCleaner": {"level": "INFO", "appender": "cleaner"},
    "kafka.authorizer.logger": {"level": "INFO", "appender": "authorizer"},
    "kafka.request.logger": {"level": "WARN", "appender": "request"},
}


class Changed:
    """A change a callable tells (put_tls_files'), where the service expects an operation."""

    def __init__(self, did_change: Callable[[], bool]) -> None:
        self.did_change = did_change


def secure_files(svc: JavaService, node: Node) -> tuple[list, tuple[str, ...]]:
    """A secured broker's TLS files and JAAS file: (their changes, the unit's extra JVM
    options). Nothing on a plaintext one."""
    s = node.settings
    if not security.stage_of(s).secured:
        return [], ()
    tls_changed = put_tls_files(node, security.tls_dir(s), svc.user)
    jaas = security.jaas_path(s)
    svc.read_at_start += [
        jaas,
        *(f"{security.tls_dir(s)}/{name}" for name in (security.KEY_FILE, security.CERT_FILE)),
        f"{security.tls_dir(s)}/{security.CA_FILE}",
    ]
    jaas_op = put_secret(
        f"Kafka JAAS login {jaas}",
        jaas,
        security.jaas_config(s, zookeeper_client_jaas(s)),
        mode="640",
        user="root",
        group=svc.user,
    )
    return [Changed(tls_changed), jaas_op], (f"-Djava.security.auth.login.config={jaas}",)


def session_seconds(properties: Mapping[str, object]) -> int:
    ms = int(str(properties.get("zookeeper.session.timeout.ms", SESSION_TIMEOUT_MS)))
    return -(-ms // 1000)


def kafka_config_check(install: str) -> str:
    """Shell check of a server.properties candidate (at ``{candidate}``): KafkaConfig parses
    it (the storage tool's ``info`` builds one first), and no exception may come out."""
    tool = programs.tool_java(JAVA_BIN, install, programs.STORAGE_TOOL, heap="-Xmx128m")
    return f"! {tool} info -c {{candidate}} 2>&1 | grep -m 5 Exception"


@deploy("Kafka broker")
def configure_kafka(
    cluster: Cluster,
    node: Node,
    install: str,
    session: RollSession,
    agent: JmxAgent | None = None,
    before_start: Callable[[], None] | None = None,
) -> None:
    """``before_start``: queues what must be done before the broker starts or restarts (the
    wait for this host's ZooKeeper server, started while the broker's files were written)."""
    s = node.settings
    svc = JavaService(
        name="kafka",
        label="Kafka",
        user=s["kafka_user"],
        config_dir=s["kafka_config_dir"],
        log_dir=s["kafka_log_dir"],
        workdir=s["kafka_data_dirs"][0],
        install=install,
        nofile_limit=s["nofile_limit"],
        owned_dirs=list(s["kafka_data_dirs"]),
    )
    svc.prepare()
    secured_changes, login_options = secure_files(svc, node)
    server_properties = f"{svc.config_dir}/server.properties"
    # During an upgrade's phase 1 the protocol stays at the one the cluster speaks now.
    upgrade = upgrade_plan(cluster)
    properties = pinned_properties(cluster.broker_properties(node), upgrade, node.name)
    changes = [
        # Kafka's own parser (KafkaConfig, through its storage tool) reads the candidate: a
        # value Kafka would refuse at start never reaches the live file or a restart.
        svc.checked_config(
            SERVER_TEMPLATE,
            server_properties,
            kafka_config_check(install),
            CONFIG_CHECKER,
            properties=properties,
        ),
        svc.log4j(programs.BROKER, LOGGERS),
        *secured_changes,
    ]
    javaagent = None
    if agent:
        rules = f"{svc.config_dir}/jmx-exporter.yml"
        changes.append(
            svc.config(
                "jmx/kafka.yml.j2",
                rules,
                broker_id=node.kafkaid,
                topic_metrics=s["kafka_jmx_topic_metrics"],
                auth=agent.auth,
                secret=agent.auth is not None,  # the agent's password hash and salt
            )
        )
        changes += [agent.installed] if agent.installed else []
        javaagent = agent.argument(s["kafka_jmx_exporter_port"], rules)
    put_text(
        "Partition health checks for safe restarts",
        PARTITIONS_AWK,
        Path(template_path("kafka/partitions.awk")).read_text(),
        mode="644",
    )
    svc.safe_restart_script(
        "kafka/kafka-safe-restart.sh.j2",
        partitions_awk=PARTITIONS_AWK,
        broker_id=node.kafkaid,
        # The advertised address: it answers whatever interfaces `listeners` binds.
        address=shlex.quote(node.address),
        port=security.client_port(s),
        # The admin user's login on a secured cluster (root reads it).
        command_config=shlex.quote(client_config_path(node)) if login_options else "",
        default_min_isr=properties["min.insync.replicas"],
        registration=shlex.quote(f"{s['zookeeper_chroot']}/brokers/ids/{node.kafkaid}"),
        session_seconds=session_seconds(properties),
        topic_command=programs.TOPIC_COMMAND,
        gate_seconds=GATE_SECONDS,
        wait_seconds=s["kafka_restart_wait_seconds"],
    )
    unit = svc.unit(
        description=f"Kafka broker {node.kafkaid} (kafkaform)",
        documentation="https://kafka.apache.org/39/documentation.html",
        program=programs.BROKER,
        config_file=server_properties,
        heap=s["kafka_heap"],
        jvm_opts=s["kafka_jvm_opts"],
        stop_timeout=s["kafka_stop_timeout_seconds"],
        after=["zookeeper.service"] if node.zookeeper else [],
        extra_properties=(f"-Dkafka.logs.dir={svc.log_dir}", *login_options),
        javaagent=javaagent,
    )
    controller = session.controller == node.kafkaid
    put_client_config(cluster, node)  # the safe restart reads it
    if before_start:
        before_start()
    if login_options:
        # The brokers log in to each other as the built-in broker user: it exists first.
        put_scram_users(cluster, node, builtin_users(s), install, shell_jvm_options(s))
    svc.run(
        unit,
        changes,
        session,
        last="the controller" if controller else None,
        start_gate=True,  # an earlier process's registration gone
    )
    if upgrade.finishes_in_this_run:
        unpin_protocol(svc, server_properties, cluster.broker_properties(node), session, controller)


def unpin_protocol(
    svc: JavaService,
    server_properties: str,
    properties: Mapping[str, object],
    session: RollSession,
    controller: bool,
) -> None:
    """An upgrade's phase 2 in the run that did phase 1, queued after every host's phase-1
    restart (a failure stops the run before it): one broker at a time gets server.properties
    without the protocol pin, checked as in phase 1, and restarts through the same gates.
    The file is written by the command itself: the run's file step wrote the pinned one."""
    candidate = Candidate(
        "server.properties",
        server_properties,
        render(SERVER_TEMPLATE, properties=properties),
        mode="640",
        user="root",
        group=svc.user,
    )
    stage = staging_dir(svc.name)
    check = kafka_config_check(svc.install).replace(
        "{candidate}", shlex.quote(f"{stage}/{candidate.name}")
    )
    roll = {
        "commands": [
            stage_script(stage, candidate),
            place_script(host.name, "server.properties", stage, [candidate], check, CONFIG_CHECKER),
            svc.restart_command(session),
        ],
        "_serial": True,
    }
    # Two call sites, the controller's below: pyinfra orders operations by source line.
    if not controller:
        server.shell(name="Upgrade phase 2: restart with the new protocol (one at a time)", **roll)
    else:
        server.shell(
            name="Upgrade phase 2: restart with the new protocol (the controller last)", **roll
        )


def retire_broker(cluster: Cluster, node: Node) -> None:
    """A host the inventory no longer gives a kafkaid: its broker is stopped and disabled
    (the preflight refused the run unless it holds no replica: drained), its data left in
    place; monitoring drops it, its targets being the inventory's brokers."""
    state = live_states(ctx_state.get().inventory, cluster).get(node.name)
    broker = leaving_broker(node, state) if state is not None else None
    if broker is not None:
        server.shell(
            name=f"Kafka broker {broker} retired (no kafkaid): stopped and disabled, data kept",
            commands=["systemctl disable --now kafka.service"],
        )
