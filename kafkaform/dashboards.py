# ruff: noqa: E501 -- one PromQL query per line reads better than a split string
"""Grafana dashboards for teams that run Grafana: cluster, brokers, ZooKeeper, hosts.

The JSON under templates/grafana/ is generated from the panel lists below
(``python -m kafkaform.dashboards`` rewrites it; a unit test keeps the two in step), and
``metric_names`` lists what each query reads, which the integration test looks up in the
lab's live Prometheus.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from kafkaform.templating import TEMPLATES

GRAFANA_DIR = TEMPLATES / "grafana"
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


def _panel(panel_id: int, kind: str, panel: Panel, grid: dict[str, int]) -> dict[str, Any]:
    title, unit, queries = panel
    return {
        "id": panel_id,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": grid,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
        if kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def _variable(name: str, query: str, multi: bool) -> dict[str, Any]:
    return {
        "name": name,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "multi": multi,
        "includeAll": multi,
        **({"allValue": ".*"} if multi else {}),
        "sort": 1,
    }


def build(key: str) -> dict[str, Any]:
    spec = DASHBOARDS[key]
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "type": "datasource",
            "query": "prometheus",
            "label": "Prometheus",
        },
        _variable("cluster", "label_values(up, cluster)", multi=False),
    ]
    if spec["host_var"]:
        query = f'label_values(up{{job="{spec["host_var"]}", {C}}}, host)'
        variables.append(_variable("host", query, multi=True))
    panels = []
    stats = spec["stats"]
    width = max(4, 24 // max(1, len(stats)))
    for i, panel in enumerate(stats):
        grid = {"x": (i * width) % 24, "y": 0, "w": width, "h": 4}
        panels.append(_panel(len(panels) + 1, "stat", panel, grid))
    for i, panel in enumerate(spec["graphs"]):
        grid = {"x": (i % 2) * 12, "y": 4 + (i // 2) * 8, "w": 12, "h": 8}
        panels.append(_panel(len(panels) + 1, "timeseries", panel, grid))
    return {
        "uid": f"kafkaform-{key}",
        "title": spec["title"],
        "tags": ["kafkaform", "kafka"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }


def rendered(key: str) -> str:
    return json.dumps(build(key), indent=2, sort_keys=False) + "\n"


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and variable queries."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            text = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
            exprs.append(match.group(1) if match else text)
    return exprs


_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (selectors, not functions or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def write_all(directory: Path = GRAFANA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in DASHBOARDS:
        path = directory / f"{key}.json"
        path.write_text(rendered(key))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else GRAFANA_DIR):
        print(written)
