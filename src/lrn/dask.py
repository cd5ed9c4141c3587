"""Dask arrays in :func:`lrn.lrn` and :func:`lrn.lrn_backward`: lazy, blockwise, exact.

Blocks along the axes the window does not cross (batch and spatial axes across
channels; batch and channel axes within channels) are independent and map
one-to-one.  Along a window axis a block needs its neighbours' edges: either
that axis is rechunked into one block, or each block is given an overlap
(``dask.array.overlap.overlap``, no boundary padding) and computes exactly
the channels it owns.

Results are bitwise identical to the in-memory call.  The kernels sum each
window as a suffix of one block of ``size`` channels plus a prefix of the
next, with blocks starting at channel 0; a block of the dask array therefore
hands the kernel a slice that starts on that same grid (a multiple of
``size``, at most ``size - 1`` channels before the halo the window needs), so
every output element is computed by the same operations in the same order as
in memory.  Only slices whose windows lie wholly inside the slice are kept.

Each block is computed with ``num_threads`` threads, **1 by default**
(``num_threads=None``): the dask scheduler already runs one block per core,
and threads inside every block on top of that would oversubscribe the CPU.
Pass ``num_threads=-1`` (all cores) when the array has only a few large
blocks.  Results do not depend on it.

This module never imports dask unless a dask array is passed in.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from typing import Literal, overload

from . import _params
from ._api import lrn as _lrn
from ._api import lrn_backward as _lrn_backward
from ._api import register_lazy
from ._typing import Array, ArrayInput, Convention, Layout, Region

__all__ = ["is_dask", "lrn", "lrn_backward", "METHODS"]

#: The values of ``method=``: "overlap" (each block reads its neighbours' edges),
#: "rechunk" (one block along the window axes) or "auto" (see :func:`lrn`).
METHODS = ("auto", "overlap", "rechunk")


def is_dask(obj: object) -> bool:
    """Whether ``obj`` is a ``dask.array.Array`` (without importing dask).

    Examples
    --------
    >>> import numpy as np
    >>> from lrn import dask as lrn_dask
    >>> lrn_dask.is_dask(np.zeros(3))
    False
    """
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(obj, getattr(mod, "Array", ()))


# -- checks ------------------------------------------------------------------

def _check_params(size, alpha, beta, bias, layout, convention, region, num_threads):
    """The in-memory call's checked parameters, as keyword arguments for the
    blocks (``num_threads`` None means 1 here), and the parameter object."""
    p = _params.make(size, alpha, beta, bias, layout, convention, region, num_threads)
    return dict(size=p.size, alpha=p.alpha, beta=p.beta, bias=p.bias, layout=layout,
                convention=convention, region=region,
                num_threads=1 if num_threads is None else num_threads), p


def _promoted(arr):
    """Bool and integer data as float, lazily, by the in-memory call's rule
    (:func:`lrn._params.promoted_dtype`)."""
    dtype = _params.promoted_dtype(np.dtype(arr.dtype))
    return arr if dtype == arr.dtype else arr.astype(dtype)


def _check_x(x, p, backward):
    """The dtype, ndim and data-dependent checks of the in-memory call (after
    its promotion of bool and integer data)."""
    x = _promoted(x)
    _params.check_dtype(x.dtype, "x", gpu=False)
    _params.check_ndim(x.shape, p.within)
    p.resolve(x.dtype, x.ndim, backward)
    return x


def _to_numpy(arr, name):
    """A NumPy view of an in-memory array passed next to dask arrays."""
    if isinstance(arr, np.ndarray):
        return arr
    if not (hasattr(arr, "__array_interface__") or hasattr(arr, "__array__")):
        try:
            memoryview(arr)
        except TypeError:
            raise TypeError(f"`{name}` must be an array (an ndarray, a dask array or "
                            f"an object with the buffer protocol), got "
                            f"{type(arr).__name__}") from None
    return np.asarray(arr)


def _as_dask_like(arr, name, x):
    """``arr`` (y, dy, scale) as a dask array with the shape and dtype of ``x``."""
    import dask.array as da

    if not is_dask(arr):
        arr = _to_numpy(arr, name)
    arr = _promoted(arr)
    if arr.dtype != x.dtype:
        raise TypeError(f"`{name}` must have the dtype of `x` ({x.dtype}), got {arr.dtype}")
    if tuple(arr.shape) != tuple(x.shape):
        raise ValueError(f"`{name}` must have the shape of `x` {tuple(x.shape)}, "
                         f"got {tuple(arr.shape)}")
    if not is_dask(arr):
        arr = da.from_array(arr, chunks=x.chunks)
    return arr


def _check_out(out):
    if out is not None:
        raise TypeError(f"`out` must be None for a dask array (the result is lazy: "
                        f"write it with dask.array.store or .to_zarr), got "
                        f"{type(out).__name__}")


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"`method` must be {' or '.join(map(repr, METHODS))}, got {method!r}")


# -- planning ----------------------------------------------------------------

def _backward_halo(p, with_scale):
    """(left, right): how many neighbours before/after a block the backward
    pass's outputs read: the mirrored window [c - post, c + pre] of
    ``dy * y / scale``; without ``scale`` it is recomputed, which reads the
    forward window around each of those.  (Forward reads ``p.reach()``.)"""
    before, after = p.reach()
    if with_scale:
        return after, before
    return before + after, before + after


def _depth(size, left, right):
    """Overlap depth per side: the halo, plus up to ``size - 1`` on the left so
    that the slice handed to the kernel starts on its block grid."""
    if size == 1:
        return 0
    return max(left + size - 1, right)


def _merge_small(chunks, depth):
    """Chunks along one axis, merging neighbours until every chunk >= depth."""
    out, acc = [], 0
    for c in chunks:
        acc += c
        if acc >= depth:
            out.append(acc)
            acc = 0
    if acc:
        if out:
            out[-1] += acc
        else:
            out.append(acc)
    return tuple(out)


def _plan(x, axes, depth, method):
    """(x rechunked as needed, {axis: overlap depth}) for the window axes."""
    import dask
    from dask.utils import parse_bytes

    split = [ax for ax in axes if x.numblocks[ax] > 1]
    if not split or depth == 0:
        return x, {}
    if any(math.isnan(c) for ax in split for c in x.chunks[ax]):
        raise ValueError("`x` has unknown chunk sizes along the window axis; call "
                         "x.compute_chunk_sizes() first")
    if method == "auto":
        # One block along the window axes costs a single copy and no halo
        # (measured 1.7-2x faster than overlapping on the threaded scheduler);
        # overlap only when that block would exceed dask's chunk-size budget.
        merged = x.dtype.itemsize * math.prod(
            x.shape[ax] if ax in split else max(x.chunks[ax], default=0)
            for ax in range(x.ndim))
        limit = parse_bytes(dask.config.get("array.chunk-size"))
        method = "rechunk" if merged <= limit else "overlap"
    if method == "rechunk":
        return x.rechunk({ax: -1 for ax in split}), {}
    new = {ax: _merge_small(x.chunks[ax], depth) for ax in split
           if min(x.chunks[ax]) < depth}
    if new:
        x = x.rechunk(new)
    return x, {ax: depth for ax in split if x.numblocks[ax] > 1}


def _prepare(arrays, axes, depths):
    """Overlap every array the same way (no padding at the array's edges)."""
    import dask.array as da

    if not depths:
        return arrays, ()
    over = [da.overlap.overlap(a, depth=depths, boundary="none") for a in arrays]
    info = []
    for ax, d in depths.items():
        chunks = arrays[0].chunks[ax]
        starts = tuple(int(s) for s in np.cumsum((0,) + chunks))
        info.append((ax, starts, d))
        # Each block must hold its own rows plus `d` of each neighbour's
        # (none beyond the array's ends): what _slices relies on.
        last = len(chunks) - 1
        want = tuple(c + (d if i > 0 else 0) + (d if i < last else 0)
                     for i, c in enumerate(chunks))
        if any(o.chunks[ax] != want for o in over):
            raise RuntimeError(f"dask.array.overlap gave chunks {over[0].chunks[ax]} "
                               f"along axis {ax}, expected {want}")
    return over, tuple(info)


# -- the block function ----------------------------------------------------

def _slices(ndim, info, size, left, right, block_info):
    """Per block: the kernel's slice of the overlapped block, and the trim of
    the kernel's result to the block's own elements."""
    take = [slice(None)] * ndim
    keep = [slice(None)] * ndim
    loc = block_info[0]["chunk-location"]
    for ax, starts, depth in info:
        i = loc[ax]
        c0, c1, dim = starts[i], starts[i + 1], starts[-1]
        g = c0 - depth if i > 0 else 0           # global index of the block's first row
        lo = 0 if c0 - left <= 0 else (c0 - left) // size * size
        hi = min(dim, c1 + right)
        take[ax] = slice(lo - g, hi - g)
        keep[ax] = slice(c0 - lo, c1 - lo)
    return tuple(take), tuple(keep)


def _forward_block(xb, *, info, params, left, right, return_scale, block_info=None):
    take, keep = _slices(xb.ndim, info, params["size"], left, right, block_info)
    xs = xb[take]
    if not return_scale:
        return _lrn(xs, **params)[keep]
    both = np.empty_like(xs, shape=(2,) + xs.shape)
    _lrn(xs, **params, out=(both[0], both[1]), return_scale=True)
    return both[(slice(None),) + keep]


def _backward_block(xb, yb, dyb, *sb, info, params, left, right, block_info=None):
    take, keep = _slices(xb.ndim, info, params["size"], left, right, block_info)
    scale = sb[0][take] if sb else None
    return _lrn_backward(xb[take], yb[take], dyb[take], scale=scale, **params)[keep]


# -- public functions --------------------------------------------------------

Method = Literal["auto", "overlap", "rechunk"]


@overload
def lrn(x: ArrayInput, size: int, alpha: float = ..., beta: float = ..., bias: float = ..., *,
        layout: Layout = ..., convention: Convention = ..., region: Region = ...,
        out: None = ..., return_scale: Literal[False] = ..., num_threads: int | None = ...,
        method: Method = ...) -> Array: ...
@overload
def lrn(x: ArrayInput, size: int, alpha: float = ..., beta: float = ..., bias: float = ..., *,
        layout: Layout = ..., convention: Convention = ..., region: Region = ...,
        out: None = ..., return_scale: Literal[True], num_threads: int | None = ...,
        method: Method = ...) -> tuple[Array, Array]: ...


def lrn(x: ArrayInput, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0, *,
        layout: Layout = "NCHW", convention: Convention = "onnx", region: Region = "across",
        out: None = None, return_scale: bool = False, num_threads: int | None = None,
        method: Method = "auto") -> Array | tuple[Array, Array]:
    """Local Response Normalization of a dask array, lazily and block by block.

    The same operation and parameters as :func:`lrn.lrn` (which calls this for
    a ``dask.array.Array``); the result is a lazy dask array that is bitwise
    identical, once computed, to ``lrn.lrn(x.compute(), ...)``.

    Parameters
    ----------
    x : dask.array.Array
        float16, float32 or float64, ``(N, C, *spatial)`` or ``(N, *spatial, C)``,
        chunked any way.
    size, alpha, beta, bias, layout, convention, region
        As in :func:`lrn.lrn`.
    out : None
        Must be None: write the lazy result with ``dask.array.store`` or
        ``.to_zarr`` instead.
    return_scale : bool
        Also return ``scale`` as a second dask array (computed by the same tasks).
    num_threads : int, optional
        Threads per block.  None means 1: the dask scheduler already
        runs one block per core.  Use -1 (all cores) for a few large blocks.
    method : {"auto", "overlap", "rechunk"}
        How blocks along the window axis get their neighbours: an overlap of
        exactly the window's reach (chunks kept), or one block along that axis.
        "auto" rechunks when the merged block fits
        ``dask.config["array.chunk-size"]`` (128 MiB by default; it is cheaper:
        no halo is read twice, fewer tasks), else overlaps.

    Returns
    -------
    y : dask.array.Array, or (y, scale) when ``return_scale``
        Chunked like ``x`` along the independent axes; along the window axis
        like ``x`` when overlapped (small chunks may be merged to be at least as
        deep as the halo), one chunk when rechunked.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from lrn import dask as lrn_dask   # what lrn.lrn calls for a dask array
    >>> x = da.ones((4, 6, 8, 8), dtype=np.float32, chunks=(2, 3, 4, 4))
    >>> y = lrn_dask.lrn(x, size=3, alpha=3.0, beta=1.0)     # lazy
    >>> y.compute()[0, :, 0, 0]
    array([0.33333334, 0.25      , 0.25      , 0.25      , 0.25      ,
           0.33333334], dtype=float32)
    """
    import dask.array as da
    from dask.array.utils import meta_from_array

    params, p = _check_params(size, alpha, beta, bias, layout, convention, region,
                              num_threads)
    return_scale = _params.check_flag(return_scale, "return_scale")
    _check_method(method)
    _check_out(out)
    if not is_dask(x):
        raise TypeError(f"`x` must be a dask array (lrn.lrn takes in-memory arrays), "
                        f"got {type(x).__name__}")
    x = _check_x(x, p, False)
    size = p.size
    left, right = p.reach()
    axes = p.window_axes(x.ndim)
    x, depths = _plan(x, axes, _depth(size, left, right), method)
    (xo,), info = _prepare([x], axes, depths)
    kwargs = dict(info=info, params=params, left=left, right=right,
                  return_scale=return_scale)
    if not return_scale:
        return da.map_blocks(_forward_block, xo, chunks=x.chunks, dtype=x.dtype,
                             meta=meta_from_array(x, x.ndim), name="lrn-" +
                             _token(x, kwargs), **kwargs)
    both = da.map_blocks(_forward_block, xo, chunks=((2,),) + x.chunks, new_axis=0,
                         dtype=x.dtype, meta=meta_from_array(x, x.ndim + 1),
                         name="lrn-scale-" + _token(x, kwargs), **kwargs)
    return both[0], both[1]


def lrn_backward(x: ArrayInput, y: ArrayInput, dy: ArrayInput, size: int, alpha: float = 1e-4,
                 beta: float = 0.75, bias: float = 1.0, *, scale: ArrayInput | None = None,
                 layout: Layout = "NCHW", convention: Convention = "onnx",
                 region: Region = "across", out: None = None, num_threads: int | None = None,
                 method: Method = "auto") -> Array:
    """Input gradient of :func:`lrn` for dask arrays, lazily and block by block.

    The same operation and parameters as :func:`lrn.lrn_backward` (which calls
    this when any of ``x``, ``y``, ``dy``, ``scale`` is a ``dask.array.Array``);
    the result is bitwise identical to the in-memory call.

    Parameters
    ----------
    x, y, dy : dask.array.Array or ndarray
        Same shape and dtype; NumPy arrays are wrapped with the chunks of ``x``
        (``x`` must be a dask array), dask arrays are rechunked like ``x``.
    size, alpha, beta, bias, layout, convention, region
        As in :func:`lrn.lrn_backward`.
    scale : dask.array.Array or ndarray, optional
        The ``scale`` that ``lrn(..., return_scale=True)`` returned.  Without it
        each block recomputes ``scale`` and needs a deeper overlap
        (``size - 1`` more neighbours on each side).
    out : None
        Must be None.
    num_threads, method
        As in :func:`lrn.dask.lrn`.

    Returns
    -------
    dx : dask.array.Array

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from lrn import dask as lrn_dask   # what lrn.lrn_backward calls for dask arrays
    >>> x = da.linspace(-1, 1, 48, chunks=12).reshape(2, 6, 4).rechunk((1, 3, 4))
    >>> y, scale = lrn_dask.lrn(x, size=3, alpha=0.5, return_scale=True)
    >>> dx = lrn_dask.lrn_backward(x, y, da.ones_like(x), size=3, alpha=0.5, scale=scale)
    >>> dx.shape, dx.chunks            # channels merged into one block ("auto")
    ((2, 6, 4), ((1, 1), (6,), (4,)))
    >>> dx = lrn_dask.lrn_backward(x, y, da.ones_like(x), size=3, alpha=0.5, scale=scale,
    ...                         method="overlap")
    >>> dx.chunks                      # the chunks of x; blocks read neighbours' edges
    ((1, 1), (3, 3), (4,))
    """
    import dask.array as da
    from dask.array.utils import meta_from_array

    params, p = _check_params(size, alpha, beta, bias, layout, convention, region,
                              num_threads)
    _check_method(method)
    _check_out(out)
    if not is_dask(x):
        ref = next(a for a in (y, dy, scale) if is_dask(a))
        x = da.from_array(_to_numpy(x, "x"), chunks=ref.chunks if
                          np.shape(x) == ref.shape else "auto")
    x = _check_x(x, p, True)
    others = [_as_dask_like(y, "y", x), _as_dask_like(dy, "dy", x)]
    if scale is not None:
        others.append(_as_dask_like(scale, "scale", x))
    size = p.size
    left, right = _backward_halo(p, scale is not None)
    axes = p.window_axes(x.ndim)
    x, depths = _plan(x, axes, _depth(size, left, right), method)
    arrays = [x] + [a.rechunk(x.chunks) for a in others]
    arrays, info = _prepare(arrays, axes, depths)
    kwargs = dict(info=info, params=params, left=left, right=right)
    return da.map_blocks(_backward_block, *arrays, chunks=x.chunks, dtype=x.dtype,
                         meta=meta_from_array(x, x.ndim),
                         name="lrn-backward-" + _token(*arrays, kwargs), **kwargs)


def _token(*args):
    from dask.base import tokenize

    return tokenize(*args)


register_lazy(is_dask, lrn, lrn_backward)
