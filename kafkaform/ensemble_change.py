"""ZooKeeper membership changes: the steps from the ensemble that runs to the inventory's.

Pure: the input is each host's live state (facts.live.LiveState) and the cluster model; the
output is a plan that the deploy runs in order (deploys/tasks/zookeeper.py), or the problems
that stop it.

Membership changes use ZooKeeper's dynamic reconfiguration (kafkaform.ensemble_config for the
files): a quorum of the committed members serves at every moment, and no server restarts.
- join: a new server starts with the committed members plus itself (its join file) and follows
  the leader as a non-voting learner, copying its data;
- add: ``reconfig`` makes it a member (kafkaform.ensemble_reconfig, from the control machine);
- remove: ``reconfig`` takes a member out, followers first, the leader last (ZooKeeper 3.8 hands
  the lead to a survivor without an election; the one step with a short hand-off);
- retire: the removed server is stopped and disabled, its dynamic and join files deleted (so
  it cannot start again by accident), its data left on its disk.
1 <-> 3 takes one reconfig of two servers: an ensemble of two is never passed through (one
failure there stops the quorum, and with it any further reconfig).

The committed membership is the dynamic file of the highest version on any host. A run that
died mid-change is finished by the next: a joiner that runs but is not a member is added; a
member the inventory drops is removed; a removed server still in service is retired.

An ensemble whose zoo.cfg still lists the servers itself (a static one, deployed by an older
kafkaform) converts first, in the same run: configure_zookeeper writes the static zoo.cfg and
a join file with the running list, and the usual gated rolling restart, the leader last,
restarts each server onto them (one election, at the leader's restart).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kafkaform.cluster import Cluster
from kafkaform.ensemble_config import client_address, wanted_members
from kafkaform.ensemble_lists import (
    Servers,
    State,
    committed,
    in_service,
    is_static,
    path,
    running_servers,
    servers_of,
    show,
    wanted_servers,
)
from kafkaform.validate import Problem
from kafkaform.zookeeper_client import cluster_settings

SEE = "See README, 'Changing the ZooKeeper servers'."


@dataclass(frozen=True)
class Action:
    """One action of a membership change, run by the deploy in plan order.

    join: on ``host``, if its server does not run: write its join file (``members``: the
    committed ones and itself), start and enable it, wait until it follows. add / remove:
    ``reconfig`` from the control machine (queued on ``host``'s list), ``members``: the
    joining servers' lines. retire: stop and disable the server on ``host``, delete its
    dynamic and join files. bootstrap-acl: give the kafkaform user its ACL on
    /zookeeper/config (as the transient superuser), then delete the bootstrap files.
    """

    kind: str  # "bootstrap-acl" | "join" | "add" | "remove" | "retire"
    host: str
    zkids: tuple[int, ...] = ()
    members: tuple[tuple[int, str], ...] = ()

    def describe(self) -> str:
        ids = ",".join(str(z) for z in self.zkids)
        return {
            "bootstrap-acl": "give the kafkaform ZooKeeper user its ACL on /zookeeper/config",
            "join": f"start server {ids} on {self.host} to join the ensemble",
            "add": f"reconfig: add server(s) {ids}",
            "remove": f"reconfig: remove server(s) {ids}",
            "retire": f"stop and disable server {ids} on {self.host}",
        }[self.kind]


@dataclass(frozen=True)
class EnsemblePlan:
    steps: tuple[Action, ...] = ()
    problems: tuple[Problem, ...] = ()
    owners: Mapping[int, str] = field(default_factory=dict)  # zkid -> host of every server
    # What configure_zookeeper writes and does: host -> its join file's members (a fresh
    # ensemble, or a static one converting); hosts it must not start (the joins start them).
    join_files: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    joiners: frozenset[str] = frozenset()
    committed: Mapping[int, str] = field(default_factory=dict)  # zkid -> raw value, now
    bootstrap: bool = False  # the bootstrap superDigest is written, then the ACL set
    converting: bool = False

    @property
    def hosts(self) -> set[str]:
        """Hosts whose ZooKeeper an action starts or retires."""
        return {a.host for a in self.steps if a.kind in ("join", "retire")}

    def actions(self) -> list[Action]:
        return list(self.steps)

    def describe(self) -> list[str]:
        lines = ["convert the static ensemble: one rolling restart, the leader last"]
        lines = lines if self.converting else []
        return lines + [f"step {i}: {a.describe()}" for i, a in enumerate(self.steps, 1)]


def plan_ensemble_change(
    cluster: Cluster, states: Mapping[str, State], leader: int | None = None
) -> EnsemblePlan:
    """The actions from the ensemble the hosts run to the inventory's, or why there are none.

    ``states``: the hosts that were read. ``leader``: the zkid that leads now, if known (it is
    removed last). No action and no problem: the ensemble already is the inventory's.
    """
    running = {name: s for name, s in states.items() if running_servers(s) is not None}
    found = committed(states)
    wanted_raw = wanted_members(cluster)
    if not running:
        if found is not None or not cluster.ensemble:
            return EnsemblePlan()  # stopped: the members start from their own files
        fresh = {n.name: wanted_raw for n in cluster.ensemble}
        acl = (Action("bootstrap-acl", cluster.ensemble[0].name),)
        owners = {n.zkid: n.name for n in cluster.ensemble if n.zkid is not None}
        return EnsemblePlan(
            steps=acl, owners=owners, join_files=fresh, bootstrap=True, committed=wanted_raw
        )
    problems = id_problems(cluster, states)
    owners, owner_problems = server_hosts(cluster, states)
    problems += owner_problems
    static = {name: s for name, s in running.items() if is_static(s)}
    if static:
        current, current_problems = current_servers(cluster, static)
        problems += current_problems
        raw = {z: static_member(cluster, owners, z, a) for z, a in (current or {}).items()}
    elif found is not None:
        raw = dict(found[1])
        current = servers_of({f"server.{z}": v for z, v in raw.items()})
    else:
        current, current_problems = current_servers(cluster, running)
        problems += current_problems
        raw = {z: static_member(cluster, owners, z, a) for z, a in (current or {}).items()}
    wanted = wanted_servers(cluster)
    if problems or current is None:
        return EnsemblePlan(problems=tuple(problems))
    problems += move_problems(cluster, current, wanted)
    changing = current != wanted or bool(static)
    for zkid in sorted(set(wanted) | set(current)) if changing else []:
        if zkid not in owners:
            problems.append(no_host(cluster, zkid, wanted.get(zkid) or current[zkid]))
        elif owners[zkid] not in states:
            problems.append(
                Problem(
                    owners[zkid],
                    "zookeeper",
                    f"server.{zkid} takes part in a membership change or its conversion "
                    f"({show(current)} -> {show(wanted)}) but this host was not read "
                    "(--limit?): a membership change needs every server's host in the run.",
                )
            )
    if len(wanted) == 2 and current != wanted:
        problems.append(two_servers(cluster, current, wanted))
    if static:
        problems += static_leaver_problems(cluster, owners, current, wanted)
    if problems:
        return EnsemblePlan(problems=tuple(problems))
    steps: list[Action] = []
    bootstrap = bool(static) or any(s["zookeeper"].get("bootstrap") for s in states.values())
    if bootstrap:
        steps.append(Action("bootstrap-acl", owners[min(current)]))
    steps += membership_actions(owners, raw, wanted_raw, current, wanted, leader)
    steps += leftover_retires(cluster, states, owners, current, wanted)
    joiners = frozenset(owners[z] for z in set(wanted) - set(current))
    join_files = {h: raw for h in static_hosts(owners, current)} if static else {}
    join_files.update({h: raw for h in rebuilt_members(states, owners, current, wanted)})
    return EnsemblePlan(
        steps=tuple(steps),
        owners=owners,
        join_files=join_files,
        joiners=joiners,
        committed=raw,
        bootstrap=bootstrap,
        converting=bool(static),
    )


def rebuilt_members(
    states: Mapping[str, State], owners: Mapping[int, str], current: Servers, wanted: Servers
) -> list[str]:
    """Hosts of committed members that hold no membership file and do not run (a machine
    rebuilt under the same name): they rejoin with a join file of the committed members,
    which lists them, and copy the data from the leader."""
    found = []
    for zkid in sorted(set(current) & set(wanted)):
        state = states.get(owners[zkid])
        if state is None or in_service(state):
            continue
        zk = state["zookeeper"]
        if not zk.get("dynamic") and not zk.get("join"):
            found.append(owners[zkid])
    return found


def static_member(cluster: Cluster, owners: Mapping[int, str], zkid: int, address: str) -> str:
    """A static zoo.cfg's ``host:peer:election`` as a dynamic-config value (its host's port;
    on loopback only at the final secured stage, as ensemble_config.member_line)."""
    host = owners.get(zkid)
    settings = cluster.node(host).settings if host else cluster_settings(cluster)
    port = settings["zookeeper_client_port"] if host else 2181
    return f"{address}:participant;{client_address(settings, port)}"


def static_hosts(owners: Mapping[int, str], current: Servers) -> list[str]:
    return [owners[z] for z in sorted(current) if z in owners]


def membership_actions(
    owners: Mapping[int, str],
    raw: Mapping[int, str],
    wanted_raw: Mapping[int, str],
    current: Servers,
    wanted: Servers,
    leader: int | None,
) -> list[Action]:
    """Joins and adds by zkid, then removes and retires: followers from the highest zkid,
    the leader last; to and from a single server, two servers in one reconfig."""
    actions: list[Action] = []
    adds = sorted(set(wanted) - set(current))
    size = len(current)
    while adds:
        group = adds[:2] if size == 1 and len(adds) > 1 else adds[:1]
        adds = adds[len(group) :]
        for z in group:
            members = tuple(sorted({**raw, z: wanted_raw[z]}.items()))
            actions.append(Action("join", owners[z], (z,), members))
        lines = tuple((z, wanted_raw[z]) for z in group)
        actions.append(Action("add", owners[group[0]], tuple(group), lines))
        raw = {**raw, **dict(lines)}  # members for the next joins
        size += len(group)
    removes = sorted(set(current) - set(wanted), key=lambda z: (z == leader, -z))
    while removes:
        group = removes[-2:] if len(wanted) == 1 and len(removes) == 2 else removes[:1]
        removes = [z for z in removes if z not in group]
        actions.append(Action("remove", owners[min(group)], tuple(sorted(group))))
        actions += [Action("retire", owners[z], (z,)) for z in sorted(group)]
    return actions


def leftover_retires(
    cluster: Cluster,
    states: Mapping[str, State],
    owners: Mapping[int, str],
    current: Servers,
    wanted: Servers,
) -> list[Action]:
    """Servers removed from the committed membership but still in service (a run that died
    between a remove and its retire): retired."""
    actions = []
    for name, state in states.items():
        myid = state["zookeeper"]["myid"]
        if myid is None or myid in wanted or myid in current or not in_service(state):
            continue
        if state["zookeeper"]["config"] is None or owners.get(myid) != name:
            continue
        actions.append(Action("retire", name, (myid,)))
    return actions


def static_leaver_problems(
    cluster: Cluster, owners: Mapping[int, str], current: Servers, wanted: Servers
) -> list[Problem]:
    """A static server that leaves is not converted (only zookeeper hosts are): it could lead
    with reconfig off. Convert the ensemble first, then change it."""
    return [
        Problem(
            owners[z],
            "zookeeper",
            f"server.{z} runs a static ensemble ({show(current)}) and leaves it: convert the "
            "ensemble to dynamic membership first (deploy with this host still a zookeeper "
            f"host), then remove it. {SEE}",
        )
        for z in sorted(set(current) - set(wanted))
        if z in owners
    ]


def two_servers(cluster: Cluster, current: Servers, wanted: Servers) -> Problem:
    """An ensemble of two stops serving when either server fails (and with it any reconfig):
    kafkaform changes to one server or to three or more."""
    where = cluster.ensemble[0].name
    return Problem(
        where,
        "zookeeper",
        f"the change {show(current)} -> {show(wanted)} ends in a list of two servers, which "
        f"loses its quorum when either server fails. Keep one server or three or more. {SEE}",
    )


def id_problems(cluster: Cluster, states: Mapping[str, State]) -> list[Problem]:
    """A running server keeps its myid: a zkid is its identity in every peer's list."""
    problems = []
    for node in cluster.ensemble:
        state = states.get(node.name)
        myid = state["zookeeper"]["myid"] if state else None
        if state is None or myid is None or myid == node.zkid or not in_service(state):
            continue
        problems.append(
            Problem(
                node.name,
                "zkid",
                f"the running server's myid is {myid}, the inventory's zkid {node.zkid}: a "
                f"server keeps its zkid. Keep zkid {myid}; to renumber, remove this host from "
                f"the ensemble (zookeeper: False, deploy), then add it back with a new zkid "
                f"and its old data moved aside. {SEE}",
            )
        )
    return problems


def server_hosts(cluster: Cluster, states: Mapping[str, State]) -> tuple[dict[int, str], list]:
    """zkid -> the inventory host of each server, running or wanted."""
    owners: dict[int, str] = {n.zkid: n.name for n in cluster.ensemble if n.zkid is not None}
    problems = []
    for node in cluster.nodes:
        state = states.get(node.name)
        if state is None or node.zookeeper or running_servers(state) is None:
            continue
        myid = state["zookeeper"]["myid"]
        if myid is None:
            problems.append(
                Problem(
                    node.name,
                    "zookeeper",
                    "runs a ZooKeeper server without a myid, and is not a zookeeper host: "
                    "kafkaform cannot tell which server to remove. Stop and disable it by hand "
                    "(systemctl disable --now zookeeper) once the ensemble serves without it.",
                )
            )
        elif myid in owners:
            problems.append(
                Problem(
                    node.name,
                    "zookeeper",
                    f"runs ZooKeeper server {myid}, and the inventory gives zkid {myid} to "
                    f"{owners[myid]}: one id, two servers. Keep this host's zkid {myid} until "
                    f"it has left the ensemble, then give the id to another host. {SEE}",
                )
            )
        else:
            owners[myid] = node.name
    return owners, problems


def current_servers(
    cluster: Cluster, running: Mapping[str, State]
) -> tuple[dict[int, str] | None, list[Problem]]:
    """The membership the ensemble runs now. Two lists are a step that was interrupted (the
    older one is current, the step is run again); more, or two a step apart, are not ours."""
    lists: list[dict[int, str]] = []
    for state in running.values():
        servers = running_servers(state) or {}
        if servers not in lists:
            lists.append(servers)
    if len(lists) == 1:
        return lists[0], []
    if len(lists) == 2:
        wanted = wanted_servers(cluster)
        for old, new in (lists, lists[::-1]):
            configs = path(old, wanted)
            if len(configs) > 1 and configs[1] == new:
                return old, []
    listed = "; ".join(
        f"{name}: {show(running_servers(state) or {})}" for name, state in sorted(running.items())
    )
    first = min(running, key=lambda n: [x.name for x in cluster.nodes].index(n))
    problem = Problem(
        first,
        "zookeeper",
        f"the ZooKeeper servers run different server lists that are not one step of a "
        f"membership change ({listed}). Make every running server list the same servers "
        f"(the ones that serve now), restarting one at a time, then deploy. {SEE}",
    )
    return None, [problem]


def move_problems(cluster: Cluster, current: Servers, wanted: Servers) -> list[Problem]:
    """A server keeps its address and ports: change them by removing it and adding a new one."""
    problems = []
    for zkid in sorted(set(current) & set(wanted)):
        if current[zkid] == wanted[zkid]:
            continue
        node = next(n for n in cluster.ensemble if n.zkid == zkid)
        problems.append(
            Problem(
                node.name,
                "zookeeper",
                f"server.{zkid} would move: {current[zkid]} -> {wanted[zkid]}, which its peers "
                "cannot follow. Keep its address and ports; to move it, add a server with a "
                f"new zkid at the new place, deploy, then remove server.{zkid}. {SEE}",
            )
        )
    return problems


def no_host(cluster: Cluster, zkid: int, address: str) -> Problem:
    where = cluster.ensemble[0].name if cluster.ensemble else cluster.nodes[0].name
    return Problem(
        where,
        "zookeeper",
        f"server.{zkid}={address} runs in the ensemble but no host of the inventory runs it: "
        "kafkaform cannot stop it. List its host (zookeeper: False to remove it from the "
        f"ensemble). {SEE}",
    )
