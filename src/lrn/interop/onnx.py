"""ONNX interop: run an ONNX ``LRN`` node on the lrn kernels.

ONNX's LRN (opset 1 and 13) normalises across the channel axis of an
``(N, C, D1, ..., Dk)`` tensor::

    square_sum[n, c, ...] = sum(X[n, i, ...] ** 2 for i in
                                [max(0, c - floor((size - 1) / 2)),
                                 min(C - 1, c + ceil((size - 1) / 2))])
    Y[n, c, ...] = X[n, c, ...] / (bias + alpha / size * square_sum[n, c, ...]) ** beta

which is :func:`lrn.lrn` with ``layout="NCHW"`` and ``convention="onnx"``.
Attributes: ``size`` (int, required), ``alpha`` (default 1e-4), ``beta``
(0.75), ``bias`` (1.0).  ONNX Runtime rejects even sizes; the ONNX formula
(and this module) accepts them, with the extra channel after ``c``.

``import lrn.onnx`` does not import the ``onnx`` package; :func:`make_node`
does, and the other functions only read the node they are given.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _params
from .._api import lrn as _lrn
from .._typing import Array, ArrayInput

if TYPE_CHECKING:                   # onnx is imported on use only
    from onnx import NodeProto

__all__ = ["DEFAULTS", "node_params", "make_node", "run_node"]

#: ONNX's attribute defaults for LRN (``size`` has none).
DEFAULTS = {"alpha": 1e-4, "beta": 0.75, "bias": 1.0}

_FLOAT_ATTRS = ("alpha", "beta", "bias")
_DOMAINS = ("", "ai.onnx")
# onnx.AttributeProto.AttributeType values (kept here so reading a node needs no import).
_ATTR_FLOAT = 1
_ATTR_INT = 2
_ATTR_NAMES = {0: "UNDEFINED", 1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH",
               6: "FLOATS", 7: "INTS", 8: "STRINGS", 9: "TENSORS", 10: "GRAPHS",
               11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS", 13: "TYPE_PROTO",
               14: "TYPE_PROTOS"}


def float32_value(f: float) -> float:
    """The shortest decimal that rounds to the same float32 (ONNX stores FLOAT
    attributes as float32: 1e-4 is read back as 9.999999747e-05; this gives 0.0001).

    Examples
    --------
    >>> from lrn.interop.onnx import float32_value
    >>> float32_value(9.999999747378752e-05)
    0.0001
    """
    return float(str(np.float32(f)))


def _describe(node):
    name = getattr(node, "name", "")
    return f"node {name!r}" if name else "node"


def node_params(node: NodeProto) -> dict[str, Any]:
    """The LRN parameters of an ONNX node, with ONNX's defaults applied.

    Parameters
    ----------
    node : onnx.NodeProto
        A node of op type ``LRN`` (default domain).  ``size`` must be set;
        ``alpha``, ``beta`` and ``bias`` default to 1e-4, 0.75 and 1.0.

    Returns
    -------
    dict
        ``{"size": int, "alpha": float, "beta": float, "bias": float}``, ready
        for ``lrn.lrn(x, **params)``.  ONNX stores FLOAT attributes as float32;
        each is returned as the shortest decimal that rounds to the same
        float32 (``0.0001``, not ``9.999999747378752e-05``).

    Raises
    ------
    TypeError
        If ``node`` is not a NodeProto, or an attribute has the wrong ONNX type
        (``size`` must be INT, the others FLOAT).
    ValueError
        If the op type is not ``LRN``, ``size`` is missing or not positive, an
        attribute is unknown, repeated or a reference to a function attribute,
        or the node does not have exactly one input and one output.

    Examples
    --------
    >>> from lrn.onnx import make_node, node_params
    >>> node_params(make_node(size=3))
    {'size': 3, 'alpha': 0.0001, 'beta': 0.75, 'bias': 1.0}
    """
    if not (hasattr(node, "op_type") and hasattr(node, "attribute")):
        raise TypeError(f"`node` must be an onnx.NodeProto, got {type(node).__name__}")
    where = _describe(node)
    if node.op_type != "LRN" or getattr(node, "domain", "") not in _DOMAINS:
        domain = getattr(node, "domain", "")
        op = f"{domain}::{node.op_type}" if domain else node.op_type
        raise ValueError(f"`node` must be an ONNX LRN node, got op type {op!r} ({where})")
    n_in, n_out = len(node.input), len(node.output)
    if n_in != 1 or n_out != 1:
        raise ValueError(f"an LRN node has exactly one input and one output, got "
                         f"{n_in} input(s) and {n_out} output(s) ({where})")
    params = dict(DEFAULTS)
    seen = set()
    for attr in node.attribute:
        name = attr.name
        if name in seen:
            raise ValueError(f"LRN attribute `{name}` is given twice ({where})")
        seen.add(name)
        if getattr(attr, "ref_attr_name", ""):
            raise ValueError(f"LRN attribute `{name}` refers to the function attribute "
                             f"{attr.ref_attr_name!r}; bind it before running ({where})")
        if name == "size":
            if attr.type != _ATTR_INT:
                raise TypeError(f"LRN attribute `size` must be an INT, got "
                                f"{_ATTR_NAMES.get(attr.type, attr.type)} ({where})")
            if attr.i < 1:
                raise ValueError(f"LRN attribute `size` must be a positive integer, "
                                 f"got {attr.i} ({where})")
            params["size"] = int(attr.i)
        elif name in _FLOAT_ATTRS:
            if attr.type != _ATTR_FLOAT:
                raise TypeError(f"LRN attribute `{name}` must be a FLOAT, got "
                                f"{_ATTR_NAMES.get(attr.type, attr.type)} ({where})")
            value = float32_value(attr.f)
            if not math.isfinite(value):
                raise ValueError(f"LRN attribute `{name}` must be finite, got {value} "
                                 f"({where})")
            params[name] = value
        else:
            raise ValueError(f"unknown LRN attribute `{name}`; LRN has size, alpha, "
                             f"beta and bias ({where})")
    if "size" not in params:
        raise ValueError(f"LRN attribute `size` is required and missing ({where})")
    return {"size": params["size"], "alpha": params["alpha"], "beta": params["beta"],
            "bias": params["bias"]}


def make_node(size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0,
              inputs: Sequence[str] = ("X",), outputs: Sequence[str] = ("Y",),
              name: str | None = None) -> NodeProto:
    """Build an ONNX ``LRN`` NodeProto (imports ``onnx``).

    Parameters
    ----------
    size : int
        Window length in channels (required by ONNX), >= 1.
    alpha, beta, bias : float
        ONNX's attributes; alpha is divided by ``size`` in the formula.
    inputs, outputs : sequence of str
        The node's single input and output names.
    name : str, optional
        The node's name.

    Returns
    -------
    onnx.NodeProto

    Examples
    --------
    >>> from lrn.onnx import make_node
    >>> node = make_node(5, alpha=2e-4)
    >>> node.op_type, [a.name for a in node.attribute]
    ('LRN', ['alpha', 'beta', 'bias', 'size'])
    """
    import onnx.helper

    size = _params.check_size(size, maximum=_params.INT64_MAX)   # an ONNX INT
    attrs = {key: _params.check_real(value, key)
             for key, value in (("alpha", alpha), ("beta", beta), ("bias", bias))}
    inputs, outputs = list(inputs), list(outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"an LRN node has exactly one input and one output, got "
                         f"inputs={inputs} and outputs={outputs}")
    return onnx.helper.make_node("LRN", inputs=inputs, outputs=outputs, name=name,
                                 size=int(size), **attrs)


def run_node(node: NodeProto, x: ArrayInput, *, num_threads: int | None = None) -> Array:
    """Apply an ONNX ``LRN`` node to ``x`` with the lrn kernels.

    Parameters
    ----------
    node : onnx.NodeProto
        An ``LRN`` node; see :func:`node_params` for the attribute rules.
    x : array_like
        ``(N, C, D1, ..., Dk)`` input (ONNX's channels-first layout, any number
        of spatial axes), of an ONNX float type: float16, float32, float64 or
        bfloat16 (an ``ml_dtypes.bfloat16`` array, computed in float32).
    num_threads : int, optional
        As in :func:`lrn.lrn`.

    Returns
    -------
    ndarray
        ``Y``, same shape and dtype as ``x``.

    Raises
    ------
    TypeError, ValueError
        As :func:`node_params` for the node; ``TypeError`` for a non-float ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrn.onnx import make_node, run_node
    >>> x = np.ones((1, 3, 1, 1), dtype=np.float32)
    >>> run_node(make_node(size=3, alpha=3.0, beta=1.0), x).ravel()
    array([0.33333334, 0.25      , 0.33333334], dtype=float32)
    """
    params = node_params(node)
    return _lrn(x, **params, layout="NCHW", convention="onnx", num_threads=num_threads)
