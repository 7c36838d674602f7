"""One driver for every solver (Algorithms 1 and 2): :func:`solve` (the pure per-problem
kernel) and :func:`recover` (the checked, batched, jitted shell around it).

A solver says how to take one step (:mod:`jaxcs.solvers.base`); the driver owns the loop:

- ``mode="while"``: ``lax.while_loop`` until the solver's ``terminate`` says stop (tolerance,
  divergence, a non-finite value, a stall) or ``max_steps``;
- ``mode="scan"``: a fixed-length ``lax.scan`` of ``max_steps`` that records the residual
  history (for sweeps and plots).

Derivatives: in ``mode="scan"`` JAX differentiates the steps as run; in ``mode="while"``,
forward and reverse, the code carries the implicit derivative of the least-squares solution on
its support (:mod:`jaxcs.solvers.implicit`).

Under ``vmap`` a finished problem is frozen (its state stops changing) while the others go on,
and each reports its own status and step count, so batched results equal unbatched ones.
"""

from __future__ import annotations

from functools import partial
from typing import cast

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from jaxcs._scale import power_of_two_scale, scaled_norm
from jaxcs._validate import (
    check_choice,
    check_trailing,
    is_traced,
    non_negative_number,
    positive_int,
)
from jaxcs.models import AbstractSparsityModel, check_model
from jaxcs.operators import check_operator
from jaxcs.solvers import implicit
from jaxcs.solvers.base import AbstractSolver, StoppingRule
from jaxcs.solvers.iht import NIHT
from jaxcs.solvers.solution import Solution
from jaxcs.status import Status

MODES = ("while", "scan")
STALL_WINDOW = 50  # steps in a row without progress before a run is stopped as STALLED


def solve(
    op,
    x: Float[Array, "*in_spatial M"],
    model,
    solver: AbstractSolver,
    aux=None,
    *,
    max_steps: int | Int[ArrayLike, ""],
    tol: Float[ArrayLike, ""] = 1e-6,
    mode: str = "while",
    divergence_factor: Float[ArrayLike, ""] = 1e4,
    stall_window: int | Int[ArrayLike, ""] = STALL_WINDOW,
) -> Solution:
    """The pure kernel of :func:`recover`: one problem, arguments assumed checked.

    jit-, vmap- and shard-able: ``jax.vmap(lambda x: solve(op, x, model, solver, ...))``
    solves a batch, and ``op``, ``model``, ``solver``, ``tol``, ``divergence_factor``,
    ``stall_window`` and, in ``mode="while"``, ``max_steps`` may be traced (mapped over in a
    sweep: a new step budget compiles nothing). ``mode`` is static, and so is ``max_steps`` in
    ``mode="scan"`` (the length of the scan and of ``residual_history``). Under ``vmap``,
    per-operator work (``solver.prepare``, the operator's scale) that does not depend on the
    mapped data is computed once, not per problem.

    Scale: the problem is solved normalised, ``x / s = (W / c)ᵀ z'``, with ``s`` and ``c``
    powers of two that bring the entries of ``x`` and of ``W``
    (:meth:`~jaxcs.AbstractOperator.normalized`) near 1, and ``z = z' s / c``,
    ``‖r‖ = ‖r'‖ s`` are mapped back. Powers of two are exact, so a well-scaled problem is
    solved exactly as it would be without this, and float32 gives the same statuses and
    relative answers for filters of any magnitude (no overflow of ``‖Φᵀ r‖²``, no underflow
    of ``‖x‖²``). The solver takes part through :meth:`~jaxcs.AbstractSolver.rescaled`
    (``None``, the default for a solver of your own: the problem is solved as given).

    Args:
        op: the operator ``W`` (any :class:`~jaxcs.AbstractOperator`).
        x: ``op.in_shape``, one signal in the iterates' floating dtype.
        model: the sparsity model of the codes (``None`` for solvers that use none: FISTA).
        solver: the solver.
        aux: ``None`` (recommended): the driver computes ``solver.prepare`` on the normalised
            operator. Else ``solver.prepare(op, model)`` computed by the caller on ``op`` as
            given: ``op`` is then used at its own scale (only ``x`` is normalised), so the
            caller answers for its magnitude.
        max_steps: step budget (an int, or a traced integer scalar in ``mode="while"``).
        tol: relative tolerance of the stopping rule.
        mode: ``"while"`` or ``"scan"`` (records ``residual_history``).
        divergence_factor: residual growth, relative to ``‖x‖``, reported as divergence.
        stall_window: steps in a row that the solver's ``terminate`` must judge ``STALLED``
            (no progress) before the run stops as ``STALLED`` (``≥ 1``).

    Returns:
        A :class:`~jaxcs.Solution` without batch axes. Non-finite data stops before the first
        step with status ``NONFINITE``.
    """
    given = (op, x)
    if mode == "while":  # no reverse mode through the loop: the derivative is implicit
        op, x, model, solver, aux = implicit.values_only((op, x, model, solver, aux))
    dtype = jnp.result_type(x)
    x_scale = power_of_two_scale(x)
    if aux is None:
        op_seen, op_scale = op.normalized()
    else:  # prepared by the caller on op as given
        op_seen, op_scale = op, jnp.ones((), dtype)
    solver_seen = solver.rescaled(x_scale, op_scale.astype(dtype))
    if solver_seen is None:  # a solver that does not take part: the problem as given
        op_seen, solver_seen = op, solver
        x_scale = op_scale = jnp.ones((), dtype)
    if aux is None:
        aux = solver_seen.prepare(op_seen, model)
    x_seen = x / x_scale
    x_norm = scaled_norm(x_seen)
    if mode == "scan":
        max_steps = scan_length(max_steps)
    rule = StoppingRule(tol, divergence_factor, x_norm, stall_window, max_steps)
    state = solver_seen.init(op_seen, x_seen, model, aux)
    status0 = jnp.where(jnp.isfinite(x_norm), Status.RUNNING, Status.NONFINITE).astype(jnp.int32)

    def advance(carry):
        steps, state, _, quiet = carry
        new = solver_seen.step(op_seen, x_seen, model, state, aux)
        verdict = solver_seen.terminate(op_seen, x_seen, model, state, new, aux, rule)
        # STALLED judges one step: a run stops as stalled after stall_window of them in a row,
        # or at once where the step left the whole state unchanged (step is a pure function
        # of the state, so that fixed point is for good)
        no_progress = verdict == Status.STALLED
        quiet = jnp.where(no_progress, quiet + 1, 0)
        patient = (quiet < rule.stall_window) & ~_unchanged(state, new)
        status = jnp.where(no_progress & patient, Status.RUNNING, verdict)
        return steps + 1, new, status.astype(jnp.int32), quiet

    carry = (jnp.int32(0), state, status0, jnp.int32(0))
    history = None
    if mode == "while":

        def running(carry):
            steps, _, status, _ = carry
            return (status == Status.RUNNING) & (steps < max_steps)

        steps, state, status, _ = jax.lax.while_loop(running, advance, carry)
    else:

        def scan_step(carry, _):
            active = carry[2] == Status.RUNNING
            new = advance(carry)
            carry = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, carry)
            return carry, carry[1].residual_norm

        length = cast(int, max_steps)  # scan_length above
        (steps, state, status, _), history = jax.lax.scan(scan_step, carry, length=length)
        history = history * x_scale
    status = jnp.where(status == Status.RUNNING, Status.MAX_STEPS, status).astype(jnp.int32)
    z = state.iterate() * (x_scale / op_scale).astype(dtype)
    residual_norm = state.residual_norm * x_scale
    if mode == "while":
        slots = solver_seen.max_nonzeros(op_seen, model)
        z, residual_norm = implicit.attach(slots, *given, z, residual_norm)
    budget = jnp.asarray(max_steps, jnp.int32)
    return Solution(z, status, steps, residual_norm, history, max_steps=budget)


def scan_length(max_steps) -> int:
    """``max_steps`` as the static length of ``mode="scan"`` (a Python int: the scan and its
    recorded history have that many steps)."""
    try:
        return int(max_steps)
    except jax.errors.ConcretizationTypeError:
        raise ValueError(
            'max_steps must be a Python int in mode="scan" (the length of the scan and of '
            'residual_history); only mode="while" takes a traced max_steps'
        ) from None


def _unchanged(state, new) -> jax.Array:
    """Whether every leaf of ``new`` equals that of ``state`` exactly (NaN never does; a
    state without leaves says nothing)."""
    leaves = jax.tree.leaves
    same = [jnp.all(a == b) for a, b in zip(leaves(state), leaves(new), strict=True)]
    return jnp.all(jnp.asarray(same)) if same else jnp.asarray(False)


def recover(
    op,
    x: Float[ArrayLike, "*batch_in_shape"],
    model: AbstractSparsityModel,
    solver: AbstractSolver | None = None,
    *,
    max_steps: int = 300,
    tol: float = 1e-6,
    mode: str = "while",
    divergence_factor: float = 1e4,
    stall_window: int = STALL_WINDOW,
) -> Solution:
    """Recover model-sparse codes ``z`` with ``x ≈ Wᵀ z`` (``Φ = Wᵀ``).

    Checks the arguments, flattens the batch, and runs :func:`solve` under ``jit(vmap(...))``
    with ``solver.prepare`` computed once per operator. The stopping rule is the solver's
    ``terminate`` (default, :meth:`jaxcs.AbstractSolver.terminate`: non-finite →
    ``NONFINITE``; ``‖r‖ > divergence_factor · ‖x‖`` → ``DIVERGED``; ``‖r‖ ≤ tol · ‖x‖`` with
    ``z ≠ 0`` → ``CONVERGED``; ``stall_window`` steps in a row without progress (relative step
    and relative residual decrease both ``≤ tol``) → ``STALLED``); otherwise ``MAX_STEPS``
    after ``max_steps`` steps. The problem is solved normalised (:func:`solve`): statuses and
    relative answers do not depend on the magnitude of ``x`` or of the filters.

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
        stall_window: steps in a row without progress before a run stops as ``STALLED``
            (``≥ 1``; not static: changing it does not recompile).

    A new ``max_steps`` compiles nothing in ``mode="while"`` (it is a traced input; in
    ``mode="scan"`` it is the static length of the recorded history), nor does a new ``tol``,
    ``divergence_factor``, ``stall_window`` or batch of the same size.

    Differentiable in ``x`` and the operator's leaves (``jax.grad``, ``jax.jvp``): in
    ``mode="while"`` the codes carry the implicit derivative of the least-squares solution on
    their support (:mod:`jaxcs.solvers.implicit`: exact at a converged run); in ``mode="scan"``
    JAX differentiates the steps as run.

    Returns:
        A :class:`~jaxcs.Solution` with leading axes ``batch``.

    Raises:
        TypeError: ``op`` not an operator, ``model`` not a model, ``solver`` not a solver.
        ValueError: before tracing, for a wrong ``x`` shape, bad ``max_steps``, ``tol``,
            ``mode``, ``divergence_factor`` or ``stall_window``, or ``k`` out of range for
            ``op.out_shape``.
    """
    check_operator(op)
    check_model(model)
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
    stall_window = positive_int(stall_window, "stall_window")
    flat = x.reshape((-1,) + tuple(op.in_shape))
    length = max_steps if mode == "scan" else None
    solution = _recover(
        op, flat, model, solver, max_steps, tol, length, divergence_factor, stall_window
    )
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
    check_choice(mode, MODES, "mode")
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


@partial(jax.jit, static_argnums=(6,))
def _recover(op, x, model, solver, max_steps, tol, scan_steps, divergence_factor, stall_window):
    # scan_steps: None for mode="while" (max_steps traced), else the static scan length
    mode = "while" if scan_steps is None else "scan"
    max_steps = max_steps if scan_steps is None else scan_steps

    def one(x):
        # solver.prepare runs inside: it does not depend on x, so vmap computes it once
        return solve(
            op,
            x,
            model,
            solver,
            max_steps=max_steps,
            tol=tol,
            mode=mode,
            divergence_factor=divergence_factor,
            stall_window=stall_window,
        )

    return jax.vmap(one)(x)
