"""Run deploys/kafka.py in-process against @fake hosts and record what each host was sent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyinfra
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_inventory, ctx_state
from pyinfra_cli.util import load_deploy_file

from deploys.tasks import preflight, roll, zookeeper
from deploys.tasks.roll import RollSession
from kafkaform.partition_reads import Layout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Run:
    state: State
    names: dict[str, list[str]] = field(default_factory=dict)  # host -> op names in order
    commands: dict[str, list[str]] = field(default_factory=dict)  # host -> executed commands
    prepared: dict[str, list[str]] = field(default_factory=dict)  # host -> those before any op
    # ZooKeeper reconfig actions run on the control machine, in order: (kind, zkids).
    control: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def ops(self, host: str) -> list[str]:
        return self.names[host]

    def executed(self, host: str) -> str:
        return "\n".join(self.commands[host])


@contextmanager
def cli_ordering() -> Iterator[None]:
    """Order operations by their line numbers in the deploy files, as the CLI does (the API's
    default, order of definition per host, would interleave hosts with different roles).
    pyinfra.is_cli is global: it is set back afterwards, for the tests that use the API."""
    before = pyinfra.is_cli
    pyinfra.is_cli = True
    try:
        yield
    finally:
        pyinfra.is_cli = before


def run_deploy(
    hosts: list[tuple[str, dict[str, Any]]],
    deploy: str = "deploys/kafka.py",
    session: RollSession | None = None,
    layout: Layout | None = None,
    leader: int | None = None,
) -> Run:
    """``session``: what taking the roll lock yields (no ZooKeeper is contacted offline);
    ``layout``: the partitions' assignment the preflight reads in ZooKeeper (default: none);
    ``leader``: the zkid that leads (the reconfig actions are recorded, not run)."""
    session = session or RollSession(token="test-token")
    cwd = os.getcwd()
    state: State | None = None
    real_open_session = roll.open_session
    roll.open_session = lambda *args, **kwargs: session
    real_read_layout = preflight.read_layout
    preflight.read_layout = lambda cluster, timeout=10.0: layout or Layout({})
    control: list[tuple[str, tuple[int, ...]]] = []
    real_control, real_leader = zookeeper.control_action, zookeeper.leading_server
    zookeeper.control_action = lambda cluster, plan, action: control.append(
        (action.kind, action.zkids)
    )
    zookeeper.leading_server = lambda cluster, states: leader
    os.chdir(REPO)
    try:
        with cli_ordering():
            inventory = Inventory((hosts, {}))
            state = State(check_for_changes=False)
            state.cwd = REPO
            config = Config()
            ctx_state.set(state)
            ctx_config.set(config)
            ctx_inventory.set(inventory)
            state.init(inventory, config)
            connect_all(state)
            state.set_stage(StateStage.Prepare)
            load_deploy_file(state, deploy)
            run = Run(state, control=control)
            for host in inventory:
                run.names[host.name] = [
                    state.op_meta[op_hash].names.copy().pop()
                    for op_hash in state.get_op_order()
                    if op_hash in state.ops[host]
                ]
            for host in inventory:
                run.prepared[host.name] = list(host.connector.executed_commands)
            state.set_stage(StateStage.Execute)
            run_ops(state)
            for host in inventory:
                run.commands[host.name] = list(host.connector.executed_commands)
            return run
    finally:
        # A fact that failed on one host (pyinfra's get_facts raises at the first) leaves the
        # other hosts' fact greenlets pending. Resumed inside a later test's run, they would
        # set pyinfra's context variables (state, config, host) back to this run's ones.
        if state is not None:
            state.pool.kill()
            state.fact_pool.kill()
        roll.open_session = real_open_session
        preflight.read_layout = real_read_layout
        zookeeper.control_action, zookeeper.leading_server = real_control, real_leader
        os.chdir(cwd)
