"""Extreme quotients of ``P_S W Wᵀ P_S`` on supports of real-layer size (eq. 1).

Where a support has thousands of entries (the paper's Fig. 3 layer: about 27 000), neither a
dense ``G_S`` nor its eigendecomposition fits. The masked operator ``v ↦ (W Wᵀ (v on S))_S``
costs two convolutions, so its extreme eigenvalues come from a Lanczos iteration (Lanczos 1950;
full reorthogonalisation, as Golub & Van Loan §10.1) batched over supports, started from each
code's own values. The Ritz values ``θ`` are Rayleigh quotients of codes on ``S``, so
``λ_min(G_S) ≤ θ_min`` and ``θ_max ≤ λ_max(G_S)``: lower bounds on δ whatever the accuracy.

What the residual ``r = β_m |s_m|`` of a Ritz pair guarantees, and what it does not: *some*
eigenvalue lies in ``[θ − r, θ + r]`` (Parlett, *The Symmetric Eigenvalue Problem*, Thm 4.5.1),
not necessarily the extreme one. Where the edge of the spectrum is dense (a Marchenko–Pastur
edge: supports of hundreds of entries) or the start has little weight on the extreme
eigenvector, a Ritz value with a small residual can sit next to an inner eigenvalue while the
extreme lies further out (seen on 1 of 36 supports, ``k`` = 200 to 1000, 32 steps:
``λ_min = 0.0855`` outside ``[θ_min − r_min, θ_min] = [0.0961, 0.0982]``). So jaxcs uses the
Ritz values alone for δ (lower bounds, valid at any accuracy) and reports the residuals as a
diagnostic of convergence, never as a bound on ``λ_min``, ``λ_max`` or δ. No cheap certificate
closes that gap: a gap-based bound (Kato–Temple) needs a bound on the next eigenvalue, which a
Krylov space does not give.

A **non-negative** model counts only codes ``z ≥ 0``, whose extremes the signed eigenvectors can
overstate: there the quotient is pushed by projected power steps ``z ← P₊(A z)`` (maximum) and
``z ← P₊(c z − A z)`` (minimum, ``c`` above the spectrum), every iterate a code of the model, the
best quotient kept (the ascent of :func:`~jaxcs.analysis.rip.spectrum.orthant.orthant_ascent`,
which :func:`jaxcs.analysis.orthant_extremes` runs on dense Grams); the residuals are then NaN (no
accuracy statement).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import positive_int
from jaxcs.analysis.rip.spectrum.orthant import orthant_ascent, unit
from jaxcs.models import SparseCode

DEFAULT_STEPS = 32


class MaskedExtremes(Pytree):
    """Result of :func:`masked_extremes`, one entry per support.

    Attributes:
        eig_min, eig_max: ``(B,)`` extreme quotients found (Ritz values, or the orthant
            extremes of a non-negative model); NaN for a non-finite operator or empty support.
        residual_min, residual_max: ``(B,)`` Lanczos residual norms of those Ritz pairs: an
            eigenvalue, not necessarily the extreme one, lies within the residual of its Ritz
            value (module docstring; NaN for a non-negative model).
        steps: Lanczos (or ascent) steps taken per support.
    """

    eig_min: Float[Array, " B"]
    eig_max: Float[Array, " B"]
    residual_min: Float[Array, " B"]
    residual_max: Float[Array, " B"]
    steps: int = static_field()


def masked_normal(op, indices, mask):
    """The masked normal operator ``v ↦ (W Wᵀ (v on S))_S``, batched: ``(B, s) -> (B, s)``."""
    shape = tuple(op.out_shape)

    def apply(v):
        code = SparseCode(indices, jnp.where(mask, v, 0), mask, shape)
        y = op.mv(op.rmv(code.to_dense())).reshape(v.shape[0], -1)
        return jnp.where(mask, jnp.take_along_axis(y, indices, axis=-1), 0)

    return apply


def _spread(mask, dtype):
    """The unit code spread evenly over the used slots: where a zero vector is sent."""
    return (mask / jnp.sqrt(jnp.maximum(jnp.sum(mask, -1, keepdims=True), 1))).astype(dtype)


def _unit(v, mask):
    return unit(v, _spread(mask, v.dtype))


def _lanczos(apply, start, mask, steps: int):
    """Ritz extremes and residuals of ``steps`` Lanczos steps from ``start``."""
    batch, slots = start.shape
    dtype = start.dtype
    basis = jnp.zeros((steps + 1, batch, slots), dtype).at[0].set(_unit(start, mask))
    alphas = jnp.zeros((steps, batch), dtype)
    betas = jnp.zeros((steps, batch), dtype)
    scale = jnp.zeros((batch,), dtype)
    active = jnp.ones((batch,), bool)

    def body(j, carry):
        basis, alphas, betas, scale, active = carry
        v = basis[j]
        w = apply(v)
        alpha = jnp.sum(v * w, -1)
        w = w - alpha[:, None] * v
        # full reorthogonalisation (twice is enough, Giraud et al. 2005)
        for _ in range(2):
            live = (jnp.arange(steps + 1) <= j)[:, None, None]
            coefficients = jnp.sum(jnp.where(live, basis, 0) * w[None], -1)
            w = w - jnp.sum(jnp.where(live, basis, 0) * coefficients[..., None], 0)
        beta = jnp.linalg.norm(w, axis=-1)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        # an invariant subspace was found: stop this member (its Ritz values are exact)
        alive = active & (beta > 1e3 * jnp.finfo(dtype).eps * jnp.maximum(scale, 1e-30))
        alphas = alphas.at[j].set(jnp.where(active, alpha, jnp.nan))
        betas = betas.at[j].set(jnp.where(alive, beta, 0))
        next_v = jnp.where(alive[:, None], w / jnp.where(alive, beta, 1)[:, None], 0)
        return basis.at[j + 1].set(next_v), alphas, betas, scale, alive

    basis, alphas, betas, _, _ = jax.lax.fori_loop(
        0, steps, body, (basis, alphas, betas, scale, active)
    )
    alphas, betas = alphas.T, betas.T  # (B, steps)
    # Steps after a breakdown are decoupled (β = 0) and given the first step's quotient, a value
    # inside the spectrum, so that they move neither extreme.
    used = ~jnp.isnan(alphas)
    alphas = jnp.where(used, alphas, alphas[:, :1])
    tridiagonal = (
        jax.vmap(jnp.diag)(alphas)
        + jax.vmap(lambda b: jnp.diag(b, 1))(betas[:, :-1])
        + jax.vmap(lambda b: jnp.diag(b, -1))(betas[:, :-1])
    )
    theta, vectors = jnp.linalg.eigh(tridiagonal)
    last = jnp.sum(used, -1) - 1  # index of each member's last live step
    beta_last = jnp.take_along_axis(betas, last[:, None], -1)[:, 0]
    tail = jnp.take_along_axis(vectors, last[:, None, None], axis=1)[:, 0]  # (B, steps)
    residual = jnp.abs(beta_last[:, None] * tail)
    return theta[:, 0], theta[:, -1], residual[:, 0], residual[:, -1]


def _orthant_ascent(apply, start, mask, steps: int):
    """Projected power steps over ``z ≥ 0`` for both extremes (module docstring)."""
    keep = mask.astype(start.dtype)
    spread = _spread(mask, start.dtype)
    z0 = unit(jnp.abs(start) * keep, spread)

    def ascend(shift, sign):
        return sign * orthant_ascent(apply, z0, keep, shift, sign, steps, spread)[0]

    q_max = ascend(jnp.zeros(start.shape[:1], start.dtype), 1)
    # c = 2 q_max bounds the spectrum of the shifted step well enough for an ascent direction
    q_min = ascend(2 * jnp.abs(q_max), -1)
    return q_min, q_max


def masked_extremes(
    op, code: SparseCode, *, steps: int = DEFAULT_STEPS, nonnegative: bool = False
) -> MaskedExtremes:
    """Extreme quotients of ``G_S = P_S W Wᵀ P_S`` for a batch of supports, without ``G_S``.

    jit- and vmap-able (``steps`` static); two convolutions per step and support.

    Args:
        op: the layer ``W`` (any operator; codes have ``op.out_shape``).
        code: a :class:`~jaxcs.SparseCode` with ``(B, s)`` arrays: the supports (indices, mask)
            and the starting vectors (values).
        steps: Lanczos steps (at most ``s``: more cannot help).
        nonnegative: extremes over ``z ≥ 0`` only (projected ascent, see the module docstring).

    Returns:
        A :class:`MaskedExtremes`.
    """
    if not isinstance(code, SparseCode) or jnp.ndim(code.indices) != 2:
        raise ValueError(
            "code must be a SparseCode with (B, s) arrays (a batch of supports); got "
            f"{type(code).__name__} with indices of shape {np.shape(getattr(code, 'indices', ()))}"
        )
    steps = positive_int(steps, "steps")
    indices, mask = code.indices, jnp.asarray(code.mask, bool)
    start = jnp.where(mask, code.values, 0).astype(op.dtype)
    steps = max(1, min(int(steps), indices.shape[-1]))
    apply = masked_normal(op, indices, mask)
    if nonnegative:
        q_min, q_max = _orthant_ascent(apply, start, mask, steps)
        r_min = r_max = jnp.full(q_min.shape, jnp.nan, q_min.dtype)
    else:
        q_min, q_max, r_min, r_max = _lanczos(apply, start, mask, steps)
    ok = op.is_finite() & jnp.any(mask, -1) & jnp.all(jnp.isfinite(start), -1)
    nan = lambda x: jnp.where(ok, x, jnp.nan)  # noqa: E731
    return MaskedExtremes(nan(q_min), nan(q_max), nan(r_min), nan(r_max), steps)
