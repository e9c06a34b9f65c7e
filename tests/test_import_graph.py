"""The dependency rules of docs/architecture.md, checked on the source (no import is run).

Every import counts: one inside a function (that is how circles hide) and one under
``if TYPE_CHECKING:`` too. A type-only import never runs, but two modules that name each
other's types are one module to a reader and to a type checker, and are kept apart here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.config import ROOT

PACKAGES = ("bot", "handlers", "storage")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that ``path`` imports (``from storage import cases`` -> storage.cases)."""
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules and modules[name] != path}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    assert _cycles(_graph()) == []


def test_a_type_only_import_counts(tmp_path: Path) -> None:
    module = tmp_path / "a.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from b import X\n")
    assert _imports(module, {"b": tmp_path / "b.py", "a": module}) == {"b"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_channels_and_storage_import_no_handler() -> None:
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.startswith(("bot.core", "bot.channels", "storage"))
        for target in targets
        if target.startswith("handlers")
    ]
    assert offenders == []


def test_storage_imports_nothing_of_the_bot_but_pure_text_functions() -> None:
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.startswith("storage")
        for target in targets
        if target.startswith(("bot", "handlers")) and target != "bot.core.textnorm"
    ]
    assert offenders == []


def test_handlers_and_storage_do_not_probe_at_run_time() -> None:
    """No importlib, no inspect (the standard module), no engine.services[...] or ctx.engine."""
    offenders = []
    for name, path in _modules().items():
        if not name.startswith(("handlers", "storage")):
            continue
        source = path.read_text("utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad = {a.name for a in node.names} & {"importlib", "inspect"}
                offenders += [f"{name}: import {b}" for b in bad]
            elif isinstance(node, ast.ImportFrom) and node.module in ("importlib", "inspect"):
                offenders.append(f"{name}: from {node.module} import")
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
                if node.value.attr == "services":
                    offenders.append(f"{name}:{node.lineno}: services[...]")
            elif isinstance(node, ast.Attribute) and node.attr == "engine":
                if isinstance(node.value, ast.Name) and node.value.id == "ctx":
                    offenders.append(f"{name}:{node.lineno}: ctx.engine")
    assert offenders == []


def test_the_environment_is_read_only_in_bot_config() -> None:
    """Environment overrides are read in one place (bot/config.py), so a reader finds them."""
    offenders = []
    for name, path in _modules().items():
        if name == "bot.config":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                if isinstance(node.value, ast.Name) and node.value.id == "os":
                    offenders.append(f"{name}:{node.lineno}: os.{node.attr}")
    assert offenders == []
