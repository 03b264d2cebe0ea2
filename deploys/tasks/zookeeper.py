"""A ZooKeeper server: kafkaform's static zoo.cfg, myid = zkid, its own user and unit, and
the zookeeper-config ExecStartPre that adds the membership ZooKeeper committed
(kafkaform.ensemble_config); and the actions of a membership change
(kafkaform.ensemble_change), on every host they involve."""

import secrets
import shlex
import sys
from collections.abc import Callable

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_inventory
from pyinfra.operations import python, server, systemd

from deploys.tasks.host_files import put_template, put_text
from deploys.tasks.jmx_exporter import JmxAgent
from deploys.tasks.preflight import live_states
from deploys.tasks.roll import RollSession
from deploys.tasks.service import GATE_SECONDS, SCRIPT_DIR, JavaService, nothing
from deploys.tasks.zookeeper_security import mode_fact_arguments, security_files
from facts.zookeeper import ZooKeeperMode
from facts.zookeeper_admin import AdminSecret
from kafkaform import programs
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run, prepared_facts
from kafkaform.ensemble_change import Action, EnsemblePlan, plan_ensemble_change
from kafkaform.ensemble_config import (
    BOOTSTRAP_FILE,
    CONFIG_SCRIPT,
    JOIN_FILE,
    SECRET_FILE,
    SORT_VERSIONS,
    bootstrap_text,
    join_text,
    static_properties,
)
from kafkaform.ensemble_reconfig import ensure_acl, reconfig, wait_serving
from kafkaform.settings import zookeeper_clients_secured
from kafkaform.verify import node_mode
from kafkaform.zookeeper_client import cluster_settings
from kafkaform.zookeeper_security import (
    server_ca_path,
    server_jvm_options,
    zookeeper_client_port,
)

ZOO_CFG_TEMPLATE = "zookeeper/zoo.cfg.j2"
SAFE_RESTART_TEMPLATE = "zookeeper/zookeeper-safe-restart.sh.j2"
CONFIG_SCRIPT_TEMPLATE = "zookeeper/zookeeper-config.sh.j2"
ZOO_CFG_CHECKER = "the zoo.cfg syntax check"

# zoo.cfg's candidate check: key=value lines (comments and blanks aside), no key twice, and
# no membership (server.N, dynamicConfigFile: ZooKeeper's own files hold it).
ZOO_CFG_CHECK = (
    "awk '/^[[:space:]]*(#|$)/ { next } "
    '!/^[A-Za-z0-9._-]+=/ { print "line " NR " is not key=value: " $0; bad = 1; next } '
    '{ k = substr($0, 1, index($0, "=") - 1) } '
    'k in seen { print "line " NR " sets " k " a second time"; bad = 1 } '
    "k ~ /^(server\\.[0-9]+|dynamicConfigFile)$/ "
    '{ print "line " NR " sets " k " (membership is in the dynamic files)"; bad = 1 } '
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
    work = s["zookeeper_dynamic_dir"]
    svc = JavaService(
        name="zookeeper",
        label="ZooKeeper",
        user=s["zookeeper_user"],
        config_dir=s["zookeeper_config_dir"],
        log_dir=s["zookeeper_log_dir"],
        workdir=data_dir,
        install=install,
        nofile_limit=s["nofile_limit"],
        owned_dirs=[data_dir, s["zookeeper_datalog_dir"], work],
    )
    svc.prepare()
    plan = ensemble_plan(cluster)
    zoo_cfg = f"{svc.config_dir}/zoo.cfg"
    # ZooKeeper has no offline parser: the candidate must at least be key=value lines with
    # no key twice (a later one would silently win) and no membership (ZooKeeper's own).
    zoo_cfg_op = svc.checked_config(
        ZOO_CFG_TEMPLATE,
        zoo_cfg,
        ZOO_CFG_CHECK,
        ZOO_CFG_CHECKER,
        zkid=node.zkid,
        properties=static_properties(cluster, node),
    )
    svc.read_at_start.append(CONFIG_SCRIPT)
    changes = [
        zoo_cfg_op,
        put_template(
            "ZooKeeper zookeeper-config (its working config at each start)",
            CONFIG_SCRIPT_TEMPLATE,
            CONFIG_SCRIPT,
            mode="755",
            sort_versions=SORT_VERSIONS,
        ),
        # myid lives in dataDir, where ZooKeeper looks for it.
        svc.config("zookeeper/myid.j2", f"{data_dir}/myid", zkid=node.zkid),
        svc.log4j(programs.ZOOKEEPER, {}),
    ]
    member_files(cluster, node, plan)
    security_ops, security_read = security_files(node)
    changes += security_ops
    svc.read_at_start += security_read
    javaagent = None
    if agent:
        rules = f"{svc.config_dir}/jmx-exporter.yml"
        changes.append(
            svc.config(
                "jmx/zookeeper.yml.j2",
                rules,
                zkid=node.zkid,
                auth=agent.auth,
                secret=agent.auth is not None,  # the agent's password hash and salt
            )
        )
        changes += [agent.installed] if agent.installed else []
        javaagent = agent.argument(s["zookeeper_jmx_exporter_port"], rules)
    svc.safe_restart_script(SAFE_RESTART_TEMPLATE, **safe_restart_values(cluster, node, node.zkid))
    unit = svc.unit(
        description=f"ZooKeeper server {node.zkid} (kafkaform)",
        documentation="https://zookeeper.apache.org/doc/r3.8.4/zookeeperAdmin.html",
        program=programs.ZOOKEEPER,
        config_file=f"{work}/zoo.cfg",
        heap=s["zookeeper_heap"],
        jvm_opts=[*s["zookeeper_jvm_opts"], *server_jvm_options(s)],
        stop_timeout=60,
        after=[],
        javaagent=javaagent,
        pre_start=(config_command(node),),
        umask="0027",  # the working config may hold the bootstrap superDigest
    )
    if node.name in plan.joiners:
        # Started by its join step, with the committed members, then added by reconfig.
        systemd.daemon_reload(name="Reload systemd units")
        return nothing
    mode = host.get_fact(ZooKeeperMode, **mode_fact_arguments(s))
    return svc.run(
        unit, changes, session, last="the leader" if mode == "leader" else None, wait=wait
    )


def config_command(node: Node) -> str:
    """The unit's ExecStartPre that builds ZooKeeper's working config (ensemble_config)."""
    s = node.settings
    conf = s["zookeeper_config_dir"]
    return " ".join(
        [
            CONFIG_SCRIPT,
            f"{conf}/zoo.cfg",
            f"{conf}/{JOIN_FILE}",
            s["zookeeper_dynamic_dir"],
            str(node.zkid),
            f"{conf}/{BOOTSTRAP_FILE}",
        ]
    )


def member_files(cluster: Cluster, node: Node, plan: EnsemblePlan) -> None:
    """The join file (a fresh ensemble, or a static one converting: never on a running
    member, whose membership is ZooKeeper's own), the bootstrap superDigest with it, and the
    kafkaform user's password kept on the host when no setting gives it."""
    conf = node.settings["zookeeper_config_dir"]
    group = node.settings["zookeeper_user"]
    password = admin_password(cluster)
    if node.settings["zookeeper_admin_password"] is None:
        put_text(
            "ZooKeeper kafkaform user's password", f"{conf}/{SECRET_FILE}", password + "\n",
            "600", "root", "root",
        )  # fmt: skip
    members = plan.join_files.get(node.name)
    if members is None:
        return
    put_text(
        "ZooKeeper join file (first start)", f"{conf}/{JOIN_FILE}", join_text(members),
        "640", "root", group,
    )  # fmt: skip
    if plan.bootstrap:  # a fresh or converting ensemble: the ACL is set after the (re)starts
        put_text(
            "ZooKeeper bootstrap superuser (until the ACL is set)", f"{conf}/{BOOTSTRAP_FILE}",
            bootstrap_text(password), "640", "root", group,
        )  # fmt: skip


def admin_password(cluster: Cluster) -> str:
    """The kafkaform ZooKeeper user's password: the setting, else the one kept on the
    ZooKeeper hosts, else a new one (written to them by member_files)."""

    def compute() -> str:
        hosts = cluster.ensemble or cluster.nodes
        setting = hosts[0].settings["zookeeper_admin_password"]
        if setting is not None:
            return str(setting)
        run = ctx_inventory.get()
        active = set(run.get_active_hosts())
        names = {n.name for n in cluster.nodes}
        kept = prepared_facts(
            [h for h in run if h in active and h.name in names],
            AdminSecret,
            lambda h: {
                "path": f"{cluster.node(h.name).settings['zookeeper_config_dir']}/{SECRET_FILE}"
            },
        )
        found = sorted({v for v in kept.values() if v})
        if len(found) > 1:
            raise PyinfraError(
                "the ZooKeeper hosts keep different kafkaform passwords "
                f"({SECRET_FILE}): keep one on all of them, or set zookeeper_admin_password"
            )
        return found[0] if found else secrets.token_urlsafe(32)

    return once_per_run("zookeeper-admin-password", compute)


def safe_restart_values(cluster: Cluster, node: Node, zkid: int | None) -> dict:
    """The safe-restart script's values: this server and the inventory's other servers (the
    script prefers the membership ZooKeeper committed, read on the host at run time)."""
    s = node.settings
    values = {
        "zkid": zkid,
        "client_port": zookeeper_client_port(s),
        "ensemble_size": len(cluster.ensemble),
        "peers": [
            shlex.quote(f"{p.zkid} {p.address} {zookeeper_client_port(p.settings)}")
            for p in cluster.ensemble
            if p.name != node.name
        ],
        "gate_seconds": GATE_SECONDS,
        "wait_seconds": s["zookeeper_restart_wait_seconds"],
        "dynamic_dir": shlex.quote(s["zookeeper_dynamic_dir"]),
        "join_file": shlex.quote(f"{s['zookeeper_config_dir']}/{JOIN_FILE}"),
        "sort_versions": SORT_VERSIONS,
    }
    if zookeeper_clients_secured(s):  # srvr over TLS, as every client of the machinery
        values["tls_ca"] = shlex.quote(server_ca_path(s))
    return values


def ensemble_plan(cluster: Cluster) -> EnsemblePlan:
    """This run's membership change, planned once from the preflight's live states (which
    refused the run already if the plan has problems) and printed once."""

    def compute() -> EnsemblePlan:
        states = live_states(ctx_inventory.get(), cluster)
        plan = plan_ensemble_change(cluster, states, leader=leading_server(cluster, states))
        if plan.steps:
            lines = "\n".join(f"    {line}" for line in plan.describe())
            print(f"--> ZooKeeper membership change:\n{lines}", file=sys.stderr, flush=True)
        return plan

    return once_per_run("ensemble-plan", compute)


def leading_server(cluster: Cluster, states: dict) -> int | None:
    """The zkid that leads now (removed last), asked from the control machine."""
    for node in cluster.nodes:
        state = states.get(node.name)
        myid = state["zookeeper"]["myid"] if state else None
        if myid is None or not state["services"]["zookeeper"]["active"]:
            continue
        if node_mode(node) == "leader":
            return myid
    return None


@deploy("ZooKeeper membership")
def change_ensemble(cluster: Cluster, node: Node, session: RollSession) -> None:
    """The membership change's actions in the plan's order across all hosts, so that an
    action ends before the next begins. pyinfra orders operations only along each host's
    own list, so every host queues every action (one call site, ordered by the loop
    position); only the host it is for has something to run. add, remove and the ACL run
    on the control machine (python.call) when that host's list reaches them."""
    plan = ensemble_plan(cluster)
    ours = node.name in set(plan.owners.values()) | set(plan.join_files)
    for action in host.loop(plan.actions()):
        mine = action.host == node.name
        if action.kind in ("join", "retire"):
            server.shell(
                name=action.describe(),
                commands=[action_script(cluster, plan, action)] if mine else [],
            )
            continue
        if mine:  # the control machine runs it when this host's list reaches it
            python.call(
                name=action.describe(),
                function=control_action,
                cluster=cluster,
                plan=plan,
                action=action,
            )
        if action.kind == "bootstrap-acl" and ours:
            # The superDigest is no longer needed: out of the files (the running servers keep
            # it in memory until their next restart).
            bootstrap = f"{node.settings['zookeeper_config_dir']}/{BOOTSTRAP_FILE}"
            server.shell(
                name="Delete the ZooKeeper bootstrap superuser",
                commands=[f"rm -f {shlex.quote(bootstrap)}"],
            )


def client_hosts(cluster: Cluster, plan: EnsemblePlan, zkids: list[int]) -> str:
    nodes = [cluster.node(plan.owners[z]) for z in zkids if z in plan.owners]
    if not nodes:
        raise PyinfraError(f"no host of the inventory runs ZooKeeper servers {zkids}")
    return ",".join(f"{n.address}:{zookeeper_client_port(n.settings)}" for n in nodes)


def control_action(cluster: Cluster, plan: EnsemblePlan, action: Action) -> None:
    """add, remove, bootstrap-acl: through the committed members that stay."""
    password = admin_password(cluster)
    settings = cluster_settings(cluster)
    wanted = {n.zkid for n in cluster.ensemble}
    stay = sorted(z for z in plan.committed if z in wanted) or sorted(plan.committed)
    hosts = client_hosts(cluster, plan, stay)
    if action.kind == "bootstrap-acl":
        acl = ensure_acl(settings, hosts, password)
        print(f"    ACL of the kafkaform user: {acl}", file=sys.stderr)
    elif action.kind == "add":
        result = reconfig(settings, hosts, password, joining=action.members)
        print(f"    members now: {sorted(result)}", file=sys.stderr)
    elif action.kind == "remove":
        result = reconfig(settings, hosts, password, leaving=action.zkids)
        print(f"    members now: {sorted(result)}", file=sys.stderr)
        members = [cluster.node(plan.owners[z]) for z in sorted(result) if z in plan.owners]
        wait_serving(members)


def action_script(cluster: Cluster, plan: EnsemblePlan, action: Action) -> str:
    node = cluster.node(action.host)
    s = node.settings
    conf = s["zookeeper_config_dir"]
    work = shlex.quote(s["zookeeper_dynamic_dir"])
    join = shlex.quote(f"{conf}/{JOIN_FILE}")
    if action.kind == "retire":
        # Stopped and disabled, its membership files gone so that it cannot start again by
        # accident (zookeeper-config refuses it); its data stays.
        bootstrap = shlex.quote(f"{conf}/{BOOTSTRAP_FILE}")
        secret = shlex.quote(f"{conf}/{SECRET_FILE}")
        return "\n".join(
            [
                "systemctl disable --now zookeeper.service",
                f"rm -f {join} {bootstrap} {secret} {work}/zoo.cfg.dynamic.*",
            ]
        )
    (zkid,) = action.zkids
    text = join_text(dict(action.members))
    tmp = shlex.quote(f"{conf}/{JOIN_FILE}.tmp")
    user = shlex.quote(s["zookeeper_user"])
    script = f"{SCRIPT_DIR}/zookeeper-safe-restart"
    return "\n".join(
        [
            "if systemctl is-active --quiet zookeeper.service; then",
            f"  echo 'server {zkid} runs already'",
            "else",
            # Old versioned files (a server removed earlier) would name an old membership.
            f"  rm -f {work}/zoo.cfg.dynamic.*",
            f"  printf %s {shlex.quote(text)} > {tmp}",
            f"  chown root:{user} {tmp} && chmod 640 {tmp} && mv -f {tmp} {join}",
            "  systemctl enable zookeeper.service",
            "  systemctl start zookeeper.service",
            "fi",
            # Serving: a non-voting learner answers "follower".
            f"{script} --wait-only --size {len(action.members)}",
        ]
    )
