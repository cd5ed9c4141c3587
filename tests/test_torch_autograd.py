"""lrn.torch beyond first-order reverse mode, checked against PyTorch's own
``F.local_response_norm`` in float64: double backward (gradgradcheck and the
second derivatives themselves), forward-mode AD (torch.func.jvp and
torch.autograd.forward_ad), torch.func (vmap, grad, jacrev, jacfwd, hessian),
TorchScript (script and trace) and PyTorch's dtype rule for integer input.

lrn.torch has one window convention, PyTorch's (``pre = size // 2``); odd and
even sizes (where the "torch" and "onnx" conventions differ) are both covered.
"""
import io

import pytest

torch = pytest.importorskip("torch")
import torch.autograd.forward_ad as fwAD  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import lrn.torch as lt  # noqa: E402
from lrn.torch import LocalResponseNorm, local_response_norm  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

SHAPES = {3: (2, 5, 4), 4: (2, 5, 3, 2), 5: (1, 5, 2, 2, 2)}
SIZES = (1, 2, 3, 4, 5, 6, 8)          # 8 > C = 5
FORMATS = ("contiguous", "channels_last")
GRID = [(nd, size, fmt) for nd in (3, 4, 5) for size in SIZES for fmt in FORMATS
        if nd == 4 or size in (3, 4)]
ID = "{0}d-size{1}-{2}".format


def _params(size):
    return 0.9, (0.75 if size % 2 else 0.6), 1.25


def _randn(shape, *parts, dtype=torch.float64):
    g = torch.Generator().manual_seed(sum(map(ord, repr((shape,) + parts))))
    return torch.randn(shape, generator=g, dtype=torch.float64).mul(1.5).to(dtype)


def _to_format(x, fmt):
    if fmt == "contiguous":
        return x.contiguous()
    nd = x.dim()
    return x.permute(0, *range(2, nd), 1).contiguous().permute(0, nd - 1, *range(1, nd - 1))


def _fns(size):
    a, b, k = _params(size)
    return (lambda t: local_response_norm(t, size, a, b, k),
            lambda t: F.local_response_norm(t, size, a, b, k))


def _max_diff(a, b):
    return float((a.detach().double() - b.detach().double()).abs().max())


def _assert_close(a, b, rtol=1e-10, atol=1e-13):
    torch.testing.assert_close(a.detach(), b.detach(), rtol=rtol, atol=atol)


# -- second derivatives -------------------------------------------------------------

@pytest.mark.parametrize("nd,size,fmt", GRID, ids=[ID(*g) for g in GRID])
def test_gradgradcheck(nd, size, fmt):
    ours, _ = _fns(size)
    x = _to_format(_randn(SHAPES[nd], "ggc", size), fmt).requires_grad_()
    assert torch.autograd.gradgradcheck(ours, (x,), eps=1e-6, atol=1e-7,
                                        check_fwd_over_rev=True, check_batched_grad=True)


@pytest.mark.parametrize("nd,size,fmt", GRID, ids=[ID(*g) for g in GRID])
def test_double_backward_matches_pytorch(nd, size, fmt):
    ours, theirs = _fns(size)
    x = _to_format(_randn(SHAPES[nd], "dbl", size), fmt)
    dy = _randn(SHAPES[nd], "dbl-dy", size)
    v = _randn(SHAPES[nd], "dbl-v", size)
    results = []
    for f in (ours, theirs):
        xr = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
        dyr = dy.clone().requires_grad_()
        (g,) = torch.autograd.grad(f(xr), xr, dyr, create_graph=True)
        # second derivatives with respect to x and to the incoming gradient
        d2x, d2dy = torch.autograd.grad(g, (xr, dyr), v)
        # a gradient penalty, backward()
        xr.grad = None
        (gp,) = torch.autograd.grad(f(xr).pow(2).sum(), xr, create_graph=True)
        gp.pow(2).sum().backward()
        results.append((g, d2x, d2dy, xr.grad))
    for a, b in zip(*results):
        _assert_close(a, b)


def test_third_derivative():
    ours, theirs = _fns(4)
    x = _randn((1, 5, 3), "third")
    f3 = [torch.func.jacfwd(torch.func.hessian(lambda t, f=f: f(t).sin().sum()))(x)
          for f in (ours, theirs)]
    _assert_close(*f3, rtol=1e-9, atol=1e-12)


def test_first_order_backward_stays_on_the_kernel(monkeypatch):
    calls = []
    real = lt._formula_backward
    monkeypatch.setattr(lt, "_formula_backward", lambda *a: calls.append(1) or real(*a))
    x = _randn((2, 5, 4, 4), "kernel").requires_grad_()
    local_response_norm(x, 3, 0.5).sum().backward()
    assert calls == []                        # .backward(): the lrn kernel
    (g,) = torch.autograd.grad(local_response_norm(x, 3, 0.5).sum(), x, create_graph=True)
    assert calls == [1] and g.requires_grad   # create_graph=True: the formula


@pytest.mark.parametrize("size", (3, 4))
def test_backward_operator_is_differentiable(size):
    # lrn::backward as a function of its four tensor inputs, taken independently
    a, b, k = _params(size)
    x = _randn((2, 5, 3), "bop-x", size).requires_grad_()
    y = _randn((2, 5, 3), "bop-y", size).requires_grad_()
    dy = _randn((2, 5, 3), "bop-dy", size).requires_grad_()
    scale = (1.0 + _randn((2, 5, 3), "bop-s", size).abs()).requires_grad_()
    op = lambda *t: torch.ops.lrn.backward(*t, size, a, b, k)  # noqa: E731
    assert torch.autograd.gradcheck(op, (x, y, dy, scale), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(op, (x, y, dy, scale), eps=1e-6, atol=1e-7)


# -- forward mode -------------------------------------------------------------------

@pytest.mark.parametrize("nd,size,fmt", GRID, ids=[ID(*g) for g in GRID])
def test_jvp_matches_pytorch(nd, size, fmt):
    ours, theirs = _fns(size)
    x = _to_format(_randn(SHAPES[nd], "jvp", size), fmt)
    t = _to_format(_randn(SHAPES[nd], "jvp-t", size), fmt)
    (y, jt), (y_ref, jt_ref) = (torch.func.jvp(f, (x,), (t,)) for f in (ours, theirs))
    _assert_close(y, y_ref, rtol=1e-12)
    _assert_close(jt, jt_ref)
    with fwAD.dual_level():
        dual = [fwAD.unpack_dual(f(fwAD.make_dual(x, t))) for f in (ours, theirs)]
    _assert_close(dual[0].primal, dual[1].primal, rtol=1e-12)
    _assert_close(dual[0].tangent, dual[1].tangent)
    assert dual[0].tangent.shape == x.shape


@pytest.mark.parametrize("size", (2, 5))
@pytest.mark.parametrize("fmt", FORMATS)
def test_gradcheck_all_modes(size, fmt):
    ours, _ = _fns(size)
    x = _to_format(_randn((2, 5, 3, 2), "modes", size), fmt).requires_grad_()
    assert torch.autograd.gradcheck(ours, (x,), eps=1e-6, atol=1e-7, check_forward_ad=True,
                                    check_backward_ad=True, check_batched_grad=True,
                                    check_batched_forward_grad=True)


def test_reverse_over_forward():
    # the tangent is differentiable (a gradient of a jvp)
    ours, theirs = _fns(4)
    x = _randn((2, 5, 3), "rof")
    t = _randn((2, 5, 3), "rof-t")
    grads = []
    for f in (ours, theirs):
        xr = x.clone().requires_grad_()
        with fwAD.dual_level():
            tangent = fwAD.unpack_dual(f(fwAD.make_dual(xr, t))).tangent
        grads.append(torch.autograd.grad(tangent.pow(2).sum(), xr)[0])
    _assert_close(*grads)


# -- torch.func -----------------------------------------------------------------------

@pytest.mark.parametrize("size", (3, 4))
def test_vmap(size):
    ours, theirs = _fns(size)
    xb = _randn((3, 2, 5, 4, 2), "vmap", size)            # vmapped dim first
    _assert_close(torch.func.vmap(ours)(xb), torch.func.vmap(theirs)(xb), rtol=1e-12)
    xm = xb.movedim(0, 2)                                  # vmapped dim in the middle
    _assert_close(torch.func.vmap(ours, in_dims=2, out_dims=1)(xm),
                  torch.func.vmap(theirs, in_dims=2, out_dims=1)(xm), rtol=1e-12)
    xl = xb.movedim(0, -1).contiguous()                    # last, channels_last per sample
    _assert_close(torch.func.vmap(ours, in_dims=-1)(xl), torch.func.vmap(theirs, in_dims=-1)(xl),
                  rtol=1e-12)
    nested = [torch.func.vmap(torch.func.vmap(f))(xb.reshape(3, 2, 1, 5, 4, 2)) for f in (ours, theirs)]
    _assert_close(*nested, rtol=1e-12)


def test_vmap_of_the_operators():
    x = _randn((3, 2, 5, 4), "vop")
    y, s = torch.func.vmap(lambda t: torch.ops.lrn.forward(t, 4, 0.9, 0.6, 1.25))(x)
    for i in range(3):
        yi, si = torch.ops.lrn.forward(x[i], 4, 0.9, 0.6, 1.25)
        _assert_close(y[i], yi, rtol=1e-14)
        _assert_close(s[i], si, rtol=1e-14)
    dy = _randn((3, 2, 5, 4), "vop-dy")
    # dy batched, x / y / scale of the first sample shared (not batched)
    y0, s0 = torch.ops.lrn.forward(x[0], 4, 0.9, 0.6, 1.25)
    dx = torch.func.vmap(lambda d: torch.ops.lrn.backward(x[0], y0, d, s0, 4, 0.9, 0.6, 1.25))(dy)
    for i in range(3):
        _assert_close(dx[i], torch.ops.lrn.backward(x[0], y0, dy[i], s0, 4, 0.9, 0.6, 1.25),
                      rtol=1e-14)


@pytest.mark.parametrize("size", (3, 4))
@pytest.mark.parametrize("direct", (False, True), ids=("function", "operator"))
def test_func_transforms(size, direct):
    ours, theirs = _fns(size)
    if direct:                                  # torch.ops.lrn.forward called directly
        a, b, k = _params(size)
        ours = lambda t: torch.ops.lrn.forward(t, size, a, b, k)[0]  # noqa: E731
    x = _randn((2, 5, 3), "func", size)
    scalar = [lambda t, f=f: f(t).sin().sum() for f in (ours, theirs)]
    _assert_close(*(torch.func.grad(s)(x) for s in scalar))
    _assert_close(*(torch.func.jacrev(f)(x) for f in (ours, theirs)))
    _assert_close(*(torch.func.jacfwd(f)(x) for f in (ours, theirs)))
    _assert_close(*(torch.func.hessian(s)(x) for s in scalar))
    t = _randn((2, 5, 3), "func-t", size)
    _assert_close(*(torch.func.jvp(f, (x,), (t,))[1] for f in (ours, theirs)))
    with fwAD.dual_level():
        tangents = [fwAD.unpack_dual(f(fwAD.make_dual(x, t))).tangent for f in (ours, theirs)]
    assert tangents[0] is not None
    _assert_close(*tangents)
    xr = x.clone().requires_grad_()
    assert torch.autograd.gradgradcheck(ours, (xr,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16, torch.float16),
                         ids=lambda d: str(d).replace("torch.", ""))
def test_low_precision_second_order_and_jvp(dtype):
    # computed in float32 (as the kernels): close to PyTorch's float32 result
    x = _randn((2, 6, 3, 3), "half", dtype=dtype)
    t = _randn((2, 6, 3, 3), "half-t", dtype=dtype)
    f = lambda u: local_response_norm(u, 4, 0.9, 0.6, 1.25)  # noqa: E731
    ref = lambda u: F.local_response_norm(u, 4, 0.9, 0.6, 1.25)  # noqa: E731
    tol = {torch.float32: 1e-5, torch.bfloat16: 3e-2, torch.float16: 4e-3}[dtype]
    _, jt = torch.func.jvp(f, (x,), (t,))
    _, jt_ref = torch.func.jvp(ref, (x.float(),), (t.float(),))
    assert jt.dtype == dtype
    _assert_close(jt.float(), jt_ref, rtol=tol, atol=tol)
    hv = []
    for fn, xin in ((f, x), (ref, x.float())):
        xr = xin.clone().requires_grad_()
        (g,) = torch.autograd.grad(fn(xr).pow(2).sum(), xr, create_graph=True)
        hv.append(torch.autograd.grad(g.sum(), xr)[0])
    assert hv[0].dtype == dtype
    _assert_close(hv[0].float(), hv[1], rtol=4 * tol, atol=4 * tol)


# -- TorchScript ------------------------------------------------------------------------

def _net(norm):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), norm(4, alpha=0.5, beta=0.75, k=2.0),
                         nn.ReLU(), nn.Conv2d(8, 6, 3), norm(5, alpha=0.2))


def _check_like_eager(module, eager, x):
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    y, y_eager = module(xa), eager(xb)
    torch.testing.assert_close(y, y_eager, rtol=1e-6, atol=1e-6)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    (y_eager * dy).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-6)
    reference = _net(nn.LocalResponseNorm)
    torch.testing.assert_close(y, reference(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_jit_script_and_trace_module(fmt):
    eager = _net(LocalResponseNorm)
    x = _to_format(_randn((2, 3, 7, 7), "jit", dtype=torch.float32), fmt)
    scripted = torch.jit.script(eager)
    assert "lrn::forward" in str(scripted.inlined_graph)
    _check_like_eager(scripted, eager, x)
    traced = torch.jit.trace(eager, x)
    assert "lrn::forward" in str(traced.inlined_graph)
    _check_like_eager(traced, eager, x)
    for m in (scripted, traced):                # saved and loaded (lrn imported)
        buf = io.BytesIO()
        torch.jit.save(m, buf)
        buf.seek(0)
        _check_like_eager(torch.jit.load(buf), eager, x)


def test_jit_script_function():
    @torch.jit.script
    def fn(t: torch.Tensor) -> torch.Tensor:
        return local_response_norm(t, 4, 0.9, 0.6, 1.25) * 2.0

    x = _randn((2, 5, 3, 3), "script-fn").requires_grad_()
    xt = x.detach().clone().requires_grad_()
    y, y_ref = fn(x), F.local_response_norm(xt, 4, 0.9, 0.6, 1.25) * 2.0
    _assert_close(y, y_ref, rtol=1e-12)
    # the operator's own autograd, including the second derivative
    (g,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    (g_ref,) = torch.autograd.grad(y_ref.pow(2).sum(), xt, create_graph=True)
    _assert_close(g, g_ref)
    _assert_close(torch.autograd.grad(g.sum(), x)[0], torch.autograd.grad(g_ref.sum(), xt)[0])
    with pytest.raises(Exception, match="Expected 3D or higher"):
        fn(torch.ones(2, 3))
    xi = torch.randint(-4, 5, (1, 4, 3))
    assert fn(xi).dtype == torch.float32
    _assert_close(fn(xi), F.local_response_norm(xi.float(), 4, 0.9, 0.6, 1.25) * 2.0,
                  rtol=1e-6, atol=1e-7)


# -- dtypes -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", (torch.int64, torch.int32, torch.int16, torch.uint8,
                                   torch.bool), ids=lambda d: str(d).replace("torch.", ""))
def test_integer_input(dtype):
    x = torch.randint(0 if dtype in (torch.uint8, torch.bool) else -6, 2 if dtype is torch.bool
                      else 7, (2, 5, 3, 3), generator=torch.Generator().manual_seed(3)).to(dtype)
    y = local_response_norm(x, 3, 0.5)
    assert y.dtype == torch.float32           # the default dtype
    _assert_close(y, F.local_response_norm(x.float(), 3, 0.5), rtol=1e-6, atol=1e-7)
    if dtype is torch.int64:                  # PyTorch accepts int64 (only): same dtype
        assert F.local_response_norm(x, 3, 0.5).dtype == y.dtype
    assert LocalResponseNorm(3, 0.5)(x).dtype == torch.float32
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        y64 = local_response_norm(x, 3, 0.5)
        assert y64.dtype == torch.float64
        if dtype is torch.int64:
            assert F.local_response_norm(x, 3, 0.5).dtype == torch.float64
        _assert_close(y64, F.local_response_norm(x.double(), 3, 0.5), rtol=1e-12)
    finally:
        torch.set_default_dtype(old)


def test_compile_still_traces_the_operator():
    # the eager path is an autograd.Function with a custom jvp, which dynamo does not
    # trace: under torch.compile the operator is called directly
    seen = []

    def backend(gm, inputs):
        seen.append(gm.code)
        return gm.forward

    fn = torch.compile(lambda t: local_response_norm(t, 4, 0.5), backend=backend, fullgraph=True)
    x = _randn((2, 6, 3, 3), "compile", dtype=torch.float32)
    torch.testing.assert_close(fn(x), F.local_response_norm(x, 4, 0.5), rtol=1e-5, atol=1e-6)
    assert any("lrn.forward" in code for code in seen)
