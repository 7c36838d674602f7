"""Mutual coherence (Table 4) against NumPy on the flattened filters and on the dense ``W``.

The columns of ``Φ = Wᵀ`` are the rows of ``W`` (``dense_reference`` fixture), so the
shift-aware coherence is ``max_{p ≠ q} |A_p · A_q| / (‖A_p‖ ‖A_q‖)`` over the rows ``A_p`` of
the dense matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs

TOL = dict(rtol=2e-5, atol=2e-6)
coherence_jit = jax.jit(jaxcs.coherence, static_argnames="shifts")


def random_filters(filter_shape, M, K, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(tuple(filter_shape) + (M, K)).astype(np.float32)


def numpy_filter_coherence(w):
    flat = np.asarray(w, np.float64).reshape(-1, w.shape[-1])
    flat = flat / np.linalg.norm(flat, axis=0)
    cos = np.abs(flat.T @ flat)
    np.fill_diagonal(cos, 0)
    return cos.max()


def numpy_row_coherence(A, rows=None):
    """Max off-diagonal normalized |inner product| over the given rows of ``A`` (all rows by
    default); rows with no entries are skipped."""
    A = np.asarray(A, np.float64)
    if rows is not None:
        A = A[rows]
    A = A[np.linalg.norm(A, axis=1) > 0]
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    cos = np.abs(An @ An.T)
    np.fill_diagonal(cos, 0)
    return cos.max() if cos.size else 0.0


# --------------------------------------------------------------------------- filter level
@pytest.mark.parametrize(
    "filter_shape, M, K", [((3,), 2, 5), ((5,), 1, 2), ((3, 2), 3, 4), ((1, 1), 6, 3)]
)
def test_filter_level_matches_numpy(filter_shape, M, K):
    w = random_filters(filter_shape, M, K, seed=K)
    expected = numpy_filter_coherence(w)
    in_spatial = tuple(8 for _ in filter_shape)
    op = jaxcs.ConvOperator(jnp.asarray(w), in_spatial, 1, "valid")
    np.testing.assert_allclose(jaxcs.coherence(op), expected, **TOL)
    np.testing.assert_allclose(jaxcs.coherence(jnp.asarray(w)), expected, **TOL)
    np.testing.assert_allclose(jaxcs.coherence(w, shifts=False), expected, **TOL)


def test_filter_level_single_filter_is_zero():
    w = random_filters((3,), 2, 1)
    assert float(jaxcs.coherence(jnp.asarray(w))) == 0.0


def test_filter_level_bad_input():
    with pytest.raises(ValueError, match="filters"):
        jaxcs.coherence(jnp.ones((3, 4)))
    with pytest.raises(TypeError, match="ConvOperator"):
        jaxcs.coherence(jnp.ones((3, 2, 4)), shifts=True)


# --------------------------------------------------------------------------- shift aware
SHIFT_CASES = [
    # id, in_spatial, filter_shape, stride, padding, M, K
    ("1d-valid-t1", (9,), (3,), 1, "valid", 2, 3),
    ("1d-valid-t2", (11,), (5,), 2, "valid", 1, 3),
    ("1d-valid-n1", (4,), (4,), 1, "valid", 2, 3),
    ("1d-valid-n2-t2", (7,), (5,), 2, "valid", 1, 2),
    ("1d-valid-n2-single-filter", (6,), (5,), 1, "valid", 2, 1),
    ("1d-circular-t1", (9,), (3,), 1, "circular", 2, 3),
    ("1d-circular-t2", (10,), (3,), 2, "circular", 1, 3),
    ("1d-circular-alias", (6,), (5,), 1, "circular", 1, 2),
    ("1d-circular-alias-t2", (6,), (5,), 2, "circular", 2, 2),
    ("1d-circular-longer-than-input", (3,), (5,), 1, "circular", 1, 2),
    ("2d-valid-t1", (5, 6), (3, 2), 1, "valid", 2, 2),
    ("2d-valid-t2", (7, 5), (3, 3), 2, "valid", 1, 3),
    ("2d-circular-t1", (4, 5), (2, 3), 1, "circular", 1, 2),
    ("2d-circular-alias-t21", (4, 4), (3, 3), (2, 1), "circular", 2, 2),
]


def _op(in_spatial, filter_shape, stride, padding, M, K, seed):
    w = random_filters(filter_shape, M, K, seed=seed)
    return jaxcs.ConvOperator(jnp.asarray(w), in_spatial, stride, padding, large_filters=True), w


@pytest.mark.parametrize(
    "in_spatial, filter_shape, stride, padding, M, K",
    [c[1:] for c in SHIFT_CASES],
    ids=[c[0] for c in SHIFT_CASES],
)
def test_shift_aware_matches_dense_numpy(
    dense_reference, in_spatial, filter_shape, stride, padding, M, K
):
    op, w = _op(in_spatial, filter_shape, stride, padding, M, K, seed=sum(in_spatial) + K)
    A = dense_reference(w, in_spatial, stride, padding)
    assert A.shape[0] >= 2
    expected = numpy_row_coherence(A)
    got = jaxcs.coherence(op, shifts=True)
    np.testing.assert_allclose(got, expected, **TOL)
    # Shifts can only add pairs: at least the filter-level value (K > 1 filters).
    if K > 1 and padding == "valid":
        assert float(got) >= float(jaxcs.coherence(op)) - 1e-6


def interior_rows(A, w):
    """Rows of the dense ``W`` that hold their whole filter (not truncated by zero padding)."""
    norms2 = np.sum(np.asarray(w, np.float64) ** 2, axis=tuple(range(w.ndim - 1)))  # (K,)
    K = w.shape[-1]
    row_norms2 = np.sum(A**2, axis=1)
    full = norms2[np.arange(A.shape[0]) % K]
    return np.isclose(row_norms2, full, rtol=1e-9, atol=0)


SAME_CASES = [
    # id, in_spatial, filter_shape, stride, M, K (even filters: asymmetric pads lo != hi)
    ("1d-t1", (12,), (3,), 1, 2, 3),
    ("1d-t1-even-filter", (9,), (4,), 1, 1, 2),
    ("1d-t2", (11,), (3,), 2, 2, 2),
    ("1d-t2-even-filter", (12,), (4,), 2, 1, 3),
    ("1d-filter-longer-than-input", (4,), (6,), 1, 1, 2),
    ("2d-t1", (7, 6), (3, 2), 1, 1, 2),
    ("2d-t2", (9, 8), (3, 3), 2, 2, 2),
    ("2d-t12-even", (6, 7), (4, 3), (1, 2), 1, 2),
    ("3d-t211", (5, 4, 3), (3, 2, 2), (2, 1, 1), 1, 2),
]
SAME_PARAMS = [pytest.param(*c[1:], id=c[0]) for c in SAME_CASES]


@pytest.mark.parametrize("in_spatial, filter_shape, stride, M, K", SAME_PARAMS)
def test_shift_aware_same_padding_covers_border_columns(
    dense_reference, in_spatial, filter_shape, stride, M, K
):
    """``shifts=True`` for ``"same"``: every pair of columns of the dense ``W``, the
    zero-padding-truncated border columns included; ``"interior"``: the untruncated ones."""
    op, w = _op(in_spatial, filter_shape, stride, "same", M, K, seed=K + 7)
    A = dense_reference(w, in_spatial, stride, "same")
    expected = numpy_row_coherence(A)
    got = coherence_jit(op, shifts=True)
    np.testing.assert_allclose(got, expected, **TOL)
    interior = interior_rows(A, w)
    assert interior.sum() < A.shape[0]  # there are border columns
    expected_interior = numpy_row_coherence(A, interior)
    np.testing.assert_allclose(coherence_jit(op, shifts="interior"), expected_interior, **TOL)
    assert float(got) >= expected_interior - 1e-6


def test_border_columns_decide_the_coherence(dense_reference):
    """Filters built so that only truncated columns coincide: filter 1 is filter 0 with its
    first tap changed, so the left border columns (which lose that tap) are equal (coherence
    1), while no two interior columns are close."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3, 2, 2)).astype(np.float32)
    w[1:, :, :, 1] = w[1:, :, :, 0]
    w[0, :, :, 1] = -3 * w[0, :, :, 0]
    op = jaxcs.ConvOperator(jnp.asarray(w), (6, 5), 1, "same")
    A = dense_reference(w, (6, 5), 1, "same")
    interior = numpy_row_coherence(A, interior_rows(A, w))
    assert interior < 0.8 and numpy_row_coherence(A) > 1 - 1e-6
    np.testing.assert_allclose(jaxcs.coherence(op, shifts=True), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jaxcs.coherence(op, shifts="interior"), interior, **TOL)


def test_shift_aware_same_padding_few_interior_columns(dense_reference):
    w = np.array([1.0, 0.0, 1.0], np.float32).reshape(3, 1, 1)
    op = jaxcs.ConvOperator(jnp.asarray(w), (4,), 1, "same")
    A = dense_reference(w, (4,), 1, "same")
    interior = interior_rows(A, w)
    assert interior.tolist() == [False, True, True, False]
    expected = numpy_row_coherence(A, interior)
    assert expected == 0.0  # the two interior columns [1,0,1,0] and [0,1,0,1] are orthogonal
    np.testing.assert_allclose(jaxcs.coherence(op, shifts="interior"), expected, **TOL)
    # the border columns [0,1,0,0] and [0,0,1,0] meet interior ones exactly
    np.testing.assert_allclose(jaxcs.coherence(op, shifts=True), numpy_row_coherence(A), **TOL)
    np.testing.assert_allclose(jaxcs.coherence(op, shifts=True), 1 / np.sqrt(2), **TOL)


def test_interior_is_the_shift_aware_coherence_without_padding():
    op, _ = _op((9,), (3,), 2, "valid", 2, 3, seed=5)
    np.testing.assert_allclose(
        jaxcs.coherence(op, shifts="interior"), jaxcs.coherence(op, shifts=True), rtol=1e-7
    )
    with pytest.raises(ValueError, match="shifts"):
        jaxcs.coherence(op, shifts="border")


# --------------------------------------------------------------------------- invariances
@pytest.mark.parametrize("shifts", [False, True])
def test_scaling_a_filter_does_not_change_coherence(shifts):
    w = random_filters((3,), 2, 4, seed=1)
    op = jaxcs.ConvOperator(jnp.asarray(w), (9,), 1, "valid")
    scaled = w.copy()
    scaled[..., 1] *= -37.5
    scaled[..., 3] *= 1e-3
    op2 = jaxcs.ConvOperator(jnp.asarray(scaled), (9,), 1, "valid")
    np.testing.assert_allclose(
        jaxcs.coherence(op2, shifts=shifts), jaxcs.coherence(op, shifts=shifts), rtol=1e-5
    )


@pytest.mark.parametrize("padding", ["valid", "circular"])
def test_non_overlapping_orthogonal_filters_give_zero(dense_reference, padding):
    # Filter 0 is one tap on channel 0, filter 1 one tap on channel 1: no column of Wᵀ
    # shares a non-zero with another one, at any shift.
    w = np.zeros((3, 2, 2), np.float32)
    w[0, 0, 0] = 2.0
    w[2, 1, 1] = -0.5
    op = jaxcs.ConvOperator(jnp.asarray(w), (6,), 1, padding)
    assert numpy_row_coherence(dense_reference(w, (6,), 1, padding)) == 0.0
    assert float(jaxcs.coherence(op)) == 0.0
    assert float(jaxcs.coherence(op, shifts=True)) == 0.0


@pytest.mark.parametrize("sign", [1.0, -2.0])
def test_duplicated_filter_gives_one(sign):
    w = random_filters((3, 2), 2, 3, seed=4)
    w[..., 2] = sign * w[..., 0]
    op = jaxcs.ConvOperator(jnp.asarray(w), (5, 5), 1, "valid")
    np.testing.assert_allclose(jaxcs.coherence(op), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jaxcs.coherence(op, shifts=True), 1.0, rtol=1e-6)


def test_zero_filter_is_ignored():
    w = random_filters((3,), 2, 3, seed=6)
    expected = numpy_filter_coherence(w[..., :2])
    w[..., 2] = 0
    np.testing.assert_allclose(jaxcs.coherence(jnp.asarray(w)), expected, **TOL)


def test_coherence_lies_in_unit_interval():
    rng = np.random.default_rng(8)
    for seed in range(6):
        K = int(rng.integers(1, 5))
        w = random_filters((int(rng.integers(1, 5)),), int(rng.integers(1, 3)), K, seed=seed)
        padding = ("valid", "circular", "same")[seed % 3]
        op = jaxcs.ConvOperator(jnp.asarray(w), (8,), 1, padding)
        for shifts in (False, True):
            mu = float(jaxcs.coherence(op, shifts=shifts))
            assert 0.0 <= mu <= 1.0 + 1e-6, (seed, shifts, mu)


# --------------------------------------------------------------------------- jit / vmap
def stack(*trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


@pytest.mark.parametrize("padding", ["valid", "circular", "same"])
def test_jit_and_vmap_over_operators(dense_reference, padding):
    ops, refs = [], []
    for seed in range(3):
        op, w = _op((6, 5), (3, 2), 1, padding, 2, 2, seed=seed)
        ops.append(op)
        refs.append(numpy_row_coherence(dense_reference(w, (6, 5), 1, padding)))
    batch = stack(*ops)
    for shifts in (False, True):
        single = np.array([float(coherence_jit(op, shifts=shifts)) for op in ops])
        batched = jax.vmap(lambda op, s=shifts: jaxcs.coherence(op, shifts=s))(batch)
        assert batched.shape == (3,)
        np.testing.assert_allclose(batched, single, **TOL)
    np.testing.assert_allclose(single, refs, **TOL)  # shifts=True from the last loop
