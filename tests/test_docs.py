"""The examples in the public docstrings run and print what they say."""
import doctest
import importlib

import pytest

MODULES = ["lrn._api", "lrn._caffe", "lrn._config", "lrn.ops"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
