"""The examples in the docstrings of every module of lrn run and print what they say.

The modules are discovered with pkgutil.walk_packages, so a new module's examples
run without being listed here.  A module whose examples need an optional
framework that is not installed is skipped, naming it.  Modules without
``>>>`` in their source (``lrn.torch``, ``lrn.onnx`` and ``lrn.ops`` among
them: the same module objects as their ``lrn.interop`` originals, whose
examples run once, there) have nothing to run and are not listed.
"""
import ast
import doctest
import importlib
import importlib.util
import pathlib
import pkgutil
import sys

import pytest

import lrn

# What a module's examples need beyond the imports written in them (these
# modules import their framework inside the functions the examples call).
NEEDS = {
    "lrn.interop.torch": ("torch",),
    "lrn.interop.onnx": ("onnx", "onnxruntime", "onnxruntime_extensions"),
    "lrn.dask": ("dask",),
    "lrn.onnx": ("onnx",),          # the alias of lrn.interop.onnx, found on its own
}
# Modules that must have examples: the discovery below must keep finding them.
DOCUMENTED = {"lrn._api", "lrn._params", "lrn._config", "lrn.dask", "lrn.interop.caffe",
              "lrn.interop.caffe2", "lrn.interop.onnx", "lrn.interop.tf",
              "lrn.interop.torch"}


def _source(name):
    """The module's source text, read without importing it (a compiled module's
    .pyx next to it); None when there is none to read."""
    spec = importlib.util.find_spec(name)
    origin = pathlib.Path(spec.origin) if spec and spec.origin else None
    if origin is None:
        return None
    if origin.suffix != ".py":
        origin = origin.with_name(origin.name.partition(".")[0] + ".pyx")
    return origin.read_text() if origin.is_file() else None


def _modules():
    """(every module of lrn, those with examples in their source).  A module
    without readable source is assumed to have examples (the test says)."""
    names = ["lrn"] + [info.name for info in pkgutil.walk_packages(lrn.__path__, "lrn.")]
    with_examples = [n for n in names if ">>>" in (_source(n) or ">>>")]
    return sorted(names), sorted(with_examples)


ALL, MODULES = _modules()


def _imported_in_examples(tests):
    """Top-level names the examples import (``import torch``, ``from dask ...``)."""
    found = set()
    for test in tests:
        for example in test.examples:
            try:
                tree = ast.parse(example.source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(a.name.partition(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.partition(".")[0])
    return found


def _missing(names):
    return sorted(n for n in names if n not in sys.modules and importlib.util.find_spec(n) is None)


def _import(name):
    """The module, or a skip naming the optional framework it cannot import without."""
    missing = _missing(NEEDS.get(name, ()))
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)} (not installed)")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = (getattr(exc, "name", None) or "").partition(".")[0]
        if top and top != "lrn" and importlib.util.find_spec(top) is None:
            pytest.skip(f"{name} needs {top} (not installed): {exc}")
        raise


def test_discovery_finds_every_documented_module():
    assert DOCUMENTED <= set(MODULES), sorted(DOCUMENTED - set(MODULES))
    assert {"lrn.torch", "lrn.onnx", "lrn.ops", "lrn.benchmark", "lrn._cpu", "lrn._gpu",
            "lrn._arrays", "lrn._kernels", "lrn.interop", "lrn.__main__"} <= set(ALL)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = _import(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has '>>>' in its source but no docstring examples"
    missing = _missing(_imported_in_examples(tests))
    if missing:
        pytest.skip(f"the examples of {name} need {', '.join(missing)} (not installed)")
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
