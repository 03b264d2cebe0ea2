"""Where a rolling version upgrade stands, worked out from what the hosts run now.

Kafka's procedure for a ZooKeeper-mode cluster (https://kafka.apache.org/39/documentation.html
#upgrade): phase 1 restarts every ZooKeeper server and broker, one at a time, on the new
binaries with ``inter.broker.protocol.version`` held at the version the cluster speaks now,
so that old and new brokers understand each other; phase 2 restarts them again without that
pin, so that they speak the new version. Once any broker has spoken a newer protocol, going
back below it is not supported. A patch step (3.9.1 -> 3.9.2) keeps the protocol: one roll.

One run does both phases, the second only once the first finished on every host; with
``kafka_upgrade_hold_protocol`` it stops after phase 1 (a window to verify the new binaries,
in which a rollback to the old version is still possible) until a run without it.

Pure: every input is what facts.live.LiveState read from the hosts (the distribution each
service's process runs, the live server.properties) plus the inventory. Nothing is recorded
between runs: a run interrupted anywhere leaves hosts whose state says which phase is still
to finish, so a plain re-run resumes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kafkaform.cluster import Cluster
from kafkaform.validation.problems import Problem

State = Mapping[str, Any]  # facts.live.LiveState's dict
PROTOCOL_KEY = "inter.broker.protocol.version"
SERVICES = ("zookeeper", "kafka")
# "3.8", "3.8-IV0", "3.8.1": Kafka reads the major.minor (and an inner version we keep).
PROTOCOL_RE = re.compile(r"^(\d+)\.(\d+)")
Version = tuple[int, int]  # a protocol's major.minor
HELD = (
    "kafka_upgrade_hold_protocol is True: the brokers keep the protocol they speak now, and "
    "going back to the old version is still possible. Set it to False and run the deploy "
    "again for phase 2."
)


class Phase(Enum):
    NONE = "none"  # nothing runs yet: the deploy starts the configured version
    PATCH = "patch"  # new binaries, same protocol: one roll
    PHASE_1 = "phase 1"  # new binaries, protocol held at the running one
    PHASE_2 = "phase 2"  # every service on the new binaries: the roll that unpins the protocol
    DONE = "done"  # every running service runs the configured version at its protocol


def protocol_of(value: str | None) -> Version | None:
    """The major.minor of a version or protocol value; None when it is none of them."""
    match = PROTOCOL_RE.match(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def shown(protocol: Version) -> str:
    return f"{protocol[0]}.{protocol[1]}"


def version_of(distribution: str | None) -> str | None:
    """``kafka_2.13-3.8.1`` -> ``3.8.1``."""
    if not distribution or "-" not in distribution:
        return None
    return distribution.rsplit("-", 1)[1]


@dataclass(frozen=True)
class Broker:
    """What one running broker speaks, and why."""

    host: str
    version: str | None  # of the binaries its process runs; None: not read
    pinned: str | None  # inter.broker.protocol.version in its live server.properties

    @property
    def protocol(self) -> Version | None:
        return protocol_of(self.pinned) or protocol_of(self.version)

    @property
    def spoken(self) -> str | None:
        """The protocol as a pin would say it: an exact pinned value (``3.7-IV1``) is kept."""
        protocol = self.protocol
        if protocol is None:
            return None
        return self.pinned if protocol_of(self.pinned) else shown(protocol)

    def because(self) -> str:
        if self.pinned:
            return f"{PROTOCOL_KEY}={self.pinned} in its server.properties"
        return f"Kafka {self.version} with no {PROTOCOL_KEY} pinned"


@dataclass(frozen=True)
class UpgradePlan:
    phase: Phase
    target: str  # the inventory's kafka_version
    pin: str | None  # the protocol kafkaform writes into server.properties; None: none
    running: dict[str, dict[str, str | None]] = field(default_factory=dict)  # host -> svc
    operator_pins: dict[str, str] = field(default_factory=dict)  # host -> kafka_properties
    behind: tuple[str, ...] = ()  # "host service" still on other binaries
    hold: bool = False  # kafka_upgrade_hold_protocol: no phase 2 until it is False

    @property
    def finishes_in_this_run(self) -> bool:
        """Phase 1, then phase 2 in the same run. Not when the operator holds the protocol,
        with kafka_upgrade_hold_protocol or a pin of their own in kafka_properties."""
        return self.phase is Phase.PHASE_1 and not self.hold and not self.operator_pins

    def describe(self) -> str:
        """One paragraph for the operator: where the upgrade stands and what this run does."""
        lines = [f"kafka_version {self.target}: upgrade {self.phase.value}"]
        if self.phase is Phase.PHASE_1:
            lines.append(
                f"this run restarts {', '.join(self.behind)} on Kafka {self.target} with "
                f"{PROTOCOL_KEY}={self.pin}; the version running now stays installed."
            )
            if self.finishes_in_this_run:
                lines.append(
                    f"Then phase 2: it restarts the brokers again with {PROTOCOL_KEY} "
                    f"{shown(target_protocol(self.target))}, one at a time."
                )
            elif self.hold:
                lines.append(HELD)
        elif self.phase is Phase.PHASE_2 and self.hold:
            lines.append(f"every service runs Kafka {self.target}; {HELD}")
        elif self.phase is Phase.PHASE_2:
            lines.append(
                f"every service runs Kafka {self.target}; this run restarts the brokers with "
                f"{PROTOCOL_KEY} {shown(target_protocol(self.target))}; after it, going back "
                "below that version is refused."
            )
        elif self.phase is Phase.PATCH:
            lines.append(
                f"same protocol: this run restarts {', '.join(self.behind)} on Kafka "
                f"{self.target}, one host at a time."
            )
        for host, value in sorted(self.operator_pins.items()):
            lines.append(
                f"{host}: {PROTOCOL_KEY}={value} from kafka_properties is kept (yours wins "
                "over the upgrade's); phase 2 happens when you remove it."
            )
        return "\n".join(lines)


def target_protocol(version: str) -> Version:
    protocol = protocol_of(version)
    assert protocol, version  # validation: kafka_version is major.minor.patch
    return protocol


def running_brokers(states: Mapping[str, State]) -> list[Broker]:
    brokers = []
    for host, state in sorted(states.items()):
        service = state["services"]["kafka"]
        if not service["active"]:
            continue
        config = state["kafka"]["config"] or {}
        brokers.append(
            Broker(host, version_of(service.get("distribution")), config.get(PROTOCOL_KEY))
        )
    return brokers


def running_versions(states: Mapping[str, State]) -> dict[str, dict[str, str | None]]:
    """host -> service -> the version its process runs (None: runs, version not read)."""
    found: dict[str, dict[str, str | None]] = {}
    for host, state in sorted(states.items()):
        for name in SERVICES:
            service = state["services"][name]
            if service["active"]:
                found.setdefault(host, {})[name] = version_of(service.get("distribution"))
    return found


def held_back(states: Mapping[str, State], wanted: Version) -> Broker | None:
    """The running broker speaking the lowest protocol (what every broker understands now)
    if that is below ``wanted``: an upgrade is under way; None otherwise."""
    known = [(p, b) for b in running_brokers(states) if (p := b.protocol) is not None]
    if not known:
        return None
    protocol, broker = min(known, key=lambda pair: pair[0])
    return broker if protocol < wanted else None


def operator_pins(cluster: Cluster) -> dict[str, str]:
    return {
        node.name: str(node.settings["kafka_properties"][PROTOCOL_KEY])
        for node in cluster.brokers
        if PROTOCOL_KEY in node.settings["kafka_properties"]
    }


def plan_upgrade(cluster: Cluster, states: Mapping[str, State]) -> UpgradePlan:
    """The phase the cluster is in for the inventory's kafka_version (one for the cluster:
    validation refuses a per-host one). ``upgrade_problems`` refuses, before this plan is
    used, a downgrade and a phase that cannot be told for sure."""
    target = cluster.nodes[0].settings["kafka_version"]
    wanted = target_protocol(target)
    running = running_versions(states)
    behind = tuple(
        f"{host} {name}"
        for host, services in running.items()
        for name, version in services.items()
        if version != target
    )
    pins = operator_pins(cluster)
    hold = any(b.settings["kafka_upgrade_hold_protocol"] is True for b in cluster.brokers)
    if not running:
        return UpgradePlan(Phase.NONE, target, None, running, pins)
    lowest = held_back(states, wanted)
    if lowest:
        if behind:
            return UpgradePlan(
                Phase.PHASE_1, target, lowest.spoken, running, pins, behind, hold=hold
            )
        # Held: the pin stays as phase 1 left it, so the run changes nothing.
        pin = lowest.spoken if hold else None
        return UpgradePlan(Phase.PHASE_2, target, pin, running, pins, hold=hold)
    if behind:
        return UpgradePlan(Phase.PATCH, target, None, running, pins, behind)
    return UpgradePlan(Phase.DONE, target, None, running, pins)


def pinned_properties(
    properties: Mapping[str, str], plan: UpgradePlan, host: str
) -> dict[str, str]:
    """A broker's rendered server.properties with the upgrade's pin; an operator's own
    ``inter.broker.protocol.version`` in kafka_properties (already in ``properties``) wins."""
    if plan.pin is None or host in plan.operator_pins:
        return dict(properties)
    return {**properties, PROTOCOL_KEY: plan.pin}


def downgrade_problems(cluster: Cluster, states: Mapping[str, State]) -> list[Problem]:
    """A kafka_version whose protocol is below one a running broker speaks: refused, with
    the host and why it speaks that version."""
    target = cluster.nodes[0].settings["kafka_version"]
    wanted = target_protocol(target)
    problems = []
    for broker in running_brokers(states):
        protocol = broker.protocol
        if protocol is not None and protocol > wanted:
            problems.append(
                Problem(
                    broker.host,
                    "kafka_version",
                    f"{target} speaks inter-broker protocol {shown(wanted)}, below the "
                    f"{shown(protocol)} this broker runs ({broker.because()}): Kafka does not "
                    "support going back below a protocol version the cluster has spoken "
                    "(its logs and ZooKeeper metadata may already use the newer format). "
                    f"Keep kafka_version at {shown(protocol)}.x or later.",
                )
            )
    return problems


def partial_run_problems(cluster: Cluster, states: Mapping[str, State]) -> list[Problem]:
    """An upgrade's phase is read from every host: a run that leaves hosts out (--limit)
    could take a half-done phase 1 for a finished one and unpin the protocol too early."""
    plan = plan_upgrade(cluster, states)
    if plan.phase not in (Phase.PHASE_1, Phase.PHASE_2):
        return []
    missing = [node.name for node in cluster.nodes if node.name not in states]
    return [
        Problem(
            name,
            "--limit",
            f"an upgrade to Kafka {plan.target} is in {plan.phase.value}: its phase is read "
            "from every host, and this run leaves this one out. Run without --limit.",
        )
        for name in missing
    ]


def unread_problems(cluster: Cluster, states: Mapping[str, State]) -> list[Problem]:
    """Mid-upgrade, a service whose version could not be read would make phase 2 look like
    phase 1, and pin brokers that already speak the new protocol back to the old one."""
    wanted = target_protocol(cluster.nodes[0].settings["kafka_version"])
    if not held_back(states, wanted):
        return []
    return [
        Problem(
            host,
            name,
            "runs, but which Kafka version its process runs could not be read (from its "
            "classpath in /proc/<pid>/cmdline); an upgrade's phase depends on it. Check "
            f"`systemctl status {name}` on the host and run again.",
        )
        for host, services in running_versions(states).items()
        for name, version in services.items()
        if version is None
    ]


def upgrade_problems(cluster: Cluster, states: Mapping[str, State]) -> list[Problem]:
    """What a deploy refuses before anything changes, for a version change."""
    return (
        downgrade_problems(cluster, states)
        or unread_problems(cluster, states)
        or partial_run_problems(cluster, states)
    )
