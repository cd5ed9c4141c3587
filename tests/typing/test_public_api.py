"""The public annotations, checked as a user's type checker sees them: mypy
--strict on tests/typing/public_api.py (calls that must pass) and
tests/typing/fail_api.py (calls that must fail, each marked ``# E: code``),
against the installed lrn (``--follow-imports=silent``: errors inside lrn's own
modules are not the user's and are not reported)."""
import pathlib
import re
import runpy
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PASS, FAIL = HERE / "public_api.py", HERE / "fail_api.py"


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory):
    """{(file name, line): error code} from one mypy run over both files."""
    pytest.importorskip("mypy", reason="the `test` extra installs mypy")
    cache = tmp_path_factory.mktemp("mypy-cache")
    # PyTorch's 1,400 annotated modules (reached through lrn.torch) were three
    # quarters of this check's time, and nothing here calls lrn.torch: they are
    # not read (their types are Any, which assert_type would report if used).
    config = cache / "mypy.ini"
    config.write_text("[mypy]\n[mypy-torch.*]\nfollow_imports = skip\n")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--strict",
         "--follow-imports=silent",
         "--python-executable", sys.executable, "--cache-dir", str(cache),
         "--no-error-summary", "--show-error-codes", str(PASS), str(FAIL)],
        capture_output=True, text=True, cwd=HERE)
    errors = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(.+?):(\d+): error: .*\[([a-z-]+)\]$", line)
        if m:
            errors[(pathlib.Path(m[1]).name, int(m[2]))] = m[3]
    assert out.returncode in (0, 1) and (out.returncode == 1) == bool(errors), \
        out.stdout + out.stderr
    return errors


def test_public_api_type_checks(mypy_errors):
    assert {k: v for k, v in mypy_errors.items() if k[0] == PASS.name} == {}


def test_wrong_calls_are_type_errors(mypy_errors):
    expected = {}
    for n, line in enumerate(FAIL.read_text().splitlines(), 1):
        m = re.search(r"# E: ([a-z-]+)$", line)
        if m:
            expected[(FAIL.name, n)] = m[1]
    assert len(expected) >= 15
    assert {k: v for k, v in mypy_errors.items() if k[0] == FAIL.name} == expected


def test_public_api_runs():
    runpy.run_path(str(PASS), run_name="public_api")
