"""Entry: a ZooKeeper ensemble and a Kafka cluster on every host of the inventory.

    pyinfra inventories/prod.py deploys/kafka.py

The whole inventory is validated before any operation is queued: one bad host stops the
deploy for all of them, with every problem listed.
"""

from pyinfra import host, inventory

from deploys.tasks.jmx_exporter import install_jmx_agent
from deploys.tasks.kafka import configure_kafka
from deploys.tasks.logs import configure_log_shipping
from deploys.tasks.monitoring import configure_monitoring
from deploys.tasks.node_exporter import install_node_exporter
from deploys.tasks.software import install_software
from deploys.tasks.zookeeper import configure_zookeeper
from kafkaform.deploy_support import checked_cluster

cluster = checked_cluster(inventory)
node = cluster.node(host.name)

# The same installation a box bake runs (deploys/base_box.py): on a baked host it is all done.
binaries = install_software(node)
# The JMX exporter agent is part of the services' units: in place before they start.
agent = install_jmx_agent(node) if node.zookeeper or node.kafkaid is not None else None
if node.zookeeper:
    configure_zookeeper(cluster, node, binaries, agent)
if node.kafkaid is not None:
    configure_kafka(cluster, node, binaries, agent)
install_node_exporter(node)
configure_log_shipping(cluster, node)
if node.monitoring:
    configure_monitoring(cluster, node)
