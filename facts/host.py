"""Host facts pyinfra does not ship."""

from __future__ import annotations

from pyinfra.api import FactBase


class ContainerVirtualization(FactBase):
    """
    Returns the container technology the host runs in (``"systemd-nspawn"``, ``"docker"``,
    ...) or ``None`` on a VM or bare metal. Kernel tunables cannot be set from inside a
    container, so the deploy writes them but does not apply them there.
    """

    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        value = output[0].strip() if output else ""
        return None if value in ("", "none") else value
