"""What facts.live.LiveState prints for a host, built from a short description.

Tests describe a host (services, live configs, directories) and get the fact's output lines,
so the pure checks are fed states that went through the fact's own parser.
"""

from __future__ import annotations

from collections.abc import Mapping

from facts.live import HEADER

ZK_DATA = "/var/lib/zookeeper/data"
ZK_LOG = "/var/lib/zookeeper/datalog"
KAFKA_DATA = "/var/lib/kafka/data"
CLUSTER_ID = "q1w2e3r4t5y6u7i8o9p0aa"


def servers(count: int, first_octet: int = 11) -> dict[str, str]:
    return {f"server.{i}": f"10.0.0.{first_octet + i - 1}:2888:3888" for i in range(1, count + 1)}


def output(
    services: Mapping[str, tuple[str, str]] | None = None,
    zoo_cfg: Mapping[str, str] | None = None,
    server_properties: Mapping[str, str] | None = None,
    zk_dirs: Mapping[str, tuple[int, str | None]] | None = None,
    kafka_dirs: Mapping[str, tuple[int, Mapping[str, str] | None]] | None = None,
    dynamic: tuple[str, Mapping[str, str]] | None = None,
    join: Mapping[str, str] | None = None,
    bootstrap: bool = False,
) -> list[str]:
    """services: name -> (ActiveState, UnitFileState); zk_dirs: path -> (files, myid);
    kafka_dirs: path -> (partition dirs, meta.properties); dynamic: (version, server lines)
    of the newest zoo.cfg.dynamic.<version>; join: the join file's lines; absent keys:
    nothing there."""
    lines = [HEADER]
    for name in ("zookeeper", "kafka"):
        active, enabled = (services or {}).get(name, ("inactive", ""))
        load = "not-found" if not enabled else "loaded"
        lines += [
            f"unit\t{name}\tLoadState={load}",
            f"unit\t{name}\tActiveState={active}",
            f"unit\t{name}\tUnitFileState={enabled}",
            f"unit\t{name}\tMainPID={4242 if active == 'active' else 0}",
        ]
    zk_dirs = dict(zk_dirs or {})
    kafka_dirs = dict(kafka_dirs or {})

    def zk_dir(path: str | None) -> list[str]:
        if not path:
            return []
        if path not in zk_dirs:
            return [f"zkdir\t{path}\tabsent"]
        files, myid = zk_dirs[path]
        return [f"zkdir\t{path}\t{files}"] + ([f"myid\t{path}\t{myid}"] if myid else [])

    def kafka_dir(path: str) -> list[str]:
        if path not in kafka_dirs:
            return [f"kdir\t{path}\tabsent"]
        count, meta = kafka_dirs[path]
        found = [f"kdir\t{path}\t{count}"]
        return found + [f"meta\t{path}\t{k}={v}" for k, v in (meta or {}).items()]

    if zoo_cfg is not None:
        lines.append("config\tzoo.cfg\t/etc/zookeeper/zoo.cfg")
        lines += [f"zoo.cfg\t/etc/zookeeper/zoo.cfg\t{k}={v}" for k, v in zoo_cfg.items()]
        if dynamic is not None:
            version, members = dynamic
            lines.append(f"live\tzookeeper.dynamic_version\t{version}")
            work = "/var/lib/zookeeper/conf"
            lines += [f"zoo.cfg.dynamic\t{work}\t{k}={v}" for k, v in members.items()]
        if join is not None:
            lines.append("config\tzoo.cfg.join\t/etc/zookeeper/zoo.cfg.dynamic.join")
            lines += [f"zoo.cfg.join\t/etc/zookeeper\t{k}={v}" for k, v in join.items()]
        if bootstrap:
            lines.append("live\tzookeeper.bootstrap\tyes")
        data, log = zoo_cfg.get("dataDir", ""), zoo_cfg.get("dataLogDir", "")
        lines += [f"live\tzookeeper.dataDir\t{data}", f"live\tzookeeper.dataLogDir\t{log}"]
        lines += zk_dir(data) + zk_dir(log)
    if server_properties is not None:
        path = "/etc/kafka/server.properties"
        lines.append(f"config\tserver.properties\t{path}")
        lines += [f"server.properties\t{path}\t{k}={v}" for k, v in server_properties.items()]
        dirs = server_properties.get("log.dirs", "/tmp/kafka-logs")
        lines.append(f"live\tkafka.log.dirs\t{dirs}")
        for d in dirs.split(","):
            lines += kafka_dir(d.strip())
    # The inventory's directories are probed after the live ones.
    for path in zk_dirs:
        lines += zk_dir(path)
    for path in kafka_dirs:
        lines += kafka_dir(path)
    return lines


def members(count: int, first_octet: int = 11, version: str = "100000000") -> tuple:
    """A committed dynamic config of servers 1..count, as ZooKeeper writes it."""
    lines = {k: f"{v}:participant;0.0.0.0:2181" for k, v in servers(count, first_octet).items()}
    return version, lines


def deployed(
    index: int,
    ensemble: int = 3,
    zookeeper: bool = True,
    kafka: bool = True,
    log_dirs: tuple[str, ...] = (KAFKA_DATA,),
    data_dir: str = ZK_DATA,
    datalog_dir: str = ZK_LOG,
    static: bool = False,
) -> list[str]:
    """A host of a running cluster deployed with the defaults (kafka-<index>, 10.0.0.1x);
    ``static``: its zoo.cfg lists the servers (an older kafkaform's, not converted)."""
    services: dict[str, tuple[str, str]] = {}
    zk_dirs: dict[str, tuple[int, str | None]] = {}
    kafka_dirs: dict[str, tuple[int, Mapping[str, str] | None]] = {}
    zoo_cfg = server_properties = dynamic = None
    if zookeeper:
        services["zookeeper"] = ("active", "enabled")
        zoo_cfg = {"dataDir": data_dir, "dataLogDir": datalog_dir}
        if static:
            zoo_cfg.update(servers(ensemble))
        else:
            zoo_cfg.update(reconfigEnabled="true", standaloneEnabled="false")
            dynamic = members(ensemble)
        zk_dirs = {data_dir: (3, str(index)), datalog_dir: (2, None)}
    if kafka:
        services["kafka"] = ("active", "enabled")
        server_properties = {"broker.id": str(index), "log.dirs": ",".join(log_dirs)}
        meta = {"version": "0", "broker.id": str(index), "cluster.id": CLUSTER_ID}
        kafka_dirs = {d: (4, meta) for d in log_dirs}
    return output(services, zoo_cfg, server_properties, zk_dirs, kafka_dirs, dynamic)
