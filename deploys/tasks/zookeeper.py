"""A ZooKeeper server: zoo.cfg over the whole ensemble, myid = zkid, its own user and unit."""

import shlex
from collections.abc import Callable

from pyinfra import host
from pyinfra.api import deploy

from deploys.tasks.jmx_exporter import JmxAgent
from deploys.tasks.roll import RollSession
from deploys.tasks.service import GATE_SECONDS, JavaService
from facts.zookeeper import ZooKeeperMode
from kafkaform import programs
from kafkaform.cluster import Cluster, Node

# zoo.cfg's candidate check: key=value lines (comments and blanks aside), no key twice.
ZOO_CFG_CHECK = (
    "awk '/^[[:space:]]*(#|$)/ { next } "
    '!/^[A-Za-z0-9._-]+=/ { print "line " NR " is not key=value: " $0; bad = 1; next } '
    '{ k = substr($0, 1, index($0, "=") - 1) } '
    'k in seen { print "line " NR " sets " k " a second time"; bad = 1 } '
    "{ seen[k] = 1 } END { exit bad }' {candidate}"
)


@deploy("ZooKeeper")
def configure_zookeeper(
    cluster: Cluster,
    node: Node,
    install: str,
    session: RollSession,
    agent: JmxAgent | None = None,
    wait: bool = True,
) -> Callable[[], None]:
    """``wait=False``: returns the wait for a server started now (JavaService.run)."""
    s = node.settings
    data_dir = s["zookeeper_data_dir"]
    svc = JavaService(
        name="zookeeper",
        label="ZooKeeper",
        user=s["zookeeper_user"],
        config_dir=s["zookeeper_config_dir"],
        log_dir=s["zookeeper_log_dir"],
        workdir=data_dir,
        install=install,
        nofile_limit=s["nofile_limit"],
        owned_dirs=[data_dir, s["zookeeper_datalog_dir"]],
    )
    svc.prepare()
    zoo_cfg = f"{svc.config_dir}/zoo.cfg"
    changes = [
        # ZooKeeper has no offline parser: the candidate must at least be key=value lines
        # with no key twice (a later one would silently win).
        svc.checked_config(
            "zookeeper/zoo.cfg.j2",
            zoo_cfg,
            ZOO_CFG_CHECK,
            "the zoo.cfg syntax check",
            zkid=node.zkid,
            properties=cluster.zookeeper_properties(node),
        ),
        # myid lives in dataDir, where ZooKeeper looks for it.
        svc.config("zookeeper/myid.j2", f"{data_dir}/myid", zkid=node.zkid),
        svc.log4j(programs.ZOOKEEPER, {}),
    ]
    javaagent = None
    if agent:
        rules = f"{svc.config_dir}/jmx-exporter.yml"
        changes.append(svc.config("jmx/zookeeper.yml.j2", rules, zkid=node.zkid))
        changes += [agent.installed] if agent.installed else []
        javaagent = agent.argument(s["zookeeper_jmx_exporter_port"], rules)
    svc.safe_restart_script(
        "zookeeper/zookeeper-safe-restart.sh.j2",
        zkid=node.zkid,
        client_port=s["zookeeper_client_port"],
        ensemble_size=len(cluster.ensemble),
        peers=[
            shlex.quote(f"{p.zkid} {p.address} {p.settings['zookeeper_client_port']}")
            for p in cluster.ensemble
            if p.name != node.name
        ],
        gate_seconds=GATE_SECONDS,
        wait_seconds=s["zookeeper_restart_wait_seconds"],
    )
    unit = svc.unit(
        description=f"ZooKeeper server {node.zkid} (kafkaform)",
        documentation="https://zookeeper.apache.org/doc/r3.8.4/zookeeperAdmin.html",
        program=programs.ZOOKEEPER,
        config_file=zoo_cfg,
        heap=s["zookeeper_heap"],
        jvm_opts=s["zookeeper_jvm_opts"],
        stop_timeout=60,
        after=[],
        javaagent=javaagent,
    )
    mode = host.get_fact(ZooKeeperMode, port=s["zookeeper_client_port"])
    return svc.run(
        unit, changes, session, last="the leader" if mode == "leader" else None, wait=wait
    )
