"""Entry: bake a reusable Kafka box: everything installed, no host identity.

    pyinfra inventories/dev.py deploys/base_box.py     # with KAFKA_BAKE=1 vagrant up
    pyinfra inventories/lab.py deploys/base_box.py     # a lab host, for a lab box

The host needs no zkid/kafkaid: only the settings are validated. Installation is the same
code deploys/kafka.py runs (deploys/tasks/install.py), with everything a box holds, so kafka.py
on a machine started from the box installs nothing and only configures. `kafkaform box
package` then packages it.

The bake ends by deleting data, logs, host keys and authorized_keys, so before anything
changes it refuses every host that is not a fresh machine: a role in the inventory (unless
marked ``base_box: True``, as KAFKA_BAKE=1 does; ``--data base_box=true`` for a fresh lab
host), ZooKeeper or Kafka data, or a ZooKeeper or Kafka service running or enabled.
"""

from pyinfra import host, inventory

from deploys.tasks.box import scrub_identity
from deploys.tasks.install import BOX, install
from deploys.tasks.preflight import refuse_unsafe_bake
from deploys.tasks.roll import guard_run
from kafkaform.deploy_support import checked_cluster

cluster = checked_cluster(inventory, roles=False)
guard_run()  # every host answers; the first failure stops the bake everywhere
refuse_unsafe_bake(inventory, cluster)
node = cluster.node(host.name)

install(node, BOX)
scrub_identity(node)  # last: it removes the keys this connection was opened with
