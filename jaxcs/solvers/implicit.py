"""The derivative of a recovered code in ``mode="while"``: implicit, on its support.

A ``lax.while_loop`` whose length depends on the data has no reverse mode in JAX. What a
solver returns there is (at convergence) a fixed point on its support ``S``: for IHT, NIHT,
HTP, CoSaMP and Subspace Pursuit, ``Φ_Sᵀ (x − Φ_S z_S) = 0``, the least-squares solution on
``S``; for FISTA (the lasso) the same up to the constant term ``λ sign(z_S) / 2``. The support
is locally constant in ``x`` and ``W``, so by the implicit function theorem

    dz_S = (Φ_Sᵀ Φ_S)⁻¹ Φ_Sᵀ (dx − dΦ z),   dz off S = 0,

with ``Φ = Wᵀ`` (``dΦ z`` the change of ``Wᵀ z`` with the operator's leaves). This is what
:func:`attach` gives ``z``, forward and reverse: the loop itself runs on the values alone
(``stop_gradient``), and the normal equations are solved on the support held in index form,
``slots`` entries of largest magnitude (the model's :meth:`~jaxcs.AbstractSparsityModel.num_slots`;
for FISTA, which has no model, the signal size: a unique lasso solution has at most that many
non-zeros), with the restricted Gram ``G_S`` (``slots × slots``) and a dense solve, linear in
the tangents with coefficients from the values: reverse mode is its transpose.

Departures a user should know: a run stopped by ``max_steps`` before convergence gets the
derivative of the least-squares solution on its last support, not of its last iterate; the
solver's and the model's parameters (step sizes, ``λ``, ``k``) get no derivative. The exact
derivative of the iteration as run is ``mode="scan"`` (a fixed-length loop, differentiated
step by step).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxcs._scale import scaled_norm


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def attach(slots: int, op, x: jax.Array, z: jax.Array, residual_norm: jax.Array):
    """``(z, residual_norm)`` as given (``op.out_shape`` and a scalar: the solver's code and
    ``‖x − Wᵀ z‖``), with the implicit derivative of ``z`` in ``x`` ``(op.in_shape)`` and the
    leaves of ``op`` on its ``slots`` (static) largest entries (module docstring), and that of
    ``‖x − Wᵀ z‖`` through it. The values pass through untouched: nothing is computed unless
    a derivative is taken."""
    return z, residual_norm


@attach.defjvp
def _attach_jvp(slots, primals, tangents):
    op, x, z, residual_norm = primals
    d_op, dx, _, _ = tangents
    flat = z.reshape(-1)
    _, indices = jax.lax.top_k(jnp.abs(flat), min(slots, flat.size))
    mask = flat[indices] != 0
    gram = op.restricted_gram(indices, mask)  # zero rows and columns off the support
    gram = gram + jnp.diag(jnp.where(mask, 0, 1).astype(gram.dtype))
    phi_z, d_phi_z = jax.jvp(lambda o: o.rmv(z), (op,), (d_op,))  # Wᵀz and its change
    d_signal = dx - d_phi_z  # the change of x − Wᵀ z at a fixed z
    rhs = jnp.where(mask, op.mv(d_signal).reshape(-1)[indices], 0)
    dz = jnp.where(mask, jnp.linalg.solve(gram, rhs), 0)
    dz = jnp.zeros_like(flat).at[indices].add(dz).reshape(z.shape)
    residual = x - phi_z
    norm = scaled_norm(residual)
    d_residual = d_signal - op.rmv(dz)
    d_norm = jnp.where(norm > 0, jnp.vdot(residual, d_residual) / jnp.where(norm > 0, norm, 1), 0)
    return (z, residual_norm), (dz, d_norm.astype(residual_norm.dtype))


def values_only(tree):
    """``tree`` with ``stop_gradient`` on its arrays (Python numbers stay Python numbers: their
    constant folding, and so every iterate, is unchanged)."""
    return jax.tree.map(lambda a: jax.lax.stop_gradient(a) if isinstance(a, jax.Array) else a, tree)
