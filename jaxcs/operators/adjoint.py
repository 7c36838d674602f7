"""The dot test ``⟨W x, z⟩ = ⟨x, Wᵀ z⟩`` for any operator (as SCICO's ``valid_adjoint``)."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from jaxcs._pytree import Pytree
from jaxcs._validate import non_negative_number, positive_int
from jaxcs.operators.base import check_operator


class AdjointCheck(Pytree):
    """Result of :func:`check_adjoint`.

    Attributes:
        passed: whether ``error ≤ tolerance`` (a boolean scalar; ``False`` for NaN).
        error: ``max_p |⟨W x_p, z_p⟩ − ⟨x_p, Wᵀ z_p⟩| / (‖W x_p‖ ‖z_p‖ + ‖x_p‖ ‖Wᵀ z_p‖)`` over
            the probes (0 for an exact adjoint; 1 at most by Cauchy–Schwarz).
        tolerance: the tolerance it was held to.
    """

    passed: Bool[Array, ""]
    error: Float[Array, ""]
    tolerance: Float[Array, ""]

    def __bool__(self) -> bool:
        return bool(self.passed)


def check_adjoint(
    op, key: PRNGKeyArray, *, num_probes: int = 4, tol: float | None = None
) -> AdjointCheck:
    """Check that ``op.rmv`` is the adjoint of ``op.mv`` on random Gaussian probes.

    Use it on an operator of your own (a subclass of :class:`~jaxcs.AbstractOperator`) before
    handing it to the solvers: every solver and the model-RIP assume ``rmv = mvᵀ``.
    jit- and vmap-able (over operators).

    Args:
        op: the operator.
        key: PRNG key for the probes ``x ~ N(0, I)`` (``in_shape``) and ``z`` (``out_shape``).
        num_probes: number of probe pairs (the worst is reported).
        tol: relative tolerance (default ``100 · eps`` of the operator's dtype).

    Returns:
        An :class:`AdjointCheck` (truthy when it passed).
    """
    check_operator(op)
    num_probes = positive_int(num_probes, "num_probes")
    dtype = jnp.dtype(op.dtype)
    if tol is None:
        tol = 100 * float(jnp.finfo(dtype).eps)
    non_negative_number(tol, "tol")
    key_x, key_z = jr.split(key)
    x = jr.normal(key_x, (num_probes,) + tuple(op.in_shape), dtype)
    z = jr.normal(key_z, (num_probes,) + tuple(op.out_shape), dtype)
    wx, wtz = op.mv(x), op.rmv(z)

    def flat(a):
        return a.reshape(num_probes, -1)

    left = jnp.sum(flat(wx) * flat(z), axis=-1)
    right = jnp.sum(flat(x) * flat(wtz), axis=-1)
    norm = jnp.linalg.norm
    scale = norm(flat(wx), axis=-1) * norm(flat(z), axis=-1)
    scale = scale + norm(flat(x), axis=-1) * norm(flat(wtz), axis=-1)
    error = jnp.max(jnp.abs(left - right) / jnp.where(scale > 0, scale, 1))
    tolerance = jnp.asarray(tol, error.dtype)
    return AdjointCheck(error <= tolerance, error, tolerance)
