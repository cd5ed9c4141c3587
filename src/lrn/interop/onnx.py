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

Whole models run in ONNX Runtime with their LRN nodes on lrn through
:func:`session`: each LRN node becomes an onnxruntime-extensions Python
custom op (domain ``lrn.onnx``) that calls :func:`lrn.lrn`.

``import lrn.onnx`` does not import ``onnx``, ``onnxruntime`` or
``onnxruntime_extensions``; :func:`make_node`, :func:`rewrite_model` and
:func:`session` import what they need, and say which extra to install when
it is missing.  :func:`node_params` and :func:`run_node` only read the node
they are given.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _params
from .._api import lrn as _lrn
from .._typing import Array, ArrayInput

if TYPE_CHECKING:                   # onnx and onnxruntime are imported on use only
    from onnx import ModelProto, NodeProto
    from onnxruntime import InferenceSession, SessionOptions

__all__ = ["DEFAULTS", "DOMAIN", "node_params", "make_node", "run_node", "rewrite_model",
           "session"]

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


# The pip package of each module the ONNX functions import on use.
_PACKAGES = {"onnx": "onnx", "onnxruntime": "onnxruntime",
             "onnxruntime_extensions": "onnxruntime-extensions"}


def _require(*modules):
    """Import ``modules``, or raise an ImportError naming the extra that brings them."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ImportError(f"this function of lrn.onnx needs {_PACKAGES[module]}, which is "
                              f"not installed: pip install 'lrnorm[onnx]'") from err


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
    _require("onnx")
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


# -- whole models in ONNX Runtime ----------------------------------------------------

#: The custom-op domain :func:`rewrite_model` moves LRN nodes to.
DOMAIN = "lrn.onnx"

# onnx.TensorProto.DataType values (kept here so they need no import).
_FLOAT, _FLOAT16, _DOUBLE = 1, 10, 11
_GRAPH, _GRAPHS = 5, 10          # onnx.AttributeProto.AttributeType
_DTYPES = {_FLOAT: np.float32, _DOUBLE: np.float64, _FLOAT16: np.float16}
# One Python op per data type: an onnxruntime-extensions op declares fixed
# input and output types.  float16 runs in float32 between two Casts, because
# those ops cannot take float16 tensors; lrn computes float16 in float32 too.
_OP_TYPES = {_FLOAT: "LRN_float32", _DOUBLE: "LRN_float64"}

_register_lock = threading.Lock()
_own_ops: set[int] = set()       # the ids onnxruntime-extensions calls lrn's ops by


def _custom_op(x, size, alpha, beta, bias, num_threads):
    """The body of lrn's Python ops.  onnxruntime-extensions hands a FLOAT
    attribute over as text with 6 significant digits, so alpha, beta and bias
    travel as STRING attributes holding the exact decimal (``repr``)."""
    return _lrn(x, int(size), float(alpha), float(beta), float(bias), layout="NCHW",
                convention="onnx", num_threads=int(num_threads) or None)


def _invoke(fallback, op_id, inputs, attrs):
    """onnxruntime-extensions' single entry into Python for every Python op.
    Its own handler returns each output as a Python list (``tolist()``), which
    costs 30 times the kernel on an AlexNet layer; lrn's ops return the array,
    which it copies as is.  Every other op goes to its handler unchanged."""
    if op_id not in _own_ops:
        return fallback(op_id, inputs, attrs)
    y = _custom_op(*inputs, **attrs)
    return (op_id, y.shape, y)


def _register():
    """Declare lrn's Python ops to onnxruntime-extensions, once per process (it
    hands them to each session whose options register its library)."""
    with _register_lock:
        if _own_ops:
            return
        from onnxruntime_extensions import PyOp, _ocos, onnx_op

        attrs = {"size": PyOp.dt_int64, "alpha": PyOp.dt_string, "beta": PyOp.dt_string,
                 "bias": PyOp.dt_string, "num_threads": PyOp.dt_int64}
        for elem, op_type in _OP_TYPES.items():
            code = PyOp.dt_float if elem == _FLOAT else PyOp.dt_double
            op = onnx_op(op_type=f"{DOMAIN}::{op_type}", inputs=[code], outputs=[code],
                         attrs=attrs)(_custom_op)
            _own_ops.add(id(op))             # Opdef.create's obj_id is id(op)
        fallback = _ocos._on_pyop_invocation
        PyOp.install_hooker(lambda op_id, inputs, attrs: _invoke(fallback, op_id, inputs,
                                                                 attrs))


def _is_lrn(node):
    return node.op_type == "LRN" and node.domain in _DOMAINS


def _subgraphs(node):
    for attr in node.attribute:
        if attr.type == _GRAPH:
            yield attr.g
        elif attr.type == _GRAPHS:
            yield from attr.graphs


def _value_types(graph, types):
    """Fill ``types``: value name -> (ONNX element type, rank or None), from the
    graph's inputs, outputs, value_info and initializers, subgraphs included."""
    for info in (*graph.input, *graph.value_info, *graph.output):
        if info.type.HasField("tensor_type"):
            tensor = info.type.tensor_type
            types[info.name] = (tensor.elem_type,
                                len(tensor.shape.dim) if tensor.HasField("shape") else None)
    for init in graph.initializer:
        types.setdefault(init.name, (init.data_type, len(init.dims)))
    for node in graph.node:
        for sub in _subgraphs(node):
            _value_types(sub, types)
    return types


def _value_names(graph, names):
    names.update(info.name for info in (*graph.input, *graph.output, *graph.value_info))
    names.update(init.name for init in graph.initializer)
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        for sub in _subgraphs(node):
            _value_names(sub, names)
    return names


def _fresh(names, base):
    name, k = base, 0
    while name in names:
        k += 1
        name = f"{base}_{k}"
    names.add(name)
    return name


def _where(node, graph, index):
    if node.name:
        return f"LRN node {node.name!r}"
    outputs = ", ".join(repr(o) for o in node.output) or "none"
    return f"LRN node #{index} of graph {graph.name!r} (output {outputs})"


def _checked_params(node, where):
    try:
        return node_params(node)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where} cannot run on lrn: {err}") from err


def _check_nodes(graph):
    """node_params on every LRN node, before shape inference trips on a bad one."""
    for index, node in enumerate(graph.node):
        for sub in _subgraphs(node):
            _check_nodes(sub)
        if _is_lrn(node):
            _checked_params(node, _where(node, graph, index))


def _replacement(node, where, types, names, num_threads):
    """The nodes that run ``node`` on lrn, or a ValueError saying why lrn cannot."""
    from onnx import TensorProto, helper

    params = _checked_params(node, where)
    x, y = node.input[0], node.output[0]
    elem, rank = types.get(x, (0, None))
    if elem == 0:
        raise ValueError(f"{where}: the element type of its input {x!r} is unknown (shape "
                         f"inference cannot tell it); give it a value_info entry")
    if elem not in _DTYPES:
        raise ValueError(f"{where}: its input {x!r} is {TensorProto.DataType.Name(elem)}; "
                         f"lrn runs LRN on FLOAT16, FLOAT and DOUBLE tensors")
    if rank is not None and rank < 2:
        raise ValueError(f"{where}: its input {x!r} has rank {rank}; LRN needs (N, C, ...)")
    try:
        _params.make(**params, num_threads=num_threads).resolve(np.dtype(_DTYPES[elem]),
                                                                rank or 4)
    except ValueError as err:
        raise ValueError(f"{where} cannot run on lrn: {err}") from err
    attrs = {"size": params["size"], "alpha": repr(params["alpha"]),
             "beta": repr(params["beta"]), "bias": repr(params["bias"]),
             "num_threads": num_threads or 0}
    if elem != _FLOAT16:
        return [helper.make_node(_OP_TYPES[elem], [x], [y], name=node.name or None,
                                 domain=DOMAIN, **attrs)]
    x32, y32 = _fresh(names, f"{x}_float32"), _fresh(names, f"{y}_float32")
    return [helper.make_node("Cast", [x], [x32], to=TensorProto.FLOAT),
            helper.make_node(_OP_TYPES[_FLOAT], [x32], [y32], name=node.name or None,
                             domain=DOMAIN, **attrs),
            helper.make_node("Cast", [y32], [y], to=TensorProto.FLOAT16)]


def _rewrite_graph(graph, types, names, num_threads):
    """Replace the graph's LRN nodes (and its subgraphs'); True if any was."""
    from onnx import NodeProto

    nodes, changed = [], False
    for index, node in enumerate(graph.node):
        for sub in _subgraphs(node):
            changed |= _rewrite_graph(sub, types, names, num_threads)
        if _is_lrn(node):
            nodes += _replacement(node, _where(node, graph, index), types, names,
                                  num_threads)
            changed = True
        else:
            kept = NodeProto()
            kept.CopyFrom(node)
            nodes.append(kept)
    if changed:
        del graph.node[:]
        graph.node.extend(nodes)
    return changed


def _load(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (str, os.PathLike)):
        return onnx.load(model)
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_model_from_string(bytes(model))
    raise TypeError(f"`model` must be an onnx.ModelProto, a path to a .onnx file or its "
                    f"bytes, got {type(model).__name__}")


def rewrite_model(model: ModelProto | str | os.PathLike | bytes, *,
                  num_threads: int | None = None) -> ModelProto:
    """The model with its ONNX ``LRN`` nodes moved to lrn's custom ops.

    What :func:`session` runs.  Each ``LRN`` node (in the main graph, in
    subgraphs, and in model-local functions, which are inlined first) becomes
    a node of domain ``lrn.onnx`` and op type ``LRN_float32`` or
    ``LRN_float64`` with the same name, input and output; a float16 node runs
    in float32 between two ``Cast`` nodes.  Its attributes are the node's
    checked parameters (:func:`node_params`): ``size`` (INT), ``alpha``,
    ``beta``, ``bias`` (STRING, the exact decimal) and ``num_threads`` (INT,
    0 for lrn's default).  Loading the result needs lrn's ops registered,
    which :func:`session` does.  Imports ``onnx``.

    Parameters
    ----------
    model : onnx.ModelProto, str, os.PathLike or bytes
        The model, a path to it, or its serialized bytes; a ModelProto given
        is not modified.
    num_threads : int, optional
        As in :func:`lrn.lrn`, for every LRN node.

    Returns
    -------
    onnx.ModelProto
        A new model, with the shape-inferred types as value_info.

    Raises
    ------
    ValueError
        Naming the node, for an LRN node lrn cannot run: a bad attribute (as
        :func:`node_params`), an input type other than FLOAT16, FLOAT or
        DOUBLE or of unknown type, a rank below 2, or parameters that do not
        fit the data type (:func:`lrn.lrn`'s checks).
    TypeError
        If ``model`` is none of the accepted kinds.

    Examples
    --------
    >>> from onnx import TensorProto, helper
    >>> from lrn.onnx import make_node, rewrite_model
    >>> graph = helper.make_graph(
    ...     [make_node(5, alpha=2e-4, name="norm1")], "g",
    ...     [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 8, 4, 4])],
    ...     [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 8, 4, 4])])
    >>> node = rewrite_model(helper.make_model(graph)).graph.node[0]
    >>> node.domain, node.op_type, node.name
    ('lrn.onnx', 'LRN_float32', 'norm1')
    >>> {a.name: helper.get_attribute_value(a) for a in node.attribute}["alpha"]
    b'0.0002'
    """
    _require("onnx")
    import onnx

    num_threads = _params.check_threads(num_threads)
    given = _load(model)
    if any(_is_lrn(node) for function in given.functions for node in function.node):
        import onnx.inliner

        given = onnx.inliner.inline_local_functions(given)
    _check_nodes(given.graph)
    # infer_shapes returns a new model: the caller's is never written to
    out = onnx.shape_inference.infer_shapes(given)
    types = _value_types(out.graph, {})
    if _rewrite_graph(out.graph, types, _value_names(out.graph, set()), num_threads):
        if all(opset.domain != DOMAIN for opset in out.opset_import):
            out.opset_import.append(onnx.helper.make_opsetid(DOMAIN, 1))
    return out


def session(model: ModelProto | str | os.PathLike | bytes,
            sess_options: SessionOptions | None = None, providers: Sequence[Any] | None = None,
            *, num_threads: int | None = None, **kwargs: Any) -> InferenceSession:
    """An ONNX Runtime session of ``model`` whose LRN nodes run on lrn.

    The model's ``LRN`` nodes are rewritten (:func:`rewrite_model`) to
    onnxruntime-extensions Python ops that call :func:`lrn.lrn`; the rest of
    the model runs in ONNX Runtime as usual.  FLOAT16, FLOAT and DOUBLE
    inputs of any rank >= 2 run (ONNX Runtime's own CPU LRN has no DOUBLE
    kernel and takes 4-D input only).  Needs ``onnx``, ``onnxruntime`` and
    ``onnxruntime-extensions`` (``pip install 'lrnorm[onnx]'``).

    Each LRN call takes the GIL (onnxruntime-extensions' Python ops run
    Python), releases it inside the kernel, and copies its input and output
    once (those ops do).  lrn uses its own threads: ``num_threads``, by
    default the session's ``intra_op_num_threads`` when that is set.

    Parameters
    ----------
    model : onnx.ModelProto, str, os.PathLike or bytes
        The model, a path to it, or its serialized bytes; a ModelProto given
        is not modified.
    sess_options : onnxruntime.SessionOptions, optional
        As for ``onnxruntime.InferenceSession``; onnxruntime-extensions'
        library is registered on it (``register_custom_ops_library``).
    providers : list, optional
        As for ``onnxruntime.InferenceSession``; the LRN nodes run on the
        CPU whatever the providers.
    num_threads : int, optional
        lrn's threads for every LRN node, as in :func:`lrn.lrn`.
    **kwargs
        Passed to ``onnxruntime.InferenceSession``.

    Returns
    -------
    onnxruntime.InferenceSession

    Raises
    ------
    ValueError
        Naming the node, for an LRN node lrn cannot run (see
        :func:`rewrite_model`).
    ImportError
        If onnx, onnxruntime or onnxruntime-extensions is missing.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import TensorProto, helper
    >>> from lrn.onnx import make_node, session
    >>> graph = helper.make_graph(
    ...     [make_node(3, alpha=3.0, beta=1.0)], "g",
    ...     [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 1, 1])],
    ...     [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3, 1, 1])])
    >>> sess = session(helper.make_model(graph))
    >>> sess.run(None, {"X": np.ones((1, 3, 1, 1), np.float32)})[0].ravel()
    array([0.33333334, 0.25      , 0.33333334], dtype=float32)
    """
    _require("onnx", "onnxruntime", "onnxruntime_extensions")
    import onnxruntime
    import onnxruntime_extensions

    if sess_options is None:
        sess_options = onnxruntime.SessionOptions()
    if num_threads is None and sess_options.intra_op_num_threads > 0:
        num_threads = sess_options.intra_op_num_threads
    rewritten = rewrite_model(model, num_threads=num_threads)
    _register()
    sess_options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    return onnxruntime.InferenceSession(rewritten.SerializeToString(), sess_options,
                                       providers=providers, **kwargs)
