"""Operator norm by power iteration (for safe IHT step sizes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float

from jaxcs._validate import positive_int
from jaxcs.operators.base import check_operator


def operator_norm(op, num_steps: int = 100) -> Float[Array, ""]:
    """``‖W‖₂ = ‖Wᵀ‖₂`` by ``num_steps`` power iterations on ``WᵀW`` (two convolutions each).

    The start vector is a fixed pseudo-random vector (``jax.random.key(0)``), so the result is
    deterministic; it is a lower estimate that converges to ``‖W‖₂`` at a rate set by the gap
    between the two largest singular values. jit- and vmap-able (over operators).
    """
    check_operator(op)
    num_steps = positive_int(num_steps, "num_steps")
    v = jr.normal(jr.key(0), tuple(op.in_shape), op.dtype)
    v = v / jnp.linalg.norm(v)

    def step(_, v):
        w = op.rmv(op.mv(v))
        return w / jnp.maximum(jnp.linalg.norm(w), jnp.finfo(v.dtype).tiny)

    v = jax.lax.fori_loop(0, int(num_steps), step, v)
    return jnp.linalg.norm(op.mv(v))
