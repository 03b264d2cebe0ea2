"""What a check reports, and how a report is printed."""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    where: str  # a host name, or "group_data/<group>.py", or "inventory"
    field: str
    message: str
    # A warning is printed but does not stop a deploy: the setting is harmless, only useless
    # here (e.g. alert receivers while no host runs Alertmanager).
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class InventoryError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the inventory has {len(problems)} problem(s):\n{lines}")


def merge_across_hosts(problems: Iterable[Problem]) -> list[Problem]:
    """One line per distinct problem; a group-wide mistake lists its hosts instead of repeating."""
    hosts: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
    for p in problems:
        hosts[(p.field, p.message, p.warning)].append(p.where)
    return [
        Problem(", ".join(dict.fromkeys(where)), field, message, warning)
        for (field, message, warning), where in hosts.items()
    ]


def did_you_mean(word: str, vocabulary: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(vocabulary), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
