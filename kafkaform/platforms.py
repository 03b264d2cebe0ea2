"""Per-distribution facts: package manager, Java package, extra preparation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BASE_PACKAGES = ["curl", "tar", "gzip", "ca-certificates"]


@dataclass(frozen=True)
class Platform:
    family: str  # "apt", "yum" or "dnf"
    java_package: str
    centos7_vault: bool = False


class UnsupportedPlatform(Exception):
    pass


def platform_for(distro: Mapping[str, Any]) -> Platform:
    """Map pyinfra's LinuxDistribution fact to how kafkaform installs things there."""
    meta = distro.get("release_meta") or {}
    ids = {str(meta.get("ID", "")).lower(), *str(meta.get("ID_LIKE", "")).lower().split()}
    major = distro.get("major") or 0
    name = distro.get("name") or meta.get("ID") or "unknown"
    if ids & {"debian", "ubuntu"}:
        # Debian 13 dropped OpenJDK 17; Kafka 3.9 supports 21 as well.
        java = (
            "openjdk-21-jre-headless"
            if "ubuntu" not in ids and major >= 13
            else ("openjdk-17-jre-headless")
        )
        return Platform("apt", java)
    if ids & {"rhel", "centos", "fedora", "rocky", "almalinux"}:
        if major == 7:
            return Platform("yum", "java-11-openjdk-headless", centos7_vault="centos" in ids)
        if major >= 8:
            return Platform("dnf", "java-17-openjdk-headless")
    raise UnsupportedPlatform(f"{name} {major or ''} is not a supported distribution".strip())
