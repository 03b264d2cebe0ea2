"""Inventory of the local lab started by ``kafkaform lab up`` (systemd-nspawn hosts).

Hosts, addresses and SSH settings come from the lab's state file; every host runs a broker
and the first 1, 3 or 5 run ZooKeeper (kafkaform.cluster.planned_roles).

    kafkaform lab up --nodes 3
    pyinfra inventories/lab.py deploys/kafka.py
"""

from pyinfra.api.exceptions import InventoryError

from kafkaform.lab.plan import inventory_group_data, inventory_hosts
from kafkaform.lab.state import load_state, state_path

_state = load_state()
if not _state or not _state.get("nodes"):
    raise InventoryError(
        f"no local lab is up ({state_path()} is missing): run `kafkaform lab up` first"
    )

# One group, named after this file: its data (artifact mirror, small heaps for hosts that
# share this machine's memory) beats group_data/all.py.
lab = (inventory_hosts(_state), inventory_group_data(_state))
