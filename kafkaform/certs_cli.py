"""The ``kafkaform certs`` commands: ``check`` (days left of every certificate served and
kept, exit 1 when one needs attention) and ``rotate-ca`` (start, follow or give up a CA
rotation; the deploys do its steps, kafkaform.ca_rotation)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kafkaform import ca_rotation, cert_check, pki

EXIT_OK, EXIT_PROBLEMS, EXIT_NO_INVENTORY = 0, 1, 2
SITE_ROTATION = (
    "the site provides every certificate (tls_host_certificates, no tls_ca_key_file): rotate "
    "its CA in the files: put the old and the new CA in tls_ca_cert_file and deploy, then "
    "the new certificates and deploy, then remove the old CA and deploy"
)


def settings_of(path: str) -> tuple[Any, dict[str, Any]] | None:
    from kafkaform.validate import UnusableInventory, load_cluster

    try:
        _, cluster = load_cluster(path)
    except UnusableInventory as error:
        print(error, file=sys.stderr)
        return None
    return cluster, cluster.nodes[0].settings


def run_check(args: argparse.Namespace) -> int:
    loaded = settings_of(args.inventory)
    if loaded is None:
        return EXIT_NO_INVENTORY
    cluster, settings = loaded
    warn_days = args.warn_days if args.warn_days is not None else settings["tls_renew_days"]
    findings = cert_check.check(cluster, float(warn_days), args.timeout)
    failing = [f for f in findings if f.problems]
    unreachable = [f for f in findings if not f.reachable]
    if args.json:
        print(
            json.dumps(
                {"warn_days": warn_days, "certificates": [f.to_dict() for f in findings]}, indent=2
            )
        )
    else:
        if settings["security"] == "plaintext":
            print("plaintext cluster: no host serves TLS; the certificate files only")
        print(cert_check.table(findings) or "no certificates yet")
    summary = f"{len(findings)} certificate(s), {len(failing)} need attention"
    if unreachable:
        summary += f", {len(unreachable)} endpoint(s) unreachable (not judged)"
    print(summary, file=sys.stderr)
    return EXIT_PROBLEMS if failing else EXIT_OK


def describe(rotation: ca_rotation.Rotation | None, every_host: list[str]) -> str:
    if rotation is None:
        return "no CA rotation is under way"
    waiting = [h for h in every_host if h not in rotation.deployed]
    return (
        f"CA rotation started {rotation.started}, step {rotation.step} of 3 "
        f"({rotation.name}): the next deploy does it; {ca_rotation.STEP_CHANGES[rotation.step]}."
        f"\n  hosts still to deploy this step: {', '.join(waiting) or 'none'}"
    )


def run_rotate(args: argparse.Namespace) -> int:
    loaded = settings_of(args.inventory)
    if loaded is None:
        return EXIT_NO_INVENTORY
    cluster, settings = loaded
    hosts = [n.name for n in cluster.nodes]
    if not pki.kafkaform_signs(settings):
        print(SITE_ROTATION, file=sys.stderr)
        return EXIT_PROBLEMS
    top = pki.root(settings)
    try:
        if args.abort:
            ca_rotation.abort(top)
            pki.control_files(settings)  # the control machine's clients: the old CA alone again
            print("CA rotation given up: the next deploy takes the new CA out of the bundles")
            return EXIT_OK
        if args.deployed is not None:
            ca_rotation.deployed(top, args.deployed, hosts, hosts)
        elif not args.status:
            before = ca_rotation.state(top)
            ca_rotation.start(
                top, pki.new_ca_name(settings), int(settings["tls_ca_days"]), pki.site_ca(settings)
            )
            if before is None:
                print(f"new CA: {ca_rotation.upcoming(top).path / 'ca.crt'} (give it to clients)")
        # The control machine's CA file follows the rotation now, not at the next command
        # that happens to build a client: a client started from here on trusts both CAs.
        files = pki.control_files(settings)
        if files and not args.status and ca_rotation.state(top):
            print(f"the control machine's clients trust both CAs until the end: {files[2]}")
    except ca_rotation.PkiError as error:
        print(f"kafkaform certs rotate-ca: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(describe(ca_rotation.state(top), hosts))
    return EXIT_OK


def add_cli(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "certs",
        help="TLS certificates: days left, CA rotation",
        description="The cluster's TLS certificates (secured clusters).",
    )
    sub = parser.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="days left of every certificate served and kept (exit 1 if one needs attention)",
        description=(
            "Connects to every TLS endpoint of every host (Kafka's client and inter-broker "
            "listeners, ZooKeeper's secure client port, node_exporter, Prometheus, "
            "Alertmanager), reads the certificate it serves and prints its days left, names "
            "and issuer; then the certificates kept in pki_dir. Exit status 1 when one has "
            "fewer than --warn-days left, does not chain to the CA the control machine "
            "trusts, or does not name its host; unreachable endpoints are listed, not judged; "
            "2 when the inventory cannot be used."
        ),
    )
    check.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/prod.py")
    check.add_argument(
        "--warn-days", type=float, default=None, help="default: the inventory's tls_renew_days"
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds per connection")
    check.set_defaults(func=run_check)
    rotate = sub.add_parser(
        "rotate-ca",
        help="start (or show) a CA rotation: three deploys, no downtime",
        description=(
            "Starts a CA rotation: a new CA of kafkaform's own, or the site's CA the "
            "inventory's tls_ca_cert_file/tls_ca_key_file now names. Then each deploy does "
            "one step: 1 every host trusts the old and the new CA, 2 every host gets its "
            "certificate from the new CA, 3 the old CA is dropped. A step is over when it "
            "was deployed to every host; run again to see where the rotation is."
        ),
    )
    rotate.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/prod.py")
    action = rotate.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="only show the rotation's step")
    action.add_argument("--abort", action="store_true", help="give up a rotation in step 1")
    action.add_argument(
        "--deployed",
        type=int,
        choices=sorted(ca_rotation.STEPS),
        metavar="STEP",
        help="record that STEP was deployed to every host (what a deploy records itself)",
    )
    rotate.set_defaults(func=run_rotate)
