"""Example production inventory: three hosts, each a ZooKeeper server and a Kafka broker.

Per-host roles: ``zookeeper`` (flag) with ``zkid`` (ZooKeeper myid, 1..255), and ``kafkaid``
(broker.id). Cluster-wide settings live in group_data/; this cluster's topics are the group
data of its one group (below), so the lab's and the dev boxes' inventories do not get them.
"""

_hosts = [
    ("kafka-1", {"ssh_hostname": "10.0.0.11", "zookeeper": True, "zkid": 1, "kafkaid": 1}),
    ("kafka-2", {"ssh_hostname": "10.0.0.12", "zookeeper": True, "zkid": 2, "kafkaid": 2}),
    ("kafka-3", {"ssh_hostname": "10.0.0.13", "zookeeper": True, "zkid": 3, "kafkaid": 3}),
]

# Topics as code: created, grown and configured by the deploy, never shrunk or deleted unless
# an entry says delete: True. Every topic: replication factor 3 and min.insync.replicas 2,
# so a write acknowledged with acks=all is on two brokers and any one broker may be down
# (a rolling restart, a lost disk) without refusing writes or losing any.
_topics = [
    # A feed's posts: consumers (timeline fan-out, search indexing) scale out to 6 members;
    # 6 is a multiple of the 3 brokers, so leaders spread evenly. Keyed by author: grow it
    # before a new key order matters (adding partitions moves keys to other partitions).
    {
        "name": "posts",
        "partitions": 6,
        "replication_factor": 3,
        "configs": {"min.insync.replicas": 2, "retention.ms": 7 * 24 * 3600 * 1000},
    },
    # Orders keyed by order id, so each order's events stay in order on one partition. Sized
    # once for the expected peak (dinner time) with room to grow, since a later increase
    # remaps keys: 12 serves up to 12 consumers and divides evenly by 1, 2, 3, 4 and 6.
    {
        "name": "pizza-order",
        "partitions": 12,
        "replication_factor": 3,
        "configs": {"min.insync.replicas": 2, "retention.ms": 3 * 24 * 3600 * 1000},
    },
]

# Production is secured (README, "Security"): TLS and SCRAM logins on every listener, ACLs,
# ZooKeeper locked down, monitoring behind TLS and basic auth, and the host firewall. The CA
# and generated passwords live on the control machine in ~/.kafkaform/kafka: back it up.
_security = {
    "security": "sasl_ssl",
    # An application's user: its password is read from this variable when you deploy.
    "kafka_users": [{"name": "pizza-shop", "password_env": "PIZZA_SHOP_KAFKA_PASSWORD"}],
    "kafka_acls": [
        {
            "principal": "User:pizza-shop",
            "resource_type": "topic",
            "resource_name": "pizza-order",
            "operations": ["Describe", "Read", "Write"],
        },
        {
            "principal": "User:pizza-shop",
            "resource_type": "group",
            "resource_name": "pizza-shop",
            "pattern_type": "prefixed",
            "operations": ["Read"],
        },
    ],
    "firewall": True,
    "firewall_admin_sources": ["10.0.0.0/24"],  # the operators' network (SSH, the UIs)
    "firewall_control_sources": ["10.0.0.0/24"],  # where kafkaform runs
    "firewall_client_sources": ["10.0.0.0/16"],  # the applications
}

kafka = (_hosts, {"kafka_topics": _topics, **_security})
