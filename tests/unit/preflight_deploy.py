"""A deploy file that only runs the live-cluster preflight: its glue, tested on @fake hosts."""

from pyinfra import inventory

from deploys.tasks.preflight import refuse_destructive_changes
from kafkaform.deploy_support import checked_cluster

refuse_destructive_changes(inventory, checked_cluster(inventory))
