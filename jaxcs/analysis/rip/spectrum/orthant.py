"""Extremes of the Rayleigh quotient over the non-negative orthant by projected ascent.

A non-negative model counts only codes ``z ≥ 0``, and the extreme eigenvectors of ``A = G_S``
may have mixed signs (then they are no codes of the model and the eigenvalues overstate δ).
:func:`orthant_ascent` is the one projected ascent: ``z ← P₊(c z + σ A z) / ‖·‖`` (``P₊``: clip
at 0; ``σ = 1``, ``c = 0`` for the maximum, ``σ = −1`` and ``c`` above the spectrum for the
minimum), every iterate a code of the model, the best quotient kept. :func:`orthant_extremes`
runs it on dense Grams (with eigenvector starts and a final exact face);
:func:`~jaxcs.analysis.rip.spectrum.masked.masked_extremes` on the matrix-free masked operator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from jaxcs.analysis.rip.spectrum.decouple import decouple_unused

ORTHANT_STEPS = 50  # projected-ascent steps per support for the extremes of a non-negative model


def unit(y, fallback):
    """``y / ‖y‖`` along the last axis, ``fallback`` where ``y`` is zero."""
    n = jnp.linalg.norm(y, axis=-1, keepdims=True)
    return jnp.where(n > 0, y / jnp.where(n > 0, n, 1), fallback)


def orthant_ascent(apply, z, keep, shift, sign: int, steps: int, fallback=None):
    """``steps`` projected steps ``z ← P₊(shift · z + sign · A z) / ‖·‖`` over ``z ≥ 0``.

    For ``sign = 1`` and ``shift = 0`` no step decreases ``zᵀAz`` when ``A`` is positive
    semi-definite (``f(z) = zᵀAz`` is convex, so ``f(y) ≥ 2 (Az)ᵀy − f(z) ≥ f(z)`` for the step
    ``y``); for ``sign = −1`` it is the same ascent on ``shift · I − A``.

    Args:
        apply: ``z ↦ A z`` on arrays of the shape of ``z`` (last axis: the slots).
        z: ``(..., s)`` non-negative unit starting codes (any leading axes: chains, supports).
        keep: ``(..., s)`` 1 on the used slots, 0 elsewhere (broadcast against ``z``).
        shift: ``c``, one per support (broadcast against ``z[..., 0]``).
        sign: ``1`` (maximum) or ``−1`` (minimum).
        steps: ascent steps (static).
        fallback: the code a step that clips to zero goes to (``None``: it stays where it was).

    Returns:
        ``(best, z)``: ``(...,)`` the largest ``sign · zᵀAz`` over every iterate, the last one
        included, and the last iterates.
    """

    def step(_, carry):
        z, best = carry
        az = apply(z)
        best = jnp.maximum(best, sign * jnp.sum(z * az, axis=-1))
        pushed = jnp.maximum(shift[..., None] * z + sign * az, 0) * keep
        return unit(pushed, z if fallback is None else fallback), best

    best = jnp.full(z.shape[:-1], -jnp.inf, z.dtype)
    z, best = jax.lax.fori_loop(0, steps, step, (z, best))
    return jnp.maximum(best, sign * jnp.sum(z * apply(z), axis=-1)), z


def orthant_extremes(
    gram: Float[Array, "B k k"],
    start: Float[Array, "B k"],
    mask: Bool[ArrayLike, "B k"] | None = None,
    *,
    steps: int = ORTHANT_STEPS,
) -> tuple[Float[Array, " B"], Float[Array, " B"]]:
    """Extremes of the Rayleigh quotient ``zᵀ G z / ‖z‖²`` over ``z ≥ 0`` by projected ascent.

    The model-RIP of a non-negative model only concerns codes ``z ≥ 0``; the extreme
    eigenvectors of ``G`` may have mixed signs, so its eigenvalues can overstate δ. For the
    maximum, ``z ← P₊(G z) / ‖P₊(G z)‖`` (``P₊``: clip at 0; unused slots held at 0); for a
    positive semi-definite ``G`` no step decreases the quotient (``f(z) = zᵀGz`` is convex, so
    ``f(y) ≥ 2 (Gz)ᵀy − f(z) ≥ f(z)`` for the step ``y``). For the minimum, the same ascent on
    ``c I − G`` with ``c = λ_max(G)``. Each ascent runs ``steps`` steps from three feasible
    starts: ``|start|`` and the positive and negative parts of the extreme eigenvector of
    ``G`` (one ``eigh``); then the best chain's face (the slots where it is positive) is
    solved exactly (one ``eigh`` of that face, whose extreme eigenvector, in absolute value,
    is one more candidate).

    Every candidate (each iterate, each single-slot code ``e_i``) is a non-negative code, so
    the returned maximum is ``≤`` and the minimum ``≥`` the true extremes over the orthant
    (the ascent may stop at a local extreme, which only weakens a δ bound); on small supports
    it almost always reaches them (tested against exhaustive search over faces).

    Args:
        gram: ``(B, k, k)`` symmetric positive semi-definite ``G_S`` (rows and columns of
            unused slots are ignored).
        start: ``(B, k)`` starting codes (their absolute values are used).
        mask: ``(B, k)`` booleans, the used slots (``None``: all).
        steps: ascent steps (static).

    Returns:
        ``(q_min, q_max)``, each ``(B,)``; meaningless for a non-finite ``G`` (``eigh`` does
        not propagate NaN: :func:`~jaxcs.analysis.code_ratios` reports those supports as NaN).
    """
    dtype = gram.dtype
    used = jnp.ones(start.shape, bool) if mask is None else jnp.asarray(mask, bool)
    keep = used.astype(dtype)
    gram = jnp.where(used[:, :, None] & used[:, None, :], gram, 0)
    diagonal = jnp.diagonal(gram, axis1=-2, axis2=-1)
    q_max = jnp.max(jnp.where(used, diagonal, -jnp.inf), axis=-1)
    q_min = jnp.min(jnp.where(used, diagonal, jnp.inf), axis=-1)
    evals, evecs = jnp.linalg.eigh(decouple_unused(gram, used))

    def quotient(z):
        return jnp.sum(z * jnp.einsum("bij,...bj->...bi", gram, z), axis=-1)

    def ascend(vector, sign, shift):
        """``steps`` steps of the ascent of ``sign · quotient`` from three starts."""
        z0 = unit(jnp.abs(start) * keep, jnp.zeros_like(start))
        zs = jnp.stack([z0, unit(jnp.maximum(vector, 0) * keep, z0)])
        zs = jnp.concatenate([zs, unit(jnp.maximum(-vector, 0) * keep, z0)[None]])
        best, zs = orthant_ascent(
            lambda zs: jnp.einsum("bij,sbj->sbi", gram, zs), zs, keep, shift, sign, steps
        )
        chain = jnp.argmax(best, axis=0)
        final = jnp.take_along_axis(zs, chain[None, :, None], axis=0)[0]
        # the exact extreme eigenvector of the best chain's face, pushed to the orthant
        face = (final > 0) & used
        decouple = jnp.where(face, 0, -sign * (evals[:, -1:] + 1))
        g_face = jnp.where(face[:, :, None] & face[:, None, :], gram, 0)
        eye = jnp.eye(gram.shape[-1], dtype=dtype)
        face_vectors = jnp.linalg.eigh(g_face + decouple[:, :, None] * eye)[1]
        vector = face_vectors[..., -1] if sign > 0 else face_vectors[..., 0]
        refined = unit(jnp.abs(vector) * face, final)
        return sign * jnp.maximum(jnp.max(best, axis=0), sign * quotient(refined))

    q_max = jnp.maximum(q_max, ascend(evecs[..., -1], 1, jnp.zeros_like(evals[:, -1])))
    q_min = jnp.minimum(q_min, ascend(evecs[..., 0], -1, evals[:, -1]))
    return q_min, q_max
