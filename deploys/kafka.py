"""Entry: a ZooKeeper ensemble and a Kafka cluster on every host of the inventory.

    pyinfra inventories/prod.py deploys/kafka.py

The whole inventory is validated before any operation is queued: one bad host stops the
deploy for all of them, with every problem listed.
"""

from pyinfra import host, inventory

from deploys.tasks.common import prepare_os
from deploys.tasks.distribution import install_distribution
from deploys.tasks.java import install_java
from deploys.tasks.kafka import configure_kafka
from deploys.tasks.zookeeper import configure_zookeeper
from kafkaform.deploy_support import checked_cluster

cluster = checked_cluster(inventory)
node = cluster.node(host.name)

prepare_os(node)
install_java(node)
binaries = install_distribution(node)
if node.zookeeper:
    configure_zookeeper(cluster, node, binaries)
if node.kafkaid is not None:
    configure_kafka(cluster, node, binaries)
