"""The ``kafkaform`` command: validate inventories, build artifacts, run the local lab, show a
cluster's status."""

from __future__ import annotations

import argparse
import sys

from kafkaform import artifacts, box, certs_cli, dockerd, rebalance_cli, status_cli, validate
from kafkaform.lab import cli as lab_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafkaform",
        description="Set up ZooKeeper and Kafka with pyinfra; tools around the deploy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate.add_cli(sub)
    artifacts.add_cli(sub)
    lab_cli.add_cli(sub)
    box.add_cli(sub)
    dockerd.add_cli(sub)
    status_cli.add_cli(sub)
    rebalance_cli.add_cli(sub)
    certs_cli.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
