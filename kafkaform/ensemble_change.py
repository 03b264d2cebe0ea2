"""ZooKeeper membership changes: the steps from the ensemble that runs to the inventory's.

Pure: the input is each host's live state (facts.live.LiveState) and the cluster model; the
output is a plan of steps that the deploy runs in order (deploys/tasks/zookeeper.py), or the
problems that stop it.

The procedure is a rolling *static* reconfiguration, one server per step, because ZooKeeper's
dynamic reconfiguration does not fit kafkaform's ensembles (3.8.x, the jars Kafka 3.9 ships):
it is off by default (``reconfigEnabled``) and turning it on is itself a restart of every
server; the ``reconfig`` command needs a ZooKeeper superuser (a digest secret in every
server's JVM) or ``skipACL``, which switches off every ACL Kafka sets; ZooKeeper then rewrites
zoo.cfg and a ``zoo.cfg.dynamic.<version>`` itself, so the config would no longer be the file
kafkaform renders, checks and fingerprints; and a standalone server cannot be reconfigured at
all (1 -> 3 needs its restart anyway).

Why one server per step: the quorums of two configurations that differ by one server always
intersect (a majority of n and a majority of n +/- 1 share a member), so servers running the
old and the new list during a step can never elect two leaders, and a new quorum always holds a
server with every committed transaction. A step never starts before the previous one is done,
so at most two configurations run at any moment.

A step:
- adding server X to an ensemble of two or more: X starts with the new list (it follows the
  running leader, which does not count its vote, and copies the data from it), then the
  other servers restart onto the new list one at a time, the leader last;
- leaving a standalone server (1 -> 2 or 3): the first new server starts (alone it is no
  quorum, so it waits), the standalone server restarts onto the new list (the one moment the
  single-server ensemble does not serve, as any restart of it), both form the quorum with the
  old server's data (its transactions are the newest, so it leads), then the second new
  server starts and follows;
- removing server X: if X leads, it hands the lead off first (stopped until another server
  leads, then started again: a server only follows a leader its own list names, so the
  others could not rejoin X once they drop it); the other servers restart onto the list
  without X one at a time, the leader last; then X is stopped and disabled, its data left on
  its disk. (Stopping X first instead would leave an ensemble of four one server short of a
  quorum at each of the others' restarts.)
- to standalone (3 -> 1): one leaving server stops (two of three still serve), the staying
  one restarts standalone, the last leaving one stops. A list of two is never rolled into
  from a running ensemble: a server restarted onto it needs both members' votes to rejoin
  the leader and does not count its own, so every restart would lose the quorum.
Additions come before removals (an ensemble never shrinks below what both ends need), added
servers by zkid, removed ones from the highest. Each rule above was checked against
ZooKeeper 3.8.4 on one machine (a server its leader does not list joins and syncs; one
restarted onto a list without the leader stays LOOKING until the leader changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kafkaform.cluster import Cluster, Node
from kafkaform.ensemble_lists import (
    Servers,
    State,
    in_service,
    path,
    running_servers,
    show,
    wanted_servers,
)
from kafkaform.validate import Problem

SEE = "See README, 'Changing a live cluster'."


@dataclass(frozen=True)
class Action:
    """What one host does in a step, run by the deploy in plan order.

    start: write zoo.cfg with ``servers``, start and enable ZooKeeper (``wait``: until it
    serves). restart: write zoo.cfg with ``servers`` and restart through the safe-restart
    script once ``gate`` serves; nothing if it already runs that file; ``leader_last``: a
    leader waits for the second pass. hand-off: if it leads, stop it until one of ``gate``
    leads, then start it again (``servers``: the list it runs). retire: stop and disable
    ZooKeeper, data left in place.
    """

    kind: str  # "start" | "restart" | "hand-off" | "retire"
    host: str
    zkid: int
    servers: tuple[tuple[int, str], ...] = ()
    gate: tuple[int, ...] = ()  # zkids that must serve before this server restarts
    wait: bool = True
    leader_last: bool = False

    @property
    def size(self) -> int:
        """Servers of the step's ensemble: 1 means this server runs standalone."""
        return len(self.servers)

    def describe(self) -> str:
        what = {
            "start": "start",
            "restart": "restart",
            "hand-off": "hand off the lead of",
            "retire": "stop and disable",
        }
        return f"{what[self.kind]} server {self.zkid} on {self.host}"


@dataclass(frozen=True)
class Step:
    before: Mapping[int, str]
    after: Mapping[int, str]
    actions: tuple[Action, ...]

    def describe(self) -> str:
        if self.before == self.after:
            restarted = sorted({a.zkid for a in self.actions})
            return f"finish an interrupted step: restart server(s) {restarted} onto their zoo.cfg"
        added = sorted(set(self.after) - set(self.before))
        removed = sorted(set(self.before) - set(self.after))
        change = [f"+server.{z}" for z in added] + [f"-server.{z}" for z in removed]
        return f"{len(self.before)} -> {len(self.after)} servers ({', '.join(change)})"


@dataclass(frozen=True)
class EnsemblePlan:
    steps: tuple[Step, ...] = ()
    problems: tuple[Problem, ...] = ()
    owners: Mapping[int, str] = field(default_factory=dict)  # zkid -> host of every server

    @property
    def hosts(self) -> set[str]:
        """Hosts whose ZooKeeper the steps start, restart or retire (their zoo.cfg is the
        steps' to write)."""
        return {a.host for step in self.steps for a in step.actions}

    def actions(self) -> list[Action]:
        return [a for step in self.steps for a in step.actions]

    def describe(self) -> list[str]:
        return [f"step {i}: {step.describe()}" for i, step in enumerate(self.steps, 1)]


def plan_ensemble_change(cluster: Cluster, states: Mapping[str, State]) -> EnsemblePlan:
    """The steps from the ensemble the hosts run to the inventory's, or why there are none.

    ``states``: the hosts that were read. No step and no problem: nothing runs yet (a first
    deploy) or the ensemble already is the inventory's.
    """
    running = {name: s for name, s in states.items() if running_servers(s) is not None}
    if not running:
        return EnsemblePlan()
    problems = id_problems(cluster, states)
    owners, owner_problems = server_hosts(cluster, states)
    problems += owner_problems
    current, current_problems = current_servers(cluster, running)
    problems += current_problems
    wanted = wanted_servers(cluster)
    if problems or current is None:
        return EnsemblePlan(problems=tuple(problems))
    problems += move_problems(cluster, current, wanted)
    if problems or current == wanted:
        return EnsemblePlan(problems=tuple(problems))
    configs = path(current, wanted)
    for zkid in set(wanted) | set(current):
        if zkid not in owners:
            problems.append(no_host(cluster, zkid, wanted.get(zkid) or current[zkid]))
        elif owners[zkid] not in states:
            problems.append(
                Problem(
                    owners[zkid],
                    "zookeeper",
                    f"server.{zkid} takes part in a membership change "
                    f"({show(current)} -> {show(wanted)}) but this host was not read (--limit?): "
                    "a membership change needs every server's host in the run.",
                )
            )
    if problems:
        return EnsemblePlan(problems=tuple(problems))
    problems += two_server_problems(cluster, configs)
    if problems:
        return EnsemblePlan(problems=tuple(problems))
    steps = [finish_step(current, owners, running)] if stale(current, running) else []
    for before, after in zip(configs, configs[1:], strict=False):
        steps.append(Step(before, after, step_actions(before, after, owners)))
    problems += stale_joiner_problems(cluster, states, steps)
    if problems:
        return EnsemblePlan(problems=tuple(problems))  # nothing runs while one is refused
    return EnsemblePlan(steps=tuple(steps), owners=owners)


def stale(current: Servers, running: Mapping[str, State]) -> list[int]:
    """Servers listing ``current`` in their zoo.cfg but started before it was written: the
    last restart of a step a run was interrupted before. Such a server still runs the step's
    older list, so the step is finished before the next one starts (two steps apart, two
    lists need not share a majority)."""
    return sorted(
        int(state["zookeeper"]["myid"])
        for state in running.values()
        if state["zookeeper"].get("stale")
        and state["services"]["zookeeper"]["active"]
        and state["zookeeper"]["myid"] is not None
        and running_servers(state) == dict(current)
    )


def finish_step(current: Servers, owners: Mapping[int, str], running: Mapping[str, State]) -> Step:
    """Restart the stale servers onto the list in their file, each while the rest serve, a
    leader in the second pass."""
    servers = tuple(sorted(current.items()))
    actions = tuple(
        Action("restart", owners[z], z, servers, gate=tuple(x for x in current if x != z),
               leader_last=leader_last)
        for leader_last in (True, False)
        for z in stale(current, running)
    )  # fmt: skip
    return Step(current, current, actions)


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


def step_actions(before: Servers, after: Servers, owners: Mapping[int, str]) -> tuple[Action, ...]:
    servers = tuple(sorted(after.items()))
    joiners = sorted(set(after) - set(before))
    leavers = sorted(set(before) - set(after))
    stayers = sorted(set(before) & set(after))

    def start(zkid: int, wait: bool = True) -> Action:
        return Action("start", owners[zkid], zkid, servers, wait=wait)

    def restart(zkid: int, gate: tuple[int, ...], leader_last: bool) -> Action:
        return Action("restart", owners[zkid], zkid, servers, gate=gate, leader_last=leader_last)

    if len(before) == 1 and joiners:
        # Leaving standalone: one new server waits (alone it is no quorum), the old one
        # restarts into the quorum with it, then the others join.
        (old,) = stayers
        return (
            start(joiners[0], wait=False),
            restart(old, (), False),
            *(start(z) for z in joiners[1:]),
        )
    if len(after) == 1:
        # To standalone: no server follows another any more. The others stop around the
        # restart of the one that stays (the last while it restarts: it still had a quorum).
        (stays,) = stayers
        highest_first = sorted(leavers, reverse=True)
        first, last = highest_first[:-1], highest_first[-1:]
        gate = tuple(last)
        return (
            *(Action("retire", owners[z], z) for z in first),
            restart(stays, gate, False),
            *(Action("retire", owners[z], z) for z in last),
        )
    union = sorted(set(before) | set(after))
    rolls = [
        restart(z, tuple(x for x in union if x != z), leader_last)
        for leader_last in (True, False)
        for z in stayers
    ]
    # A leaver that leads hands off first.
    hand_offs = [
        Action(
            "hand-off",
            owners[z],
            z,
            tuple(sorted(before.items())),
            gate=tuple(x for x in sorted(before) if x != z),
        )
        for z in leavers
    ]
    retire = [Action("retire", owners[z], z) for z in leavers]
    return (*(start(z) for z in joiners), *hand_offs, *rolls, *retire)


def two_server_problems(cluster: Cluster, configs: list[dict[int, str]]) -> list[Problem]:
    """A running server restarted onto a list of two cannot rejoin the leader (it needs both
    members' votes and does not count its own), so every restart into it loses the quorum:
    kafkaform rolls into an ensemble of two only from a standalone server."""
    problems = []
    for before, after in zip(configs, configs[1:], strict=False):
        if len(after) == 2 and len(before) > 1:
            where = cluster.ensemble[0].name if cluster.ensemble else cluster.nodes[0].name
            problems.append(
                Problem(
                    where,
                    "zookeeper",
                    f"the change {show(before)} -> {show(after)} rolls servers into a list of "
                    "two, which loses the quorum at every restart. Keep three servers or more, "
                    f"or go to one. {SEE}",
                )
            )
    return problems


def stale_joiner_problems(
    cluster: Cluster, states: Mapping[str, State], steps: list[Step]
) -> list[Problem]:
    """A server that joins a standalone one must be empty: the two elect the newest data,
    and old data there (a server removed earlier) could win over the ensemble's."""
    problems = []
    for step in steps:
        if len(step.before) != 1:
            continue
        for action in step.actions:
            if action.kind != "start":
                continue
            node = cluster.node(action.host)
            state = states.get(node.name)
            if state is None or in_service(state):
                continue  # started by this step already (a run that is finished now)
            held = held_data(node, state)
            if held:
                problems.append(
                    Problem(
                        node.name,
                        "zookeeper",
                        f"server.{action.zkid} would join the standalone server with ZooKeeper "
                        f"data already in {held}: elected against the standalone server, old "
                        f"data could win. Move {held}/version-2 aside on this host, then "
                        f"deploy. {SEE}",
                    )
                )
    return problems


def held_data(node: Node, state: State) -> str | None:
    s = node.settings
    for path_ in (s["zookeeper_data_dir"], s["zookeeper_datalog_dir"]):
        if state["dirs"]["zookeeper"].get(path_, {}).get("files", 0) > 0:
            return path_
    return None
