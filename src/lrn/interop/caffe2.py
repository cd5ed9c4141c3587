"""Caffe2's LRN operators on lrn's kernels.

For people porting Caffe2 (or ONNX models exported from Caffe2): the same
operators, arguments, outputs and gradient wiring, with no numerics of their
own (every call goes to :func:`lrn.lrn` / :func:`lrn.lrn_backward`).

- Caffe2 ``LRN`` (args size, alpha, beta, bias, order; outputs Y, Y_scale):
  ``LRN(size, alpha, beta, bias, order).run(X, num_outputs=1 or 2)``.
- Caffe2 ``LRNGradient`` (inputs X, Y, dY; output dX):
  ``LRNGradient(...).run(X, Y, dY)``.
- Caffe2 ``GetLRNGradient``: ``gradient_def(op)``.
- Caffe2 ``InheritOnnxSchema()``: ``schema()``, ``LRN.from_onnx``, ``LRN.to_onnx``.

Deliberate differences from Caffe2: arguments are checked when the operator is
built, in every build (Caffe2 had debug-only checks); even sizes are accepted
and get the true gradient (Caffe2's debug builds rejected them; its release
builds ran them with this same forward window, and its CPU NHWC gradient was
wrong for them); alpha and beta may be any finite number and default to ONNX's
1e-4 and 0.75 (Caffe2's C++ defaults were 0); any ndim >= 2 and float16/32/64
data are accepted (Caffe2: 4-D float32).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import numpy as np

from .. import _params
from .._api import lrn, lrn_backward
from .._typing import Array, ArrayInput
from .onnx import float32_value

if TYPE_CHECKING:                   # onnx is imported on use only
    from onnx import NodeProto

__all__ = ["LRN", "LRNGradient", "GradientDef", "gradient_def", "schema"]

def _check_order(order):
    # Caffe2's StringToStorageOrder accepts "NCHW"/"nchw" and "NHWC"/"nhwc":
    # the library's one rule for case in string options.
    return _params.check_choice(order, "order", _params.LAYOUTS)


@dataclass(frozen=True)
class _LRNArgs:
    """Caffe2's LRN arguments, checked and normalised at construction."""

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0
    order: str = "NCHW"

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "size", _params.check_size(self.size))
        for name in ("alpha", "beta", "bias"):
            set_(self, name, _params.check_real(getattr(self, name), name))
        set_(self, "order", _check_order(self.order))

    @property
    def args(self) -> dict[str, Any]:
        """The Caffe2 arguments as a dict: size, alpha, beta, bias, order."""
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta,
                "bias": self.bias, "order": self.order}

    def _params(self):
        return (self.size, self.alpha, self.beta, self.bias)


class LRN(_LRNArgs):
    """Caffe2's ``LRN`` operator: cross-channel Local Response Normalization.

    ``Y_scale = bias + alpha / size * sum(X[c']**2 for c' in W(c))`` and
    ``Y = X * Y_scale ** -beta`` with ``W(c) = [c - (size-1)//2, c + size//2]``
    clipped to the channels (Caffe2's ``pre_pad = (size - 1) / 2``, the
    ``convention="onnx"`` of :func:`lrn.lrn`).

    Parameters
    ----------
    size : int
        Window length in channels, >= 1.  Even sizes are accepted (Caffe2's
        debug builds rejected them); the window then has one more channel
        after ``c`` than before it.
    alpha, beta, bias : float
        Finite reals; alpha is divided by ``size``.  Defaults are ONNX's
        (Caffe2's C++ defaults were ``alpha = beta = 0``; pass them
        explicitly when porting an ``OperatorDef`` that omits them).
    order : {"NCHW", "NHWC"}
        Caffe2's storage order (lowercase accepted, as in Caffe2):
        channels-first ``(N, C, *spatial)`` or channels-last ``(N, *spatial, C)``.

    Raises
    ------
    TypeError, ValueError
        At construction, naming the offending argument.

    Examples
    --------
    >>> import numpy as np
    >>> from lrn.ops import LRN
    >>> op = LRN(size=3, alpha=3.0, beta=1.0, bias=1.0)
    >>> X = np.ones((1, 3, 1, 1))
    >>> op.run(X)[0, :, 0, 0]
    array([0.33333333, 0.25      , 0.33333333])
    >>> Y, Y_scale = op.run(X, num_outputs=2)
    >>> Y_scale[0, :, 0, 0]
    array([3., 4., 3.])
    """

    type = "LRN"
    input_names = ("X",)
    output_names = ("Y", "Y_scale")

    @overload
    def run(self, X: ArrayInput, *, num_outputs: Literal[1] = ...) -> Array: ...
    @overload
    def run(self, X: ArrayInput, *, num_outputs: Literal[2]) -> tuple[Array, Array]: ...

    def run(self, X: ArrayInput, *, num_outputs: int = 1) -> Array | tuple[Array, Array]:
        """Run the operator.

        Parameters
        ----------
        X : array_like
            float16/32/64 data in the operator's ``order``, ndim >= 2.
        num_outputs : {1, 2}
            1: return ``Y``.  2: return ``(Y, Y_scale)``, Caffe2's optional
            second output (the scale before the power).

        Returns
        -------
        Y : ndarray, or (Y, Y_scale) when ``num_outputs=2``
        """
        if (isinstance(num_outputs, bool) or not isinstance(num_outputs, int)
                or num_outputs not in (1, 2)):
            raise ValueError(f"`num_outputs` must be 1 or 2, got {num_outputs!r}")
        return lrn(X, *self._params(), layout=self.order, convention="onnx",
                        return_scale=num_outputs == 2)

    __call__ = run

    @classmethod
    def from_onnx(cls, node: NodeProto) -> LRN:
        """The operator of an ONNX ``LRN`` NodeProto (ONNX's attribute defaults).

        ONNX's LRN is channels-first, so ``order`` is ``"NCHW"``.

        Examples
        --------
        >>> from lrn.ops import LRN
        >>> node = LRN(5, alpha=2e-4).to_onnx()         # doctest: +SKIP
        >>> LRN.from_onnx(node).size                     # doctest: +SKIP
        5
        """
        from .onnx import node_params
        return cls(**node_params(node))

    def to_onnx(self, inputs: Sequence[str] = ("X",), outputs: Sequence[str] = ("Y",),
                name: str | None = None) -> NodeProto:
        """This operator as an ONNX ``LRN`` NodeProto.

        ONNX's ``LRN`` has one output (no ``Y_scale``) and is channels-first:
        an ``order="NHWC"`` operator has no single-node equivalent and is a
        ``ValueError`` (Caffe2's ONNX exporter refused it too); transpose
        around an ``NCHW`` node instead.  ONNX stores alpha, beta and bias as
        float32, so ``LRN.from_onnx(op.to_onnx()) == op`` when they are
        float32 values or short decimals like 1e-4.

        Examples
        --------
        >>> from lrn.ops import LRN
        >>> LRN(5).to_onnx(["conv1"], ["norm1"]).op_type  # doctest: +SKIP
        'LRN'
        """
        if self.order != "NCHW":
            raise ValueError(f"`order` must be 'NCHW' to convert to ONNX (ONNX's LRN "
                             f"is channels-first), got {self.order!r}")
        from .onnx import make_node
        return make_node(self.size, self.alpha, self.beta, self.bias,
                                  inputs=tuple(inputs), outputs=tuple(outputs), name=name)


class LRNGradient(_LRNArgs):
    """Caffe2's ``LRNGradient`` operator: the input gradient of :class:`LRN`.

    Same arguments as :class:`LRN`.  Inputs are wired as in Caffe2
    (``X``, ``Y``, ``dY``); the output is ``dX``.  For even sizes this is the
    true gradient (it sums over the windows that contain each channel), as
    Caffe2's CPU ``NCHW`` and CUDA kernels computed; its CPU ``NHWC`` kernel
    summed over the forward window instead and was wrong for even sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from lrn.ops import LRN, LRNGradient
    >>> X = np.linspace(-1.0, 1.0, 12).reshape(2, 3, 2)
    >>> Y, Y_scale = LRN(3, alpha=0.5).run(X, num_outputs=2)
    >>> dX = LRNGradient(3, alpha=0.5).run(X, Y, np.ones_like(Y), scale=Y_scale)
    >>> dX.shape
    (2, 3, 2)
    """

    type = "LRNGradient"
    input_names = ("X", "Y", "dY")
    output_names = ("dX",)

    def run(self, X: ArrayInput, Y: ArrayInput, dY: ArrayInput, *,
            scale: ArrayInput | None = None) -> Array:
        """Compute ``dX`` from the forward input, forward output and ``dY``.

        Parameters
        ----------
        X, Y, dY : array_like
            Same shape and dtype, in the operator's ``order``.
        scale : array_like, optional
            ``Y_scale`` from ``LRN.run(X, num_outputs=2)``; recomputed from
            ``X`` when absent (as Caffe2 always did).

        Returns
        -------
        dX : ndarray
        """
        return lrn_backward(X, Y, dY, *self._params(), scale=scale,
                                 layout=self.order, convention="onnx")

    __call__ = run


class GradientDef(NamedTuple):
    """Caffe2's ``GetLRNGradient`` as data.

    Attributes
    ----------
    op : LRNGradient
        The gradient operator, with the forward operator's arguments.
    inputs : tuple of (str, int)
        Where each gradient input comes from, in Caffe2's notation:
        ``("I", i)`` forward input i, ``("O", i)`` forward output i,
        ``("GO", i)`` gradient of forward output i.  For LRN:
        ``(("I", 0), ("O", 0), ("GO", 0))``, i.e. X, Y, dY.
    outputs : tuple of (str, int)
        ``("GI", i)``: the gradient output is the gradient of forward input
        i.  For LRN: ``(("GI", 0),)``, i.e. dX.
    """

    op: LRNGradient
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]

    def resolve(self, I: Sequence[Any], O: Sequence[Any], GO: Sequence[Any]) -> list[Any]:
        """The gradient operator's inputs, picked from ``I`` (forward inputs),
        ``O`` (forward outputs) and ``GO`` (output gradients): blob names or
        arrays alike.

        Examples
        --------
        >>> from lrn.ops import LRN, gradient_def
        >>> gradient_def(LRN(5)).resolve(["X"], ["Y", "Y_scale"], ["Y_grad"])
        ['X', 'Y', 'Y_grad']
        """
        table = {"I": I, "O": O, "GO": GO}
        return [table[kind][i] for kind, i in self.inputs]


def gradient_def(op: LRN) -> GradientDef:
    """The gradient definition of an :class:`LRN` operator (Caffe2's
    ``GetLRNGradient``): ``LRNGradient`` with the same arguments, inputs
    ``I(0), O(0), GO(0)`` (X, Y, dY) and output ``GI(0)`` (dX).

    Only ``Y`` is differentiated: like Caffe2, a gradient flowing into the
    optional ``Y_scale`` output is not propagated.

    Parameters
    ----------
    op : LRN

    Returns
    -------
    GradientDef

    Examples
    --------
    >>> from lrn.ops import LRN, gradient_def
    >>> g = gradient_def(LRN(5, alpha=2e-4))
    >>> g.op
    LRNGradient(size=5, alpha=0.0002, beta=0.75, bias=1.0, order='NCHW')
    >>> g.inputs, g.outputs
    ((('I', 0), ('O', 0), ('GO', 0)), (('GI', 0),))
    """
    if not isinstance(op, LRN):
        raise TypeError(f"`op` must be an lrn.ops.LRN operator, got {type(op).__name__}")
    return GradientDef(LRNGradient(**op.args), (("I", 0), ("O", 0), ("GO", 0)),
                       (("GI", 0),))


def schema(opset: int | None = None) -> dict[str, Any]:
    """The ONNX schema of ``LRN``, read from ``onnx.defs`` (needs ``onnx``).

    Parameters
    ----------
    opset : int, optional
        The schema in force at this ONNX opset (default: the newest).

    Returns
    -------
    dict
        ``name``, ``domain``, ``since_version`` (of the schema returned),
        ``opset_versions`` (every opset that changed LRN), ``doc``,
        ``attributes`` (name -> dict of ``type``, ``required``, ``default``
        (None when required), ``description``), ``inputs`` and ``outputs``
        (lists of dicts of ``name``, ``type``, ``description``) and
        ``type_constraints`` (type parameter -> tuple of allowed types).

    Raises
    ------
    ImportError
        When ``onnx`` is not installed.

    Examples
    --------
    >>> from lrn.ops import schema
    >>> s = schema()                                     # doctest: +SKIP
    >>> s["attributes"]["alpha"]["default"]              # doctest: +SKIP
    0.0001
    >>> s["attributes"]["size"]["required"]              # doctest: +SKIP
    True
    """
    try:
        from onnx import defs, helper
    except ImportError as exc:
        raise ImportError("lrn.ops.schema() reads the ONNX schema of LRN from the "
                          "`onnx` package, which is not installed: pip install onnx "
                          "(or pip install 'lrnorm[onnx]')") from exc
    if opset is not None:
        if isinstance(opset, bool) or not isinstance(opset, int) or opset < 1:
            raise ValueError(f"`opset` must be None or a positive integer, got {opset!r}")
        s = defs.get_schema("LRN", opset, "")
    else:
        s = defs.get_schema("LRN")
    versions = []
    for v in range(1, defs.onnx_opset_version() + 1):
        since = defs.get_schema("LRN", v, "").since_version
        if since not in versions:
            versions.append(since)

    attributes = {}
    for name, a in s.attributes.items():
        default = None
        if a.default_value.type != 0:          # AttributeProto.UNDEFINED
            default = helper.get_attribute_value(a.default_value)
            if a.type.name == "FLOAT":
                default = float32_value(default)
        attributes[name] = {"type": a.type.name, "required": bool(a.required),
                            "default": default, "description": a.description}

    def params(seq):
        return [{"name": p.name, "type": p.type_str, "description": p.description}
                for p in seq]

    return {
        "name": s.name,
        "domain": s.domain,
        "since_version": s.since_version,
        "opset_versions": tuple(versions),
        "doc": s.doc,
        "attributes": attributes,
        "inputs": params(s.inputs),
        "outputs": params(s.outputs),
        "type_constraints": {t.type_param_str: tuple(t.allowed_type_strs)
                             for t in s.type_constraints},
    }
