"""Grafana dashboards for teams that run Grafana: cluster, brokers, ZooKeeper, hosts.

This is the builder: Grafana JSON from the panel lists in kafkaform.dashboard_panels. The JSON
under templates/grafana/ is generated here (``python -m kafkaform.dashboards`` rewrites it; a
unit test keeps the two in step), and ``metric_names`` lists what each query reads, which the
integration test looks up in the lab's live Prometheus.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from kafkaform.dashboard_panels import DASHBOARDS, C, Panel
from kafkaform.templating import TEMPLATES

GRAFANA_DIR = TEMPLATES / "grafana"
__all__ = ["DASHBOARDS", "GRAFANA_DIR", "build", "metric_names", "queries", "rendered", "write_all"]


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
