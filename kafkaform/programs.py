"""The Java programs kafkaform runs from the Kafka distribution: their main classes and the log
files they write. The one home of these names: the units, the safe-restart scripts, the config
checks and log shipping all read them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Tools the safe-restart scripts and the config check run (classpath: <install>/libs/*).
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
CONFIG_COMMAND = "kafka.admin.ConfigCommand"
ACL_COMMAND = "kafka.admin.AclCommand"  # org.apache.kafka.tools.AclCommand from Kafka 4.0
REASSIGN_COMMAND = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
ZOOKEEPER_SHELL = "org.apache.zookeeper.ZooKeeperMain"
# Kafka's own shell: ZooKeeperMain that also reads a ZooKeeper TLS config (-zk-tls-config-file).
KAFKA_ZOOKEEPER_SHELL = "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
# A tool's JVM lives a second or two: the C1 compiler alone and the serial collector start it
# sooner (TopicCommand on the lab: 0.69 s -> 0.51 s) and change nothing it does.
TOOL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def tool_java(java: str, install: str, main: str, heap: str = "-Xmx256m") -> str:
    """The command line that runs one of Kafka's tools from ``install``'s jars, as the deploy
    itself runs them (the config check, the topics step): quiet logging, a short-lived JVM."""
    return (
        f"{java} {heap} {TOOL_JVM_OPTIONS}"
        f" -Dlog4j.configuration=file:{install}/config/tools-log4j.properties"
        f" -cp '{install}/libs/*' {main}"
    )


@dataclass(frozen=True)
class Service:
    """A JVM service: its main class and the files its log4j appenders and GC log write."""

    main_class: str
    log_files: Mapping[str, str]  # log4j appender -> file name in the service's log dir
    root_appender: str
    gc_log: str
    # appender -> the name its lines are filed under at a log sink (<host>/<name>.log)
    shipped: Mapping[str, str] = field(default_factory=dict)

    def log_file(self, appender: str) -> str:
        return self.log_files[appender]


# Kafka's own log layout, so operators find the files where they expect them.
BROKER = Service(
    main_class="kafka.Kafka",
    log_files={
        "server": "server.log",
        "controller": "controller.log",
        "state_change": "state-change.log",
        "cleaner": "log-cleaner.log",
        "authorizer": "kafka-authorizer.log",
        "request": "kafka-request.log",
    },
    root_appender="server",
    gc_log="kafkaServer-gc.log",
    shipped={
        "server": "kafka-server",
        "controller": "kafka-controller",
        "state_change": "kafka-state-change",
    },
)
ZOOKEEPER = Service(
    main_class="org.apache.zookeeper.server.quorum.QuorumPeerMain",
    log_files={"zookeeper": "zookeeper.log"},
    root_appender="zookeeper",
    gc_log="zookeeper-gc.log",
    shipped={"zookeeper": "zookeeper"},
)


@dataclass(frozen=True)
class Tool:
    """A Kafka command-line tool, installed on broker hosts as a launcher named as in
    Confluent's packages (templates/tools/launcher.j2, deploys/tasks/host_tools.py)."""

    name: str
    # Main class, newest Kafka first: Kafka moved tools between 3.x releases (from core's
    # kafka.* to org.apache.kafka.tools.*; 3.8 and 3.9 hold the first of each), so the
    # launcher runs the first class the jars of the ``current`` distribution hold. Newest
    # first also keeps a name that ends another one (kafka/tools/X.class ends
    # org/apache/kafka/tools/X.class) from being taken for it.
    classes: tuple[str, ...]
    # The option naming a client config file; the launcher passes the host's client config
    # with it unless the operator gave one (None: the tool takes no such file).
    config_option: str | None = "--command-config"
    # "kafka": --bootstrap-server from the client config unless given; "zookeeper": the
    # ensemble as the first argument unless given; None: the config file alone says where.
    connects_to: str | None = "kafka"
    heap: str = "-Xmx256m"  # kafka-run-class's default for tools
    jvm_options: str = TOOL_JVM_OPTIONS


TOOLS: tuple[Tool, ...] = (
    Tool("kafka-topics", (TOPIC_COMMAND, "kafka.admin.TopicCommand")),
    Tool(
        "kafka-console-producer",
        ("kafka.tools.ConsoleProducer",),
        config_option="--producer.config",
    ),
    Tool(
        "kafka-console-consumer",
        ("org.apache.kafka.tools.consumer.ConsoleConsumer", "kafka.tools.ConsoleConsumer"),
        config_option="--consumer.config",
    ),
    Tool(
        "kafka-consumer-groups",
        (
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "kafka.admin.ConsumerGroupCommand",
        ),
    ),
    Tool("kafka-configs", (CONFIG_COMMAND,)),
    Tool(
        "kafka-reassign-partitions",
        (REASSIGN_COMMAND, "kafka.admin.ReassignPartitionsCommand"),
    ),
    Tool(
        "kafka-leader-election",
        ("org.apache.kafka.tools.LeaderElectionCommand", "kafka.admin.LeaderElectionCommand"),
        config_option="--admin.config",
    ),
    Tool(
        "kafka-log-dirs",
        ("org.apache.kafka.tools.LogDirsCommand", "kafka.admin.LogDirsCommand"),
    ),
    Tool(
        "zookeeper-shell",
        (KAFKA_ZOOKEEPER_SHELL, ZOOKEEPER_SHELL),
        config_option=None,
        connects_to="zookeeper",
        heap="-Xmx64m",
    ),
    # A benchmark: its JVM runs long enough for the full JIT, and producer buffers need room
    # (Apache's script gives it 512 MB). It reads bootstrap.servers from the config file.
    Tool(
        "kafka-producer-perf-test",
        ("org.apache.kafka.tools.ProducerPerformance",),
        config_option="--producer.config",
        connects_to=None,
        heap="-Xmx512m",
        jvm_options="",
    ),
)
