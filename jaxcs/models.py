"""Structured sparsity models: block (𝓜_k), pooling, and plain top-k (model.md §4).

All three are one idea, a :class:`RegionModel`: the code ``(*spatial, K)`` is cut, per channel,
into regions; a model-sparse code has **at most one non-zero per region** and at most ``k``
non-zero regions, optionally all non-negative.

- :class:`BlockModel`: one region per filter (all ``n`` shifts of channel ``i``), the theory's
  𝓜_k; ``k ≤ K``.
- :class:`PoolingModel`: the regions are pooling windows of each channel's map.
- :class:`TopKModel`: every entry is its own region (classical k-sparsity).

The methods act on **one** code ``(*spatial, K)``; use ``jax.vmap`` for batches (``sample`` draws
a batch itself). ``k`` is an array leaf, so a sweep over ``k`` (or ``jax.vmap`` over a stack of
models) does not recompile. Sparse codes in index form (:class:`SparseCode`) have a static
*capacity* ``max_k``, fixed when the model is built (a static field, so it also holds inside
``jit`` where ``k`` is traced); any ``k ≤ max_k`` shares the compiled code. By default ``max_k``
is ``k`` rounded up to a multiple of 8 (at least 8; for an array of ``k``, its largest entry),
capped at the number of regions when used; a model built with a traced ``k`` and no ``max_k``
has room for every region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from jaxcs.arguments import float_dtype, positive_int, positive_ints
from jaxcs.pooling import (
    _cells,
    check_window,
    code_index,
    exceeds_capacity,
    keep_largest,
    pool_project,
    pool_project_sparse,
    pooled_shape,
    region_coordinates,
)
from jaxcs.pytree import PytreeNode

CAPACITY_QUANTUM = 8
FLOYD_MAX_CAPACITY = 64  # distinct-region sampling: Floyd's algorithm up to here, else top-k
FLOYD_UNROLL = 16  # Floyd's loop is unrolled up to this capacity
DISTRIBUTIONS = ("uniform", "normal", "rademacher")


def concrete_int(value) -> int | None:
    """``value`` as a Python int if it is concrete (not traced, scalar), else ``None``."""
    if value is None or isinstance(value, jax.core.Tracer):
        return None
    array = np.asarray(value)
    return int(array) if array.ndim == 0 else None


def _check_k(k, name="k"):
    if k is None:
        return None
    if isinstance(k, jax.core.Tracer):
        return k
    array = np.asarray(k)
    if not np.issubdtype(array.dtype, np.integer) and not (
        np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array))
    ):
        raise ValueError(f"{name} must be a non-negative integer (or integer array); got {k!r}")
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0; got {k!r}")
    return int(array) if array.ndim == 0 else jnp.asarray(array, jnp.int32)


class SparseCode(PytreeNode):
    """A model-sparse code in index form, ``max_k`` slots of which the first ``k`` are used.

    Attributes:
        indices: ``(*batch, max_k)`` int32 flat indices into a code of shape ``shape``.
        values: ``(*batch, max_k)`` values of the used slots (0 in unused slots; a solver
            state may keep a used slot at 0).
        mask: ``(*batch, max_k)`` bool, ``True`` for used slots.
        shape: the dense code shape ``(*spatial, K)`` (static).
    """

    _leaves = ("indices", "values", "mask")
    _static = ("shape",)

    def __init__(self, indices, values, mask, shape):
        self._set(indices=indices, values=values, mask=mask, shape=tuple(shape))

    def used_values(self) -> jax.Array:
        """``values`` in used slots and 0 in the others, except that a NaN stays a NaN."""
        return jnp.where(self.mask | jnp.isnan(self.values), self.values, 0)

    def _scatter(self, dense: jax.Array, values: jax.Array, combine: str) -> jax.Array:
        """``dense`` (``(*batch, *shape)``) with ``values`` (one per slot) combined into their
        cells by ``combine`` (``"add"`` or ``"max"``)."""
        dense, size = jnp.asarray(dense), math.prod(self.shape)
        flat = self.indices.reshape(-1, self.indices.shape[-1])
        rows = jnp.arange(flat.shape[0])[:, None]
        out = getattr(dense.reshape(flat.shape[0], size).at[rows, flat], combine)
        return out(values.reshape(flat.shape)).reshape(dense.shape)

    def add_to(self, v: jax.Array) -> jax.Array:
        """``v + to_dense()`` (``v``: ``(*batch, *shape)``, dtypes promoted as ``+`` does) by a
        scatter-add of the slots, at ``O(slots)`` after ``v``; a NaN value makes its own cell
        NaN."""
        v = jnp.asarray(v)
        expected = self.indices.shape[:-1] + self.shape
        if v.shape != expected:
            raise ValueError(f"v must have shape {expected} (batch + code shape); got {v.shape}")
        dtype = jnp.result_type(v.dtype, self.values.dtype)  # as ``v + to_dense()`` promotes
        return self._scatter(v.astype(dtype), self.used_values().astype(dtype), "add")

    def to_dense(self) -> jax.Array:
        """``(*batch, *shape)`` dense codes (NaN throughout where any slot's value is NaN)."""
        batch = self.indices.shape[:-1]
        dense = self.add_to(jnp.zeros(batch + self.shape, self.values.dtype))
        # a NaN in any slot (a projection of NaN data, a k beyond the capacity) spoils the
        # whole code, as it does for the dense projection
        nan = jnp.any(jnp.isnan(self.values), axis=-1)
        return jnp.where(nan.reshape(batch + (1,) * len(self.shape)), jnp.nan, dense)

    def support(self) -> jax.Array:
        """``(*batch, *shape)`` booleans: the cells of the used slots."""
        batch = self.indices.shape[:-1]
        return self._scatter(jnp.zeros(batch + self.shape, bool), self.mask, "max")

    def norm(self) -> jax.Array:
        """``‖to_dense()‖`` per code (NaN where a slot is NaN), at ``O(slots)``."""
        return jnp.sqrt(jnp.sum(self.used_values() ** 2, axis=-1))

    def _matches(self, other: SparseCode):
        """``(…, slots, other slots)``: used slot of ``self`` at the cell of a used slot of
        ``other``; or ``None`` when pairwise comparison costs more than the dense code."""
        if not isinstance(other, SparseCode) or (other.shape, other.indices.shape[:-1]) != (
            self.shape,
            self.indices.shape[:-1],
        ):
            raise ValueError(
                f"other must be a SparseCode of shape {self.shape} with batch shape "
                f"{self.indices.shape[:-1]}; got {other!r}"
            )
        if self.indices.shape[-1] * other.indices.shape[-1] > math.prod(self.shape):
            return None
        same = self.indices[..., :, None] == other.indices[..., None, :]
        return same & self.mask[..., :, None] & other.mask[..., None, :]

    def distance(self, other: SparseCode) -> jax.Array:
        """``‖to_dense() − other.to_dense()‖`` per code, for codes (as the projections give)
        whose used slots have distinct cells: pairwise over the slots when that is cheaper
        than the dense codes, else dense. NaN where a slot of either is NaN."""
        same = self._matches(other)
        if same is None:
            diff = self.to_dense() - other.to_dense()
            return jnp.sqrt(jnp.sum(diff**2, axis=tuple(range(-len(self.shape), 0))))
        mine, theirs = self.used_values(), other.used_values()
        matched = jnp.sum(jnp.where(same, theirs[..., None, :], 0), axis=-1)
        theirs_alone = jnp.where(jnp.any(same, axis=-2), 0, theirs)
        return jnp.sqrt(jnp.sum((mine - matched) ** 2, -1) + jnp.sum(theirs_alone**2, -1))

    def same_support(self, other: SparseCode) -> jax.Array:
        """Whether the used slots of both codes cover the same cells, per code."""
        same = self._matches(other)
        if same is None:
            axes = tuple(range(-len(self.shape), 0))
            return jnp.all(self.support() == other.support(), axis=axes)
        mine = jnp.all(jnp.any(same, axis=-1) | ~self.mask, axis=-1)
        return mine & jnp.all(jnp.any(same, axis=-2) | ~other.mask, axis=-1)


class RegionModel(PytreeNode):
    """At most one non-zero per region, at most ``k`` non-zero regions (model.md §4).

    Subclasses define :meth:`window`. Args common to all: ``k`` (``None``: no budget, where the
    model allows it), ``max_k`` (static capacity of index-form codes) and ``nonnegative``.
    """

    _leaves = ("k",)
    _static = ("max_k", "nonnegative")

    def __init__(self, k, *, max_k: int | None = None, nonnegative: bool = False):
        k = _check_k(k)
        kc = None if k is None or isinstance(k, jax.core.Tracer) else int(np.max(np.asarray(k)))
        if max_k is not None:
            max_k = positive_int(max_k, "max_k")
            if kc is not None and kc > max_k:
                raise ValueError(f"k={kc} exceeds max_k={max_k}")
        elif kc is not None:
            max_k = max(CAPACITY_QUANTUM, -(-kc // CAPACITY_QUANTUM) * CAPACITY_QUANTUM)
        self._set(k=k, max_k=max_k, nonnegative=bool(nonnegative))

    # ------------------------------------------------------------------ geometry
    def window(self, code_shape: Sequence[int]) -> tuple[int, ...]:
        """The region shape for a code of shape ``(*spatial, K)``."""
        raise NotImplementedError

    def num_regions(self, code_shape: Sequence[int]) -> int:
        """Number of regions (the largest meaningful ``k``)."""
        code_shape = tuple(code_shape)
        return math.prod(pooled_shape(code_shape[:-1], self.window(code_shape))) * code_shape[-1]

    def capacity(self, code_shape: Sequence[int]) -> int:
        """Static number of slots of index-form codes (see the module docstring)."""
        regions = self.num_regions(code_shape)
        return regions if self.max_k is None else min(self.max_k, regions)

    def check_code_shape(self, code_shape: Sequence[int], name: str = "code_shape"):
        """Validate a code shape (and a concrete ``k``) for this model; return it as a tuple."""
        code_shape = positive_ints(code_shape, name)
        if len(code_shape) < 1:
            raise ValueError(f"{name} must be (*spatial, K) with positive sizes; got {code_shape}")
        self.window(code_shape)
        regions = self.num_regions(code_shape)
        if self.k is None and self.max_k is not None and self.max_k < regions:
            raise ValueError(
                f"max_k={self.max_k} is smaller than the {regions} regions of a code of shape "
                f"{code_shape}, but k=None asks for one non-zero in every region"
            )
        if self.k is not None and not isinstance(self.k, jax.core.Tracer):
            k_max = int(np.max(np.asarray(self.k)))
            if k_max > regions:
                raise ValueError(
                    f"k={k_max} is out of range for {type(self).__name__} on a code of shape "
                    f"{code_shape}: at most {regions} regions"
                )
        return code_shape

    def _k_or_regions(self, code_shape):
        return self.num_regions(code_shape) if self.k is None else self.k

    # ------------------------------------------------------------------ projection
    def project(self, v: jax.Array, *, switches: str = "known") -> jax.Array:
        """Closest model-sparse code to ``v`` (Euclidean), model.md §4–5.

        Args:
            v: ``(*spatial, K)``.
            switches: ``"known"`` gives the exact projection ``𝕄_known``; ``"fixed"`` gives
                ``𝕄_fixed`` (pooled values at each region's top-left cell; not a projection).

        Returns:
            ``(*spatial, K)``. Ties are broken as described in :mod:`jaxcs.pooling`.
        """
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        capacity = None if self.max_k is None else self.capacity(v.shape)
        if capacity is not None and capacity >= self.num_regions(v.shape):
            capacity = None  # every region fits: nothing to rank beyond k
        return pool_project(
            v,
            self.window(v.shape),
            self.k,
            nonnegative=self.nonnegative,
            switches=switches,
            capacity=capacity,
        )

    def project_sparse(self, v: jax.Array) -> SparseCode:
        """:meth:`project` (known switches) in index form, with ``capacity`` slots.

        ``project_sparse(v).to_dense() == project(v)``: the same entries, ties and NaN rule.
        The mask marks the non-zeros; solvers use the indices to apply ``Wᵀ`` and restricted
        Grams at ``O(capacity)`` cost instead of over the whole code.

        Args:
            v: ``(*spatial, K)``.

        Returns:
            A :class:`SparseCode` with ``(capacity,)`` arrays (``capacity`` = number of
            regions when the model has no ``max_k``).
        """
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        capacity = None if self.max_k is None else self.capacity(v.shape)
        indices, values, used = pool_project_sparse(
            v, self.window(v.shape), self.k, nonnegative=self.nonnegative, capacity=capacity
        )
        return SparseCode(indices, values, used, v.shape)

    def support(self, v: jax.Array) -> jax.Array:
        """Boolean mask ``(*spatial, K)`` of the non-zeros of :meth:`project`."""
        return self.project(v) != 0

    def contains(self, v: jax.Array) -> jax.Array:
        """Whether ``v`` lies in the model (a boolean scalar)."""
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        cells = _cells(v != 0, self.window(v.shape), False)
        per_region = cells.sum(axis=-2)
        ok = jnp.all(per_region <= 1)
        if self.k is not None:
            ok = ok & (jnp.sum(per_region > 0) <= self.k)
        if self.nonnegative:
            ok = ok & jnp.all(v >= 0)
        return ok

    # ------------------------------------------------------------------ sampling
    def sample_sparse(
        self,
        key: jax.Array,
        code_shape: Sequence[int],
        batch_shape: Sequence[int] = (),
        *,
        distribution: str = "uniform",
        dtype=None,
    ) -> SparseCode:
        """Random model-sparse codes in index form, a whole batch from one key (model.md §3).

        ``k`` distinct regions are drawn uniformly (the top-``k`` of i.i.d. uniforms; all
        regions when ``k`` is ``None``), one cell uniformly inside each, and the value from
        ``distribution``: ``"uniform"`` U[−1, 1] (the paper; U[0, 1] when non-negative),
        ``"normal"`` N(0, 1) or ``"rademacher"`` ±1 (absolute values when non-negative).

        Returns:
            A :class:`SparseCode` with ``(*batch_shape, capacity)`` arrays.
        """
        code_shape = self.check_code_shape(code_shape)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}; got {distribution!r}")
        batch_shape = positive_ints(batch_shape, "batch_shape", minimum=0)
        dtype = float_dtype(dtype)
        spatial, K = code_shape[:-1], code_shape[-1]
        window = self.window(code_shape)
        pooled = pooled_shape(spatial, window)
        regions = math.prod(pooled) * K
        cap = self.capacity(code_shape)
        k_region, k_cell, k_value = jr.split(key, 3)
        k_requested = self._k_or_regions(code_shape)
        # A traced k beyond the capacity cannot be drawn: those codes come out NaN (reported as
        # non-finite downstream), never as codes of another model.
        k = jnp.minimum(k_requested, cap)
        if self.k is None and cap == regions:
            region = jnp.broadcast_to(jnp.arange(regions), batch_shape + (regions,))
        elif cap <= FLOYD_MAX_CAPACITY:
            region = _distinct_floyd(k_region, regions, k, cap, batch_shape)
        else:
            scores = jr.uniform(k_region, batch_shape + (regions,))
            region = jax.lax.top_k(scores, cap)[1]
        mask = jnp.broadcast_to(jnp.arange(cap) < k, region.shape)
        # region -> (pooled coordinates, channel) -> a uniform cell of its (maybe partial) window
        channel, coords = region_coordinates(region, pooled, K)
        u = jr.uniform(k_cell, region.shape + (len(spatial),))
        positions = []
        for axis, p in enumerate(coords):
            start = p * window[axis]
            extent = jnp.minimum(window[axis], spatial[axis] - start)
            offset = jnp.minimum((u[..., axis] * extent).astype(jnp.int32), extent - 1)
            positions.append(start + offset)
        indices = code_index(channel, positions, spatial, K)
        values = _draw_values(k_value, region.shape, distribution, self.nonnegative, dtype)
        values = jnp.where(mask, values, 0)
        values = jnp.where(exceeds_capacity(k_requested, cap), jnp.nan, values)
        return SparseCode(indices, values, mask, code_shape)

    def sample(
        self,
        key: jax.Array,
        code_shape: Sequence[int],
        batch_shape: Sequence[int] = (),
        *,
        distribution: str = "uniform",
        dtype=None,
    ) -> jax.Array:
        """Random model-sparse dense codes ``(*batch_shape, *code_shape)``; see
        :meth:`sample_sparse`."""
        return self.sample_sparse(
            key, code_shape, batch_shape, distribution=distribution, dtype=dtype
        ).to_dense()


def _distinct_floyd(key, n: int, k, capacity: int, batch_shape) -> jax.Array:
    """A uniformly random ``k``-subset of ``range(n)`` per batch entry (Floyd's algorithm).

    Slot ``i < k`` draws ``t`` uniformly from ``[0, n − k + i]`` and takes ``n − k + i`` instead
    when ``t`` was already chosen; slots ``i ≥ k`` hold 0 (masked by the caller). The *set* is
    uniform; the order of the slots is not (slot 0 never holds the last region), which no
    caller relies on. ``O(capacity²)`` comparisons and ``capacity`` random numbers per subset,
    against ``n`` random numbers and a top-k for the sort-of-uniforms method. The loop is
    unrolled for small capacities (fastest) and rolled beyond (compile time stays flat).
    """
    u = jr.uniform(key, tuple(batch_shape) + (capacity,))

    def draw(i, earlier):  # earlier: (..., j) slots drawn so far (-1 where empty), or None
        top = n - k + i  # traced when k is
        t = jnp.minimum((u[..., i] * (top + 1)).astype(jnp.int32), top)
        if earlier is not None:
            t = jnp.where(jnp.any(earlier == t[..., None], axis=-1), top, t)
        return jnp.where(i < k, t, -1)

    if capacity <= FLOYD_UNROLL:
        chosen = []
        for i in range(capacity):
            chosen.append(draw(i, jnp.stack(chosen, -1) if chosen else None))
        chosen = jnp.stack(chosen, -1)
    else:
        empty = jnp.full(tuple(batch_shape) + (capacity,), -1, jnp.int32)
        chosen = jax.lax.fori_loop(0, capacity, lambda i, c: c.at[..., i].set(draw(i, c)), empty)
    return jnp.maximum(chosen, 0).astype(jnp.int32)


def _draw_values(key, shape, distribution, nonnegative, dtype):
    if distribution == "uniform":
        values = jr.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)
    elif distribution == "normal":
        values = jr.normal(key, shape, dtype)
    else:
        values = jr.rademacher(key, shape, dtype)
    return jnp.abs(values) if nonnegative else values


class BlockModel(RegionModel):
    """𝓜_k: at most one non-zero per filter block and at most ``k`` non-zeros (model.md §4).

    A block is all ``n`` shifts of one filter (one channel of the code), so ``0 ≤ k ≤ K``.

    Args:
        k: number of blocks (required), an int, an integer array (for ``vmap``) or traced.
        max_k: static capacity of index-form codes (see the module docstring).
        nonnegative: restrict to non-negative codes.
    """

    def __init__(self, k, *, max_k: int | None = None, nonnegative: bool = False):
        if k is None:
            raise ValueError("BlockModel needs k (the number of non-zero blocks)")
        super().__init__(k, max_k=max_k, nonnegative=nonnegative)

    def window(self, code_shape):
        return tuple(code_shape[:-1])


class PoolingModel(RegionModel):
    """At most one non-zero per pooling window per channel, optionally at most ``k`` windows.

    Args:
        window: pooling region shape, one size per spatial axis (e.g. ``(2, 2)``); a window that
            does not divide the map leaves partial regions at the border.
        k: number of non-zero regions (``None``: no budget).
        max_k: static capacity of index-form codes.
        nonnegative: non-negative codes (after a ReLU): projection = ReLU + max pooling.
    """

    _static = RegionModel._static + ("pool_window",)

    def __init__(
        self,
        window: Sequence[int] = (2, 2),
        k=None,
        *,
        max_k: int | None = None,
        nonnegative: bool = False,
    ):
        window = positive_ints(window, "window")
        if not window:
            raise ValueError("window must have one positive size per spatial axis; got ()")
        super().__init__(k, max_k=max_k, nonnegative=nonnegative)
        self._set(pool_window=window)

    def window(self, code_shape):
        return check_window(self.pool_window, tuple(code_shape)[:-1], "window")


class TopKModel(RegionModel):
    """Plain ``k``-sparsity: the ``k`` entries of largest magnitude (classical CS)."""

    def __init__(self, k, *, max_k: int | None = None, nonnegative: bool = False):
        if k is None:
            raise ValueError("TopKModel needs k (the number of non-zeros)")
        super().__init__(k, max_k=max_k, nonnegative=nonnegative)

    def window(self, code_shape):
        return (1,) * (len(code_shape) - 1)


__all__ = [
    "BlockModel",
    "PoolingModel",
    "RegionModel",
    "SparseCode",
    "TopKModel",
    "keep_largest",
]
