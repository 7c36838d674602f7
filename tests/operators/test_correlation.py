"""Correlation table ``C``, the border table of ``"same"`` padding and restricted Grams
against brute-force NumPy.

References: ``C`` by loops over shifts and taps, and ``G_S = A[S] A[S]ᵀ`` from the loop-built
dense ``W`` (``dense_reference`` fixture; the rows of ``W`` are the columns of ``Φ = Wᵀ``).
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs
from jaxcs.operators import (
    BorderCorrelationTable,
    DenseGram,
    border_correlation_table,
    gram_table,
    restricted_gram_pairs,
)

TOL = {
    np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5),
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12),
}


def as_tuple(stride, d):
    return (stride,) * d if isinstance(stride, int) else tuple(stride)


def numpy_table(w, stride):
    """``C[i, i', δ] = Σ_s Σ_m w[s, m, i] w[s + t·δ, m, i']``, ``δ ∈ [−R, R]`` per axis,
    ``R = (l − 1) // t``; index ``δ + R``. Brute force over shifts and taps."""
    w = np.asarray(w, np.float64)
    d = w.ndim - 2
    fshape, K = w.shape[:d], w.shape[-1]
    stride = as_tuple(stride, d)
    radius = [(L - 1) // t for L, t in zip(fshape, stride, strict=True)]
    C = np.zeros((K, K) + tuple(2 * R + 1 for R in radius))
    for delta in itertools.product(*[range(-R, R + 1) for R in radius]):
        for s in itertools.product(*map(range, fshape)):
            s2 = tuple(a + t * b for a, t, b in zip(s, stride, delta, strict=True))
            if all(0 <= q < L for q, L in zip(s2, fshape, strict=True)):
                for i in range(K):
                    for i2 in range(K):
                        C[(i, i2) + tuple(b + R for b, R in zip(delta, radius, strict=True))] += (
                            w[s + (slice(None), i)] @ w[s2 + (slice(None), i2)]
                        )
    return C, tuple(radius)


def numpy_fold(C, radius, periods, folded):
    """Sum the aliased shifts ``δ ≡ δ' (mod n)`` of the folded axes into index ``δ mod n``."""
    for axis, (R, n, fold) in enumerate(zip(radius, periods, folded, strict=True)):
        if not fold:
            continue
        ax = 2 + axis
        shape = list(C.shape)
        shape[ax] = n
        F = np.zeros(shape)
        for k, delta in enumerate(range(-R, R + 1)):
            src = [slice(None)] * C.ndim
            dst = [slice(None)] * C.ndim
            src[ax], dst[ax] = k, delta % n
            F[tuple(dst)] += C[tuple(src)]
        C = F
    return C


def random_op(in_spatial, filter_shape, stride, padding, M, K, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(tuple(filter_shape) + (M, K)).astype(dtype)
    return jaxcs.ConvOperator(
        jnp.asarray(w), in_spatial, stride=stride, padding=padding, large_filters=True
    ), rng


# --------------------------------------------------------------------------- the table
TABLE_CASES = [
    # id, in_spatial, filter_shape, stride, padding, M, K
    ("1d-t1", (8,), (3,), 1, "valid", 2, 3),
    ("1d-t2", (9,), (5,), 2, "valid", 2, 2),
    ("1d-t2-even", (8,), (4,), 2, "valid", 1, 3),
    ("1d-t3-short", (7,), (1,), 3, "valid", 2, 2),  # R = 0
    ("1d-same-t2", (7,), (4,), 2, "same", 2, 2),
    ("2d-t1", (5, 6), (3, 2), 1, "valid", 2, 2),
    ("2d-t2", (7, 8), (3, 4), 2, "valid", 1, 3),
    ("2d-t12", (5, 7), (2, 5), (1, 2), "valid", 2, 2),
    ("2d-same-t2", (5, 6), (3, 3), 2, "same", 1, 2),
]


@pytest.mark.parametrize(
    "in_spatial, filter_shape, stride, padding, M, K",
    [pytest.param(*c[1:], id=c[0]) for c in TABLE_CASES],
)
def test_correlation_table_matches_brute_force(
    in_spatial, filter_shape, stride, padding, M, K, dtype
):
    op, _ = random_op(in_spatial, filter_shape, stride, padding, M, K, dtype)
    expected, radius = numpy_table(op.filters, stride)
    table = jaxcs.operators.correlation_table(op)
    assert isinstance(table, jaxcs.operators.CorrelationTable)
    assert tuple(table.radius) == radius
    assert table.periods is None
    assert table.values.shape == (K, K) + tuple(2 * R + 1 for R in radius)
    assert table.values.dtype == dtype
    np.testing.assert_allclose(np.asarray(table.values), expected, **TOL[dtype])
    # Symmetry of a correlation: C[i, i', δ] = C[i', i, −δ].
    flipped = np.flip(np.swapaxes(expected, 0, 1), axis=tuple(range(2, expected.ndim)))
    np.testing.assert_allclose(np.asarray(table.values), flipped, **TOL[dtype])


CIRCULAR_TABLE_CASES = [
    ("1d-unfolded", (8,), (3,), 1, 2, 2),  # n = 8 > 2R = 4
    ("1d-folded", (4,), (3,), 1, 2, 2),  # n = 4 <= 2R = 4
    ("1d-folded-t2", (6,), (5,), 2, 1, 3),  # n = 3 <= 2R = 4
    ("1d-l-gt-D", (3,), (5,), 1, 2, 2),  # n = 3, R = 4
    ("2d-mixed", (3, 6), (2, 5), (1, 2), 2, 2),  # axis 0 unfolded (3 > 2), axis 1 folded
    ("2d-unfolded-t2", (8, 6), (3, 2), 2, 1, 2),
]


@pytest.mark.parametrize(
    "in_spatial, filter_shape, stride, M, K",
    [pytest.param(*c[1:], id=c[0]) for c in CIRCULAR_TABLE_CASES],
)
def test_circular_table_is_the_aliased_brute_force(in_spatial, filter_shape, stride, M, K):
    op, _ = random_op(in_spatial, filter_shape, stride, "circular", M, K)
    C, radius = numpy_table(op.filters, stride)
    strides = as_tuple(stride, len(in_spatial))
    periods = tuple(D // t for D, t in zip(in_spatial, strides, strict=True))
    folded = tuple(n <= 2 * R for n, R in zip(periods, radius, strict=True))
    table = jaxcs.operators.correlation_table(op)
    assert tuple(table.periods) == periods
    assert tuple(table.folded) == folded
    np.testing.assert_allclose(
        np.asarray(table.values), numpy_fold(C, radius, periods, folded), rtol=2e-5, atol=2e-5
    )


def test_correlation_table_rejects_matrix_operator():
    with pytest.raises(TypeError, match="op"):
        jaxcs.operators.correlation_table(jaxcs.MatrixOperator(np.ones((2, 3), np.float32)))


# --------------------------------------------------------------------------- restricted Gram
GRAM_CASES = [
    ("1d-valid-t1", (7,), (3,), 1, "valid", 2, 3),
    ("1d-valid-t2", (9,), (5,), 2, "valid", 2, 3),
    ("1d-circular-t1", (7,), (3,), 1, "circular", 2, 3),
    ("1d-circular-t2", (8,), (3,), 2, "circular", 2, 2),
    ("1d-circular-t1-folded", (4,), (3,), 1, "circular", 2, 2),  # n = 4 <= 2R
    ("1d-circular-t2-folded", (6,), (5,), 2, "circular", 1, 3),  # n = 3 <= 2R
    ("1d-circular-l-gt-D", (3,), (5,), 1, "circular", 2, 2),
    ("1d-same-t1", (7,), (4,), 1, "same", 2, 3),
    ("1d-same-t2", (7,), (3,), 2, "same", 2, 2),
    ("1d-same-l-gt-D", (4,), (6,), 1, "same", 1, 2),
    ("2d-valid-t1", (5, 6), (3, 2), 1, "valid", 2, 3),
    ("2d-valid-t2", (7, 6), (3, 2), 2, "valid", 2, 2),
    ("2d-valid-t12", (5, 7), (2, 3), (1, 2), "valid", 1, 3),
    ("2d-valid-t32-floor", (8, 7), (3, 2), (3, 2), "valid", 2, 2),  # t ∤ D - l (Flax's floor)
    ("2d-circular-t1", (4, 5), (3, 2), 1, "circular", 2, 2),
    ("2d-circular-t2", (6, 4), (3, 3), 2, "circular", 1, 3),
    ("2d-circular-t12-folded", (3, 6), (2, 5), (1, 2), "circular", 2, 2),
    ("2d-same-t1", (5, 4), (3, 2), 1, "same", 2, 2),
    ("2d-same-t2", (5, 6), (3, 4), 2, "same", 1, 3),
    ("2d-same-t12", (4, 5), (2, 3), (1, 2), "same", 2, 2),
]
GRAM_PARAMS = [pytest.param(*c[1:], id=c[0]) for c in GRAM_CASES]
GRAM_ARGS = "in_spatial, filter_shape, stride, padding, M, K"


def random_supports(rng, size, k=6):
    """Row 0: the two corner codes (border columns) and neighbours; row 1: distinct random
    indices; row 2: random with repeats."""
    border = [0, size - 1, 1, size - 2, size // 2, size // 2 + 1]
    rows = [
        np.asarray(border[:k]) % size,
        rng.choice(size, size=k, replace=size < k),
        rng.integers(0, size, size=k),
    ]
    return np.stack(rows).astype(np.int32)


def numpy_gram(A, support):
    rows = A[support]  # (..., k, MD): rows of W = columns of Φ = Wᵀ
    return np.einsum("...an,...bn->...ab", rows, rows)


_gram_jit = jax.jit(jaxcs.operators.restricted_gram)


@pytest.mark.parametrize(GRAM_ARGS, GRAM_PARAMS)
def test_restricted_gram_matches_dense(
    in_spatial, filter_shape, stride, padding, M, K, dtype, dense_reference
):
    op, rng = random_op(in_spatial, filter_shape, stride, padding, M, K, dtype, seed=1)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    support = random_supports(rng, math.prod(op.out_shape))
    gram = _gram_jit(op, support)
    assert gram.shape == support.shape + support.shape[-1:]
    assert gram.dtype == dtype
    np.testing.assert_allclose(np.asarray(gram), numpy_gram(A, support), **TOL[dtype])


@pytest.mark.parametrize(
    GRAM_ARGS,
    [
        p
        for p in GRAM_PARAMS
        if p.id in ("1d-circular-t2-folded", "1d-same-t2", "2d-valid-t12", "2d-same-t12")
    ],
)
def test_restricted_gram_batch_axes_and_table(
    in_spatial, filter_shape, stride, padding, M, K, dense_reference
):
    gram_fn = _gram_jit
    op, rng = random_op(in_spatial, filter_shape, stride, padding, M, K, seed=2)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    size = math.prod(op.out_shape)
    support = rng.integers(0, size, size=(2, 3, 5))
    gram = gram_fn(op, support)  # two batch axes
    assert gram.shape == (2, 3, 5, 5)
    np.testing.assert_allclose(np.asarray(gram), numpy_gram(A, support), rtol=2e-5, atol=2e-5)
    single = gram_fn(op, support[1, 2])
    np.testing.assert_allclose(single, gram[1, 2], rtol=1e-6, atol=1e-6)
    with_table = gram_fn(op, support, table=gram_table(op))
    np.testing.assert_allclose(with_table, gram, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(GRAM_ARGS, [p for p in GRAM_PARAMS if p.id == "1d-circular-t2-folded"])
def test_restricted_gram_eager(in_spatial, filter_shape, stride, padding, M, K, dense_reference):
    """Outside jit (eager dispatch compiles many small programs: one case only)."""
    op, rng = random_op(in_spatial, filter_shape, stride, padding, M, K, seed=6)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    support = random_supports(rng, math.prod(op.out_shape))
    gram = jaxcs.operators.restricted_gram(op, support)
    np.testing.assert_allclose(np.asarray(gram), numpy_gram(A, support), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    GRAM_ARGS,
    [p for p in GRAM_PARAMS if p.id in ("1d-circular-t1-folded", "2d-same-t2", "2d-valid-t1")],
)
def test_restricted_gram_mask(in_spatial, filter_shape, stride, padding, M, K, dense_reference):
    op, rng = random_op(in_spatial, filter_shape, stride, padding, M, K, seed=3)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    support = random_supports(rng, math.prod(op.out_shape))
    mask = np.array(
        [
            [True, False, True, True, False, True],
            [False] * 6,
            [True] * 6,
        ]
    )
    expected = numpy_gram(A, support) * (mask[:, :, None] & mask[:, None, :])
    gram = _gram_jit(op, support, mask)
    np.testing.assert_allclose(np.asarray(gram), expected, rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(gram[1], 0.0)
    assert np.all(np.asarray(gram[0])[~mask[0]] == 0) and np.all(gram[0][:, ~mask[0]] == 0)
    # Kept diagonal entries are squared column norms, not zeroed.
    assert np.all(np.diagonal(np.asarray(gram[0]))[mask[0]] > 0)


def test_restricted_gram_matrix_operator(dtype, dense_reference):
    rng = np.random.default_rng(4)
    M_ = rng.standard_normal((12, 7)).astype(dtype)
    op = jaxcs.MatrixOperator(M_, out_shape=(4, 3))
    support = rng.integers(0, 12, size=(3, 5))
    gram = _gram_jit(op, support)
    assert gram.dtype == dtype and gram.shape == (3, 5, 5)
    np.testing.assert_allclose(
        np.asarray(gram), numpy_gram(M_.astype(np.float64), support), **TOL[dtype]
    )
    mask = np.array([[True, True, False, True, True]] * 3)
    masked = np.asarray(_gram_jit(op, support, mask))
    np.testing.assert_array_equal(masked[:, 2, :], 0.0)
    np.testing.assert_array_equal(masked[:, :, 2], 0.0)
    # The dense operator of a ConvOperator and the ConvOperator give the same Grams.
    conv, _ = random_op((6,), (3,), 2, "circular", 2, 2, dtype)
    A = dense_reference(conv.filters, (6,), 2, "circular").astype(dtype)
    support = rng.integers(0, 6, size=(2, 4))
    np.testing.assert_allclose(
        _gram_jit(jaxcs.MatrixOperator(A), support),
        _gram_jit(conv, support),
        **TOL[dtype],
    )


@pytest.mark.parametrize(
    "support",
    [
        np.array([[0.0, 1.0, 2.0]]),
        np.array([[True, False]]),
        np.array(3),
    ],
    ids=["float", "bool", "scalar"],
)
def test_restricted_gram_rejects_bad_support(support):
    op, _ = random_op((7,), (3,), 1, "valid", 2, 3)
    with pytest.raises(ValueError, match="support"):
        jaxcs.operators.restricted_gram(op, support)
    with pytest.raises(ValueError, match="support"):
        jaxcs.operators.restricted_gram(
            jaxcs.MatrixOperator(np.ones((15, 14), np.float32)), support
        )


def test_restricted_gram_fig2_size(dense_reference):
    """Fig. 2 setup (l=5, M=32, K=96, D=32, valid): supports of size 10 vs the dense W."""
    w = jaxcs.gaussian_filters(jax.random.key(0), (5,), in_channels=32, out_channels=96)
    op = jaxcs.ConvOperator(w, in_spatial=(32,), stride=1, padding="valid")
    A = dense_reference(w, (32,), 1, "valid")
    assert A.shape == (28 * 96, 32 * 32)
    rng = np.random.default_rng(5)
    # Block-model supports: 10 distinct filters, any shift each; plus one cluster of
    # overlapping shifts of two filters (the off-diagonal table entries all matter there).
    filters = np.stack([rng.choice(96, size=10, replace=False) for _ in range(3)])
    shifts = rng.integers(0, 28, size=(3, 10))
    cluster = np.array([[j * 96 + i for j in (10, 11, 12, 13, 14) for i in (7, 8)]])
    support = np.concatenate([shifts * 96 + filters, cluster]).astype(np.int32)
    gram = _gram_jit(op, support)
    expected = numpy_gram(A, support)
    np.testing.assert_allclose(np.asarray(gram), expected, rtol=1e-5, atol=1e-5)
    # Unit expected row norm (Theorem 3.1 scaling): the diagonal is close to 1.
    assert abs(np.mean(np.diagonal(expected, axis1=1, axis2=2)) - 1) < 0.2
    assert np.abs(expected[3] - np.diag(np.diag(expected[3]))).max() > 0.05  # overlaps exist


def test_gram_table_dense_gram_gives_the_same_restricted_grams(dtype):
    """A MatrixOperator's whole Gram (its "table") gives the restricted Gram by a gather,
    equal to the one from its rows; convolutions get their correlation table, "same" its
    border table."""
    rng = np.random.default_rng(5)
    M_ = rng.standard_normal((12, 7)).astype(dtype)
    op = jaxcs.MatrixOperator(M_, out_shape=(4, 3))
    table = gram_table(op)
    assert isinstance(table, DenseGram) and table.values.shape == (12, 12)
    support = rng.integers(0, 12, size=(3, 5))
    mask = rng.random((3, 5)) < 0.8
    np.testing.assert_allclose(
        jaxcs.operators.restricted_gram(op, support, mask, table=table),
        _gram_jit(op, support, mask),
        **TOL[dtype],
    )
    np.testing.assert_allclose(
        jaxcs.operators.restricted_gram(op, support, table=table),
        numpy_gram(M_.astype(np.float64), support),
        **TOL[dtype],
    )
    conv, _ = random_op((6,), (3,), 1, "valid", 2, 2, dtype)
    assert isinstance(gram_table(conv), jaxcs.operators.CorrelationTable)
    same, _ = random_op((6,), (3,), 1, "same", 2, 2, dtype)
    assert isinstance(gram_table(same), BorderCorrelationTable)
    # any operator has a table: the transposed one gets the dense default of the base class
    transposed = gram_table(conv.T)
    W = np.asarray(conv.as_matrix(), np.float64)
    assert isinstance(transposed, DenseGram)
    np.testing.assert_allclose(transposed.values, W.T @ W, **TOL[dtype])


# --------------------------------------------------------------------------- "same": border table
SAME_CASES = [
    # id, in_spatial, filter_shape, stride, M, K (even filters: asymmetric pads lo != hi)
    ("1d-t1-odd", (7,), (3,), 1, 2, 3),
    ("1d-t1-even", (7,), (4,), 1, 2, 2),
    ("1d-t2-odd", (7,), (3,), 2, 2, 2),
    ("1d-t2-even", (9,), (4,), 2, 1, 3),
    ("1d-t2-long", (8,), (5,), 2, 2, 2),
    ("1d-l-gt-D", (4,), (6,), 1, 1, 2),  # columns clipped on both sides
    ("2d-t1", (5, 4), (3, 2), 1, 2, 2),
    ("2d-t2", (5, 6), (3, 4), 2, 1, 3),
    ("2d-t12", (4, 5), (2, 3), (1, 2), 2, 2),
    ("3d-t21", (4, 3, 5), (3, 2, 2), (2, 1, 1), 1, 2),
]
SAME_PARAMS = [pytest.param(*c[1:], id=c[0]) for c in SAME_CASES]
SAME_ARGS = "in_spatial, filter_shape, stride, M, K"


@pytest.mark.parametrize(SAME_ARGS, SAME_PARAMS)
def test_border_table_gives_the_whole_dense_gram(
    in_spatial, filter_shape, stride, M, K, dtype, dense_reference
):
    """The support of every column (border columns and all their pairs) gives ``A Aᵀ``, and
    its pairs give the diagonal and the upper triangle; the precomputed table is the one
    ``gram_table`` returns."""
    op, _ = random_op(in_spatial, filter_shape, stride, "same", M, K, dtype, seed=11)
    A = dense_reference(op.filters, in_spatial, stride, "same")
    size = math.prod(op.out_shape)
    support = np.arange(size, dtype=np.int32)[None]

    @jax.jit
    def grams(op):  # one compiled program (eager dispatch compiles every small op)
        table = gram_table(op)
        return (
            table,
            jaxcs.operators.restricted_gram(op, support, table=table),
            *restricted_gram_pairs(op, support, table=table),
        )

    table, gram, diagonal, upper = grams(op)
    assert isinstance(table, BorderCorrelationTable) and table.values.dtype == dtype
    expected = A @ A.T
    np.testing.assert_allclose(np.asarray(gram[0]), expected, **TOL[dtype])
    rows, cols = np.triu_indices(size, 1)
    np.testing.assert_allclose(np.asarray(diagonal[0]), np.diag(expected), **TOL[dtype])
    np.testing.assert_allclose(np.asarray(upper[0]), expected[rows, cols], **TOL[dtype])


def test_border_table_interior_boxes_are_the_correlation_table():
    """Away from the border the border table holds the full-overlap ``C`` (one box per
    shift), so interior pairs read the same entries as ``"valid"`` would."""
    op, _ = random_op((9, 8), (3, 4), (1, 2), "same", 2, 3)
    table = border_correlation_table(op)
    C = np.asarray(jaxcs.operators.correlation_table(op).values)
    interior = []
    for geometry in table.axes:
        j = np.arange(geometry.shifts)
        left, right = geometry.clips(j, np)
        j0 = int(j[(left == 0) & (right == 0)][0])
        delta = np.arange(-geometry.radius, geometry.radius + 1)
        interior.append(geometry.static_key(delta, np.full_like(delta, j0)))
    np.testing.assert_allclose(
        np.asarray(table.values)[np.ix_(range(3), range(3), *interior)], C, rtol=1e-6
    )
    # axis 0, 3 taps at stride 1, pads (1, 1): per shift δ = 0, ±1, ±2 the interior box and
    # the boxes of the left and the right border column, 3 + 2·2 + 2·1 distinct non-empty
    # ones and one empty; axis 1, 4 taps at stride 2, pads (1, 1): 3 + 2·2
    assert [len(a.boxes) for a in table.axes] == [10, 7]
    with pytest.raises(ValueError, match="same"):
        border_correlation_table(random_op((9,), (3,), 1, "valid", 1, 1)[0])
    # the full-overlap table of a "same" layer would give wrong border entries: refused
    with pytest.raises(ValueError, match="BorderCorrelationTable"):
        jaxcs.operators.restricted_gram(
            op, np.array([0, 1]), table=jaxcs.operators.correlation_table(op)
        )


@pytest.mark.parametrize(
    SAME_ARGS, [p for p in SAME_PARAMS if p.id in ("1d-t2-even", "2d-t12", "3d-t21")]
)
def test_border_table_batched_supports_masks_and_vmap(
    in_spatial, filter_shape, stride, M, K, dense_reference
):
    """Batch axes, repeated indices and masks on supports that hold the corner columns; the
    table built under ``vmap`` over a stack of operators gives each operator's Grams."""
    ops = [random_op(in_spatial, filter_shape, stride, "same", M, K, seed=s)[0] for s in (3, 4)]
    size = math.prod(ops[0].out_shape)
    rng = np.random.default_rng(12)
    corners = np.array([0, size - 1, K, size - K - 1, size // 2])
    support = np.stack([corners, rng.integers(0, size, 5), rng.integers(0, size, 5)])
    support = np.stack([support, support[::-1]]).astype(np.int32)  # (2, 3, 5)
    mask = rng.random(support.shape) < 0.7
    expected = []
    for op in ops:
        A = dense_reference(op.filters, in_spatial, stride, "same")
        expected.append(numpy_gram(A, support) * (mask[..., :, None] & mask[..., None, :]))
    batch = jax.tree.map(lambda *a: jnp.stack(a), *ops)

    def grams_of(op):
        return op.restricted_gram(support, mask, table=op.gram_table())

    grams = jax.jit(jax.vmap(grams_of))(batch)
    np.testing.assert_allclose(np.asarray(grams), np.stack(expected), rtol=2e-5, atol=2e-5)
    diagonal, upper = jax.jit(restricted_gram_pairs)(ops[1], support, mask)
    rows, cols = np.triu_indices(5, 1)
    np.testing.assert_allclose(diagonal, np.diagonal(expected[1], axis1=-2, axis2=-1), atol=2e-5)
    np.testing.assert_allclose(upper, expected[1][..., rows, cols], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(GRAM_ARGS, [p for p in GRAM_PARAMS if "same" not in p.id])
def test_restricted_gram_pairs_are_the_upper_triangle(
    in_spatial, filter_shape, stride, padding, M, K
):
    """``restricted_gram_pairs`` equals the diagonal and upper triangle of the full Gram
    ("valid" and "circular"; "same" is covered above), with a mask."""
    op, rng = random_op(in_spatial, filter_shape, stride, padding, M, K, seed=7)
    support = random_supports(rng, math.prod(op.out_shape))
    mask = rng.random(support.shape) < 0.8
    gram = np.asarray(_gram_jit(op, support, mask))
    diagonal, upper = jax.jit(restricted_gram_pairs)(op, support, mask)
    rows, cols = np.triu_indices(support.shape[-1], 1)
    np.testing.assert_allclose(diagonal, np.diagonal(gram, axis1=-2, axis2=-1), rtol=1e-6)
    np.testing.assert_allclose(upper, gram[..., rows, cols], rtol=1e-6, atol=1e-7)
