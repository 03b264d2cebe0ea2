"""Entry: a ZooKeeper ensemble and a Kafka cluster on every host of the inventory.

    pyinfra inventories/prod.py deploys/kafka.py

Before any operation is queued the whole inventory is validated, every host must answer, the
hosts' live state is compared with the inventory (changes that would lose data or quorum are
refused) and the cluster's roll lock is taken: one bad host stops the deploy for all of them,
with every problem listed. A failed step stops the whole run; the next plain run completes it.
"""

from pyinfra import host, inventory

from deploys.tasks.distribution import mark_current
from deploys.tasks.jmx_exporter import install_jmx_agent
from deploys.tasks.kafka import configure_kafka
from deploys.tasks.logs import configure_log_shipping
from deploys.tasks.monitoring import configure_monitoring
from deploys.tasks.node_exporter import install_node_exporter
from deploys.tasks.preflight import refuse_destructive_changes
from deploys.tasks.roll import guard_run, install_roll_library, roll_session
from deploys.tasks.software import install_software
from deploys.tasks.zookeeper import configure_zookeeper
from kafkaform.deploy_support import checked_cluster

cluster = checked_cluster(inventory)
guard_run()  # every host answers; no parallel modes; the first failure stops the run
refuse_destructive_changes(inventory, cluster)  # data dirs, ensemble, roles of live hosts
session = roll_session(cluster)  # the cluster's roll lock, the active controller
node = cluster.node(host.name)

# The same installation a box bake runs (deploys/base_box.py): on a baked host it is all done.
install = install_software(node)
if node.zookeeper or node.kafkaid is not None:
    # The JMX exporter agent is part of the services' units: in place before they start.
    agent = install_jmx_agent(node)
    install_roll_library(cluster, install)
    if node.zookeeper:
        configure_zookeeper(cluster, node, install, session, agent)
    if node.kafkaid is not None:
        configure_kafka(cluster, node, install, session, agent)
    mark_current(node)
install_node_exporter(node)
configure_log_shipping(cluster, node)
if node.monitoring:
    configure_monitoring(cluster, node)
