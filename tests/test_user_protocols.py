"""A researcher's own operator, sparsity model and solver, written here against the public API
only (as a user would, outside the package), together through ``recover``, the sampled
model-RIP and the exact one (the model enumerates its supports), against NumPy brute force."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.solvers import SparseIterate


class Sensing(jaxcs.AbstractOperator):
    """``W = Aᵀ`` for a sensing matrix ``A`` ``(m, n)``: codes ``(n, 1)``, signals ``(m,)``."""

    matrix: jax.Array

    @property
    def in_shape(self):
        return (self.matrix.shape[0],)

    @property
    def out_shape(self):
        return (self.matrix.shape[1], 1)

    @property
    def dtype(self):
        return self.matrix.dtype

    def mv(self, x):
        return (x @ self.matrix)[..., None]

    def rmv(self, z):
        return z[..., 0] @ self.matrix.T


class EvenPositions(jaxcs.AbstractSparsityModel):
    """The ``k`` entries of largest magnitude among the even positions of a code ``(n, 1)``."""

    k: jax.Array | int
    capacity: int = jaxcs.static_field()
    nonnegative: bool = jaxcs.static_field(default=False)

    def check_code_shape(self, code_shape, name="code_shape"):
        if len(code_shape) != 2 or code_shape[-1] != 1:
            raise ValueError(f"{name} must be (n, 1); got {tuple(code_shape)}")
        return tuple(code_shape)

    def max_budget(self, code_shape):
        return (code_shape[0] + 1) // 2

    def num_slots(self, code_shape):
        return min(self.capacity, self.max_budget(code_shape))

    def _code(self, half, values, code_shape):  # half: positions among the even ones
        used = jnp.broadcast_to(jnp.arange(half.shape[-1]) < self.k, half.shape)
        return jaxcs.SparseCode(2 * half, jnp.where(used, values, 0), used, tuple(code_shape))

    def project_sparse(self, v):
        even = v[::2, 0]
        half = jax.lax.top_k(jnp.abs(even), self.num_slots(v.shape))[1]
        return self._code(half, even[half], v.shape)

    def contains(self, v):
        return ~jnp.any(v[1::2] != 0) & (jnp.sum(v != 0) <= self.k)

    def draw_sparse(self, key, code_shape, batch_shape, distribution, dtype):
        scores = jr.uniform(key, (*batch_shape, self.max_budget(code_shape)))
        half = jax.lax.top_k(scores, self.num_slots(code_shape))[1]
        values = jr.normal(jr.fold_in(key, 1), half.shape, dtype)
        return self._code(half, values, code_shape)

    def support_size(self, code_shape):
        return int(self.k)

    def support_count(self, code_shape):
        return math.comb(self.max_budget(code_shape), int(self.k))

    def iter_supports(self, code_shape, chunk_size):
        rows = itertools.combinations(range(self.max_budget(code_shape)), int(self.k))
        while block := list(itertools.islice(rows, chunk_size)):
            yield 2 * np.asarray(block, np.int64)


class GradientState(SparseIterate):
    """The iterate, its residual and the fixed step."""

    step: jax.Array


class ProjectedGradient(jaxcs.AbstractSolver):
    """``z ← 𝕄(z + μ W r)`` with ``μ = 1 / ‖W‖²``: IHT, written from the protocol."""

    def init(self, op, x, model, aux):
        zero = model.project_sparse(jnp.zeros(op.out_shape, x.dtype))
        step = 1 / jaxcs.operator_norm(op) ** 2
        return GradientState(zero, x, jnp.linalg.norm(x), step.astype(x.dtype))

    def step(self, op, x, model, state, aux):
        code = model.project_sparse(state.code.add_to(state.step * op.mv(state.residual)))
        residual = op.residual(x, code)
        return GradientState(code, residual, jnp.linalg.norm(residual), state.step)


M, N, K = 20, 32, 3
OP = Sensing(jr.normal(jr.key(0), (M, N)) / np.sqrt(M))
MODEL = EvenPositions(k=K, capacity=8)


def test_own_operator_model_and_solver_recover_planted_codes():
    assert jaxcs.check_adjoint(OP, jr.key(1))
    z = MODEL.sample(jr.key(2), OP.out_shape, (6,))
    assert all(bool(MODEL.contains(c)) for c in z)
    np.testing.assert_array_equal(np.asarray(z)[:, 1::2], 0)
    for solver in (ProjectedGradient(), jaxcs.NIHT(), jaxcs.SubspacePursuit()):
        solution = jaxcs.recover(OP, OP.rmv(z), MODEL, solver, max_steps=500, tol=1e-6)
        errors = np.linalg.norm(np.asarray(solution.z - z)[..., 0], axis=1)
        assert np.all(errors <= 1e-3 * np.linalg.norm(np.asarray(z)[..., 0], axis=1)), (
            type(solver).__name__,
            errors,
        )


def test_own_model_exact_rip_is_brute_force_and_bounds_the_samples():
    """δ_3 over the C(16, 3) = 560 supports on even positions, by NumPy, equals
    ``exact_model_rip`` with the model's own enumeration, and bounds the sampled estimate."""
    phi = np.asarray(OP.as_matrix(), np.float64).T  # columns: code entries
    eigs = [
        np.linalg.eigvalsh(phi[:, list(s)].T @ phi[:, list(s)])
        for s in itertools.combinations(range(0, N, 2), K)
    ]
    delta = max(max(1 - e[0], e[-1] - 1) for e in eigs)
    exact = jaxcs.exact_model_rip(OP, MODEL)
    assert exact.num_supports == len(eigs) == 560
    assert exact.delta == pytest.approx(delta, rel=1e-4)
    estimate = jaxcs.estimate_model_rip(jr.key(3), OP, MODEL, 256)
    assert 0 < float(estimate.delta_lower_bound) <= exact.delta + 1e-5
