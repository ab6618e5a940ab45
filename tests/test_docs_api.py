"""Every snippet of docs/api.md runs, in order, in one session, from the repository root (as a reader would)."""

from __future__ import annotations

import contextlib
import io
import re

from conftest import ROOT, SHARED

DOC = ROOT / "docs" / "api.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_api_walkthrough_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    code = snippets()
    assert len(code) >= 4
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(code):
            block = block.replace('Path("../shared/data")', repr(str(SHARED / "data")).join(("Path(", ")")))
            exec(compile(block, f"docs/api.md snippet {i + 1}", "exec"), namespace)
    printed = out.getvalue()
    scores = namespace["scores"]
    assert list(scores.columns)[:5] == ["tic", "filename", "p3", "p5", "p9"] and len(scores) == 6
    assert set(scores["product"]) == {"spoc-2min"}
    assert namespace["failures"].empty
    assert "25155310" in printed and "refusing" not in printed
    assert "unknown model file type" in printed  # the ModelFileError message was printed
    shapes = namespace["shapes"]  # CLARA folds 11 of the 13 notch-locor files; 2 are failure rows
    assert shapes.features.shape == (11, 100) and len(shapes.failures) == 2
    assert sum(namespace["groups"].metrics.cluster_sizes.values()) == 11


def test_scoring_snippet_is_short():
    """The issue's bar: the first snippet scores real files in under 15 lines of user code."""
    first = [ln for ln in snippets()[0].splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(first) < 15, len(first)
