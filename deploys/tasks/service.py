"""Shared shape of our two JVM services: user and directories, config files, unit, first start,
safe rolling restart."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.hardware import Memory
from pyinfra.operations import server, systemd

from deploys.tasks.checked_config import place_checked
from deploys.tasks.common import directories, service_user
from deploys.tasks.host_files import (
    changed,
    ensure_directories,
    listed,
    put_secret,
    put_template,
)
from deploys.tasks.roll import ROLL_LIBRARY, RollSession
from facts.kafka import MARKER
from facts.service import ServiceDrift, record_command, runtime_dir
from kafkaform import programs
from kafkaform.candidates import Candidate, staging_dir
from kafkaform.cluster import heap_for
from kafkaform.deploy_support import prepared_fact
from kafkaform.settings import JAVA_BIN
from kafkaform.templating import render

SCRIPT_DIR = "/usr/local/sbin"
LOG_MAX_FILE_SIZE = "100MB"  # x LOG_MAX_BACKUPS per log file: bounded disk use
LOG_MAX_BACKUPS = 10
# How long a safe restart waits for the cluster to be able to spare this host (a previous
# host's replicas catching up) before it refuses.
GATE_SECONDS = 120


def nothing() -> None:
    """A wait for a service that was not started: nothing to wait for."""


@dataclass
class JavaService:
    """One JVM service on one host, as the unit and the config files see it."""

    name: str  # systemd unit and safe-restart script name
    label: str  # prefix of operation names
    user: str
    config_dir: str
    log_dir: str
    workdir: str
    install: str  # the distribution's directory of the configured version
    nofile_limit: int
    owned_dirs: list[str] = field(default_factory=list)
    # Files the process reads at start: their digest at start tells a stale process.
    read_at_start: list[str] = field(default_factory=list)

    @property
    def unit_file(self) -> str:
        return f"/etc/systemd/system/{self.name}.service"

    @property
    def fingerprint(self) -> tuple[str, ...]:
        return (*self.read_at_start, self.unit_file, f"{self.install}/{MARKER}")

    def prepare(self) -> None:
        # Every directory this service's files go to, read in one command.
        listed(
            [
                *self.owned_dirs,
                self.log_dir,
                self.config_dir,
                staging_dir(self.name),
                SCRIPT_DIR,
                os.path.dirname(self.unit_file),
            ]
        )
        service_user(self.user, home=self.workdir)
        directories(self.user, [*self.owned_dirs, self.log_dir])
        ensure_directories([self.config_dir], mode="755")

    def config(
        self, src: str, dest: str, secret: bool = False, **variables
    ) -> OperationMeta | None:
        """``src`` rendered at ``dest``, readable by the service's group only; ``secret``: the
        file holds a credential (a password's hash too) and is never shown, not even by --diff."""
        self.read_at_start.append(dest)
        if secret:
            text = render(src, **variables)
            return put_secret(f"{self.label} {dest}", dest, text, "640", "root", self.user)
        return put_template(
            f"{self.label} {dest}", src, dest, mode="640", user="root", group=self.user, **variables
        )

    def checked_config(
        self, src: str, dest: str, check: str, checker: str, **variables
    ) -> OperationMeta | None:
        """Like ``config``, but the file is staged as a candidate and ``check`` (reading it at
        ``{candidate}``) must accept it before it replaces the live one. None: nothing to do."""
        self.read_at_start.append(dest)
        name = dest.rsplit("/", 1)[-1]
        candidate = Candidate(
            name, dest, render(src, **variables), mode="640", user="root", group=self.user
        )
        path = f"{staging_dir(self.name)}/{name}"
        check = check.replace("{candidate}", shlex.quote(path))
        return place_checked(name, self.name, [candidate], check, checker)

    def log4j(self, program: programs.Service, loggers: dict) -> OperationMeta | None:
        """log4j.properties: ``program``'s log files, rotated; ``loggers`` routed to them."""
        return self.config(
            "common/log4j.properties.j2",
            f"{self.config_dir}/log4j.properties",
            log_dir=self.log_dir,
            root_appender=program.root_appender,
            max_file_size=LOG_MAX_FILE_SIZE,
            max_backups=LOG_MAX_BACKUPS,
            appenders=program.log_files,
            loggers=loggers,
        )

    def safe_restart_script(self, template: str, **variables) -> OperationMeta | None:
        return put_template(
            f"Safe restart script {self.name}-safe-restart",
            template,
            f"{SCRIPT_DIR}/{self.name}-safe-restart",
            mode="755",
            roll_library=ROLL_LIBRARY,
            java_bin=JAVA_BIN,
            tool_jvm_options=programs.TOOL_JVM_OPTIONS,
            classpath=f"{self.install}/libs/*",
            tools_log4j=f"{self.install}/config/tools-log4j.properties",
            **variables,
        )

    def unit(
        self,
        *,
        description: str,
        documentation: str,
        program: programs.Service,
        config_file: str,
        heap: str | None,
        jvm_opts: list[str],
        stop_timeout: int,
        after: list[str],
        extra_properties: tuple[str, ...] = (),
        javaagent: str | None = None,
        pre_start: tuple[str, ...] = (),
        umask: str | None = None,
    ) -> OperationMeta | None:
        """The systemd unit; ``javaagent`` is a ``-javaagent:`` argument (jar=options);
        ``pre_start``: commands run after the start is recorded, before the service starts."""
        size = heap_for(self.name, None if heap else prepared_fact(Memory), heap)
        return put_template(
            f"systemd unit {self.name}.service",
            "common/java-service.service.j2",
            self.unit_file,
            mode="644",
            runtime_dir=runtime_dir(self.name),
            record_start=record_command(self.name, self.fingerprint),
            description=description,
            documentation=documentation,
            after=after,
            run_as=self.user,
            workdir=self.workdir,
            java_bin=JAVA_BIN,
            heap_opts=f"-Xms{size} -Xmx{size}",
            jvm_opts=jvm_opts,
            system_properties=[
                f"-Dlog4j.configuration=file:{self.config_dir}/log4j.properties",
                f"-Xlog:gc*:file={self.log_dir}/{program.gc_log}:time,tags:filecount=10,filesize=20M",
                *extra_properties,
                *([f"-javaagent:{javaagent}"] if javaagent else []),
            ],
            classpath=f"{self.install}/libs/*",
            main_class=program.main_class,
            config_file=config_file,
            pre_start=pre_start,
            umask=umask,
            nofile_limit=self.nofile_limit,
            stop_timeout=stop_timeout,
        )

    def restart_command(self, session: RollSession) -> str:
        """The safe restart, under the roll lock this run holds (when the cluster runs)."""
        script = f"{SCRIPT_DIR}/{self.name}-safe-restart"
        return f"{script} --lock-token {session.token}" if session.token else script

    def run(
        self,
        unit_op: OperationMeta | None,
        changes: list[OperationMeta | None],
        session: RollSession,
        last: str | None = None,
        wait: bool = True,
        start_gate: bool = False,
    ) -> Callable[[], None]:
        """Start a stopped service and wait for it; restart a running one when it runs
        anything else than what is on disk now (changed in this run or left by an earlier
        one that failed or was interrupted).

        ``start_gate``: the safe-restart script's ``--before-start`` must pass before a stopped
        service starts.

        ``wait=False``: a service started now is not waited for here; the function returned
        queues that wait, to be called before anything needs the service (it overlaps the
        start with the operations queued in between). It does nothing if nothing started.

        Restarts are serial (one host at a time), gated on the cluster's health by the
        safe-restart script and checked against this run's roll lock; the run stops at the
        first that fails. ``last`` (a reason, e.g. "the leader") puts this host's restart
        after all the others', so the role it holds moves once instead of at every step.
        """
        name = self.name
        live = host.get_fact(ServiceDrift, service=name, files=self.fingerprint)
        unit_changed = changed(unit_op)
        any_change = changed(unit_op, *changes)
        systemd.daemon_reload(
            name="Reload systemd units", _if=lambda: unit_changed() or live["reload"]
        )
        if start_gate:
            # Queued on running hosts too (where it does nothing): pyinfra orders operations by
            # their depth in each host's chain first, and the stopped hosts' chain must not grow.
            server.shell(
                name=f"Check that {name} may start",
                commands=[f"{SCRIPT_DIR}/{name}-safe-restart --before-start"],
                _if=lambda: not live["active"],
            )
        # Stopped services first (pyinfra orders the hosts' operations by source line): a
        # broker or server that is down must be back before a running one may be spared.
        if not live["active"]:
            systemd.service(
                name=f"Start and enable {name}",
                service=f"{name}.service",
                running=True,
                enabled=True,
            )

            def wait_until_healthy() -> None:
                server.shell(
                    name=f"Wait until {name} is healthy",
                    commands=[f"{SCRIPT_DIR}/{name}-safe-restart --wait-only"],
                )

            if not wait:
                return wait_until_healthy
            wait_until_healthy()
            return nothing
        systemd.service(name=f"Enable {name} at boot", service=f"{name}.service", enabled=True)
        restart = {
            "commands": [self.restart_command(session)],
            "_serial": True,
            "_if": lambda: live["drift"] or any_change(),
        }
        # The "last" call must stay below the other one, for the same reason.
        if not last:
            server.shell(name=f"Restart {name} safely (one host at a time)", **restart)
        else:
            server.shell(name=f"Restart {name} safely ({last} last)", **restart)
        return nothing
