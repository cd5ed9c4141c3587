"""lrn.torch: PyTorch's local_response_norm / LocalResponseNorm on the lrn kernels.

Checked against torch.nn.functional.local_response_norm (forward and autograd
gradients) for sizes 1-6 and > C, every memory format and floating dtype, and
against the float64 reference in tests/reference.py (``convention="torch"``).
"""
import copy

import numpy as np
import pytest

from .helpers import assert_bwd_close, ref_backward, ref_forward

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import lrn  # noqa: E402
import lrn.torch as lt  # noqa: E402
from lrn.torch import LocalResponseNorm, local_response_norm, replace_modules  # noqa: E402

# torch's own modules (imported by opcheck/export) trigger this on import
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

SHAPES = {3: (2, 7, 9), 4: (2, 7, 5, 6), 5: (2, 6, 3, 4, 5)}
SIZES = (1, 2, 3, 4, 5, 6, "gtC")
FORMATS = ("contiguous", "channels_last", "strided", "permuted")
DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

# ours vs the float64 reference: float32/64 per design.md; half types: the
# float32 result rounded once (plus float32-level error)
REF_RTOL = {torch.float64: 1e-11, torch.float32: 3e-6, torch.float16: 1e-3,
            torch.bfloat16: 2.0 ** -8 + 1e-5}
BWD_RTOL = {torch.float64: 1e-11, torch.float32: 3e-5, torch.float16: 3e-3,
            torch.bfloat16: 2e-2}
# ours vs PyTorch, whose half-precision path rounds after every elementwise op
TORCH_RTOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 4e-3,
              torch.bfloat16: 3e-2}



def _randn(shape, dtype, *parts, scale=2.0):
    g = torch.Generator().manual_seed(sum(map(ord, repr((shape, str(dtype)) + parts))))
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _to_format(x, fmt):
    """``x`` with the same values in memory format ``fmt``."""
    nd = x.dim()
    if fmt == "contiguous":
        return x.contiguous()
    if fmt == "channels_last":                # channels_last / channels_last_3d / 1-D analogue
        if nd == 4:
            return x.contiguous(memory_format=torch.channels_last)
        if nd == 5:
            return x.contiguous(memory_format=torch.channels_last_3d)
        perm = (0, *range(2, nd), 1)
        inv = (0, nd - 1, *range(1, nd - 1))
        return x.permute(perm).contiguous().permute(inv)
    if fmt == "strided":                      # a non-dense view
        big = torch.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if fmt == "permuted":                     # dense, but neither packing
        return x.transpose(0, 1).contiguous().transpose(0, 1)
    raise ValueError(fmt)


def _size(size, C):
    return C + 3 if size == "gtC" else size


def _params(size):
    beta = 0.75 if size in (1, 3, 5) else 0.6
    return 0.9, beta, 1.25                    # alpha large enough to matter


def _assert_format_kept(y, x):
    assert y.shape == x.shape and y.dtype == x.dtype
    if x.is_contiguous():
        assert y.is_contiguous()
    elif x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        assert y.is_contiguous(memory_format=torch.channels_last)
    elif x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d):
        assert y.is_contiguous(memory_format=torch.channels_last_3d)
    assert y.stride() == torch.empty_like(x).stride()


def _close(actual, expected, rtol, what):
    a = actual.double()
    e = expected.double()
    err = (a - e).abs()
    bound = rtol * e.abs()
    bad = ~(err <= bound)
    assert not bad.any(), (f"{what}: {int(bad.sum())} of {bad.numel()} out of rtol "
                           f"{rtol}; max rel err {float((err / e.abs()).max()):.3g}")


# -- forward and gradient against PyTorch and the reference ------------------

def _torch_lrn(x, size, alpha, beta, k):
    """PyTorch's result; where PyTorch has no CPU kernel for the dtype (float16
    on 4-D/5-D input: "avg_pool3d_out_frame" not implemented for 'Half'), its
    float32 result rounded to the dtype (lrn.torch computes those)."""
    try:
        return F.local_response_norm(x, size, alpha, beta, k)
    except (NotImplementedError, RuntimeError):
        return F.local_response_norm(x.float(), size, alpha, beta, k).to(x.dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("ndim", (3, 4, 5))
def test_matches_pytorch(ndim, size, fmt, dtype):
    shape = SHAPES[ndim]
    size = _size(size, shape[1])
    alpha, beta, k = _params(size)
    x = _to_format(_randn(shape, dtype, "fwd", size), fmt)
    x_ours = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    x_torch = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    x_ref = x.detach().double().numpy()
    before = x.clone()

    y = local_response_norm(x_ours, size, alpha, beta, k)
    y_torch = _torch_lrn(x_torch, size, alpha, beta, k)
    _assert_format_kept(y, x)
    want, _ = ref_forward(x_ref, size, alpha, beta, k, "NCHW", "torch")
    _close(y, torch.from_numpy(want), REF_RTOL[dtype], "y vs float64 reference")
    _close(y, y_torch, TORCH_RTOL[dtype], "y vs torch")

    dy = _to_format(_randn(shape, dtype, "dy", size, scale=1.0), fmt)
    (dx,) = torch.autograd.grad(y, x_ours, dy)
    (dx_torch,) = torch.autograd.grad(y_torch, x_torch, dy)
    assert dx.dtype == dtype and dx.shape == x.shape
    want_dx, mag = ref_backward(x_ref, dy.double().numpy(), size, alpha, beta, k,
                                "NCHW", "torch", return_terms=True)
    err = (dx.double() - torch.from_numpy(want_dx)).abs()
    bound = BWD_RTOL[dtype] * (torch.from_numpy(mag) + torch.from_numpy(want_dx).abs())
    assert bool((err <= bound).all()), f"dx vs reference: max err/bound {float((err / bound).max()):.3g}"
    # PyTorch's gradient (its half types round every intermediate)
    err_t = (dx.double() - dx_torch.double()).abs()
    bound_t = TORCH_RTOL[dtype] * 4 * (torch.from_numpy(mag) + dx_torch.double().abs())
    assert bool((err_t <= bound_t).all()), f"dx vs torch: max err/bound {float((err_t / bound_t).max()):.3g}"
    assert torch.equal(x, before)             # input untouched


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 5, 2, 2, 2, 2), (3, 1, 4, 4), (1, 16, 1, 1)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("size", (1, 2, 5, 8, 40))
def test_other_shapes(shape, size):
    x = _randn(shape, torch.float64, "shapes")
    y = local_response_norm(x, size, 0.7, 0.75, 1.0)
    torch.testing.assert_close(y, F.local_response_norm(x, size, 0.7, 0.75, 1.0),
                               rtol=1e-12, atol=0)


def test_defaults_and_even_window_position():
    # PyTorch's window for even sizes: [c - size // 2, c + (size - 1) // 2]
    x = _randn((2, 8, 3, 3), torch.float32, "defaults")
    torch.testing.assert_close(local_response_norm(x, 4), F.local_response_norm(x, 4),
                               rtol=1e-6, atol=0)
    C, c = 7, 3
    for j in range(C):
        if j == c:
            continue
        x = torch.zeros(1, C, 1, 1, dtype=torch.float64)
        x[0, c], x[0, j] = 1.0, 10.0
        inside = -2 <= j - c <= 1
        y = local_response_norm(x, 4, alpha=4.0, beta=1.0, k=1.0)[0, c, 0, 0]
        assert float(y) == pytest.approx(1.0 / (2.0 + 100.0 * inside))


# -- no copies on CPU ----------------------------------------------------------

def _addr(a):
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
@pytest.mark.parametrize("ndim", (3, 4, 5))
def test_zero_copy(monkeypatch, fmt, ndim):
    seen = {}
    real_fwd, real_bwd = lt._lrn, lt._lrn_backward

    def spy_fwd(x, *args, out=None, **kw):
        seen["fwd"] = (_addr(x), _addr(out[0]), _addr(out[1]), kw["layout"],
                       kw["num_threads"])
        return real_fwd(x, *args, out=out, **kw)

    def spy_bwd(x, y, dy, *args, scale=None, out=None, **kw):
        seen["bwd"] = (_addr(x), _addr(y), _addr(dy), _addr(scale), _addr(out), kw["layout"])
        return real_bwd(x, y, dy, *args, scale=scale, out=out, **kw)

    monkeypatch.setattr(lt, "_lrn", spy_fwd)
    monkeypatch.setattr(lt, "_lrn_backward", spy_bwd)
    x = _to_format(_randn(SHAPES[ndim], torch.float32, "zc"), fmt).requires_grad_()
    y, scale = torch.ops.lrn.forward(x, 5, 1e-2, 0.75, 1.0)
    layout = "NCHW" if fmt == "contiguous" else "NHWC"
    assert seen["fwd"] == (x.data_ptr(), y.data_ptr(), scale.data_ptr(), layout,
                           torch.get_num_threads())
    dy = torch.ones_like(y)                   # same memory format as x
    (dx,) = torch.autograd.grad(y, x, dy)
    assert seen["bwd"] == (x.data_ptr(), y.data_ptr(), dy.data_ptr(), scale.data_ptr(),
                           dx.data_ptr(), layout)


def test_scale_is_saved_and_not_differentiable():
    x = _randn((2, 6, 3, 3), torch.float32, "scale").requires_grad_()
    y, scale = torch.ops.lrn.forward(x, 3, 0.5, 0.75, 2.0)
    assert not scale.requires_grad
    _, want = ref_forward(x.detach().double().numpy(), 3, 0.5, 0.75, 2.0, "NCHW", "torch")
    _close(scale, torch.from_numpy(want), 3e-6, "scale")
    xh = x.detach().half()
    _, scale_h = torch.ops.lrn.forward(xh, 3, 0.5, 0.75, 2.0)
    assert scale_h.dtype == torch.float32     # half types keep scale in float32


# -- autograd --------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
@pytest.mark.parametrize("size", (1, 2, 3, 4, 5, 6, 9))
def test_gradcheck_float64(size, fmt):
    x = _to_format(_randn((2, 5, 3, 2), torch.float64, "gc", size), fmt).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: local_response_norm(t, size, 0.8, 0.6, 1.2), (x,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("ndim", (3, 5))
def test_gradcheck_other_ndim(ndim):
    shape = (2, 4, 3) if ndim == 3 else (1, 4, 2, 2, 2)
    x = _randn(shape, torch.float64, "gc-nd").requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: local_response_norm(t, 4, 1.5, 0.75, 1.0), (x,), eps=1e-6, atol=1e-8)


def test_opcheck_custom_ops():
    x = _randn((2, 5, 3, 3), torch.float32, "opcheck").requires_grad_()
    torch.library.opcheck(torch.ops.lrn.forward.default, (x, 3, 1e-2, 0.75, 1.0))
    xl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    torch.library.opcheck(torch.ops.lrn.forward.default, (xl, 4, 1e-2, 0.75, 1.0))
    y, s = torch.ops.lrn.forward(x.detach(), 3, 1e-2, 0.75, 1.0)
    torch.library.opcheck(torch.ops.lrn.backward.default,
                          (x.detach(), y, torch.ones_like(y), s, 3, 1e-2, 0.75, 1.0))


def test_op_called_directly_is_differentiable():
    x = _randn((2, 6, 4), torch.float64, "direct").requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: torch.ops.lrn.forward(t, 4, 0.9, 0.75, 1.0)[0], (x,), eps=1e-6, atol=1e-8)


def test_double_backward_matches_pytorch():
    # a gradient penalty: the gradient taken with create_graph=True, then differentiated
    x = _randn((1, 4, 3), torch.float64, "dbl").requires_grad_()
    xt = x.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(local_response_norm(x, 3, 1.0).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(F.local_response_norm(xt, 3, 1.0).sum(), xt, create_graph=True)
    torch.testing.assert_close(g, gt, rtol=1e-12, atol=1e-15)
    g.pow(2).sum().backward()
    gt.pow(2).sum().backward()
    torch.testing.assert_close(x.grad, xt.grad, rtol=1e-10, atol=1e-14)


def test_torch_compile_fullgraph():
    model = LocalResponseNorm(4, alpha=0.5, beta=0.75, k=1.5)
    compiled = torch.compile(model, fullgraph=True, dynamic=False)
    for fmt in ("contiguous", "channels_last"):
        x = _to_format(_randn((2, 8, 5, 5), torch.float32, "compile"), fmt).requires_grad_()
        x2 = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
        y = compiled(x)
        y_eager = model(x2)
        assert torch.equal(y, y_eager)
        _assert_format_kept(y, x)
        dy = torch.randn_like(y)
        (y * dy).sum().backward()
        (y_eager * dy).sum().backward()
        assert torch.equal(x.grad, x2.grad)
        torch.testing.assert_close(y, F.local_response_norm(x.detach(), 4, 0.5, 0.75, 1.5),
                                   rtol=1e-5, atol=1e-6)


def test_torch_compile_dynamic_and_export():
    model = LocalResponseNorm(3, alpha=0.2, beta=0.75, k=1.0)
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    for shape in ((2, 8, 5, 5), (3, 6, 7, 4)):
        x = _randn(shape, torch.float32, "dynamic").requires_grad_()
        y = compiled(x)
        torch.testing.assert_close(y, F.local_response_norm(x.detach(), 3, 0.2, 0.75, 1.0),
                                   rtol=1e-5, atol=1e-6)
        y.sum().backward()
        assert x.grad is not None and x.grad.shape == x.shape
    exported = torch.export.export(model, (torch.randn(2, 8, 5, 5),))
    assert "lrn.forward" in exported.graph_module.code
    x = _randn((2, 8, 5, 5), torch.float32, "export")
    assert torch.equal(exported.module()(x), model(x))


def test_bad_parameters_still_raise_under_compile():
    compiled = torch.compile(lambda t: local_response_norm(t, 0), fullgraph=True)
    with pytest.raises(Exception, match="`size` must be a positive integer, got 0"):
        compiled(torch.randn(1, 3, 2))


# -- the module ------------------------------------------------------------------

def test_module_matches_pytorch_module():
    ours, theirs = LocalResponseNorm(5), nn.LocalResponseNorm(5)
    assert isinstance(ours, nn.LocalResponseNorm)
    assert repr(ours) == repr(theirs) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)"
    assert ours.extra_repr() == theirs.extra_repr()
    m = LocalResponseNorm(3, alpha=2e-3, beta=0.5, k=2.0)
    assert (m.size, m.alpha, m.beta, m.k) == (3, 2e-3, 0.5, 2.0)
    assert repr(m) == repr(nn.LocalResponseNorm(3, alpha=2e-3, beta=0.5, k=2.0))
    assert m.state_dict() == {} and list(m.parameters()) == []
    x = _randn((2, 7, 4, 4), torch.float32, "module")
    torch.testing.assert_close(m(x), nn.LocalResponseNorm(3, 2e-3, 0.5, 2.0)(x),
                               rtol=1e-5, atol=0)


def test_replace_modules():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LocalResponseNorm(5, k=2.0),
                        nn.Sequential(nn.ReLU(), nn.LocalResponseNorm(2)))
    net.eval()
    assert replace_modules(net) is net
    assert type(net[1]) is LocalResponseNorm and type(net[2][1]) is LocalResponseNorm
    assert (net[1].size, net[1].k) == (5, 2.0) and not net[1].training
    single = replace_modules(nn.LocalResponseNorm(3))
    assert type(single) is LocalResponseNorm


def _net(norm):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1), norm(4, alpha=0.5, beta=0.75, k=2.0), nn.ReLU(),
        nn.Conv2d(12, 10, 3, stride=2), norm(5, alpha=1e-1), nn.ReLU(),
        nn.Flatten(), nn.Linear(10 * 3 * 3, 5))


@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
def test_model_trains_to_the_same_weights(fmt):
    theirs = _net(nn.LocalResponseNorm)
    ours = replace_modules(copy.deepcopy(theirs))
    assert type(ours[1]) is LocalResponseNorm and type(theirs[1]) is nn.LocalResponseNorm
    g = torch.Generator().manual_seed(7)
    data = torch.randn(16, 3, 8, 8, generator=g)
    target = torch.randint(0, 5, (16,), generator=g)
    if fmt == "channels_last":
        data = data.contiguous(memory_format=torch.channels_last)
        ours.to(memory_format=torch.channels_last)
        theirs.to(memory_format=torch.channels_last)
    for model in (ours, theirs):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for _ in range(6):
            opt.zero_grad()
            F.cross_entropy(model(data), target).backward()
            opt.step()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=2e-6, msg=name)
    start = _net(nn.LocalResponseNorm)
    moved = max(float((p - q).detach().abs().max()) for p, q in zip(ours.parameters(),
                                                             start.parameters()))
    assert moved > 1e-2                       # it did train


# -- other devices: the PyTorch-operations fallback ---------------------------------

@pytest.mark.parametrize("size", (1, 4, 5, 12))
def test_fallback_path_matches_reference(size):
    x = _randn((2, 7, 3, 4), torch.float64, "fallback", size)
    y, scale = lt._forward_torch(x, size, 0.9, 0.6, 1.25)
    want, want_s = ref_forward(x.numpy(), size, 0.9, 0.6, 1.25, "NCHW", "torch")
    _close(y, torch.from_numpy(want), 1e-12, "y")
    _close(scale, torch.from_numpy(want_s), 1e-12, "scale")
    dy = _randn(x.shape, torch.float64, "fallback-dy")
    dx = lt._backward_torch(x, y, dy, scale, size, 0.9, 0.6, 1.25)
    want_dx, mag = ref_backward(x.numpy(), dy.numpy(), size, 0.9, 0.6, 1.25, "NCHW",
                                "torch", return_terms=True)
    assert_bwd_close(dx.numpy(), want_dx, mag, np.float64)


def test_meta_tensors():
    x = torch.empty(2, 6, 4, 4, device="meta").contiguous(memory_format=torch.channels_last)
    y = local_response_norm(x, 3)
    assert y.device.type == "meta" and y.shape == x.shape
    assert y.is_contiguous(memory_format=torch.channels_last)


cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason="needs PyTorch with a CUDA device (runs in bench/gpu_check.sh)")


def _lrn_gpu_backend():
    """Skip unless lrn.torch runs CUDA tensors on lrn's GPU kernels (CuPy and a device),
    not on its PyTorch-operations fallback."""
    if not lt._gpu_available():
        pytest.skip("lrn's GPU backend (CuPy with a CUDA device) is not available")


@cuda
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16))
@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
def test_cuda(dtype, fmt):
    x = _to_format(_randn((2, 9, 6, 7), torch.float32, "cuda"), fmt).to("cuda", dtype)
    x.requires_grad_()
    xt = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    y = local_response_norm(x, 4, 0.9, 0.75, 1.0)
    y_t = F.local_response_norm(xt, 4, 0.9, 0.75, 1.0)
    assert y.device == x.device
    _assert_format_kept(y, x)
    _close(y.cpu(), y_t.cpu(), TORCH_RTOL[dtype], "cuda y")
    dy = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, dy)
    (dx_t,) = torch.autograd.grad(y_t, xt, dy)
    torch.testing.assert_close(dx, dx_t, rtol=TORCH_RTOL[dtype] * 10, atol=1e-3)


STREAM_ARGS = (5, 0.9, 0.75, 1.25)   # size, alpha, beta, k


def _check_against_reference(x, dy, y, dx, what):
    """``y`` and ``dx`` (CUDA, float32) against the float64 reference on ``x``, ``dy``."""
    size, alpha, beta, k = STREAM_ARGS
    xs = x.detach().double().cpu().numpy()
    want, _ = ref_forward(xs, size, alpha, beta, k, "NCHW", "torch")
    _close(y.detach().cpu(), torch.from_numpy(want), REF_RTOL[torch.float32], f"{what}: y")
    if dx is not None:
        want_dx, mag = ref_backward(xs, dy.double().cpu().numpy(), size, alpha, beta, k,
                                    "NCHW", "torch", return_terms=True)
        assert_bwd_close(dx.cpu().numpy(), want_dx, mag, np.float32)


def _busy(ms=100):
    """Keep PyTorch's current stream busy for about ``ms`` ms (a spinning kernel),
    so that whatever is queued behind it is visibly late."""
    torch.cuda._sleep(int(ms * 2e6))   # cycles, at ~2 GHz


@cuda
@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
def test_cuda_side_stream(fmt):
    """Inside ``torch.cuda.stream(side)``, lrn.torch runs on ``side``: its input, written
    there behind a long kernel (NaN until then), is read only once written, and the
    backward runs there too."""
    _lrn_gpu_backend()
    x_host = _randn((4, 16, 24, 24), torch.float32, "side-stream")
    dy_host = _randn((4, 16, 24, 24), torch.float32, "side-stream-dy", scale=1.0)
    src, dy = x_host.cuda(), dy_host.cuda()
    x = _to_format(torch.full_like(src, float("nan")), fmt).requires_grad_()
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        _busy()
        with torch.no_grad():
            x.copy_(src)
        y = local_response_norm(x, *STREAM_ARGS)
        (dx,) = torch.autograd.grad(y, x, dy)
    side.synchronize()
    _check_against_reference(x_host, dy_host, y, dx, "side stream")


@cuda
@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
def test_cuda_graph_capture_and_replay(fmt):
    """``torch.cuda.graph`` captures forward and backward (after a warm-up on a side
    stream, as PyTorch's documentation does); replays on new data copied into the
    static input give exactly the eager results, and the reference's."""
    _lrn_gpu_backend()
    shape = (4, 16, 24, 24)
    static_x = _to_format(_randn(shape, torch.float32, "graph").cuda(), fmt).requires_grad_()
    static_dy = _to_format(_randn(shape, torch.float32, "graph-dy").cuda(), fmt)
    warm = torch.cuda.Stream()
    warm.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(warm):
        for _ in range(3):
            torch.autograd.grad(local_response_norm(static_x, *STREAM_ARGS), static_x, static_dy)
    torch.cuda.current_stream().wait_stream(warm)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = local_response_norm(static_x, *STREAM_ARGS)
        (static_dx,) = torch.autograd.grad(static_y, static_x, static_dy)
    for seed in ("replay 1", "replay 2"):
        x_host = _randn(shape, torch.float32, seed)
        dy_host = _randn(shape, torch.float32, seed, "dy", scale=1.0)
        with torch.no_grad():
            static_x.copy_(x_host.cuda())
            static_dy.copy_(dy_host.cuda())
        graph.replay()
        x = _to_format(x_host.cuda(), fmt).requires_grad_()
        y = local_response_norm(x, *STREAM_ARGS)
        (dx,) = torch.autograd.grad(y, x, _to_format(dy_host.cuda(), fmt))
        torch.cuda.synchronize()
        assert torch.equal(static_y, y) and torch.equal(static_dx, dx), seed
        _assert_format_kept(static_y, x)
        _check_against_reference(x_host, dy_host, static_y, static_dx, seed)


@cuda
def test_cuda_tensor_through_lrn_lrn_waits_for_its_stream():
    """``lrn.lrn`` on a CUDA tensor takes it by DLPack, whose producer (PyTorch) makes
    CuPy's current stream wait for PyTorch's current stream: a tensor written on a side
    stream behind a long kernel is read only once written."""
    _lrn_gpu_backend()
    import cupy

    x_host = _randn((4, 16, 24, 24), torch.float32, "dlpack-stream")
    src = x_host.cuda()
    x = torch.full_like(src, float("nan"))
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        _busy()
        x.copy_(src)
        y = lrn.lrn(x, 5, 0.9, 0.75, 1.25, convention="torch")
    assert isinstance(y, cupy.ndarray)
    cupy.cuda.get_current_stream().synchronize()
    _check_against_reference(x_host, None, torch.from_dlpack(y), None, "lrn.lrn(tensor)")


@pytest.mark.parametrize("fmt", ("contiguous", "channels_last"))
def test_cuda_view_is_the_tensors_memory(monkeypatch, fmt):
    """Without a GPU, on the CuPy stand-in (a CPU tensor's memory standing for device
    memory): the CuPy view built from the tensor's pointer has its values, channels last
    for NHWC, and writes reach the tensor (no copy); a storage offset is honoured."""
    import sys

    from .gpu_emu import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    base = _to_format(_randn((3, 2, 5, 4, 6), torch.float32, "view"), fmt)
    t = base[1:]   # a storage offset
    layout = "NCHW" if fmt == "contiguous" else "NHWC"
    v = lt._cuda_view(fake_cupy, t, layout)
    want = t.numpy() if layout == "NCHW" else t.permute(0, 2, 3, 4, 1).numpy()
    assert isinstance(v, fake_cupy.ndarray) and v.flags.c_contiguous
    np.testing.assert_array_equal(np.asarray(v), want)
    v[...] = 7
    assert bool((t == 7).all()) and not bool((base[0] == 7).any())


def test_on_torch_stream_picks_torch_stream(monkeypatch):
    """Without a GPU, on the CuPy stand-in: inside, CuPy's current stream is PyTorch's
    current stream of the tensor's device and an allocator is installed; both are
    restored after."""
    import sys

    from .gpu_emu import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    asked = []

    def current_stream(device=None):
        asked.append(device)
        return type("S", (), {"cuda_stream": 0x5150})()
    monkeypatch.setattr(torch.cuda, "current_stream", current_stream)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    null = fake_cupy.get_current_stream()
    for device in (torch.device("cuda", 0), torch.device("cuda")):
        with lt._on_torch_stream(device) as cp:
            assert cp is fake_cupy
            assert cp.get_current_stream().ptr == 0x5150
            assert callable(cp.current_allocator())
        assert fake_cupy.get_current_stream() is null and fake_cupy.current_allocator() is None
    assert asked == [0, 0]


# -- errors and edge cases ---------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match=r"Expected 3D or higher dimensionality input \(got 2"):
        local_response_norm(torch.ones(2, 3), 3)
    with pytest.raises(ValueError, match="`size` must be a positive integer, got 0"):
        local_response_norm(torch.ones(1, 3, 2), 0)
    with pytest.raises(TypeError, match="`size`"):
        local_response_norm(torch.ones(1, 3, 2), 2.5)
    with pytest.raises(ValueError, match="`alpha` must be a finite real number"):
        local_response_norm(torch.ones(1, 3, 2), 3, alpha=float("nan"))
    with pytest.raises(TypeError, match="`k` must be a real number"):
        local_response_norm(torch.ones(1, 3, 2), 3, k="1")
    with pytest.raises(TypeError, match="real tensor"):
        local_response_norm(torch.ones(1, 3, 2, dtype=torch.complex64), 3)
    with pytest.raises(TypeError, match="floating-point"):   # the operator itself
        torch.ops.lrn.forward(torch.ones(1, 3, 2, dtype=torch.int64), 3, 1e-4, 0.75, 1.0)


def test_empty_input_is_returned():
    x = torch.ones(0, 3, 4)
    assert local_response_norm(x, 3) is x     # as PyTorch
    assert F.local_response_norm(x, 3) is x


def test_thread_count_does_not_change_results():
    x = _randn((4, 16, 9, 9), torch.float32, "threads")
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        y1 = local_response_norm(x, 5, 1e-2)
        torch.set_num_threads(2)
        y2 = local_response_norm(x, 5, 1e-2)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(y1, y2)


def test_no_grad_and_inference_mode():
    x = _randn((2, 5, 3, 3), torch.float32, "nograd")
    with torch.no_grad():
        y = local_response_norm(x, 3)
    with torch.inference_mode():
        y2 = local_response_norm(x, 3)
    assert torch.equal(y, y2)
