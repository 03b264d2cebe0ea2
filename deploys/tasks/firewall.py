"""The host firewall on each host (``firewall: True``): kafkaform.firewall's rules in an nft
file, checked with ``nft -c`` before it replaces the live one, loaded as one transaction and
again at every boot by a small unit of our own.

Two steps a run: ``open_firewall`` before any service starts, so a host that joins is let in
before it needs to be; ``close_firewall`` at the end, which drops hosts that left (a ZooKeeper
server the run removed, a broker it retired) once they are gone. On a run that changes no
membership both want the same rules and the second has nothing to do.

The SSH session of the deploy is never cut: established connections stay accepted, SSH is in
the same transaction as every other rule, and a run whose own SSH connection (as the host sees
it) the new rules would refuse stops before any host is changed.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_inventory
from pyinfra.operations import server, systemd

from deploys.tasks.checked_config import place_checked
from deploys.tasks.host_files import ensure_directories, listed, put_template, put_text
from deploys.tasks.preflight import live_states
from deploys.tasks.zookeeper import ensemble_plan
from facts.firewall import FirewallTable, SshSession
from kafkaform.candidates import Candidate, staging_dir
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run, prepared_fact
from kafkaform.firewall import TABLE, Leaving, Rule, accepted, digest_of, host_rules, ruleset

PACKAGES = ["nftables"]  # the same name on Debian, Ubuntu and EL 7-9
NFT = "/usr/sbin/nft"
RULES_FILE = "/etc/kafkaform/firewall.nft"
UNIT = "kafkaform-firewall"
UNIT_FILE = f"/etc/systemd/system/{UNIT}.service"
COMPONENT = "firewall"  # staging directory of the checked rules
DURING = "firewall-during"  # of the rules loaded for the length of a membership change
q = shlex.quote


def packages(node: Node) -> list[str]:
    return PACKAGES if node.settings["firewall"] is True else []


def addresses_of(name: str) -> tuple[str, ...]:
    """``name``'s IP addresses as the control machine resolves it (an address: itself)."""
    try:
        return (str(ipaddress.ip_address(name)),)
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise PyinfraError(
            f"firewall: cannot resolve {name} on the control machine ({error}); the firewall "
            "needs every host's addresses: fix the name or give its IP address"
        ) from None
    return tuple(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))


def resolved(cluster: Cluster) -> dict[str, tuple[str, ...]]:
    """Each inventory host's addresses: those of its advertised address and SSH target,
    resolved once per run on the control machine."""

    def compute() -> dict[str, tuple[str, ...]]:
        return {
            n.name: tuple(
                dict.fromkeys(
                    a
                    for name in dict.fromkeys((n.address, n.data.get("ssh_hostname") or n.address))
                    for a in addresses_of(str(name))
                )
            )
            for n in cluster.nodes
        }

    return once_per_run("firewall-addresses", compute)


def leaving(cluster: Cluster) -> Leaving:
    """Who still takes part until this run's changes end: ZooKeeper servers in the committed
    membership or running outside the inventory's ensemble, brokers running without a
    kafkaid (being retired)."""

    def compute() -> Leaving:
        states = live_states(ctx_inventory.get(), cluster)

        def running(node: Node, service: str) -> bool:
            state = states.get(node.name)
            return bool(state and state["services"][service]["active"])

        ensemble = {n.name for n in cluster.ensemble}
        committed = [
            raw.split(":", 1)[0].strip() for raw in ensemble_plan(cluster).committed.values()
        ]
        servers = [a for a in committed if not any(a == n.address for n in cluster.ensemble)]
        servers += [
            n.address for n in cluster.nodes if n.name not in ensemble and running(n, "zookeeper")
        ]
        brokers = [n.address for n in cluster.nodes if n.kafkaid is None and running(n, "kafka")]
        return Leaving(
            brokers=tuple(a for name in dict.fromkeys(brokers) for a in addresses_of(name)),
            ensemble=tuple(a for name in dict.fromkeys(servers) for a in addresses_of(name)),
        )

    return once_per_run("firewall-leaving", compute)


def rulesets(cluster: Cluster, node: Node) -> tuple[str, str, list[Rule]]:
    """(the rules to keep, the rules while this run's changes last, the latter's rules)."""
    addresses = resolved(cluster)
    rules, closed = host_rules(cluster, node, addresses)
    during_rules, during_closed = host_rules(cluster, node, addresses, leaving(cluster))
    return (
        ruleset(node.name, rules, closed),
        ruleset(node.name, during_rules, during_closed),
        during_rules,
    )


def guard_ssh(node: Node, rules: Sequence[Rule]) -> None:
    """Stop the run (nothing changed yet) if the rules would refuse the SSH connection this
    deploy came in on: the next deploy could not connect."""
    session = prepared_fact(SshSession)
    if session is None:
        return  # not an SSH connection (a local or container connector): nobody to lock out
    client, port = session
    try:
        allowed = accepted(rules, client, port)
    except ValueError:
        allowed = False
    if not allowed:
        raise PyinfraError(
            f"{host.name}: firewall: this deploy's SSH connection comes from {client} to port "
            f"{port}, which the new rules would refuse (firewall_admin_sources "
            f"{node.settings['firewall_admin_sources']}, firewall_ssh_ports "
            f"{node.settings['firewall_ssh_ports'] or '[ssh_port]'}): nothing was changed; add "
            "that address (or its network) to firewall_admin_sources, or the port to "
            "firewall_ssh_ports"
        )


@deploy("Firewall")
def open_firewall(cluster: Cluster, node: Node) -> None:
    """Before the services: the rules, with hosts that are leaving still let in."""
    if node.settings["firewall"] is not True:
        remove_firewall()
        return
    final, during, during_rules = rulesets(cluster, node)
    guard_ssh(node, during_rules)
    unit = put_template(
        f"systemd unit {UNIT}.service",
        "firewall/kafkaform-firewall.service.j2",
        UNIT_FILE,
        table=TABLE,
        nft=NFT,
        file=RULES_FILE,
    )
    if unit:
        systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    if during == final:
        install_rules(final, reload=False)
        return
    # Loaded now, not kept: a reboot during the change boots with the last kept rules.
    stage = staging_dir(DURING)
    path = f"{stage}/{os.path.basename(RULES_FILE)}"
    ensure_directories([stage], mode="700", user="root", group="root")
    put_text("Candidate for the firewall rules of this run's changes", path, during, "600")
    server.shell(
        name="Check the firewall rules of this run's changes with nft -c, then load them",
        commands=[f"{NFT} -c -f {q(path)}", f"{NFT} -f {q(path)}"],
    )


@deploy("Firewall")
def close_firewall(cluster: Cluster, node: Node) -> None:
    """After the services: the rules to keep, once hosts that left are gone."""
    if node.settings["firewall"] is not True:
        return
    final, during, _ = rulesets(cluster, node)
    if during != final:
        install_rules(final, reload=True)


def install_rules(text: str, reload: bool) -> None:
    """The rules file checked and put in place, then loaded if it changed, if the live table
    is another (or none), or if ``reload``; the unit enabled so they load at boot."""
    ensure_directories([os.path.dirname(RULES_FILE)], mode="755", user="root", group="root")
    name = os.path.basename(RULES_FILE)
    stage = f"{staging_dir(COMPONENT)}/{name}"
    placed = place_checked(
        "the firewall rules",
        COMPONENT,
        [Candidate(name, RULES_FILE, text)],
        f"{NFT} -c -f {q(stage)}",
        "nft -c",
    )
    load = f"systemctl reload-or-restart {UNIT}.service"
    title = f"Load the firewall rules (table inet {TABLE}, one transaction)"
    if reload or prepared_fact(FirewallTable) != digest_of(text):
        server.shell(name=title, commands=[load])
    elif placed:
        server.shell(name=title, commands=[load], _if=placed.did_change)
    systemd.service(name=f"Enable {UNIT}", service=f"{UNIT}.service", running=True, enabled=True)


def remove_firewall() -> None:
    """``firewall: False`` on a host that had it: the table, the unit and the file go."""
    have = listed([os.path.dirname(UNIT_FILE), os.path.dirname(RULES_FILE)])
    present = [
        path
        for path in (UNIT_FILE, RULES_FILE)
        if ((have[os.path.dirname(path)] or {}).get("files") or {}).get(path)
    ]
    if not present:
        return
    server.shell(
        name=f"Remove the firewall (table inet {TABLE}, {UNIT}.service)",
        commands=[
            f"systemctl disable --now {UNIT}.service 2>/dev/null || true",
            f"if {NFT} list table inet {TABLE} >/dev/null 2>&1; then "
            f"{NFT} delete table inet {TABLE}; fi",
            f"rm -f {q(UNIT_FILE)} {q(RULES_FILE)}",
            "systemctl daemon-reload",
        ],
    )
