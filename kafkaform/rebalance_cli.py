"""``kafkaform rebalance INVENTORY`` and ``kafkaform drain INVENTORY --broker ID``: scale a
running cluster out and in, from the control machine (the deploy then retires a drained
broker whose host lost its kafkaid: deploys.tasks.kafka.retire_broker).

The assignment is read in ZooKeeper (kafkaform.partition_reads), planned by
kafkaform.rebalance and printed first; ``--dry-run`` stops there. The reassignment itself runs
with Kafka's own ReassignPartitionsCommand on one broker host, over the inventory's connection
to it (pyinfra's, as the deploy: SSH in the lab), because the tool is what sets the
replication throttle on the brokers and topics and, once every partition is done, removes it
(kafkaform.reassignment; confluent-kafka's AdminClient has no partition reassignment). The
command waits for the end, removes the throttle, moves leadership to the planned preferred
leaders and reads the assignment again to check it.

Safe to re-run: a run that stopped in the middle left its file on the host, and the next run
first finishes that reassignment (and its throttle), then plans again from what the cluster
holds; a balanced cluster gives an empty plan.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kafkaform import roll_lock, security
from kafkaform.broker_claims import with_claimed_ids
from kafkaform.cluster import Cluster, Node
from kafkaform.partition_reads import Layout, read_layout
from kafkaform.reassignment import (
    REASSIGN_WAIT_SECONDS,
    ReassignCommands,
    log_dirs_command,
    partition_sizes,
    preferred_election,
)
from kafkaform.rebalance import RebalancePlan, plan_rebalance, replica_counts
from kafkaform.zookeeper_client import cluster_settings

EXIT_OK, EXIT_FAILED, EXIT_NO_INVENTORY = 0, 1, 2
PLAN_FILE = "rebalance"  # <REASSIGNMENT_DIR>/rebalance.json on the host, while it runs
MB = 1_000_000
Progress = Callable[[str], None]


class CommandError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Outcome:
    plan: RebalancePlan
    bytes_copied: int  # the moved partitions' size on disk, times the replicas each gains
    seconds: float = 0.0  # from --execute to the end of --verify
    executed: bool = False


def load_cluster(path: str) -> tuple[Any, Cluster]:
    """The inventory, validated, and its cluster with "auto" hosts known by their claimed
    ids; CommandError (exit 2) if it cannot be used."""
    from kafkaform.validate import UnusableInventory
    from kafkaform.validate import load_cluster as load_valid

    try:
        inventory, cluster = load_valid(path)
    except UnusableInventory as error:
        raise CommandError(str(error), EXIT_NO_INVENTORY) from None
    return inventory, with_claimed_ids(cluster)


class BrokerShell:
    """Shell commands on one inventory host, through pyinfra's connector for it."""

    def __init__(self, inventory: Any, name: str) -> None:
        from pyinfra.api import Config, State

        self.name = name
        self.state = State(inventory, Config())
        self.host = inventory.get_host(name)

    def __enter__(self) -> BrokerShell:
        from pyinfra.api.exceptions import ConnectError
        from pyinfra.context import ctx_host, ctx_state

        with ctx_state.use(self.state), ctx_host.use(self.host):
            try:
                self.host.connect(show_errors=False, raise_exceptions=True)
            except ConnectError as error:
                raise CommandError(f"cannot connect to {self.name}: {error}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.host.disconnect()

    def run(self, command: str, what: str) -> list[str]:
        ok, lines = self.attempt(command)
        if not ok:
            raise CommandError(f"{what} failed on {self.name}:\n" + "\n".join(lines))
        return lines

    def attempt(self, command: str) -> tuple[bool, list[str]]:
        from pyinfra.context import ctx_host, ctx_state

        # As the deploy's operations do: through sudo when the inventory logs in as another
        # user (the dev nodes' vagrant); the tools write under /var/lib/kafkaform.
        sudo = bool(self.host.data.get("_sudo"))
        with ctx_state.use(self.state), ctx_host.use(self.host):
            ok, output = self.host.run_shell_command(command, _sudo=sudo)
        return ok, list(output.output_lines)


def layout_of(cluster: Cluster) -> Layout:
    try:
        return read_layout(cluster)
    except Exception as error:  # noqa: BLE001 - kazoo raises its own types
        raise CommandError(
            f"cannot read the partitions' assignment in ZooKeeper "
            f"({cluster.zookeeper_connect()}): {error}"
        ) from None


def tool_host(cluster: Cluster, layout: Layout, targets: list[int]) -> Node:
    """The broker host the tools run on: the first registered one that keeps its replicas."""
    for node in cluster.brokers:
        if node.kafkaid in targets and node.kafkaid in layout.registered:
            return node
    raise CommandError("no broker of the inventory is registered in ZooKeeper: is Kafka up?")


def reassign(
    inventory_path: str,
    drained: int | None = None,
    dry_run: bool = False,
    throttle: int | None = None,
    wait_seconds: int = REASSIGN_WAIT_SECONDS,
    progress: Progress = print,
) -> Outcome:
    """Plan (and unless ``dry_run`` run) the reassignment: every inventory broker but
    ``drained`` holds an even share, ``drained`` none. A run that moves replicas holds the
    cluster's roll lock: a broker restarting meanwhile would stall the copy, and the copy's
    under-replicated partitions would stall the restart's health gate."""
    inventory, cluster = load_cluster(inventory_path)
    what = "rebalance" if drained is None else f"drain broker={drained}"
    with nullcontext() if dry_run else roll_lock_held(cluster, what, progress):
        return plan_and_move(inventory, cluster, drained, dry_run, throttle, wait_seconds, progress)


@contextmanager
def roll_lock_held(cluster: Cluster, what: str, progress: Progress) -> Iterator[None]:
    """The cluster's roll lock, for as long as the block runs (CommandError if it is held
    for longer than ``roll_lock_wait_seconds``, or ZooKeeper cannot be reached)."""
    hosts = cluster.zookeeper_connect()
    try:
        client = roll_lock.lock_client(hosts, cluster_settings(cluster))
    except Exception as error:  # noqa: BLE001 - kazoo raises its own timeout type
        raise CommandError(
            f"cannot reach ZooKeeper ({hosts}) to take the roll lock: {error}"
        ) from None
    try:
        wait = max(n.settings["roll_lock_wait_seconds"] for n in cluster.nodes)
        roll_lock.take(
            client,
            roll_lock.holder_text(what),
            wait,
            lambda holder: progress(f"--> Waiting for the roll lock, held by: {holder}"),
        )
        yield
    except roll_lock.LockHeld as held:
        raise CommandError(
            f"the cluster's roll lock is held by: {held.holder}; a deploy or a restart is "
            "changing the cluster. Run this again once it is done"
        ) from None
    finally:
        roll_lock.release(client)


def plan_and_move(
    inventory: Any,
    cluster: Cluster,
    drained: int | None,
    dry_run: bool,
    throttle: int | None,
    wait_seconds: int,
    progress: Progress,
) -> Outcome:
    targets = [n.kafkaid for n in cluster.brokers if n.kafkaid != drained]
    layout = layout_of(cluster)
    if drained is not None and drained not in replica_counts(layout.assignment):
        progress(f"broker {drained} holds no replica")
    down = [
        n for n in cluster.brokers if n.kafkaid in targets and n.kafkaid not in layout.registered
    ]
    if down:
        names = ", ".join(f"{n.name} (broker {n.kafkaid})" for n in down)
        raise CommandError(
            f"not registered in ZooKeeper: {names}. A broker that is not up cannot take "
            "replicas: deploy it (or bring it back) first, then run this again"
        )
    node = tool_host(cluster, layout, targets)
    install = f"{node.settings['kafka_install_root']}/current"
    servers = cluster.bootstrap_servers()
    config = security.tools_login(node.settings)  # the tools' login on a secured cluster
    commands = ReassignCommands(install, servers, PLAN_FILE, wait_seconds, config)
    with BrokerShell(inventory, node.name) as shell:
        if shell.attempt(commands.exists())[0]:
            if dry_run:
                progress(
                    f"a reassignment a previous run started is not finished ({node.name}: "
                    f"{commands.path}); a run without --dry-run finishes it first"
                )
            else:
                progress("--> Finishing the reassignment a previous run started, and its throttle")
                shell.run(commands.wait(), "waiting for the previous reassignment")
                shell.run(commands.finish(finished_name()), "keeping its file")
                layout = layout_of(cluster)
        if layout.reassigning and not dry_run:
            shown = ", ".join(f"{t}-{p}" for t, p in sorted(layout.reassigning)[:10])
            raise CommandError(
                f"partitions are being reassigned by something else ({shown}): wait until "
                "it is done (kafka-reassign-partitions --verify), then run this again"
            )
        plan = plan_rebalance(layout.assignment, targets, layout.racks)
        described = shell.run(log_dirs_command(install, servers, config), "LogDirsCommand")
        try:
            sizes = partition_sizes(described)
        except ValueError as error:
            sizes = {}  # only the figure is lost: the plan does not depend on sizes
            last = "\n".join(described[-5:]) or "(nothing)"
            progress(f"note: the partitions' sizes are unknown ({error}; it printed:\n{last})")
        outcome = Outcome(plan, sum(sizes.get(m.partition, 0) * len(m.added) for m in plan.moves))
        show_plan(outcome, progress)
        if plan.errors:
            raise CommandError("the plan has errors; nothing was changed")
        if dry_run or not plan.moves:
            return outcome
        rate = throttle if throttle is not None else node.settings["kafka_topics_reassign_throttle"]
        progress(f"--> Reassigning on {node.name}, throttled to {rate} bytes/s")
        started = time.monotonic()
        shell.run(commands.write_partitions({m.partition: m.after for m in plan.moves}), "write")
        shell.run(commands.execute(rate), "ReassignPartitionsCommand --execute")
        shell.run(commands.wait(), "ReassignPartitionsCommand --verify")
        outcome.seconds = time.monotonic() - started
        outcome.executed = True
        shell.run(commands.finish(finished_name()), "keeping the reassignment's file")
        progress("--> Done, throttle removed; moving leadership to the preferred replicas")
        elected, output = shell.attempt(
            preferred_election(install, servers, [m.partition for m in plan.moves], config)
        )
        if not elected:  # the replicas are where planned; leadership follows on its own
            progress(
                "note: not every preferred leader could be elected now (the brokers' "
                "automatic leader rebalance does it later):\n" + "\n".join(output[-10:])
            )
    check_result(layout_of(cluster), plan, drained)
    progress(
        f"reassigned {len(plan.moves)} partition(s): {plan.replicas_copied} replica(s), "
        f"{outcome.bytes_copied / MB:.1f} MB copied in {outcome.seconds:.1f} s"
    )
    return outcome


# The last line of a run that reassigned, for scripts (bench/rebalance.py).
RESULT_RE = (
    r"reassigned (?P<partitions>\d+) partition\(s\): (?P<replicas>\d+) replica\(s\), "
    r"(?P<mb>[\d.]+) MB copied in (?P<seconds>[\d.]+) s"
)


def finished_name() -> str:
    return f"{PLAN_FILE}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


def show_plan(outcome: Outcome, progress: Progress) -> None:
    plan = outcome.plan
    for error in plan.errors:
        progress(f"error: {error}")
    progress("Replicas and preferred leaders per broker, now -> planned:")
    for row in plan.table():
        progress(f"  {row}")
    for move in plan.moves:
        progress(f"  {move}")
    progress(f"{plan.summary()}; {outcome.bytes_copied / MB:.1f} MB to copy")


def check_result(layout: Layout, plan: RebalancePlan, drained: int | None) -> None:
    """The cluster holds what was planned (a partition changed since by someone else is
    named, not silently accepted)."""
    wrong = [
        f"{t}-{p}: {layout.assignment.get((t, p))} (planned {plan.after[(t, p)]})"
        for t, p in sorted(plan.after)
        if (t, p) in layout.assignment and layout.assignment[(t, p)] != plan.after[(t, p)]
    ]
    if wrong:
        raise CommandError("the cluster does not hold the planned assignment: " + "; ".join(wrong))
    if drained is not None and replica_counts(layout.assignment)[drained]:
        raise CommandError(f"broker {drained} still holds replicas")


def run(args: argparse.Namespace) -> int:
    try:
        drained = args.broker if args.command == "drain" else None
        reassign(args.inventory, drained, args.dry_run, args.throttle, args.wait)
        if drained is not None and not args.dry_run:
            print(
                f"broker {drained} is drained. Next: take kafkaid: {drained} off its host in the "
                "inventory (keep the host listed) and run the deploy: it stops and disables "
                "that broker, keeps its data, and monitoring stops scraping it"
            )
    except CommandError as error:
        print(f"kafkaform {args.command}: {error}", file=sys.stderr)
        return error.code
    return EXIT_OK


def add_cli(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/lab.py")
    moving = argparse.ArgumentParser(add_help=False)
    moving.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    moving.add_argument(
        "--throttle",
        type=int,
        metavar="BYTES",
        help="replication throttle in bytes/s (default: kafka_topics_reassign_throttle)",
    )
    moving.add_argument(
        "--wait", type=int, default=REASSIGN_WAIT_SECONDS, help="seconds to wait for the end"
    )
    broker = argparse.ArgumentParser(add_help=False)
    broker.add_argument("--broker", type=int, required=True, metavar="ID", help="its kafkaid")
    for name, parents, summary in (
        ("rebalance", [common, moving], "spread the partitions evenly over every broker"),
        ("drain", [common, broker, moving], "move every replica off one broker"),
    ):
        parser = subparsers.add_parser(name, parents=parents, help=summary, description=summary)
        parser.set_defaults(func=run)
