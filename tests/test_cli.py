"""The command line, through a subprocess: `python -m lrn ...`."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lrn


def run_cli(*args, cwd=None, timeout=120):
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run([sys.executable, "-m", "lrn", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def assert_clean_usage_error(proc, out_path):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err, "no message on stderr"
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert len(err.splitlines()) == 1, f"expected a one-line message, got:\n{proc.stderr}"
    assert not os.path.exists(out_path), "the output file was created despite the error"


def test_help():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.lower()
    for word in ("apply", "bench", "info"):
        assert word in text


def test_apply_help():
    proc = run_cli("apply", "--help")
    assert proc.returncode == 0, proc.stderr
    for opt in ("--size", "--alpha", "--beta", "--bias", "--layout", "--convention"):
        assert opt in proc.stdout


def test_info():
    proc = run_cli("info")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.lower()
    assert "openmp" in text
    assert lrn.__version__ in text


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("size, opts, call", [
    (5, (), dict()),
    (4, (), dict()),
    (5, ("--alpha", "0.5", "--beta", "0.6", "--bias", "2"), dict(alpha=0.5, beta=0.6, bias=2.0)),
    (4, ("--alpha", "1e-3", "--beta", "1", "--bias", "0.5", "--layout", "NHWC",
         "--convention", "torch"),
     dict(alpha=1e-3, beta=1.0, bias=0.5, layout="NHWC", convention="torch")),
    (6, ("--layout", "NCHW", "--convention", "onnx", "--alpha", "2.5"),
     dict(alpha=2.5, layout="NCHW", convention="onnx")),
], ids=["defaults5", "defaults4", "params", "nhwc_torch", "explicit"])
def test_apply(tmp_path, opts, call, dtype, size):
    rng = np.random.default_rng(size)
    x = (rng.standard_normal((2, 7, 4, 3)) * 3).astype(dtype)
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, x)
    proc = run_cli("apply", src, dst, "--size", size, *opts)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    y = np.load(dst)
    expected = lrn.lrn(x, size, **call)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(np.load(src), x)   # input file untouched


def test_apply_fortran_order_input(tmp_path):
    x = np.asfortranarray(np.random.default_rng(0).standard_normal((2, 6, 5)))
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, x)
    proc = run_cli("apply", src, dst, "--size", "3", "--alpha", "1.5")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(dst), lrn.lrn(x, 3, 1.5))


def _write_case(tmp_path, case):
    src = tmp_path / "in.npy"
    good = np.ones((2, 5, 3), np.float32)
    if case == "missing":
        return tmp_path / "does_not_exist.npy"
    if case == "text_file":
        src = tmp_path / "in.txt"
        src.write_text("hello, not an array\n")
    elif case == "garbage_npy":
        src.write_bytes(b"\x93NUMPY garbage garbage")
    elif case == "empty_file":
        src.write_bytes(b"")
    elif case == "int_array":
        np.save(src, np.ones((2, 5, 3), np.int32))
    elif case == "complex_array":
        np.save(src, np.ones((2, 5, 3), np.complex64))
    elif case == "object_array":
        np.save(src, np.array([[1, "a"], [None, 2.0]], dtype=object), allow_pickle=True)
    elif case == "1d_array":
        np.save(src, np.ones(5, np.float32))
    elif case == "directory":
        src = tmp_path / "adir.npy"
        src.mkdir()
    else:
        np.save(src, good)
    return src


@pytest.mark.parametrize("case", ["missing", "text_file", "garbage_npy", "empty_file",
                                  "int_array", "complex_array", "object_array", "1d_array",
                                  "directory"])
def test_apply_bad_input(tmp_path, case):
    src = _write_case(tmp_path, case)
    dst = tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "5")
    assert_clean_usage_error(proc, dst)


@pytest.mark.parametrize("opts", [
    ("--size", "0"), ("--size", "-1"), ("--size", "x"), ("--size", "2.5"), (),
    ("--size", "5", "--layout", "NCWH"), ("--size", "5", "--layout", "nchw_bad"),
    ("--size", "5", "--convention", "caffe"),
    ("--size", "5", "--alpha", "abc"), ("--size", "5", "--alpha", "nan"),
    ("--size", "5", "--beta", "inf"),
], ids=["size0", "size-1", "sizex", "size2.5", "nosize", "layout", "layout2", "convention",
        "alpha_str", "alpha_nan", "beta_inf"])
def test_apply_bad_options(tmp_path, opts):
    src = _write_case(tmp_path, "good")
    dst = tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, *opts)
    assert_clean_usage_error(proc, dst)


def test_apply_missing_output_directory(tmp_path):
    src = _write_case(tmp_path, "good")
    dst = tmp_path / "no_such_dir" / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "5")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()


def test_unknown_subcommand(tmp_path):
    proc = run_cli("frobnicate")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


# The bare `python -m lrn` demo runs as the README's quick start, and a `bench` that
# writes only its --json file as docs/performance.md's block (tests/test_readme.py).


def test_show_config(capsys):
    lrn.show_config()
    text = capsys.readouterr().out.lower()
    assert "openmp" in text
    assert "thread" in text
    assert "gpu" in text or "cuda" in text or "cupy" in text
    version = getattr(lrn, "__version__", None)
    assert version and version in text


# -- rough edges of the command line -----------------------------------------

def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"lrn {lrn.__version__}"


@pytest.mark.parametrize("args", [("demo", "--shape", "2"), ("--shape", "2")],
                         ids=["demo", "default_subcommand"])
def test_demo_bad_shape(args, tmp_path):
    # top-level options go to the default `demo` subcommand (not "invalid choice")
    proc = run_cli(*args)
    assert_clean_usage_error(proc, tmp_path / "none")
    assert "demo: error: argument --shape" in proc.stderr


def test_demo_shape_too_large(tmp_path):
    proc = run_cli("--shape", "100000", "100000", "1000", "--repeats", "1")
    assert_clean_usage_error(proc, tmp_path / "none")
    assert "does not fit in memory" in proc.stderr


def _bad_npy(tmp_path, case):
    src = tmp_path / "in.npy"
    if case == "negative_dim":
        np.save(src, np.ones((2, 3), np.float32))
        raw = src.read_bytes()
        src.write_bytes(raw.replace(b"(2, 3)", b"(-2,3)"))   # same header length
    elif case == "zip":
        np.savez(tmp_path / "z.npz", a=np.ones(3))
        src.write_bytes((tmp_path / "z.npz").read_bytes())
    elif case == "text":
        src.write_text("1 2 3\n4 5 6\n")
    elif case == "huge_shape":
        src.write_bytes(_npy_header({"descr": "<f4", "fortran_order": False,
                                     "shape": (2**70, 3)}))
    elif case == "bad_descr":
        src.write_bytes(_npy_header({"descr": "zz", "fortran_order": False, "shape": (2, 3)}))
    elif case == "short":
        src.write_bytes(_npy_header({"descr": "<f4", "fortran_order": False,
                                     "shape": (2, 3)}) + bytes(8))
    return src


def _npy_header(d):
    """A version 1.0 .npy header holding ``d`` as written (NumPy's writer checks it)."""
    text = repr(d).encode()
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


@pytest.mark.parametrize("case, words", [("negative_dim", "negative dimension"),
                                         ("zip", "not a .npy file"),
                                         ("text", "not a .npy file"),
                                         ("huge_shape", "shape is too large"),
                                         ("bad_descr", "bad .npy header"),
                                         ("short", "shorter than its header says")])
def test_apply_not_an_array(tmp_path, case, words):
    src = _bad_npy(tmp_path, case)
    dst = tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "3")
    assert_clean_usage_error(proc, dst)
    assert words in proc.stderr and "IN" in proc.stderr and str(src) in proc.stderr
    assert "pickle" not in proc.stderr


@pytest.mark.parametrize("value", ["1e400", "nan", "-inf"])
def test_apply_alpha_not_finite(tmp_path, value):
    src, dst = _write_case(tmp_path, "good"), tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "3", f"--alpha={value}")
    assert_clean_usage_error(proc, dst)
    assert "argument --alpha: must be a finite real number" in proc.stderr


def test_apply_num_threads_zero(tmp_path):
    src, dst = _write_case(tmp_path, "good"), tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "3", "--num-threads", "0")
    assert_clean_usage_error(proc, dst)
    assert "argument --num-threads" in proc.stderr and "None" not in proc.stderr


def test_apply_huge_size_is_clipped(tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, x)
    proc = run_cli("apply", src, dst, "--size", str(2**63), "--alpha", "1")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(dst), lrn.lrn(x, 2**63, 1.0))


def test_apply_missing_output_folder_message(tmp_path):
    src = _write_case(tmp_path, "good")
    dst = tmp_path / "no_such_dir" / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "5")
    assert_clean_usage_error(proc, dst)
    assert f"cannot write OUT {str(dst)!r}: No such file or directory" in proc.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_apply_read_only_folder(tmp_path):
    src = _write_case(tmp_path, "good")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = run_cli("apply", src, folder / "out.npy", "--size", "5")
    finally:
        folder.chmod(0o755)
    assert_clean_usage_error(proc, folder / "out.npy")
    assert "cannot write OUT" in proc.stderr and "Permission denied" in proc.stderr


def test_apply_output_is_a_folder(tmp_path):
    src = _write_case(tmp_path, "good")
    proc = run_cli("apply", src, tmp_path, "--size", "5")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "cannot write OUT" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("chunks", [(), ("--chunks", "1")], ids=["default-blocks", "chunks-1"])
@pytest.mark.parametrize("region", ["across", "within"])
def test_apply_region_threads_scale(tmp_path, region, chunks):
    x = np.random.default_rng(2).standard_normal((3, 6, 4, 5)).astype(np.float32)
    src, dst, sc = tmp_path / "in.npy", tmp_path / "out.npy", tmp_path / "scale.npy"
    np.save(src, x)
    proc = run_cli("apply", src, dst, "--size", "3", "--alpha", "0.5", "--region", region,
                   "--num-threads", "-1", "--scale", sc, *chunks)
    assert proc.returncode == 0, proc.stderr
    y, s = lrn.lrn(x, 3, 0.5, region=region, return_scale=True)
    np.testing.assert_array_equal(np.load(dst), y)
    np.testing.assert_array_equal(np.load(sc), s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.npy", "scale.npy"]


def test_apply_scale_same_as_out(tmp_path):
    src, dst = _write_case(tmp_path, "good"), tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "3", "--scale", dst)
    assert_clean_usage_error(proc, dst)
    assert "--scale" in proc.stderr


# In-process: main() with the computation replaced by an interruption, to see
# what is on disk at that moment and after.

@pytest.mark.parametrize("chunks", [[], ["--chunks", "1"]], ids=["default-blocks", "chunks-1"])
@pytest.mark.parametrize("how", ["ctrl_c", "sigterm", "error"])
def test_apply_interrupted_leaves_nothing(tmp_path, monkeypatch, capsys, how, chunks):
    import signal

    from lrn import __main__ as cli

    src = _write_case(tmp_path, "good")
    dst, sc = tmp_path / "out.npy", tmp_path / "scale.npy"
    seen = []

    def interrupted(*args, **kwargs):
        seen.extend(sorted(p.name for p in tmp_path.iterdir()))
        if how == "ctrl_c":
            raise KeyboardInterrupt
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "_run", interrupted)
    before = signal.getsignal(signal.SIGTERM)
    argv = ["apply", str(src), str(dst), "--size", "3", "--scale", str(sc), *chunks]
    if how == "sigterm":
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 128 + signal.SIGTERM
    else:
        assert cli.main(argv) == (130 if how == "ctrl_c" else 2)
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert "partial" not in err            # never a temporary file's name
    assert signal.getsignal(signal.SIGTERM) == before
    # while computing: one temporary file per output, named after it, beside it
    assert [n.split("-")[0] for n in seen] == [".out.npy.partial", ".scale.npy.partial",
                                               "in.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_apply_rename_failure_names_out_not_the_temporary_file(tmp_path, monkeypatch, capsys):
    from lrn import __main__ as cli

    src, dst = _write_case(tmp_path, "good"), tmp_path / "out.npy"

    def refuse(a, b):
        raise PermissionError(13, "Permission denied", a, None, b)

    monkeypatch.setattr(cli.os, "replace", refuse)
    assert cli.main(["apply", str(src), str(dst), "--size", "3"]) == 2
    err = capsys.readouterr().err
    assert err == f"lrn apply: error: cannot write OUT {str(dst)!r}: Permission denied\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


@pytest.mark.parametrize("layout", ["nhwc", "NHWC"])
def test_apply_layout_in_either_case(tmp_path, layout):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 6)).astype(np.float32)
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, x)
    proc = run_cli("apply", src, dst, "--size", "3", "--layout", layout)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(dst), lrn.lrn(x, 3, layout="NHWC"))


def test_apply_layout_mixed_case(tmp_path):
    src, dst = _write_case(tmp_path, "good"), tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "3", "--layout", "Nhwc")
    assert_clean_usage_error(proc, dst)
    assert "argument --layout: must be 'NCHW' or 'NHWC' (or in lower case)" in proc.stderr


def test_apply_unwritable_folder_in_process(tmp_path, monkeypatch, capsys):
    # what a read-only folder gives (the subprocess test above skips as root):
    # mkstemp's PermissionError, reported for OUT without the temporary name
    from lrn import __main__ as cli

    src, dst = _write_case(tmp_path, "good"), tmp_path / "out.npy"

    def refuse(prefix, dir):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "abc123"))

    monkeypatch.setattr(cli.tempfile, "mkstemp", refuse)
    assert cli.main(["apply", str(src), str(dst), "--size", "3"]) == 2
    assert capsys.readouterr().err == (f"lrn apply: error: cannot write OUT {str(dst)!r}: "
                                       f"Permission denied\n")


def test_top_level_options_run_the_demo():
    proc = run_cli("--shape", "1", "8", "4", "4", "--repeats", "1", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lrn demo: x (1, 8, 4, 4)" in proc.stdout


@pytest.mark.parametrize("opts", [("--size", "0"), ("--repeats", "0"), ("--threads", "0"),
                                  ("--shapes", "nope"), ("--size", "x")])
def test_bench_bad_options_one_line(tmp_path, opts):
    proc = run_cli("bench", *opts, cwd=tmp_path)
    assert_clean_usage_error(proc, tmp_path / "none")
    assert proc.stderr.startswith(f"python -m lrn bench: error: argument {opts[0]}")
    assert list(tmp_path.iterdir()) == []


def test_apply_1d_input_names_in(tmp_path):
    src, dst = _write_case(tmp_path, "1d_array"), tmp_path / "out.npy"
    proc = run_cli("apply", src, dst, "--size", "3")
    assert_clean_usage_error(proc, dst)
    assert f"IN {str(src)!r} must have at least 2 dimensions" in proc.stderr


def test_apply_streams_in_blocks_by_default(tmp_path, monkeypatch):
    """Without --chunks, apply takes blocks of BLOCK_BYTES (here 2 samples of 5 x 7
    float64): 4 calls for 7 samples, and OUT is bitwise one call on the whole array."""
    from lrn import __main__ as cli

    x = np.random.default_rng(3).standard_normal((7, 5, 7))
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, x)
    blocks = []
    run = cli._run

    def counted(args, block, *outs):
        blocks.append(block.shape[0])
        return run(args, block, *outs)

    monkeypatch.setattr(cli, "BLOCK_BYTES", 2 * 5 * 7 * 8 + 7)
    monkeypatch.setattr(cli, "_run", counted)
    assert cli.main(["apply", str(src), str(dst), "--size", "3"]) == 0
    assert blocks == [2, 2, 2, 1]
    np.testing.assert_array_equal(np.load(dst), lrn.lrn(x, 3))
