"""The house rules of helpers/: stage packages, one-way data flow, no import cycle, small modules, a
chapter map."""

from __future__ import annotations

import ast
from pathlib import Path

import helpers

ROOT = Path(helpers.__file__).parent
# A stage may import from itself and the stages before it, never after (config → estimate → load → infer → …).
STAGES = ["core", "estimate", "load", "infer", "checkpoints", "safety", "cases", "serve", "learn"]
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> helpers modules it imports, function-level imports included (they are cycles too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_stages_import_only_backwards():
    wrong = []
    for module, targets in import_graph().items():
        here = _stage(module)
        for target in targets:
            there = _stage(target)
            if here and there and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "a stage imports a later stage: " + "; ".join(sorted(wrong))


def test_every_module_lives_in_a_stage_and_is_small():
    for name, path in _modules().items():
        assert name in ("helpers", "helpers.cli", "helpers.__main__") or _stage(name), (
            f"{name} is outside a stage"
        )
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(ROOT.parent)} has {lines} lines (limit {MAX_LINES})"


def test_package_docstring_maps_every_module_to_its_chapter():
    doc = helpers.__doc__
    for name in _modules():
        stage = _stage(name)
        if stage and name != f"helpers.{stage}":
            assert name.rsplit(".", 1)[-1] in doc, f"helpers/__init__.py does not list {name}"
        if stage:
            package_doc = __import__(f"helpers.{stage}", fromlist=["_"]).__doc__ or ""
            assert "chapter" in package_doc, f"helpers/{stage}/__init__.py does not name its chapters"
