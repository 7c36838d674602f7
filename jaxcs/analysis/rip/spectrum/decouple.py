"""Restricted Grams of fixed-size support arrays: the unused slots decoupled.

A support array has ``s`` slots, some unused; its Gram ``G`` (``(B, s, s)``) has zero rows and
columns there. Before an eigen-solver sees it, each unused slot gets a diagonal entry equal to
the largest used diagonal entry: a diagonal entry ``G_ii = e_iᵀ G e_i`` lies within
``[λ_min, λ_max]`` of the used block, so the padded matrix has the used block's extreme
eigenvalues (and its extreme eigenvectors, zero on the unused slots).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


def decouple_unused(gram: Float[Array, "B s s"], used: Bool[Array, "B s"]) -> Float[Array, "B s s"]:
    """``gram`` (unused rows and columns zero) with every unused diagonal entry set to the
    largest used one (0 where no slot is used or that entry is not finite)."""
    diagonal = jnp.diagonal(gram, axis1=-2, axis2=-1)
    top = jnp.max(jnp.where(used, diagonal, -jnp.inf), axis=-1)
    top = jnp.where(jnp.isfinite(top), top, 0)
    fill = jnp.where(used, 0, top[:, None])
    return gram + fill[:, :, None] * jnp.eye(gram.shape[-1], dtype=gram.dtype)
