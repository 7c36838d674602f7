"""Max pooling with switches, unpooling, and the model projection ``𝕄`` (eqs. 2–3).

A code ``v`` of shape ``(*spatial, K)`` is cut, per channel, into non-overlapping pooling regions
of shape ``pool_size``; when ``pool_size`` does not divide ``spatial`` the last region along an
axis is partial (as pooling with ``ceil`` mode); a region larger than the map along an axis is a
ValueError (it would be one partial region, silently). The pooled array has shape
``(*pooled, K)`` with ``pooled = ceil(spatial / pool_size)``; a *switch* is the position of the
kept entry inside its region, as a C-order index into ``pool_size``.

``𝕄(v, k) = unpool(block_sparsify(maxpool(v), k))``: keep the largest entry of each region
(largest ``|v|``, or largest ``v`` clipped at 0 when non-negative, i.e. ReLU then max pooling),
keep the ``k`` regions whose kept values are largest in magnitude, and put each kept value back
at its switch (``𝕄_known``) or at a fixed position of its region (``𝕄_fixed``).

Ties go to the lowest flat index at each stage: within a region, to the entry with the lowest
flat index (C order over ``(*spatial, K)``); among regions, to the lowest flat index of the
pooled array (C order over ``(*pooled, K)``). For a top-k model (``pool_size`` of ones) both are the
flat index of the code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs._validate import check_k, check_pool_size, is_traced
from jaxcs.models._regions import (
    exceeds_capacity,
    first_max,
    from_cells,
    pooled_shape,
    rank_largest,
    region_best,
    region_scores,
    region_switches,
    switch_index,
)


def max_pool(
    v: Float[ArrayLike, "*spatial K"], pool_size: Sequence[int], *, nonnegative: bool = False
) -> tuple[Float[Array, "*pooled K"], Int[Array, "*pooled K"]]:
    """Max pooling that records its switches (eqs. 2–3).

    Args:
        v: ``(*spatial, K)``.
        pool_size: pooling region shape, one size per spatial axis (stride = pool size), at
            most the map size along each axis (a larger window is a ValueError).
        nonnegative: ``True``: ``max(v)`` clipped at 0 (ReLU then max pooling, as a CNN);
            ``False``: the entry of largest ``|v|``, with its sign (the theory's signed model).

    Returns:
        ``(values, switches)``, both ``(*pooled, K)``; ``switches`` are C-order indices into
        the region (ties: the lowest index). With ``nonnegative``, the switch of a region whose
        values are all ``≤ 0`` is still the argmax of the pre-ReLU values (the least negative
        entry, lowest index on ties), and its value is 0.
    """
    v = jnp.asarray(v)
    window = check_pool_size(pool_size, v.shape[:-1])
    if math.prod(window) == 1:  # every cell is its own region (top-k): nothing to pool
        return (jnp.maximum(v, 0) if nonnegative else v), jnp.zeros(v.shape, int)
    cells, score = region_scores(v, window, nonnegative)
    switches = first_max(score, axis=-2)
    values = jnp.take_along_axis(cells, switches[..., None, :], axis=-2)[..., 0, :]
    if nonnegative:
        values = jnp.maximum(values, 0)
    return values, switches


def unpool(
    values: Float[ArrayLike, "*pooled K"],
    switches: Int[ArrayLike, "*pooled #K"],
    pool_size: Sequence[int],
    spatial: Sequence[int],
) -> Float[Array, "*spatial K"]:
    """Put each pooled value back at its switch: ``(*pooled, K)`` -> ``(*spatial, K)``."""
    values = jnp.asarray(values)
    spatial = tuple(int(n) for n in spatial)
    window = check_pool_size(pool_size, spatial)
    switches = jnp.asarray(switches)
    if not is_traced(switches) and (
        jnp.any(switches < 0) or jnp.any(switches >= math.prod(window))
    ):
        raise ValueError(f"switches must be indices in [0, {math.prod(window)}) of window {window}")
    cells = jnp.arange(math.prod(window))[:, None] == switches[..., None, :]
    return from_cells(jnp.where(cells, values[..., None, :], 0), window, spatial)


def fixed_switches(
    spatial: Sequence[int], pool_size: Sequence[int], position: Sequence[int] | None = None
) -> Int[np.ndarray, "*pooled 1"]:
    """Switches of ``𝕄_fixed``: every region's value at ``position`` (default: top-left).

    ``position`` is an offset inside the region, one per axis; in a partial border region it is
    clamped to the region's last cell. Returns ``(*pooled, 1)`` C-order switch indices.
    """
    spatial = tuple(int(n) for n in spatial)
    window = check_pool_size(pool_size, spatial)
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


def keep_largest(
    values: Float[ArrayLike, "*shape"],
    k: int | Int[ArrayLike, ""] | None,
    capacity: int | None = None,
) -> Bool[Array, "*shape"]:
    """Boolean mask of the ``k`` entries of largest magnitude (ties: lowest flat index).

    ``k`` may be a traced integer: no shape depends on it. With a static ``capacity ≥ k`` the
    ranking is ``lax.top_k`` of ``capacity`` entries (fast); without one, a stable sort of all
    entries. A traced ``k`` above ``capacity`` cannot be honoured: the mask is then all ``True``
    and callers report NaN (see :func:`pool_project`). ``k = None`` keeps everything.
    """
    values = jnp.asarray(values)
    check_k(k, scalar=True)
    if k is None:
        return jnp.ones(values.shape, bool)
    chosen, used = rank_largest(values, k, capacity)
    keep = jnp.zeros(values.size, bool).at[chosen].set(used)
    return keep.reshape(values.shape)


def block_sparsify(
    values: Float[ArrayLike, "*pooled K"],
    k: int | Int[ArrayLike, ""] | None,
    capacity: int | None = None,
) -> Float[Array, "*pooled K"]:
    """Keep the ``k`` largest-magnitude pooled values and zero the rest (eqs. 2–3)."""
    values = jnp.asarray(values)
    return jnp.where(keep_largest(values, k, capacity), values, 0)


def check_switches(switches) -> str:
    """``switches`` checked to be ``"known"`` (``𝕄_known``) or ``"fixed"`` (``𝕄_fixed``)."""
    if switches not in ("known", "fixed"):
        raise ValueError(f"switches must be 'known' or 'fixed'; got {switches!r}")
    return switches


def pool_project(
    v: Float[ArrayLike, "*spatial K"],
    pool_size: Sequence[int],
    k: int | Int[ArrayLike, ""] | None = None,
    *,
    nonnegative: bool = False,
    switches: str = "known",
    position: Sequence[int] | None = None,
    capacity: int | None = None,
) -> Float[Array, "*spatial K"]:
    """``𝕄(v, k) = unpool(block_sparsify(maxpool(v), k))`` (eqs. 2–3).

    With ``switches="known"`` this is the exact Euclidean projection onto the pooling model
    (at most one non-zero per region, at most ``k`` non-zero regions, optionally non-negative).

    Args:
        v: ``(*spatial, K)``.
        pool_size: pooling region shape.
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
    check_k(k, scalar=True)
    window = check_pool_size(pool_size, v.shape[:-1])
    values, known = max_pool(v, window, nonnegative=nonnegative)
    check_switches(switches)
    if switches == "known":
        where = known
    else:
        where = fixed_switches(v.shape[:-1], window, position)
    projected = unpool(block_sparsify(values, k, capacity), where, window, v.shape[:-1])
    # NaN has no place in a ranking: a NaN input makes the whole projection NaN (reported by
    # the callers' finiteness checks) instead of being dropped silently. So does a k that the
    # static capacity cannot hold. (Pooling keeps a region's NaN, so the pooled values show it.)
    invalid = jnp.any(jnp.isnan(values)) | exceeds_capacity(k, capacity)
    return jnp.where(invalid, jnp.nan, projected)


def pool_project_sparse(
    v: Float[ArrayLike, "*spatial K"],
    pool_size: Sequence[int],
    k: int | Int[ArrayLike, ""] | None = None,
    *,
    nonnegative: bool = False,
    capacity: int | None = None,
) -> tuple[Int[Array, " slots"], Float[Array, " slots"], Bool[Array, " slots"]]:
    """:func:`pool_project` with known switches, in index form: ``(indices, values, used)``.

    The same kept entries, ties and NaN rule as :func:`pool_project`, as ``capacity`` slots
    (``capacity`` ≥ ``k``; ``None``: one slot per region) of flat code indices, values and a
    mask of the used slots (a kept value of exactly 0 is not used: ``used`` marks the
    non-zeros of the dense projection). Unused slots hold value 0. A NaN in ``v``, or a traced
    ``k`` above ``capacity``, makes every value NaN.
    """
    v = jnp.asarray(v)
    check_k(k, scalar=True)
    spatial, K = v.shape[:-1], v.shape[-1]
    window = check_pool_size(pool_size, spatial)
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
