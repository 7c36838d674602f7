"""Least squares on a support: ``argmin ‖x − Φ b‖`` over codes ``b`` supported on the used
slots of a code, for HTP and CoSaMP. Two ways:

- ``"direct"``: the normal equations ``G_T b_T = (W x)_T`` from the restricted Gram
  (:func:`jaxcs.restricted_gram`, a gather from the operator's :meth:`gram_table`, computed
  once per operator), by Cholesky. A jitter ``s · ε · max diag(G_T)`` keeps the factorization
  defined when the columns of ``T`` are linearly dependent, and one step of iterative
  refinement removes its bias when they are not.
- ``"cg"``: conjugate gradients on ``P_T W Wᵀ P_T b = P_T W x`` (two operator applications per
  iteration, warm-started from the current iterate), :func:`jax.scipy.sparse.linalg.cg`.

``"auto"`` is direct when the support has at most ``DIRECT_MAX_SLOTS`` slots, else CG.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import cho_solve
from jax.scipy.sparse.linalg import cg

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_choice
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


def restricted_least_squares(op, x, mask, start, *, max_iterations: int, tol: float = 1e-7):
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


def support_least_squares(op, wx, code, table=None):
    """``argmin ‖x − Wᵀ b‖`` over ``b`` supported on the used slots of ``code``, exactly.

    Args:
        op: the layer ``W``.
        wx: ``W x`` (``op.out_shape``), the right-hand side of the normal equations.
        code: a one-problem :class:`~jaxcs.SparseCode`; its used slots are the support
            (distinct indices), its values are ignored.
        table: ``op.gram_table()`` (``None``: Grams from the operator's columns).

    Returns:
        ``code`` with the least-squares values in its used slots (0 elsewhere).
    """
    mask = code.mask
    gram = op.restricted_gram(code.indices, mask, table=table)
    slots = mask.shape[-1]
    eps = jnp.finfo(gram.dtype).eps
    jitter = slots * eps * jnp.max(jnp.diagonal(gram))
    # unused slots: a unit diagonal and a zero right-hand side, so they solve to 0
    factor = jnp.linalg.cholesky(gram + jnp.diag(jnp.where(mask, jitter, 1)))
    rhs = jnp.where(mask, wx.reshape(-1)[code.indices], 0)
    b = cho_solve((factor, True), rhs)
    b = b + cho_solve((factor, True), rhs - gram @ b)  # iterative refinement
    return code.replace(values=jnp.where(mask, b, 0))


def least_squares_on(
    op, x, rhs, code, start: SparseIterate, aux: LeastSquaresTables, cg_iterations
):
    """Least squares on the used slots of ``code``: direct from the restricted Gram when
    ``aux.direct`` (``rhs = W x``), else CG warm-started from ``start``'s iterate."""
    if aux.direct:
        return support_least_squares(op, rhs, code, aux.table)
    b = restricted_least_squares(
        op, x, code.support(), start.iterate(), max_iterations=cg_iterations
    )
    return code.replace(values=jnp.where(code.mask, b.reshape(-1)[code.indices], 0))
