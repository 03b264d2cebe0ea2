"""Sizes and ports of the hosts kafkaform runs on this machine: lab containers and dev VMs.

Both share this machine's memory (or have little of their own), so their JVM heaps are set
small rather than derived from RAM; each kind serves the local artifact mirror on its own port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Heaps for hosts that share one machine's memory (heap_for would size them from its RAM).
SMALL_HEAPS = {"kafka_heap": "512m", "zookeeper_heap": "256m"}
DEV_VM_MEMORY_MB = 2048  # a dev VM (virtualbox, libvirt)
LAB_MIRROR_PORT = 8213  # on the lab bridge's gateway address
DEV_MIRROR_PORT = 8214  # on the dev private network's host address
# The lab's and the dev nodes' security level, by one variable (e.g. KAFKA_SECURITY=sasl_ssl):
# on hosts that run plaintext already, the deploy rolls them there (kafkaform.rollout).
SECURITY_VARIABLE = "KAFKA_SECURITY"


def security_level(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``security`` setting the environment asks for (validation judges the value)."""
    value = (os.environ if env is None else env).get(SECURITY_VARIABLE, "").strip()
    return {"security": value} if value else {}
