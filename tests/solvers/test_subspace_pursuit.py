"""Subspace Pursuit against a NumPy Subspace Pursuit (Dai & Milenkovic 2009, Algorithm 1, with
``numpy.linalg.lstsq``): the same iterate after every step, on Gaussian problems whose supports
are not all recovered; planted codes of a convolutional layer with the block model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs

STEPS = 8


def np_subspace_pursuit(phi, y, k, steps):
    """Iterates ``(steps, n)`` of SP with the ``k`` largest entries (ties: lower index)."""
    n = phi.shape[1]
    z, r, out = np.zeros(n), y, []
    for _ in range(steps):
        omega = np.argsort(-np.abs(phi.T @ r), kind="stable")[:k]
        merged = np.union1d(omega, np.flatnonzero(z))
        b = np.zeros(n)
        b[merged] = np.linalg.lstsq(phi[:, merged], y, rcond=None)[0]
        support = np.sort(np.argsort(-np.abs(b), kind="stable")[:k])
        z = np.zeros(n)
        z[support] = np.linalg.lstsq(phi[:, support], y, rcond=None)[0]
        r = y - phi @ z
        out.append(z)
    return np.stack(out)


def test_iterates_match_numpy_reference(x64):
    """n = 64, m = 24, k = 6 (``|T'| ≤ 12 < m``): 12 problems, some not recovered (ρ = 0.25
    at δ = 0.375 is near SP's transition), every step's iterate equal to NumPy's in float64."""
    n, m, k, problems = 64, 24, 6, 12
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(m, n)) / np.sqrt(m)
    z = np.zeros((problems, n))
    for p in range(problems):
        z[p, rng.choice(n, k, replace=False)] = rng.normal(size=k)
    y = z @ phi.T
    op = jaxcs.MatrixOperator(jnp.asarray(phi)).T
    solution = jaxcs.recover(
        op, jnp.asarray(y), jaxcs.TopKModel(k), jaxcs.SubspacePursuit(), max_steps=STEPS,
        mode="scan", tol=0.0,
    )  # fmt: skip
    for p in range(problems):
        reference = np_subspace_pursuit(phi, y[p], k, STEPS)
        np.testing.assert_allclose(np.asarray(solution.z[p]), reference[-1], atol=1e-9)
    errors = np.linalg.norm(np.asarray(solution.z) - z, axis=1) / np.linalg.norm(z, axis=1)
    assert 0 < np.sum(errors < 1e-6) < problems  # both outcomes occur: not a trivial case


def test_each_step_matches_numpy_reference(x64):
    """The iterate after 1, 2, …, STEPS steps (one while-mode program, a new budget each)."""
    n, m, k = 40, 16, 4
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(m, n)) / np.sqrt(m)
    z = np.zeros(n)
    z[rng.choice(n, k, replace=False)] = rng.normal(size=k)
    y = phi @ z
    op = jaxcs.MatrixOperator(jnp.asarray(phi)).T
    reference = np_subspace_pursuit(phi, y, k, STEPS)
    for steps in range(1, STEPS + 1):
        solution = jaxcs.recover(
            op, jnp.asarray(y), jaxcs.TopKModel(k), jaxcs.SubspacePursuit(), max_steps=steps,
            tol=0.0, stall_window=STEPS,
        )  # fmt: skip
        done = int(solution.num_steps)
        np.testing.assert_allclose(np.asarray(solution.z), reference[done - 1], atol=1e-9)


def test_planted_block_codes_are_recovered():
    w = jaxcs.gaussian_filters(jr.key(0), (5,), 16, 8)
    op = jaxcs.ConvOperator(w, (24,))
    model = jaxcs.BlockModel(3)
    z = model.sample(jr.key(1), op.out_shape, (8,))
    solution = jaxcs.recover(op, op.rmv(z), model, jaxcs.SubspacePursuit())
    assert np.all(np.asarray(solution.status) == jaxcs.Status.CONVERGED)
    np.testing.assert_allclose(np.asarray(solution.z), np.asarray(z), atol=1e-4)
    assert jax.tree.structure(jaxcs.SubspacePursuit()).num_leaves == 0


def test_a_solver_without_init_and_step_cannot_be_built():
    class Incomplete(jaxcs.AbstractSolver):
        def init(self, op, x, model, aux):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
