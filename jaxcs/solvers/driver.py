"""One driver for every solver: ``recover(op, x, model, solver=...)`` (model.md §7–8).

A solver says how to take one step (``init``/``step``); the driver owns the loop:

- ``mode="while"``: ``lax.while_loop`` until every problem has stopped (tolerance, divergence,
  a non-finite value) or ``max_steps``;
- ``mode="scan"``: a fixed-length ``lax.scan`` of ``max_steps`` that records the residual
  history (for sweeps and plots).

Problems with leading batch axes of ``x`` are solved independently (``vmap``); under
``vmap`` a finished problem is frozen (its state stops changing) while the others go on, and
each reports its own status and step count, so batched results equal unbatched ones.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxcs.arguments import non_negative_number, positive_int
from jaxcs.models import RegionModel
from jaxcs.operators import ConvOperator, MatrixOperator, _check_trailing
from jaxcs.solvers.iht import NIHT
from jaxcs.solvers.solution import RUNNING, Solution, Status

MODES = ("while", "scan")


def recover(
    op,
    x: jax.Array,
    model: RegionModel,
    solver=None,
    *,
    max_steps: int = 300,
    tol: float = 1e-6,
    mode: str = "while",
    divergence_factor: float = 1e4,
) -> Solution:
    """Recover model-sparse codes ``z`` with ``x ≈ Wᵀ z`` (``Φ = Wᵀ``).

    Stopping rule per problem, checked after every step: non-finite ``z`` or residual →
    ``NONFINITE``; ``‖r‖ > divergence_factor · ‖x‖`` → ``DIVERGED``; ``‖r‖ ≤ tol · ‖x‖`` or
    ``‖z_new − z‖ ≤ tol · ‖z_new‖`` (a fixed point) → ``CONVERGED``; otherwise
    ``MAX_STEPS`` after ``max_steps`` steps. Non-finite data stops before the first step.

    Args:
        op: the layer ``W`` (:class:`~jaxcs.ConvOperator` or :class:`~jaxcs.MatrixOperator`).
        x: ``(*batch, *op.in_shape)`` signals.
        model: the sparsity model of the codes (``op.out_shape``).
        solver: ``IHT()``, ``NIHT()`` (default), ``HTP()`` or ``CoSaMP()``.
        max_steps: step budget per problem.
        tol: relative tolerance (≥ 0; 0 runs to ``max_steps`` unless a fixed point is exact).
        mode: ``"while"`` or ``"scan"`` (records ``residual_history``).
        divergence_factor: residual growth, relative to ``‖x‖``, reported as divergence.

    Returns:
        A :class:`~jaxcs.Solution` with leading axes ``batch``.

    Raises:
        ValueError: before tracing, for a wrong ``x`` shape, bad ``max_steps``, ``tol``,
            ``mode`` or ``divergence_factor``, or ``k`` out of range for ``op.out_shape``.
    """
    if not isinstance(op, (ConvOperator, MatrixOperator)):
        raise TypeError(f"op must be a ConvOperator or MatrixOperator; got {type(op).__name__}")
    if not isinstance(model, RegionModel):
        raise TypeError(f"model must be a RegionModel; got {type(model).__name__}")
    solver = NIHT() if solver is None else solver
    if isinstance(solver, type) or not all(
        hasattr(solver, name) for name in ("prepare", "init", "step")
    ):
        raise TypeError(f"solver must be a solver instance, e.g. jaxcs.NIHT(); got {solver!r}")
    x = jnp.asarray(x)
    batch = _check_trailing(x, tuple(op.in_shape), "x")
    # one floating dtype for data and iterates (integer data, or data of another precision)
    floating = jnp.issubdtype(x.dtype, jnp.floating)
    x = x.astype(jnp.result_type(op.dtype, x.dtype) if floating else op.dtype)
    model.check_code_shape(op.out_shape, "op.out_shape")
    check_scalar_model(model)
    max_steps = positive_int(max_steps, "max_steps")
    non_negative_number(tol, "tol")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if non_negative_number(divergence_factor, "divergence_factor") == 0:
        raise ValueError("divergence_factor must be a number > 0; got 0")
    flat = x.reshape((-1,) + tuple(op.in_shape))
    solution = _recover(op, flat, model, solver, max_steps, tol, mode, divergence_factor)
    return jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), solution)


def check_scalar_model(model) -> None:
    """A stacked model (array ``k``) must be mapped over with ``vmap``, not passed whole."""
    k = model.k
    if k is not None and not isinstance(k, jax.core.Tracer) and jnp.ndim(k) != 0:
        raise ValueError(
            f"model.k must be a scalar here; got shape {jnp.shape(k)}: use jax.vmap over a "
            "stacked model to solve for several k"
        )


@partial(jax.jit, static_argnums=(4, 6))
def _recover(op, x, model, solver, max_steps, tol, mode, divergence_factor):
    aux = solver.prepare(op, model)  # once per operator, shared by every problem

    def one(x):
        return _solve(op, x, model, solver, aux, max_steps, tol, mode, divergence_factor)

    return jax.vmap(one)(x)


def _solve(op, x, model, solver, aux, max_steps, tol, mode, divergence_factor) -> Solution:
    x_norm = jnp.linalg.norm(x)
    state = solver.init(op, x, model, aux)
    status0 = jnp.where(jnp.isfinite(x_norm), RUNNING, Status.NONFINITE).astype(jnp.int32)

    def status_after(new, old, r_norm):
        z_norm = new.code.norm()  # index form: O(slots), no dense code in the loop
        nonfinite = ~jnp.isfinite(r_norm) | ~jnp.isfinite(z_norm)
        diverged = r_norm > divergence_factor * x_norm
        converged = (r_norm <= tol * x_norm) | (new.code.distance(old.code) <= tol * z_norm)
        return jnp.select(
            [nonfinite, diverged, converged],
            [Status.NONFINITE, Status.DIVERGED, Status.CONVERGED],
            RUNNING,
        ).astype(jnp.int32)

    def advance(carry):  # the residual norm rides along: checked, recorded and returned
        steps, state, status, _ = carry
        new = solver.step(op, x, model, state, aux)
        r_norm = jnp.linalg.norm(new.residual)
        return steps + 1, new, status_after(new, state, r_norm), r_norm

    carry = (jnp.int32(0), state, status0, x_norm)
    history = None
    if mode == "while":

        def running(carry):
            steps, _, status, _ = carry
            return (status == RUNNING) & (steps < max_steps)

        steps, state, status, r_norm = jax.lax.while_loop(running, advance, carry)
    else:

        def scan_step(carry, _):
            active = carry[2] == RUNNING
            new = advance(carry)
            carry = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, carry)
            return carry, carry[3]

        (steps, state, status, r_norm), history = jax.lax.scan(scan_step, carry, length=max_steps)
    status = jnp.where(status == RUNNING, Status.MAX_STEPS, status).astype(jnp.int32)
    z = state.z
    return Solution(z, status, steps, r_norm, z != 0, history)
