"""The SCRAM credentials Kafka keeps in ZooKeeper, as ConfigCommand describes them: per user,
the salt, the stored key and the iteration count (never a password: ZooKeeper holds none)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyinfra.api import FactBase

from kafkaform.scram import Credential, parse_credential

UNAVAILABLE = "kafkaform-scram-unavailable"
# ConfigCommand: "Configs for user-principal 'NAME' are SCRAM-SHA-512=salt=...,stored_key=..."
USER_RE = re.compile(r"^Configs for user-principal '(?P<user>[^']+)' are (?P<configs>.*)$")


class ScramCredentials(FactBase):
    """
    Returns ``{user: Credential}`` of the users with a credential of the mechanism, or None
    when the credentials cannot be read (no Kafka installed yet, ZooKeeper not up: the first
    deploy). ``describe``: the ConfigCommand line that describes every user (without
    output redirection).
    """

    def command(self, describe: str, install: str) -> str:
        return (
            f"if [ -d {install}/libs ] && out=$(timeout 60 {describe} 2>/dev/null); then"
            f' printf "%s\\n" "$out" | grep "^Configs for user-principal";'
            f" else echo {UNAVAILABLE}; fi; true"
        )

    def process(self, output: list[str]) -> dict[str, Credential] | None:
        return parse_described(output)


def parse_described(lines: Iterable[str]) -> dict[str, Credential] | None:
    lines = [line.strip() for line in lines]
    if UNAVAILABLE in lines:
        return None
    found = {}
    for line in lines:
        match = USER_RE.match(line)
        if match:
            credential = parse_credential(match["configs"])
            if credential is not None:
                found[match["user"]] = credential
    return found
