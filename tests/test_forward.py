"""Forward LRN (y and scale) against the float64 reference."""
import numpy as np
import pytest

import lrn
from .helpers import (BETAS, CROSS_SHAPES, SWEEP_SHAPES, DTYPES, SIZES, assert_fwd_close, dtype_id, make_shape, poisoned,
                     random_params, random_x, resolve_size, rng_for, shape_id)
from .reference import CONVENTIONS, LAYOUTS, ref_forward

def check_forward(layout, dtype, size, convention, spec, params=None, extra_seed=()):
    n, c, spatial = spec
    size = resolve_size(size, c)
    rng = rng_for("fwd", layout, dtype_id(dtype), size, convention, spec, *extra_seed)
    alpha, beta, bias = params if params is not None else random_params(rng)
    shape = make_shape(n, c, spatial, layout)
    x = random_x(rng, shape, dtype)
    x_before = x.copy()
    yref, sref = ref_forward(x, size, alpha, beta, bias, layout, convention)
    kw = dict(layout=layout, convention=convention)

    # 1. poisoned (y, scale) outputs, return_scale=True
    yo, so = poisoned(shape, dtype), poisoned(shape, dtype)
    res = lrn.lrn(x, size, alpha, beta, bias, out=(yo, so), return_scale=True, **kw)
    assert isinstance(res, tuple) and len(res) == 2
    assert res[0] is yo and res[1] is so
    assert_fwd_close(yo, yref, dtype, "y")
    assert_fwd_close(so, sref, dtype, "scale")

    # 2. freshly allocated output
    y = lrn.lrn(x, size, alpha, beta, bias, **kw)
    assert isinstance(y, np.ndarray)
    assert y.shape == shape and y.dtype == np.dtype(dtype)
    assert y.flags.c_contiguous
    assert_fwd_close(y, yref, dtype, "y (allocated)")

    # 3. poisoned y-only out
    yo2 = poisoned(shape, dtype)
    assert lrn.lrn(x, size, alpha, beta, bias, out=yo2, **kw) is yo2
    assert_fwd_close(yo2, yref, dtype, "y (out=)")

    np.testing.assert_array_equal(x, x_before)   # input untouched


@pytest.mark.parametrize("spec", CROSS_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_cross(layout, dtype, size, convention, spec):
    check_forward(layout, dtype, size, convention, spec)


@pytest.mark.parametrize("spec", SWEEP_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 4, 5, "gtC"], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_shapes(layout, dtype, size, convention, spec):
    check_forward(layout, dtype, size, convention, spec)


@pytest.mark.parametrize("size", [4, 5])
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("beta", BETAS)
def test_forward_betas(beta, layout, dtype, convention, size):
    """Every special-cased beta (0.75, 0.5, 1) and general ones, every bias."""
    for bias in (1.0, 2.0, 0.5):
        check_forward(layout, dtype, size, convention, (2, 9, (4, 5)),
                      params=(1.9, beta, bias), extra_seed=(beta, bias))


@pytest.mark.parametrize("seed", range(16))
def test_forward_random(seed):
    rng = np.random.default_rng(1000 + seed)
    ndim_sp = int(rng.integers(0, 4))
    spec = (int(rng.integers(1, 4)), int(rng.integers(1, 20)),
            tuple(int(v) for v in rng.integers(1, 6, ndim_sp)))
    layout = str(rng.choice(LAYOUTS))
    convention = str(rng.choice(CONVENTIONS))
    dtype = DTYPES[int(rng.integers(0, 3))]
    size = int(rng.integers(1, 2 * spec[1] + 3))
    params = (float(rng.uniform(1e-3, 4.0)), float(rng.choice(BETAS + (0.3, 1.25))),
              float(rng.uniform(0.3, 3.0)))
    check_forward(layout, dtype, size, convention, spec, params=params, extra_seed=(seed,))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_defaults(layout, dtype):
    """alpha=1e-4, beta=0.75, bias=1.0 by default, convention onnx; large x so alpha matters."""
    rng = np.random.default_rng(7)
    shape = make_shape(2, 10, (3, 3), layout)
    x = (rng.standard_normal(shape) * 60).astype(dtype)
    yref, sref = ref_forward(x, 4, 1e-4, 0.75, 1.0, layout, "onnx")
    assert (sref.max() - 1.0) > 0.1          # the alpha term is not negligible
    y, s = lrn.lrn(x, 4, layout=layout, return_scale=True)
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")
    # default layout is NCHW
    if layout == "NCHW":
        y2 = lrn.lrn(x, 4)
        assert_fwd_close(y2, yref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [3, 4])
def test_negative_alpha(layout, dtype, size):
    """Excitatory LRN: alpha < 0 with bias large enough to keep scale > 0."""
    rng = np.random.default_rng(size)
    shape = make_shape(2, 8, (3,), layout)
    x = rng.uniform(-1, 1, shape).astype(dtype)
    yref, sref = ref_forward(x, size, -0.9, 0.75, 1.5, layout, "onnx")
    assert sref.min() > 0.5 and (np.abs(yref) > np.abs(x)).any()
    y, s = lrn.lrn(x, size, -0.9, 0.75, 1.5, layout=layout, return_scale=True)
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [21, 64, 300, 301, 500])
def test_large_channel_count(size, convention, layout, dtype):
    """C = 300: multi-block window paths; sizes spanning C and beyond."""
    check_forward(layout, dtype, size, convention, (2, 300, (3,)), params=(2.5, 0.75, 1.0))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [50, 2**40, 2**40 + 1])
def test_size_much_larger_than_channels(size, convention, layout, dtype):
    check_forward(layout, dtype, size, convention, (2, 3, (4, 2)), params=(30.0, 0.75, 1.0))


# --------------------------------------------------------------------------- inputs

def _base(layout, dtype, shape_nchw=(2, 6, 5, 4), seed=3):
    rng = np.random.default_rng(seed)
    n, c, *sp = shape_nchw
    x = random_x(rng, make_shape(n, c, sp, layout), dtype)
    return x


PARAMS = (5, 1.3, 0.75, 1.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["transposed", "strided", "negative_stride", "fortran",
                                  "channel_stride"])
def test_noncontiguous_input(kind, layout, dtype):
    rng = np.random.default_rng(11)
    if kind == "transposed":
        # a channels-last buffer viewed as channels-first (or the reverse)
        other = "NHWC" if layout == "NCHW" else "NCHW"
        base = random_x(rng, make_shape(2, 6, (5, 4), other), dtype)
        x = np.moveaxis(base, -1, 1) if layout == "NCHW" else np.moveaxis(base, 1, -1)
    elif kind == "strided":
        big = random_x(rng, (3, 13, 11, 9), dtype)
        x = big[::2, ::2, 1::3, ::2]
    elif kind == "negative_stride":
        big = random_x(rng, (2, 7, 5, 6), dtype)
        x = big[:, ::-1, :, ::-1]
    elif kind == "fortran":
        x = np.asfortranarray(random_x(rng, (2, 7, 5, 6), dtype))
    else:  # channel axis has a non-unit stride, everything else contiguous
        big = random_x(rng, (2, 5, 6, 14), dtype)
        x = big[..., ::2] if layout == "NHWC" else big.transpose(0, 3, 1, 2)[:, ::2]
    assert not x.flags.c_contiguous
    x_before = x.copy()
    yref, sref = ref_forward(np.ascontiguousarray(x), *PARAMS, layout, "onnx")
    y, s = lrn.lrn(x, *PARAMS, layout=layout, return_scale=True)
    assert y.shape == x.shape and y.flags.c_contiguous
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_readonly_input(layout, dtype):
    x = _base(layout, dtype)
    x.flags.writeable = False
    yref, sref = ref_forward(x, *PARAMS, layout)
    y, s = lrn.lrn(x, *PARAMS, layout=layout, return_scale=True)
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")
    # read-only and non-contiguous at the same time
    xs = x[:, ::-1]
    y = lrn.lrn(xs, *PARAMS, layout=layout)
    assert_fwd_close(y, ref_forward(xs, *PARAMS, layout)[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("readonly", [False, True])
def test_memoryview_input(layout, dtype, readonly):
    x = _base(layout, dtype)
    if readonly:
        x.flags.writeable = False
    mv = memoryview(x)
    yref, sref = ref_forward(x, *PARAMS, layout)
    y, s = lrn.lrn(mv, *PARAMS, layout=layout, return_scale=True)
    assert isinstance(y, np.ndarray) and isinstance(s, np.ndarray)
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")


class ArrayInterfaceOnly:
    """Exposes only __array_interface__ (not an ndarray, no buffer protocol)."""

    def __init__(self, a):
        self._a = a
        self.__array_interface__ = a.__array_interface__


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_array_interface_input(dtype):
    x = _base("NCHW", dtype)
    yref, sref = ref_forward(x, *PARAMS)
    y = lrn.lrn(ArrayInterfaceOnly(x), *PARAMS)
    assert isinstance(y, np.ndarray)
    assert_fwd_close(y, yref, dtype)


# --------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [4, 5])
def test_inplace(layout, dtype, size):
    x = _base(layout, dtype, seed=size)
    args = (size, 1.3, 0.6, 1.0)
    yref, sref = ref_forward(x, *args, layout)
    x1 = x.copy()
    assert lrn.lrn(x1, *args, layout=layout, out=x1) is x1
    assert_fwd_close(x1, yref, dtype, "in-place y")
    x2 = x.copy()
    so = poisoned(x.shape, dtype)
    res = lrn.lrn(x2, *args, layout=layout, out=(x2, so), return_scale=True)
    assert res[0] is x2 and res[1] is so
    assert_fwd_close(x2, yref, dtype, "in-place y")
    assert_fwd_close(so, sref, dtype, "scale")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_noncontiguous_out(layout, dtype):
    x = _base(layout, dtype)
    yref, sref = ref_forward(x, *PARAMS, layout)
    sentinel = -7.25
    big_y = np.full((x.shape[0] * 2,) + x.shape[1:-1] + (x.shape[-1] * 3,), sentinel, dtype)
    big_s = np.full_like(big_y, sentinel)
    yo = big_y[::2, ..., 1::3]
    so = big_s[::2, ..., 2::3]
    yo[...] = np.nan
    so[...] = np.nan
    res = lrn.lrn(x, *PARAMS, layout=layout, out=(yo, so), return_scale=True)
    assert res[0] is yo and res[1] is so
    assert_fwd_close(yo, yref, dtype)
    assert_fwd_close(so, sref, dtype, "scale")
    # nothing outside the views was written
    mask = np.ones(big_y.shape, bool)
    mask[::2, ..., 1::3] = False
    assert (big_y[mask] == sentinel).all()
    mask = np.ones(big_s.shape, bool)
    mask[::2, ..., 2::3] = False
    assert (big_s[mask] == sentinel).all()
    # Fortran-ordered out
    fo = np.asfortranarray(poisoned(x.shape, dtype))
    assert lrn.lrn(x, *PARAMS, layout=layout, out=fo) is fo
    assert_fwd_close(fo, yref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_return_scale_single_out(dtype):
    """return_scale=True with a single array `out`: y goes there, scale is allocated."""
    x = _base("NCHW", dtype)
    yref, sref = ref_forward(x, *PARAMS)
    yo = poisoned(x.shape, dtype)
    y, s = lrn.lrn(x, *PARAMS, out=yo, return_scale=True)
    assert y is yo
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_return_scale_allocated(layout, dtype):
    x = _base(layout, dtype)
    yref, sref = ref_forward(x, *PARAMS, layout)
    res = lrn.lrn(x, *PARAMS, layout=layout, return_scale=True)
    assert isinstance(res, tuple) and len(res) == 2
    y, s = res
    assert s.dtype == np.dtype(dtype) and s.shape == x.shape and s.flags.c_contiguous
    assert_fwd_close(y, yref, dtype)
    assert_fwd_close(s, sref, dtype, "scale")
    assert isinstance(lrn.lrn(x, *PARAMS, layout=layout, return_scale=False), np.ndarray)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0), (3, 0),
                                   (2, 3, 0, 5)])
def test_zero_size(shape, layout, dtype):
    x = np.zeros(shape, dtype)
    y, s = lrn.lrn(x, 3, layout=layout, return_scale=True)
    assert y.shape == shape and s.shape == shape
    assert y.dtype == np.dtype(dtype) and s.dtype == np.dtype(dtype)
    assert lrn.lrn(x, 3, layout=layout).shape == shape
    out = np.empty(shape, dtype)
    assert lrn.lrn(x, 3, layout=layout, out=out) is out


def test_show_config(capsys):
    lrn.show_config()
    text = capsys.readouterr().out.lower()
    assert "openmp" in text
    assert "thread" in text
    assert "gpu" in text or "cuda" in text or "cupy" in text
    version = getattr(lrn, "__version__", None)
    assert version and version in text


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_inplace_noncontiguous_view(layout, dtype):
    """out=x where x is a strided view: only the view's elements change."""
    rng = np.random.default_rng(8)
    big = random_x(rng, (2, 12, 5, 8), dtype)
    x = big[:, ::2, :, 1::2] if layout == "NCHW" else big[:, 1::2, :, ::2]
    args = (4, 1.3, 0.75, 2.0)
    yref = ref_forward(x, *args, layout)[0]
    mask = np.ones(big.shape, bool)
    mask[(slice(None), slice(None, None, 2), slice(None), slice(1, None, 2)) if layout == "NCHW"
         else (slice(None), slice(1, None, 2), slice(None), slice(None, None, 2))] = False
    outside = big[mask].copy()
    assert lrn.lrn(x, *args, layout=layout, out=x) is x
    assert_fwd_close(x, yref, dtype, "in-place y")
    np.testing.assert_array_equal(big[mask], outside)
