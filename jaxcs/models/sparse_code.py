"""Model-sparse codes in index form (:class:`SparseCode`): what projections return and solvers
carry, so that ``Wᵀ z``, norms and distances cost ``O(slots)``, not the code size."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs._pytree import Pytree, static_field


class SparseCode(Pytree):
    """A model-sparse code in index form: ``slots`` slots, of which those in ``mask`` are used.

    Attributes:
        indices: ``(*batch, slots)`` int32 flat indices into a code of shape ``shape``.
        values: ``(*batch, slots)`` values of the used slots (0 in unused slots; a solver
            state may keep a used slot at 0).
        mask: ``(*batch, slots)`` bool, ``True`` for used slots.
        shape: the dense code shape ``(*spatial, K)`` (static).
    """

    indices: Int[Array, "*batch slots"]
    values: Float[Array, "*batch slots"]
    mask: Bool[Array, "*batch slots"]
    shape: tuple[int, ...] = static_field()

    def __post_init__(self):
        self.shape = tuple(int(n) for n in self.shape)

    def used_values(self) -> Float[Array, "*batch slots"]:
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

    def add_to(self, v: Float[ArrayLike, "*batch_code"]) -> Float[Array, "*batch_code"]:
        """``v + to_dense()`` (``v``: ``(*batch, *shape)``, dtypes promoted as ``+`` does) by a
        scatter-add of the slots, at ``O(slots)`` after ``v``; a NaN value makes its own cell
        NaN."""
        v = jnp.asarray(v)
        expected = self.indices.shape[:-1] + self.shape
        if v.shape != expected:
            raise ValueError(f"v must have shape {expected} (batch + code shape); got {v.shape}")
        dtype = jnp.result_type(v.dtype, self.values.dtype)  # as ``v + to_dense()`` promotes
        return self._scatter(v.astype(dtype), self.used_values().astype(dtype), "add")

    def to_dense(self) -> Float[Array, "*batch_code"]:
        """``(*batch, *shape)`` dense codes (NaN throughout where any slot's value is NaN)."""
        return _to_dense(self)

    def _dense(self) -> jax.Array:
        batch = self.indices.shape[:-1]
        dense = self.add_to(jnp.zeros(batch + self.shape, self.values.dtype))
        # a NaN in any slot (a projection of NaN data, a k beyond the capacity) spoils the
        # whole code, as it does for the dense projection
        nan = jnp.any(jnp.isnan(self.values), axis=-1)
        return jnp.where(nan.reshape(batch + (1,) * len(self.shape)), jnp.nan, dense)

    def support(self) -> Bool[Array, "*batch_code"]:
        """``(*batch, *shape)`` booleans: the cells of the used slots."""
        return _support(self)

    def _support(self) -> jax.Array:
        batch = self.indices.shape[:-1]
        return self._scatter(jnp.zeros(batch + self.shape, bool), self.mask, "max")

    def norm(self) -> Float[Array, "*batch"]:
        """``‖to_dense()‖`` per code (NaN where a slot is NaN), at ``O(slots)``."""
        return jnp.sqrt(jnp.sum(self.used_values() ** 2, axis=-1))

    def _matches_shape(self, other: SparseCode) -> None:
        if not isinstance(other, SparseCode) or (other.shape, other.indices.shape[:-1]) != (
            self.shape,
            self.indices.shape[:-1],
        ):
            raise ValueError(
                f"other must be a SparseCode of shape {self.shape} with batch shape "
                f"{self.indices.shape[:-1]}; got {other!r}"
            )

    def _matches(self, other: SparseCode):
        """``(…, slots, other slots)``: used slot of ``self`` at the cell of a used slot of
        ``other``; or ``None`` when pairwise comparison costs more than the dense code."""
        self._matches_shape(other)
        if self.indices.shape[-1] * other.indices.shape[-1] > math.prod(self.shape):
            return None
        same = self.indices[..., :, None] == other.indices[..., None, :]
        return same & self.mask[..., :, None] & other.mask[..., None, :]

    def distance(self, other: SparseCode) -> Float[Array, "*batch"]:
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

    def union(self, other: SparseCode) -> SparseCode:
        """The sum of both codes on the union of their supports, in ``self``'s slots then
        ``other``'s: a slot of ``other`` whose cell a used slot of ``self`` holds is left unused
        and its value added there, so ``union(other).to_dense() == to_dense() +
        other.to_dense()`` and the used slots stay distinct (what the least squares on a merged
        support needs: CoSaMP's ``Ω ∪ supp z``, Subspace Pursuit's)."""
        same = self._pairs(other)  # (…, other slots, slots)
        seen = jnp.any(same, axis=-1)
        theirs = other.used_values()
        mine = self.used_values() + jnp.sum(jnp.where(same, theirs[..., :, None], 0), axis=-2)
        return SparseCode(
            jnp.concatenate([self.indices, other.indices], axis=-1),
            jnp.concatenate([mine, jnp.where(seen, 0, theirs)], axis=-1),
            jnp.concatenate([self.mask, other.mask & ~seen], axis=-1),
            self.shape,
        )

    def _pairs(self, other: SparseCode) -> jax.Array:
        """``(…, other slots, slots)``: a used slot of ``other`` at the cell of a used slot of
        ``self``."""
        self._matches_shape(other)
        same = other.indices[..., :, None] == self.indices[..., None, :]
        return same & other.mask[..., :, None] & self.mask[..., None, :]

    def same_support(self, other: SparseCode) -> Bool[Array, "*batch"]:
        """Whether the used slots of both codes cover the same cells, per code."""
        same = self._matches(other)
        if same is None:
            axes = tuple(range(-len(self.shape), 0))
            return jnp.all(self.support() == other.support(), axis=axes)
        mine = jnp.all(jnp.any(same, axis=-1) | ~self.mask, axis=-1)
        return mine & jnp.all(jnp.any(same, axis=-2) | ~other.mask, axis=-1)


# One compiled program per code structure and shape when called eagerly (instead of one per
# operation inside); traced inline inside a caller's jit or vmap.
_to_dense = jax.jit(SparseCode._dense)
_support = jax.jit(SparseCode._support)
