"""The benchmark scripts in ``bench/`` are run by hand, not by the suite: this keeps them runnable when the
library moves. Every ``clara_benchmark`` name a script imports, and every attribute it takes from a clara
module it imported (``worker.score_rows``), must exist. (Found after the library layer: bench_score,
bench_dask and bench_train still called functions that had moved.)"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def clara_names(tree: ast.AST) -> tuple[list[tuple[str, str]], dict[str, types.ModuleType]]:
    """(module, name) of each ``from clara_benchmark... import name``; local names bound to clara modules."""
    wanted, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("clara_benchmark"):
            for alias in node.names:
                wanted.append((node.module, alias.name))
                try:
                    modules[alias.asname or alias.name] = importlib.import_module(
                        f"{node.module}.{alias.name}"
                    )
                except ModuleNotFoundError:
                    pass  # a name, not a module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("clara_benchmark") and alias.asname:
                    modules[alias.asname] = importlib.import_module(alias.name)
    return wanted, modules


def test_there_are_scripts():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_bench_script_names_exist(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    wanted, modules = clara_names(tree)
    missing = []
    for module, name in wanted:
        if not hasattr(importlib.import_module(module), name) and f"{module}.{name}" not in {
            m.__name__ for m in modules.values()
        }:
            missing.append(f"{module}.{name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if not hasattr(modules[node.value.id], node.attr):
                missing.append(f"{modules[node.value.id].__name__}.{node.attr}")
    assert not missing, f"{script.name} uses names clara no longer has: {missing}"
