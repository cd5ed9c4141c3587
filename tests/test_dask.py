"""Dask arrays (lazy, blockwise, bitwise equal to the in-memory call), a
distributed LocalCluster, an out-of-core zarr run, and `apply --chunks`.

Every comparison is bitwise: block boundaries must not change any element's
arithmetic (design §1: the window sums are computed on a fixed block grid).
"""
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import lrn
from lrn import dask as lrn_dask

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

THREADS = dict(scheduler="threads")


def bits(a):
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def assert_bitwise(actual, expected, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (what, actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    diff = bits(actual) != bits(expected)
    assert not diff.any(), f"{what}: {diff.sum()} of {diff.size} elements differ"


@pytest.fixture(params=["lrn.dask", "public"])
def api(request):
    """The entry point under test: lrn.dask directly, or the public functions."""
    return lrn_dask if request.param == "lrn.dask" else lrn


def data(shape, dtype, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def shape_chunks(layout, C=13, chunk_c=4):
    """A 4-D array chunked in every axis, with uneven last chunks."""
    if layout == "NCHW":
        return (5, C, 11, 9), (2, chunk_c, 6, 5)
    return (5, 11, 9, C), (2, 6, 5, chunk_c)


# -- threaded scheduler: forward ----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("size, convention", [
    (1, "onnx"), (2, "torch"), (4, "onnx"), (4, "torch"), (5, "onnx"),
    (16, "onnx")])   # 16 > C: every window reaches both edges
@pytest.mark.parametrize("method", ["overlap", "rechunk"])
def test_forward_bitwise(dtype, layout, size, convention, method):
    shape, chunks = shape_chunks(layout)
    xn = data(shape, dtype, seed=size)
    x = da.from_array(xn, chunks=chunks)
    p = dict(alpha=2.5, beta=0.75, bias=1.0, layout=layout, convention=convention)
    y, scale = lrn_dask.lrn(x, size, return_scale=True, method=method, **p)
    y_only = lrn_dask.lrn(x, size, method=method, **p)
    ye, se = lrn.lrn(xn, size, return_scale=True, **p)
    yc, sc, yo = dask.compute(y, scale, y_only, **THREADS)
    assert_bitwise(yc, ye, "y")
    assert_bitwise(sc, se, "scale")
    assert_bitwise(yo, ye, "y without scale")


@pytest.mark.parametrize("beta", [0.5, 1.0, 0.6])
def test_forward_public_entry(api, beta):
    shape, chunks = shape_chunks("NCHW", C=17, chunk_c=5)
    xn = data(shape, np.float32, seed=3)
    x = da.from_array(xn, chunks=chunks)
    y = api.lrn(x, 5, 1.5, beta, 2.0)
    assert lrn_dask.is_dask(y)
    assert_bitwise(y.compute(**THREADS), lrn.lrn(xn, 5, 1.5, beta, 2.0))


def test_overlap_keeps_chunks_and_is_lazy():
    calls = []

    def source(block):
        if block.size:                    # not dask's probe of the output type
            calls.append(block.shape)
        return block

    shape, chunks = shape_chunks("NCHW", C=24, chunk_c=8)
    xn = data(shape, np.float32)
    x = da.from_array(xn, chunks=chunks).map_blocks(source, dtype=np.float32)
    y = lrn_dask.lrn(x, 5, method="overlap")
    assert calls == []                    # nothing computed yet
    assert y.chunks == x.chunks           # 8-channel chunks >= depth 2 + 4: kept
    assert y.dtype == x.dtype and y.shape == x.shape
    assert_bitwise(y.compute(**THREADS), lrn.lrn(xn, 5))
    assert calls


def test_overlap_merges_chunks_thinner_than_the_halo():
    shape, chunks = shape_chunks("NCHW", C=41, chunk_c=2)
    xn = data(shape, np.float64)
    x = da.from_array(xn, chunks=chunks)
    y = lrn_dask.lrn(x, 7, method="overlap")       # depth 3 + 6 > 2
    assert y.chunks[1] == (10, 10, 10, 11)
    assert y.chunks[0] == x.chunks[0] and y.chunks[2:] == x.chunks[2:]
    assert_bitwise(y.compute(**THREADS), lrn.lrn(xn, 7))


def test_auto_rechunks_small_blocks_and_overlaps_big_ones():
    shape, chunks = shape_chunks("NCHW", C=40, chunk_c=10)
    x = da.from_array(data(shape, np.float32), chunks=chunks)
    assert lrn_dask.lrn(x, 5).chunks[1] == (40,)
    with dask.config.set({"array.chunk-size": "4KiB"}):
        y = lrn_dask.lrn(x, 5)
    assert y.chunks[1] == (10, 10, 10, 10)
    assert_bitwise(y.compute(**THREADS), lrn.lrn(x.compute(), 5))


@pytest.mark.parametrize("num_threads", [None, 1, 2, -1])
def test_num_threads_per_block(num_threads):
    shape, chunks = shape_chunks("NHWC", C=20, chunk_c=7)
    xn = data(shape, np.float32)
    x = da.from_array(xn, chunks=chunks)
    y = lrn_dask.lrn(x, 5, num_threads=num_threads, method="overlap")
    assert_bitwise(y.compute(**THREADS), lrn.lrn(xn, 5))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_five_d_every_axis_chunked(layout):
    shape = (3, 7, 9, 8, 5) if layout == "NCHW" else (3, 9, 8, 5, 7)
    xn = data(shape, np.float32)
    x = da.from_array(xn, chunks=2)
    y, s = lrn_dask.lrn(x, 3, 2.0, return_scale=True, layout=layout, method="overlap")
    dx = lrn_dask.lrn_backward(x, y, x, 3, 2.0, layout=layout, method="overlap")
    ye, se = lrn.lrn(xn, 3, 2.0, return_scale=True, layout=layout)
    got = dask.compute(y, s, dx, **THREADS)
    assert_bitwise(got[0], ye)
    assert_bitwise(got[1], se)
    assert_bitwise(got[2], lrn.lrn_backward(xn, ye, xn, 3, 2.0, layout=layout))


def test_within_region():
    xn = data((3, 4, 19, 23), np.float32)
    x = da.from_array(xn, chunks=(2, 3, 7, 8))
    for method in ("overlap", "rechunk"):
        y, s = lrn_dask.lrn(x, 5, 1.0, return_scale=True, region="within", method=method)
        ye, se = lrn.lrn(xn, 5, 1.0, return_scale=True, region="within")
        dy = data(xn.shape, np.float32, seed=9)
        dx = lrn_dask.lrn_backward(x, y, dy, 4, 1.0, region="within", method=method)
        yc, sc, dxc = dask.compute(y, s, dx, **THREADS)
        assert_bitwise(yc, ye, "y")
        assert_bitwise(sc, se, "scale")
        assert_bitwise(dxc, lrn.lrn_backward(xn, ye, dy, 4, 1.0, region="within"), "dx")


# -- threaded scheduler: backward ---------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("size, convention", [(2, "onnx"), (4, "torch"), (16, "torch")])
@pytest.mark.parametrize("method", ["overlap", "rechunk"])
def test_backward_bitwise(dtype, layout, size, convention, method):
    shape, chunks = shape_chunks(layout)
    xn = data(shape, dtype, seed=size)
    dyn = data(shape, dtype, seed=size + 100, scale=1.0)
    p = dict(alpha=2.0, beta=0.75, bias=1.0, layout=layout, convention=convention)
    ye, se = lrn.lrn(xn, size, return_scale=True, **p)
    x = da.from_array(xn, chunks=chunks)
    y, scale = lrn_dask.lrn(x, size, return_scale=True, method=method, **p)
    dy = da.from_array(dyn, chunks=chunks)
    with_scale = lrn_dask.lrn_backward(x, y, dy, size, scale=scale, method=method, **p)
    recomputed = lrn_dask.lrn_backward(x, y, dy, size, method=method, **p)
    numpy_args = lrn_dask.lrn_backward(x, ye, dyn, size, scale=se, method=method, **p)
    got = dask.compute(with_scale, recomputed, numpy_args, **THREADS)
    assert_bitwise(got[0], lrn.lrn_backward(xn, ye, dyn, size, scale=se, **p), "with scale")
    assert_bitwise(got[1], lrn.lrn_backward(xn, ye, dyn, size, **p), "scale recomputed")
    assert_bitwise(got[2], got[0], "NumPy y, dy, scale")


def test_backward_public_entry(api):
    shape, chunks = shape_chunks("NHWC", C=15, chunk_c=4)
    xn = data(shape, np.float64)
    dyn = data(shape, np.float64, seed=1)
    x = da.from_array(xn, chunks=chunks)
    y, s = api.lrn(x, 4, 2.0, return_scale=True, layout="NHWC")
    dx = api.lrn_backward(x, y, da.from_array(dyn, chunks=3), 4, 2.0, scale=s,
                          layout="NHWC")
    assert lrn_dask.is_dask(dx)
    ye, se = lrn.lrn(xn, 4, 2.0, return_scale=True, layout="NHWC")
    assert_bitwise(dx.compute(**THREADS),
                   lrn.lrn_backward(xn, ye, dyn, 4, 2.0, scale=se, layout="NHWC"))


def test_backward_numpy_x_with_dask_dy():
    shape, chunks = shape_chunks("NCHW")
    xn = data(shape, np.float32)
    ye = lrn.lrn(xn, 3)
    dy = da.from_array(data(shape, np.float32, seed=2), chunks=chunks)
    dx = lrn_dask.lrn_backward(xn, ye, dy, 3)
    assert lrn_dask.is_dask(dx)
    assert_bitwise(dx.compute(**THREADS), lrn.lrn_backward(xn, ye, dy.compute(), 3))


# -- errors: raised when the call is made, before any graph runs ---------------

def test_errors(api):
    x = da.ones((2, 6, 4, 4), dtype=np.float32, chunks=2)
    with pytest.raises(ValueError, match="`size` must be a positive integer, got 0"):
        api.lrn(x, 0)
    with pytest.raises(TypeError, match="`alpha`"):
        api.lrn(x, 3, alpha="big")
    with pytest.raises(ValueError, match="`layout`"):
        api.lrn(x, 3, layout="NWHC")
    with pytest.raises(ValueError, match="`num_threads`"):
        api.lrn(x, 3, num_threads=0)
    with pytest.raises(TypeError, match="`out`"):
        api.lrn(x, 3, out=np.empty(x.shape, np.float32))
    with pytest.raises(TypeError, match="`x` must have dtype"):
        api.lrn(x.astype(np.complex64), 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        api.lrn(da.ones(5, chunks=2), 3)
    with pytest.raises(ValueError, match="`dy` must have the shape"):
        api.lrn_backward(x, x, x[:1], 3)
    with pytest.raises(TypeError, match="`y` must have the dtype"):
        api.lrn_backward(x, x.astype(np.float64), x, 3)
    with pytest.raises(TypeError, match="`scale` must be an array"):
        api.lrn_backward(x, x, x, 3, scale="nope")
    with pytest.raises(ValueError, match="`method`"):
        lrn_dask.lrn(x, 3, method="fast")


def test_is_dask_does_not_import_dask():
    code = "import sys, numpy, lrn.dask as d; d.is_dask(numpy.zeros(1)); " \
           "print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


# -- distributed: a LocalCluster of 2 worker processes --------------------------

WORKER_MEMORY = 160 * 2**20      # per worker


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    distributed = pytest.importorskip("distributed")
    # Pausing would stall the test; a worker over 95% of its limit is killed.
    with dask.config.set({"distributed.worker.memory.pause": False,
                          "distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True,
                memory_limit=WORKER_MEMORY, dashboard_address=None,
                local_directory=str(tmp_path_factory.mktemp("dask-workers"))) as cluster:
            with distributed.Client(cluster) as c:
                yield c


def _peak_rss():
    """This process's peak resident memory in bytes (VmHWM; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_local_cluster_bitwise(client):
    assert len(client.scheduler_info()["workers"]) == 2
    xn = data((6, 21, 33, 31), np.float32)
    dyn = data(xn.shape, np.float32, seed=5)
    x = da.from_array(xn, chunks=(2, 8, 16, 16))
    dy = da.from_array(dyn, chunks=(2, 8, 16, 16))
    ye, se = lrn.lrn(xn, 5, 2.0, return_scale=True)
    expected = [ye, se, lrn.lrn_backward(xn, ye, dyn, 5, 2.0, scale=se),
                lrn.lrn_backward(xn, ye, dyn, 5, 2.0)]
    for method in ("overlap", "rechunk"):
        y, s = lrn_dask.lrn(x, 5, 2.0, return_scale=True, method=method)
        dx = lrn_dask.lrn_backward(x, y, dy, 5, 2.0, scale=s, method=method)
        dx2 = lrn_dask.lrn_backward(x, y, dy, 5, 2.0, method=method)
        got = client.compute([y, s, dx, dx2], sync=True)
        for g, e, what in zip(got, expected, ("y", "scale", "dx", "dx recomputed")):
            assert_bitwise(g, e, f"{what} ({method})")


def _on_disk(x, path):
    """Store ``x`` (chunk by chunk) as zarr, or as an npy stack without zarr,
    and return the stored array opened lazily, chunked like ``x``."""
    try:
        import zarr  # noqa: F401
    except ImportError:
        da.to_npy_stack(path, x, axis=0)
        return da.from_npy_stack(path).rechunk(x.chunks)
    x.to_zarr(path)
    return da.from_zarr(path)


def test_out_of_core(client, tmp_path):
    """An on-disk array larger than all the workers' memory, chunk by chunk."""
    shape, chunks = (84, 64, 128, 128), (4, 32, 64, 64)      # 352 MB > 2 x 168 MB
    nbytes = 4 * int(np.prod(shape))
    assert nbytes > 2 * WORKER_MEMORY
    rng = da.random.default_rng(7)
    x = _on_disk(rng.standard_normal(shape, chunks=chunks, dtype=np.float32),
                 str(tmp_path / "x"))
    workers = set(client.scheduler_info()["workers"])

    y = lrn.lrn(x, 5)
    out = _on_disk(y, str(tmp_path / "y"))           # runs on the cluster

    assert set(client.scheduler_info()["workers"]) == workers, "a worker was restarted"
    peaks = client.run(_peak_rss)
    assert max(peaks.values()) < WORKER_MEMORY < nbytes, peaks
    for n in range(0, shape[0], 12):                 # samples are independent
        xs, ys = dask.compute(x[n:n + 12], out[n:n + 12], scheduler="sync")
        assert_bitwise(ys, lrn.lrn(xs, 5), f"samples {n}:{n + 12}")


# -- python -m lrn apply --chunks ----------------------------------------------

def apply(capsys, *args):
    """``python -m lrn apply ARGS`` in this process: (exit status, stderr)."""
    from lrn.__main__ import main

    try:
        rc = main(["apply", *map(str, args)])
    except SystemExit as e:               # argparse's usage errors
        rc = e.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("chunks", [1, 3, 7, 50])
@pytest.mark.parametrize("opts, call", [
    ((), {}),
    (("--alpha", "2", "--beta", "0.6", "--bias", "0.5", "--layout", "NHWC",
      "--convention", "torch"),
     dict(alpha=2.0, beta=0.6, bias=0.5, layout="NHWC", convention="torch"))],
    ids=["defaults", "nhwc_torch"])
def test_apply_chunks_bitwise(tmp_path, capsys, dtype, chunks, opts, call):
    xn = data((7, 10, 6, 5), dtype, seed=chunks)
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, xn)
    rc, err = apply(capsys, src, dst, "--size", 4, "--chunks", chunks, *opts)
    assert rc == 0, err
    assert err == ""                               # no progress bar off a terminal
    assert_bitwise(np.load(dst), lrn.lrn(xn, 4, **call))
    assert sorted(os.listdir(tmp_path)) == ["in.npy", "out.npy"]


def test_apply_chunks_fortran_order_and_2d(tmp_path, capsys):
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    xn = np.asfortranarray(data((9, 6, 5), np.float64))
    np.save(src, xn)
    assert apply(capsys, src, dst, "--size", 3, "--chunks", 2)[0] == 0
    assert_bitwise(np.load(dst), lrn.lrn(xn, 3))
    xn = data((11, 9), np.float32)
    np.save(src, xn)
    assert apply(capsys, src, dst, "--size", 5, "--chunks", 4)[0] == 0
    assert_bitwise(np.load(dst), lrn.lrn(xn, 5))


@pytest.mark.parametrize("case, opts", [
    ("1d", ("--size", "3", "--chunks", "2")),
    ("int", ("--size", "3", "--chunks", "2")),
    ("good", ("--size", "0", "--chunks", "2")),
    ("good", ("--size", "3", "--chunks", "0")),
    ("good", ("--size", "3", "--chunks", "x")),
    ("good", ("--size", "3", "--chunks", "2", "--alpha", "nan")),
    ("good", ("--size", "3", "--chunks")),
    ("empty", ("--size", "3", "--chunks", "2", "--beta", "inf")),
], ids=["1d", "int", "size0", "chunks0", "chunksx", "alpha_nan", "chunks_missing",
        "empty_batch_bad_beta"])
def test_apply_chunks_errors(tmp_path, capsys, case, opts):
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, {"1d": np.ones(5, np.float32), "int": np.ones((2, 4, 3), np.int32),
                  "good": np.ones((2, 4, 3), np.float32),
                  "empty": np.ones((0, 4, 3), np.float32)}[case])
    rc, err = apply(capsys, src, dst, *opts)
    assert rc == 2, (rc, err)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == ["in.npy"]      # no OUT, no temporary file


def test_apply_chunks_empty_batch(tmp_path, capsys):
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, np.ones((0, 4, 3), np.float16))
    assert apply(capsys, src, dst, "--size", 3, "--chunks", 2)[0] == 0
    out = np.load(dst)
    assert out.shape == (0, 4, 3) and out.dtype == np.float16


def test_apply_chunks_unwritable_output(tmp_path, capsys):
    src = tmp_path / "in.npy"
    np.save(src, np.ones((2, 4, 3), np.float32))
    rc, err = apply(capsys, src, tmp_path / "missing" / "out.npy", "--size", 3,
                    "--chunks", 1)
    assert rc == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["in.npy"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_apply_chunks_progress_bar_on_a_terminal(tmp_path):
    import fcntl
    import pty
    import termios

    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, data((9, 6, 4, 4), np.float32))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run([sys.executable, "-m", "lrn", "apply", str(src), str(dst),
                               "--size", "3", "--chunks", "2"],
                              stdout=subprocess.PIPE, stderr=slave, timeout=300)
    finally:
        os.close(slave)
    shown = b""
    while True:
        try:
            piece = os.read(master, 65536)
        except OSError:
            break
        if not piece:
            break
        shown += piece
    os.close(master)
    assert proc.returncode == 0
    assert b"9/9" in shown, shown                  # the bar reached the end
    assert_bitwise(np.load(dst), lrn.lrn(np.load(src), 3))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_apply_chunks_file_larger_than_its_memory(tmp_path):
    """A 126 MB file through ~16 MB blocks: the process's peak memory stays
    far below the file (the whole-file path needs about twice the file)."""
    shape = (48, 64, 80, 128)
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    x = np.lib.format.open_memmap(src, mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(1)
    for n in range(0, shape[0], 8):
        x[n:n + 8] = rng.standard_normal((8,) + shape[1:], dtype=np.float32)
    x.flush()
    del x
    nbytes = os.path.getsize(src)
    code = ("import sys\nfrom lrn.__main__ import main\n"
            f"rc = main(['apply', {str(src)!r}, {str(dst)!r}, '--size', '5', "
            "'--chunks', '2'])\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "print(rc, int(hwm[0].split()[1]) * 1024)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    rc, peak = map(int, proc.stdout.split())
    assert rc == 0, proc.stderr
    assert peak < nbytes / 2, (peak, nbytes)
    xm = np.load(src, mmap_mode="r")
    ym = np.load(dst, mmap_mode="r")
    for n in range(0, shape[0], 16):
        assert_bitwise(ym[n:n + 16], lrn.lrn(xm[n:n + 16], 5), f"samples {n}:{n + 16}")


@pytest.mark.parametrize("method", ["overlap", "rechunk"])
def test_string_options_in_either_case(method):
    # the blocks get the options as passed; the plan reads them through _params
    x = np.random.default_rng(5).random((2, 5, 4, 6)).astype(np.float32)
    d = da.from_array(x, chunks=(1, 3, 2, 4))
    got = lrn.dask.lrn(d, 3, layout="nhwc", region="WITHIN", method=method).compute()
    np.testing.assert_array_equal(got, lrn.lrn(x, 3, layout="NHWC", region="within"))


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.int64])
def test_integers_promoted_as_in_memory(dtype):
    x = (np.arange(60).reshape(2, 5, 6) % 4).astype(dtype)
    d = da.from_array(x, chunks=(1, 2, 3))
    y = lrn.lrn(d, 3, 2.0)
    assert y.dtype == np.sqrt(x).dtype
    assert_bitwise(y.compute(), lrn.lrn(x, 3, 2.0))
    yx = lrn.lrn(x, 3, 2.0)
    dx = lrn.lrn_backward(d, yx, np.ones(x.shape, dtype), 3, 2.0)
    assert_bitwise(dx.compute(), lrn.lrn_backward(x, yx, np.ones(x.shape, dtype), 3, 2.0))
