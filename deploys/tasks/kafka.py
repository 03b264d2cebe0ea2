"""A Kafka broker: server.properties from defaults + overrides, its own user and unit."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.hardware import Memory
from pyinfra.operations import files

from deploys.tasks import service
from deploys.tasks.common import directories, service_user
from kafkaform.cluster import Cluster, Node, heap_for
from kafkaform.templating import JINJA_OPTIONS, template_path

MAIN_CLASS = "kafka.Kafka"
# Kafka's own log layout, so operators find the files where they expect them.
LOG_FILES = {
    "server": "server.log",
    "controller": "controller.log",
    "state_change": "state-change.log",
    "cleaner": "log-cleaner.log",
    "authorizer": "kafka-authorizer.log",
    "request": "kafka-request.log",
}
LOGGERS = {
    "kafka.controller": {"level": "INFO", "appender": "controller"},
    "state.change.logger": {"level": "INFO", "appender": "state_change"},
    "kafka.log.LogCleaner": {"level": "INFO", "appender": "cleaner"},
    "kafka.authorizer.logger": {"level": "INFO", "appender": "authorizer"},
    "kafka.request.logger": {"level": "WARN", "appender": "request"},
}


@deploy("Kafka broker")
def configure_kafka(cluster: Cluster, node: Node, binaries: OperationMeta) -> None:
    s = node.settings
    user, config_dir, log_dir = s["kafka_user"], s["kafka_config_dir"], s["kafka_log_dir"]
    install = f"{s['kafka_install_root']}/current"
    service_user(user, home=s["kafka_data_dirs"][0])
    directories(user, [*s["kafka_data_dirs"], log_dir])
    files.directory(name=f"Directory {config_dir}", path=config_dir, mode="755")

    def config(src: str, dest: str, **variables) -> OperationMeta:
        # Readable by the broker's group only: listener passwords may live here.
        return files.template(
            name=f"Kafka {dest}",
            src=template_path(src),
            dest=dest,
            user="root",
            group=user,
            mode="640",
            jinja_env_kwargs=JINJA_OPTIONS,
            **variables,
        )

    changes = [
        binaries,
        config(
            "kafka/server.properties.j2",
            f"{config_dir}/server.properties",
            properties=cluster.broker_properties(node),
        ),
        config(
            "common/log4j.properties.j2",
            f"{config_dir}/log4j.properties",
            log_dir=log_dir,
            root_appender="server",
            max_file_size="100MB",
            max_backups=10,
            appenders=LOG_FILES,
            loggers=LOGGERS,
        ),
    ]
    service.safe_restart_script(
        "kafka",
        "kafka/kafka-safe-restart.sh.j2",
        broker_id=node.kafkaid,
        port=s["kafka_port"],
        wait_seconds=s["kafka_restart_wait_seconds"],
        classpath=f"{install}/libs/*",
        tools_log4j=f"{install}/config/tools-log4j.properties",
    )
    heap = heap_for("kafka", host.get_fact(Memory), s["kafka_heap"])
    unit = service.unit(
        "kafka",
        description=f"Kafka broker {node.kafkaid} (kafkaform)",
        documentation="https://kafka.apache.org/39/documentation.html",
        after=["zookeeper.service"] if node.zookeeper else [],
        run_as=user,
        workdir=s["kafka_data_dirs"][0],
        heap_opts=f"-Xms{heap} -Xmx{heap}",
        jvm_opts=s["kafka_jvm_opts"],
        system_properties=[
            f"-Dlog4j.configuration=file:{config_dir}/log4j.properties",
            f"-Dkafka.logs.dir={log_dir}",
            f"-Xlog:gc*:file={log_dir}/kafkaServer-gc.log:time,tags:filecount=10,filesize=100M",
        ],
        classpath=f"{install}/libs/*",
        main_class=MAIN_CLASS,
        config_file=f"{config_dir}/server.properties",
        nofile_limit=s["nofile_limit"],
        stop_timeout=s["kafka_stop_timeout_seconds"],
    )
    service.run_service("kafka", unit, changes)
