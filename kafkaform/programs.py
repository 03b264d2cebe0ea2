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
REASSIGN_COMMAND = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
ZOOKEEPER_SHELL = "org.apache.zookeeper.ZooKeeperMain"
STORAGE_TOOL = "kafka.tools.StorageTool"
# A tool's JVM lives a second or two: the C1 compiler alone and the serial collector start it
# sooner (TopicCommand on the lab: 0.69 s -> 0.51 s) and change nothing it does.
TOOL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


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
