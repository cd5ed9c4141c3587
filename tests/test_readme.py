"""Every code block of the README and of the documentation (``docs/*.md``) runs as
written, each on its own: a fresh namespace, a fresh temporary folder as the
working directory, no state from the blocks before it.

What a fenced block's language says:

- ``python``: executed; a block with a main guard (``if __name__ == "__main__":``,
  for worker processes that re-import the script) as a script of its own, ``python
  block.py``;
- ``pycon``: a doctest (``>>>`` examples, their output compared with ELLIPSIS and
  NORMALIZE_WHITESPACE);
- ``console``: each ``$ `` line runs in a shell whose ``python`` and ``lrn`` are
  this interpreter's; it must exit with status 0 and print what the lines after it
  show (compared like a doctest's output);
- ``text`` or none: output, signatures or formulas, not code;
- ``{name}``: MyST markup (``{eval-rst}``, ``{toctree}``), not code.

Any other language is an error, so that no block escapes by its label.  A block
is skipped only for what CI cannot have, each named in ``NEEDS``, or for an
optional framework that is not installed (all of them are in CI's test extras;
under ``CI`` such a skip is a failure).

Three kinds of blocks run with stand-ins for what CI cannot reach, as written:

- A block that reads ``activations.zarr`` (the local-cluster example) finds a small
  stand-in array there, and what it writes (``normalized.zarr``, ``scale.zarr``) must
  equal the in-memory call on that array, bit for bit.
- A block with ``$ pip ...`` lines (installing or building lrn from a clone) runs
  in its own copy of a clone in which lrn was built once per session (``pip wheel
  .``, itself reusing CI's in-place install build when up to date; the block's
  build reuses those objects, as a second build in a clone does),
  in a fresh virtual environment whose base packages are this environment's (a
  ``.pth`` file) and whose ``pip`` is this environment's, without the network:
  no index, and no isolated build environment (the build requirements are in the
  test extra), so pip finds the frameworks and the build tools installed.  A block
  that installs lrn must leave it installed in that environment, imported from
  there.  The installation page's block that builds the documentation runs in
  tests/test_sitedocs.py, which then reads the pages it built.
- Caffe2's API (the code being ported in the Caffe2 snippets), no longer
  installable, is ``tests/peers/caffe2_standin.py``: Caffe2's CPU kernels ported
  to NumPy behind ``workspace`` and ``core.CreateOperator``, checked against the
  operators' schema; each Caffe2 snippet must give what the lrn snippet after it
  gives.
"""
import ast
import doctest
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import shutil
import site
import subprocess
import sys
import time
import venv

import numpy as np
import pytest

import lrn

from .peers import caffe2_standin

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
RUN = ("python", "pycon", "console")
SHOWN = ("text", "")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# what a block needs that CI lacks -> why it is skipped
NEEDS = {'Client("': "a remote Dask cluster and the storage it reads and writes"}
# A python block with a main guard (worker processes re-import the script) runs as a
# script of its own, as its reader would run it.
MAIN_GUARD = 'if __name__ == "__main__":'
# Inputs a block reads from its working directory, made there first: the stand-in
# activations of the local-cluster example ((N, C, H, W) float32 in several chunks).
ACTIVATIONS = np.random.default_rng(7).standard_normal((4, 24, 9, 9)).astype(np.float32)
GPU_MARKERS = ("import cupy", '"cuda"')
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<code>.*?)^(?P=fence)[ \t]*$",
                   re.M | re.S)


def _blocks():
    """(page, line, language, code) of every fenced block of every page."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            lang = m["info"].strip().split(" ")[0]
            found.append((page.relative_to(ROOT).as_posix(), line, lang, m["code"]))
    return found


BLOCKS = _blocks()
CODE = [b for b in BLOCKS if b[2] in RUN]
# The block that builds these pages runs in tests/test_sitedocs.py, which then reads
# the pages it built (one Sphinx build for both).
SITE_BUILD = [b for b in CODE if "python -m sphinx" in b[3]]
RUN_HERE = [b for b in CODE if b not in SITE_BUILD]


def test_every_block_is_code_or_shown():
    wrong = [f"{page}:{line} ```{lang}" for page, line, lang, _ in BLOCKS
             if lang not in RUN + SHOWN and not lang.startswith("{")]
    assert not wrong, f"blocks in a language the runner does not run: {wrong}"
    directives = [f"{page}:{line}" for page, line, lang, _ in BLOCKS
                  if lang in ("{code-block}", "{code}", "{sourcecode}")]
    assert not directives, f"code in directives the runner does not see: {directives}"


def test_every_page_is_found():
    pages = {b[0] for b in CODE}
    assert {"README.md", "docs/guide.md", "docs/from-caffe.md", "docs/from-onnx.md",
            "docs/from-pytorch.md", "docs/from-tensorflow.md"} <= pages, sorted(pages)
    assert sum(page == "README.md" for page, *_ in CODE) >= 5


def _doctest(code, name, line):
    return doctest.DocTestParser().get_doctest(code, {"__name__": "docs"}, name, name, line)


def _imports(code, lang):
    """Top-level modules the block imports."""
    sources = [e.source for e in _doctest(code, "", 0).examples] if lang == "pycon" else [code]
    found = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found.update(a.name.partition(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
    return found


def _pip_commands(code):
    """The block's ``$ pip ...`` commands (each ``&&``-joined part on its own)."""
    return [part.strip() for line in re.findall(r"^\$ (.*)$", code, re.M)
            for part in line.split("&&") if part.strip().startswith("pip ")]


def _pip_requirements(code):
    """What the block's pip commands need installed: the build requirements to
    build lrn, and the requirements of the extras it installs (``".[a,b]"``)."""
    from packaging.requirements import Requirement
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli", reason="Python 3.10 reads TOML with tomli")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]

    def expand(name):
        for spec in extras[name]:
            req = Requirement(spec)
            if req.name == pyproject["project"]["name"]:
                for sub in req.extras:
                    yield from expand(sub)
            elif req.marker is None or req.marker.evaluate({"extra": name}):
                yield req

    needed = []
    for command in _pip_commands(code):
        target = re.search(r"""(?:^|\s)['"]?\.(?:\[([\w,-]+)\])?['"]?(?:\s|$)""", command)
        assert target, f"`{command}`: the runner knows pip commands on the clone (.) only"
        needed += [Requirement(r) for r in pyproject["build-system"]["requires"]]
        for extra in (target[1] or "").split(","):
            needed += list(expand(extra)) if extra else []
    return needed


def _missing_distributions(requirements):
    missing = []
    for req in requirements:
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        if version is None or not req.specifier.contains(version, prereleases=True):
            missing.append(str(req))
    return sorted(set(missing))


def _skip_reason(code, lang):
    for marker, why in NEEDS.items():
        if marker in code:
            return f"needs {why}"
    if any(marker in code for marker in GPU_MARKERS):
        from lrn._config import config
        if config()["gpu"] is None:
            return "needs a CUDA GPU and CuPy"
    if lang == "console":
        missing = _missing_distributions(_pip_requirements(code))
    else:
        missing = sorted(m for m in _imports(code, lang) - {"caffe2"}
                         if importlib.util.find_spec(m) is None)
    if missing:
        return f"needs {', '.join(missing)} (not installed)"
    return None


# pip without the network: no index, and no isolated build environment (pip reads
# PIP_NO_BUILD_ISOLATION as the value of its --no-build-isolation flag's destination,
# so "0" turns isolation *off*); the build requirements come from the test extra.
PIP_OFFLINE = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _reuse_build_outputs(clone):
    """Copies this checkout's build outputs (Cython's C files, ``build/``) into
    ``clone`` when they are newer than every source of the build (CI installs the
    checkout in place, ``pip install .``, before the tests run), dated now there:
    that install put Cython's and NumPy's headers into this environment after it
    built, so with their own dates they would force a full rebuild."""
    lrn_src = ROOT / "src" / "lrn"
    # every file a build reads (build/lib has copies of the Python files too)
    sources = [ROOT / "setup.py", ROOT / "pyproject.toml",
               *(p for p in lrn_src.rglob("*") if p.is_file()
                 and p.suffix not in (".c", ".so", ".pyd", ".pyc"))]
    generated = sorted(lrn_src.glob("*.c"))
    built = sorted(p for p in (ROOT / "build").rglob("*") if p.is_file())
    newest_source = max(p.stat().st_mtime for p in sources)
    compiled = [p for p in built if p.suffix in (".o", ".so", ".obj", ".pyd")]
    if not generated or any(p.stat().st_mtime <= newest_source for p in generated + compiled):
        return
    now = time.time()
    for order, paths in enumerate((generated, built)):     # the C files first
        for p in paths:
            copy = clone / p.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, copy)
            os.utime(copy, (now + order, now + order))


@pytest.fixture(scope="session")
def built_clone(tmp_path_factory):
    """A copy of the repository as a clone has it (nothing git ignores), in which lrn
    was built once (``pip wheel .``) for the session's test workers together,
    reusing an up-to-date in-place build of this checkout (``_reuse_build_outputs``;
    setuptools compiles only what is older than its sources)."""
    try:
        import fcntl
    except ImportError:
        pytest.skip("needs POSIX file locks (fcntl) to share the clone between test workers")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent              # the directory the workers' own folders share
    path = base / "docs-clone"
    with open(base / "docs-clone.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            ignored = [".git"] + [line.strip().rstrip("/").rpartition("/")[2]
                                  for line in (ROOT / ".gitignore").read_text().splitlines()
                                  if line.strip() and not line.startswith("#")]
            partial = base / "docs-clone.partial"
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(ROOT, partial, ignore=shutil.ignore_patterns(*ignored))
            _reuse_build_outputs(partial)
            done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", ".", "--no-deps",
                                   "-w", str(base / "docs-clone-dist")], cwd=partial,
                                  env=dict(os.environ, **PIP_OFFLINE), capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, f"building lrn in a clone failed:\n{done.stderr}"
            os.rename(partial, path)
    return path


def _site_packages(prefix):
    return prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def _pip_env(prefix):
    """A fresh virtual environment at ``prefix`` that sees this environment's packages
    (after its own) and has this environment's pip as its ``pip`` command; returns
    the environment variables that put it first and keep pip off the network."""
    venv.EnvBuilder(with_pip=False).create(prefix)
    lines = [f"import site; site.addsitedir({d!r})\n" for d in site.getsitepackages()]
    (_site_packages(prefix) / "_test_environment.pth").write_text("".join(lines))
    pip = prefix / "bin" / "pip"
    pip.write_text(f"#!{prefix / 'bin' / 'python'}\nimport sys\n"
                   "from pip._internal.cli.main import main\nsys.exit(main())\n")
    pip.chmod(0o755)
    return dict(os.environ, PATH=str(prefix / "bin") + os.pathsep + os.environ.get("PATH", ""),
                VIRTUAL_ENV=str(prefix), **PIP_OFFLINE)


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _run_console(code, name, env=None, cwd=None):
    """Each ``$ command`` with the lines after it as its expected output (compared
    as a terminal shows it: colour codes, which some tools print under CI, left out)."""
    if env is None:
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
                   + os.environ.get("PATH", ""))
    checker = doctest.OutputChecker()
    commands = re.split(r"^\$ ", code, flags=re.M)
    assert commands[0] == "" and len(commands) > 1, f"{name}: a console block starts with '$ '"
    for chunk in commands[1:]:
        command, _, expected = chunk.partition("\n")
        done = subprocess.run(command, shell=True, env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{name}: `{command}` exited {done.returncode}:\n{done.stderr}"
        shown = ANSI.sub("", done.stdout)
        assert checker.check_output(expected, shown, FLAGS), (
            f"{name}: `{command}` printed\n{shown}\nnot\n{expected}")


def run_pip_block(code, name, built, tmp_path):
    """In its own copy of the built clone, ``tmp_path / "clone"`` (its build reuses
    the objects there, as a second build in a clone does), and its own environment."""
    path, prefix = tmp_path / "clone", tmp_path / "venv"
    shutil.copytree(built, path, symlinks=True)
    env = _pip_env(prefix)
    _run_console(code, name, env=env, cwd=path)
    if any(c.startswith("pip install") for c in _pip_commands(code)):
        assert list(_site_packages(prefix).glob("lrnorm-*.dist-info")), (
            f"{name}: lrnorm is not installed in the block's environment")
        where = subprocess.run([str(prefix / "bin" / "python"), "-c",
                                "import lrn; print(lrn.__file__)"], cwd=prefix, env=env,
                               capture_output=True, text=True, check=True).stdout
        assert pathlib.Path(where.strip()).is_relative_to(prefix), (
            f"{name}: lrn is imported from {where.strip()}, not from the block's environment")


def _uses_caffe2_standin(code, lang):
    return (lang == "python" and "caffe2" in _imports(code, lang)
            and importlib.util.find_spec("caffe2") is None)


def _make_inputs(code):
    """The inputs ``code`` reads, in the working directory."""
    if "activations.zarr" in code:
        da = pytest.importorskip("dask.array")
        da.to_zarr(da.from_array(ACTIVATIONS, chunks=(2, 8, 9, 9)), "activations.zarr")


def _check_outputs(code, name):
    """What a block wrote from the stand-in inputs, against the in-memory call (the
    local-cluster example's parameters)."""
    if "normalized.zarr" in code:
        da = pytest.importorskip("dask.array")
        y, scale = lrn.lrn(ACTIVATIONS, size=5, alpha=1e-4, beta=0.75, bias=2.0,
                           return_scale=True)
        np.testing.assert_array_equal(da.from_zarr("normalized.zarr").compute(), y, err_msg=name)
        np.testing.assert_array_equal(da.from_zarr("scale.zarr").compute(), scale, err_msg=name)


def _run_script(code, name):
    """Runs a python block with a main guard as ``python block.py`` in the working
    directory."""
    script = pathlib.Path("block.py")
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{name}: exited {done.returncode}:\n{done.stderr[-3000:]}"


def _exec_python(code, name, monkeypatch):
    """Runs a python block in a fresh namespace, which it returns."""
    namespace = {"__name__": "docs"}
    with monkeypatch.context() as m:
        if _uses_caffe2_standin(code, "python"):
            for module, stand_in in caffe2_standin.modules().items():
                m.setitem(sys.modules, module, stand_in)
        exec(compile(code, name, "exec"), namespace)
    return namespace


def test_the_site_build_block_is_found():
    assert [(page, lang) for page, _, lang, _ in SITE_BUILD] == [
        ("docs/installation.md", "console")]


@pytest.mark.parametrize("page,line,lang,code", RUN_HERE,
                         ids=[f"{page}:{line}" for page, line, *_ in RUN_HERE])
def test_block_runs(page, line, lang, code, tmp_path, monkeypatch, request):
    why = _skip_reason(code, lang)
    if why:
        if os.environ.get("CI") and why.endswith("(not installed)"):
            pytest.fail(f"{page}:{line} {why}: CI's test extras install it")
        pytest.skip(f"{page}:{line} {why}")
    monkeypatch.chdir(tmp_path)   # a block that writes files writes them here
    name = f"{page}:{line}"
    if lang == "console" and _pip_commands(code):
        run_pip_block(code, name, request.getfixturevalue("built_clone"), tmp_path)
    elif lang == "python":
        _make_inputs(code)
        if MAIN_GUARD in code:
            _run_script(code, name)
        else:
            _exec_python(code, name, monkeypatch)
        _check_outputs(code, name)
    elif lang == "pycon":
        test = _doctest(code, name, line)
        assert test.examples, f"{name}: a pycon block without '>>>' examples"
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0, f"{name} printed something else"
    else:
        _run_console(code, name)


# A Caffe2 snippet (the code being ported) and the lrn snippet right after it.
CAFFE2_PAIRS = [(a, b) for a, b in zip(CODE, CODE[1:])
                if a[2] == "python" and a[3].startswith("# Caffe2\n") and a[0] == b[0]]


def test_caffe2_snippets_are_paired():
    assert {a[0] for a, _ in CAFFE2_PAIRS} == {"README.md", "docs/from-caffe.md"}
    assert all(b[2] == "python" and b[3].startswith("# lrn\n") for _, b in CAFFE2_PAIRS)


@pytest.mark.parametrize("caffe2,ported", CAFFE2_PAIRS,
                         ids=[f"{a[0]}:{a[1]}" for a, _ in CAFFE2_PAIRS])
def test_caffe2_snippet_and_its_port_agree(caffe2, ported, monkeypatch):
    """The port gives what Caffe2's CPU kernels give on the same data (the tolerances of
    tests/peers/test_caffe2_lrn.py's kernel comparisons)."""
    if not _uses_caffe2_standin(caffe2[3], "python"):
        pytest.skip("Caffe2 is installed: the snippet ran against it in test_block_runs")
    before = _exec_python(caffe2[3], f"{caffe2[0]}:{caffe2[1]}", monkeypatch)
    after = _exec_python(ported[3], f"{ported[0]}:{ported[1]}", monkeypatch)
    np.testing.assert_array_equal(after["X"], before["X"])
    np.testing.assert_allclose(after["Y"], before["Y"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(after["Y_scale"], before["Y_scale"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(after["dX"], before["dX"], rtol=1e-5, atol=1e-6)


def test_caffe2_standin_holds_operators_to_the_schema():
    ws = caffe2_standin.modules()["caffe2.python.workspace"]
    create = caffe2_standin.CreateOperator
    X = np.random.default_rng(1).standard_normal((1, 4, 3, 3)).astype(np.float32)
    ws.FeedBlob("X", X)
    args = dict(size=3, alpha=1e-4, beta=0.75)
    bad = [create("LRN", ["X", "X"], ["Y"], **args),            # one input
           create("LRN", ["X"], ["Y", "S", "Z"], **args),       # one or two outputs
           create("LRNGradient", ["X", "X"], ["dX"], **args),   # X, Y, dY
           create("LRN", ["X"], ["Y"], sise=3, alpha=1e-4, beta=0.75),
           create("LRN", ["X"], ["Y"], size=4, alpha=1e-4, beta=0.75),
           create("LRN", ["X"], ["Y"], size=3, alpha=1e-4),     # beta defaults to 0
           create("LRN", ["X"], ["Y"], order="NWHC", **args),
           create("LRN", ["Z"], ["Y"], **args),                 # no such blob
           create("Relu", ["X"], ["Y"])]
    for op in bad:
        with pytest.raises(RuntimeError):
            ws.RunOperatorOnce(op)
    ws.FeedBlob("X64", X.astype(np.float64))
    with pytest.raises(RuntimeError, match="float32"):
        ws.RunOperatorOnce(create("LRN", ["X64"], ["Y"], **args))
    assert ws.RunOperatorOnce(create("LRN", ["X"], ["Y"], **args))
    np.testing.assert_allclose(ws.FetchBlob("Y"), lrn.lrn(X, **args), rtol=1e-6, atol=1e-7)
    # a fresh set of modules, a fresh workspace
    with pytest.raises(RuntimeError, match="Cannot find blob"):
        caffe2_standin.modules()["caffe2.python.workspace"].FetchBlob("X")
