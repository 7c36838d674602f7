"""Structured sparsity models: block (𝓜_k), pooling, and plain top-k (the paper's 𝓜_k).

All three are one idea, a :class:`RegionModel`: the code ``(*spatial, K)`` is cut, per channel,
into regions; a model-sparse code has **at most one non-zero per region** and at most ``k``
non-zero regions, optionally all non-negative. Every model can also be built from the fraction
of its regions that are active, :meth:`RegionModel.from_fraction`.

- :class:`BlockModel`: one region per filter (all ``n`` shifts of channel ``i``), the theory's
  𝓜_k; ``k ≤ K``.
- :class:`PoolingModel`: the regions are pooling windows of each channel's map.
- :class:`TopKModel`: every entry is its own region (classical k-sparsity).

The methods act on **one** code ``(*spatial, K)``; use ``jax.vmap`` for batches (``sample`` draws
a batch itself). ``k`` is an array leaf, so a sweep over ``k`` (or ``jax.vmap`` over a stack of
models) does not recompile. Sparse codes in index form (:class:`SparseCode`) have a static
number of slots, the model's ``capacity``, fixed when the model is built (a static field, so it
also holds inside ``jit`` where ``k`` is traced); any ``k ≤ capacity`` shares the compiled code.
By default ``capacity`` is ``k`` rounded up to a multiple of 8 (at least 8; for an array of
``k``, its largest entry); :meth:`RegionModel.num_slots` caps it at the number of regions of a
code shape. A model built with a traced ``k`` and no ``capacity`` has room for every region.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from jaxcs._pytree import static_field
from jaxcs._validate import (
    check_pool_size,
    is_int,
    is_traced,
    positive_int,
    positive_ints,
)
from jaxcs.models._regions import (
    code_index,
    exceeds_capacity,
    pooled_shape,
    region_coordinates,
    to_cells,
)
from jaxcs.models._sampling import FLOYD_MAX_CAPACITY, distinct_floyd, draw_values
from jaxcs.models.base import AbstractSparsityModel, budget_and_capacity, code_shape_of
from jaxcs.models.pooling import check_switches, pool_project, pool_project_sparse
from jaxcs.models.sparse_code import SparseCode


class RegionModel(AbstractSparsityModel):
    """At most one non-zero per region, at most ``k`` non-zero regions (a
    :class:`~jaxcs.AbstractSparsityModel` whose budget counts regions).

    Subclasses define :meth:`region_shape`. Args common to all: ``k`` (``None``: no budget,
    where the model allows it), ``capacity`` (the static number of slots of index-form codes)
    and ``nonnegative``.
    """

    k: jax.Array | int | None
    capacity: int | None = static_field()
    nonnegative: bool = static_field()

    def __init__(
        self,
        k: int | Int[ArrayLike, "*batch"] | None,
        *,
        capacity: int | None = None,
        nonnegative: bool = False,
    ):
        k, capacity = budget_and_capacity(k, capacity)
        self.k = k
        self.capacity = capacity
        self.nonnegative = bool(nonnegative)

    @classmethod
    def from_fraction(
        cls,
        fraction: Float[ArrayLike, "*batch"],
        code_shape: Sequence[int],
        *,
        capacity: int | None = None,
        nonnegative: bool = False,
        **options,
    ):
        """The model with a fraction of its regions active on codes of shape ``code_shape``.

        ``k = round(fraction · R)`` with ``R = num_regions(code_shape)``, the number of regions
        of the code (its slots when the model has no ``capacity``): filters for
        :class:`BlockModel`, pooling windows of every channel for :class:`PoolingModel`
        (partial border windows included), entries for :class:`TopKModel`. The product is
        rounded to the nearest integer with ties to even, as Python's ``round`` (the rounding
        of the sweeps' ``model.fraction`` too, a fraction of the code's entries there):
        ``0.5`` of 3 regions is ``k = 2``, of 5 regions ``k = 2``. So ``fraction = 1`` is
        every region.

        Args:
            fraction: in ``(0, 1]``, a Python or NumPy number, or an array of them (a ``k``
                array, for ``jax.vmap`` over the models). It must be concrete: inside ``jit``
                or ``vmap`` a traced fraction cannot be checked, so build the models outside
                (``k`` is a leaf: a model built from a fraction array vmaps without
                recompiling) or pass ``k`` itself.
            code_shape: ``(*spatial, K)``, the codes the model will act on; ``k`` is only
                valid for codes with the same number of regions.
            capacity, nonnegative: as for the constructor (default capacity: from ``k``).
            **options: the model's other constructor arguments, e.g. ``pool_size`` for
                :class:`PoolingModel`.

        Raises:
            ValueError: ``fraction`` not a concrete number in ``(0, 1]`` (NaN included), one
                that rounds to ``k = 0`` (the message gives the smallest fraction with
                ``k = 1``), or a code shape the model does not fit.

        Example:
            ``PoolingModel.from_fraction(0.1, (32, 32, 16), pool_size=(2, 2))`` keeps ``k =
            410`` of the ``16 · 16 · 16 = 4096`` pooling regions.
        """
        probe = cls(k=0, nonnegative=nonnegative, **options)
        code_shape = probe.check_code_shape(code_shape)
        k = _fraction_to_k(fraction, probe.num_regions(code_shape), cls.__name__, code_shape)
        return cls(k=k, capacity=capacity, nonnegative=nonnegative, **options)

    # ------------------------------------------------------------------ geometry
    @abc.abstractmethod
    def region_shape(self, code_shape: Sequence[int]) -> tuple[int, ...]:
        """The region shape for a code of shape ``(*spatial, K)``."""

    def num_regions(self, code_shape: Sequence[int]) -> int:
        """Number of regions (the largest meaningful ``k``)."""
        code_shape = tuple(code_shape)
        return (
            math.prod(pooled_shape(code_shape[:-1], self.region_shape(code_shape))) * code_shape[-1]
        )

    def max_budget(self, code_shape: Sequence[int]) -> int:
        """:meth:`num_regions`."""
        return self.num_regions(code_shape)

    def num_slots(self, code_shape: Sequence[int]) -> int:
        """Static number of slots of index-form codes: ``capacity`` capped at the number of
        regions (see the module docstring)."""
        regions = self.num_regions(code_shape)
        return regions if self.capacity is None else min(self.capacity, regions)

    def sampling_cost(self, code_shape: Sequence[int]) -> int:
        """Array elements of the temporaries of one :meth:`sample_sparse` code (callers size
        their chunks from it): the slots, plus one uniform per region when the slots are too
        many for Floyd's distinct sampling."""
        slots = self.num_slots(code_shape)
        return slots + (self.num_regions(code_shape) if slots > FLOYD_MAX_CAPACITY else 0)

    def check_code_shape(
        self, code_shape: Sequence[int], name: str = "code_shape"
    ) -> tuple[int, ...]:
        """Validate a code shape (and a concrete ``k``) for this model; return it as a tuple."""
        code_shape = code_shape_of(code_shape, name)
        self.region_shape(code_shape)
        regions = self.num_regions(code_shape)
        if self.k is None and self.capacity is not None and self.capacity < regions:
            raise ValueError(
                f"capacity={self.capacity} is smaller than the {regions} regions of a code of "
                f"shape {code_shape}, but k=None asks for one non-zero in every region"
            )
        self.check_budget(code_shape, "regions")
        return code_shape

    def _k_or_regions(self, code_shape):
        return self.num_regions(code_shape) if self.k is None else self.k

    # ------------------------------------------------------------------ projection
    def project(
        self, v: Float[ArrayLike, "*spatial K"], *, switches: str = "known"
    ) -> Float[Array, "*spatial K"]:
        """Closest model-sparse code to ``v`` (Euclidean), as eqs. 2–3.

        Args:
            v: ``(*spatial, K)``.
            switches: ``"known"`` gives the exact projection ``𝕄_known``; ``"fixed"`` gives
                ``𝕄_fixed`` (pooled values at each region's top-left cell; not a projection).

        Returns:
            ``(*spatial, K)``. Ties are broken as described in :mod:`jaxcs.pooling`.
        """
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        return _project(self, v, check_switches(switches))

    def project_sparse(self, v: Float[ArrayLike, "*spatial K"]) -> SparseCode:
        """:meth:`project` (known switches) in index form, with ``capacity`` slots.

        ``project_sparse(v).to_dense() == project(v)``: the same entries, ties and NaN rule.
        The mask marks the non-zeros; solvers use the indices to apply ``Wᵀ`` and restricted
        Grams at ``O(capacity)`` cost instead of over the whole code.

        Args:
            v: ``(*spatial, K)``.

        Returns:
            A :class:`SparseCode` with ``(capacity,)`` arrays (``capacity`` = number of
            regions when the model has no ``capacity``).
        """
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        return _project_sparse(self, v)

    def support(self, v: Float[ArrayLike, "*spatial K"]) -> Bool[Array, "*spatial K"]:
        """Boolean mask ``(*spatial, K)`` of the non-zeros of :meth:`project`."""
        return self.project(v) != 0

    def contains(self, v: Float[ArrayLike, "*spatial K"]) -> Bool[Array, ""]:
        """Whether ``v`` lies in the model (a boolean scalar)."""
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        return _contains(self, v)

    # ------------------------------------------------------------------ sampling
    def draw_sparse(
        self, key: PRNGKeyArray, code_shape, batch_shape, distribution, dtype
    ) -> SparseCode:
        """``k`` distinct regions drawn uniformly (the top-``k`` of i.i.d. uniforms, or Floyd's
        draw for small capacities; all regions when ``k`` is ``None``), one cell uniformly
        inside each."""
        return _sample_sparse(self, key, code_shape, batch_shape, distribution, dtype)

    def _sample_sparse(self, key, code_shape, batch_shape, distribution, dtype) -> SparseCode:
        spatial, K = code_shape[:-1], code_shape[-1]
        window = self.region_shape(code_shape)
        pooled = pooled_shape(spatial, window)
        regions = math.prod(pooled) * K
        cap = self.num_slots(code_shape)
        k_region, k_cell, k_value = jr.split(key, 3)
        k_requested = self._k_or_regions(code_shape)
        # A traced k beyond the capacity cannot be drawn: those codes come out NaN (reported as
        # non-finite downstream), never as codes of another model.
        k = jnp.minimum(k_requested, cap)
        if self.k is None and cap == regions:
            region = jnp.broadcast_to(jnp.arange(regions), batch_shape + (regions,))
        elif cap <= FLOYD_MAX_CAPACITY:
            region = distinct_floyd(k_region, regions, k, cap, batch_shape)
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
        values = draw_values(k_value, region.shape, distribution, self.nonnegative, dtype)
        values = jnp.where(mask, values, 0)
        values = jnp.where(exceeds_capacity(k_requested, cap), jnp.nan, values)
        return SparseCode(indices, values, mask, code_shape)


# The methods' computations, each one compiled program per model structure and shape (``k`` is
# traced): called eagerly, a method then compiles once instead of once per operation inside
# it; called inside a caller's jit or vmap, it is traced inline as before.
@partial(jax.jit, static_argnums=(2,))
def _project(model: RegionModel, v: jax.Array, switches: str) -> jax.Array:
    capacity = None if model.capacity is None else model.num_slots(v.shape)
    if capacity is not None and capacity >= model.num_regions(v.shape):
        capacity = None  # every region fits: nothing to rank beyond k
    return pool_project(
        v,
        model.region_shape(v.shape),
        model.k,
        nonnegative=model.nonnegative,
        switches=switches,
        capacity=capacity,
    )


@jax.jit
def _project_sparse(model: RegionModel, v: jax.Array) -> SparseCode:
    capacity = None if model.capacity is None else model.num_slots(v.shape)
    indices, values, used = pool_project_sparse(
        v, model.region_shape(v.shape), model.k, nonnegative=model.nonnegative, capacity=capacity
    )
    return SparseCode(indices, values, used, v.shape)


@jax.jit
def _contains(model: RegionModel, v: jax.Array) -> jax.Array:
    cells = to_cells(v != 0, model.region_shape(v.shape), False)
    per_region = cells.sum(axis=-2)
    ok = jnp.all(per_region <= 1)
    if model.k is not None:
        ok = ok & (jnp.sum(per_region > 0) <= model.k)
    if model.nonnegative:
        ok = ok & jnp.all(v >= 0)
    return ok


_sample_sparse = jax.jit(RegionModel._sample_sparse, static_argnums=(2, 3, 4, 5))


def _fraction_to_k(fraction, regions: int, model: str, code_shape: tuple[int, ...]):
    """``round(fraction · regions)`` (ties to even) for :meth:`RegionModel.from_fraction`, with
    its checks: a concrete fraction (or array) in ``(0, 1]`` that gives ``k ≥ 1``."""
    if is_traced(fraction):
        raise ValueError(
            "fraction must be concrete (a number or a NumPy array), not traced: build the model "
            "outside jit/vmap (k is a leaf, so models built from an array of fractions vmap "
            "without recompiling), or pass k"
        )
    array = np.asarray(fraction)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"fraction must be a number in (0, 1]; got {fraction!r}")
    array = array.astype(np.float64)
    bad = ~((array > 0) & (array <= 1))  # NaN fails both comparisons
    if np.any(bad):
        raise ValueError(
            f"fraction must be in (0, 1] (the fraction of the regions that are active); got "
            f"{float(array[bad].flat[0])!r}" + ("" if array.ndim == 0 else f" in {fraction!r}")
        )
    k = np.rint(array * regions).astype(np.int64)  # ties to even, as Python's round
    if np.any(k == 0):
        smallest = 0.5 / regions  # rounds to 0 (a tie, to even): the next float is the least
        while np.rint(smallest * regions) < 1:
            smallest = float(np.nextafter(smallest, 1.0))
        raise ValueError(
            f"fraction={float(array[k == 0].flat[0])!r} gives k = round(fraction · {regions}) = 0 "
            f"active regions of {model} on codes of shape {code_shape}; the smallest fraction "
            f"that gives k = 1 is {smallest!r} (just above 1/(2·{regions})); 1/{regions} = "
            f"{1 / regions!r} gives k = 1 exactly"
        )
    return int(k) if k.ndim == 0 else k


class BlockModel(RegionModel):
    """𝓜_k: at most one non-zero per filter block and at most ``k`` non-zeros (the block model).

    A block is all ``n`` shifts of one filter (one channel of the code), so ``0 ≤ k ≤ K``.

    Args:
        k: number of blocks (required), an int, an integer array (for ``vmap``) or traced.
        capacity: static capacity of index-form codes (see the module docstring).
        nonnegative: restrict to non-negative codes.
    """

    def __init__(
        self,
        k: int | Int[ArrayLike, "*batch"],
        *,
        capacity: int | None = None,
        nonnegative: bool = False,
    ):
        if k is None:
            raise ValueError("BlockModel needs k (the number of non-zero blocks)")
        super().__init__(k, capacity=capacity, nonnegative=nonnegative)

    def region_shape(self, code_shape):
        return tuple(code_shape[:-1])


class PoolingModel(RegionModel):
    """At most one non-zero per pooling window per channel, optionally at most ``k`` windows.

    Args:
        pool_size: pooling region shape, one size per spatial axis (e.g. ``(2, 2)``), or one
            int for every spatial axis (``2`` is ``(2, 2)`` on 2-D maps, as ``nn.max_pool``'s
            users expect); one that does not divide the map leaves partial regions at the
            border, one larger than the map (along any axis) is a ValueError when the model
            meets a code.
        k: number of non-zero regions (``None``: no budget).
        capacity: static capacity of index-form codes.
        nonnegative: non-negative codes (after a ReLU): projection = ReLU + max pooling.
    """

    pool_size: tuple[int, ...] | int = static_field()

    def __init__(
        self,
        pool_size: Sequence[int] | int = (2, 2),
        k: int | Int[ArrayLike, "*batch"] | None = None,
        *,
        capacity: int | None = None,
        nonnegative: bool = False,
    ):
        if is_int(pool_size):
            pool_size = positive_int(pool_size, "pool_size")  # one size for every axis
        else:
            pool_size = positive_ints(pool_size, "pool_size")
            if not pool_size:
                raise ValueError("pool_size must have one positive size per spatial axis; got ()")
        super().__init__(k, capacity=capacity, nonnegative=nonnegative)
        self.pool_size = pool_size

    def region_shape(self, code_shape):
        spatial = tuple(code_shape)[:-1]
        window = self.pool_size
        if isinstance(window, int):
            window = (window,) * len(spatial)
        return check_pool_size(window, spatial)


class TopKModel(RegionModel):
    """Plain ``k``-sparsity: the ``k`` entries of largest magnitude (classical CS)."""

    def __init__(
        self,
        k: int | Int[ArrayLike, "*batch"],
        *,
        capacity: int | None = None,
        nonnegative: bool = False,
    ):
        if k is None:
            raise ValueError("TopKModel needs k (the number of non-zeros)")
        super().__init__(k, capacity=capacity, nonnegative=nonnegative)

    def region_shape(self, code_shape):
        return (1,) * (len(code_shape) - 1)


__all__ = ["BlockModel", "PoolingModel", "RegionModel", "TopKModel"]
