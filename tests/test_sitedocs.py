"""The documentation site (docs/, Sphinx) builds with warnings as errors, documents
every public name, and builds without the optional frameworks too.

The pages' code blocks run in tests/test_readme.py, but the installation page's
command that builds the site, which runs here (tests/test_readme.py's runner) and
gives the pages read here.
"""
import ast
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

import lrn

from .test_readme import SITE_BUILD, built_clone, run_pip_block  # noqa: F401 (a fixture)

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Everything the adapters import on use, and matplotlib: the pages must build without them.
OPTIONAL = ("torch", "tensorflow", "keras", "onnx", "onnxruntime", "onnxruntime_extensions", "dask", "distributed",
            "cupy", "ml_dtypes", "matplotlib", "openvino")
# Without __all__: the public functions of lrn.benchmark.
BENCHMARK = ("measure", "compare", "compare_gpu", "format_table", "machine", "demo", "main")
BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

class Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {optional!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
from sphinx.cmd.build import main
sys.exit(main({argv!r}))
"""


# Where the API page documents the names of each module with an __all__ (the modules
# are read, not imported: lrn.torch needs PyTorch to import).  A module not listed
# here (a new adapter) must have its names documented somewhere on the page.
DOCUMENTED_AS = {"dask.py": "lrn.dask", "interop/onnx.py": "lrn.onnx",
                 "interop/caffe2.py": "lrn.ops", "interop/torch.py": "lrn.torch",
                 "interop/tf.py": "lrn"}


def _all(source):
    """The module's __all__, or None."""
    tree = ast.parse(source.read_text())
    return next((ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "__all__"), None)


def _missing(documented):
    """Public names the API page does not document: lrn's functions, lrn.benchmark's,
    and the __all__ of every public module."""
    src = pathlib.Path(lrn.__file__).parent
    missing = [f"lrn.{n}" for n in lrn.__all__ if inspect.isfunction(getattr(lrn, n))
               and f"lrn.{n}" not in documented]
    missing += [f"lrn.benchmark.{n}" for n in BENCHMARK if f"lrn.benchmark.{n}" not in documented]
    for path in sorted([*src.glob("*.py"), *src.glob("interop/*.py")]):
        names = _all(path) if not path.name.startswith("_") else None
        where = DOCUMENTED_AS.get(path.relative_to(src).as_posix())
        for name in names or ():
            if where and f"{where}.{name}" not in documented:
                missing.append(f"{where}.{name}")
            elif not where and not any(d.endswith(f".{name}") for d in documented):
                missing.append(f"{path.relative_to(src)}: {name}")
    return missing


def _build(tmp_path, blocked=()):
    for module in ("sphinx", "numpydoc", "myst_parser"):
        pytest.importorskip(module, reason=f"the docs extra ({module}) is not installed")
    out = tmp_path / "html"
    argv = ["-W", "--keep-going", "-E", "-q", "-b", "html", str(DOCS), str(out)]
    command = [sys.executable, "-c", BLOCKER.format(optional=set(blocked), argv=argv)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and not done.stderr.strip(), (
        f"sphinx-build failed (status {done.returncode}):\n{done.stderr}")
    return out


def _ids(html):
    return set(re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', html))


def test_site_builds_without_warnings(built_clone, tmp_path):
    """The installation page's command (``pip install ".[docs]" && python -m sphinx -W
    --keep-going -b html docs docs/_build/html``), as written, in a copy of a clone."""
    for module in ("sphinx", "numpydoc", "myst_parser"):
        pytest.importorskip(module, reason=f"the docs extra ({module}) is not installed")
    (page, line, _, code), = SITE_BUILD
    run_pip_block(code, f"{page}:{line}", built_clone, tmp_path)
    out = tmp_path / "clone" / "docs" / "_build" / "html"
    pages = sorted(p.stem for p in DOCS.glob("*.md"))
    assert {"index", "installation", "guide", "from-caffe", "from-onnx", "from-pytorch",
            "from-tensorflow", "performance", "api", "design"} <= set(pages)
    for page in pages:
        assert (out / f"{page}.html").is_file(), page
    documented = _ids((out / "api.html").read_text())
    missing = _missing(documented)
    assert not missing, f"public names missing from the API page: {missing}"
    performance = (out / "performance.html").read_text()
    assert "bench-results.png" in performance and "copy floor (copyto)" in performance


def test_site_builds_without_optional_frameworks(tmp_path):
    out = _build(tmp_path, blocked=OPTIONAL)
    documented = _ids((out / "api.html").read_text())
    assert {"lrn.torch.local_response_norm", "lrn.torch.LocalResponseNorm",
            "lrn.onnx.run_node", "lrn.dask.lrn"} <= documented


def test_links_stay_in_the_repository():
    """Every relative link or image of the pages names a file inside the repository."""
    outside = []
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.partition("#")[0]).resolve()
            if not (path.is_relative_to(ROOT) and path.exists()):
                outside.append(f"{page.name}: {target}")
    assert not outside, outside
