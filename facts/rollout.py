"""Which services run a process started before their config file was last written: a roll
that stopped half way (the file of the next security step written, the restart not yet
done). The unit writes its started file (facts.service.started_file) as the process starts."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from pyinfra.api import FactBase

from facts.service import started_file


class StartedBeforeConfig(FactBase):
    """
    Returns the names of the services (of ``configs``: service -> config file) that are
    active and whose config file is newer than their process's start.
    """

    @staticmethod
    def default() -> list:
        return []

    def command(self, configs: Mapping[str, str]) -> str:
        checks = [
            f"if systemctl is-active --quiet {shlex.quote(service)}.service && "
            f"[ {shlex.quote(path)} -nt {shlex.quote(started_file(service))} ]; "
            f"then echo {shlex.quote(service)}; fi"
            for service, path in sorted(configs.items())
        ]
        return "; ".join([*checks, "true"])

    def process(self, output: list[str]) -> list[str]:
        return sorted(line.strip() for line in output if line.strip())
