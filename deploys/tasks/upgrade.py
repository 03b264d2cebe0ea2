"""The version upgrade's phase for this run (kafkaform.upgrade), read once from every host.

The live states are the preflight's (one LiveState per host, read before anything changes);
the plan is printed once, so the operator sees which phase this run performs.
"""

from __future__ import annotations

import sys

from pyinfra.context import ctx_inventory

from deploys.tasks.preflight import live_states
from kafkaform.cluster import Cluster
from kafkaform.deploy_support import once_per_run
from kafkaform.upgrade import Phase, UpgradePlan, plan_upgrade

UNDER_WAY = (Phase.PATCH, Phase.PHASE_1, Phase.PHASE_2)  # a run that says what it does


def upgrade_plan(cluster: Cluster) -> UpgradePlan:
    def compute() -> UpgradePlan:
        plan = plan_upgrade(cluster, live_states(ctx_inventory.get(), cluster))
        if plan.phase in UNDER_WAY:
            print(plan.describe(), file=sys.stderr, flush=True)  # stdout may be --json
        return plan

    return once_per_run("upgrade-plan", compute)
