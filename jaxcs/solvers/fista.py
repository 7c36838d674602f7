"""ℓ1-regularized recovery by FISTA, through the driver, and the paper's Algorithm 2.

Algorithm 2 recovers "real" hidden codes: an ℓ1 solution, its projection onto the model with
known switches, then an ℓ1 refit restricted to the projected support::

    z_init  = argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁
    z_model = 𝕄_known(z_init, k)
    z       = argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁   s.t.  z_i = 0 where z_model_i = 0
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import non_negative_number
from jaxcs.models import AbstractSparsityModel, check_model
from jaxcs.operators import check_operator, operator_norm
from jaxcs.solvers.base import AbstractSolver, StoppingRule
from jaxcs.solvers.driver import as_signals, check_loop, solve, unflatten_batch
from jaxcs.solvers.solution import Solution
from jaxcs.status import Status


class FISTAState(Pytree):
    """FISTA's state after step ``k`` (Beck & Teboulle 2009).

    Attributes:
        z, z_previous: ``z_k`` and ``z_{k−1}`` (``op.out_shape``).
        gradient, gradient_previous: ``∇f`` at ``z_k`` and ``z_{k−1}``, ``f = ‖x − Wᵀz‖²``:
            ``f`` is quadratic, so ``∇f`` at the extrapolated point is their combination and
            each step costs one gradient (two operator applications).
        t: the momentum sequence ``t_{k+1}``; ``beta``: ``(t_k − 1)/t_{k+1}``.
        residual, residual_norm: ``x − Wᵀ z_k`` and its norm.
        optimality: ``‖G_L(z_k)‖``, the norm of the proximal-gradient mapping at ``z_k``
            (zero exactly at a minimizer).
        scale: ``‖∇f(0)‖`` on the mask, the scale of the relative optimality.
    """

    z: Float[Array, "*out_spatial K"]
    z_previous: Float[Array, "*out_spatial K"]
    gradient: Float[Array, "*out_spatial K"]
    gradient_previous: Float[Array, "*out_spatial K"]
    t: Float[Array, ""]
    beta: Float[Array, ""]
    residual: Float[Array, "*in_spatial M"]
    residual_norm: Float[Array, ""]
    optimality: Float[Array, ""]
    scale: Float[Array, ""]

    def iterate(self) -> Float[Array, "*out_spatial K"]:
        return self.z

    def iterate_norm(self) -> Float[Array, ""]:
        return jnp.linalg.norm(self.z)

    def step_norm(self, previous: FISTAState) -> Float[Array, ""]:
        return jnp.linalg.norm(self.z - previous.z)


class FISTA(AbstractSolver):
    """``argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁`` (optionally ``z ≥ 0``, optionally ``z = 0`` off a
    mask) by FISTA (Beck & Teboulle 2009), step ``1/L`` with ``L = 2‖W‖₂²`` from
    :func:`jaxcs.operator_norm` (computed once per operator in ``prepare``).

    Stopping rule (:meth:`terminate`): ``CONVERGED`` when the proximal-gradient mapping
    ``G_L(z) = L (z − prox(z − ∇f(z)/L))`` has ``‖G_L(z)‖ ≤ tol · ‖∇f(0)‖`` (norms over the
    mask). ``G_L`` vanishes exactly at the minimizers and near one bounds the distance to it
    (by ``‖G_L(z)‖`` over the smallest restricted eigenvalue of ``2 W Wᵀ`` on the active
    support), so the iterate itself is accurate, not just the objective. Non-finite values and
    divergence are reported as by the default rule; there is no ``STALLED``: a fixed point of
    FISTA is a minimizer. The model is not used (pass ``None`` to :func:`jaxcs.solve`).

    Args:
        lam: ``λ ≥ 0`` (may be traced).
        nonnegative: add the constraint ``z ≥ 0`` (the prox becomes ``max(v − λ/L, 0)``).
        mask: optional ``op.out_shape`` booleans: ``z`` is held at 0 outside (may be traced).
    """

    lam: Float[ArrayLike, ""]
    mask: jax.Array | None
    nonnegative: bool = static_field()

    def __init__(
        self,
        lam: Float[ArrayLike, ""],
        *,
        nonnegative: bool = False,
        mask: Bool[ArrayLike, "*out_spatial K"] | None = None,
    ):
        self.lam = non_negative_number(lam, "lam")
        self.mask = None if mask is None else jnp.asarray(mask, bool)
        self.nonnegative = bool(nonnegative)

    def max_nonzeros(self, op, model) -> int:
        """The signal size ``m`` (at most the code size): a unique lasso solution has at most
        ``m`` non-zeros (its columns are linearly independent); the model is not used."""
        return min(math.prod(op.in_shape), math.prod(op.out_shape))

    def prepare(self, op, model) -> Float[Array, ""]:
        """The Lipschitz constant ``L = 2‖W‖₂²`` of ``∇f``."""
        return 2 * operator_norm(op) ** 2

    def rescaled(
        self, signal_scale: Float[ArrayLike, ""], operator_scale: Float[ArrayLike, ""]
    ) -> FISTA:
        """``λ / (s c)`` on ``(x / s, W / c)``: the lasso objective of ``z' = z c / s`` is
        the original one divided by ``s²``, so the minimizers correspond; the stopping rule
        is relative (:meth:`jaxcs.AbstractSolver.rescaled`)."""
        return self.replace(lam=self.lam / (signal_scale * operator_scale))

    def _prox(self, v, lipschitz):
        """Soft thresholding at ``λ/L`` (one-sided when non-negative), zero off the mask."""
        threshold = self.lam / lipschitz
        if self.nonnegative:
            shrunk = jnp.maximum(v - threshold, 0)
        else:
            shrunk = jnp.sign(v) * jnp.maximum(jnp.abs(v) - threshold, 0)
        return shrunk if self.mask is None else jnp.where(self.mask, shrunk, 0)

    def _on_mask(self, v):
        return v if self.mask is None else jnp.where(self.mask, v, 0)

    def _measured(self, op, x, z, lipschitz):
        """``(∇f(z), x − Wᵀz, ‖x − Wᵀz‖, ‖G_L(z)‖)``."""
        residual = x - op.rmv(z)
        gradient = -2 * op.mv(residual)
        mapping = lipschitz * (z - self._prox(z - gradient / lipschitz, lipschitz))
        return gradient, residual, jnp.linalg.norm(residual), jnp.linalg.norm(mapping)

    def init(
        self, op, x: Float[Array, "*in_spatial M"], model, aux: Float[Array, ""]
    ) -> FISTAState:
        dtype = jnp.result_type(op.dtype, x.dtype)
        z = jnp.zeros(tuple(op.out_shape), dtype)
        gradient, residual, r_norm, optimality = self._measured(op, x, z, aux)
        scale = jnp.linalg.norm(self._on_mask(gradient))
        one, zero = jnp.asarray(1, dtype), jnp.asarray(0, dtype)
        return FISTAState(z, z, gradient, gradient, one, zero, residual, r_norm, optimality, scale)

    def step(
        self, op, x: Float[Array, "*in_spatial M"], model, state: FISTAState, aux: Float[Array, ""]
    ) -> FISTAState:
        lipschitz, beta = aux, state.beta
        y = state.z + beta * (state.z - state.z_previous)
        gradient_y = state.gradient + beta * (state.gradient - state.gradient_previous)
        z = self._prox(y - gradient_y / lipschitz, lipschitz)
        gradient, residual, r_norm, optimality = self._measured(op, x, z, lipschitz)
        t = (1 + jnp.sqrt(1 + 4 * state.t**2)) / 2
        return FISTAState(
            z,
            state.z,
            gradient,
            state.gradient,
            t,
            (state.t - 1) / t,
            residual,
            r_norm,
            optimality,
            state.scale,
        )

    def terminate(
        self, op, x: Float[Array, "*in_spatial M"], model, previous, state, aux, rule: StoppingRule
    ) -> Int[Array, ""]:
        """Non-finite → ``NONFINITE``; ``‖r‖ > divergence_factor · ‖x‖`` → ``DIVERGED``;
        ``‖G_L(z)‖ ≤ tol · ‖∇f(0)‖`` → ``CONVERGED`` (class docstring)."""
        nonfinite = ~jnp.isfinite(state.residual_norm) | ~jnp.isfinite(state.optimality)
        diverged = state.residual_norm > rule.divergence_factor * rule.x_norm
        converged = state.optimality <= rule.tol * state.scale
        return jnp.select(
            [nonfinite, diverged, converged],
            [Status.NONFINITE, Status.DIVERGED, Status.CONVERGED],
            Status.RUNNING,
        ).astype(jnp.int32)


class LassoSolution(Solution):
    """:class:`~jaxcs.Solution` of :func:`lasso`, with the final objective
    ``‖x − Wᵀz‖² + λ‖z‖₁`` per problem."""

    objective: Float[Array, "*batch"] | None = None


class Algorithm2Solution(Pytree):
    """Algorithm 2's three stages, per problem.

    Attributes:
        z: the refit (stage 3); ``z_init``: the ℓ1 solution (stage 1); ``z_model``: its
            projection ``𝕄_known`` (stage 2).
        num_steps: FISTA steps of both solves together.
        status: :class:`~jaxcs.Status` of the refit; ``init_status``: of the first solve.
    """

    z: Float[Array, "*batch_out_shape"]
    z_init: Float[Array, "*batch_out_shape"]
    z_model: Float[Array, "*batch_out_shape"]
    num_steps: Int[Array, "*batch"]
    status: Int[Array, "*batch"]
    init_status: Int[Array, "*batch"]


def lasso(
    op,
    x: Float[ArrayLike, "*batch_in_shape"],
    lam: Float[ArrayLike, ""],
    *,
    mask: Bool[ArrayLike, "*batch_out_shape"] | None = None,
    nonnegative: bool = False,
    max_steps: int = 500,
    tol: float = 1e-6,
) -> LassoSolution:
    """``argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁`` by :class:`FISTA` through the driver (Algorithm 2).

    Args:
        op: the layer ``W``.
        x: ``(*batch, *op.in_shape)``.
        lam: ``λ ≥ 0`` (scalar, may be traced).
        mask: optional ``op.out_shape`` (or batched) booleans: ``z`` is held at 0 outside.
        nonnegative: add the constraint ``z ≥ 0``.
        max_steps: FISTA's step budget (a new one compiles nothing).
        tol: relative optimality ``‖G_L(z)‖ / ‖∇f(0)‖`` at which it stops (see :class:`FISTA`).

    Returns:
        A :class:`LassoSolution` with leading axes ``batch``; ``status`` says per problem
        whether it converged or ran out of steps.
    """
    check_operator(op)
    x = as_signals(op, x)
    batch = x.shape[: x.ndim - len(op.in_shape)]
    non_negative_number(lam, "lam")
    max_steps, tol, _, _ = check_loop(max_steps, tol, "while", 1e4)
    flat = x.reshape((-1,) + tuple(op.in_shape))
    if mask is None:
        masks = jnp.ones((flat.shape[0],) + tuple(op.out_shape), bool)
    else:
        masks = jnp.broadcast_to(jnp.asarray(mask, bool), batch + tuple(op.out_shape))
        masks = masks.reshape((-1,) + tuple(op.out_shape))
    out = _lasso(op, flat, masks, lam, bool(nonnegative), max_steps, tol)
    return unflatten_batch(out, batch)


@partial(jax.jit, static_argnums=(4,))
def _lasso(op, x, mask, lam, nonnegative, max_steps, tol):
    def one(x, mask):
        # FISTA.prepare (L = 2‖W‖²) runs inside, on the normalised operator: once, as it does
        # not depend on x or the mask
        solver = FISTA(lam, nonnegative=nonnegative, mask=mask)
        solution = solve(op, x, None, solver, max_steps=max_steps, tol=tol)
        objective = solution.residual_norm**2 + lam * jnp.sum(jnp.abs(solution.z))
        return LassoSolution(
            solution.z,
            solution.status,
            solution.num_steps,
            solution.residual_norm,
            max_steps=solution.max_steps,
            objective=objective,
        )

    return jax.vmap(one)(x, mask)


def algorithm2(
    op,
    x: Float[ArrayLike, "*batch_in_shape"],
    model: AbstractSparsityModel,
    lam: Float[ArrayLike, ""],
    *,
    max_steps: int = 500,
    tol: float = 1e-6,
) -> Algorithm2Solution:
    """The paper's Algorithm 2: ℓ1 recovery, ``𝕄_known`` projection, refit.

    The sign constraint follows the model: a non-negative model makes both ℓ1 problems
    non-negative (codes after a ReLU).

    Args:
        op: the layer ``W``; x: ``(*batch, *op.in_shape)``; model: its ``project`` is
            ``𝕄_known``; lam: ``λ``; max_steps, tol: FISTA's stopping rule (each stage).

    Returns:
        An :class:`Algorithm2Solution`; ``num_steps`` adds both FISTA runs.
    """
    check_model(model)
    model.check_code_shape(op.out_shape, "op.out_shape")
    first = lasso(op, x, lam, nonnegative=model.nonnegative, max_steps=max_steps, tol=tol)
    flat = first.z.reshape((-1,) + tuple(op.out_shape))
    z_model = jax.vmap(model.project)(flat).reshape(first.z.shape)
    second = lasso(
        op, x, lam, mask=z_model != 0, nonnegative=model.nonnegative, max_steps=max_steps, tol=tol
    )
    return Algorithm2Solution(
        second.z,
        first.z,
        z_model,
        first.num_steps + second.num_steps,
        second.status,
        first.status,
    )
