"""Where every partition's replicas should be: spread evenly over the brokers that stay, with
as few replicas copied as possible (scale out: ``kafkaform rebalance``), none left on a broker
that leaves (scale in: ``kafkaform drain``). Pure: no host, no tool; kafkaform.rebalance_cli
reads the cluster and runs the plan.

The planner counts replicas, not bytes, and keeps every partition on as many racks
(broker.rack) as it was on, or as it can be: each topic is spread on its own (its replicas within
floor..ceil of its fair share on every broker), then the brokers' totals are evened out by
moves that keep every topic spread, then each topic's preferred leaders (the first replica of
each partition) are spread by reordering replica lists, which copies nothing. A replica moves
only to correct one of these counts; a replica on a broker that stays is never moved for any
other reason, and a balanced cluster gives an empty plan (a re-run changes nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kafkaform.validate import Problem

PartitionId = tuple[str, int]  # (topic, partition)
Assignment = Mapping[PartitionId, tuple[int, ...]]  # replicas, preferred leader first


def fair_bounds(total: int, brokers: int) -> tuple[int, int]:
    """The fewest and the most of ``total`` items each of ``brokers`` holds when spread evenly."""
    return total // brokers, -(-total // brokers)


def replica_counts(assignment: Assignment, brokers: Iterable[int] = ()) -> Counter[int]:
    """Replicas per broker (``brokers`` counted even at 0)."""
    counts: Counter[int] = Counter({b: 0 for b in brokers})
    for replicas in assignment.values():
        counts.update(replicas)
    return counts


def leader_counts(assignment: Assignment, brokers: Iterable[int] = ()) -> Counter[int]:
    """Preferred leaders (first replicas) per broker."""
    counts: Counter[int] = Counter({b: 0 for b in brokers})
    counts.update(replicas[0] for replicas in assignment.values() if replicas)
    return counts


def show(partition: PartitionId) -> str:
    return f"{partition[0]}-{partition[1]}"


@dataclass(frozen=True)
class Move:
    """One partition's new replica list."""

    partition: PartitionId
    before: tuple[int, ...]
    after: tuple[int, ...]

    @property
    def added(self) -> tuple[int, ...]:
        """Brokers that copy the partition: what the throttle limits."""
        return tuple(b for b in self.after if b not in self.before)

    def __str__(self) -> str:
        what = "leader order only" if not self.added else f"copy to {_ids(self.added)}"
        return f"{show(self.partition)}: {_ids(self.before)} -> {_ids(self.after)} ({what})"


def _ids(brokers: Iterable[int]) -> str:
    return ",".join(str(b) for b in brokers)


@dataclass
class RebalancePlan:
    brokers: tuple[int, ...]  # the brokers that hold replicas afterwards
    before: dict[PartitionId, tuple[int, ...]]
    after: dict[PartitionId, tuple[int, ...]]
    errors: list[str] = field(default_factory=list)  # any error: nothing may run

    @property
    def moves(self) -> list[Move]:
        return [
            Move(p, self.before[p], self.after[p])
            for p in sorted(self.before)
            if self.after[p] != self.before[p]
        ]

    @property
    def emptied(self) -> tuple[int, ...]:
        """Brokers that hold replicas now and none afterwards."""
        return tuple(sorted(set(replica_counts(self.before)) - set(self.brokers)))

    @property
    def replicas_copied(self) -> int:
        return sum(len(m.added) for m in self.moves)

    def table(self) -> list[str]:
        """One line per broker: replicas and preferred leaders, now -> planned."""
        ids = sorted(set(self.brokers) | set(replica_counts(self.before)))
        rows = []
        counts = [
            replica_counts(self.before, ids),
            leader_counts(self.before, ids),
            replica_counts(self.after, ids),
            leader_counts(self.after, ids),
        ]
        for b in ids:
            now, led, then, leads = (c[b] for c in counts)
            rows.append(
                f"broker {b}: {now} replica(s), {led} leader(s) -> {then} replica(s), "
                f"{leads} leader(s)"
            )
        return rows

    def summary(self) -> str:
        moves = self.moves
        if not moves:
            return "balanced: nothing to move"
        copies = sum(1 for m in moves if m.added)
        return (
            f"{len(moves)} partition(s) to reassign: {copies} copy {self.replicas_copied} "
            f"replica(s), {len(moves) - copies} only change their preferred leader"
        )


def plan_rebalance(
    assignment: Assignment, brokers: Sequence[int], racks: Mapping[int, str] | None = None
) -> RebalancePlan:
    """Move the replicas of ``assignment`` so that only ``brokers`` hold them, evenly (see
    the module's docstring). Replicas on any other broker (one being drained, or one already
    taken out of the inventory) are all moved. ``racks`` (broker -> broker.rack): no move
    puts a partition's replicas on fewer racks than before, or than it can have."""
    targets = tuple(sorted(set(brokers)))
    before = {p: tuple(r) for p, r in assignment.items()}
    plan = RebalancePlan(targets, before, dict(before))
    if not targets:
        plan.errors.append("no broker would be left to hold the partitions")
        return plan
    for partition, replicas in sorted(before.items()):
        if len(set(replicas)) > len(targets):
            plan.errors.append(
                f"{show(partition)} has {len(replicas)} replicas and only {len(targets)} "
                f"broker(s) would hold partitions ({_ids(targets)}): lower its replication "
                "factor first, or keep more brokers"
            )
    if plan.errors:
        return plan
    placer = Placer(plan.after, targets, racks or {})
    placer.evacuate()
    for topic in sorted({p[0] for p in before}):
        placer.spread_topic(topic)
    placer.even_totals()
    for topic in sorted({p[0] for p in before}):
        placer.spread_leaders(topic)
    return plan


class Placer:
    """The moves of one plan, made on ``after`` in place, with the counts they need."""

    def __init__(
        self,
        after: dict[PartitionId, tuple[int, ...]],
        targets: tuple[int, ...],
        racks: Mapping[int, str],
    ):
        self.after = after
        self.targets = targets
        self.racks = racks
        self.rack_count = len({racks.get(b) for b in targets})
        self.total = replica_counts(after, targets)
        self.per_topic: dict[str, Counter[int]] = {}
        for (topic, _), replicas in after.items():
            self.per_topic.setdefault(topic, Counter({b: 0 for b in targets})).update(replicas)

    def rack_spread(self, replicas: Iterable[int]) -> int:
        """How many racks ``replicas`` are on (a broker with no rack is a rack of its own
        kind: None, as Kafka's rack-aware placement treats it)."""
        return len({self.racks.get(b) for b in replicas})

    def keeps_racks(self, partition: PartitionId, old: int, new: int) -> bool:
        """``new`` may take ``old``'s place: the partition stays on as many racks as before,
        or on as many as it can be (its replicas, at most the racks there are)."""
        if not self.racks:
            return True
        replicas = self.after[partition]
        after = [new if b == old else b for b in replicas]
        best = min(len(replicas), self.rack_count)
        return self.rack_spread(after) >= min(self.rack_spread(replicas), best)

    def replace(self, partition: PartitionId, old: int, new: int) -> None:
        """``new`` takes ``old``'s place in the list (so its preferred leadership too)."""
        replicas = self.after[partition]
        self.after[partition] = tuple(new if b == old else b for b in replicas)
        for counts in (self.total, self.per_topic[partition[0]]):
            counts[old] -= 1
            counts[new] += 1

    def evacuate(self) -> None:
        """Every replica on a broker that is not a target goes to the target holding the
        fewest of its topic (then the fewest overall)."""
        for partition in sorted(self.after):
            for old in self.after[partition]:
                if old in self.targets:
                    continue
                topic = self.per_topic[partition[0]]
                free = [b for b in self.targets if b not in self.after[partition]]
                # On a rack the partition lacks first: a drain must not lose a rack either.
                new = min(
                    free,
                    key=lambda b: (
                        not self.keeps_racks(partition, old, b),
                        topic[b],
                        self.total[b],
                        b,
                    ),
                )
                self.replace(partition, old, new)

    def spread_topic(self, topic: str) -> None:
        """Until the topic's replicas per broker differ by at most one."""
        counts = self.per_topic[topic]
        partitions = sorted(p for p in self.after if p[0] == topic)
        while True:
            pairs = [
                (src, dst)
                for src in sorted(self.targets, key=lambda b: (-counts[b], -self.total[b], b))
                for dst in sorted(self.targets, key=lambda b: (counts[b], self.total[b], b))
                if counts[src] - counts[dst] > 1
            ]
            if not self.move_one(pairs, lambda src, dst: partitions):
                return

    def even_totals(self) -> None:
        """Until the brokers' totals differ by at most one, by moves that keep each topic
        spread: from a broker holding more of that topic than the receiver."""
        partitions = sorted(self.after)
        while True:
            pairs = [
                (src, dst)
                for src in sorted(self.targets, key=lambda b: (-self.total[b], b))
                for dst in sorted(self.targets, key=lambda b: (self.total[b], b))
                if self.total[src] - self.total[dst] > 1
            ]

            def keeping_topics_spread(src: int, dst: int) -> list[PartitionId]:
                return [
                    p for p in partitions if self.per_topic[p[0]][src] > self.per_topic[p[0]][dst]
                ]

            if not self.move_one(pairs, keeping_topics_spread):
                return

    def move_one(
        self,
        pairs: Iterable[tuple[int, int]],
        partitions: Callable[[int, int], Iterable[PartitionId]],
    ) -> bool:
        """Move one replica from ``src`` to ``dst`` of the first pair that can (a partition
        ``src`` holds and ``dst`` does not), a follower before a leader so that leadership
        moves less; False: no pair can."""
        for src, dst in pairs:
            possible = [
                p
                for p in partitions(src, dst)
                if src in self.after[p]
                and dst not in self.after[p]
                and self.keeps_racks(p, src, dst)
            ]
            if possible:
                followers = [p for p in possible if self.after[p][0] != src]
                self.replace((followers or possible)[0], src, dst)
                return True
        return False

    def spread_leaders(self, topic: str) -> None:
        """Reorder replica lists until the topic's preferred leaders per broker differ by at
        most one wherever a partition allows it."""
        partitions = sorted(p for p in self.after if p[0] == topic)
        leads = leader_counts({p: self.after[p] for p in partitions}, self.targets)
        changed = True
        while changed:
            changed = False
            for p in partitions:
                replicas = self.after[p]
                leader = replicas[0]
                better = min(replicas[1:], key=lambda b: (leads[b], b), default=None)
                if better is not None and leads[leader] - leads[better] > 1:
                    rest = [b for b in replicas if b != better]
                    self.after[p] = (better, *rest)
                    leads[leader] -= 1
                    leads[better] += 1
                    changed = True


def stranded_replica_problems(
    assignment: Assignment, inventory_brokers: Iterable[int], registered: Mapping[int, str]
) -> list[Problem]:
    """A broker that holds replicas but that no host of the inventory runs any more: the
    deploy is refused until it was drained (its partitions would lose a replica for good,
    and the deploy could not reach its host to stop it). ``registered``: broker id -> the
    address it registered with, for the ones that are up."""
    known = set(inventory_brokers)
    counts = replica_counts(assignment)
    problems = []
    for broker in sorted(set(counts) - known):
        topics = sorted({topic for (topic, _), r in assignment.items() if broker in r})
        address = registered.get(broker)
        where = f"broker {broker}" + (f" ({address})" if address else " (not registered)")
        problems.append(
            Problem(
                where,
                "kafkaid",
                f"holds {counts[broker]} replica(s) of {len(topics)} topic(s) "
                f"({', '.join(topics[:5])}{', ...' if len(topics) > 5 else ''}) but no host "
                f"of the inventory has kafkaid: {broker}. Taking it away now would leave "
                f"those partitions a replica short for good. Keep kafkaid: {broker} on its "
                f"host, run `kafkaform drain INVENTORY --broker {broker}` first, then take "
                "it off (the deploy stops that broker, its data stays)",
            )
        )
    return problems
