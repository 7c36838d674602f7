"""One driver for every solver (Algorithms 1 and 2): :func:`solve` (the pure per-problem
kernel) and :func:`recover` (the checked, batched, jitted shell around it).

A solver says how to take one step (:mod:`jaxcs.solvers.base`); the driver owns the loop:

- ``mode="while"``: ``lax.while_loop`` until the solver's ``terminate`` says stop (tolerance,
  divergence, a non-finite value, a stall) or ``max_steps``;
- ``mode="scan"``: a fixed-length ``lax.scan`` of ``max_steps`` that records the residual
  history (for sweeps and plots).

Under ``vmap`` a finished problem is frozen (its state stops changing) while the others go on,
and each reports its own status and step count, so batched results equal unbatched ones.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxcs._validate import check_trailing, is_traced, non_negative_number, positive_int
from jaxcs.models import RegionModel
from jaxcs.operators import check_operator
from jaxcs.solvers.base import AbstractSolver, StoppingRule
from jaxcs.solvers.iht import NIHT
from jaxcs.solvers.solution import Solution
from jaxcs.solvers.status import Status

MODES = ("while", "scan")


def solve(
    op,
    x: jax.Array,
    model,
    solver: AbstractSolver,
    aux=None,
    *,
    max_steps: int,
    tol=1e-6,
    mode: str = "while",
    divergence_factor=1e4,
) -> Solution:
    """The pure kernel of :func:`recover`: one problem, arguments assumed checked.

    jit-, vmap- and shard-able: ``jax.vmap(lambda x: solve(op, x, model, solver, aux, ...))``
    solves a batch, and ``op``, ``model``, ``solver``, ``tol`` and ``divergence_factor`` may be
    traced (mapped over in a sweep). ``max_steps`` and ``mode`` are static.

    Args:
        op: the operator ``W`` (any :class:`~jaxcs.AbstractOperator`).
        x: ``op.in_shape``, one signal in the iterates' floating dtype.
        model: the sparsity model of the codes (``None`` for solvers that use none: FISTA).
        solver: the solver.
        aux: ``solver.prepare(op, model)``, computed once per operator (``None`` for solvers
            that need nothing).
        max_steps: step budget.
        tol: relative tolerance of the stopping rule.
        mode: ``"while"`` or ``"scan"`` (records ``residual_history``).
        divergence_factor: residual growth, relative to ``‖x‖``, reported as divergence.

    Returns:
        A :class:`~jaxcs.Solution` without batch axes. Non-finite data stops before the first
        step with status ``NONFINITE``.
    """
    x_norm = jnp.linalg.norm(x)
    rule = StoppingRule(tol, divergence_factor, x_norm, int(max_steps))
    state = solver.init(op, x, model, aux)
    status0 = jnp.where(jnp.isfinite(x_norm), Status.RUNNING, Status.NONFINITE).astype(jnp.int32)

    def advance(carry):
        steps, state, _ = carry
        new = solver.step(op, x, model, state, aux)
        return steps + 1, new, solver.terminate(op, x, model, state, new, aux, rule)

    carry = (jnp.int32(0), state, status0)
    history = None
    if mode == "while":

        def running(carry):
            steps, _, status = carry
            return (status == Status.RUNNING) & (steps < max_steps)

        steps, state, status = jax.lax.while_loop(running, advance, carry)
    else:

        def scan_step(carry, _):
            active = carry[2] == Status.RUNNING
            new = advance(carry)
            carry = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, carry)
            return carry, carry[1].residual_norm

        (steps, state, status), history = jax.lax.scan(scan_step, carry, length=max_steps)
    status = jnp.where(status == Status.RUNNING, Status.MAX_STEPS, status).astype(jnp.int32)
    return Solution(
        state.iterate(), status, steps, state.residual_norm, history, max_steps=int(max_steps)
    )


def recover(
    op,
    x: jax.Array,
    model: RegionModel,
    solver: AbstractSolver | None = None,
    *,
    max_steps: int = 300,
    tol: float = 1e-6,
    mode: str = "while",
    divergence_factor: float = 1e4,
) -> Solution:
    """Recover model-sparse codes ``z`` with ``x ≈ Wᵀ z`` (``Φ = Wᵀ``).

    Checks the arguments, flattens the batch, and runs :func:`solve` under ``jit(vmap(...))``
    with ``solver.prepare(op, model)`` computed once. The stopping rule is the solver's
    ``terminate`` (default, :meth:`jaxcs.AbstractSolver.terminate`: non-finite →
    ``NONFINITE``; ``‖r‖ > divergence_factor · ‖x‖`` → ``DIVERGED``; ``‖r‖ ≤ tol · ‖x‖`` →
    ``CONVERGED``; ``‖z_new − z‖ ≤ tol · ‖z_new‖`` without that → ``STALLED``); otherwise
    ``MAX_STEPS`` after ``max_steps`` steps.

    A classical compressive-sensing problem ``y = Φ z`` with a sensing matrix ``Φ`` (``m × n``)
    is ``recover(MatrixOperator(Φ).T, y, TopKModel(k))``.

    Args:
        op: the layer ``W`` (any :class:`~jaxcs.AbstractOperator`; ``MatrixOperator(Φ).T`` for a
            sensing matrix ``Φ``).
        x: ``(*batch, *op.in_shape)`` signals.
        model: the sparsity model of the codes (``op.out_shape``).
        solver: ``IHT()``, ``NIHT()`` (default), ``HTP()``, ``CoSaMP()``, or your own
            :class:`~jaxcs.AbstractSolver`.
        max_steps: step budget per problem.
        tol: relative tolerance (≥ 0; 0 runs to ``max_steps`` unless a fixed point is exact).
        mode: ``"while"`` or ``"scan"`` (records ``residual_history``).
        divergence_factor: residual growth, relative to ``‖x‖``, reported as divergence.

    Returns:
        A :class:`~jaxcs.Solution` with leading axes ``batch``.

    Raises:
        TypeError: ``op`` not an operator, ``model`` not a model, ``solver`` not a solver.
        ValueError: before tracing, for a wrong ``x`` shape, bad ``max_steps``, ``tol``,
            ``mode`` or ``divergence_factor``, or ``k`` out of range for ``op.out_shape``.
    """
    check_operator(op)
    if not isinstance(model, RegionModel):
        raise TypeError(f"model must be a RegionModel; got {type(model).__name__}")
    solver = NIHT() if solver is None else solver
    if not isinstance(solver, AbstractSolver):
        raise TypeError(
            f"solver must be a solver instance (a jaxcs.AbstractSolver, e.g. jaxcs.NIHT()); "
            f"got {solver!r}"
        )
    x = as_signals(op, x)
    batch = x.shape[: x.ndim - len(op.in_shape)]
    model.check_code_shape(op.out_shape, "op.out_shape")
    check_scalar_model(model)
    max_steps, tol, mode, divergence_factor = check_loop(max_steps, tol, mode, divergence_factor)
    flat = x.reshape((-1,) + tuple(op.in_shape))
    solution = _recover(op, flat, model, solver, max_steps, tol, mode, divergence_factor)
    return unflatten_batch(solution, batch)


def as_signals(op, x) -> jax.Array:
    """``x`` checked to be ``(*batch, *op.in_shape)``, in one floating dtype with the operator
    (integer data, or data of another precision, is promoted)."""
    x = jnp.asarray(x)
    check_trailing(x, tuple(op.in_shape), "x")
    floating = jnp.issubdtype(x.dtype, jnp.floating)
    return x.astype(jnp.result_type(op.dtype, x.dtype) if floating else op.dtype)


def check_loop(max_steps, tol, mode, divergence_factor):
    """The driver's loop arguments, checked: ``(max_steps, tol, mode, divergence_factor)``."""
    max_steps = positive_int(max_steps, "max_steps")
    non_negative_number(tol, "tol")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if non_negative_number(divergence_factor, "divergence_factor") == 0:
        raise ValueError("divergence_factor must be a number > 0; got 0")
    return max_steps, tol, mode, divergence_factor


def unflatten_batch(result, batch: tuple[int, ...]):
    """Give every leaf of a result with one flat leading axis the leading axes ``batch``."""
    return jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), result)


def check_scalar_model(model) -> None:
    """A stacked model (array ``k``) must be mapped over with ``vmap``, not passed whole."""
    k = model.k
    if k is not None and not is_traced(k) and jnp.ndim(k) != 0:
        raise ValueError(
            f"model.k must be a scalar here; got shape {jnp.shape(k)}: use jax.vmap over a "
            "stacked model to solve for several k"
        )


@partial(jax.jit, static_argnums=(4, 6))
def _recover(op, x, model, solver, max_steps, tol, mode, divergence_factor):
    aux = solver.prepare(op, model)  # once per operator, shared by every problem

    def one(x):
        return solve(
            op,
            x,
            model,
            solver,
            aux,
            max_steps=max_steps,
            tol=tol,
            mode=mode,
            divergence_factor=divergence_factor,
        )

    return jax.vmap(one)(x)
