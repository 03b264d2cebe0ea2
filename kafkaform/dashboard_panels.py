# ruff: noqa: E501 -- one PromQL query per line reads better than a split string
"""The Grafana dashboards' content: per dashboard its title, the host variable's job, and its
panels as (title, unit, [(PromQL, legend)]). kafkaform.dashboards turns these into Grafana JSON;
a panel is added or changed here only."""

from __future__ import annotations

from typing import Any

C = 'cluster="$cluster"'  # every query is scoped to the chosen cluster
H = 'host=~"$host"'

# (title, unit, queries as (expr, legend)), per dashboard; "stat" panels come first.
Panel = tuple[str, str, list[tuple[str, str]]]

DASHBOARDS: dict[str, dict[str, Any]] = {
    "kafka-cluster": {
        "title": "Kafka cluster",
        "host_var": None,
        "stats": [
            ("Brokers up", "none", [(f'sum(up{{job="kafka", {C}}})', "")]),
            (
                "Active controllers",
                "none",
                [(f"sum(kafka_controller_kafkacontroller_activecontrollercount{{{C}}})", "")],
            ),
            (
                "Offline partitions",
                "none",
                [(f"sum(kafka_controller_kafkacontroller_offlinepartitionscount{{{C}}})", "")],
            ),
            (
                "Under-replicated partitions",
                "none",
                [(f"sum(kafka_server_replicamanager_underreplicatedpartitions{{{C}}})", "")],
            ),
            (
                "Under min ISR",
                "none",
                [(f"sum(kafka_server_replicamanager_underminisrpartitioncount{{{C}}})", "")],
            ),
            (
                "Partitions",
                "none",
                [(f"max(kafka_controller_kafkacontroller_globalpartitioncount{{{C}}})", "")],
            ),
        ],
        "graphs": [
            (
                "Messages in / s",
                "short",
                [(f"sum(rate(kafka_server_brokertopicmetrics_messagesin_total{{{C}}}[5m]))", "in")],
            ),
            (
                "Bytes in and out / s",
                "Bps",
                [
                    (f"sum(rate(kafka_server_brokertopicmetrics_bytesin_total{{{C}}}[5m]))", "in"),
                    (
                        f"sum(rate(kafka_server_brokertopicmetrics_bytesout_total{{{C}}}[5m]))",
                        "out",
                    ),
                ],
            ),
            (
                "Consumer lag by group and topic",
                "short",
                [
                    (
                        f"sum by (consumergroup, topic) (kafka_consumergroup_lag{{{C}}})",
                        "{{consumergroup}} / {{topic}}",
                    )
                ],
            ),
            (
                "Consumer lag by partition",
                "short",
                [
                    (
                        f"kafka_consumergroup_lag{{{C}}}",
                        "{{consumergroup}} {{topic}}-{{partition}}",
                    )
                ],
            ),
            (
                "ISR shrinks and expands / s",
                "short",
                [
                    (
                        f"sum(rate(kafka_server_replicamanager_isrshrinks_total{{{C}}}[5m]))",
                        "shrinks",
                    ),
                    (
                        f"sum(rate(kafka_server_replicamanager_isrexpands_total{{{C}}}[5m]))",
                        "expands",
                    ),
                ],
            ),
            (
                "Brokers in metadata",
                "none",
                [(f"max(kafka_brokers{{{C}}})", "brokers")],
            ),
        ],
    },
    "kafka-brokers": {
        "title": "Kafka brokers",
        "host_var": "kafka",
        "stats": [
            (
                "Broker state (3 = running)",
                "none",
                [(f"kafka_server_kafkaserver_brokerstate{{{C}, {H}}}", "{{host}}")],
            ),
        ],
        "graphs": [
            (
                "Messages in / s by broker",
                "short",
                [
                    (
                        f"sum by (host) (rate(kafka_server_brokertopicmetrics_messagesin_total{{{C}, {H}}}[5m]))",
                        "{{host}}",
                    )
                ],
            ),
            (
                "Requests / s by type",
                "reqps",
                [
                    (
                        f"sum by (host, request) (rate(kafka_network_requestmetrics_requests_total{{{C}, {H}}}[5m]))",
                        "{{host}} {{request}}",
                    )
                ],
            ),
            (
                "Request time p99",
                "ms",
                [
                    (
                        f'kafka_network_requestmetrics_totaltimems{{{C}, {H}, quantile="0.99"}}',
                        "{{host}} {{request}}",
                    )
                ],
            ),
            (
                "Partitions and leaders",
                "none",
                [
                    (
                        f"kafka_server_replicamanager_partitioncount{{{C}, {H}}}",
                        "{{host}} partitions",
                    ),
                    (f"kafka_server_replicamanager_leadercount{{{C}, {H}}}", "{{host}} leaders"),
                ],
            ),
            (
                "Under-replicated partitions by leader",
                "none",
                [
                    (
                        f"kafka_server_replicamanager_underreplicatedpartitions{{{C}, {H}}}",
                        "{{host}}",
                    )
                ],
            ),
            (
                "Idle request handlers and network threads",
                "percentunit",
                [
                    (
                        f"kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent{{{C}, {H}}}",
                        "{{host}} handlers",
                    ),
                    (
                        f"kafka_network_socketserver_networkprocessoravgidlepercent{{{C}, {H}}}",
                        "{{host}} network",
                    ),
                ],
            ),
            (
                "Replica fetcher max lag",
                "short",
                [(f"kafka_server_replicafetchermanager_maxlag{{{C}, {H}}}", "{{host}}")],
            ),
            (
                "ZooKeeper session: request latency p99",
                "ms",
                [
                    (
                        f'kafka_server_zookeeperclientmetrics_requestlatencyms{{{C}, {H}, quantile="0.99"}}',
                        "{{host}}",
                    )
                ],
            ),
            (
                "Heap used / max",
                "percentunit",
                [
                    (
                        f'jvm_memory_used_bytes{{job="kafka", area="heap", {C}, {H}}} / '
                        f'jvm_memory_max_bytes{{job="kafka", area="heap", {C}, {H}}}',
                        "{{host}}",
                    )
                ],
            ),
            (
                "GC time / s",
                "s",
                [
                    (
                        f'sum by (host) (rate(jvm_gc_collection_seconds_sum{{job="kafka", {C}, {H}}}[5m]))',
                        "{{host}}",
                    )
                ],
            ),
        ],
    },
    "zookeeper": {
        "title": "ZooKeeper",
        "host_var": "zookeeper",
        "stats": [
            ("Servers serving", "none", [(f"sum(zookeeper_server_serving{{{C}}})", "")]),
            ("Ensemble size", "none", [(f"max(zookeeper_quorum_size{{{C}}})", "")]),
        ],
        "graphs": [
            (
                "Role by server",
                "none",
                [(f"zookeeper_server_serving{{{C}, {H}}}", "{{host}} {{role}}")],
            ),
            (
                "Request latency",
                "ms",
                [
                    (f"zookeeper_avgrequestlatency{{{C}, {H}}}", "{{host}} avg"),
                    (f"zookeeper_maxrequestlatency{{{C}, {H}}}", "{{host}} max"),
                ],
            ),
            (
                "Outstanding requests",
                "none",
                [(f"zookeeper_outstandingrequests{{{C}, {H}}}", "{{host}}")],
            ),
            (
                "Connections",
                "none",
                [(f"zookeeper_numaliveconnections{{{C}, {H}}}", "{{host}}")],
            ),
            (
                "Znodes and watches",
                "none",
                [
                    (f"zookeeper_nodecount{{{C}, {H}}}", "{{host}} znodes"),
                    (f"zookeeper_watchcount{{{C}, {H}}}", "{{host}} watches"),
                ],
            ),
            (
                "Packets / s",
                "pps",
                [
                    (f"rate(zookeeper_packetsreceived_total{{{C}, {H}}}[5m])", "{{host}} in"),
                    (f"rate(zookeeper_packetssent_total{{{C}, {H}}}[5m])", "{{host}} out"),
                ],
            ),
            (
                "Slow fsyncs / s",
                "short",
                [(f"rate(zookeeper_fsyncthresholdexceedcount_total{{{C}, {H}}}[5m])", "{{host}}")],
            ),
            (
                "Heap used",
                "bytes",
                [(f'jvm_memory_used_bytes{{job="zookeeper", area="heap", {C}, {H}}}', "{{host}}")],
            ),
        ],
    },
    "hosts": {
        "title": "Kafka hosts",
        "host_var": "node",
        "stats": [
            ("Hosts up", "none", [(f'sum(up{{job="node", {C}}})', "")]),
        ],
        "graphs": [
            (
                "CPU busy",
                "percentunit",
                [
                    (
                        f'1 - avg by (host) (rate(node_cpu_seconds_total{{mode="idle", {C}, {H}}}[5m]))',
                        "{{host}}",
                    )
                ],
            ),
            (
                "Memory available",
                "percentunit",
                [
                    (
                        f"node_memory_MemAvailable_bytes{{{C}, {H}}} / node_memory_MemTotal_bytes{{{C}, {H}}}",
                        "{{host}}",
                    )
                ],
            ),
            (
                "Disk space free",
                "percentunit",
                [
                    (
                        f'node_filesystem_avail_bytes{{fstype!~"tmpfs|ramfs|squashfs", {C}, {H}}} / '
                        f'node_filesystem_size_bytes{{fstype!~"tmpfs|ramfs|squashfs", {C}, {H}}}',
                        "{{host}} {{mountpoint}}",
                    )
                ],
            ),
            (
                "Disk I/O",
                "Bps",
                [
                    (
                        f"sum by (host) (rate(node_disk_read_bytes_total{{{C}, {H}}}[5m]))",
                        "{{host}} read",
                    ),
                    (
                        f"sum by (host) (rate(node_disk_written_bytes_total{{{C}, {H}}}[5m]))",
                        "{{host}} write",
                    ),
                ],
            ),
            (
                "Network",
                "Bps",
                [
                    (
                        f'sum by (host) (rate(node_network_receive_bytes_total{{device!="lo", {C}, {H}}}[5m]))',
                        "{{host}} in",
                    ),
                    (
                        f'sum by (host) (rate(node_network_transmit_bytes_total{{device!="lo", {C}, {H}}}[5m]))',
                        "{{host}} out",
                    ),
                ],
            ),
            ("Load (1m)", "short", [(f"node_load1{{{C}, {H}}}", "{{host}}")]),
        ],
    },
}
