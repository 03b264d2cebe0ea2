"""The lab's network on this machine: the bridge with the gateway address, IPv4 forwarding,
NAT so hosts reach apt, each host's veth and the nameservers hosts are given."""

from __future__ import annotations

import contextlib
import ipaddress
import time
from pathlib import Path

from kafkaform.hostops import Progress, run, which
from kafkaform.lab.plan import BRIDGE, GATEWAY, PREFIX, SUBNET, LabError

RULE_COMMENT = "kafkaform-lab"


def nat_rules() -> list[tuple[str, str, list[str]]]:
    """(table, chain, match) of each rule the lab adds; the comment marks them as ours."""
    mark = ["-m", "comment", "--comment", RULE_COMMENT]
    return [
        ("nat", "POSTROUTING", ["-s", SUBNET, "!", "-o", BRIDGE, *mark, "-j", "MASQUERADE"]),
        # Docker sets the FORWARD policy to DROP; these keep the lab's traffic flowing.
        ("filter", "FORWARD", ["-i", BRIDGE, *mark, "-j", "ACCEPT"]),
        ("filter", "FORWARD", ["-o", BRIDGE, *mark, "-j", "ACCEPT"]),
    ]


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def _iptables_rule(action: str, table: str, chain: str, match: list[str]) -> bool:
    return run(["iptables", "-w", "-t", table, action, chain, *match], check=False).returncode == 0


def ensure_network(progress: Progress = print) -> None:
    """Bridge with the gateway address, IPv4 forwarding and NAT; safe to repeat."""
    if not bridge_exists():
        progress(f"creating bridge {BRIDGE} ({GATEWAY}/{PREFIX})")
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addresses = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE]).stdout
    if f" {GATEWAY}/{PREFIX} " not in addresses:
        run(["ip", "addr", "add", f"{GATEWAY}/{PREFIX}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    # Same as `sysctl -w net.ipv4.ip_forward=1`, without needing procps on this machine.
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    for table, chain, match in nat_rules():
        if not _iptables_rule("-C", table, chain, match):
            # FORWARD: ahead of any DROP/REJECT rule another tool appended.
            if chain == "FORWARD":
                run(["iptables", "-w", "-t", table, "-I", chain, "1", *match])
            else:
                run(["iptables", "-w", "-t", table, "-A", chain, *match])


def remove_network(progress: Progress = print) -> None:
    if which("iptables"):
        for table, chain, match in nat_rules():
            while _iptables_rule("-C", table, chain, match):
                _iptables_rule("-D", table, chain, match)
    if bridge_exists():
        progress(f"removing bridge {BRIDGE}")
        run(["ip", "link", "delete", BRIDGE], check=False)
    # ip_forward stays on: other tools on this machine (Docker) may rely on it too.


def remove_stale_veth(name: str, timeout: float = 10.0) -> None:
    """Drop the host side of a dead node's veth pair.

    The kernel tears a killed container's network namespace down asynchronously; until it
    has, nspawn cannot create the pair again ("vb-NAME: File exists").
    """
    link = f"vb-{name}"[:15]  # nspawn truncates to the kernel's interface name limit
    deadline = time.monotonic() + timeout
    while Path(f"/sys/class/net/{link}").exists():
        run(["ip", "link", "delete", link], check=False)
        if time.monotonic() > deadline:
            raise LabError(f"{name}: stale interface {link} cannot be removed")
        time.sleep(0.2)


def host_dns_servers() -> list[str]:
    """Nameservers the hosts can use: this machine's own, unless they are loopback stubs."""
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        with contextlib.suppress(OSError):
            servers = []
            for line in Path(path).read_text().splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    with contextlib.suppress(ValueError):
                        if not ipaddress.ip_address(words[1]).is_loopback:
                            servers.append(words[1])
            if servers:
                return servers
    return []
