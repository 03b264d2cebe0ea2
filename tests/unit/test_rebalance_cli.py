"""``kafkaform rebalance`` / ``drain`` with ZooKeeper and the broker host faked:
the plan is printed first, a dry run changes nothing, a run is throttled, waited for and its
throttle removed (--verify), a run that stopped is finished before a new plan, and what is not
safe is refused with nothing changed."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from kafkaform import rebalance_cli
from kafkaform.cli import main
from kafkaform.cluster import Cluster
from kafkaform.partition_reads import Layout
from kafkaform.rebalance_cli import RESULT_RE, CommandError, reassign
from tests.unit.fakes import fake_hosts

THREE = {("orders", p): ((p % 3) + 1, ((p + 1) % 3) + 1) for p in range(6)}
LOG_DIRS = (
    '{"version":1,"brokers":[{"broker":1,"logDirs":[{"partitions":'
    '[{"partition":"orders-0","size":2000000},{"partition":"orders-3","size":1000000}]}]}]}'
)


class FakeShell:
    """Records each command; ``leftover``: a previous run's file is on the host."""

    def __init__(self, leftover: bool = False, failing: str = "never") -> None:
        self.commands: list[str] = []
        self.leftover = leftover
        self.failing = failing  # a command containing it fails
        self.name = ""

    def __call__(self, inventory, name):
        self.name = name
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def attempt(self, command):
        self.commands.append(command)
        if command.startswith("test -f"):
            return self.leftover, []
        if self.failing in command:
            return False, ["Error completing leader election"]
        return True, [LOG_DIRS] if "LogDirsCommand" in command else []

    def run(self, command, what):
        return self.attempt(command)[1]

    def ran(self, word: str) -> list[str]:
        return [c for c in self.commands if word in c]


@pytest.fixture
def lab(monkeypatch):
    """Five brokers in the inventory; ZooKeeper's layout is ``state['layouts']`` in turn."""
    cluster = Cluster.from_hosts(fake_hosts("debian12", nodes=5, ensemble=3))
    state = {"layouts": [], "shell": FakeShell(), "printed": []}
    monkeypatch.setattr(rebalance_cli, "load_cluster", lambda path: (None, cluster))

    def read(cluster, timeout=10.0):
        layouts = state["layouts"]
        return layouts.pop(0) if len(layouts) > 1 else layouts[0]

    monkeypatch.setattr(rebalance_cli, "read_layout", read)
    monkeypatch.setattr(rebalance_cli, "BrokerShell", lambda inv, name: state["shell"](inv, name))
    state["locks"] = []

    @contextmanager
    def held(cluster, what, progress):
        state["locks"].append(what)
        yield

    monkeypatch.setattr(rebalance_cli, "roll_lock_held", held)
    return state


def registered(*ids):
    return {i: f"10.0.0.{10 + i}:9092" for i in ids}


def test_a_dry_run_prints_the_plan_and_changes_nothing(lab):
    lab["layouts"] = [Layout(THREE, registered=registered(1, 2, 3, 4, 5))]
    outcome = reassign("inv", dry_run=True, progress=lab["printed"].append)
    assert outcome.plan.moves and not outcome.executed
    assert lab["shell"].ran("--execute") == [] and lab["shell"].ran("--verify") == []
    assert lab["printed"][0] == "Replicas and preferred leaders per broker, now -> planned:"
    assert "broker 4: 0 replica(s), 0 leader(s) -> 2 replica(s)" in lab["printed"][4]
    assert lab["printed"][-1].startswith(f"{len(outcome.plan.moves)} partition(s) to reassign")


def test_a_run_is_throttled_waited_for_and_then_elects_the_preferred_leaders(lab):
    first = Layout(THREE, registered=registered(1, 2, 3, 4, 5))
    lab["layouts"] = [first, first]
    planned = reassign("inv", dry_run=True, progress=lab["printed"].append).plan
    lab["layouts"] = [first, Layout(planned.after, registered=registered(1, 2, 3, 4, 5))]
    outcome = reassign("inv", throttle=7_000_000, progress=lab["printed"].append)
    shell = lab["shell"]
    assert shell.name == "@fake/kafka-1"
    order = [
        next(i for i, c in enumerate(shell.commands) if word in c)
        for word in ("printf", "--execute --throttle 7000000", "--verify", "mv -f", "PREFERRED")
    ]
    assert order == sorted(order)
    assert outcome.executed
    # orders-0 (2 MB) and orders-3 (1 MB) each gain the replicas the plan adds.
    sizes = {("orders", 0): 2_000_000, ("orders", 3): 1_000_000}
    assert outcome.bytes_copied == sum(
        sizes.get(m.partition, 0) * len(m.added) for m in outcome.plan.moves
    )
    result = re.search(RESULT_RE, lab["printed"][-1]).groupdict()
    assert int(result["partitions"]) == len(outcome.plan.moves)
    assert int(result["replicas"]) == outcome.plan.replicas_copied
    assert float(result["mb"]) == round(outcome.bytes_copied / 1e6, 1)


def test_a_failed_election_is_a_note_the_replicas_are_in_place(lab):
    first = Layout(THREE, registered=registered(1, 2, 3, 4, 5))
    lab["layouts"] = [first]
    planned = reassign("inv", dry_run=True, progress=lab["printed"].append).plan
    lab["shell"] = FakeShell(failing="PREFERRED")
    lab["layouts"] = [first, Layout(planned.after, registered=registered(1, 2, 3, 4, 5))]
    assert reassign("inv", progress=lab["printed"].append).executed
    note = next(line for line in lab["printed"] if line.startswith("note:"))
    assert note.endswith("Error completing leader election")


def test_the_default_throttle_is_the_inventorys(lab):
    lab["layouts"] = [Layout(THREE, registered=registered(1, 2, 3, 4, 5))]
    with pytest.raises(CommandError, match="does not hold the planned assignment"):
        reassign("inv", progress=lab["printed"].append)  # the layout never changes
    assert lab["shell"].ran("--execute --throttle 50000000")


def test_a_balanced_cluster_runs_nothing(lab, monkeypatch):
    lab["layouts"] = [Layout(THREE, registered=registered(1, 2, 3))]
    cluster = Cluster.from_hosts(fake_hosts("debian12", nodes=3))
    monkeypatch.setattr(rebalance_cli, "load_cluster", lambda path: (None, cluster))
    outcome = reassign("inv", progress=lab["printed"].append)
    assert outcome.plan.moves == [] and not outcome.executed
    assert lab["shell"].ran("--execute") == []


def test_a_previous_runs_reassignment_is_finished_first(lab):
    lab["shell"] = FakeShell(leftover=True)
    lab["layouts"] = [Layout(THREE, frozenset({("orders", 0)}), registered(1, 2, 3, 4, 5))]
    lab["layouts"].append(Layout(THREE, registered=registered(1, 2, 3, 4, 5)))
    reassign("inv", dry_run=True, progress=lab["printed"].append)
    assert lab["shell"].ran("--verify") == []  # a dry run only says so
    assert "is not finished" in lab["printed"][0]
    lab["shell"] = FakeShell(leftover=True)
    lab["layouts"] = [Layout(THREE, frozenset({("orders", 0)}), registered(1, 2, 3, 4, 5))]
    lab["layouts"].append(Layout(THREE, registered=registered(1, 2, 3, 4, 5)))
    with pytest.raises(CommandError):
        reassign("inv", progress=lab["printed"].append)
    commands = lab["shell"].commands
    verify = next(i for i, c in enumerate(commands) if "--verify" in c)
    execute = next(i for i, c in enumerate(commands) if "--execute" in c)
    assert verify < execute  # the old one verified (throttle removed) before the new one


def test_someone_elses_reassignment_is_waited_for_not_joined(lab):
    lab["layouts"] = [Layout(THREE, frozenset({("orders", 2)}), registered(1, 2, 3, 4, 5))]
    with pytest.raises(CommandError, match=r"being reassigned by something else \(orders-2\)"):
        reassign("inv", progress=lab["printed"].append)
    assert lab["shell"].ran("--execute") == []


def test_a_broker_that_is_not_up_cannot_take_replicas(lab):
    lab["layouts"] = [Layout(THREE, registered=registered(1, 2, 3, 4))]
    refused = r"not registered in ZooKeeper: @fake/kafka-5 \(broker 5"
    with pytest.raises(CommandError, match=refused):
        reassign("inv", progress=lab["printed"].append)
    assert lab["shell"].commands == []


def test_a_drain_plans_without_the_broker_and_checks_it_is_empty(lab):
    spread = {("orders", p): ((p % 5) + 1, ((p + 1) % 5) + 1) for p in range(10)}
    lab["layouts"] = [Layout(spread, registered=registered(1, 2, 3, 4, 5))]
    plan = reassign("inv", drained=5, dry_run=True, progress=lab["printed"].append).plan
    assert plan.emptied == (5,)
    assert all(5 not in replicas for replicas in plan.after.values())
    lab["layouts"] = [lab["layouts"][0], Layout(spread, registered=registered(1, 2, 3, 4, 5))]
    with pytest.raises(CommandError, match="does not hold the planned assignment"):
        reassign("inv", drained=5, progress=lab["printed"].append)


def test_a_drained_broker_s_next_step_is_the_deploy_without_its_kafkaid(lab, capsys):
    lab["layouts"] = [Layout({("t", 0): (1, 2)}, registered=registered(1, 2, 3, 4, 5))]
    assert main(["drain", "inv", "--broker", "5"]) == 0
    out = capsys.readouterr().out
    assert "broker 5 holds no replica" in out
    assert "take kafkaid: 5 off its host in the inventory" in out
    assert main(["drain", "inv", "--broker", "5", "--dry-run"]) == 0
    assert "take kafkaid" not in capsys.readouterr().out  # a dry run drained nothing


def test_a_zookeeper_that_does_not_answer_is_a_command_error(lab, monkeypatch, capsys):
    def unreachable(cluster, timeout=10.0):
        raise TimeoutError("Connection time-out")

    monkeypatch.setattr(rebalance_cli, "read_layout", unreachable)
    assert main(["rebalance", "inv"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kafkaform rebalance: cannot read the partitions' assignment")
    assert err.rstrip().endswith("Connection time-out")
    assert main(["drain", "inv", "--broker", "5"]) == 1


def test_the_cli_exits_2_for_an_inventory_it_cannot_load(tmp_path, capsys):
    missing = str(tmp_path / "none.py")
    assert main(["rebalance", missing, "--dry-run"]) == 2
    assert "cannot load the inventory" in capsys.readouterr().err
    assert main(["drain", missing, "--broker", "3"]) == 2


def test_the_broker_shell_runs_commands_through_the_inventorys_connector():
    from pyinfra.api import Inventory

    with rebalance_cli.BrokerShell(Inventory((["@local"], {})), "@local") as shell:
        assert shell.run("echo one; echo two", "echo") == ["one", "two"]
        assert shell.attempt("echo gone; exit 3") == (False, ["gone"])
        with pytest.raises(CommandError, match="the check failed on @local:\ngone"):
            shell.run("echo gone; exit 3", "the check")


def test_only_a_run_that_moves_replicas_holds_the_roll_lock(lab):
    spread = {("orders", p): ((p % 5) + 1, ((p + 1) % 5) + 1) for p in range(10)}
    lab["layouts"] = [Layout(spread, registered=registered(1, 2, 3, 4, 5))]
    reassign("inv", drained=5, dry_run=True, progress=lab["printed"].append)
    assert lab["locks"] == []
    with pytest.raises(CommandError):  # the fake cluster does not move: checked afterwards
        reassign("inv", drained=5, progress=lab["printed"].append)
    assert lab["locks"] == ["drain broker=5"]


class LockZooKeeper:
    """kazoo's create/get on the lock znode, held by ``holder`` (None: free)."""

    def __init__(self, holder: str | None) -> None:
        self.holder, self.created, self.connected = holder, [], True

    def create(self, path, value, ephemeral=False, makepath=False):
        from kazoo.exceptions import NodeExistsError

        if self.holder is not None:
            raise NodeExistsError()
        self.created.append((path, value.decode(), ephemeral))

    def get(self, path):
        return (self.holder.encode(), None)

    def stop(self):
        self.connected = False

    def close(self):
        pass


def test_the_lock_is_taken_named_and_released_or_the_holder_named(monkeypatch):
    from kafkaform import roll_lock

    cluster = Cluster.from_hosts(fake_hosts("debian12", nodes=3, roll_lock_wait_seconds=0))
    free = LockZooKeeper(None)
    monkeypatch.setattr(roll_lock, "lock_client", lambda hosts, settings: free)
    with rebalance_cli.roll_lock_held(cluster, "rebalance", print):
        ((path, text, ephemeral),) = free.created
        assert (path, ephemeral) == (roll_lock.LOCK_PATH, True)
        assert text.startswith("rebalance control=") and "token=" not in text
        assert free.connected
    assert not free.connected  # released: its session closed

    taken = LockZooKeeper("deploy control=ops user=a pid=1 since=now token=secret")
    monkeypatch.setattr(roll_lock, "lock_client", lambda hosts, settings: taken)
    with pytest.raises(CommandError) as refused:
        with rebalance_cli.roll_lock_held(cluster, "rebalance", print):
            pytest.fail("ran without the lock")
    assert "held by: deploy control=ops user=a pid=1 since=now;" in str(refused.value)
    assert "secret" not in str(refused.value)
    assert not taken.connected
