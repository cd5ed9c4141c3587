"""The benchmark suite in bench/ never rots: every asv benchmark runs once on tiny shapes.

Each benchmark module is imported as asv imports it (package ``bench``), its shape table is
swapped for tiny shapes, and every method runs for every parameter combination: setup, the
method, teardown.  GPU cases raise ``NotImplementedError`` in setup where CuPy, a device or
lrn's GPU backend is missing; asv reports those as skipped, and so does this test.
"""
import contextlib
import ctypes.util
import importlib
import importlib.util
import inspect
import itertools
import json
import math
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lrn

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: only keeps tiny inputs off an oversubscribed machine's threads
    threadpool_limits = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PREFIXES = ("time_", "peakmem_", "mem_", "track_", "timeraw_")
# Tiny stand-ins, channels-first; C = 5 is smaller than the largest window (21).
TINY = {"alexnet1": (2, 5, 3, 4), "alexnet2": (1, 7, 2, 3), "googlenet": (3, 4, 2, 2),
        "batch1": (1, 6, 4, 3), "image1": (1, 9, 2, 2), "image2": (1, 11, 3, 2)}


def _import(name):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    return importlib.import_module(name)


def _modules():
    pkg = _import("bench")
    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_")]
    return sorted(names)


def _benchmarks(module):
    """(class, [method names]) for every asv benchmark class of the module."""
    out = []
    for name, cls in vars(module).items():
        if name.startswith("_") or not inspect.isclass(cls) or cls.__module__ != module.__name__:
            continue
        methods = sorted(m for m in dir(cls) if m.startswith(PREFIXES))
        if methods:
            out.append((cls, methods))
    return out


def _param_sets(cls):
    params = getattr(cls, "params", [])
    if not params:
        return [()]
    if not isinstance(params[0], (list, tuple)):  # a single parameter axis
        params = [params]
    names = getattr(cls, "param_names", [])
    assert len(names) == len(params), f"{cls.__name__}: param_names do not match params"
    return list(itertools.product(*params))


@pytest.fixture
def tiny_shapes(monkeypatch):
    common = _import("bench.common")
    monkeypatch.setattr(common, "SHAPES", dict(TINY))
    assert set(TINY) == set(common.SHAPE_NAMES + common.IMAGE_NAMES)
    monkeypatch.setattr(common, "_cache", {})
    return common


@pytest.mark.parametrize("modname", _modules())
def test_benchmarks_run_once(modname, tiny_shapes):
    module = _import(f"bench.{modname}")
    # One OpenMP thread for the default-thread cases: on tiny inputs a busy machine makes
    # thread wake-ups cost more than the work.  (`Threads` still asks for 1 and 2.)
    limit = (threadpool_limits(1, user_api="openmp") if threadpool_limits
             else contextlib.nullcontext())
    with limit:
        ran, skipped = _run_all(module)
    if modname == "compare":
        return
    if ran == 0 and skipped:
        pytest.skip(f"{modname}: every case skipped ({skipped}), e.g. no CuPy/GPU")
    assert ran > 0, f"{modname}: no benchmark found"


def _run_all(module):
    ran = skipped = 0
    for cls, methods in _benchmarks(module):
        for params in _param_sets(cls):
            for method in methods:
                obj = cls()
                try:
                    if hasattr(obj, "setup"):
                        obj.setup(*params)
                except NotImplementedError:  # asv's skip (GPU absent)
                    skipped += 1
                    continue
                try:
                    result = getattr(obj, method)(*params)
                    if method.startswith("track_"):
                        assert isinstance(result, (int, float)) and math.isfinite(result)
                finally:
                    if hasattr(obj, "teardown"):
                        obj.teardown(*params)
                ran += 1
    return ran, skipped


def test_suite_covers_the_axes():
    """The issue's axes: directions, layouts, dtypes, shapes, sizes, threads, peak memory."""
    common = _import("bench.common")
    cpu = _import("bench.bench_cpu")
    mem = _import("bench.bench_memory")
    gpu = _import("bench.bench_gpu")
    assert common.SHAPES["alexnet1"] == (8, 96, 55, 55)
    assert common.SHAPES["alexnet2"] == (8, 256, 27, 27)
    assert common.SHAPES["googlenet"] == (32, 64, 56, 56)
    assert common.SHAPES["batch1"] == (1, 64, 224, 224)
    for cls in (cpu.Forward, cpu.Backward, gpu.GPU):
        assert cls.params == [common.SHAPE_NAMES, ["NCHW", "NHWC"],
                              ["float16", "float32", "float64"]]
    assert cpu.WindowSize.params[0] == [3, 5, 11, 21]
    assert cpu.Threads.params[2] == [1, 2]
    assert cpu.Threads.params[0] == common.SHAPE_NAMES + ["image1", "image2"]
    assert common.SHAPES["image2"] == (1, 256, 27, 27)
    assert {m for m in dir(cpu.WindowSize) if m.startswith("time_")} == {
        "time_forward", "time_forward_scale", "time_backward", "time_backward_recompute"}
    assert {m for m in dir(mem.PeakMem) if m.startswith("peakmem_")} >= {
        "peakmem_setup", "peakmem_forward", "peakmem_forward_scale", "peakmem_backward",
        "peakmem_backward_recompute"}
    assert mem.PeakMem.params[2] == [True, False]


def test_compare_rows_are_finite():
    from lrn.benchmark import compare, format_table

    rows, absent = compare((2, 8, 5, 5), repeats=2, peers=False)
    cases = {r["case"] for r in rows}
    assert {"copy floor (copyto)", "lrn forward", "lrn forward+scale",
            "lrn backward (scale given)", "lrn backward (scale recomputed)"} <= cases
    for r in rows:
        for key in ("median_ms", "min_ms", "max_ms", "gbps", "x_floor"):
            assert math.isfinite(r[key]) and r[key] >= 0, (r["case"], key, r[key])
    table = format_table(rows)
    assert all(r["case"] in table for r in rows)
    assert absent == []


def test_compare_times_each_call_after_an_untimed_one(monkeypatch):
    # every case is timed back to back, so none is timed right after another
    # case that evicted its input or warmed it
    from lrn import benchmark

    calls = []
    monkeypatch.setattr(benchmark, "_wall", lambda fn: calls.append("timed") or fn() or 1.0)
    stats = benchmark.measure([("a", lambda: calls.append("a"))], 3, pause=0.0,
                              timer=benchmark.back_to_back)
    assert calls == ["a"] + ["a", "timed", "a"] * 3
    assert stats["a"] == (1.0, 1.0, 1.0)
    timers = []
    monkeypatch.setattr(benchmark, "measure",
                        lambda cases, repeats, timer: timers.append(timer) or
                        {name: (1.0, 1.0, 1.0) for name, _ in cases})
    benchmark.compare((1, 4, 3, 3), repeats=1, peers=False)
    assert timers == [benchmark.back_to_back]


def test_compare_nhwc_float16():
    from lrn.benchmark import compare

    rows, _ = compare((1, 3, 4, 6), layout="NHWC", dtype=np.float16, threads=1,
                      repeats=1, peers=False)
    assert all(math.isfinite(r["median_ms"]) for r in rows)


def test_compare_script_help():
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "compare.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--shapes" in proc.stdout


def test_targets_script_help():
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "targets.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--repeats" in proc.stdout


def test_incache_script_runs():
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "incache.py"), "--repeats", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("NCHW") == 2 and proc.stdout.count("NHWC") == 2, proc.stdout


def test_ab_kernels_script_runs():
    # the build in use against itself: both loaded side by side in one process
    from lrn import _cpu
    so = _cpu.kernels.__file__
    for extra in ([], ["--backward"], ["--scale"], ["--backward", "--scale"]):
        proc = subprocess.run([sys.executable, os.path.join(BENCH, "ab_kernels.py"), so, so,
                               "--rounds", "1", "--shapes", "alexnet2", "--size", "3"] + extra,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("new / old") == 2, proc.stdout
        assert ("backward" in proc.stdout) == ("--backward" in extra), proc.stdout
        assert ("with the scale" in proc.stdout) == ("--scale" in extra), proc.stdout
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "ab_kernels.py"), so, so,
                           "--rounds", "1", "--shapes", "2x24x5x7", "--dtype", "float16"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("2x24x5x7") == 2 and "float16" in proc.stdout, proc.stdout
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "ab_kernels.py"), so, so,
                           "--rounds", "1", "--shapes", "2x24x5x7", "--offsets", "16", "2064"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("new / old") == 2, proc.stdout
    for offsets, dtype in ((["4096", "0"], "float32"), (["2", "0"], "float32"),
                           (["0", "-2"], "float16")):
        proc = subprocess.run([sys.executable, os.path.join(BENCH, "ab_kernels.py"), so, so,
                               "--offsets", *offsets, "--dtype", dtype],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and "--offsets must be multiples of" in proc.stderr, \
            proc.stderr
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "ab_kernels.py"), so, so,
                           "--shapes", "2x24x5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "NxCxHxW, not '2x24x5'" in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "ab_kernels.py"), so,
                           so + ".missing"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no such file" in proc.stderr, proc.stderr


def test_ab_kernels_places_arrays_at_the_offsets():
    spec = importlib.util.spec_from_file_location("ab_kernels",
                                                  os.path.join(BENCH, "ab_kernels.py"))
    ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ab)
    a = np.arange(3 * 5 * 7, dtype=np.float16).reshape(3, 5, 7)
    for offset in (0, 2, 16, 2064, 4094):
        out = ab.placed(a, offset)
        assert out.ctypes.data % ab.PAGE == offset and out.shape == a.shape
        assert out.dtype == a.dtype and out.tobytes() == a.tobytes()


def test_pool_idle_script_runs():
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "pool_idle.py"), "--rounds", "1",
                           "--shapes", "alexnet2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "t2/t1 after pause" in proc.stdout and "alexnet2" in proc.stdout, proc.stdout


def test_asv_config():
    import json
    import re

    with open(os.path.join(ROOT, "asv.conf.json")) as f:
        text = re.sub(r"^\s*//.*$", "", f.read(), flags=re.M)  # asv allows // comments
    conf = json.loads(text)
    assert conf["benchmark_dir"] == "bench"
    assert conf["repo"] == "."
    assert conf["branches"] == ["main"]
    for key in ("results_dir", "html_dir", "env_dir"):
        assert conf[key].startswith(".asv/")


def test_side_by_side_tables(monkeypatch):
    """bench/side_by_side.py's numbers and tables on a tiny input (the script runs each
    thread count in a child process; here one in this process, without the peers, which
    the other tests here keep out of the test process too: loaded together, they crashed
    a later test's SIGTERM handling)."""
    from lrn import benchmark

    monkeypatch.setitem(benchmark.SHAPES, "tiny", (2, 8, 5, 5))
    spec = importlib.util.spec_from_file_location("side_by_side",
                                                  os.path.join(BENCH, "side_by_side.py"))
    sbs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sbs)
    res = sbs.run(1, ["tiny"], ["NCHW", "NHWC"], 1, idle_shape=(2, 8, 5, 5), peers=False)
    res = json.loads(json.dumps(res))   # as the parent process reads it
    assert set(res["shapes"]) == {"tiny NCHW", "tiny NHWC"}
    for entry in res["shapes"].values():
        assert set(entry["stats"]) == {"copy", "lrn"}
        assert all(math.isfinite(v) and v > 0 for s in entry["stats"].values() for v in s)
    assert set(res["per_call_us"]) == {"copy", "lrn", "lrn_backward", "np.add(x, x, out=)"}
    assert set(res["idle"]["back_to_back"]) == set(res["idle"]["after_10ms"])
    table = sbs.markdown({1: res})
    assert "| tiny (2, 8, 5, 5) | NCHW |" in table and "| tiny (2, 5, 5, 8) | NHWC |" in table
    assert "| lrn_backward |" in table and "| lrn | 1 |" in table


def test_side_by_side_script_help():
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "side_by_side.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--threads" in proc.stdout


def test_side_by_side_peers_in_a_child_process():
    """The peers' columns, in a process of their own as the script runs them."""
    code = textwrap.dedent(f"""
        import importlib.util, json
        from lrn import benchmark
        benchmark.SHAPES["tiny"] = (2, 8, 5, 5)
        spec = importlib.util.spec_from_file_location(
            "side_by_side", {os.path.join(BENCH, "side_by_side.py")!r})
        sbs = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sbs)
        res = sbs.run(1, ["tiny"], ["NCHW", "NHWC"], 1, idle_shape=(2, 8, 5, 5))
        print(json.dumps(res))
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    installed = {m for m in ("openvino", "torch", "tensorflow", "onnxruntime")
                 if importlib.util.find_spec(m) is not None}
    columns = {c for entry in res["shapes"].values() for c in entry["stats"]}
    assert columns == {"copy", "lrn"} | installed
    assert len(res["absent"]) == 4 - len(installed)


# -- the GPU comparison (python -m lrn bench --gpu) without a GPU ----------------------

from .test_gpu import emulated_cp, emulator_built  # noqa: E402,F401 - the CuPy stand-in


def test_cudnn_parameter_mapping():
    """lrn's (size, alpha, beta, bias) are cuDNN's (lrnN, lrnAlpha, lrnBeta, lrnK) as
    they are (cuDNN divides lrnAlpha by lrnN itself), within cuDNN's limits."""
    from lrn import _bench_cudnn as cudnn

    assert cudnn.descriptor_args(5, 1e-4, 0.75, 2.0) == (5, 1e-4, 0.75, 2.0)
    for args, word in (((17, 1e-4, 0.75, 2.0), "window sizes 1 to 16, got 17"),
                       ((0, 1e-4, 0.75, 2.0), "got 0"),
                       ((5, 1e-4, 0.75, 0.0), "bias"),
                       ((5, 1e-4, 0.001, 2.0), "beta")):
        with pytest.raises(ValueError, match=word):
            cudnn.descriptor_args(*args)
    assert cudnn.DATA_TYPES == {"float32": 0, "float64": 1, "float16": 2}


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 4, 5, 6), (2, 3, 7)])
def test_cudnn_tensor_strides(shape):
    """Dims (N, C, *spatial); NCHW packed, NHWC by its strides: NumPy's strides of the
    same memory viewed as (N, C, *spatial), padded to 4 dims."""
    from lrn import _bench_cudnn as cudnn

    nchw = np.empty(shape, np.float32)
    dims, strides = cudnn.dims_and_strides(shape, "NCHW")
    pad = [1] * (4 - len(shape))
    assert dims == list(shape) + pad
    assert strides == [s // 4 for s in nchw.strides] + pad
    nhwc = np.empty((shape[0], *shape[2:], shape[1]), np.float32)
    dims, strides = cudnn.dims_and_strides(nhwc.shape, "NHWC")
    as_nchw = np.moveaxis(nhwc, -1, 1)
    assert dims == list(as_nchw.shape) + pad
    assert strides == [s // 4 for s in as_nchw.strides] + pad


def test_cudnn_not_installed():
    from lrn import _bench_cudnn as cudnn

    with pytest.raises(cudnn.Unavailable, match=r"^cuDNN not installed \(/nonexistent/"):
        cudnn.load(["/nonexistent/libcudnn.so.9", "libcudnn-that-is-not-there.so.9"])
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library found to stand in for a libcudnn without the symbols")
    with pytest.raises(cudnn.Unavailable, match="cudnnGetVersion"):
        cudnn.load([libc])


class _FakeLib:
    """A libcudnn stand-in whose calls return the given statuses (0 elsewhere)."""

    def __init__(self, **statuses):
        self.statuses, self.calls = statuses, []

    def cudnnGetErrorString(self, status):
        return {2000: b"CUDNN_STATUS_BAD_PARAM"}.get(status)

    def __getattr__(self, name):
        def call(*args):
            self.calls.append(name)
            return self.statuses.get(name, 0)
        return call


def test_cudnn_status_errors_name_the_call_and_status():
    from lrn import _bench_cudnn as cudnn

    lib = _FakeLib(cudnnSetLRNDescriptor=2000)
    with pytest.raises(cudnn.CudnnError, match=r"cudnnSetLRNDescriptor failed: "
                                               r"CUDNN_STATUS_BAD_PARAM \(status 2000\)"):
        cudnn.LRN(lib, (2, 3, 4, 5), "NCHW", "float32", 5, 1e-4, 0.75, 2.0, 0)
    # everything created is destroyed, last first
    assert lib.calls[-3:] == ["cudnnDestroyLRNDescriptor", "cudnnDestroyTensorDescriptor",
                              "cudnnDestroy"]
    with pytest.raises(cudnn.CudnnError, match=r"cudnnCreate failed: unknown status "
                                               r"\(status 4\)"):
        cudnn.LRN(_FakeLib(cudnnCreate=4), (2, 3, 4, 5), "NHWC", "float64", 5, 1e-4, 0.75,
                  2.0, 0)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_compare_gpu_emulated(emulated_cp, monkeypatch, layout):
    """compare_gpu on the CuPy stand-in: lrn's rows with GB/s and % of the copy's rate;
    cuDNN rows from a stand-in cuDNN that computes with lrn (timed, difference noted)
    or wrongly (WRONG, not timed); an absent cuDNN and PyTorch without CUDA listed."""
    from lrn import _bench_cudnn, benchmark

    shape = (2, 8, 5, 5) if layout == "NCHW" else (2, 5, 5, 8)
    rows, absent, notes = benchmark.compare_gpu(shape, layout, np.float32, repeats=1)
    by_case = {r["case"]: r for r in rows}
    assert {"copy floor (copyto)", "lrn forward", "lrn backward (scale recomputed)"} <= set(
        by_case)
    assert by_case["copy floor (copyto)"]["copy_pct"] == pytest.approx(100)
    for r in rows:
        assert math.isfinite(r["gbps"]) and math.isfinite(r["copy_pct"]), r
    if importlib.util.find_spec("torch") is None or not __import__("torch").cuda.is_available():
        assert "PyTorch with CUDA not installed" in absent
    assert any(line.startswith("cuDNN") for line in absent), absent

    p = benchmark.ALEXNET

    class StandIn:   # cuDNN's calls, computed by lrn (right) or not (wrong)
        right = True

        def __init__(self, lib, shape_, layout_, dtype, size, alpha, beta, bias, stream):
            assert (shape_, layout_, dtype) == (shape, layout, "float32")
            assert (size, alpha, beta, bias) == (p["size"], p["alpha"], p["beta"], p["bias"])

        def forward(self, x, y):
            y[...] = benchmark.lrn(x, **p, layout=layout) if self.right else x

        def backward(self, y, dy, x, dx):
            dx[...] = benchmark.lrn_backward(x, y, dy, **p, layout=layout) if self.right \
                else dy

        def close(self):
            pass
    monkeypatch.setattr(_bench_cudnn, "load", lambda: (None, "/stand-in/libcudnn.so.9"))
    monkeypatch.setattr(_bench_cudnn, "version", lambda lib: "9.99.0")
    monkeypatch.setattr(_bench_cudnn, "LRN", StandIn)
    rows, absent, notes = benchmark.compare_gpu(shape, layout, np.float32, repeats=1)
    by_case = {r["case"]: r for r in rows}
    assert math.isfinite(by_case["cudnn forward"]["median_ms"])
    assert by_case["cudnn backward"]["speedup"] is not None
    assert not any(line.startswith("cuDNN") for line in absent)
    assert any(n.startswith("cuDNN 9.99.0 (/stand-in/libcudnn.so.9): max relative "
                            "difference from lrn: forward 0") for n in notes), notes
    StandIn.right = False
    rows, absent, notes = benchmark.compare_gpu(shape, layout, np.float32, repeats=1)
    by_case = {r["case"]: r for r in rows}
    for name in ("cudnn forward", "cudnn backward"):
        assert by_case[name]["median_ms"] is None
        assert by_case[name]["wrong"].startswith("WRONG: max relative difference from lrn")
    table = benchmark.format_table(rows)
    assert "cudnn forward                        WRONG" in table


def test_bench_gpu_command_emulated(emulated_cp, monkeypatch, capsys, tmp_path):
    """``python -m lrn bench --gpu`` on the CuPy stand-in: a table per layout with the
    absent peers listed; a case that raises is reported (traceback) without stopping
    the others, and the exit status says so."""
    from lrn import benchmark

    monkeypatch.setitem(benchmark.GPU_SHAPES, "alexnet1", (2, 8, 5, 5))
    out = tmp_path / "gpu.json"
    assert benchmark.main(["--gpu", "--shapes", "alexnet1", "--repeats", "1",
                           "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "device: Emulated GPU" in text and "20 calls per timed sample" in text
    assert text.count("% copy") == 2 and "  (cuDNN" in text
    assert [r["layout"] for r in json.loads(out.read_text())["results"]] == ["NCHW", "NHWC"]

    real = benchmark.compare_gpu

    def failing(shape, layout, *args):
        if layout == "NCHW":
            raise RuntimeError("a failing case")
        return real(shape, layout, *args)
    monkeypatch.setattr(benchmark, "compare_gpu", failing)
    assert benchmark.main(["--gpu", "--shapes", "alexnet1", "--repeats", "1"]) == 1
    text = capsys.readouterr().out
    assert "RuntimeError: a failing case" in text and text.count("% copy") == 1


@pytest.fixture(scope="module")
def cudnn_host(tmp_path_factory):
    """tests/gpu_emu/cudnn_host.c built as a libcudnn.so.9 (skips without a C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the host cuDNN stand-in")
    lib = tmp_path_factory.mktemp("cudnn") / "libcudnn.so.9"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(lib),
                    os.path.join(ROOT, "tests", "gpu_emu", "cudnn_host.c"), "-lm"], check=True)
    return str(lib)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_cudnn_wrapper_on_the_host_stand_in(cudnn_host, layout, dtype):
    """The ctypes wrapper end to end on a libcudnn stand-in that computes on host memory
    (the CuPy stand-in's arrays): cuDNN's results equal lrn's, through the parameter
    mapping, NHWC as strides, the blending factors' type and the backward's (y, dy, x)."""
    from lrn import _bench_cudnn as cudnn
    from .gpu_emu import fake_cupy

    lib, path = cudnn.load([cudnn_host])
    assert path == cudnn_host and cudnn.version(lib) == "9.0.0"
    rng = np.random.default_rng(7)
    shape = (2, 9, 4, 3) if layout == "NCHW" else (2, 4, 3, 9)
    x, dy = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    p = dict(size=5, alpha=0.9, beta=0.75, bias=1.25)
    op = cudnn.LRN(lib, shape, layout, np.dtype(dtype).name, *p.values(), 0)
    try:
        xd, dyd = fake_cupy.asarray(x), fake_cupy.asarray(dy)
        y, dx = fake_cupy.empty_like(xd), fake_cupy.empty_like(xd)
        op.forward(xd, y)
        op.backward(y, dyd, xd, dx)
    finally:
        op.close()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    want = lrn.lrn(x, **p, layout=layout)
    np.testing.assert_allclose(np.asarray(y), want, rtol=rtol)
    want_dx = lrn.lrn_backward(x, want, dy, **p, layout=layout)
    np.testing.assert_allclose(np.asarray(dx), want_dx, rtol=rtol * 10,
                               atol=rtol * np.abs(want_dx).max())


def test_compare_gpu_with_the_cudnn_stand_in(emulated_cp, monkeypatch, cudnn_host):
    """compare_gpu's cuDNN rows through ctypes on the stand-in libcudnn: timed, with the
    version and the difference from lrn noted; a window size or dtype cuDNN refuses is
    an absent line naming why."""
    from lrn import _bench_cudnn, benchmark

    monkeypatch.setattr(_bench_cudnn, "candidates", lambda: [cudnn_host])
    rows, absent, notes = benchmark.compare_gpu((2, 8, 5, 5), "NHWC", np.float64, repeats=1)
    by_case = {r["case"]: r for r in rows}
    assert math.isfinite(by_case["cudnn forward"]["median_ms"])
    assert math.isfinite(by_case["cudnn backward"]["median_ms"])
    assert any(n.startswith(f"cuDNN 9.0.0 ({cudnn_host}): max relative difference from "
                            f"lrn: forward ") for n in notes), notes
    _, absent, _ = benchmark.compare_gpu((2, 8, 5, 5), "NCHW", np.float32,
                                         dict(benchmark.ALEXNET, size=17), repeats=1)
    assert ("cuDNN LRN not usable here: ValueError: cuDNN's LRN takes window sizes 1 to 16, "
            "got 17") in absent
    _, absent, _ = benchmark.compare_gpu((2, 8, 5, 5), "NCHW", np.float16, repeats=1)
    assert any("cudnnLRNCrossChannelForward failed: CUDNN_STATUS_NOT_SUPPORTED (status 3000)"
               in line for line in absent), absent
