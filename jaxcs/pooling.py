"""Max pooling with switches, unpooling, and the model projection ``𝕄`` (model.md §5, eqs. 2–3).

A code ``v`` of shape ``(*spatial, K)`` is cut, per channel, into non-overlapping pooling regions
of shape ``window``; when ``window`` does not divide ``spatial`` the last region along an axis is
partial (as pooling with ``ceil`` mode). The pooled array has shape ``(*pooled, K)`` with
``pooled = ceil(spatial / window)``; a *switch* is the position of the kept entry inside its
region, as a C-order index into ``window``.

``𝕄(v, k) = unpool(block_sparsify(maxpool(v), k))``: keep the largest entry of each region
(largest ``|v|``, or largest ``v`` clipped at 0 when non-negative, i.e. ReLU then max pooling),
keep the ``k`` regions whose kept values are largest in magnitude, and put each kept value back
at its switch (``𝕄_known``) or at a fixed position of its region (``𝕄_fixed``).

Ties go to the lowest flat index at each stage: within a region, to the entry with the lowest
flat index (C order over ``(*spatial, K)``); among regions, to the lowest flat index of the
pooled array (C order over ``(*pooled, K)``). For a top-k model (``window`` of ones) both are the
flat index of the code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxcs.arguments import positive_ints


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


def check_window(window: Sequence[int], spatial: Sequence[int], name: str = "window"):
    """Validate a pooling window against a code's spatial shape; return it as a tuple."""
    window = positive_ints(window, name)
    if len(window) != len(spatial):
        raise ValueError(
            f"{name} must have one positive size per spatial axis of the code "
            f"(spatial shape {tuple(spatial)}); got {window}"
        )
    return window


def _cells(v: jax.Array, window: tuple[int, ...], fill) -> jax.Array:
    """``(*spatial, K)`` -> ``(*pooled, prod(window), K)``, partial regions padded with fill.

    The channel axis stays last (contiguous), so reductions over a region's cells run along
    a non-minor axis, vectorised over channels. NumPy in, NumPy out (static masks); anything
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


def _uncells(cells: jax.Array, window: tuple[int, ...], spatial: tuple[int, ...]) -> jax.Array:
    """Inverse of :func:`_cells`: ``(*pooled, prod(window), K)`` -> ``(*spatial, K)``."""
    d = len(window)
    pooled, K = cells.shape[:d], cells.shape[-1]
    v = cells.reshape(pooled + window + (K,))
    order = sum(((a, d + a) for a in range(d)), ()) + (2 * d,)
    v = v.transpose(order).reshape(tuple(p * w for p, w in zip(pooled, window, strict=True)) + (K,))
    return v[tuple(slice(0, n) for n in spatial)]


def _valid_cells(spatial: tuple[int, ...], window: tuple[int, ...]) -> np.ndarray:
    """Static ``(*pooled, prod(window), 1)`` mask of the cells inside the code."""
    return _cells(np.ones(spatial + (1,), dtype=bool), window, False)


def first_max(score: jax.Array, axis: int) -> jax.Array:
    """``jnp.argmax(score, axis)``: the lowest index of the maximum (of the first NaN, if any).

    Written as a max, then a min over the indices that attain it: two plain reductions that
    XLA vectorises, where its fused argmax reduction is several times slower on CPU.
    """
    best = jnp.max(score, axis=axis, keepdims=True)
    hit = (score == best) | jnp.isnan(score)  # a NaN anywhere makes best NaN
    index = jax.lax.broadcasted_iota(jnp.int32, score.shape, axis % score.ndim)
    first = jnp.min(jnp.where(hit, index, score.shape[axis]), axis=axis)
    return first.astype(int)  # argmax's dtype: int32, or int64 under x64


def _region_scores(v: jax.Array, window: tuple[int, ...], nonnegative: bool):
    """``(cells, score)``: :func:`_cells` of ``v`` and the score each cell competes with
    (``v`` or ``|v|``; ``-inf`` at the padding of partial regions, which never wins)."""
    cells = _cells(v, window, 0)
    score = cells if nonnegative else jnp.abs(cells)
    valid = _valid_cells(v.shape[:-1], window)
    if not valid.all():
        score = jnp.where(valid, score, -jnp.inf)
    return cells, score


def max_pool(v: jax.Array, window: Sequence[int], *, nonnegative: bool = False):
    """Max pooling that records its switches (model.md §5).

    Args:
        v: ``(*spatial, K)``.
        window: pooling region shape, one size per spatial axis (stride = window).
        nonnegative: ``True``: ``max(v)`` clipped at 0 (ReLU then max pooling, as a CNN);
            ``False``: the entry of largest ``|v|``, with its sign (the theory's signed model).

    Returns:
        ``(values, switches)``, both ``(*pooled, K)``; ``switches`` are C-order indices into
        ``window`` (ties: the lowest index).
    """
    v = jnp.asarray(v)
    window = check_window(window, v.shape[:-1])
    if math.prod(window) == 1:  # every cell is its own region (top-k): nothing to pool
        return (jnp.maximum(v, 0) if nonnegative else v), jnp.zeros(v.shape, int)
    cells, score = _region_scores(v, window, nonnegative)
    switches = first_max(score, axis=-2)
    values = jnp.take_along_axis(cells, switches[..., None, :], axis=-2)[..., 0, :]
    if nonnegative:
        values = jnp.maximum(values, 0)
    return values, switches


def unpool(values, switches, window: Sequence[int], spatial: Sequence[int]) -> jax.Array:
    """Put each pooled value back at its switch: ``(*pooled, K)`` -> ``(*spatial, K)``."""
    values = jnp.asarray(values)
    spatial = tuple(int(n) for n in spatial)
    window = check_window(window, spatial)
    switches = jnp.asarray(switches)
    if not isinstance(switches, jax.core.Tracer) and (
        jnp.any(switches < 0) or jnp.any(switches >= math.prod(window))
    ):
        raise ValueError(f"switches must be indices in [0, {math.prod(window)}) of window {window}")
    cells = jnp.arange(math.prod(window))[:, None] == switches[..., None, :]
    return _uncells(jnp.where(cells, values[..., None, :], 0), window, spatial)


def fixed_switches(
    spatial: Sequence[int], window: Sequence[int], position: Sequence[int] | None = None
) -> np.ndarray:
    """Switches of ``𝕄_fixed``: every region's value at ``position`` (default: top-left).

    ``position`` is an offset inside the window, one per axis; in a partial border region it is
    clamped to the region's last cell. Returns ``(*pooled, 1)`` C-order switch indices.
    """
    spatial = tuple(int(n) for n in spatial)
    window = check_window(window, spatial)
    position = (0,) * len(window) if position is None else tuple(int(p) for p in position)
    if len(position) != len(window) or any(
        not 0 <= p < w for p, w in zip(position, window, strict=True)
    ):
        raise ValueError(f"position must be an offset inside window {window}; got {position}")
    pooled = pooled_shape(spatial, window)
    coords = []
    for axis, (p, w, n) in enumerate(zip(position, window, spatial, strict=True)):
        starts = np.arange(pooled[axis]) * w
        size = np.minimum(w, n - starts)
        shape = [1] * len(window)
        shape[axis] = -1
        coords.append(np.minimum(p, size - 1).reshape(shape))
    grids = np.broadcast_arrays(*coords)
    return np.ravel_multi_index(tuple(grids), window)[..., None]


def _check_k(k):
    """A concrete ``k`` must be a non-negative integer (traced values are not checked)."""
    if k is None or isinstance(k, jax.core.Tracer):
        return
    array = np.asarray(k)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0):
        raise ValueError(f"k must be None or a non-negative integer; got {k!r}")


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


def keep_largest(values: jax.Array, k, capacity: int | None = None) -> jax.Array:
    """Boolean mask of the ``k`` entries of largest magnitude (ties: lowest flat index).

    ``k`` may be a traced integer: no shape depends on it. With a static ``capacity ≥ k`` the
    ranking is ``lax.top_k`` of ``capacity`` entries (fast); without one, a stable sort of all
    entries. A traced ``k`` above ``capacity`` cannot be honoured: the mask is then all ``True``
    and callers report NaN (see :func:`pool_project`). ``k = None`` keeps everything.
    """
    values = jnp.asarray(values)
    _check_k(k)
    if k is None:
        return jnp.ones(values.shape, bool)
    chosen, used = rank_largest(values, k, capacity)
    keep = jnp.zeros(values.size, bool).at[chosen].set(used)
    return keep.reshape(values.shape)


def exceeds_capacity(k, capacity: int | None):
    """Whether a (traced) ``k`` is beyond a static ``capacity``: such codes come out NaN."""
    if capacity is None or k is None:
        return False
    return jnp.asarray(k) > capacity


def block_sparsify(values: jax.Array, k, capacity: int | None = None) -> jax.Array:
    """Keep the ``k`` largest-magnitude pooled values and zero the rest (model.md §5)."""
    values = jnp.asarray(values)
    return jnp.where(keep_largest(values, k, capacity), values, 0)


def pool_project(
    v: jax.Array,
    window: Sequence[int],
    k=None,
    *,
    nonnegative: bool = False,
    switches: str = "known",
    position: Sequence[int] | None = None,
    capacity: int | None = None,
) -> jax.Array:
    """``𝕄(v, k) = unpool(block_sparsify(maxpool(v), k))`` (model.md §5, eqs. 2–3).

    With ``switches="known"`` this is the exact Euclidean projection onto the pooling model
    (at most one non-zero per region, at most ``k`` non-zero regions, optionally non-negative).

    Args:
        v: ``(*spatial, K)``.
        window: pooling region shape.
        k: number of regions kept (``None``: all), may be traced.
        nonnegative: ReLU then max pooling instead of max-|·| pooling.
        switches: ``"known"`` (``𝕄_known``, the argmax positions) or ``"fixed"`` (``𝕄_fixed``).
        position: the fixed position for ``switches="fixed"`` (default: top-left).
        capacity: a static upper bound on ``k`` (enables the fast ``lax.top_k`` ranking; a
            traced ``k`` above it makes the result NaN rather than wrong).

    Returns:
        ``(*spatial, K)``, model-sparse.
    """
    v = jnp.asarray(v)
    _check_k(k)
    values, known = max_pool(v, window, nonnegative=nonnegative)
    if switches == "known":
        where = known
    elif switches == "fixed":
        where = fixed_switches(v.shape[:-1], window, position)
    else:
        raise ValueError(f"switches must be 'known' or 'fixed'; got {switches!r}")
    projected = unpool(block_sparsify(values, k, capacity), where, window, v.shape[:-1])
    # NaN has no place in a ranking: a NaN input makes the whole projection NaN (reported by
    # the callers' finiteness checks) instead of being dropped silently. So does a k that the
    # static capacity cannot hold. (Pooling keeps a region's NaN, so the pooled values show it.)
    invalid = jnp.any(jnp.isnan(values)) | exceeds_capacity(k, capacity)
    return jnp.where(invalid, jnp.nan, projected)


def region_best(v: jax.Array, window: tuple[int, ...], nonnegative: bool) -> jax.Array:
    """The best score of every region, flat over ``(*pooled, K)``: ``max |v|`` (``max v``
    when non-negative, not clipped); NaN where a region holds a NaN."""
    return jnp.max(_region_scores(v, window, nonnegative)[1], axis=-2).reshape(-1)


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


def pool_project_sparse(
    v: jax.Array,
    window: Sequence[int],
    k=None,
    *,
    nonnegative: bool = False,
    capacity: int | None = None,
):
    """:func:`pool_project` with known switches, in index form: ``(indices, values, used)``.

    The same kept entries, ties and NaN rule as :func:`pool_project`, as ``capacity`` slots
    (``capacity`` ≥ ``k``; ``None``: one slot per region) of flat code indices, values and a
    mask of the used slots (a kept value of exactly 0 is not used: ``used`` marks the
    non-zeros of the dense projection). Unused slots hold value 0. A NaN in ``v``, or a traced
    ``k`` above ``capacity``, makes every value NaN.
    """
    v = jnp.asarray(v)
    _check_k(k)
    spatial, K = v.shape[:-1], v.shape[-1]
    window = check_window(window, spatial)
    regions = math.prod(pooled_shape(spatial, window)) * K
    if k is not None and capacity is not None and capacity < regions:
        # rank the regions by their pooled magnitude first, then find the switches of the
        # ranked ones only: the same entries as pooling everything, at O(capacity · window)
        best = region_best(v, window, nonnegative)
        pooled = jnp.maximum(best, 0) if nonnegative else best  # |max_pool values|
        region, used = rank_largest(pooled, k, capacity)
        indices, kept = region_switches(v, region, best[region], window, nonnegative)
        invalid_values = pooled
    else:
        values, switches = max_pool(v, window, nonnegative=nonnegative)
        values, switches = values.reshape(-1), switches.reshape(-1)
        if k is None:
            region = jnp.arange(values.size, dtype=jnp.int32)
            used = jnp.ones(values.shape, bool)
        else:
            region, used = rank_largest(values, k, capacity)
        kept = values[region]
        indices = switch_index(region, switches[region], spatial, window, K)
        invalid_values = values
    used = used & (kept != 0)
    kept = jnp.where(used, kept, 0)
    # pooling keeps a region's NaN
    invalid = jnp.any(jnp.isnan(invalid_values)) | exceeds_capacity(k, capacity)
    return indices, jnp.where(invalid, jnp.nan, kept), used
