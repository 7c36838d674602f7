"""Regions of a code and the ranking kernel shared by the projections, the ray projection and
the samplers (internal to :mod:`jaxcs.models`).

A code ``v`` of shape ``(*spatial, K)`` is cut, per channel, into non-overlapping regions of
shape ``window`` (a pooling window; the whole map for the block model; a single cell for top-k);
when ``window`` does not divide ``spatial`` the last region along an axis is partial (ceil
mode). Regions are numbered in C order over ``(*pooled, K)`` with
``pooled = ceil(spatial / window)``, cells of a code in C order over ``(*spatial, K)``, and a
*switch* is the position of a kept cell inside its region (C order over ``window``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import overload

import jax
import jax.numpy as jnp
import numpy as np


def pooled_shape(spatial: Sequence[int], window: Sequence[int]) -> tuple[int, ...]:
    """``ceil(spatial / window)`` per axis: the number of pooling regions per axis."""
    return tuple(-(-n // w) for n, w in zip(spatial, window, strict=True))


def region_coordinates(region: jax.Array, pooled: Sequence[int], K: int):
    """Flat region indices (C order over ``(*pooled, K)``) -> ``(channel, [p_0, p_1, …])``."""
    channel = region % K
    rest = region // K
    coords = []
    for size in reversed(pooled):
        coords.append(rest % size)
        rest = rest // size
    return channel, coords[::-1]


def code_index(channel: jax.Array, positions, spatial: Sequence[int], K: int) -> jax.Array:
    """Flat code index (C order over ``(*spatial, K)``) of a cell at ``positions`` (per axis)."""
    flat = jnp.zeros_like(channel)
    for axis, position in enumerate(positions):
        flat = flat * spatial[axis] + position
    return (flat * K + channel).astype(jnp.int32)


def switch_index(region, switch, spatial: Sequence[int], window: Sequence[int], K: int):
    """Flat code index of the cell at ``switch`` (C order in ``window``) of each region."""
    channel, coords = region_coordinates(region, pooled_shape(spatial, window), K)
    offsets = jnp.unravel_index(switch, tuple(window))
    positions = [p * w + o for p, w, o in zip(coords, window, offsets, strict=True)]
    return code_index(channel, positions, spatial, K)


def region_cells(region, spatial: Sequence[int], window: Sequence[int], K: int):
    """Every cell of each region: flat code indices ``(prod(window), *region.shape)``, cells in
    C order over ``window`` along the first axis (so reductions over a region's cells run
    along a major axis), and a mask of the cells inside the code (a partial border region has
    fewer; its outside cells are clamped to the border). Region ids out of range give
    clamped, meaningless cells: callers mask them.
    """
    channel, coords = region_coordinates(region, pooled_shape(spatial, window), K)
    offsets = np.array(list(itertools.product(*map(range, window))), int).reshape(
        math.prod(window), len(window)
    )
    extra = (1,) * jnp.ndim(region)
    positions = [
        p * w + offsets[:, a].reshape(-1, *extra)
        for a, (p, w) in enumerate(zip(coords, window, strict=True))
    ]
    inside = jnp.ones((len(offsets),) + jnp.shape(region), bool)
    for position, n in zip(positions, spatial, strict=True):
        inside = inside & (position < n)
    positions = [jnp.minimum(p, n - 1) for p, n in zip(positions, spatial, strict=True)]
    return code_index(jnp.broadcast_to(channel, inside.shape), positions, spatial, K), inside


@overload
def to_cells(v: np.ndarray, window: tuple[int, ...], fill) -> np.ndarray: ...


@overload
def to_cells(v: jax.Array, window: tuple[int, ...], fill) -> jax.Array: ...


def to_cells(v, window: tuple[int, ...], fill):
    """``(*spatial, K)`` -> ``(*pooled, prod(window), K)``, partial regions padded with fill.

    The channel axis stays last (contiguous), so reductions over a region's cells run along
    a non-minor axis, vectorized over channels. NumPy in, NumPy out (static masks); anything
    else goes through ``jax.numpy``.
    """
    xp = np if isinstance(v, np.ndarray) else jnp
    spatial, K, d = v.shape[:-1], v.shape[-1], len(window)
    pooled = pooled_shape(spatial, window)
    pad = [(0, p * w - n) for p, w, n in zip(pooled, window, spatial, strict=True)] + [(0, 0)]
    v = xp.pad(v, pad, constant_values=fill)
    v = v.reshape(sum(((p, w) for p, w in zip(pooled, window, strict=True)), ()) + (K,))
    order = tuple(range(0, 2 * d, 2)) + tuple(range(1, 2 * d, 2)) + (2 * d,)
    return v.transpose(order).reshape(pooled + (math.prod(window), K))


def from_cells(cells: jax.Array, window: tuple[int, ...], spatial: tuple[int, ...]) -> jax.Array:
    """Inverse of :func:`to_cells`: ``(*pooled, prod(window), K)`` -> ``(*spatial, K)``."""
    d = len(window)
    pooled, K = cells.shape[:d], cells.shape[-1]
    v = cells.reshape(pooled + window + (K,))
    order = sum(((a, d + a) for a in range(d)), ()) + (2 * d,)
    v = v.transpose(order).reshape(tuple(p * w for p, w in zip(pooled, window, strict=True)) + (K,))
    return v[tuple(slice(0, n) for n in spatial)]


def valid_cells(spatial: tuple[int, ...], window: tuple[int, ...]) -> np.ndarray:
    """Static ``(*pooled, prod(window), 1)`` mask of the cells inside the code."""
    return to_cells(np.ones(spatial + (1,), dtype=bool), window, False)


def first_max(score: jax.Array, axis: int) -> jax.Array:
    """``jnp.argmax(score, axis)``: the lowest index of the maximum (of the first NaN, if any).

    Written as a max, then a min over the indices that attain it: two plain reductions that
    XLA vectorizes, where its fused argmax reduction is several times slower on CPU.
    """
    best = jnp.max(score, axis=axis, keepdims=True)
    hit = (score == best) | jnp.isnan(score)  # a NaN anywhere makes best NaN
    index = jax.lax.broadcasted_iota(jnp.int32, score.shape, axis % score.ndim)
    first = jnp.min(jnp.where(hit, index, score.shape[axis]), axis=axis)
    return first.astype(int)  # argmax's dtype: int32, or int64 under x64


def region_scores(v: jax.Array, window: tuple[int, ...], nonnegative: bool):
    """``(cells, score)``: :func:`to_cells` of ``v`` and the score each cell competes with
    (``v`` or ``|v|``; ``-inf`` at the padding of partial regions, which never wins)."""
    cells = to_cells(v, window, 0)
    score = cells if nonnegative else jnp.abs(cells)
    valid = valid_cells(v.shape[:-1], window)
    if not valid.all():
        score = jnp.where(valid, score, -jnp.inf)
    return cells, score


def region_best(v: jax.Array, window: tuple[int, ...], nonnegative: bool) -> jax.Array:
    """The best score of every region, flat over ``(*pooled, K)``: ``max |v|`` (``max v``
    when non-negative, not clipped); NaN where a region holds a NaN."""
    return jnp.max(region_scores(v, window, nonnegative)[1], axis=-2).reshape(-1)


def region_switches(v, region, best, window: tuple[int, ...], nonnegative: bool):
    """:func:`max_pool` of a few regions: ``(indices, values)``, the flat code index and value
    of the kept cell of each ``region`` (lowest cell attaining its ``best`` score, from
    :func:`region_best`; values clipped at 0 when non-negative). A NaN region gives an
    arbitrary cell of it (callers report the NaN).
    """
    cells, inside = region_cells(region, v.shape[:-1], window, v.shape[-1])  # (c, *regions)
    cell_values = v.reshape(-1)[cells]
    cell_score = cell_values if nonnegative else jnp.abs(cell_values)
    last = len(cells) - 1
    iota = jnp.arange(len(cells)).reshape((-1,) + (1,) * jnp.ndim(region))
    switch = jnp.min(jnp.where(inside & (cell_score == best), iota, last), axis=0)[None]
    values = jnp.take_along_axis(cell_values, switch, axis=0)[0]
    indices = jnp.take_along_axis(cells, switch, axis=0)[0]
    return indices, (jnp.maximum(values, 0) if nonnegative else values)


def rank_largest(values: jax.Array, k, capacity: int | None = None):
    """The entries of ``values`` of largest magnitude, best first: ``(indices, used)``.

    ``indices`` are flat (C-order) indices of the ``capacity`` largest entries (all entries,
    sorted, when ``capacity`` is ``None`` or not smaller than the size); ``used`` marks the
    first ``k`` slots (``k`` may be traced; ``None``: all). Ties go to the lowest flat index
    (``lax.top_k`` with a static ``capacity``, else a stable sort).
    """
    flat = jnp.abs(jnp.asarray(values)).reshape(-1)
    if capacity is not None and capacity < flat.size:
        # top_k breaks ties towards the lower index, as the stable sort does
        chosen = jax.lax.top_k(flat, capacity)[1]
    else:
        chosen = jnp.argsort(-flat, stable=True)
    slots = jnp.arange(chosen.size)
    used = jnp.ones(chosen.shape, bool) if k is None else slots < k
    return chosen.astype(jnp.int32), used


def exceeds_capacity(k, capacity: int | None):
    """Whether a (traced) ``k`` is beyond a static ``capacity``: such codes come out NaN."""
    if capacity is None or k is None:
        return False
    return jnp.asarray(k) > capacity
