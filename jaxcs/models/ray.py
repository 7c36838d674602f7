"""Model projections along a ray ``z + μ g``, for many step sizes ``μ`` at ``O(capacity)`` each.

A step-size search (NIHT's safeguard) projects ``z + μ g`` for several ``μ`` with
``z`` model-sparse. Regions where ``z`` is 0 hold ``μ g`` only, so for ``μ > 0`` their kept cell
(largest ``|g|``, or largest ``g`` when non-negative) and their order among themselves do not
depend on ``μ``. Hence the ``k`` regions kept by ``𝕄(z + μ g)`` lie among the regions that hold
``z`` and the ``capacity`` best of the others by ``g`` alone: one pass over ``g`` per ray, then
each ``μ`` ranks ``2 · capacity`` candidate regions, with the same tie rule as
:func:`jaxcs.models.pool_project` (lowest cell in a region, then lowest region).

In floating point one caveat remains: the other regions are chosen, and their cells picked,
by ``g``; when rounding makes ``μ g`` equal for two different ``g`` (or overflows both to
±inf), the projection of the formed sum gives the tie to the lower index and the ray to the
larger ``g``. Exact ties in ``g`` itself follow the rule above.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs._pytree import Pytree, static_field
from jaxcs.models._regions import (
    exceeds_capacity,
    first_max,
    pooled_shape,
    rank_largest,
    region_best,
    region_cells,
    region_switches,
)
from jaxcs.models.region_model import RegionModel
from jaxcs.models.sparse_code import SparseCode

PAIRWISE_RANK_LIMIT = 512  # candidates up to which ranking compares every pair


class RayProjection(Pytree):
    """``μ ↦ model.project_sparse(z + μ g)`` for one code; build with :func:`project_ray`.

    Attributes:
        held_cells: ``(c, h)`` flat code indices of the cells of the regions holding ``z``
            (``c`` cells of ``h`` slots); ``held_valid`` marks the real cells of used slots.
        held_region: ``(h,)`` their region ids (``regions`` for unused slots).
        z_cells, g_cells: ``(c, h)`` ``z`` and ``g`` at those cells.
        free_region, free_cell, free_g: ``(f,)`` the best other regions by ``g`` (region id,
            ``regions`` where there are fewer), their kept cell and ``g`` there.
        invalid: NaN in ``z``, non-finite ``g`` or a ``k`` beyond the capacity: all NaN.
        k: the model's budget. Static: ``shape``, ``nonnegative``, ``capacity``, ``regions``.
    """

    held_cells: Int[Array, "c h"]
    held_valid: Bool[Array, "c h"]
    held_region: Int[Array, " h"]
    z_cells: Float[Array, "c h"]
    g_cells: Float[Array, "c h"]
    free_region: Int[Array, " f"]
    free_cell: Int[Array, " f"]
    free_g: Float[Array, " f"]
    invalid: Bool[Array, ""]
    k: jax.Array | int | None
    shape: tuple[int, ...] = static_field()
    nonnegative: bool = static_field()
    capacity: int = static_field()
    regions: int = static_field()

    def at(self, mu: Float[ArrayLike, ""]) -> SparseCode:
        """``model.project_sparse(z + mu · g)`` for ``mu ≥ 0`` (same cells, values and ties,
        up to the rounding caveat of the module docstring); a NaN or infinite ``mu`` gives NaN,
        as the projection of ``z + mu · g`` does."""
        values = self.z_cells + mu * self.g_cells
        score = values if self.nonnegative else jnp.abs(values)
        best = first_max(jnp.where(self.held_valid, score, -jnp.inf), axis=0)[None]
        held_value = jnp.take_along_axis(values, best, axis=0)[0]
        held_cell = jnp.take_along_axis(self.held_cells, best, axis=0)[0]
        free_value = mu * self.free_g
        if self.nonnegative:
            held_value, free_value = jnp.maximum(held_value, 0), jnp.maximum(free_value, 0)
        region = jnp.concatenate([self.held_region, self.free_region])
        value = jnp.concatenate([held_value, free_value])
        cell = jnp.concatenate([held_cell, self.free_cell])
        # candidates that are not regions rank as 0 and are never used
        magnitude = jnp.where(region < self.regions, jnp.abs(value), 0)
        # rank by magnitude, ties to the lowest region (then slot)
        n = region.shape[0]
        slot = jnp.arange(n)
        if n <= PAIRWISE_RANK_LIMIT:  # few candidates: pairwise comparisons beat a sort
            ahead = (magnitude[None, :] > magnitude[:, None]) | (
                (magnitude[None, :] == magnitude[:, None])
                & (
                    (region[None, :] < region[:, None])
                    | ((region[None, :] == region[:, None]) & (slot[None, :] < slot[:, None]))
                )
            )
            rank = jnp.sum(ahead, axis=1)
            chosen = jnp.zeros(self.capacity, slot.dtype).at[rank].set(slot, mode="drop")
        else:  # O(n log n) time and O(n) memory (pairwise is O(n²) of both)
            chosen = jnp.lexsort((slot, region, -magnitude))[: self.capacity]
        used = jnp.arange(self.capacity) < (self.capacity if self.k is None else self.k)
        used = used & (magnitude[chosen] > 0)
        kept = jnp.where(used, value[chosen], 0)
        invalid = self.invalid | ~jnp.isfinite(mu)
        return SparseCode(cell[chosen], jnp.where(invalid, jnp.nan, kept), used, self.shape)


def project_ray(model: RegionModel, z: SparseCode, g: Float[Array, "*spatial K"]) -> RayProjection:
    """Prepare ``μ ↦ model.project_sparse(z + μ g)`` (module docstring), for one code.

    Args:
        model: a :class:`~jaxcs.models.RegionModel` with a budget ``k`` and a capacity.
        z: a :class:`~jaxcs.SparseCode` (the slots of ``model.project_sparse`` of anything, its
            values possibly changed): used slots in distinct regions, the non-zeros of ``z``
            among them. Its used slots are the regions that hold ``z``.
        g: ``(*spatial, K)``, the direction.

    Returns:
        A :class:`RayProjection`.
    """
    shape = tuple(z.shape)
    spatial, K = shape[:-1], shape[-1]
    window = model.region_shape(shape)
    pooled = pooled_shape(spatial, window)
    regions = math.prod(pooled) * K
    capacity = model.num_slots(shape)
    # the regions that hold z, and all of their cells
    position = jnp.unravel_index(z.indices // K, spatial)
    region = jnp.zeros_like(z.indices)
    for p, w, n in zip(position, window, pooled, strict=True):
        region = region * n + p // w
    region = jnp.where(z.mask, region * K + z.indices % K, regions)
    held_cells, valid = region_cells(region, spatial, window, K)  # (c, h)
    valid = valid & z.mask
    # the best other regions by g alone
    best = region_best(g, window, model.nonnegative)
    held = jnp.zeros(regions, bool).at[region].set(True, mode="drop")
    # held regions rank as 0: if one displaces a free region, that region's g is 0 too
    score = jnp.where(held, 0, jnp.maximum(best, 0) if model.nonnegative else best)
    free, _ = rank_largest(score, None, capacity)
    free = free[:capacity]
    free_ok = ~held[free]
    free_cell, _ = region_switches(g, free, best[free], window, model.nonnegative)
    flat_g = g.reshape(-1)
    # a non-finite g shows in the regions' max |g| (signed: that is best itself)
    magnitude = region_best(g, window, False) if model.nonnegative else best
    invalid = jnp.any(jnp.isnan(z.values)) | ~jnp.all(jnp.isfinite(magnitude))
    invalid = invalid | exceeds_capacity(model.k, capacity)
    return RayProjection(
        held_cells=held_cells,
        held_valid=valid,
        held_region=region,
        z_cells=jnp.where(valid & (held_cells == z.indices), z.values, 0),
        g_cells=jnp.where(valid, flat_g[held_cells], 0),
        free_region=jnp.where(free_ok, free, regions),
        free_cell=free_cell,
        free_g=jnp.where(free_ok, flat_g[free_cell], 0),
        invalid=invalid,
        k=model.k,
        shape=shape,
        nonnegative=model.nonnegative,
        capacity=capacity,
        regions=regions,
    )


__all__ = ["RayProjection", "project_ray"]
