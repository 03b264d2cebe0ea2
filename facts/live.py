"""What a host runs and holds now: ZooKeeper and Kafka services, live configs, data on disk.

Read before anything changes, so that a deploy can refuse what would hurt a live cluster
(kafkaform.live) and a bake can refuse a host that is not fresh. Data locations come from
the LIVE configs (they tell where the data is today); the inventory's directories are probed
too, for what is already there (a copied dataDir, another broker's meta.properties).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

from pyinfra.api import FactBase

from kafkaform.ensemble_config import SORT_VERSIONS

HEADER = "kafkaform-live-state 1"  # first line printed; also what fake hosts match on
SERVICES = ("zookeeper", "kafka")
# systemd states in which a service counts as running / as started at boot.
RUNNING = {"active", "activating", "reloading", "deactivating", "refreshing"}
ENABLED = {"enabled", "enabled-runtime", "linked", "linked-runtime", "alias"}
KAFKA_DEFAULT_LOG_DIR = "/tmp/kafka-logs"  # Kafka's own default when neither key is set

# POSIX sh. Every line printed is "<tag>\t<subject>\t<value>"; process() reads them back.
FUNCTIONS = r"""
say() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }
lines() { while IFS= read -r _line || [ -n "$_line" ]; do say "$1" "$2" "$_line"; done; }
prop() {
  sed -n "s/^[[:space:]]*$1[[:space:]]*[=:][[:space:]]*//p" "$2" | tail -n 1 |
    sed 's/[[:space:]]*$//'
}
unit() {
  systemctl show -p LoadState -p ActiveState -p UnitFileState -p MainPID "$1.service" \
    2>/dev/null | lines unit "$1"
  # The distribution the process runs: its classpath names the version's own directory.
  pid=$(systemctl show -p MainPID "$1.service" 2>/dev/null | sed -n 's/^MainPID=//p')
  if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "/proc/$pid/cmdline" ]; then
    tr '\000' '\n' < "/proc/$pid/cmdline" | grep -o 'kafka_[0-9.]*-[0-9][0-9.]*' |
      head -n 1 | lines running "$1"
  fi
}
zk_dir() {
  [ -n "$1" ] || return 0
  if [ ! -d "$1" ]; then say zkdir "$1" absent; return 0; fi
  n=0
  for f in "$1"/version-2/snapshot.* "$1"/version-2/log.*; do
    if [ -e "$f" ]; then n=$((n + 1)); fi
  done
  say zkdir "$1" "$n"
  if [ -f "$1/myid" ]; then say myid "$1" "$(sed -n 1p "$1/myid")"; fi
}
kafka_dir() {
  [ -n "$1" ] || return 0
  if [ ! -d "$1" ]; then say kdir "$1" absent; return 0; fi
  n=0
  for f in "$1"/*/; do
    if [ -d "$f" ]; then n=$((n + 1)); fi
  done
  say kdir "$1" "$n"
  if [ -f "$1/meta.properties" ]; then lines meta "$1" < "$1/meta.properties"; fi
}
zk_live() {
  [ -f "$1" ] || return 0
  say config zoo.cfg "$1"
  zk_dynamic "$2" "$(dirname "$1")"
  lines zoo.cfg "$1" < "$1"
  d=$(prop dataDir "$1")
  l=$(prop dataLogDir "$1")
  say live zookeeper.dataDir "$d"
  say live zookeeper.dataLogDir "$l"
  zk_dir "$d"
  zk_dir "$l"
}
# The newest zoo.cfg.dynamic.<hex version> ZooKeeper wrote (longer is newer, then lexical), and
# kafkaform's join and bootstrap files beside zoo.cfg.
zk_dynamic() {
  if [ -n "$1" ] && [ -d "$1" ]; then
    v=$(ls "$1" | __SORT_VERSIONS__ | tail -n 1)
    if [ -n "$v" ]; then
      say live zookeeper.dynamic_version "$v"
      lines zoo.cfg.dynamic "$1" < "$1/zoo.cfg.dynamic.$v"
    fi
  fi
  if [ -f "$2/zoo.cfg.dynamic.join" ]; then
    say config zoo.cfg.join "$2/zoo.cfg.dynamic.join"
    lines zoo.cfg.join "$2" < "$2/zoo.cfg.dynamic.join"
  fi
  if [ -f "$2/zoo.cfg.bootstrap" ]; then say live zookeeper.bootstrap yes; fi
}
kafka_live() {
  [ -f "$1" ] || return 0
  say config server.properties "$1"
  lines server.properties "$1" < "$1"
  dirs=$(prop 'log\.dirs' "$1")
  [ -n "$dirs" ] || dirs=$(prop 'log\.dir' "$1")
  [ -n "$dirs" ] || dirs=__DEFAULT__
  say live kafka.log.dirs "$dirs"
  # Split on commas only: no globbing, no splitting on spaces.
  set -f
  old_ifs=$IFS
  IFS=,
  set -- $dirs
  IFS=$old_ifs
  set +f
  for d in "$@"; do
    kafka_dir "$(printf '%s' "$d" | sed 's/^[[:space:]]*//;s/[[:space:]]*$//')"
  done
}
""".replace("__DEFAULT__", KAFKA_DEFAULT_LOG_DIR)
FUNCTIONS = FUNCTIONS.replace("__SORT_VERSIONS__", SORT_VERSIONS)


class LiveState(FactBase):
    """
    Returns the host's ZooKeeper and Kafka as they are now::

        {
            "services": {"zookeeper": {"active", "enabled", "unit": bool, "pid": int | None,
                                       "distribution": str | None},
                         "kafka": {...}},
            "zookeeper": {"config": dict | None, "data_dir", "datalog_dir": str | None,
                          "myid": int | None, "has_data": bool,
                          "layout": "static" | "dynamic" | None,
                          "dynamic": {"version": str, "config": dict} | None,
                          "join": dict | None, "bootstrap": bool},
            "kafka": {"config": dict | None, "log_dirs": [str], "meta": {dir: dict},
                      "has_data": bool},
            "dirs": {"zookeeper": {path: {"exists", "files", "myid"}},
                     "kafka": {path: {"exists", "partitions", "meta"}}},
        }

    ``distribution``: the Kafka distribution a running service's process was started from
    (``kafka_2.13-3.8.1``, read from its classpath), what a version upgrade works from.
    ``dynamic``: the newest ``zoo.cfg.dynamic.<version>`` in ``zookeeper_dynamic_dir``
    (the membership this server last saw committed); ``join``: kafkaform's join file;
    ``bootstrap``: the transient superDigest file is there.
    ``has_data``: ZooKeeper snapshots or transaction logs under the live dataDir/dataLogDir;
    a meta.properties or partition directories in a live Kafka log dir. ``dirs`` holds every
    directory probed, the live ones and the inventory's (``zookeeper_dirs``, ``kafka_dirs``).
    """

    def command(
        self,
        zookeeper_config: str,
        kafka_config: str,
        zookeeper_dirs: Iterable[str] = (),
        kafka_dirs: Iterable[str] = (),
        zookeeper_dynamic_dir: str = "",
    ) -> str:
        q = shlex.quote
        steps = [
            FUNCTIONS,
            f"echo {q(HEADER)}",
            *(f"unit {name}" for name in SERVICES),
            f"zk_live {q(zookeeper_config)} {q(zookeeper_dynamic_dir)}",
            f"kafka_live {q(kafka_config)}",
            *(f"zk_dir {q(d)}" for d in zookeeper_dirs),
            *(f"kafka_dir {q(d)}" for d in kafka_dirs),
            "true",  # a probe's last test failing is not the fact failing
        ]
        return "\n".join(steps)

    @staticmethod
    def default() -> dict[str, Any]:
        return build_state([])

    def process(self, output: list[str]) -> dict[str, Any]:
        return build_state(output)


def parse_properties(lines: Iterable[str]) -> dict[str, str]:
    """Java properties as kafkaform and hand-written configs use them (last key wins)."""
    props: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            key, _, value = line.partition(" ")
        else:
            key, value = line[:cut], line[cut + 1 :]
        props[key.strip()] = value.strip()
    return props


def build_state(output: Iterable[str]) -> dict[str, Any]:
    units: dict[str, dict[str, str]] = {name: {} for name in SERVICES}
    running: dict[str, str] = {}
    config_lines: dict[str, list[str]] = {
        "zoo.cfg": [],
        "zoo.cfg.dynamic": [],
        "zoo.cfg.join": [],
        "server.properties": [],
    }
    config_seen: set[str] = set()
    live: dict[str, str] = {}
    zk_dirs: dict[str, dict[str, Any]] = {}
    kafka_dirs: dict[str, dict[str, Any]] = {}
    meta_lines: dict[str, list[str]] = {}
    for line in output:
        tag, _, rest = line.partition("\t")
        subject, _, value = rest.partition("\t")
        if not subject:
            continue  # every line names what it is about; anything else is noise
        if tag == "unit" and subject in units:
            key, _, state = value.partition("=")
            units[subject][key.strip()] = state.strip()
        elif tag == "running" and subject in units:
            running[subject] = value.strip()
        elif tag == "config":
            config_seen.add(subject)
        elif tag in config_lines:
            config_lines[tag].append(value)
        elif tag == "live":
            live[subject] = value.strip()
        elif tag == "zkdir":
            entry = zk_dirs.setdefault(subject, {"exists": False, "files": 0, "myid": None})
            entry["exists"] = value != "absent"
            entry["files"] = _count(value)
        elif tag == "myid" and subject in zk_dirs:
            zk_dirs[subject]["myid"] = value.strip()
        elif tag == "kdir":
            entry = kafka_dirs.setdefault(subject, {"exists": False, "partitions": 0, "meta": None})
            entry["exists"] = value != "absent"
            entry["partitions"] = _count(value)
            meta_lines[subject] = []  # a directory probed twice: its last listing counts
        elif tag == "meta":
            meta_lines.setdefault(subject, []).append(value)
    for path, text in meta_lines.items():
        if text and path in kafka_dirs:
            kafka_dirs[path]["meta"] = parse_properties(text)

    services = {
        name: {
            "active": u.get("ActiveState") in RUNNING,
            "enabled": u.get("UnitFileState") in ENABLED,
            "unit": u.get("LoadState") == "loaded",
            "pid": _count(u.get("MainPID", "")) or None,
            "distribution": running.get(name) or None,
        }
        for name, u in units.items()
    }

    zoo_cfg = parse_properties(config_lines["zoo.cfg"]) if "zoo.cfg" in config_seen else None
    data_dir = live.get("zookeeper.dataDir") or None
    datalog_dir = live.get("zookeeper.dataLogDir") or None
    live_zk = [d for d in (data_dir, datalog_dir) if d]
    myid = zk_dirs.get(data_dir or "", {}).get("myid")
    zookeeper = {
        "config": zoo_cfg,
        "data_dir": data_dir,
        "datalog_dir": datalog_dir,
        "myid": int(myid) if myid and myid.isdigit() else None,
        "has_data": any(zk_dirs.get(d, {}).get("files", 0) > 0 for d in live_zk),
        "layout": layout(zoo_cfg),
        "dynamic": (
            {
                "version": live["zookeeper.dynamic_version"],
                "config": parse_properties(config_lines["zoo.cfg.dynamic"]),
            }
            if live.get("zookeeper.dynamic_version")
            else None
        ),
        "join": (
            parse_properties(config_lines["zoo.cfg.join"])
            if "zoo.cfg.join" in config_seen
            else None
        ),
        "bootstrap": live.get("zookeeper.bootstrap") == "yes",
    }

    server = (
        parse_properties(config_lines["server.properties"])
        if "server.properties" in config_seen
        else None
    )
    log_dirs = [d.strip() for d in live.get("kafka.log.dirs", "").split(",") if d.strip()]
    kafka = {
        "config": server,
        "log_dirs": log_dirs,
        "meta": {d: kafka_dirs[d]["meta"] for d in log_dirs if kafka_dirs.get(d, {}).get("meta")},
        "has_data": any(
            kafka_dirs.get(d, {}).get("meta") or kafka_dirs.get(d, {}).get("partitions", 0) > 0
            for d in log_dirs
        ),
    }
    return {
        "services": services,
        "zookeeper": zookeeper,
        "kafka": kafka,
        "dirs": {"zookeeper": zk_dirs, "kafka": kafka_dirs},
    }


def layout(zoo_cfg: dict[str, str] | None) -> str | None:
    """ "dynamic": kafkaform's static zoo.cfg of a reconfigurable ensemble; "static": an older
    zoo.cfg that lists the servers itself (converted by one rolling restart)."""
    if zoo_cfg is None:
        return None
    listed = any(k.startswith("server.") for k in zoo_cfg)
    return "static" if listed or zoo_cfg.get("reconfigEnabled") != "true" else "dynamic"


def _count(value: str) -> int:
    value = value.strip()
    return int(value) if value.isdigit() else 0
