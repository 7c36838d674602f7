"""The solver protocol (optimiztix's ``init / step / terminate``): a solver says how to take one
step, the driver (:func:`jaxcs.solve`, :func:`jaxcs.recover`) owns the loop.

Notation: ``Φ = Wᵀ`` (``op.rmv``), ``Φᵀ = W`` (``op.mv``), ``𝕄 = model.project``, residual
``r = x − Φ z``. A solver is a pytree (its parameters: step sizes, tolerances) with

- ``prepare(op, model) -> aux``: once per operator, outside the per-problem ``vmap`` (tables
  shared by every problem; typed, or ``None``);
- ``init(op, x, model, aux) -> state`` and ``step(op, x, model, state, aux) -> state`` for one
  problem; each solver has its own state type, a pytree with at least ``residual_norm``
  (``‖x − Φ z‖``) and the methods ``iterate()`` (the dense ``z``), ``iterate_norm()`` and
  ``step_norm(previous)`` (``‖z − z_previous‖``);
- ``terminate(op, x, model, previous, state, aux, rule) -> status``: the stopping rule, an
  ``int32`` :class:`~jaxcs.Status` code or ``RUNNING``, judged on one step. The default here
  is the rule every sparse solver shares (see :meth:`AbstractSolver.terminate`); a solver may
  refine it. ``STALLED`` is a verdict on that one step ("no progress"): the driver reports it
  only after ``rule.stall_window`` such steps in a row, and goes on otherwise;
- ``rescaled(signal_scale, operator_scale) -> solver | None``: the same solver for the
  normalised problem ``(x / s, W / c)`` the driver solves instead of ``(x, W)`` (float32
  neither over- nor underflows; see :func:`jaxcs.solve`); ``None`` (the default) runs the
  problem as given.
"""

from __future__ import annotations

import abc
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from jaxcs._pytree import Pytree
from jaxcs.models import SparseCode
from jaxcs.status import Status


class StoppingRule(Pytree):
    """The stopping parameters of one problem, built by the driver (leaves: sweeps may vary
    them without recompiling).

    Attributes:
        tol: relative tolerance (``≥ 0``).
        divergence_factor: ``‖r‖ > divergence_factor · ‖x‖`` is divergence.
        x_norm: ``‖x‖``, the scale of the relative measures (computed once per problem, of
            the signal the solver sees: the driver's normalised one, never 0 for ``x ≠ 0``).
        stall_window: how many steps in a row ``terminate`` must call ``STALLED`` before the
            driver stops the run as stalled (``≥ 1``; a leaf: varying it does not recompile).
        max_steps: the step budget (a leaf: in ``mode="while"`` a new budget compiles
            nothing).
    """

    tol: Float[ArrayLike, ""]
    divergence_factor: Float[ArrayLike, ""]
    x_norm: Float[Array, ""]
    stall_window: int | Int[ArrayLike, ""]
    max_steps: int | Int[ArrayLike, ""]


class SparseIterate(Pytree):
    """State of a solver whose iterate is a code in index form (IHT, NIHT, HTP, CoSaMP).

    Attributes:
        code: the iterate ``z`` as a :class:`~jaxcs.SparseCode`; its used slots hold the
            non-zeros of ``z`` and may hold zeros (NIHT's first state: the support ``Γ`` of the
            first step with values 0; HTP with a non-negative model clips negative
            least-squares values to 0 in place).
        residual: ``r = x − Φ z``.
        residual_norm: ``‖r‖``.
    """

    code: SparseCode
    residual: Float[Array, "*in_spatial M"]
    residual_norm: Float[Array, ""]

    def iterate(self) -> Float[Array, "*spatial K"]:
        """The dense iterate ``(*spatial, K)``."""
        return self.code.to_dense()

    def iterate_norm(self) -> Float[Array, ""]:
        """``‖z‖`` from the slots (``O(slots)``, no dense code)."""
        return self.code.norm()

    def step_norm(self, previous: SparseIterate) -> Float[Array, ""]:
        """``‖z − z_previous‖`` from the slots."""
        return self.code.distance(previous.code)


class AbstractSolver(Pytree):
    """Base of every solver (module docstring). Subclasses define ``init`` and ``step``
    (abstract: a class without them cannot be instantiated)."""

    def prepare(self, op, model):
        """Per-operator data shared by every problem (default: none)."""
        return None

    def rescaled(
        self, signal_scale: Float[ArrayLike, ""], operator_scale: Float[ArrayLike, ""]
    ) -> AbstractSolver | None:
        """This solver for the normalised problem ``(x / s, W / c)``, or ``None``.

        The driver (:func:`jaxcs.solve`) solves ``x / s = (W / c)ᵀ z'`` and returns
        ``z = z' · s / c``, with ``s`` and ``c`` powers of two that bring the signal's and the
        operator's entries near 1 (float32 then neither overflows nor underflows). A solver
        whose iterates scale that way (IHT, NIHT, HTP, CoSaMP are homogeneous) returns itself
        with its scale-carrying parameters converted (IHT's fixed step ``μ`` on ``W`` is
        ``μ c²`` on ``W / c``; FISTA's ``λ`` is ``λ / (s c)``). Default: ``None``, the problem
        is solved as given (a solver of your own keeps its exact semantics; its stopping rule
        still sees a safely computed ``‖x‖``).

        Args:
            signal_scale: ``s`` (a positive scalar, per problem).
            operator_scale: ``c`` (a positive scalar, per operator).
        """
        return None

    def max_nonzeros(self, op, model) -> int:
        """A static bound on the non-zeros of this solver's codes for ``op`` (the support the
        implicit derivative of ``mode="while"`` works on: :mod:`jaxcs.solvers.implicit`).
        Default: the model's :meth:`~jaxcs.AbstractSparsityModel.num_slots`."""
        return model.num_slots(op.out_shape)

    @abc.abstractmethod
    def init(
        self, op, x: Float[Array, "*in_spatial M"], model, aux
    ) -> Any:  # the solver's own state type (module docstring)
        """The state before the first step, for one problem ``x`` (``op.in_shape``)."""

    @abc.abstractmethod
    def step(self, op, x: Float[Array, "*in_spatial M"], model, state, aux) -> Any:
        """The state after one more step."""

    def terminate(
        self, op, x: Float[Array, "*in_spatial M"], model, previous, state, aux, rule: StoppingRule
    ) -> Int[Array, ""]:
        """The default stopping rule, checked after every step, in this order:

        non-finite ``z`` or ``‖r‖`` → ``NONFINITE``; ``‖r‖ > divergence_factor · ‖x‖`` →
        ``DIVERGED``; ``‖r‖ ≤ tol · ‖x‖`` with ``z ≠ 0`` (or ``x = 0``) → ``CONVERGED``; no
        progress in this step, i.e. ``‖z − z_previous‖ ≤ tol · ‖z‖`` and
        ``‖r_previous‖ − ‖r‖ ≤ tol · ‖r_previous‖`` → ``STALLED``; else ``RUNNING``.

        ``STALLED`` here judges one step; the driver stops a run as stalled only after
        ``rule.stall_window`` such steps in a row (a fixed point whose residual did not reach
        ``tol``, e.g. IHT stuck on a wrong support), so one tiny step (NIHT after its step size
        was shrunk by backtracking) does not end a run that goes on to converge. A run that
        converges slowly (small steps, but a residual still falling by more than ``tol`` per
        step) goes on until it converges or runs out of steps. A zero iterate is never
        ``CONVERGED`` for a non-zero signal, whatever ``tol``.
        """
        x_norm = rule.x_norm
        r_norm, z_norm = state.residual_norm, state.iterate_norm()
        nonfinite = ~jnp.isfinite(r_norm) | ~jnp.isfinite(z_norm)
        diverged = r_norm > rule.divergence_factor * x_norm
        converged = (r_norm <= rule.tol * x_norm) & ((z_norm > 0) | (x_norm == 0))
        still = state.step_norm(previous) <= rule.tol * z_norm
        stalled = still & (previous.residual_norm - r_norm <= rule.tol * previous.residual_norm)
        return jnp.select(
            [nonfinite, diverged, converged, stalled],
            [Status.NONFINITE, Status.DIVERGED, Status.CONVERGED, Status.STALLED],
            Status.RUNNING,
        ).astype(jnp.int32)


__all__ = ["AbstractSolver", "SparseIterate", "StoppingRule"]
