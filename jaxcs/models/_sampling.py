"""Random supports and values for the models' samplers (internal to :mod:`jaxcs.models`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr

DISTRIBUTIONS = ("uniform", "normal", "rademacher")
FLOYD_MAX_CAPACITY = 64  # distinct-region sampling: Floyd's algorithm up to here, else top-k
FLOYD_UNROLL = 16  # Floyd's loop is unrolled up to this capacity


def distinct_floyd(key, n: int, k, capacity: int, batch_shape) -> jax.Array:
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


def draw_values(key, shape, distribution, nonnegative, dtype):
    if distribution == "uniform":
        values = jr.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)
    elif distribution == "normal":
        values = jr.normal(key, shape, dtype)
    else:
        values = jr.rademacher(key, shape, dtype)
    return jnp.abs(values) if nonnegative else values
