"""Inventory of the Vagrant dev nodes (`vagrant up` runs the deploy with it by itself).

Names, private addresses and zkid/kafkaid come from kafkaform.dev (the Vagrantfile reads the
same plan); SSH settings from `vagrant ssh-config`. Keep KAFKA_NODES / KAFKA_BAKE as they were
for `vagrant up`:

    KAFKA_NODES=3 pyinfra inventories/dev.py deploys/kafka.py
"""

from pyinfra.api.exceptions import InventoryError
from pyinfra.context import ctx_state

from kafkaform import dev as _dev

try:
    _hosts = _dev.inventory_hosts()
except _dev.DevError as _error:
    raise InventoryError(str(_error)) from None

# One group named after this file: small heaps (VMs and containers are small or share the
# host's memory) and, when it was built here, the Kafka tarball served to the hosts by the
# local artifact mirror (they download it). Loading this file starts nothing: the mirror is
# started when a deploy first connects to a node.
dev = (_hosts, _dev.group_data())
if ctx_state.isset():
    _dev.serve_mirror_on_connect(ctx_state.get())
