"""The examples in the package's docstrings run, and say what they print (numpydoc ``Examples``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import clara_benchmark
from conftest import PUBLISHED_DIR, SHARED, TESS_DIR

SKIP_IMPORT = ("clara_benchmark.__main__",)


def modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(clara_benchmark.__path__, "clara_benchmark."):
        if info.name in SKIP_IMPORT:
            continue
        module = importlib.import_module(info.name)
        tests = doctest.DocTestFinder().find(module, info.name)
        if any(t.examples for t in tests):
            names.append(info.name)
    return sorted(names)


MODULES = ["clara_benchmark", *modules_with_examples()]


def test_every_module_of_the_public_api_has_examples():
    public_modules = set(clara_benchmark._EXPORTS.values())
    assert sorted(public_modules - set(MODULES)) == []


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    globs = {
        "TESS_DIR": TESS_DIR,
        "PUBLISHED_DIR": PUBLISHED_DIR,
        "TESS_REAL_DIR": SHARED / "data" / "tess_real",
    }
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        test.globs.update(globs)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"
