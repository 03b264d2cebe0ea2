"""The project's own import graph: no circle, and no module takes another's private names.

Every import counts, also those inside functions (a deferred import hides a circle; it does
not remove it). ``python -m tests.unit.test_import_graph`` prints the graph.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("kafkaform", "deploys", "inventories", "facts")


def project_modules() -> dict[str, Path]:
    modules = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(project module imported, names taken from it) for each import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name in modules]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in modules:
                continue
            names = []
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.append((submodule, []))
                else:
                    names.append(alias.name)
            if names:
                found.append((node.module, names))
    return found


def private_attributes(path: Path, modules: dict[str, Path]) -> list[str]:
    """``module._name`` uses through a module this file imported (``from kafkaform import
    lab`` then ``lab._locked``)."""
    tree = ast.parse(path.read_text(), str(path))
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    bound[alias.asname] = alias.name
    return [
        f"{bound[node.value.id]}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _ in imports_of(path, modules):
            if target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found() -> None:
    # The checker itself: the old box -> lab -> box circle, and a longer one.
    assert cycles({"box": {"lab"}, "lab": {"box"}, "cli": {"box"}}) == [["box", "lab"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_project_has_no_import_circle() -> None:
    graph = import_graph()
    assert "kafkaform.lab.lifecycle" in graph and graph["kafkaform.lab.lifecycle"]
    assert cycles(graph) == []


@pytest.mark.parametrize("name", sorted(project_modules()))
def test_no_module_takes_another_modules_private_names(name: str) -> None:
    modules = project_modules()
    private = [
        f"{target}.{taken}"
        for target, names in imports_of(modules[name], modules)
        for taken in names
        if taken.startswith("_") and target != name
    ]
    assert private + private_attributes(modules[name], modules) == []


if __name__ == "__main__":
    for module, targets in sorted(import_graph().items()):
        if targets:
            sys.stdout.write(f"{module} -> {', '.join(sorted(targets))}\n")
