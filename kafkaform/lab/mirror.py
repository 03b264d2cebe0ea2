"""The artifact mirror: the Kafka distribution and the JMX agent, built on this machine from
Maven Central and served to the hosts at MIRROR_URL on the bridge's gateway address."""

from __future__ import annotations

from pathlib import Path

from kafkaform import artifacts, settings
from kafkaform.hostops import (
    HostError,
    Progress,
    http_server_pids,
    port_answers,
    start_http_server,
    stop_http_server,
)
from kafkaform.lab.network import bridge_exists
from kafkaform.lab.plan import GATEWAY, MIRROR_URL, LabError, State
from kafkaform.local_hosts import LAB_MIRROR_PORT


def build_artifacts(progress: Progress) -> None:
    """The Kafka distribution and the JMX agent the hosts install (reused when cached)."""
    artifacts.build_distribution(settings.KAFKA_VERSION, settings.SCALA_VERSION, progress=progress)
    artifacts.fetch_jmx_agent(settings.JMX_EXPORTER_VERSION, progress=progress)


def serving_root(lab: Path) -> Path:
    """What the mirror serves: the artifact cache, or an empty directory before any build."""
    root = Path(artifacts.mirror_root())
    if not root.is_dir():
        root = lab / "mirror"
        root.mkdir(parents=True, exist_ok=True)
    return root


def answering() -> bool:
    # Without the bridge the gateway address is not local and a connect would leave the machine.
    return (
        bridge_exists()
        and bool(http_server_pids(GATEWAY, LAB_MIRROR_PORT))
        and port_answers(GATEWAY, LAB_MIRROR_PORT)
    )


def ensure_mirror(state: State, root: Path, lab: Path, progress: Progress = print) -> None:
    """Serve ``root`` at MIRROR_URL from a detached process (restarted if the root changed)."""
    running = http_server_pids(GATEWAY, LAB_MIRROR_PORT)
    if running and state.get("mirror_root") == str(root) and state.get("mirror_pid") in running:
        return
    stop_mirror(state)
    progress(f"serving {root} at {MIRROR_URL}")
    log = lab / "mirror.log"
    try:
        pid = start_http_server(root, GATEWAY, LAB_MIRROR_PORT, log)
    except HostError:
        raise LabError(f"the artifact mirror did not start on {MIRROR_URL}; see {log}") from None
    state.update(mirror_pid=pid, mirror_root=str(root))


def stop_mirror(state: State) -> None:
    stop_http_server(GATEWAY, LAB_MIRROR_PORT)
    state.update(mirror_pid=None)
