"""Packaging: the installed distribution's metadata, the extras' environment
markers on every platform the wheels are built for, the install hints, and the
built kernels (stripped, no build paths).  The wheel itself, built twice,
repaired and installed in a fresh environment, is .ci/wheel-check's job."""
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import struct
import sys

import pytest

import lrn

ROOT = pathlib.Path(__file__).resolve().parents[1]
DIST = "lrnorm"

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli", reason="Python 3.10 reads TOML with tomli")

requirements = pytest.importorskip("packaging.requirements",
                                   reason="packaging comes with pytest")


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_installed_distribution_is_lrnorm():
    dist = importlib.metadata.distribution(DIST)
    assert dist.version == lrn.__version__
    assert {(e.name, e.value) for e in dist.entry_points
            if e.group == "console_scripts"} == {("lrn", "lrn.__main__:main")}
    urls = dict(u.split(", ", 1) for u in dist.metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Changelog", "Issues"}
    assert all(u.startswith("https://") for u in urls.values())
    assert [r for r in dist.requires if "extra ==" not in r] == ["numpy>=1.25"]


# The platforms of the release wheels ([tool.cibuildwheel]) as pip's markers see them.
PLATFORMS = {
    "linux-x86_64": dict(sys_platform="linux", platform_system="Linux",
                         platform_machine="x86_64", os_name="posix"),
    "linux-aarch64": dict(sys_platform="linux", platform_system="Linux",
                          platform_machine="aarch64", os_name="posix"),
    "macos-arm64": dict(sys_platform="darwin", platform_system="Darwin",
                        platform_machine="arm64", os_name="posix"),
    "windows-amd64": dict(sys_platform="win32", platform_system="Windows",
                          platform_machine="AMD64", os_name="nt"),
}
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _resolve(extras, name, env):
    """The distributions extra ``name`` installs in marker environment ``env``,
    self-references (``lrnorm[torch]``) expanded."""
    out = set()
    for spec in extras[name]:
        req = requirements.Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(dict(env, extra=name)):
            continue
        if req.name == DIST:
            for sub in req.extras:
                out |= _resolve(extras, sub, env)
        else:
            out.add(req.name + (f"[{','.join(sorted(req.extras))}]" if req.extras else ""))
    return out


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("python", PYTHONS)
def test_extras_pick_wheels_that_exist(platform, python):
    extras = _pyproject()["project"]["optional-dependencies"]
    env = dict(PLATFORMS[platform], python_version=python, python_full_version=python + ".0",
               implementation_name="cpython", platform_python_implementation="CPython")
    got = {name: _resolve(extras, name, env) for name in extras}
    # tensorflow-cpu has wheels for Linux x86-64 and Windows only.
    tf = "tensorflow-cpu" if platform in ("linux-x86_64", "windows-amd64") else "tensorflow"
    assert got["tf"] == {tf}
    assert got["torch"] == {"torch"}
    assert got["onnx"] == {"onnx", "onnxruntime", "onnxruntime-extensions"}
    assert got["dask"] == {"dask[array]"}
    assert got["gpu"] == (set() if platform == "macos-arm64" else {"cupy-cuda12x"})
    assert got["all"] == got["torch"] | got["tf"] | got["onnx"] | got["dask"]
    assert got["test-frameworks"] == got["all"] | {"distributed", "zarr"}
    frameworks = {"torch", "tensorflow", "tensorflow-cpu", "onnx", "onnxruntime", "dask",
                  "dask[array]", "cupy-cuda12x", "distributed", "zarr"}
    assert not got["test"] & frameworks, "the test extra stays lean"
    assert {"pytest", "pytest-xdist", "hypothesis", "mypy"} <= got["test"]


def test_every_extra_has_a_lower_bound():
    for name, specs in _pyproject()["project"]["optional-dependencies"].items():
        for spec in specs:
            req = requirements.Requirement(spec)
            assert req.name == DIST or req.specifier, f"{name}: {spec} has no version range"


def test_install_hints_name_the_distribution():
    """Every `pip install 'X[extra]'` in the messages, the README and the docs
    names this distribution (or `.`, a clone) and its extras."""
    extras = set(_pyproject()["project"]["optional-dependencies"])
    files = (sorted((ROOT / "src" / "lrn").rglob("*.py")) + [ROOT / "README.md"]
             + sorted((ROOT / "docs").glob("*.md")))
    hints = []
    for path in files:
        for m in re.finditer(r"pip install ['\"]([\w.-]+)\[([\w,-]+)\]", path.read_text()):
            hints.append((path.name, m[1], m[2]))
    assert len(hints) >= 8, hints
    for where, name, extra in hints:
        assert name in (DIST, "."), f"{where}: pip install '{name}[{extra}]'"
        assert set(extra.split(",")) <= extras, f"{where}: no extra {extra!r}"


def _elf_sections(path):
    """Section names of an ELF shared object (64-bit little-endian)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_off = headers[shstrndx][4]
    return {data[names_off + h[0]:data.index(b"\0", names_off + h[0])].decode()
            for h in headers}


def _kernel_binaries():
    names = ["lrn._kernels", "lrn._kernels_avx2", "lrn._kernels_avx512"]
    specs = [importlib.util.find_spec(n) for n in names]
    return [pathlib.Path(s.origin) for s in specs if s is not None]


@pytest.mark.skipif(not (sys.platform.startswith("linux") and sys.maxsize > 2**32
                         and sys.byteorder == "little"),
                    reason="reads 64-bit little-endian ELF (the Linux x86-64/aarch64 build)")
def test_kernels_are_stripped_and_carry_no_build_path():
    if os.environ.get("LRN_DEBUG"):
        pytest.skip("LRN_DEBUG builds keep debug information")
    binaries = _kernel_binaries()
    assert binaries
    for so in binaries:
        sections = _elf_sections(so)
        assert not {s for s in sections if s.startswith(".debug")}, so
        assert ".symtab" not in sections, so
        assert str(ROOT).encode() not in so.read_bytes(), f"{so} names the build directory"
