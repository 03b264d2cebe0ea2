"""Kafka's reassignment tools as shell commands run on a broker host: the one home of how a
reassignment is started with a replication throttle, waited for, and its throttle removed.
Used by the topics step (a replication raise) and by ``kafkaform rebalance`` / ``drain``.

ReassignPartitionsCommand --execute --throttle sets the rate on the brokers and the throttled
replicas on the topics; --verify, once every partition is done, removes both. So a run that
stopped in the middle is finished, throttle and all, by --verify of the same file.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping

from kafkaform import programs
from kafkaform.settings import JAVA_BIN

# Each reassignment's input (<name>.json) and the assignment before it (<name>.rollback.json,
# as --execute prints it), kept on the host that ran it.
REASSIGNMENT_DIR = "/var/lib/kafkaform/reassignments"
REASSIGN_WAIT_SECONDS = 3600  # a replication raise copies whole partitions

PartitionReplicas = Mapping[tuple[str, int], Iterable[int]]


def tool_command(install: str, main: str) -> str:
    """The JVM of one Kafka tool from ``install``'s jars (as the safe-restart scripts start
    TopicCommand)."""
    return programs.tool_java(JAVA_BIN, install, main)


def login_args(name: str, config: str | None) -> str:
    """The launcher ``name``'s tool's option naming a client config (kafkaform.programs),
    with ``config``: how it logs in to a secured cluster. Empty without a config."""
    if not config:
        return ""
    option = next(tool.config_option for tool in programs.TOOLS if tool.name == name)
    return f" {option} {shlex.quote(config)}"


def tool_main(name: str) -> str:
    """The main class of one of the launchers programs.TOOLS names, in the newest Kafka."""
    return next(tool.classes[0] for tool in programs.TOOLS if tool.name == name)


def partitions_json(partitions: PartitionReplicas) -> str:
    """ReassignPartitionsCommand's input: the replica list of each partition given."""
    return json.dumps(
        {
            "version": 1,
            "partitions": [
                {"topic": topic, "partition": p, "replicas": list(replicas)}
                for (topic, p), replicas in sorted(partitions.items())
            ],
        },
        separators=(",", ":"),
    )


def reassignment_json(name: str, assignment: Mapping[int, tuple[int, ...]]) -> str:
    """The same for the partitions of one topic."""
    return partitions_json({(name, p): r for p, r in assignment.items()})


class ReassignCommands:
    """ReassignPartitionsCommand on one file, ``<name>.json``, in REASSIGNMENT_DIR."""

    def __init__(
        self,
        install: str,
        servers: str,
        name: str,
        wait_seconds: int = REASSIGN_WAIT_SECONDS,
        config: str | None = None,
    ) -> None:
        """``config``: the client config file that logs the tool in (a secured cluster)."""
        self.name = name
        self.wait_seconds = wait_seconds
        self.tool = (
            f"{tool_command(install, programs.REASSIGN_COMMAND)} "
            f"--bootstrap-server {shlex.quote(servers)}"
            f"{login_args('kafka-reassign-partitions', config)}"
        )
        self.path = f"{REASSIGNMENT_DIR}/{name}.json"
        self.rollback = f"{REASSIGNMENT_DIR}/{name}.rollback.json"

    def write(self, assignment: Mapping[int, tuple[int, ...]]) -> str:
        """The file of a reassignment of topic ``name``'s partitions."""
        return self.write_document(reassignment_json(self.name, assignment))

    def write_partitions(self, partitions: PartitionReplicas) -> str:
        return self.write_document(partitions_json(partitions))

    def write_document(self, document: str) -> str:
        return (
            f"mkdir -p {REASSIGNMENT_DIR} && "
            f"printf '%s\\n' {shlex.quote(document)} > {shlex.quote(self.path)}"
        )

    def execute(self, throttle: int) -> str:
        """Start it, throttled; keep the assignment it replaces (the rollback file)."""
        q = shlex.quote
        return (
            f"out=$({self.tool} --reassignment-json-file {q(self.path)} --execute "
            f'--throttle {throttle} 2>&1) || {{ echo "$out"; exit 1; }}; echo "$out"; '
            f"echo \"$out\" | grep '^{{' | head -n 1 > {q(self.rollback)} || true"
        )

    def wait(self) -> str:
        """--verify until done; once done it also removes the throttle (brokers and topic)."""
        verify = f"{self.tool} --reassignment-json-file {shlex.quote(self.path)} --verify"
        return (
            f"for i in $(seq {self.wait_seconds // 2}); do out=$({verify} 2>&1) || "
            '{ echo "$out"; exit 1; }; '
            'echo "$out" | grep -q "in progress" || exit 0; sleep 2; done; '
            f'echo "the reassignment of {self.name} did not finish in '
            f'{self.wait_seconds} s"; exit 1'
        )

    def exists(self) -> str:
        """Succeeds when the file is there: a reassignment started and not yet finished."""
        return f"test -f {shlex.quote(self.path)}"

    def finish(self, done: str) -> str:
        """Keep the finished file as ``<done>.json`` (with its rollback), so that a later run
        does not take it for one left unfinished."""
        q = shlex.quote
        return (
            f"mv -f {q(self.path)} {q(f'{REASSIGNMENT_DIR}/{done}.json')} && "
            f"{{ [ ! -f {q(self.rollback)} ] || "
            f"mv -f {q(self.rollback)} {q(f'{REASSIGNMENT_DIR}/{done}.rollback.json')}; }}"
        )


def preferred_election(
    install: str,
    servers: str,
    partitions: Iterable[tuple[str, int]],
    config: str | None = None,
) -> str:
    """Move leadership of ``partitions`` to their preferred (first) replica now, rather than
    at the brokers' next automatic leader rebalance. Partitions already led by it are no
    error."""
    document = json.dumps(
        {"partitions": [{"topic": t, "partition": p} for t, p in sorted(partitions)]},
        separators=(",", ":"),
    )
    path = f"{REASSIGNMENT_DIR}/preferred-election.json"
    q = shlex.quote
    return (
        f"mkdir -p {REASSIGNMENT_DIR} && printf '%s\\n' {q(document)} > {q(path)} && "
        f"{tool_command(install, tool_main('kafka-leader-election'))} "
        f"--bootstrap-server {q(servers)}{login_args('kafka-leader-election', config)}"
        " --election-type PREFERRED "
        f"--path-to-json-file {q(path)}"
    )


def log_dirs_command(install: str, servers: str, config: str | None = None) -> str:
    """LogDirsCommand --describe: every broker's partitions with their size on disk (one JSON
    line among the tool's other output)."""
    return (
        f"{tool_command(install, tool_main('kafka-log-dirs'))} "
        f"--bootstrap-server {shlex.quote(servers)}{login_args('kafka-log-dirs', config)}"
        " --describe"
    )


def partition_sizes(output: Iterable[str]) -> dict[tuple[str, int], int]:
    """The largest size on any broker of each partition, from LogDirsCommand's JSON line;
    ValueError if the output holds no such line (sizes unknown, not zero)."""
    sizes: dict[tuple[str, int], int] = {}
    found = False
    for line in output:
        if not line.startswith("{"):
            continue
        found = True
        for broker in json.loads(line).get("brokers", []):
            for log_dir in broker.get("logDirs", []):
                for entry in log_dir.get("partitions", []):
                    topic, _, number = entry["partition"].rpartition("-")
                    key = (topic, int(number))
                    sizes[key] = max(sizes.get(key, 0), int(entry.get("size", 0)))
    if not found:
        raise ValueError("LogDirsCommand printed no JSON line")
    return sizes
