"""Derivatives of ``recover`` in ``mode="while"``: the implicit derivative of the least-squares
solution on the recovered support, forward and reverse, in the signal and in the operator,
against NumPy (the pseudo-inverse on the support, and central differences of a NumPy
least-squares solve in float64)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs

M, N, K = 24, 40, 3
PHI = np.asarray(jr.normal(jr.key(0), (M, N)) / np.sqrt(M))
MODEL = jaxcs.TopKModel(K)
Z = MODEL.sample(jr.key(1), (N,))
X = PHI @ np.asarray(Z)
W = np.asarray(jr.normal(jr.key(2), (N,)))


def _least_squares(phi, x, support):
    """``z`` on ``support`` by NumPy's least squares, float64."""
    z = np.zeros(phi.shape[1])
    z[support] = np.linalg.lstsq(phi[:, support], x, rcond=None)[0]
    return z


STEPS = 2000  # FISTA converges slowly; the others stop long before


def _loss(phi, x, solver):
    op = jaxcs.MatrixOperator(phi).T
    return jnp.dot(W, jaxcs.recover(op, x, MODEL, solver, max_steps=STEPS).z)


@pytest.mark.parametrize(
    "solver",
    [jaxcs.NIHT(), jaxcs.CoSaMP(), jaxcs.FISTA(0.05)],
    ids=["niht", "cosamp", "fista"],
)
def test_signal_derivative_is_the_pseudo_inverse_on_the_support(solver):
    """A gradient solver, a least-squares one (as HTP and Subspace Pursuit, whose fixed points
    are the same) and FISTA (the lasso, no model): the same derivative on their support."""
    grad = np.asarray(jax.grad(_loss, argnums=1)(PHI, X, solver))
    solution = jaxcs.recover(jaxcs.MatrixOperator(PHI).T, X, MODEL, solver, max_steps=STEPS)
    assert int(solution.status) == jaxcs.Status.CONVERGED
    support = np.flatnonzero(np.asarray(solution.z))
    assert 1 <= len(support) <= (M if isinstance(solver, jaxcs.FISTA) else K)
    columns = PHI[:, support].astype(np.float64)
    expected = columns @ np.linalg.solve(columns.T @ columns, W[support])
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4)
    if not isinstance(solver, jaxcs.NIHT):
        return
    # forward mode agrees with reverse mode
    direction = np.asarray(jr.normal(jr.key(3), (M,)))
    _, tangent = jax.jvp(lambda x: _loss(PHI, x, solver), (X,), (direction,))
    assert float(tangent) == pytest.approx(float(grad @ direction), rel=1e-3, abs=1e-4)


def test_operator_derivative_matches_central_differences_of_least_squares():
    """``d(w·z)/dΦ`` through the operator's leaves against float64 central differences of the
    least-squares solution on the (fixed) recovered support."""
    grad = np.asarray(jax.grad(_loss)(PHI, X, jaxcs.NIHT()))
    z = jaxcs.recover(jaxcs.MatrixOperator(PHI).T, X, MODEL, jaxcs.NIHT(), max_steps=300).z
    support = np.flatnonzero(np.asarray(z))
    base = PHI.astype(np.float64)
    direction = np.asarray(jr.normal(jr.key(4), (M, N)), np.float64)
    eps = 1e-6
    plus = W @ _least_squares(base + eps * direction, X, support)
    minus = W @ _least_squares(base - eps * direction, X, support)
    assert float(np.sum(grad * direction)) == pytest.approx((plus - minus) / (2 * eps), rel=2e-3)


def test_batched_and_residual_derivatives():
    """A batch differentiates problem by problem; the residual norm's derivative is that of
    ``‖x − Φ z‖`` (zero at an exact fit in the directions of the columns' span)."""
    op = jaxcs.MatrixOperator(PHI).T
    xs = jnp.stack([X, 2 * X])
    grad = jax.grad(lambda xs: jnp.sum(jaxcs.recover(op, xs, MODEL).z * W))(xs)
    np.testing.assert_allclose(grad[0], grad[1], rtol=1e-5, atol=1e-6)
    noisy = X + 0.1 * np.asarray(jr.normal(jr.key(5), (M,)))
    g = jax.grad(lambda x: jaxcs.recover(op, x, MODEL).residual_norm)(noisy)
    z = np.asarray(jaxcs.recover(op, noisy, MODEL).z)
    r = noisy - PHI @ z
    support = np.flatnonzero(z)
    projector = np.eye(M) - PHI[:, support] @ np.linalg.pinv(PHI[:, support])
    np.testing.assert_allclose(g, projector @ r / np.linalg.norm(r), rtol=1e-3, atol=1e-4)


def test_filter_derivative_of_a_layer():
    """Through a :class:`jaxcs.ConvOperator`'s filters: reverse mode, forward mode and central
    differences (float32, a step of 1e-3) agree."""
    w = jaxcs.gaussian_filters(jr.key(6), (3,), 4, 3)
    model = jaxcs.BlockModel(2)
    x = jaxcs.ConvOperator(w, (16,)).rmv(model.sample(jr.key(7), (14, 3)))

    def loss(w):
        return jnp.sum(jaxcs.recover(jaxcs.ConvOperator(w, (16,)), x, model).z ** 2)

    direction = jr.normal(jr.key(8), w.shape)
    reverse = float(jnp.sum(jax.grad(loss)(w) * direction))
    forward = float(jax.jvp(loss, (w,), (direction,))[1])
    central = float((loss(w + 1e-3 * direction) - loss(w - 1e-3 * direction)) / 2e-3)
    assert forward == pytest.approx(reverse, rel=1e-4)
    assert central == pytest.approx(reverse, rel=1e-3)
