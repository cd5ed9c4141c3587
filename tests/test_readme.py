"""Every code block of the README and of the documentation (``docs/*.md``) runs as
written, each on its own: a fresh namespace, a fresh temporary folder as the
working directory, no state from the blocks before it.

What a fenced block's language says:

- ``python``: executed;
- ``pycon``: a doctest (``>>>`` examples, their output compared with ELLIPSIS and
  NORMALIZE_WHITESPACE);
- ``console``: each ``$ `` line runs in a shell whose ``python`` and ``lrn`` are
  this interpreter's; it must exit with status 0 and print what the lines after it
  show (compared like a doctest's output);
- ``text`` or none: output, signatures or formulas, not code;
- ``{name}``: MyST markup (``{eval-rst}``, ``{toctree}``), not code.

Any other language is an error, so that no block escapes by its label.  A block
is skipped only for what CI cannot have, each named in ``NEEDS``, or for an
optional framework that is not installed (all of them are in CI's test extra).
"""
import ast
import doctest
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
RUN = ("python", "pycon", "console")
SHOWN = ("text", "")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# what a block needs that CI lacks -> why it is skipped
NEEDS = {"caffe2.python": "Caffe2, which is no longer installable (the code being ported)",
         "Client(": "a Dask cluster and the storage it reads and writes",
         "pip ": "a clone of the repository and the network (it installs or builds lrn; "
                 ".ci/run runs the README's install and test line)",
         "lrn bench": "minutes on a quiet machine (a timing run; tests/test_bench.py runs "
                      "the comparison on small inputs)"}
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


def _skip_reason(code, lang):
    for marker, why in NEEDS.items():
        if marker in code:
            return f"needs {why}"
    if any(marker in code for marker in GPU_MARKERS):
        from lrn._config import config
        if config()["gpu"] is None:
            return "needs a CUDA GPU and CuPy"
    if lang != "console":
        missing = sorted(m for m in _imports(code, lang) if importlib.util.find_spec(m) is None)
        if missing:
            return f"needs {', '.join(missing)} (not installed)"
    return None


def _run_console(code, name):
    """Each ``$ command`` with the lines after it as its expected output."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", ""))
    checker = doctest.OutputChecker()
    commands = re.split(r"^\$ ", code, flags=re.M)
    assert commands[0] == "" and len(commands) > 1, f"{name}: a console block starts with '$ '"
    for chunk in commands[1:]:
        command, _, expected = chunk.partition("\n")
        done = subprocess.run(command, shell=True, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{name}: `{command}` exited {done.returncode}:\n{done.stderr}"
        assert checker.check_output(expected, done.stdout, FLAGS), (
            f"{name}: `{command}` printed\n{done.stdout}\nnot\n{expected}")


@pytest.mark.parametrize("page,line,lang,code", CODE,
                         ids=[f"{page}:{line}" for page, line, *_ in CODE])
def test_block_runs(page, line, lang, code, tmp_path, monkeypatch):
    why = _skip_reason(code, lang)
    if why:
        pytest.skip(f"{page}:{line} {why}")
    monkeypatch.chdir(tmp_path)   # a block that writes files writes them here
    name = f"{page}:{line}"
    if lang == "python":
        exec(compile(code, name, "exec"), {"__name__": "docs"})
    elif lang == "pycon":
        test = _doctest(code, name, line)
        assert test.examples, f"{name}: a pycon block without '>>>' examples"
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0, f"{name} printed something else"
    else:
        _run_console(code, name)
