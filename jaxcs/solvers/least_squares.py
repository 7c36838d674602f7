"""Least squares on a support: ``argmin ‖x − Φ b‖`` over codes ``b`` supported on the used
slots of a code, for HTP and CoSaMP. Two ways:

- ``"direct"``: the normal equations ``G_T δ = (W r₀)_T`` from the restricted Gram
  (:func:`jaxcs.operators.restricted_gram`, a gather from the operator's :meth:`gram_table`,
  computed once per operator) for the correction ``δ`` of a start ``b₀`` supported on ``T``
  (``r₀ = x − Φ b₀``; ``b₀ = 0``, ``r₀ = x`` when none is given), by
  :func:`ridge_cholesky_inverse`: a Cholesky factorization written in ``lax`` operations.
  Rank-deficient ``G_T`` (CoSaMP's ``|T| ≤ 3k`` may exceed the measurements) is handled by a
  ridge ``λ`` relative to ``max diag(G_T)`` and iterated Tikhonov refinement, which converge to the
  least-squares solution nearest the start, ``b₀ + (Φ_T)⁺ r₀``, along every direction of
  ``G_T`` well above ``λ``.
- ``"cg"``: conjugate gradients on ``P_T W Wᵀ P_T b = P_T W x`` (two operator applications per
  iteration, warm-started from the current iterate), :func:`jax.scipy.sparse.linalg.cg`.

``"auto"`` is direct when the support has at most ``DIRECT_MAX_SLOTS`` slots, else CG.

Why not LAPACK (``jnp.linalg.cholesky``, ``cho_solve``): jaxlib's CPU kernels split a batch of
matrices over XLA's intra-op thread pool and wait for the pieces on the calling thread, itself a
worker of that pool. A program sharded over as many simulated CPU devices as the pool has
threads occupies every worker with such a wait, and the pieces never run: a deadlock (CoSaMP
sweeps on 2 or 4 devices). The factorization below is ``s`` vectorised rank-1 updates, the
same on every backend, and runs inside the sharded program like any other ``lax`` operation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.sparse.linalg import cg
from jaxtyping import Array, Bool, Float

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_choice
from jaxcs.models import SparseCode
from jaxcs.solvers.base import SparseIterate

DIRECT_MAX_SLOTS = 512
LEAST_SQUARES = ("auto", "direct", "cg")


class LeastSquaresTables(Pytree):
    """Per-operator data of the least squares (a solver's ``prepare`` result).

    Attributes:
        table: the operator's :meth:`gram_table` for the direct solve (``None`` for CG, or
            when the operator has no table and Grams come from its columns).
        direct: direct solve (``True``) or CG (static).
    """

    table: object
    direct: bool = static_field()


def check_least_squares(value) -> str:
    return check_choice(value, LEAST_SQUARES, "least_squares")


def prepare_least_squares(least_squares: str, op, slots: int) -> LeastSquaresTables:
    """The tables for a support of at most ``slots`` slots (module docstring)."""
    direct = least_squares == "direct" or (least_squares == "auto" and slots <= DIRECT_MAX_SLOTS)
    return LeastSquaresTables(op.gram_table() if direct else None, direct)


def restricted_least_squares(
    op,
    x: Float[Array, "*in_spatial M"],
    mask: Bool[Array, "*out_spatial K"],
    start: Float[Array, "*out_spatial K"],
    *,
    max_iterations: int,
    tol: float = 1e-7,
) -> Float[Array, "*out_spatial K"]:
    """``argmin_b ‖x − Wᵀ b‖`` over ``b`` with ``b = 0`` outside ``mask`` (CG, warm start).

    Args:
        op: the layer ``W``; x: ``op.in_shape``; mask: ``op.out_shape`` booleans;
        start: initial ``b``; max_iterations: CG iterations at most; tol: CG's relative
        tolerance.
    """
    mask = mask.astype(x.dtype)

    def normal(b):
        return mask * op.mv(op.rmv(mask * b))

    b, _ = cg(normal, mask * op.mv(x), x0=mask * start, tol=tol, maxiter=max_iterations)
    return mask * b


# Columns per block of the factorization: a multiple of 8, at most 16 blocks (each block is
# unrolled in the program: compile time), as small as that allows (a block is a sequential
# loop; between blocks, batched matrix products). Measured on CPU for 30 to 512 slots.
BLOCK_MULTIPLE, MAX_BLOCKS = 8, 16


def _block_inverse(block: jax.Array, floor) -> jax.Array:
    """``L⁻¹`` for ``block = L Lᵀ``: an outer-product Cholesky (Golub & Van Loan, *Matrix
    Computations*, 4th ed., Alg. 4.2.2) carrying the forward substitution ``L Y = I`` along,
    one vectorised rank-1 update of both per column in a ``lax.fori_loop``. Pivots are raised
    to at least ``floor``."""
    size = block.shape[-1]
    rows = jnp.arange(size)

    def eliminate(j, carry):
        schur, inverse = carry
        root = jnp.sqrt(jnp.maximum(schur[j, j], floor))
        column = jnp.where(rows > j, schur[:, j], 0) / root  # L[j+1:, j]
        row = inverse[j] / root  # row j of L⁻¹, final
        schur = schur - jnp.outer(column, column)
        inverse = (inverse - jnp.outer(column, row)).at[j].set(row)
        return schur, inverse

    eye = jnp.eye(size, dtype=block.dtype)
    return lax.fori_loop(0, size, eliminate, (block, eye))[1]


def ridge_cholesky_inverse(gram: jax.Array, ridge) -> jax.Array:
    """``L⁻¹`` for the Cholesky factor ``L`` of ``G + λ I = L Lᵀ``, in ``lax`` operations.

    A blocked right-looking Cholesky factorization (Golub & Van Loan, *Matrix Computations*,
    4th ed., §4.2.9) that carries the forward substitution ``L Y = I`` along: for each block
    of columns, the diagonal block by :func:`_block_inverse`, then the panel
    ``L₂₁ = A₂₁ L₁₁⁻ᵀ``, the Schur update ``A₂₂ −= L₂₁ L₂₁ᵀ`` and ``Y₂ −= L₂₁ Y₁`` as matrix
    products (about ``s³`` flops; batched under ``vmap``). No LAPACK call: see the module
    docstring. A pivot below ``λ`` (possible only through rounding, since the Schur complements
    of ``G + λ I`` are ``⪰ λ I`` for ``G ⪰ 0``) is raised to ``λ``, so the result is finite for
    any finite ``G`` and ``λ > 0``.

    Args:
        gram: ``(s, s)`` symmetric positive semi-definite ``G``.
        ridge: ``λ > 0``, a scalar.

    Returns:
        ``(s, s)`` lower-triangular ``L⁻¹``; ``(G + λ I)⁻¹ = L⁻ᵀ L⁻¹``.
    """
    size = gram.shape[-1]
    step = BLOCK_MULTIPLE * -(-size // (BLOCK_MULTIPLE * MAX_BLOCKS))
    padded = step * -(-size // step)
    eye = jnp.eye(padded, dtype=gram.dtype)
    # padding: decoupled unit pivots, cut off at the end
    schur = eye.at[:size, :size].set(gram + ridge * jnp.eye(size, dtype=gram.dtype))
    inverse, rows = eye, []
    for lo in range(0, padded, step):
        hi = lo + step
        block = _block_inverse(schur[lo:hi, lo:hi], ridge)
        row = block @ inverse[lo:hi]  # rows lo:hi of L⁻¹, final
        rows.append(row)
        if hi < padded:
            panel = schur[hi:, lo:hi] @ block.T
            schur = schur.at[hi:, hi:].add(-(panel @ panel.T))
            inverse = inverse.at[hi:].add(-(panel @ row))
    return jnp.concatenate(rows)[:size, :size]


REFINEMENTS = 3  # iterated Tikhonov steps after the first solve (support_least_squares)
# The ridge of a solve without a start, in units of ε · max diag(G_T): small enough that three
# refinements give lstsq's accuracy up to cond(G_T) ≈ 1e5 in float32 (√ε left 6 % error at
# 1e4), large enough that rounding noise in a singular G_T's null space stays ≤ ε/64 · ‖b‖.
RIDGE_EPS = 64
# The ridge, relative to max diag(G_T), of a solve from a start: the same in every dtype
# (support_least_squares); about √ε of float32.
DAMPING = 2.0**-12


def support_least_squares(
    op,
    wx: Float[Array, "*out_spatial K"],
    code: SparseCode,
    table=None,
    *,
    start: Float[Array, " slots"] | None = None,
) -> SparseCode:
    """``argmin ‖x − Wᵀ b‖`` over ``b`` supported on the used slots of ``code``.

    Solves ``(G_T + λ I) δ = (W r₀)_T`` with ``λ = c · max diag(G_T)`` (relative to the Gram,
    so the same for any scale of ``W``; ``c = RIDGE_EPS · ε``, ``ε`` the dtype's epsilon,
    without a start; ``c = DAMPING`` from a start, the same in every dtype), then refines
    ``δ ← δ + (G_T + λ I)⁻¹ ((W r₀)_T − G_T δ)`` ``REFINEMENTS`` times (iterated Tikhonov).
    Each solve shrinks the error along an eigenvector of ``G_T`` with eigenvalue ``σ`` by
    ``λ / (σ + λ)`` and adds nothing along its null space, so ``b₀ + δ`` is the least-squares
    solution nearest the start ``b₀``: the unique one when the columns of ``T`` are
    independent and ``σ_min(G_T) ≫ λ``, else ``b₀ + (Φ_T)⁺ r₀`` with the directions of
    ``σ ≲ λ`` damped (CoSaMP with ``3k > m``; conjugate gradients warm-started from ``b₀``
    converge to the same point). Why ``RIDGE_EPS · ε`` and not ``ε``: rounding puts
    ``ε ‖G_T‖``-sized noise into the null space of a singular ``G_T``, which a solve amplifies
    by ``1 / λ``, to ``1 / RIDGE_EPS`` of the solution; and not ``√ε``: the directions with
    ``σ`` near ``λ`` converge as ``(λ / (σ + λ))^4``, too slowly for an ill-conditioned but
    full-rank ``G_T`` in float32 (6 % error at ``cond(G_T) = 10⁴``). Why one ``DAMPING`` from
    a start: how much the directions of ``σ ≲ λ`` are damped changes where CoSaMP goes when
    ``|T| > m`` (its success rate at n = 128, m = 64, k = 26 moved from 18 % to 36 % as ``λ``
    went from ``10⁻⁸`` to ``3 · 10⁻⁴``); a ridge that depends on the dtype made float32 and float64
    recover different problems. From a start, the solver's next step refines what the damping
    leaves (the correction is recomputed from the new residual), so its accuracy is not lost.
    Starting from the current iterate, with the
    residual ``r₀`` that the solver computes anyway, makes the correction ``δ`` small near
    convergence, so its float32 error (``∝ cond(G_T) · ε · ‖δ‖``) vanishes with it, and an
    exact solution stays a fixed point.

    Args:
        op: the layer ``W``.
        wx: ``W r₀ = W (x − Wᵀ b₀)`` (``op.out_shape``); ``W x`` when ``start`` is ``None``.
        code: a one-problem :class:`~jaxcs.SparseCode`; its used slots are the support
            (distinct indices), its values are ignored.
        table: ``op.gram_table()`` (``None``: Grams from the operator's columns).
        start: ``b₀`` in ``code``'s slots (``(slots,)``, 0 on unused slots); ``None``: 0.

    Returns:
        ``code`` with the least-squares values in its used slots (0 elsewhere).
    """
    mask = code.mask
    both = mask[:, None] & mask[None, :]
    gram = jnp.where(both, op.restricted_gram(code.indices, mask, table=table), 0)
    dtype = gram.dtype
    top = jnp.max(jnp.where(mask, jnp.diagonal(gram), 0))
    top = jnp.where(top > 0, top, 1)  # all-zero columns (or none used): any positive scale
    ridge = (RIDGE_EPS * jnp.finfo(dtype).eps if start is None else DAMPING) * top
    # unused slots: decoupled (zero rows and columns), a zero right-hand side: they solve to 0
    gram = gram + jnp.diag(jnp.where(mask, 0, top))
    inverse = ridge_cholesky_inverse(gram, ridge)

    def solve(rhs):
        return inverse.T @ (inverse @ rhs)

    rhs = jnp.where(mask, wx.reshape(-1)[code.indices], 0)
    delta = solve(rhs)
    for _ in range(REFINEMENTS):
        delta = delta + solve(rhs - gram @ delta)
    values = delta if start is None else start + delta
    return code.replace(values=jnp.where(mask, values, 0))


def least_squares_on(
    op,
    x,
    rhs,
    code,
    start: SparseIterate,
    aux: LeastSquaresTables,
    cg_iterations,
    start_values=None,
):
    """Least squares on the used slots of ``code``: direct from the restricted Gram when
    ``aux.direct`` (``rhs = W x``, or ``W r₀`` from ``start_values``: see
    :func:`support_least_squares`), else CG warm-started from ``start``'s iterate."""
    if aux.direct:
        return support_least_squares(op, rhs, code, aux.table, start=start_values)
    b = restricted_least_squares(
        op, x, code.support(), start.iterate(), max_iterations=cg_iterations
    )
    return code.replace(values=jnp.where(code.mask, b.reshape(-1)[code.indices], 0))
