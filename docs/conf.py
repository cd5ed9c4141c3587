"""Sphinx configuration of lrn's documentation (``sphinx-build -W -b html docs OUT``).

Built in CI by ``tests/test_sitedocs.py`` with warnings as errors; every code
block of the pages runs in ``tests/test_readme.py``.
"""
import os
import pathlib
import sys

import lrn

sys.path.insert(0, str(pathlib.Path(__file__).parent / "_ext"))

project = "lrn"
author = "the lrn authors"
copyright = "the lrn authors"
release = version = lrn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "bench_tables",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]
myst_heading_anchors = 3

# lrn.torch and lrn.interop.keras import PyTorch and Keras when they are imported (documenting it imports it anyway);
# without them they are documented from a stand-in, so that the pages build with the
# docs extra alone.  The other adapters import their framework only when called.
# Keras loads TensorFlow, whose C++ start-up notes go to stderr, where the build's
# warnings go too (the oneDNN note is printed whatever the log level).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
autodoc_mock_imports = []
for _framework in ("torch", "keras"):
    try:
        __import__(_framework)
    except ImportError:
        autodoc_mock_imports.append(_framework)
autodoc_typehints = "none"        # the numpydoc sections give the types
autodoc_preserve_defaults = True  # `p=ALEXNET`, `alpha=1e-4`, as written
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# Every cross-reference must resolve, except to other projects' objects (no
# intersphinx: the build reads nothing from the network).
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(torch|numpy|dask|onnx|tensorflow)\..*")]

html_theme = "alabaster"
html_theme_options = {"description": "Local Response Normalization: exact, fast, "
                                     "forward and backward", "fixed_sidebar": False}
html_show_sourcelink = False
