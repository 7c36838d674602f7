"""Operators built from operators against their dense matrices (NumPy products, sums and block
matrices of the parts' ``as_matrix``), each one's adjoint by the dot test, their transposes, and
recovery through a subsampled layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.operators import Composed, HStack, Scaled, Selection, Sum, VStack


def _conv(key, M, K, D=9, padding="valid"):
    return jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(key), (3,), M, K), (D,), 1, padding)


def _matrix(op):
    return np.asarray(op.as_matrix(), np.float64)


A = _conv(0, 2, 3)  # (9, 2) -> (7, 3)
B = _conv(1, 2, 3)
C = _conv(2, 3, 4, D=7)  # (7, 3) -> (5, 4)
WIDE = _conv(3, 2, 5)  # (9, 2) -> (7, 5)
OTHER_INPUT = _conv(4, 1, 3)  # (9, 1) -> (7, 3)
ROWS = np.array([0, 3, 4, 8, 11, 17])
SELECT = Selection(A.in_shape, ROWS)

CASES = {
    "composed": (lambda: C @ A, lambda: _matrix(C) @ _matrix(A)),
    "sum": (lambda: A + B, lambda: _matrix(A) + _matrix(B)),
    "difference": (lambda: A - B, lambda: _matrix(A) - _matrix(B)),
    "scaled": (lambda: 2.5 * A, lambda: 2.5 * _matrix(A)),
    "negated": (lambda: -A, lambda: -_matrix(A)),
    # codes (7, 3) and (7, 5) side by side on the channel axis: rows interleave per position
    "vstack": (
        lambda: VStack([A, WIDE]),
        lambda: np.concatenate(
            [_matrix(A).reshape(7, 3, -1), _matrix(WIDE).reshape(7, 5, -1)], axis=1
        ).reshape(56, -1),
    ),
    "hstack": (
        lambda: HStack([A, OTHER_INPUT]),
        lambda: np.concatenate(
            [_matrix(A).reshape(-1, 9, 2), _matrix(OTHER_INPUT).reshape(-1, 9, 1)], axis=2
        ).reshape(21, -1),
    ),
    "selection": (lambda: SELECT, lambda: np.eye(18)[ROWS]),
    "subsampled layer": (lambda: A @ SELECT.T, lambda: _matrix(A) @ np.eye(18)[ROWS].T),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matrix_adjoint_and_transpose(name):
    build, reference = CASES[name]
    op = build()
    expected = reference()
    np.testing.assert_allclose(_matrix(op), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_matrix(op.T), expected.T, rtol=1e-5, atol=1e-5)
    assert jaxcs.check_adjoint(op, jr.key(5))
    # batches of signals and codes, and jit
    x = jr.normal(jr.key(6), (2,) + tuple(op.in_shape))
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda o, x: o.mv(x))(op, x)).reshape(2, -1),
        np.asarray(x).reshape(2, -1) @ expected.T,
        rtol=1e-4,
        atol=1e-5,
    )


def test_scaled_operator_keeps_its_gram_table():
    op = Scaled(A, 3.0)
    support = jnp.array([[0, 4, 9]])
    np.testing.assert_allclose(
        np.asarray(op.restricted_gram(support, table=op.gram_table())),
        9.0 * np.asarray(A.restricted_gram(support, table=A.gram_table())),
        rtol=1e-5,
    )
    scales = jax.vmap(lambda c: Scaled(A, c).mv(jnp.ones(A.in_shape)).sum())(jnp.arange(3.0))
    np.testing.assert_allclose(scales, np.arange(3.0) * float(A.mv(jnp.ones(A.in_shape)).sum()))


def test_horizontal_stack_sums_its_parts_grams():
    """``G_S`` of ``[W₁ W₂]`` from the parts' correlation tables (``Σ G_i``) equals the dense
    Gram of the stack's matrix, with or without the table, on masked supports."""
    op = HStack([_conv(11, 2, 3), _conv(12, 3, 3)])
    table = op.gram_table()
    assert all(isinstance(t, jaxcs.operators.CorrelationTable) for t in table)
    w = np.asarray(_matrix(op), np.float64)  # (codes, signals)
    support = jnp.array([[0, 5, 13, 20], [2, 3, 4, 4]])
    mask = jnp.array([[True, True, True, True], [True, True, False, False]])
    for t in (table, None):
        gram = np.asarray(op.restricted_gram(support, mask, table=t))
        for b in range(2):
            rows = np.asarray(support[b])
            expected = (w[rows] @ w[rows].T) * np.outer(mask[b], mask[b])
            np.testing.assert_allclose(gram[b], expected, rtol=1e-4, atol=1e-5)
    estimate = jaxcs.estimate_model_rip(jr.key(13), op, jaxcs.BlockModel(2), 64, method="gram")
    assert np.isfinite(float(estimate.delta_lower_bound))


def test_shapes_that_do_not_fit_are_named():
    with pytest.raises(ValueError, match="must be outer.in_shape"):
        Composed(A, C)
    with pytest.raises(ValueError, match="the same shapes"):
        Sum(A, C)
    with pytest.raises(ValueError, match="share their in_shape"):
        VStack([A, C])
    with pytest.raises(ValueError, match="share their out_shape"):
        HStack([A, C])
    with pytest.raises(ValueError, match="every axis but the last"):
        VStack([A, _conv(5, 2, 3, D=9, padding="same")])  # codes (9, 3) beside (7, 3)
    with pytest.raises(ValueError, match="at least one operator"):
        HStack([])
    with pytest.raises(ValueError, match="distinct flat indices"):
        Selection((3, 2), [0, 0])
    with pytest.raises(ValueError, match="distinct flat indices"):
        Selection((3, 2), [0, 6])
    with pytest.raises(ValueError, match="1-D integer array"):
        Selection((3, 2), [0.0, 1.0])
    with pytest.raises(ValueError, match="scalar"):
        Scaled(A, jnp.ones(2))


def test_a_subsampled_layer_recovers_planted_codes():
    """A 'same' layer seen at 2/3 of its signal entries: NIHT recovers block codes through the
    composed operator with no subclass."""
    layer = jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(7), (5,), 8, 4), (24,), 1, "same")
    rows = np.sort(np.random.default_rng(0).choice(24 * 8, 128, replace=False))
    seen = layer @ Selection(layer.in_shape, rows).T
    model = jaxcs.BlockModel(2)
    z = model.sample(jr.key(8), seen.out_shape, (4,))
    solution = jaxcs.recover(seen, seen.rmv(z), model, jaxcs.NIHT(), max_steps=300)
    assert np.all(np.asarray(solution.status) == jaxcs.Status.CONVERGED)
    np.testing.assert_allclose(np.asarray(solution.z), np.asarray(z), atol=1e-4)
