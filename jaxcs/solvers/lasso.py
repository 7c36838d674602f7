"""ℓ1-regularised recovery (FISTA) and the paper's Algorithm 2 (model.md §8).

Algorithm 2 recovers "real" hidden codes: an ℓ1 solution, its projection onto the model with
known switches, then an ℓ1 refit restricted to the projected support::

    z_init  = argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁
    z_model = 𝕄_known(z_init, k)
    z       = argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁   s.t.  z_i = 0 where z_model_i = 0
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxcs.arguments import non_negative_number, positive_int
from jaxcs.models import RegionModel
from jaxcs.operators import _check_trailing
from jaxcs.pytree import PytreeNode
from jaxcs.spectral import operator_norm


class LassoSolution(PytreeNode):
    """FISTA result: codes ``z``, steps taken and the final objective, per problem."""

    _leaves = ("z", "num_steps", "objective")

    def __init__(self, z, num_steps, objective):
        self._set(z=z, num_steps=num_steps, objective=objective)


class Algorithm2Solution(PytreeNode):
    """Algorithm 2's three stages: ``z_init`` (ℓ1), ``z_model`` (𝕄_known), ``z`` (refit)."""

    _leaves = ("z", "z_init", "z_model", "num_steps")

    def __init__(self, z, z_init, z_model, num_steps):
        self._set(z=z, z_init=z_init, z_model=z_model, num_steps=num_steps)


def _check_common(op, x, lam, max_steps, tol):
    x = jnp.asarray(x)
    batch = _check_trailing(x, tuple(op.in_shape), "x")
    non_negative_number(lam, "lam")
    positive_int(max_steps, "max_steps")
    non_negative_number(tol, "tol")
    return x, batch


def lasso(
    op,
    x: jax.Array,
    lam,
    *,
    mask: jax.Array | None = None,
    nonnegative: bool = False,
    max_steps: int = 500,
    tol: float = 1e-6,
) -> LassoSolution:
    """``argmin_z ‖x − Wᵀ z‖² + λ‖z‖₁`` by FISTA (Beck & Teboulle 2009), model.md §8.

    Step ``1/L`` with ``L = 2‖W‖₂²`` (:func:`jaxcs.operator_norm`); stops when
    ``‖z_new − z‖ ≤ tol · ‖z_new‖`` or after ``max_steps``.

    Args:
        op: the layer ``W``.
        x: ``(*batch, *op.in_shape)``.
        lam: ``λ ≥ 0`` (scalar, may be traced).
        mask: optional ``op.out_shape`` (or batched) booleans: ``z`` is held at 0 outside.
        nonnegative: add the constraint ``z ≥ 0`` (the prox becomes ``max(v − λ/L, 0)``).
        max_steps, tol: the stopping rule.

    Returns:
        A :class:`LassoSolution` with leading axes ``batch``.
    """
    x, batch = _check_common(op, x, lam, max_steps, tol)
    flat = x.reshape((-1,) + tuple(op.in_shape))
    if mask is None:
        masks = jnp.ones((flat.shape[0],) + tuple(op.out_shape), bool)
    else:
        masks = jnp.broadcast_to(jnp.asarray(mask, bool), batch + tuple(op.out_shape))
        masks = masks.reshape((-1,) + tuple(op.out_shape))
    out = _lasso(op, flat, masks, lam, bool(nonnegative), int(max_steps), tol)
    return jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), out)


@partial(jax.jit, static_argnums=(4, 5))
def _lasso(op, x, mask, lam, nonnegative, max_steps, tol):
    lipschitz = 2 * operator_norm(op) ** 2
    return jax.vmap(lambda x, m: _fista(op, x, m, lam, nonnegative, max_steps, tol, lipschitz))(
        x, mask
    )


def _fista(op, x, mask, lam, nonnegative, max_steps, tol, lipschitz):
    dtype = jnp.result_type(op.dtype, x.dtype)
    threshold = lam / lipschitz

    def prox(v):  # soft thresholding (one-sided when non-negative), zero off the mask
        if nonnegative:
            shrunk = jnp.maximum(v - threshold, 0)
        else:
            shrunk = jnp.sign(v) * jnp.maximum(jnp.abs(v) - threshold, 0)
        return jnp.where(mask, shrunk, 0)

    def body(carry):
        steps, z, y, t, _ = carry
        gradient = -2 * op.mv(x - op.rmv(y))
        z_new = prox(y - gradient / lipschitz)
        t_new = (1 + jnp.sqrt(1 + 4 * t**2)) / 2
        y_new = z_new + (t - 1) / t_new * (z_new - z)
        change = jnp.linalg.norm(z_new - z) / jnp.maximum(jnp.linalg.norm(z_new), 1e-30)
        return steps + 1, z_new, y_new, t_new, change

    def running(carry):
        steps, *_, change = carry
        return (steps < max_steps) & (change > tol)

    z0 = jnp.zeros(tuple(op.out_shape), dtype)
    init = (jnp.int32(0), z0, z0, jnp.asarray(1.0, dtype), jnp.asarray(jnp.inf, dtype))
    steps, z, *_ = jax.lax.while_loop(running, body, init)
    objective = jnp.sum((x - op.rmv(z)) ** 2) + lam * jnp.sum(jnp.abs(z))
    return LassoSolution(z, steps, objective)


def algorithm2(
    op,
    x: jax.Array,
    model: RegionModel,
    lam,
    *,
    max_steps: int = 500,
    tol: float = 1e-6,
) -> Algorithm2Solution:
    """The paper's Algorithm 2 (model.md §8): ℓ1 recovery, ``𝕄_known`` projection, refit.

    The sign constraint follows the model: a non-negative model makes both ℓ1 problems
    non-negative (codes after a ReLU).

    Args:
        op: the layer ``W``; x: ``(*batch, *op.in_shape)``; model: its ``project`` is
            ``𝕄_known``; lam: ``λ``; max_steps, tol: FISTA's stopping rule (each stage).

    Returns:
        An :class:`Algorithm2Solution`; ``num_steps`` adds both FISTA runs.
    """
    if not isinstance(model, RegionModel):
        raise TypeError(f"model must be a RegionModel; got {type(model).__name__}")
    model.check_code_shape(op.out_shape, "op.out_shape")
    first = lasso(op, x, lam, nonnegative=model.nonnegative, max_steps=max_steps, tol=tol)
    flat = first.z.reshape((-1,) + tuple(op.out_shape))
    z_model = jax.vmap(model.project)(flat).reshape(first.z.shape)
    second = lasso(
        op, x, lam, mask=z_model != 0, nonnegative=model.nonnegative, max_steps=max_steps, tol=tol
    )
    return Algorithm2Solution(second.z, first.z, z_model, first.num_steps + second.num_steps)
