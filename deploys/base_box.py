"""Entry: bake a reusable Kafka box: everything installed, no host identity.

    pyinfra inventories/dev.py deploys/base_box.py     # with KAFKA_BAKE=1 vagrant up
    pyinfra inventories/lab.py deploys/base_box.py     # a lab host, for a lab box

The host needs no zkid/kafkaid: only the settings are validated. Installation is the same
code deploys/kafka.py runs (deploys/tasks/software.py), so kafka.py on a machine started from
the box installs nothing and only configures. `kafkaform box package` then packages it.

The bake ends by deleting data, logs, host keys and authorized_keys, so before anything
changes it refuses every host that is not a fresh machine: a role in the inventory (unless
marked ``base_box: True``, as KAFKA_BAKE=1 does; ``--data base_box=true`` for a fresh lab
host), ZooKeeper or Kafka data, or a ZooKeeper or Kafka service running or enabled.
"""

from pyinfra import host, inventory

from deploys.tasks.box import create_service_users, install_log_shipping, scrub_identity
from deploys.tasks.distribution import mark_current
from deploys.tasks.jmx_exporter import install_jmx_agent
from deploys.tasks.node_exporter import install_node_exporter
from deploys.tasks.preflight import refuse_unsafe_bake
from deploys.tasks.roll import guard_run
from deploys.tasks.software import install_software
from kafkaform.deploy_support import checked_cluster

cluster = checked_cluster(inventory, roles=False)
guard_run()  # every host answers; the first failure stops the bake everywhere
refuse_unsafe_bake(inventory, cluster)
node = cluster.node(host.name)

install_software(node)
mark_current(node)  # no service runs on a bake host: nothing to switch in a roll
# Agents and exporters deploys/kafka.py installs: one line each, so its steps find them done.
install_jmx_agent(node)
install_node_exporter(node)
install_log_shipping(node)
create_service_users(node)
scrub_identity(node)  # last: it removes the keys this connection was opened with
