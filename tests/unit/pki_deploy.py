"""A deploy file for the secret and TLS file tasks alone, on @fake hosts: each host's data
says what it writes (``pki_test``: "secret" or "tls")."""

from pyinfra import host, inventory

from deploys.tasks.host_files import put_secret, put_text
from deploys.tasks.tls_files import put_tls_files, put_tls_keystore, record_rotation_step
from kafkaform.cluster import Cluster

if host.data.get("pki_test") == "secret":
    put_secret(
        "Secret file",
        host.data.get("secret_dest"),
        host.data.get("secret_text"),
        mode=host.data.get("secret_mode"),
        user="root",
        group="kafka",
    )
    # The same deploy writes a plain file: what --diff shows of it proves the diff was on.
    put_text("Plain file", "/etc/kafka/plain.txt", host.data.get("plain_text"), "644")
elif host.data.get("pki_test") == "tls":
    node = Cluster.from_hosts([(host.name, host.data.dict())]).nodes[0]
    put_tls_files(node, "/etc/kafka/tls", "kafka")
    put_tls_keystore(node, "/etc/kafka/tls/host.p12", "kafka", "keystore-kafka")
    record_rotation_step(node, [h.name for h in inventory])
