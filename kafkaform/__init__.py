"""kafkaform: a ZooKeeper ensemble and a Kafka cluster from one pyinfra command."""

__version__ = "0.1.0"
