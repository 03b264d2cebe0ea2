"""A ZooKeeper server: zoo.cfg over the whole ensemble, myid = zkid, its own user and unit;
and the steps of a membership change (kafkaform.ensemble_change), on every host they involve.

During a membership change the hosts it involves get their zoo.cfg, starts and restarts from
the change's steps, not from configure_zookeeper: each step writes its own server list."""

import shlex
import sys
from collections.abc import Callable

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.context import ctx_inventory
from pyinfra.operations import server, systemd

from deploys.tasks.host_files import put_template
from deploys.tasks.jmx_exporter import JmxAgent
from deploys.tasks.preflight import live_states
from deploys.tasks.roll import ROLL_LIBRARY, RollSession
from deploys.tasks.service import GATE_SECONDS, SCRIPT_DIR, JavaService, nothing
from facts.service import started_file
from facts.zookeeper import ZooKeeperMode
from kafkaform import programs
from kafkaform.candidates import Candidate, place_script, stage_script, staging_dir
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run
from kafkaform.ensemble_change import Action, EnsemblePlan, plan_ensemble_change
from kafkaform.ensemble_lists import zoo_cfg_servers
from kafkaform.templating import render

ZOO_CFG_TEMPLATE = "zookeeper/zoo.cfg.j2"
SAFE_RESTART_TEMPLATE = "zookeeper/zookeeper-safe-restart.sh.j2"
ZOO_CFG_CHECKER = "the zoo.cfg syntax check"

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
    changing = node.name in ensemble_plan(cluster).hosts
    zoo_cfg_op = None
    if changing:
        svc.read_at_start.append(zoo_cfg)  # written by the membership change's steps
    else:
        # ZooKeeper has no offline parser: the candidate must at least be key=value lines
        # with no key twice (a later one would silently win).
        zoo_cfg_op = svc.checked_config(
            ZOO_CFG_TEMPLATE,
            zoo_cfg,
            ZOO_CFG_CHECK,
            ZOO_CFG_CHECKER,
            zkid=node.zkid,
            properties=cluster.zookeeper_properties(node),
        )
    changes = [
        zoo_cfg_op,
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
    svc.safe_restart_script(SAFE_RESTART_TEMPLATE, **safe_restart_values(cluster, node, node.zkid))
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
    if changing:
        # Started or restarted by the membership change's steps, after every file is written.
        systemd.daemon_reload(name="Reload systemd units")
        return nothing
    mode = host.get_fact(ZooKeeperMode, port=s["zookeeper_client_port"])
    return svc.run(
        unit, changes, session, last="the leader" if mode == "leader" else None, wait=wait
    )


def safe_restart_values(cluster: Cluster, node: Node, zkid: int | None) -> dict:
    """The safe-restart script's values: this server and the inventory's other servers (the
    steps of a membership change pass their own with --gate and --size)."""
    s = node.settings
    return {
        "zkid": zkid,
        "client_port": s["zookeeper_client_port"],
        "ensemble_size": len(cluster.ensemble),
        "peers": [
            shlex.quote(f"{p.zkid} {p.address} {p.settings['zookeeper_client_port']}")
            for p in cluster.ensemble
            if p.name != node.name
        ],
        "gate_seconds": GATE_SECONDS,
        "wait_seconds": s["zookeeper_restart_wait_seconds"],
    }


def ensemble_plan(cluster: Cluster) -> EnsemblePlan:
    """This run's membership change, planned once from the preflight's live states (which
    refused the run already if the plan has problems) and printed once."""

    def compute() -> EnsemblePlan:
        plan = plan_ensemble_change(cluster, live_states(ctx_inventory.get(), cluster))
        if plan.steps:
            lines = "\n".join(f"    {line}" for line in plan.describe())
            print(f"--> ZooKeeper membership change:\n{lines}", file=sys.stderr, flush=True)
        return plan

    return once_per_run("ensemble-plan", compute)


@deploy("ZooKeeper membership")
def change_ensemble(cluster: Cluster, node: Node, session: RollSession) -> None:
    """The membership change's actions in the plan's order across all hosts, so that a step
    ends on every host before the next begins. pyinfra orders operations only along each
    host's own list, so every host queues every action (one call site, ordered by the loop
    position); only the host it is for has a command to run."""
    plan = ensemble_plan(cluster)
    leaving = [z for z, name in plan.owners.items() if name == node.name and not node.zookeeper]
    if leaving:
        # No longer a zookeeper host, so configure_zookeeper did not write its script: the
        # steps need this version's (--gate, --hand-off), whatever deploy wrote the last one.
        put_template(
            "Safe restart script zookeeper-safe-restart (leaving the ensemble)",
            SAFE_RESTART_TEMPLATE,
            f"{SCRIPT_DIR}/zookeeper-safe-restart",
            mode="755",
            roll_library=ROLL_LIBRARY,
            **safe_restart_values(cluster, node, leaving[0]),
        )
    for action in host.loop(plan.actions()):
        mine = action.host == node.name
        server.shell(
            name=action.describe(),
            commands=[action_script(cluster, plan, action, session)] if mine else [],
        )


def action_script(
    cluster: Cluster, plan: EnsemblePlan, action: Action, session: RollSession
) -> str:
    node = cluster.node(action.host)
    s = node.settings
    if action.kind == "retire":
        # Stopped and disabled; its data and zoo.cfg stay (the preflight tells it from a
        # running server by its service).
        return "systemctl disable --now zookeeper.service"
    script = f"{SCRIPT_DIR}/zookeeper-safe-restart"
    size = f"--size {action.size}"
    gate = ",".join(
        f"{z} {cluster.node(plan.owners[z]).address} "
        f"{cluster.node(plan.owners[z]).settings['zookeeper_client_port']}"
        for z in action.gate
    )
    gated = f"{size}" + (f" --gate {shlex.quote(gate)}" if gate else "")
    if session.token:
        gated += f" --lock-token {session.token}"
    if action.kind == "hand-off":
        return f"{script} --hand-off {gated}"
    zoo_cfg = f"{s['zookeeper_config_dir']}/zoo.cfg"
    stage = staging_dir("zookeeper")
    properties = {
        k: v for k, v in cluster.zookeeper_properties(node).items() if not k.startswith("server.")
    }
    properties.update(zoo_cfg_servers(dict(action.servers)))
    candidate = Candidate(
        "zoo.cfg",
        zoo_cfg,
        render(ZOO_CFG_TEMPLATE, zkid=action.zkid, properties=properties),
        mode="640",
        user="root",
        group=s["zookeeper_user"],
    )
    check = ZOO_CFG_CHECK.replace("{candidate}", shlex.quote(f"{stage}/zoo.cfg"))
    place = [
        f"mkdir -p {shlex.quote(stage)}",
        stage_script(stage, candidate),
        place_script(action.host, "zoo.cfg", stage, [candidate], check, ZOO_CFG_CHECKER),
    ]
    # The process read this zoo.cfg: it started after the file was last written.
    current = (
        f"systemctl is-active --quiet zookeeper.service && "
        f"[ {started_file('zookeeper')} -nt {shlex.quote(zoo_cfg)} ]"
    )
    if action.kind == "start":
        unit = "zookeeper.service"
        start = (
            f"if {current}; then :; "
            f"elif systemctl is-active --quiet {unit}; then systemctl restart {unit}; "
            f"else systemctl start {unit}; fi"
        )
        wait = [f"{script} --wait-only {size}"] if action.wait else []
        return "\n".join([*place, "systemctl enable zookeeper.service", start, *wait])
    lines = []
    if action.leader_last:
        mode = ZooKeeperMode().command(s["zookeeper_client_port"])
        lines.append(
            f"if [ \"$({{ {mode}; }} | sed -n 's/^Mode: //p')\" = leader ]; then "
            f"echo 'server {action.zkid} leads: it restarts last'; exit 0; fi"
        )
    lines += place
    lines.append(f"if {current}; then echo 'server {action.zkid} runs this ensemble'; exit 0; fi")
    lines.append(f"{script} {gated}")
    return "\n".join(lines)
