"""Cluster-wide settings for every inventory. Every name and its default is in
kafkaform/settings.py; a name that is not there is reported as a typo.

Override any Kafka or ZooKeeper property by its literal name, e.g.:

    kafka_properties = {"log.retention.hours": 72, "num.partitions": 6}
    zookeeper_properties = {"maxClientCnxns": 120}

Topics as code (see inventories/prod.py for an example with the reasons for its counts):

    kafka_topics = [
        {"name": "posts", "partitions": 6, "replication_factor": 3,
         "configs": {"min.insync.replicas": 2}},
        {"name": "old-events", "partitions": 3, "replication_factor": 3, "delete": True},
    ]
"""

# kafka_version = "3.9.2"
# kafka_heap = "4g"
