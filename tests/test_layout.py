"""The house rules the layout keeps: no import cycles, no private names across modules, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import labelaudit

PACKAGE = Path(labelaudit.__file__).parent
#: the longest function body allowed, in lines (style.md: functions past ~60-80 lines are to be split)
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labelaudit"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    return {m for m in found if m != "labelaudit"}


def test_no_import_cycles_even_through_lazy_imports():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert cycles == [], " | ".join(" -> ".join(c) for c in cycles)


def test_no_private_names_imported_across_modules():
    offenders = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labelaudit"):
                offenders += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert offenders == []


def _defined_names(path: Path) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
                    names.add(sub.name)
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in sub.names)
                elif isinstance(sub, ast.Assign):
                    names.update(n.id for t in sub.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def test_every_internal_import_names_something_that_exists():
    """Static, so an import inside a torch-only (or dask-only) branch is checked without the extra installed:
    a wrong ``from labelaudit.x import y`` in such a branch once passed every test without torch."""
    modules = _modules()
    defined = {m: _defined_names(p) for m, p in modules.items()}
    broken = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labelaudit"):
                if node.module not in modules:
                    broken.append(f"{name}: no module {node.module}")
                    continue
                for a in node.names:
                    if (
                        a.name != "*"
                        and f"{node.module}.{a.name}" not in modules
                        and a.name not in defined[node.module]
                    ):
                        broken.append(f"{name}: {node.module} has no {a.name}")
            elif isinstance(node, ast.Import):
                broken += [
                    f"{name}: no module {a.name}"
                    for a in node.names
                    if a.name.startswith("labelaudit") and a.name not in modules
                ]
    assert broken == []


def test_every_data_check_is_registered_once():
    """The registry and the --checks names agree: a check added to one and not the other fails here."""
    from labelaudit.checks.registry import REGISTRY
    from labelaudit.names import ALL_CHECKS

    assert sorted(REGISTRY) == sorted(c for c in ALL_CHECKS if c != "label")
    assert all(name == check.name for name, check in REGISTRY.items())


def test_no_function_body_is_longer_than_the_limit():
    """Bodies only: a typer command's signature is its option declarations, not logic."""
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                doc = (
                    body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                )
                first = body[1] if doc and len(body) > 1 else body[0]
                lines = node.end_lineno - first.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []
