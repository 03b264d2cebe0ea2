"""A ZooKeeper server: zoo.cfg over the whole ensemble, myid = zkid, its own user and unit."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.hardware import Memory
from pyinfra.operations import files

from deploys.tasks import service
from deploys.tasks.common import directories, service_user
from facts.zookeeper import ZooKeeperMode
from kafkaform.cluster import Cluster, Node, heap_for
from kafkaform.templating import JINJA_OPTIONS, template_path

MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


@deploy("ZooKeeper")
def configure_zookeeper(cluster: Cluster, node: Node, binaries: OperationMeta) -> None:
    s = node.settings
    user, config_dir = s["zookeeper_user"], s["zookeeper_config_dir"]
    log_dir = s["zookeeper_log_dir"]
    service_user(user, home=s["zookeeper_data_dir"])
    directories(user, [s["zookeeper_data_dir"], s["zookeeper_datalog_dir"], log_dir])
    files.directory(name=f"Directory {config_dir}", path=config_dir, mode="755")

    def config(src: str, dest: str, **variables) -> OperationMeta:
        return files.template(
            name=f"ZooKeeper {dest}",
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
            "zookeeper/zoo.cfg.j2",
            f"{config_dir}/zoo.cfg",
            zkid=node.zkid,
            properties=cluster.zookeeper_properties(node),
        ),
        # myid lives in dataDir, where ZooKeeper looks for it.
        config("zookeeper/myid.j2", f"{s['zookeeper_data_dir']}/myid", zkid=node.zkid),
        config(
            "common/log4j.properties.j2",
            f"{config_dir}/log4j.properties",
            log_dir=log_dir,
            root_appender="zookeeper",
            max_file_size="100MB",
            max_backups=10,
            appenders={"zookeeper": "zookeeper.log"},
            loggers={},
        ),
    ]
    service.safe_restart_script(
        "zookeeper",
        "zookeeper/zookeeper-safe-restart.sh.j2",
        zkid=node.zkid,
        client_port=s["zookeeper_client_port"],
        wait_seconds=s["zookeeper_restart_wait_seconds"],
    )
    heap = heap_for("zookeeper", host.get_fact(Memory), s["zookeeper_heap"])
    unit = service.unit(
        "zookeeper",
        description=f"ZooKeeper server {node.zkid} (kafkaform)",
        documentation="https://zookeeper.apache.org/doc/r3.8.4/zookeeperAdmin.html",
        after=[],
        run_as=user,
        workdir=s["zookeeper_data_dir"],
        heap_opts=f"-Xms{heap} -Xmx{heap}",
        jvm_opts=s["zookeeper_jvm_opts"],
        system_properties=[
            f"-Dlog4j.configuration=file:{config_dir}/log4j.properties",
            f"-Xlog:gc*:file={log_dir}/zookeeper-gc.log:time,tags:filecount=5,filesize=20M",
        ],
        classpath=f"{s['kafka_install_root']}/current/libs/*",
        main_class=MAIN_CLASS,
        config_file=f"{config_dir}/zoo.cfg",
        nofile_limit=s["nofile_limit"],
        stop_timeout=60,
    )
    mode = host.get_fact(ZooKeeperMode, port=s["zookeeper_client_port"])
    service.run_service("zookeeper", unit, changes, last="the leader" if mode == "leader" else None)
