"""A live security rollout: a running plaintext cluster turned into a sasl_ssl one (and back)
by a sequence of safe rolls, one step per deploy run.

The steps (``STEPS``), each what the ZooKeeper servers and the brokers are rendered at, and
whether kafkaform's own ZooKeeper clients (control machine, host scripts) use TLS and SASL:

    0 plaintext                   -                    -
    1 zookeeper_secure_port       ZooKeeper roll       TLS port and SASL beside the plain ones
    2 zookeeper_quorum_secured    ZooKeeper roll       quorum TLS + SASL; the machinery moves
    3 kafka_secure_listeners      broker roll          SASL_SSL listeners, authorizer (PLAINTEXT
                                                       clients: User:ANONYMOUS, a super user)
    4 kafka_inter_broker_secured  broker roll          brokers talk SASL_SSL; znodes get ACLs
                                                       (hold here: kafka_plaintext_listener)
    5 sasl_ssl                    ZooKeeper + brokers  logins enforced; PLAINTEXT gone

Every client's side of a step works with the servers at that step and at the steps next to it,
so a roll between two steps never cuts anyone off.

Nothing is recorded between runs: each run reads where every host is from its live config
(zoo.cfg, server.properties), works out the last step every host has completed in the
direction of the target, and renders the next one. A run interrupted mid-roll leaves hosts at
that next step; the next run renders the same step and finishes it. Pure: the live configs
and the inventory in, a plan out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafkaform import security, zookeeper_security
from kafkaform.cluster import Cluster, Node
from kafkaform.ensemble_config import LOOPBACK
from kafkaform.ensemble_lists import committed
from kafkaform.settings import (
    KAFKA_STAGE_KEY,
    PLAINTEXT,
    SASL_SSL,
    ZOOKEEPER_CLIENTS_KEY,
    ZOOKEEPER_STAGE_KEY,
)
from kafkaform.validation.problems import Problem
from kafkaform.zookeeper_client import cluster_settings

State = Mapping[str, Any]  # facts.live.LiveState's dict
HOLD_SETTING = "kafka_plaintext_listener"


@dataclass(frozen=True)
class Step:
    name: str
    zookeeper: str  # zookeeper_security.ZOOKEEPER_STAGES
    kafka: str  # security.STAGE_ORDER
    zookeeper_clients_secure: bool
    does: str  # what the run that renders this step changes, for the plan's message

    def keys(self) -> dict[str, Any]:
        """What this step writes into each host's settings (kafkaform.settings' rollout keys)."""
        return {
            ZOOKEEPER_STAGE_KEY: self.zookeeper,
            KAFKA_STAGE_KEY: self.kafka,
            ZOOKEEPER_CLIENTS_KEY: self.zookeeper_clients_secure,
        }


STEPS = (
    Step(PLAINTEXT, PLAINTEXT, PLAINTEXT, False, "no security"),
    Step(
        "zookeeper_secure_port",
        "secure_port_added",
        PLAINTEXT,
        False,
        "ZooKeeper servers roll: a TLS client port and SASL logins beside the plain ones",
    ),
    Step(
        "zookeeper_quorum_secured",
        "quorum_secured",
        PLAINTEXT,
        True,
        "ZooKeeper servers roll: the quorum talks TLS and logs in; kafkaform's ZooKeeper "
        "clients move to TLS",
    ),
    Step(
        "kafka_secure_listeners",
        "quorum_secured",
        "secure_listeners_added",
        True,
        "brokers roll: SASL_SSL listeners beside PLAINTEXT, the ACL authorizer on (PLAINTEXT "
        "clients stay super users), ZooKeeper over TLS",
    ),
    Step(
        "kafka_inter_broker_secured",
        "quorum_secured",
        "inter_broker_secured",
        True,
        "brokers roll: inter-broker traffic over SASL_SSL, znodes get ACLs; clients may move "
        "to the SASL_SSL listener",
    ),
    Step(
        SASL_SSL,
        SASL_SSL,
        SASL_SSL,
        True,
        "ZooKeeper servers roll (logins enforced), then brokers roll (PLAINTEXT removed)",
    ),
)
FINAL = {PLAINTEXT: 0, SASL_SSL: len(STEPS) - 1}


def target_step(settings: Mapping[str, Any]) -> int:
    """Where the inventory asks the cluster to be: its level's end, or the hold before
    PLAINTEXT goes while clients move (kafka_plaintext_listener)."""
    if security.level(settings) == SASL_SSL:
        return FINAL[SASL_SSL] - 1 if settings.get(HOLD_SETTING) else FINAL[SASL_SSL]
    return FINAL[PLAINTEXT]


@dataclass(frozen=True)
class Position:
    """Where one host's live configs are: each role's stage index, None for a role it does
    not have (or has no config for yet)."""

    zookeeper: int | None
    kafka: int | None

    def at_or_beyond(self, step: Step) -> bool:
        z, k = _indices(step)
        return (self.zookeeper is None or self.zookeeper >= z) and (
            self.kafka is None or self.kafka >= k
        )

    def at_or_below(self, step: Step) -> bool:
        z, k = _indices(step)
        return (self.zookeeper is None or self.zookeeper <= z) and (
            self.kafka is None or self.kafka <= k
        )


def _indices(step: Step) -> tuple[int, int]:
    return (
        zookeeper_security.ZOOKEEPER_STAGES.index(step.zookeeper),
        security.STAGE_ORDER.index(step.kafka),
    )


@dataclass(frozen=True)
class RolloutPlan:
    final: int  # the step of the inventory's level's end (what a deploy renders by default)
    target: int
    done: int  # the last step every host has reached, walking towards the target
    render: int  # the step this run renders
    positions: Mapping[str, Position] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    # Hosts whose service runs a process older than its config (a roll stopped half way):
    # the run renders their files' step again, and their services restart.
    behind: tuple[str, ...] = ()

    @property
    def step(self) -> Step:
        return STEPS[self.render]

    @property
    def under_way(self) -> bool:
        """This run changes the cluster's security step (or finishes one)."""
        return self.render != self.done or bool(self.behind)

    @property
    def staged(self) -> bool:
        """The run renders a step that is not its level's end (so the hosts' settings must say
        which): during a rollout, and at the hold."""
        return bool(self.positions) and self.render != self.final

    def describe(self) -> str:
        step = self.step
        if not self.under_way:
            if self.render == self.target and self.staged:
                return (
                    f"Security rollout: holding at step {self.render}/{len(STEPS) - 1} "
                    f"({step.name}) while {HOLD_SETTING} is True: clients move to the SASL_SSL "
                    "listener; set it to False and deploy again to remove PLAINTEXT."
                )
            return ""
        if self.behind:
            return (
                f"Security rollout: this run renders step {self.render}/{len(STEPS) - 1} "
                f"({step.name}) again to finish it: {', '.join(self.behind)} still run the "
                "config from before it; their services restart."
            )
        direction = "towards" if self.render > self.done else "back towards"
        left = abs(self.target - self.render)
        then = (
            f" {left} more step(s) to go: run the same deploy again after this one."
            if left
            else " This is the last step."
        )
        return (
            f"Security rollout {direction} step {self.target} ({STEPS[self.target].name}): "
            f"this run renders step {self.render}/{len(STEPS) - 1} ({step.name}): "
            f"{step.does}.{then}"
        )

    def apply(self, cluster: Cluster) -> Cluster:
        """The cluster whose hosts' settings say this run's step (unchanged when the step is
        the level's end: a deploy that is no rollout renders what it always did)."""
        if not self.staged:
            return cluster
        keys = self.step.keys()
        return Cluster(tuple(Node(n.name, n.data, {**n.settings, **keys}) for n in cluster.nodes))


def position(node: Node, state: State) -> Position:
    """ValueError (naming what it found) for a live config that is no stage of any step."""
    zk_config = state.get("zookeeper", {}).get("config") if node.zookeeper else None
    kafka_config = state.get("kafka", {}).get("config") if node.kafkaid is not None else None
    zk = zookeeper_security.live_server_stage(zk_config)
    kafka = security.live_stage(kafka_config)
    return Position(
        None if zk is None else zookeeper_security.ZOOKEEPER_STAGES.index(zk),
        None if kafka is None else security.STAGE_ORDER.index(kafka),
    )


def loopback_members(states: Mapping[str, State], step: Step) -> list[Problem]:
    """A step back to clients of the plain ZooKeeper port while members bind it to loopback:
    the way back to the hold (kafka_inter_broker_secured) opens it again (a reconfig of the
    member lines, bound as the servers roll); if the lines still say loopback, that did not
    happen, and the brokers would be cut off: refused."""
    found = committed(states)
    if not any(f";{LOOPBACK}:" in line for line in (found[1] if found else {}).values()):
        return []
    return [
        Problem(
            "cluster",
            "security",
            f"step {step.name} needs ZooKeeper's plain client port on the network, but the "
            f"ensemble's member lines still bind it to {LOOPBACK}: the step back to "
            "kafka_inter_broker_secured changes them; deploy with "
            "kafka_plaintext_listener = True and security sasl_ssl once, then again",
        )
    ]


def plan_rollout(
    cluster: Cluster,
    states: Mapping[str, State],
    complete: bool,
    behind: Mapping[str, list[str]] | None = None,
) -> RolloutPlan:
    """``states``: LiveState per host read this run; ``complete``: every inventory host is
    among them (a --limit run is not, and may not take a step); ``behind``: per host, the
    services whose process started before their config file was written."""
    settings = cluster_settings(cluster)
    target = target_step(settings)
    final = FINAL[SASL_SSL if security.level(settings) == SASL_SSL else PLAINTEXT]
    positions: dict[str, Position] = {}
    problems: list[Problem] = []
    for name, state in states.items():
        try:
            found = position(cluster.node(name), state)
        except ValueError as error:
            problems.append(Problem(name, "security", f"live config: {error}"))
            continue
        if found != Position(None, None):
            positions[name] = found
    if problems:
        return RolloutPlan(final, target, target, target, positions, tuple(problems))
    if not positions:  # a new cluster: its level's end from the start
        return RolloutPlan(final, target, target, target)
    forward = max(
        i for i, s in enumerate(STEPS) if all(p.at_or_beyond(s) for p in positions.values())
    )
    back = min(i for i, s in enumerate(STEPS) if all(p.at_or_below(s) for p in positions.values()))
    if back - forward > 1:
        spread = ", ".join(f"{name} {p}" for name, p in sorted(positions.items()))
        problems.append(
            Problem(
                "cluster",
                "security",
                f"hosts are more than one rollout step apart ({spread}); kafkaform moves them "
                "one step at a time: put the odd host's config back, then deploy again",
            )
        )
        return RolloutPlan(final, target, forward, forward, positions, tuple(problems))
    late = tuple(
        f"{name} ({', '.join(services)})"
        for name, services in sorted((behind or {}).items())
        if services and name in positions
    )
    if late and forward == back:
        # Every file is at one step, some processes are not: that step is half done.
        return RolloutPlan(final, target, forward, forward, positions, behind=late)
    if target > forward:
        done, render = forward, forward + 1
    elif target < back:
        done, render = back, back - 1
    else:
        done = render = target
    if render < done and STEPS[render].kafka == PLAINTEXT:  # brokers back on the plain port
        problems += loopback_members(states, STEPS[render])
    if render != done and not complete:
        problems.append(
            Problem(
                "cluster",
                "security",
                f"a security rollout step ({STEPS[render].name}) changes every host: run it "
                "without --limit",
            )
        )
    return RolloutPlan(final, target, done, render, positions, tuple(problems))
