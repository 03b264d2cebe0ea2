"""Example production inventory: three hosts, each a ZooKeeper server and a Kafka broker.

Per-host roles: ``zookeeper`` (flag) with ``zkid`` (ZooKeeper myid, 1..255), and ``kafkaid``
(broker.id). Cluster-wide settings live in group_data/.
"""

kafka = [
    ("kafka-1", {"ssh_hostname": "10.0.0.11", "zookeeper": True, "zkid": 1, "kafkaid": 1}),
    ("kafka-2", {"ssh_hostname": "10.0.0.12", "zookeeper": True, "zkid": 2, "kafkaid": 2}),
    ("kafka-3", {"ssh_hostname": "10.0.0.13", "zookeeper": True, "zkid": 3, "kafkaid": 3}),
]
