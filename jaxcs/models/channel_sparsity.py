"""Models across the channel axis, which are not region models: ``k`` non-zeros in every channel
(:class:`PerChannelModel`), and ``k`` spatial positions active in all channels at once
(:class:`JointModel`, group sparsity's hard form).

A code ``(*spatial, K)`` has ``n = prod(spatial)`` positions per channel. Both models' budget
``k`` counts positions (``1 ≤ k ≤ n``), so a code holds up to ``k · K`` non-zeros; ``capacity``
bounds ``k`` statically (default: ``k`` rounded up to a multiple of 8) and index-form codes have
``min(capacity, n) · K`` slots. Both projections are exact (Euclidean): per channel, the ``k``
entries of largest magnitude; jointly, the ``k`` positions of largest energy ``Σ_c v[p, c]²``
(for non-negative models, of ``max(v, 0)``, whose entries are then kept). Ties go to the lower
position. A NaN in ``v`` makes every value NaN, as for the region models.
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import cast

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from jaxcs._pytree import static_field
from jaxcs._validate import is_traced, positive_int
from jaxcs.models._regions import exceeds_capacity
from jaxcs.models._sampling import FLOYD_MAX_CAPACITY, distinct_floyd, draw_values
from jaxcs.models.base import AbstractSparsityModel, budget_and_capacity, code_shape_of
from jaxcs.models.sparse_code import SparseCode


class _PositionModel(AbstractSparsityModel):
    """Shared by both models: the budget counts spatial positions."""

    k: jax.Array | int
    capacity: int | None = static_field()
    nonnegative: bool = static_field()

    def __init__(
        self,
        k: int | Int[ArrayLike, "*batch"],
        *,
        capacity: int | None = None,
        nonnegative: bool = False,
    ):
        if k is None:
            raise ValueError(f"{type(self).__name__} needs k (the number of positions)")
        budget, self.capacity = budget_and_capacity(k, capacity)
        self.k = cast("jax.Array | int", budget)  # not None: k is not None
        self.nonnegative = bool(nonnegative)

    def check_code_shape(
        self, code_shape: Sequence[int], name: str = "code_shape"
    ) -> tuple[int, ...]:
        code_shape = code_shape_of(code_shape, name)
        self.check_budget(code_shape, "positions")
        return code_shape

    def max_budget(self, code_shape: Sequence[int]) -> int:
        """``n = prod(spatial)``, the positions of one channel."""
        return math.prod(tuple(code_shape)[:-1])

    def _budget(self) -> int:
        """``k`` as a Python int (enumeration needs a concrete budget)."""
        if is_traced(self.k) or np.ndim(self.k) != 0:
            raise ValueError(f"k must be a concrete scalar to enumerate supports; got {self.k!r}")
        return int(self.k)

    def support_size(self, code_shape: Sequence[int]) -> int:
        """``k · K``: a support with a full budget (both models)."""
        return self._budget() * tuple(code_shape)[-1]

    def positions(self, code_shape: Sequence[int]) -> int:
        """Static number of positions an index-form code holds: ``min(capacity, n)``."""
        n = self.max_budget(code_shape)
        return n if self.capacity is None else min(self.capacity, n)

    def num_slots(self, code_shape: Sequence[int]) -> int:
        return self.positions(code_shape) * tuple(code_shape)[-1]

    def sampling_cost(self, code_shape: Sequence[int]) -> int:
        slots = self.num_slots(code_shape)
        if self.positions(code_shape) > FLOYD_MAX_CAPACITY:  # a uniform per position
            slots += self.max_budget(code_shape) * self._draws(code_shape)
        return slots

    @abc.abstractmethod
    def _draws(self, code_shape) -> int:
        """Independent position draws per code (one per channel, or one)."""

    @abc.abstractmethod
    def _project(self, v: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The projection of ``v`` in index form: flat ``(indices, values, used)``."""

    @abc.abstractmethod
    def _within(self, v: jax.Array) -> jax.Array:
        """Whether ``v`` meets the budget (a boolean scalar; the sign is checked apart)."""

    def _kept(self, v: jax.Array) -> jax.Array:
        """The values a projection keeps, ``(n, K)``."""
        w = v.reshape(-1, v.shape[-1])
        return jnp.maximum(w, 0) if self.nonnegative else w

    def project_sparse(self, v: Float[ArrayLike, "*spatial K"]) -> SparseCode:
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        return _project_sparse(self, v)

    def contains(self, v: Float[ArrayLike, "*spatial K"]) -> Bool[Array, ""]:
        v = jnp.asarray(v)
        self.check_code_shape(v.shape, "v.shape")
        return _contains(self, v)

    def draw_sparse(
        self, key: PRNGKeyArray, code_shape, batch_shape, distribution, dtype
    ) -> SparseCode:
        return _sample_sparse(self, key, code_shape, batch_shape, distribution, dtype)

    def _distinct_positions(self, key, code_shape, batch_shape) -> jax.Array:
        """``(*batch_shape, capacity)`` distinct positions of ``range(n)`` per batch entry, the
        first ``k`` uniformly random."""
        n, capacity = self.max_budget(code_shape), self.positions(code_shape)
        k = jnp.minimum(self.k, capacity)
        if capacity <= FLOYD_MAX_CAPACITY:
            return distinct_floyd(key, n, k, capacity, batch_shape)
        scores = jr.uniform(key, tuple(batch_shape) + (n,))
        return jax.lax.top_k(scores, capacity)[1].astype(jnp.int32)

    def _finish(self, key, code_shape, indices, mask, distribution, dtype) -> SparseCode:
        values = draw_values(key, indices.shape, distribution, self.nonnegative, dtype)
        values = jnp.where(mask, values, 0)
        values = jnp.where(exceeds_capacity(self.k, self.positions(code_shape)), jnp.nan, values)
        return SparseCode(indices, values, mask, code_shape)


class PerChannelModel(_PositionModel):
    """At most ``k`` non-zeros in each of the ``K`` channels (``k`` of the ``n`` positions of
    every channel's map): ``k · K`` non-zeros at most.

    Args:
        k: non-zeros per channel, ``1 ≤ k ≤ n`` (an int, an integer array for ``vmap``, or
            traced).
        capacity: static bound on ``k`` (see the module docstring).
        nonnegative: non-negative codes.
    """

    def _draws(self, code_shape) -> int:
        return tuple(code_shape)[-1]

    def support_count(self, code_shape) -> int:
        n, K = self.max_budget(code_shape), tuple(code_shape)[-1]
        return math.comb(n, self._budget()) ** K

    def iter_supports(
        self, code_shape, chunk_size: int
    ) -> Iterator[Int[np.ndarray, "B support_size"]]:
        n, K = self.max_budget(code_shape), tuple(code_shape)[-1]
        per_channel = itertools.combinations(range(n), self._budget())
        choices = itertools.product(list(per_channel), repeat=K)  # one k-subset per channel
        channel = np.arange(K)[:, None]
        chunk_size = positive_int(chunk_size, "chunk_size")
        while block := list(itertools.islice(choices, chunk_size)):
            positions = np.asarray(block, np.int64)  # (B, K, k)
            yield (positions * K + channel).reshape(len(block), -1)

    def _project(self, v):
        K = v.shape[-1]
        capacity = self.positions(v.shape)
        w = self._kept(v).T  # (K, n)
        score = jnp.abs(w)
        if capacity < w.shape[1]:
            position = jax.lax.top_k(score, capacity)[1]  # ties: the lower position
        else:
            position = jnp.argsort(-score, axis=-1, stable=True)
        values = jnp.take_along_axis(w, position, axis=-1)
        used = jnp.broadcast_to(jnp.arange(capacity) < self.k, position.shape)
        indices = position * K + jnp.arange(K)[:, None]
        return indices.reshape(-1), values.reshape(-1), used.reshape(-1)

    def _within(self, v):
        nonzero = (v != 0).reshape(-1, v.shape[-1])
        return jnp.all(jnp.sum(nonzero, axis=0) <= self.k)

    def _sample(self, key, code_shape, batch_shape, distribution, dtype):
        K, capacity = code_shape[-1], self.positions(code_shape)
        k_position, k_value = jr.split(key)
        position = self._distinct_positions(k_position, code_shape, tuple(batch_shape) + (K,))
        indices = position * K + jnp.arange(K)[:, None]  # (*batch, K, capacity)
        mask = jnp.broadcast_to(jnp.arange(capacity) < self.k, indices.shape)
        flat = tuple(batch_shape) + (K * capacity,)
        return self._finish(
            k_value, code_shape, indices.reshape(flat), mask.reshape(flat), distribution, dtype
        )


class JointModel(_PositionModel):
    """At most ``k`` active spatial positions, each active in every channel (joint or group
    sparsity across the ``K`` channels: the hard form of the group lasso).

    Args:
        k: active positions, ``1 ≤ k ≤ n`` (an int, an integer array for ``vmap``, or traced).
        capacity: static bound on ``k`` (see the module docstring).
        nonnegative: non-negative codes.
    """

    def _draws(self, code_shape) -> int:
        return 1

    def support_count(self, code_shape) -> int:
        return math.comb(self.max_budget(code_shape), self._budget())

    def iter_supports(
        self, code_shape, chunk_size: int
    ) -> Iterator[Int[np.ndarray, "B support_size"]]:
        n, K = self.max_budget(code_shape), tuple(code_shape)[-1]
        choices = itertools.combinations(range(n), self._budget())
        chunk_size = positive_int(chunk_size, "chunk_size")
        while block := list(itertools.islice(choices, chunk_size)):
            positions = np.asarray(block, np.int64)  # (B, k)
            yield (positions[:, :, None] * K + np.arange(K)).reshape(len(block), -1)

    def _project(self, v):
        K = v.shape[-1]
        capacity = self.positions(v.shape)
        w = self._kept(v)  # (n, K)
        energy = jnp.sum(w * w, axis=-1)
        if capacity < w.shape[0]:
            position = jax.lax.top_k(energy, capacity)[1]  # ties: the lower position
        else:
            position = jnp.argsort(-energy, stable=True)
        values = w[position]  # (capacity, K)
        used = jnp.broadcast_to((jnp.arange(capacity) < self.k)[:, None], values.shape)
        indices = position[:, None] * K + jnp.arange(K)
        return indices.reshape(-1), values.reshape(-1), used.reshape(-1)

    def _within(self, v):
        active = jnp.any((v != 0).reshape(-1, v.shape[-1]), axis=-1)
        return jnp.sum(active) <= self.k

    def _sample(self, key, code_shape, batch_shape, distribution, dtype):
        K, capacity = code_shape[-1], self.positions(code_shape)
        k_position, k_value = jr.split(key)
        position = self._distinct_positions(k_position, code_shape, batch_shape)
        indices = position[..., None] * K + jnp.arange(K)  # (*batch, capacity, K)
        mask = jnp.broadcast_to((jnp.arange(capacity) < self.k)[:, None], indices.shape)
        flat = tuple(batch_shape) + (capacity * K,)
        return self._finish(
            k_value, code_shape, indices.reshape(flat), mask.reshape(flat), distribution, dtype
        )


# One compiled program per model structure and shape when called eagerly; traced inline
# inside a caller's jit or vmap.
@jax.jit
def _project_sparse(model: _PositionModel, v: jax.Array) -> SparseCode:
    indices, values, used = model._project(v)
    values = jnp.where(used, values, 0)
    invalid = jnp.any(jnp.isnan(v)) | exceeds_capacity(model.k, model.positions(v.shape))
    values = jnp.where(invalid, jnp.nan, values)
    return SparseCode(indices.astype(jnp.int32), values, used, v.shape)


@jax.jit
def _contains(model: _PositionModel, v: jax.Array) -> jax.Array:
    ok = model._within(v)
    return ok & jnp.all(v >= 0) if model.nonnegative else ok


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _sample_sparse(model, key, code_shape, batch_shape, distribution, dtype) -> SparseCode:
    return model._sample(key, code_shape, batch_shape, distribution, dtype)


__all__ = ["JointModel", "PerChannelModel"]
