"""Extreme Rayleigh quotients of a batch of restricted Grams ``G_S`` (eq. 1).

``δ_k`` of eq. 1 is ``max_S max(1 − λ_min(G_S), λ_max(G_S) − 1)`` over the supports of the
model. Everything that brackets it (enumeration, search, sampling) evaluates a batch of
supports with this one kernel: the Grams gathered from the correlation table, then the extreme
eigenpairs, the unused slots of a fixed-size support array decoupled (``decouple.py``).

For a **non-negative** model only codes ``z ≥ 0`` count. On a support's face ``F`` the Rayleigh
quotient's only interior local extrema are the extreme eigenvectors of ``G_F``, so the extremes
over the orthant are attained at some face whose extreme eigenvector is one-signed; the quotient
of ``|v|`` (a code of the model) equals the eigenvalue there and is a lower bound on δ
everywhere. Maximised over *every* support of size ``1 … k`` this is exact
(:func:`jaxcs.exact_model_rip`).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs.analysis.rip.spectrum.decouple import decouple_unused
from jaxcs.analysis.rip.spectrum.eigenvalues import extreme_eigenvalues
from jaxcs.operators import restricted_gram


def padded_gram(
    gram: Float[Array, "B s s"], mask: Bool[ArrayLike, "B s"] | None
) -> Float[Array, "B s s"]:
    """``gram`` (``(B, s, s)``, unused rows/columns zero) with the unused slots decoupled
    (:func:`~jaxcs.analysis.rip.spectrum.decouple.decouple_unused`)."""
    if mask is None:
        return gram
    return decouple_unused(gram, jnp.asarray(mask, bool))


def gram_extremes(
    gram: Float[Array, "B s s"],
    mask: Bool[ArrayLike, "B s"] | None = None,
    *,
    nonnegative: bool = False,
) -> tuple[Float[Array, " B"], Float[Array, " B"], Float[Array, "B s"], Float[Array, "B s"]]:
    """Extreme quotients of each Gram and the codes that attain them.

    Args:
        gram: ``(B, s, s)`` symmetric Grams (unused rows and columns zero).
        mask: ``(B, s)`` used slots (``None``: all).
        nonnegative: quotients of ``|v|`` for the extreme eigenvectors ``v`` (codes ``z ≥ 0``;
            see the module docstring) instead of the eigenvalues.

    Returns:
        ``(q_min, q_max, v_min, v_max)``: ``(B,)`` quotients and ``(B, s)`` unit codes attaining
        them (zero on unused slots). NaN where a Gram is not finite or no slot is used.
    """
    used = jnp.ones(gram.shape[:-1], bool) if mask is None else jnp.asarray(mask, bool)
    finite = jnp.all(jnp.isfinite(gram), axis=(-2, -1)) & jnp.any(used, axis=-1)
    safe = jnp.where(finite[:, None, None], gram, 0)
    evals, evecs = jnp.linalg.eigh(padded_gram(safe, used))
    v_min = jnp.where(used, evecs[..., 0], 0)
    v_max = jnp.where(used, evecs[..., -1], 0)
    if nonnegative:
        v_min, v_max = jnp.abs(v_min), jnp.abs(v_max)
        v_min = v_min / jnp.linalg.norm(v_min, axis=-1, keepdims=True)
        v_max = v_max / jnp.linalg.norm(v_max, axis=-1, keepdims=True)
        q_min = jnp.einsum("bi,bij,bj->b", v_min, safe, v_min)
        q_max = jnp.einsum("bi,bij,bj->b", v_max, safe, v_max)
    else:
        q_min, q_max = evals[:, 0], evals[:, -1]
    q_min = jnp.where(finite, q_min, jnp.nan)
    q_max = jnp.where(finite, q_max, jnp.nan)
    return q_min, q_max, v_min, v_max


def support_quotient_extremes(op, supports, mask=None, *, table=None, nonnegative=False):
    """``(q_min, q_max)`` of :func:`support_extremes` without the codes: for a signed model the
    extreme eigenvalues alone
    (:func:`~jaxcs.analysis.rip.spectrum.eigenvalues.extreme_eigenvalues`, several times faster
    than an eigendecomposition)."""
    if nonnegative:
        return support_extremes(op, supports, mask, table=table, nonnegative=True)[:2]
    gram = restricted_gram(op, supports, mask, table=table)
    return extreme_eigenvalues(jnp.where(op.is_finite(), gram, jnp.nan), mask)


def support_extremes(
    op,
    supports: Int[Array, "B s"],
    mask: Bool[ArrayLike, "B s"] | None = None,
    *,
    table=None,
    nonnegative: bool = False,
) -> tuple[Float[Array, " B"], Float[Array, " B"], Float[Array, "B s"], Float[Array, "B s"]]:
    """:func:`gram_extremes` of the restricted Grams of ``supports`` (``(B, s)`` flat code
    indices) of the layer ``op``; ``table`` is ``op.gram_table()`` computed once."""
    gram = restricted_gram(op, supports, mask, table=table)
    gram = jnp.where(op.is_finite(), gram, jnp.nan)
    return gram_extremes(gram, mask, nonnegative=nonnegative)
