"""Extreme eigenvalues of batches of small symmetric matrices (the restricted Grams of eq. 1).

A per-support δ bound needs only ``λ_min`` and ``λ_max`` of each restricted Gram ``G_S``
(``k × k``, ``k`` ≈ 10). XLA's generic ``eigvalsh`` computes every eigenvalue, one matrix at a
time; here each stage is one array operation over the whole batch:

1. Householder tridiagonalisation ``T = Qᵀ G Q`` (Golub & Van Loan, *Matrix Computations*,
   Algorithm 8.3.1): one ``fori_loop`` step per column, a batched matrix-vector product and a
   rank-2 update. Written on the full ``k × k`` matrices (the reflector is zero above the
   column), so that every step has the same shape: a Python-unrolled loop over shrinking
   blocks lets XLA re-fuse each block into the next, recomputing all earlier updates.
2. Bisection with Sturm counts on ``T`` for its two extreme eigenvalues (LAPACK ``dstebz``):
   the number of negative pivots of ``T − x I`` is the number of eigenvalues below ``x``.

Both stages are backward stable, so the result is exact to working precision as
``eigvalsh``'s is: ``|λ̂ − λ| ≤ c · k · ε · ‖G‖`` with ``ε`` the dtype's machine epsilon.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from jaxcs.analysis.rip.spectrum.decouple import decouple_unused


def extreme_eigenvalues(
    matrices: Float[ArrayLike, "*batch k k"], mask: Bool[ArrayLike, "*batch k"] | None = None
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """``(λ_min, λ_max)`` of each symmetric matrix of a batch, exact to working precision.

    Args:
        matrices: ``(..., k, k)`` symmetric (only the lower triangle is read: the upper one
            is assumed equal), finite or not.
        mask: optional ``(..., k)`` booleans, the used slots: the eigenvalues are those of the
            submatrix of used rows and columns (the others are ignored, whatever they hold).

    Returns:
        ``(λ_min, λ_max)``, each ``(...,)`` in the matrices' dtype; NaN for a matrix with a
        non-finite used entry or without any used slot.
    """
    matrices = jnp.asarray(matrices)
    if not jnp.issubdtype(matrices.dtype, jnp.floating):
        matrices = matrices.astype(jnp.result_type(float))
    if matrices.ndim < 2 or matrices.shape[-1] != matrices.shape[-2]:
        raise ValueError(f"matrices must have shape (..., k, k); got {matrices.shape}")
    batch, k = matrices.shape[:-2], matrices.shape[-1]
    a = jnp.tril(matrices.reshape((-1, k, k)))
    a = a + jnp.swapaxes(jnp.tril(a, -1), -1, -2)
    used = jnp.ones(batch + (k,), bool) if mask is None else jnp.asarray(mask, bool)
    if used.shape[-1:] != (k,):
        raise ValueError(
            f"mask must have shape (..., {k}) for matrices {matrices.shape}; got {used.shape}"
        )
    used = jnp.broadcast_to(used, batch + (k,)).reshape(a.shape[:-1])
    a = jnp.where(used[:, :, None] & used[:, None, :], a, 0)
    finite = jnp.all(jnp.isfinite(a), axis=(-2, -1)) & jnp.any(used, axis=-1)
    a = jnp.where(finite[:, None, None], a, 0)
    # Scaled to unit largest entry: no overflow or underflow in the reflectors' norms.
    scale = jnp.max(jnp.abs(a), axis=(-2, -1))
    scale = jnp.where(scale > 0, scale, 1)
    a = a / scale[:, None, None]
    a = decouple_unused(a, used)
    # Slots after the last one used anywhere in the batch are decoupled already: the
    # reflectors stop there.
    last = jnp.max(jnp.where(jnp.any(used, axis=0), jnp.arange(k), 0))
    d, e = _tridiagonalize(a, jnp.clip(last - 1, 0, max(k - 2, 0)))
    lo, hi = _tridiagonal_extremes(d, e)
    nan = jnp.asarray(jnp.nan, a.dtype)
    lo = jnp.where(finite, lo * scale, nan).reshape(batch)
    hi = jnp.where(finite, hi * scale, nan).reshape(batch)
    return lo, hi


def _tridiagonalize(a, steps):
    """Householder reduction of ``(B, k, k)`` symmetric matrices to tridiagonal form.

    Step ``j`` (``0 ≤ j < steps``) zeroes column ``j`` below the subdiagonal with the reflector
    ``H = I − τ v vᵀ`` (``v`` zero in slots ``≤ j``): ``H A H = A − v wᵀ − w vᵀ`` with
    ``p = τ A v`` and ``w = p − (τ/2)(vᵀp) v``.

    Returns:
        The diagonal ``(B, k)`` and subdiagonal ``(B, k − 1)`` of the result.
    """
    k = a.shape[-1]
    slot = jnp.arange(k)

    def step(j, a):
        column = jax.lax.dynamic_index_in_dim(a, j, axis=-1, keepdims=False)
        x = jnp.where(slot > j, column, 0)
        lead = jnp.sum(jnp.where(slot == j + 1, column, 0), axis=-1)
        norm = jnp.sqrt(jnp.sum(x * x, axis=-1))
        alpha = jnp.where(lead < 0, norm, -norm)  # the sign that avoids cancellation in v
        v = x - jnp.where(slot == j + 1, alpha[:, None], 0)
        vv = 2 * norm * (norm + jnp.abs(lead))  # ‖v‖²
        tau = jnp.where(vv > 0, 2 / jnp.where(vv > 0, vv, 1), 0)
        p = tau[:, None] * jnp.einsum("bij,bj->bi", a, v)
        w = p - (0.5 * tau * jnp.sum(v * p, axis=-1))[:, None] * v
        return a - v[:, :, None] * w[:, None, :] - w[:, :, None] * v[:, None, :]

    a = jax.lax.fori_loop(0, steps, step, a)
    return jnp.diagonal(a, axis1=-2, axis2=-1), jnp.diagonal(a, offset=-1, axis1=-2, axis2=-1)


def _tridiagonal_extremes(d, e):
    """``(λ_min, λ_max)`` of symmetric tridiagonal matrices by bisection (``(B,)`` each).

    Args:
        d: ``(B, k)`` diagonals.
        e: ``(B, k − 1)`` subdiagonals.
    """
    k = d.shape[-1]
    if k == 1:
        return d[:, 0], d[:, 0]
    e2 = e * e
    pad = jnp.zeros_like(d[:, :1])
    radius = jnp.concatenate([jnp.abs(e), pad], -1) + jnp.concatenate([pad, jnp.abs(e)], -1)
    lo = jnp.min(d - radius, axis=-1)  # Gershgorin: every eigenvalue lies in [lo, hi]
    hi = jnp.max(d + radius, axis=-1)
    pivmin = jnp.finfo(d.dtype).tiny * jnp.maximum(1, jnp.max(e2, axis=-1))
    # the interval is at most 6 max|T_ij| wide: after nmant + 3 halvings its midpoint is within
    # ε max|T_ij| / 2 of the extreme
    iterations = jnp.finfo(d.dtype).nmant + 3
    target = jnp.array([1, k], jnp.int32)[:, None]  # λ_min: ≥ 1 below x; λ_max: all k below
    d_t, e2_t = d.T[1:], e2.T

    def guarded(q):
        # LAPACK's dlaneg/dstebz: a pivot of magnitude below pivmin (an exact zero included)
        # is replaced by -pivmin and counted as negative, so that the next pivot stays finite
        # and the count is that of T - (x + 0) I, consistently with the replacement.
        return jnp.where(jnp.abs(q) < pivmin, -pivmin, q)

    def below(x):
        """Eigenvalues below ``x`` (``(2, B)``): negative pivots of ``T − x I`` (Sturm)."""

        def pivot(carry, de):
            q, count = carry
            q = guarded(de[0] - x - de[1] / q)
            return (q, count + (q < 0)), None

        q = guarded(d[:, 0] - x)
        carry = (q, (q < 0).astype(jnp.int32))
        (_, count), _ = jax.lax.scan(pivot, carry, (d_t, e2_t))
        return count

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        reached = below(mid) >= target
        return jnp.where(reached, lo, mid), jnp.where(reached, mid, hi)

    bounds = (jnp.stack([lo, lo]), jnp.stack([hi, hi]))
    lo, hi = jax.lax.fori_loop(0, iterations, halve, bounds)
    mid = 0.5 * (lo + hi)
    return mid[0], mid[1]
