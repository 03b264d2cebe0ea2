"""Entry: a ZooKeeper ensemble and a Kafka cluster on every host of the inventory.

    pyinfra inventories/prod.py deploys/kafka.py

Before any operation is queued the whole inventory is validated, every host must answer, the
hosts' live state is compared with the inventory (changes that would lose data or quorum are
refused) and the cluster's roll lock is taken, then "auto" broker ids are claimed and data
volumes checked: one bad host stops the deploy for all of them, with every problem listed.
A failed step stops the whole run; the next plain run completes it.
"""

from pyinfra import host, inventory

from deploys.tasks.access import configure_access
from deploys.tasks.broker_identity import adopt_volumes, resolve_broker_ids
from deploys.tasks.distribution import mark_current
from deploys.tasks.firewall import close_firewall, open_firewall
from deploys.tasks.host_tools import install_host_tools
from deploys.tasks.install import install, wanted_by
from deploys.tasks.kafka import configure_kafka, retire_broker
from deploys.tasks.logs import configure_log_shipping
from deploys.tasks.monitoring import configure_monitoring
from deploys.tasks.preflight import refuse_destructive_changes
from deploys.tasks.roll import guard_run, install_roll_library, roll_session
from deploys.tasks.rollout import (
    member_client_addresses,
    open_znodes_before_roll,
    secure_znodes_after_roll,
    staged_cluster,
)
from deploys.tasks.tls_files import record_rotation_step
from deploys.tasks.topics import configure_topics
from deploys.tasks.zookeeper import change_ensemble, configure_zookeeper
from kafkaform.deploy_support import checked_cluster

cluster = checked_cluster(inventory)
guard_run()  # every host answers; no parallel modes; the first failure stops the run
refuse_destructive_changes(inventory, cluster)  # data dirs, ensemble, roles of live hosts
# A live security rollout's step for this run, from where the hosts are (kafkaform.rollout).
cluster = staged_cluster(cluster)
session = roll_session(cluster)  # the cluster's roll lock, the active controller
# "auto" broker ids claimed (every later step sees them); volumes of others refused.
cluster = resolve_broker_ids(cluster, session)
node = cluster.node(host.name)

# What this host's roles use, installed as a box bake does (deploys/tasks/install.py): on a
# host from a box it is all done already.
installed = install(node, wanted_by(cluster, node))
# The host firewall (firewall: True), before any service starts: hosts that join are let in.
open_firewall(cluster, node)
# The plain ZooKeeper port's address, in the member lines (a security rollout's last step).
member_client_addresses(cluster, node)
zookeeper_up = None
if installed.distribution:
    # The JMX agent is part of the services' units: it was installed before they start.
    install_roll_library(cluster, installed.distribution)
    # A ZooKeeper server started beside a broker is waited for just before the broker starts:
    # its start overlaps with writing and checking the broker's files.
    if node.zookeeper:
        zookeeper_up = configure_zookeeper(
            cluster,
            node,
            installed.distribution,
            session,
            installed.agent,
            wait=node.kafkaid is None,
        )
# A ZooKeeper membership change, step by step on the hosts it involves (removed ones too),
# after their files and before any broker step.
change_ensemble(cluster, node, session)
if installed.distribution:
    if node.kafkaid is not None:

        def before_broker_starts() -> None:
            if zookeeper_up:
                zookeeper_up()
            adopt_volumes(cluster, node)  # a data volume kept from an earlier machine

        open_znodes_before_roll(cluster, node, installed.distribution)
        configure_kafka(
            cluster, node, installed.distribution, session, installed.agent, before_broker_starts
        )
        secure_znodes_after_roll(cluster, node, installed.distribution)
        install_host_tools(cluster, node)  # kafka-topics, ... on the PATH
    mark_current(node)
    # kafka_topics, once for the cluster, after every broker was configured and rolled.
    configure_topics(cluster, node, installed.distribution, session)
    # kafka_users and kafka_acls (a secured cluster), once, on one broker, after the rolls.
    configure_access(cluster, node, installed.distribution, session)
if node.kafkaid is None:
    retire_broker(cluster, node)  # kafkaid taken away (after a drain): stopped, data kept
configure_log_shipping(cluster, node)
if node.monitoring:
    configure_monitoring(cluster, node)
# The firewall's rules to keep, once hosts that left (removed servers, retired brokers) are gone.
close_firewall(cluster, node)
# During a CA rotation (kafkaform certs rotate-ca): this host has the step's files.
record_rotation_step(node, [h.name for h in inventory])
