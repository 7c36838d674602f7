"""Model-based Subspace Pursuit (Dai & Milenkovic 2009), written against the public protocol
only (:class:`~jaxcs.AbstractSolver`, :class:`~jaxcs.solvers.SparseIterate`, the model's
``project_sparse``, :meth:`~jaxcs.SparseCode.union`, :func:`~jaxcs.solvers.support_least_squares`
and the operator's ``mv`` / ``residual`` / ``gram_table``): a solver of one's own is written the
same way.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from jaxcs.solvers.base import AbstractSolver, SparseIterate
from jaxcs.solvers.least_squares import support_least_squares


class SubspacePursuitState(SparseIterate):
    """The iterate, its residual, and ``W x`` (the right-hand side of both least squares)."""

    wx: Float[Array, "*out_spatial K"]


class SubspacePursuit(AbstractSolver):
    """Model-based Subspace Pursuit (Dai & Milenkovic 2009, Algorithm 1, with the model's
    projection ``𝕄`` in place of keeping the ``k`` largest entries).

    Each step: ``Ω = supp 𝕄(Φᵀ r)`` (one budget of new candidates), ``T' = Ω ∪ supp z``,
    ``b = argmin_{supp b ⊆ T'} ‖x − Φ b‖``, ``T = supp 𝕄(b)``,
    ``z = argmin_{supp z ⊆ T} ‖x − Φ z‖``, ``r = x − Φ z``. Both least squares are the published
    ``Φ_T⁺ x``, solved from the restricted Gram (:func:`~jaxcs.solvers.support_least_squares`
    with ``W x``, a ridge of a few epsilons of ``max diag G_T``). The driver's stopping rule
    replaces the paper's "stop when ``‖r‖`` grows": a step that does not lower the residual
    is a stall (``STALLED`` after the driver's window), and the last iterate is returned.

    Unlike CoSaMP, the candidates are one budget ``k`` (not ``2k``), so ``|T'| ≤ 2k``: the
    least squares stay overdetermined while ``2k ≤ m`` (twice the model's slots per problem).
    """

    def prepare(self, op, model):
        """The operator's Gram table (``None``: Grams from its columns), for both least
        squares."""
        return op.gram_table()

    def init(self, op, x: Float[Array, "*in_spatial M"], model, aux) -> SubspacePursuitState:
        zero = model.project_sparse(jnp.zeros(tuple(op.out_shape), jnp.result_type(op.dtype, x)))
        return SubspacePursuitState(zero, x, jnp.linalg.norm(x), op.mv(x))

    def step(
        self, op, x: Float[Array, "*in_spatial M"], model, state: SubspacePursuitState, aux
    ) -> SubspacePursuitState:
        omega = model.project_sparse(op.mv(state.residual))
        merged = omega.union(state.code)  # T' = Ω ∪ supp z, distinct slots (values unused)
        b = support_least_squares(op, state.wx, merged, aux)
        kept = model.project_sparse(b.to_dense())  # T = supp 𝕄(b)
        code = support_least_squares(op, state.wx, kept, aux)
        if model.nonnegative:
            code = code.replace(values=jnp.maximum(code.values, 0))
        residual = op.residual(x, code)
        return SubspacePursuitState(code, residual, jnp.linalg.norm(residual), state.wx)

    def rescaled(
        self, signal_scale: Float[ArrayLike, ""], operator_scale: Float[ArrayLike, ""]
    ) -> SubspacePursuit:
        """Homogeneous, without scale-carrying parameters: itself."""
        return self


__all__ = ["SubspacePursuit", "SubspacePursuitState"]
