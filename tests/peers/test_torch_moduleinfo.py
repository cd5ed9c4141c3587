"""PyTorch's ModuleInfo for ``torch.nn.LocalResponseNorm``, ported to
``lrn.torch.LocalResponseNorm``.

Ported from pytorch/pytorch as shipped in torch 2.13.0 (git cf30153c4c13):
``torch/testing/_internal/common_modules.py``
(``module_inputs_torch_nn_LocalResponseNorm``: the three constructor / forward
inputs below, verbatim; the ``ModuleInfo(torch.nn.LocalResponseNorm, ...)``
entry: default dtypes float32 and float64, train and eval modes, no skips) and
the generic checks of ``test/test_modules.py`` (``TestModule``: test_forward,
test_repr, test_pickle, test_non_contiguous_tensors, test_grad, test_gradgrad,
test_memory_format, test_if_train_and_eval_modes_differ), read at commit
33263640046f.  TestModule compares with ``assertEqual`` at the dtype's default
tolerances raised to ``precision = rel_tol = 1e-5``; so does ``_assert_equal``.

Each module output is also compared with PyTorch's own ``torch.nn.LocalResponseNorm``
built from the same constructor input.
"""
import io
import zlib

import pytest

torch = pytest.importorskip("torch")
from torch.autograd import gradcheck, gradgradcheck  # noqa: E402
from torch.testing import make_tensor  # noqa: E402

from lrn.torch import LocalResponseNorm  # noqa: E402

# module_inputs_torch_nn_LocalResponseNorm: (constructor args, forward input shape, desc)
INPUTS = (
    ((3,), (1, 5, 7), "1d"),
    ((2,), (1, 5, 7, 7), "2d_uneven_pad"),
    ((1, 1., 0.5, 2.), (1, 5, 7, 7, 7), "3d_custom_params"),
)
IDS = [desc for _, _, desc in INPUTS]
DTYPES = (torch.float32, torch.float64)
MODES = pytest.mark.parametrize("training", (True, False), ids=("train", "eval"))


def _dtype_id(dtype):
    return str(dtype).replace("torch.", "")


def _input(j, dtype, requires_grad=False, *parts):
    shape = INPUTS[j][1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(zlib.crc32(repr((shape, str(dtype)) + parts).encode()))
        return make_tensor(shape, dtype=dtype, device="cpu", requires_grad=requires_grad)


def _module(j, dtype, training, cls=LocalResponseNorm):
    m = cls(*INPUTS[j][0])
    m.to(dtype)
    m.train(training)
    return m


def _assert_equal(actual, expected, **kw):
    """TestModule.assertEqual: the dtype's assert_close tolerances, at least 1e-5."""
    dtype = expected.dtype
    rtol, atol = {torch.float32: (1.3e-6, 1e-5), torch.float64: (1e-7, 1e-7)}[dtype]
    kw.setdefault("rtol", max(rtol, 1e-5))
    kw.setdefault("atol", max(atol, 1e-5))
    torch.testing.assert_close(actual, expected, **kw)


@MODES
@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
def test_forward(dtype, j, training):
    """The forward pass in both modes, against torch.nn.LocalResponseNorm, and
    ``.float()`` / ``.double()`` keep it working."""
    x = _input(j, dtype)
    m = _module(j, dtype, training)
    y = m(x)
    assert y.dtype == dtype and y.shape == x.shape
    _assert_equal(y, _module(j, dtype, training, torch.nn.LocalResponseNorm)(x))
    (m.float() if dtype == torch.float32 else m.double())(x)
    assert list(m.parameters()) == [] and list(m.buffers()) == []


@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
def test_repr(j):
    m = _module(j, torch.float32, True)
    assert repr(m) == repr(_module(j, torch.float32, True, torch.nn.LocalResponseNorm))
    assert str(m) == repr(m)


@MODES
@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
def test_pickle(dtype, j, training):
    x = _input(j, dtype)
    m = _module(j, dtype, training)
    buffer = io.BytesIO()
    torch.save(m, buffer)
    buffer.seek(0)
    copy = torch.load(buffer, weights_only=False)
    assert type(copy) is LocalResponseNorm
    _assert_equal(copy(x), m(x))


def _make_non_contiguous(t):
    """TestModule's: the same values at stride 2 along the last dimension."""
    out = torch.repeat_interleave(t, 2, dim=-1)[..., ::2].detach()
    out.requires_grad = t.requires_grad
    return out


@MODES
@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
def test_non_contiguous_tensors(dtype, j, training):
    x = _input(j, dtype, True)
    m = _module(j, dtype, training)
    default_output = m(x)
    grad_output = default_output.clone().detach_().normal_(
        generator=torch.Generator().manual_seed(j))
    default_grad = torch.autograd.grad(default_output, x, grad_output)[0]
    nx, ng = _make_non_contiguous(x), _make_non_contiguous(grad_output)
    assert not nx.is_contiguous() and not ng.is_contiguous()
    for inp in (x, nx):
        for g in (grad_output, ng):
            out = m(inp)
            _assert_equal(out, default_output)
            _assert_equal(torch.autograd.grad(out, inp, g)[0], default_grad, atol=1e-4, rtol=0)


@MODES
@pytest.mark.parametrize("check", (gradcheck, gradgradcheck), ids=("grad", "gradgrad"))
@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
def test_grad(j, check, training):
    """test_grad / test_gradgrad: float64, PyTorch's testing defaults
    (check_batched_grad and fast_mode on); the module has no parameters."""
    x = _input(j, torch.float64, True)
    m = _module(j, torch.float64, training)
    assert check(lambda t: m(t), (x,), nondet_tol=0.0, check_batched_grad=True,
                 fast_mode=True)


def _channels_last_format(ndim):
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(ndim)


@MODES
@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
def test_memory_format(dtype, j, training):
    """Channels-last input gives the contiguous input's output and input gradient,
    both channels-last (3-D input has only the contiguous format)."""
    x = _input(j, dtype, True)
    m = _module(j, dtype, training)
    desired = m(x)
    grad_output = torch.rand_like(desired, generator=torch.Generator().manual_seed(j))
    desired_grad = torch.autograd.grad(desired, x, grad_output)[0]
    fmt = _channels_last_format(x.dim())
    formats = [torch.contiguous_format] + ([fmt] if fmt is not None else [])
    for input_format in formats:
        xf = x.detach().clone().to(memory_format=input_format).requires_grad_()
        for module_format in (torch.preserve_format, torch.contiguous_format, input_format):
            m.to(memory_format=module_format)
            out = m(xf)
            grad = torch.autograd.grad(out, xf, torch.empty_like(out).copy_(grad_output))[0]
            _assert_equal(out, desired)
            _assert_equal(grad, desired_grad)
            for t in (out, grad):
                assert t.is_contiguous(memory_format=input_format)


@pytest.mark.parametrize("j", range(len(INPUTS)), ids=IDS)
def test_if_train_and_eval_modes_differ(j):
    """train_and_eval_differ=False: the forward pass never reads ``training``."""
    x = _input(j, torch.float32)
    m = _module(j, torch.float32, True)
    expected = m(x)
    delattr(m, "training")
    _assert_equal(m(x), expected)
