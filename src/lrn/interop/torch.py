"""PyTorch interop: ``local_response_norm`` and ``LocalResponseNorm`` on the lrn kernels.

Drop-in replacements for :func:`torch.nn.functional.local_response_norm` and
:class:`torch.nn.LocalResponseNorm`: same signatures, defaults, window
(``pre = size // 2``, the ``"torch"`` convention: for even sizes the extra
channel is *before* ``c``), alpha divided by ``size`` (PyTorch averages over a
zero-padded window of ``size`` channels, also at the edges) and ``extra_repr``.
Differences: the backward pass is the lrn kernel (the exact mirrored-window
gradient, from the ``scale`` saved by the forward pass, one pass instead of
PyTorch's chain of elementwise and pooling ops), and float16/bfloat16 are
computed in float32.

How tensors reach the kernels:

* CPU, contiguous (``torch.contiguous_format``): the NCHW kernels read the
  tensor's memory through ``Tensor.numpy()`` and write the result tensor's
  memory (no copies);
* CPU, channels-last (``torch.channels_last``, ``torch.channels_last_3d``, or
  any tensor whose channel axis has stride 1 and the rest are packed, 3-D
  included): the NHWC kernels, result in the same memory format (no copies);
* other strides are made contiguous once; float16/bfloat16 go through a
  float32 copy;
* CUDA tensors: the lrn GPU kernels when the GPU backend is available
  (``lrn.show_config()``), launched on PyTorch's current stream
  (``torch.cuda.current_stream``) and writing tensors from PyTorch's caching
  allocator, so they are ordered with the PyTorch work around them inside
  ``torch.cuda.stream(...)`` and can be captured in a CUDA graph
  (``torch.cuda.graph``; warm up once first: the first call on a device
  compiles the kernels, which capture does not allow); otherwise an
  equivalent computation in PyTorch operations on the tensor's device (also
  used for every other device).

Both passes are ``torch.library`` custom operators (``torch.ops.lrn.forward``
returning ``(y, scale)`` and ``torch.ops.lrn.backward``) with fake
(meta) implementations and vmap rules, so ``torch.compile(fullgraph=True)``,
``torch.export`` and ``torch.jit.trace`` record them as single nodes and
``torch.jit.script`` calls them.  Every call goes through ``lrn::forward``, whose
autograd covers:

* first-order reverse mode (``.backward()``, ``torch.autograd.grad``): one
  ``torch.ops.lrn.backward`` call (the kernel) on the saved ``scale``;
* higher orders (``create_graph=True``, gradient penalties, ``gradgradcheck``,
  ``torch.func.hessian``): the gradient, when it is itself differentiated, is
  computed by the same formulas written in PyTorch operations (``scale``
  recomputed from ``x``), which autograd differentiates again;
* forward mode (``torch.autograd.forward_ad``, ``torch.func.jvp`` / ``jacfwd``)
  and ``torch.func.grad`` / ``jacrev``: those formulas, for the forward pass too;
* ``torch.func.vmap``: the vmapped dimension joins the batch dimension N (the
  kernels, one call).

``torch.ops.lrn.backward`` is differentiable too (with respect to its four tensor
inputs, taken as independent).  Integer and bool input follows PyTorch's dtype
rule: the result is in the default floating dtype (float32 unless changed with
``torch.set_default_dtype``), computed on the input converted to that dtype.
PyTorch itself accepts only int64 among them, and there averages the squares in
integer arithmetic (a truncated window mean), so its int64 values differ slightly
from ours, which equal its result on the same input converted to float.

The kernels use ``torch.get_num_threads()`` threads (results do not depend on it).
"""
import functools

import numpy as np

try:
    import torch
except ImportError as e:
    raise ImportError("lrn.torch needs PyTorch: pip install 'lrnorm[torch]' "
                      "(torch >= 2.4)") from e

from .. import _arrays, _gpu, _params
from .._api import lrn as _lrn
from .._api import lrn_backward as _lrn_backward

__all__ = ["local_response_norm", "LocalResponseNorm", "replace_modules"]

_LOW = (torch.float16, torch.bfloat16)
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _work_dtype(dtype):
    """The dtype the kernels compute (and ``scale`` is kept) in."""
    return torch.float32 if dtype in _LOW else dtype


def _to_last(ndim):
    """Permutation (N, C, *S) -> (N, *S, C)."""
    return (0, *range(2, ndim), 1)


def _to_first(ndim):
    """Permutation (N, *S, C) -> (N, C, *S)."""
    return (0, ndim - 1, *range(1, ndim - 1))


def _layout_of(t):
    """"NCHW" if ``t`` is contiguous, "NHWC" if channels-last packed, else None."""
    if t.is_contiguous():
        return "NCHW"
    if t.permute(_to_last(t.dim())).is_contiguous():
        return "NHWC"
    return None


def _in_layout(t, layout, dtype):
    """``t`` (detached) in ``dtype``, packed in ``layout``; copies only when needed."""
    t = t.detach()
    if t.dtype != dtype:
        t = t.to(dtype)
    if layout == "NCHW":
        return t.contiguous()
    return t.permute(_to_last(t.dim())).contiguous().permute(_to_first(t.dim()))


def _host(t, layout):
    """Zero-copy NumPy view of a packed CPU tensor, channels last for "NHWC"."""
    if layout == "NHWC":
        t = t.permute(_to_last(t.dim()))
    return t.detach().numpy()


@functools.lru_cache(maxsize=None)
def _gpu_available():
    """Whether lrn's GPU backend (CuPy and a device) is usable; asked once."""
    try:
        return _gpu.info() is not None
    except Exception:  # noqa: BLE001 - any failure means "no GPU backend"
        return False


# -- the computation on each kind of device ----------------------------------

def _forward_cpu(x, size, alpha, beta, k):
    work = _work_dtype(x.dtype)
    y = torch.empty_like(x)                   # x's memory format, as in the fake impl
    scale = torch.empty_like(x, dtype=work)   # same strides as y
    layout = _layout_of(y)
    if layout is None:                        # dense with other strides: rare
        layout = "NCHW"
        y_w, s_w = torch.empty(x.shape, dtype=work), torch.empty(x.shape, dtype=work)
    else:
        y_w = y if y.dtype == work else torch.empty_like(y, dtype=work)
        s_w = scale
    x_w = _in_layout(x, layout, work)
    _lrn(_host(x_w, layout), size, alpha, beta, k, layout=layout, convention="torch",
         out=(_host(y_w, layout), _host(s_w, layout)), return_scale=True,
         num_threads=torch.get_num_threads())
    if y_w is not y:
        y.copy_(y_w)
    if s_w is not scale:
        scale.copy_(s_w)
    return y, scale


def _backward_cpu(x, y, dy, scale, size, alpha, beta, k):
    work = scale.dtype
    dx = torch.empty_like(x)
    layout = _layout_of(dx)
    if layout is None:
        layout = "NCHW"
        dx_w = torch.empty(x.shape, dtype=work)
    else:
        dx_w = dx if dx.dtype == work else torch.empty_like(dx, dtype=work)
    xs, ys, dys, ss = (_host(_in_layout(t, layout, work), layout) for t in (x, y, dy, scale))
    _lrn_backward(xs, ys, dys, size, alpha, beta, k, scale=ss, layout=layout,
                  convention="torch", out=_host(dx_w, layout),
                  num_threads=torch.get_num_threads())
    if dx_w is not dx:
        dx.copy_(dx_w)
    return dx


def _problem(x, size, alpha, beta, k):
    """The checked problem for ``x`` in its compute dtype (float32 or float64)."""
    dtype = np.dtype(np.float64 if x.dtype == torch.float64 else np.float32)
    params = _params.make(size, alpha, beta, k, convention="torch")
    return params.resolve(dtype, x.dim(), backward=True)


def _forward_torch(x, size, alpha, beta, k):
    """The lrn formulas in PyTorch operations (any device)."""
    work = _work_dtype(x.dtype)
    xw = x.detach().to(work)
    y, scale = _arrays.forward(torch, xw, _problem(xw, size, alpha, beta, k))
    return y.to(x.dtype), scale


def _backward_torch(x, y, dy, scale, size, alpha, beta, k):
    work = scale.dtype
    xw, yw, dyw = (t.detach().to(work) for t in (x, y, dy))
    dx = _arrays.backward(torch, xw, yw, dyw, scale, _problem(xw, size, alpha, beta, k))
    return dx.to(x.dtype)


class _on_torch_stream:
    """CuPy work inside runs on the tensor's device, on PyTorch's current stream, and
    allocates through PyTorch's caching allocator.

    Why: the kernels must be ordered with the PyTorch work around them (a
    ``torch.cuda.stream(s)`` block, CUDA graph capture), so CuPy launches on
    ``cupy.cuda.ExternalStream`` of ``torch.cuda.current_stream(device)``.  Every
    CuPy allocation inside (scratch for long windows, any temporary) is a PyTorch
    tensor: the caching allocator orders its reuse on that stream, and during
    ``torch.cuda.graph`` capture it serves the graph's private pool, where CuPy's
    pool would call ``cudaMalloc`` (which capture forbids) and could hand the
    captured addresses to other work after capture.  The value of ``with`` is the
    ``cupy`` module.
    """

    def __init__(self, device):
        self.device = device
        self.stack = []

    def __enter__(self):
        import cupy

        index = self.device.index if self.device.index is not None else \
            torch.cuda.current_device()
        stream = torch.cuda.current_stream(index)
        for ctx in (cupy.cuda.Device(index), cupy.cuda.ExternalStream(stream.cuda_stream),
                    cupy.cuda.using_allocator(_torch_allocator(cupy, index))):
            ctx.__enter__()
            self.stack.append(ctx)
        return cupy

    def __exit__(self, *exc):
        while self.stack:
            self.stack.pop().__exit__(*exc)
        return False


def _torch_allocator(cupy, index):
    """A CuPy allocator (``cupy.cuda.using_allocator``) handing out the memory of
    uint8 PyTorch tensors on CUDA device ``index``; each buffer keeps its tensor
    alive."""
    device = torch.device("cuda", index)

    def allocate(nbytes):
        block = torch.empty(nbytes, dtype=torch.uint8, device=device)
        memory = cupy.cuda.UnownedMemory(block.data_ptr(), nbytes, block, index)
        return cupy.cuda.MemoryPointer(memory, 0)
    return allocate


def _cuda_view(cupy, t, layout):
    """A CuPy view of the packed CUDA tensor ``t``, channels last for "NHWC", made
    from its pointer (every tensor here is used on PyTorch's current stream, so there
    is no producer's stream to wait for; and nothing is asked of the driver, which
    graph capture could refuse); the view keeps ``t`` alive."""
    if layout == "NHWC":
        t = t.permute(_to_last(t.dim()))
    size = t.element_size()
    memory = cupy.cuda.UnownedMemory(t.data_ptr(), t.numel() * size, t, t.device.index)
    return cupy.ndarray(tuple(t.shape), str(t.dtype).removeprefix("torch."),
                        cupy.cuda.MemoryPointer(memory, 0),
                        strides=tuple(st * size for st in t.stride()))


def _like_x(t, x, dtype):
    """``t`` (packed like ``x`` when ``x`` is dense) as a tensor with the strides of
    ``torch.empty_like(x, dtype=dtype)``; copies only when those differ."""
    if t.dtype == dtype and t.stride() == x.stride():
        return t
    out = torch.empty_like(x, dtype=dtype)
    out.copy_(t)
    return out


def _forward_gpu(x, size, alpha, beta, k):
    """The lrn GPU kernels (CuPy), reading the CUDA tensor in place and writing
    tensors that PyTorch allocated, on PyTorch's current stream."""
    work = _work_dtype(x.dtype)
    layout = _layout_of(x) or "NCHW"
    x_w = _in_layout(x, layout, work)
    y, scale = torch.empty_like(x_w), torch.empty_like(x_w)   # x_w's strides (it is dense)
    with _on_torch_stream(x.device) as cupy:
        _lrn(_cuda_view(cupy, x_w, layout), size, alpha, beta, k, layout=layout,
             convention="torch", return_scale=True,
             out=(_cuda_view(cupy, y, layout), _cuda_view(cupy, scale, layout)))
    return _like_x(y, x, x.dtype), _like_x(scale, x, work)


def _backward_gpu(x, y, dy, scale, size, alpha, beta, k):
    work = scale.dtype
    layout = _layout_of(x) or "NCHW"
    packed = [_in_layout(t, layout, work) for t in (x, y, dy, scale)]
    dx = torch.empty_like(packed[0])
    with _on_torch_stream(x.device) as cupy:
        views = [_cuda_view(cupy, t, layout) for t in packed]
        _lrn_backward(views[0], views[1], views[2], size, alpha, beta, k, scale=views[3],
                      layout=layout, convention="torch", out=_cuda_view(cupy, dx, layout))
    return _like_x(dx, x, x.dtype)


# -- the custom operators ------------------------------------------------------

def _check_float(x):
    if x.dtype not in _FLOATS:
        raise TypeError(f"`input` must be a floating-point tensor (float16, bfloat16, "
                        f"float32 or float64), got {x.dtype}")


# Defined with the low-level torch.library API (not @custom_op, whose wrapper imports
# torch._dynamo on the first eager call: seconds).  One Python kernel serves every
# backend; meta/fake tensors use the fake implementations.
_LIB = torch.library.Library("lrn", "DEF")
_LIB.define("forward(Tensor x, int size, float alpha, float beta, float k) "
            "-> (Tensor, Tensor)")
_LIB.define("backward(Tensor x, Tensor y, Tensor dy, Tensor scale, int size, float alpha, "
            "float beta, float k) -> Tensor")


def _forward_impl(x, size, alpha, beta, k):
    """(y, scale) of LRN across dim 1 with PyTorch's window (pre = size // 2)."""
    _check_float(x)
    if x.numel() == 0:
        return torch.empty_like(x), torch.empty_like(x, dtype=_work_dtype(x.dtype))
    if x.device.type == "cpu":
        return _forward_cpu(x, size, alpha, beta, k)
    if x.device.type == "cuda" and _gpu_available():
        return _forward_gpu(x, size, alpha, beta, k)
    y, scale = _forward_torch(x, size, alpha, beta, k)
    out_y, out_s = torch.empty_like(x), torch.empty_like(x, dtype=scale.dtype)
    out_y.copy_(y)
    out_s.copy_(scale)
    return out_y, out_s


def _backward_impl(x, y, dy, scale, size, alpha, beta, k):
    """dx of ``lrn::forward`` (the mirrored-window true gradient)."""
    if x.numel() == 0:
        return torch.empty_like(x)
    if x.device.type == "cpu":
        return _backward_cpu(x, y, dy, scale, size, alpha, beta, k)
    if x.device.type == "cuda" and _gpu_available():
        return _backward_gpu(x, y, dy, scale, size, alpha, beta, k)
    dx = _backward_torch(x, y, dy, scale, size, alpha, beta, k)
    out = torch.empty_like(x)
    out.copy_(dx)
    return out


def _forward_fake(x, size, alpha, beta, k):
    return torch.empty_like(x), torch.empty_like(x, dtype=_work_dtype(x.dtype))


def _backward_fake(x, y, dy, scale, size, alpha, beta, k):
    return torch.empty_like(x)


_LIB.impl("forward", _forward_impl, "CompositeExplicitAutograd")
_LIB.impl("backward", _backward_impl, "CompositeExplicitAutograd")
torch.library.register_fake("lrn::forward", _forward_fake, lib=_LIB)
torch.library.register_fake("lrn::backward", _backward_fake, lib=_LIB)
_forward_op = torch.ops.lrn.forward.default
_backward_op = torch.ops.lrn.backward.default


# -- differentiable formulas (higher-order derivatives, forward mode, transforms) --
#
# The kernels above serve the first-order forward and backward passes.  Where a
# derivative must itself be differentiated (create_graph=True, torch.func.grad /
# jacrev / hessian) or pushed forward (forward-mode AD), the same formulas are
# written in out-of-place PyTorch operations, which autograd, forward AD and
# torch.func differentiate and batch like any other code (the forward-mode
# derivative is the one of the forward formula: ``dscale = 2 alpha / size W(x dx)``,
# ``dy = dx scale^-beta - beta y / scale dscale``).  float16/bfloat16 are
# computed in float32, as by the kernels.

def _window_sum(v, size, mirrored=False):
    """Zero-padded sum along dim 1 over PyTorch's window ``[c - size // 2,
    c + (size - 1) // 2]``, or the mirrored one ``[c - (size - 1) // 2, c + size // 2]``
    (its adjoint).  Out of place, so every autograd mode and transform applies."""
    channels = v.shape[1]
    before, after = size // 2, (size - 1) // 2
    if mirrored:
        before, after = after, before
    before, after = min(before, channels), min(after, channels)
    if before == 0 and after == 0:
        return v
    moved = v.movedim(1, -1)
    padded = torch.nn.functional.pad(moved, (before, after))
    out = padded.narrow(-1, 0, channels)
    for d in range(1, before + after + 1):
        out = out + padded.narrow(-1, d, channels)
    return out.movedim(-1, 1)


def _formula_forward(x, size, alpha, beta, k):
    """``(y, scale)`` in PyTorch operations, in the compute dtype."""
    xw = x.to(_work_dtype(x.dtype))
    scale = k + (alpha / size) * _window_sum(xw * xw, size)
    return xw * scale.pow(-beta), scale


def _formula_backward(x, dy, size, alpha, beta, k):
    """``dx`` as a differentiable function of ``x`` and ``dy`` (scale recomputed)."""
    y, scale = _formula_forward(x, size, alpha, beta, k)
    dyw = dy.to(scale.dtype)
    t = _window_sum(dyw * y / scale, size, mirrored=True)
    xw = x.to(scale.dtype)
    return (dyw * scale.pow(-beta) - (2.0 * alpha * beta / size) * xw * t).to(x.dtype)


def _input_grad(x, y, dy, scale, params):
    """dx for autograd: the kernel when the gradient is not itself differentiated
    (grad mode off in the backward pass: the common ``.backward()``), else the
    differentiable formula (``create_graph=True``, torch.func transforms)."""
    if torch.is_grad_enabled():
        return _formula_backward(x, dy, *params)
    return _backward_op(x, y, dy, scale, *params)


# -- autograd and vmap of the operators ------------------------------------------

def _op_setup_context(ctx, inputs, output):
    x, size, alpha, beta, k = inputs
    y, scale = output
    ctx.mark_non_differentiable(scale)
    ctx.save_for_backward(x, y, scale)
    ctx.params = (size, alpha, beta, k)


def _op_backward(ctx, dy, dscale):
    x, y, scale = ctx.saved_tensors
    dx = None
    if ctx.needs_input_grad[0]:
        dx = _input_grad(x, y, dy, scale, ctx.params)
    return dx, None, None, None, None


def _bwd_setup_context(ctx, inputs, output):
    x, y, dy, scale, size, alpha, beta, k = inputs
    ctx.save_for_backward(x, y, dy, scale)
    ctx.params = (size, alpha, beta, k)


def _bwd_backward(ctx, g):
    """Derivatives of ``lrn::backward`` with respect to its four tensor inputs,
    taken as independent: ``dx = dy s^-b - c x M(dy y / s)`` (``c = 2 alpha beta /
    size``, ``M`` the mirrored window sum, whose adjoint is the window sum ``W``).
    Written in PyTorch operations, so they are differentiable again."""
    x, y, dy, scale = ctx.saved_tensors
    size, alpha, beta, k = ctx.params
    work = scale.dtype
    xw, yw, dyw, gw = (t.to(work) for t in (x, y, dy, g))
    c = 2.0 * alpha * beta / size
    wgx = _window_sum(gw * xw, size)                    # W(g x)
    s_b = scale.pow(-beta)
    need = ctx.needs_input_grad
    gx = gy = gdy = gs = None
    if need[0]:
        gx = (-c * gw * _window_sum(dyw * yw / scale, size, mirrored=True)).to(x.dtype)
    if need[1]:
        gy = (-c * dyw / scale * wgx).to(y.dtype)
    if need[2]:
        gdy = (gw * s_b - c * yw / scale * wgx).to(dy.dtype)
    if need[3]:
        gs = -beta * gw * dyw * s_b / scale + c * dyw * yw / (scale * scale) * wgx
    return gx, gy, gdy, gs, None, None, None, None


def _formula_needed(x):
    """Whether a call of ``lrn::forward`` must be differentiated in a mode that the
    registered (first-order, reverse-mode) autograd formula cannot serve: a
    forward-mode tangent on ``x`` (torch.autograd.forward_ad), or a torch.func
    grad/jvp level (torch.func runs only autograd.Functions with setup_context)."""
    if torch._C._are_functorch_transforms_active():
        level = torch._C._functorch.peek_interpreter_stack()
        if level is not None and level.key() in (torch._C._functorch.TransformType.Grad,
                                                 torch._C._functorch.TransformType.Jvp):
            return True
    return torch.autograd.forward_ad.unpack_dual(x).tangent is not None


def _register_forward_autograd():
    """The Autograd kernel of ``lrn::forward``: ``register_autograd``'s (the
    kernels, first-order reverse mode; what torch.compile and torch.export trace)
    unless :func:`_formula_needed`, where the operator is computed by the
    differentiable formulas instead (``register_autograd`` alone drops a
    forward-mode tangent silently and fails under torch.func.grad).  Every call
    reaches it: :func:`local_response_norm`, TorchScript, direct operator calls."""
    try:
        from torch._library import autograd as _lib_autograd
        generated = _lib_autograd.make_autograd_impl(
            _forward_op, _lib_autograd.Info(_op_backward, _op_setup_context))
    except (ImportError, AttributeError, TypeError):   # another torch: the plain registration
        torch.library.register_autograd("lrn::forward", _op_backward,
                                        setup_context=_op_setup_context, lib=_LIB)
        return

    def autograd_kernel(keyset, x, size, alpha, beta, k):
        if _formula_needed(x):
            y, scale = _formula_forward(x, size, alpha, beta, k)
            return y.to(x.dtype), scale.detach()
        return generated(keyset, x, size, alpha, beta, k)

    _LIB.impl("forward", autograd_kernel, "Autograd", with_keyset=True)


_register_forward_autograd()
torch.library.register_autograd("lrn::backward", _bwd_backward,
                                setup_context=_bwd_setup_context, lib=_LIB)


def _merge_batch(t, bdim, batch):
    """(B, N, C, *S) with the vmapped dim ``bdim`` first (expanded if None) -> (B*N, C, *S)."""
    t = t.movedim(bdim, 0) if bdim is not None else t.unsqueeze(0).expand(batch, *t.shape)
    return t.reshape(batch * t.shape[1], *t.shape[2:])


def _split_batch(t, batch, n):
    return t.reshape(batch, n, *t.shape[1:])


def _forward_vmap(info, in_dims, x, size, alpha, beta, k):
    """LRN acts on each sample: the vmapped dim joins the batch dim N."""
    bdim = in_dims[0]
    if bdim is None:
        return _forward_op(x, size, alpha, beta, k), (None, None)
    n = x.shape[1 if bdim == 0 else 0]
    y, scale = _forward_op(_merge_batch(x, bdim, info.batch_size), size, alpha, beta, k)
    return (_split_batch(y, info.batch_size, n), _split_batch(scale, info.batch_size, n)), (0, 0)


def _backward_vmap(info, in_dims, x, y, dy, scale, size, alpha, beta, k):
    tensors = (x, y, dy, scale)
    if all(d is None for d in in_dims[:4]):
        return _backward_op(x, y, dy, scale, size, alpha, beta, k), None
    n = x.shape[1 if in_dims[0] == 0 else 0] if in_dims[0] is not None else x.shape[0]
    merged = [_merge_batch(t, d, info.batch_size) for t, d in zip(tensors, in_dims[:4])]
    dx = _backward_op(*merged, size, alpha, beta, k)
    return _split_batch(dx, info.batch_size, n), 0


torch.library.register_vmap("lrn::forward", _forward_vmap, lib=_LIB)
torch.library.register_vmap("lrn::backward", _backward_vmap, lib=_LIB)


# -- the public functions --------------------------------------------------------

def local_response_norm(input: torch.Tensor, size: int, alpha: float = 1e-4,
                        beta: float = 0.75, k: float = 1.0) -> torch.Tensor:
    """Local response normalization across channels, as
    :func:`torch.nn.functional.local_response_norm`, on the lrn kernels.

    ``b[c] = a[c] * (k + alpha / size * sum(a[c']**2 for c' in
    [c - size // 2, c + (size - 1) // 2])) ** -beta``, zero padded at the
    channel edges (alpha is divided by ``size`` there too).

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C, *)`` with at least one spatial axis (3-D or more); float16,
        bfloat16 (computed in float32), float32 or float64; integer or bool
        input gives a result in the default floating dtype (PyTorch's rule);
        any device, any memory format (``channels_last`` input gives
        ``channels_last`` output).
    size : int
        Number of neighbouring channels in the window (>= 1, may exceed C).
    alpha, beta, k : float
        Multiplicative factor (divided by ``size``), exponent, additive factor.

    Returns
    -------
    torch.Tensor
        Same shape, dtype (floating input), device and memory format as
        ``input``; differentiable with respect to ``input`` to any order, in
        reverse and forward mode and under ``torch.func`` transforms.

    Raises
    ------
    ValueError
        For fewer than 3 dimensions (as PyTorch) or a bad parameter.
    TypeError
        For a complex tensor.

    Examples
    --------
    >>> import torch
    >>> from lrn.torch import local_response_norm
    >>> x = torch.randn(2, 8, 5, 5)
    >>> y = local_response_norm(x, 5, alpha=1e-3)
    >>> ref = torch.nn.functional.local_response_norm(x, 5, alpha=1e-3)
    >>> torch.allclose(y, ref, rtol=1e-5, atol=1e-6)
    True
    """
    if torch.jit.is_scripting():
        # TorchScript: the operator itself (its autograd is the registered one)
        if input.dim() < 3:
            raise ValueError("Expected 3D or higher dimensionality input")
        if input.numel() == 0:
            return input
        if not input.is_floating_point():
            input = input * 1.0               # the default floating dtype, as eager
        return torch.ops.lrn.forward(input, size, alpha, beta, k)[0]
    return _local_response_norm(input, size, alpha, beta, k)


@torch.jit.unused
def _local_response_norm(input, size, alpha, beta, k):
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if not torch.jit.is_tracing() and input.numel() == 0:   # (the operator handles it too)
        return input
    input = _promote(input)
    size, alpha, beta, k = _check_params(size, alpha, beta, k)
    return _forward_op(input, size, alpha, beta, k)[0]


def _check_params(size, alpha, beta, k):
    if torch.compiler.is_compiling():
        # traced values may be symbolic; the operator checks the concrete ones
        return size, alpha, beta, k
    return (_params.check_size(size, maximum=_params.INT64_MAX),   # the operator's int
            _params.check_real(alpha, "alpha"),
            _params.check_real(beta, "beta"), _params.check_real(k, "k"))


def _promote(input):
    """PyTorch's dtype rule: integer (and bool) input gives a result in the default
    floating dtype (``F.local_response_norm`` on int64 returns float32)."""
    if input.is_floating_point():
        return input
    if input.is_complex():
        raise TypeError(f"`input` must be a real tensor, got {input.dtype}")
    return input.to(torch.get_default_dtype())


class LocalResponseNorm(torch.nn.LocalResponseNorm):
    """:class:`torch.nn.LocalResponseNorm` computed by :func:`local_response_norm`.

    A subclass of PyTorch's module with the same constructor
    ``(size, alpha=1e-4, beta=0.75, k=1.0)``, attributes, ``extra_repr`` and
    (empty) state dict, so it can replace it in any model; see
    :func:`replace_modules`.

    Examples
    --------
    >>> import torch
    >>> from lrn.torch import LocalResponseNorm
    >>> m = LocalResponseNorm(5, alpha=1e-3)
    >>> m
    LocalResponseNorm(5, alpha=0.001, beta=0.75, k=1.0)
    >>> m(torch.randn(2, 8, 4, 4)).shape
    torch.Size([2, 8, 4, 4])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)


def replace_modules(module):
    """Replace every :class:`torch.nn.LocalResponseNorm` in ``module`` (in place).

    Parameters
    ----------
    module : torch.nn.Module
        A model; its ``nn.LocalResponseNorm`` submodules (not already
        :class:`LocalResponseNorm`) become :class:`LocalResponseNorm` with the
        same parameters.  A bare ``nn.LocalResponseNorm`` is returned converted.

    Returns
    -------
    torch.nn.Module
        ``module`` (or its replacement when ``module`` itself was one).

    Examples
    --------
    >>> import torch
    >>> from lrn.torch import LocalResponseNorm, replace_modules
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.LocalResponseNorm(5))
    >>> type(replace_modules(net)[1]) is LocalResponseNorm
    True
    """
    def convert(m):
        new = LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
        new.train(m.training)
        return new

    def is_plain(m):
        return isinstance(m, torch.nn.LocalResponseNorm) and not isinstance(m, LocalResponseNorm)

    if is_plain(module):
        return convert(module)
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if is_plain(child):
                setattr(parent, name, convert(child))
    return module
