"""ConvOperator / MatrixOperator / TransposedOperator against plain-NumPy references.

The reference ``W`` is built by loops straight from its definition (``dense_reference`` fixture
in conftest), never from jaxcs's own ``as_matrix``.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import jaxcs

# id, in_spatial, filter_shape, stride, padding, M, K
CASES = [
    # 1-D
    ("1d-valid-t1", (7,), (3,), 1, "valid", 2, 3),  # l does not divide D
    ("1d-valid-t2", (9,), (5,), 2, "valid", 2, 3),  # l > t, l does not divide D
    ("1d-valid-t2-l1", (7,), (1,), 2, "valid", 3, 2),  # filter shorter than the stride
    ("1d-valid-t2-floor", (8,), (3,), 2, "valid", 2, 3),  # t ∤ D - l: the last input unseen
    ("1d-circular-t1", (7,), (3,), 1, "circular", 2, 3),
    ("1d-circular-t2", (8,), (3,), 2, "circular", 2, 2),
    ("1d-circular-t1-alias", (4,), (3,), 1, "circular", 2, 2),  # l > D/2
    ("1d-circular-t2-alias", (6,), (5,), 2, "circular", 1, 3),  # l > D/2, n = 3 <= 2R
    ("1d-circular-l-gt-D", (3,), (5,), 1, "circular", 2, 2),  # taps wrap onto each other
    ("1d-same-t1", (7,), (4,), 1, "same", 2, 3),  # even filter: asymmetric pads
    ("1d-same-t2", (7,), (3,), 2, "same", 2, 2),  # D not a multiple of t
    ("1d-same-t2-even", (9,), (4,), 2, "same", 1, 3),
    ("1d-same-l-gt-D", (4,), (6,), 1, "same", 1, 2),
    # 2-D
    ("2d-valid-t1", (5, 6), (3, 2), 1, "valid", 2, 3),
    ("2d-valid-t2", (7, 6), (3, 2), 2, "valid", 2, 2),
    ("2d-valid-t12", (5, 7), (2, 3), (1, 2), "valid", 1, 3),
    ("2d-valid-t32-floor", (8, 7), (3, 2), (3, 2), "valid", 2, 2),  # floor on both axes
    ("2d-circular-t1", (4, 5), (3, 2), 1, "circular", 2, 2),
    ("2d-circular-t2", (6, 4), (3, 3), 2, "circular", 1, 3),
    ("2d-circular-t12-alias", (3, 6), (2, 5), (1, 2), "circular", 2, 2),
    ("2d-same-t1", (5, 4), (3, 2), 1, "same", 2, 2),
    ("2d-same-t2", (5, 6), (3, 4), 2, "same", 1, 3),
    ("2d-same-t12", (4, 5), (2, 3), (1, 2), "same", 2, 2),
]
CASE_PARAMS = [pytest.param(*c[1:], id=c[0]) for c in CASES]
CASE_ARGS = "in_spatial, filter_shape, stride, padding, M, K"

TOL = {
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-5),
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12),
}


def random_filters(rng, filter_shape, M, K, dtype=np.float32):
    return jnp.asarray(rng.standard_normal(tuple(filter_shape) + (M, K)).astype(dtype))


def make_op(in_spatial, filter_shape, stride, padding, M, K, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    w = random_filters(rng, filter_shape, M, K, dtype)
    return jaxcs.ConvOperator(
        w, in_spatial, stride=stride, padding=padding, large_filters=True
    ), rng


def expected_out_shape(in_spatial, filter_shape, stride, padding, K):
    d = len(in_spatial)
    stride = (stride,) * d if isinstance(stride, int) else stride
    out = []
    for D, L, t in zip(in_spatial, filter_shape, stride, strict=True):
        out.append(
            {"valid": (D - L) // t + 1, "circular": D // t, "same": math.ceil(D / t)}[padding]
        )
    return tuple(out) + (K,)


def assert_dot_test(op, x, z, rtol):
    """<W x, z> = <x, Wᵀ z>, relative to ‖W x‖‖z‖ (the natural scale of the error)."""
    Wx = np.asarray(op.mv(x), np.float64)
    WTz = np.asarray(op.rmv(z), np.float64)
    lhs = np.vdot(Wx, np.asarray(z, np.float64))
    rhs = np.vdot(np.asarray(x, np.float64), WTz)
    scale = np.linalg.norm(Wx) * np.linalg.norm(z) + np.linalg.norm(x) * np.linalg.norm(WTz)
    assert abs(lhs - rhs) <= rtol * scale, (lhs, rhs, scale)


# --------------------------------------------------------------------------- dense agreement
# One jitted program per case: compiling it once is ~5x cheaper than the many small eager
# dispatch compiles; ``test_eager_matches_dense`` keeps the eager path covered.
@jax.jit
def _apply_all(op, x, z):
    return dict(A=op.as_matrix(), mv=op.mv(x), rmv=op.rmv(z), Tmv=op.T.mv(z), Trmv=op.T.rmv(x))


@pytest.mark.parametrize(CASE_ARGS, CASE_PARAMS)
def test_dense_agreement_and_dot_test(
    in_spatial, filter_shape, stride, padding, M, K, dtype, dense_reference
):
    op, rng = make_op(in_spatial, filter_shape, stride, padding, M, K, dtype, seed=1)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    out_shape = expected_out_shape(in_spatial, filter_shape, stride, padding, K)
    assert op.out_shape == out_shape
    assert op.in_shape == tuple(in_spatial) + (M,)
    x = rng.standard_normal(op.in_shape).astype(dtype)
    z = rng.standard_normal(op.out_shape).astype(dtype)
    got = _apply_all(op, x, z)
    for name, value in got.items():
        assert value.dtype == dtype, name
    assert got["A"].shape == (math.prod(out_shape), math.prod(in_spatial) * M)
    assert got["mv"].shape == op.out_shape and got["rmv"].shape == op.in_shape
    np.testing.assert_allclose(np.asarray(got["A"]), A, **TOL[dtype])
    x64, z64 = x.astype(np.float64).ravel(), z.astype(np.float64).ravel()
    np.testing.assert_allclose(np.asarray(got["mv"]).ravel(), A @ x64, **TOL[dtype])
    np.testing.assert_allclose(np.asarray(got["rmv"]).ravel(), A.T @ z64, **TOL[dtype])
    # The transpose swaps the two maps exactly.
    np.testing.assert_array_equal(got["Tmv"], got["rmv"])
    np.testing.assert_array_equal(got["Trmv"], got["mv"])
    # Dot test <W x, z> = <x, Wᵀ z>, relative to the natural scale of the rounding error.
    lhs = np.vdot(np.asarray(got["mv"], np.float64).ravel(), z64)
    rhs = np.vdot(x64, np.asarray(got["rmv"], np.float64).ravel())
    scale = np.linalg.norm(got["mv"]) * np.linalg.norm(z64)
    assert abs(lhs - rhs) <= TOL[dtype]["rtol"] * scale, (lhs, rhs)


@pytest.mark.parametrize(
    CASE_ARGS,
    [
        p
        for p in CASE_PARAMS
        if p.id in ("1d-circular-t2-alias", "1d-same-t2", "2d-valid-t12", "2d-same-t12")
    ],
)
def test_eager_matches_dense(in_spatial, filter_shape, stride, padding, M, K, dense_reference):
    op, rng = make_op(in_spatial, filter_shape, stride, padding, M, K, seed=4)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    x = rng.standard_normal(op.in_shape).astype(np.float32)
    z = rng.standard_normal(op.out_shape).astype(np.float32)
    np.testing.assert_allclose(op.as_matrix(), A, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(op.mv(x)).ravel(), A @ x.ravel(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(op.rmv(z)).ravel(), A.T @ z.ravel(), rtol=1e-5, atol=1e-5)
    assert_dot_test(op, x, z, 1e-5)


@jax.jit
def _mv_rmv(op, x, z):
    return op.mv(x), op.rmv(z)


BATCH_CASES = (
    "1d-valid-t2",
    "1d-circular-t2-alias",
    "1d-same-t2-even",
    "2d-valid-t12",
    "2d-circular-t2",
    "2d-same-t1",
    "2d-same-t12",
)


@pytest.mark.parametrize(CASE_ARGS, [p for p in CASE_PARAMS if p.id in BATCH_CASES])
def test_batched_inputs_equal_per_example(
    in_spatial, filter_shape, stride, padding, M, K, dense_reference
):
    op, rng = make_op(in_spatial, filter_shape, stride, padding, M, K, seed=2)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    x = rng.standard_normal((2, 3) + op.in_shape).astype(np.float32)
    z = rng.standard_normal((2, 3) + op.out_shape).astype(np.float32)
    Wx, WTz = _mv_rmv(op, x, z)
    assert Wx.shape == (2, 3) + op.out_shape
    assert WTz.shape == (2, 3) + op.in_shape
    for a in range(2):
        for b in range(3):
            Wx_ab, WTz_ab = _mv_rmv(op, x[a, b], z[a, b])
            np.testing.assert_allclose(Wx[a, b], Wx_ab, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(WTz[a, b], WTz_ab, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(Wx).reshape(6, -1), x.reshape(6, -1) @ A.T, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(WTz).reshape(6, -1), z.reshape(6, -1) @ A, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    CASE_ARGS, [p for p in CASE_PARAMS if p.id in ("1d-same-t2-even", "2d-circular-t12-alias")]
)
def test_transpose(in_spatial, filter_shape, stride, padding, M, K):
    op, rng = make_op(in_spatial, filter_shape, stride, padding, M, K, seed=3)
    x = rng.standard_normal(op.in_shape).astype(np.float32)
    z = rng.standard_normal(op.out_shape).astype(np.float32)
    T = op.T
    assert isinstance(T, jaxcs.operators.TransposedOperator)
    assert T.in_shape == op.out_shape and T.out_shape == op.in_shape
    np.testing.assert_array_equal(T.mv(z), op.rmv(z))
    np.testing.assert_array_equal(T.rmv(x), op.mv(x))
    np.testing.assert_array_equal(T.as_matrix(), np.asarray(op.as_matrix()).T)
    TT = T.T
    assert TT.in_shape == op.in_shape and TT.out_shape == op.out_shape
    np.testing.assert_array_equal(TT.mv(x), op.mv(x))
    np.testing.assert_array_equal(TT.rmv(z), op.rmv(z))
    np.testing.assert_array_equal(TT.as_matrix(), op.as_matrix())


@settings(max_examples=10, deadline=None, database=None)
@given(
    L=st.integers(1, 5),
    t=st.integers(1, 3),
    n=st.integers(1, 4),
    M=st.integers(1, 3),
    K=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
@example(L=1, t=1, n=1, M=2, K=1, seed=549)  # ⟨Wx, z⟩ ≈ 2e-4 from terms of order 1
def test_valid_1d_shape_algebra_hypothesis(L, t, n, M, K, seed, dense_reference):
    D = (n - 1) * t + L
    op, rng = make_op((D,), (L,), t, "valid", M, K, seed=seed)
    assert op.out_shape == (n, K)
    A = dense_reference(op.filters, (D,), t, "valid")
    x = rng.standard_normal((D, M)).astype(np.float32)
    z = rng.standard_normal((n, K)).astype(np.float32)
    got = _apply_all(op, x, z)
    np.testing.assert_allclose(got["A"], A, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got["mv"]).ravel(), A @ x.ravel(), rtol=1e-5, atol=1e-5)
    lhs, rhs = np.vdot(got["mv"], z), np.vdot(x, got["rmv"])
    # float32 rounding of both sums is relative to the sum of |terms|, Σ |z| |A| |x|, not to
    # the value: with cancelling filter taps ⟨Wx, z⟩ can be far smaller than its terms
    scale = np.abs(z).ravel() @ np.abs(A) @ np.abs(x).ravel()
    assert abs(lhs - rhs) <= 1e-5 * scale


# --------------------------------------------------------------------------- public example
def numpy_correlate_valid_1d(w, x):
    """h[b, j, i] = Σ_s Σ_m w[s, m, i] x[b, j + s, m] (stride 1, valid), by einsum per shift."""
    w, x = np.asarray(w, np.float64), np.asarray(x, np.float64)
    L = w.shape[0]
    n = x.shape[1] - L + 1
    return np.stack([np.einsum("smi,bsm->bi", w, x[:, j : j + L]) for j in range(n)], axis=1)


def test_public_example():
    key = jax.random.key(0)
    w = jaxcs.gaussian_filters(key, (5,), in_channels=32, out_channels=96)
    assert w.shape == (5, 32, 96) and w.dtype == jnp.float32
    sample = np.asarray(w, np.float64).ravel()
    sigma = 1 / math.sqrt(32 * 5)
    assert abs(sample.std() / sigma - 1) < 0.03  # 15 360 draws: std error ~0.6 %
    assert abs(sample.mean()) < 4 * sigma / math.sqrt(sample.size)
    assert abs(np.mean(np.abs(sample) < sigma) - 0.6827) < 0.02  # Gaussian, not uniform
    op = jaxcs.ConvOperator(w, in_spatial=(32,), stride=1, padding="valid")
    x = np.random.default_rng(0).standard_normal((4, 32, 32)).astype(np.float32)
    h = op.mv(x)
    assert h.shape == (4, 28, 96)
    np.testing.assert_allclose(h, numpy_correlate_valid_1d(w, x), rtol=1e-4, atol=1e-4)
    assert op.as_matrix().shape == (28 * 96, 32 * 32)


FILTER_MAKERS = [
    jaxcs.gaussian_filters,
    jaxcs.unit_norm_filters,
    jaxcs.operators.rademacher_filters,
]
# One filter geometry for all constructor tests: eager dispatch compiles each shape once.
FSHAPE, FM, FK = (3, 2), 4, 6


def test_unit_norm_and_rademacher_filters():
    w = jaxcs.unit_norm_filters(jax.random.key(1), FSHAPE, FM, FK)
    assert w.shape == FSHAPE + (FM, FK) and w.dtype == jnp.float32
    norms = np.linalg.norm(np.asarray(w, np.float64).reshape(-1, FK), axis=0)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    assert len(np.unique(np.asarray(w))) == w.size  # still random, not a constant
    r = np.asarray(jaxcs.operators.rademacher_filters(jax.random.key(2), FSHAPE, FM, FK))
    assert r.shape == FSHAPE + (FM, FK) and r.dtype == np.float32
    np.testing.assert_allclose(np.abs(r), 1 / math.sqrt(FM * math.prod(FSHAPE)), rtol=1e-6)
    assert (r > 0).any() and (r < 0).any()
    # 1-D filter shape given as a plain int.
    w1 = jaxcs.unit_norm_filters(jax.random.key(1), 3, FM, FK)
    assert w1.shape == (3, FM, FK)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(w1).reshape(-1, FK), axis=0), 1, 1e-6)


def test_normalize_filters_keeps_zero_filter():
    w = np.zeros((3, 2, 2), np.float32)
    w[..., 0] = 2.0
    out = np.asarray(jaxcs.operators.normalize_filters(w))
    np.testing.assert_allclose(out[..., 0], 1 / math.sqrt(6), rtol=1e-6)
    np.testing.assert_array_equal(out[..., 1], 0.0)


@pytest.mark.parametrize("maker", FILTER_MAKERS, ids=lambda f: f.__name__)
def test_filters_determinism(maker):
    a = maker(jax.random.key(3), FSHAPE, FM, FK)
    b = maker(jax.random.key(3), FSHAPE, FM, FK)
    c = maker(jax.random.key(4), FSHAPE, FM, FK)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("maker", FILTER_MAKERS, ids=lambda f: f.__name__)
def test_filters_float64(maker, x64):
    w = maker(jax.random.key(5), FSHAPE, FM, FK, dtype=jnp.float64)
    assert w.dtype == jnp.float64 and w.shape == FSHAPE + (FM, FK)


# --------------------------------------------------------------------------- pytree
def three_ops(padding="valid", stride=1, in_spatial=(7,), filter_shape=(3,), M=2, K=3):
    rng = np.random.default_rng(10)
    ops = [
        jaxcs.ConvOperator(
            random_filters(rng, filter_shape, M, K), in_spatial, stride=stride, padding=padding
        )
        for _ in range(3)
    ]
    return ops, rng


def test_tree_leaves_are_exactly_the_filters():
    (op, *_), _ = three_ops()
    leaves = jax.tree.leaves(op)
    assert len(leaves) == 1 and leaves[0] is op.filters
    T_leaves = jax.tree.leaves(op.T)
    assert len(T_leaves) == 1 and T_leaves[0] is op.filters
    m = jaxcs.MatrixOperator(np.ones((2, 3), np.float32))
    assert len(jax.tree.leaves(m)) == 1 and jax.tree.leaves(m)[0] is m.matrix
    # Static metadata survives a flatten/unflatten round trip.
    leaves, treedef = jax.tree.flatten(op)
    op2 = jax.tree.unflatten(treedef, leaves)
    assert (op2.in_spatial, op2.stride, op2.padding) == (op.in_spatial, op.stride, op.padding)


@pytest.mark.parametrize(
    "padding, stride, in_spatial, filter_shape",
    [
        ("valid", 1, (7,), (3,)),
        ("circular", 2, (8,), (3,)),
        ("same", (1, 2), (4, 5), (2, 3)),
    ],
    ids=["1d-valid", "1d-circular-t2", "2d-same-t12"],
)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_vmap_over_stacked_operators(padding, stride, in_spatial, filter_shape, jit):
    ops, rng = three_ops(padding, stride, in_spatial, filter_shape)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *ops)
    assert stacked.filters.shape == (3,) + ops[0].filters.shape
    xs = rng.standard_normal((3, 2) + ops[0].in_shape).astype(np.float32)
    zs = rng.standard_normal((3, 2) + ops[0].out_shape).astype(np.float32)
    mv = jax.vmap(lambda op, x: op.mv(x))
    rmv = jax.vmap(lambda op, z: op.rmv(z))
    if jit:
        mv, rmv = jax.jit(mv), jax.jit(rmv)
    got_mv, got_rmv = mv(stacked, xs), rmv(stacked, zs)
    for b, op in enumerate(ops):
        np.testing.assert_allclose(got_mv[b], op.mv(xs[b]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got_rmv[b], op.rmv(zs[b]), rtol=1e-5, atol=1e-5)
    # The operators really differ, so the comparison above is not vacuous.
    assert not np.allclose(got_mv[0], ops[1].mv(xs[0]))


def test_jit_operator_argument_does_not_recompile(assert_no_compiles, dense_reference):
    ops, rng = three_ops(padding="same", stride=2, in_spatial=(7,), filter_shape=(3,))
    xs = [jnp.asarray(rng.standard_normal(ops[0].in_shape).astype(np.float32)) for _ in ops]
    f = jax.jit(lambda op, x: (op.mv(x), op.T.mv(op.mv(x))))
    jax.block_until_ready(f(ops[0], xs[0]))  # compile once
    refs = [dense_reference(op.filters, (7,), 2, "same") for op in ops]
    for op, x, A in zip(ops[1:], xs[1:], refs[1:], strict=True):
        h, back = assert_no_compiles(f, op, x)
        np.testing.assert_allclose(np.asarray(h).ravel(), A @ np.asarray(x).ravel(), atol=1e-5)
        np.testing.assert_allclose(
            np.asarray(back).ravel(), A.T @ A @ np.asarray(x).ravel(), atol=1e-4
        )


def test_jit_recompiles_for_new_static_metadata(compile_messages):
    """A different stride is a different program: the guard sees that compile."""
    rng = np.random.default_rng(0)
    w = random_filters(rng, (3,), 2, 2)
    x = jnp.asarray(rng.standard_normal((8, 2)).astype(np.float32))
    op1 = jaxcs.ConvOperator(w, (8,), stride=1, padding="circular")
    op2 = jaxcs.ConvOperator(w, (8,), stride=2, padding="circular")
    f = jax.jit(lambda op, x: op.mv(x))
    jax.block_until_ready(f(op1, x))
    with compile_messages() as messages:
        jax.block_until_ready(f(op2, x))
    assert messages


# --------------------------------------------------------------------------- the guard itself
def test_no_compile_guard_detects_a_compile(assert_no_compiles, compile_messages):
    x = jnp.ones((3, 5, 7))
    fresh = jax.jit(lambda v: jnp.sin(v) * 3.0 + 1.0)
    with pytest.raises(pytest.fail.Exception, match="expected no compilation"):
        assert_no_compiles(fresh, x)
    with pytest.raises(pytest.fail.Exception, match="expected no compilation"):
        with assert_no_compiles():
            jax.block_until_ready(fresh(jnp.ones((2, 9))))  # new shape -> new compile
    with compile_messages() as messages:
        jax.block_until_ready(fresh(jnp.zeros((4, 4, 4))))
    assert len(messages) >= 1
    assert any("Compiling" in m for m in messages)
    # A cached call passes the guard.
    np.testing.assert_allclose(assert_no_compiles(fresh, x), np.sin(1.0) * 3 + 1, rtol=1e-6)


# --------------------------------------------------------------------------- Flax
def flax_conv_and_op(kernel_size, strides, padding, M, K, in_spatial, use_bias=False, seed=0):
    conv = nn.Conv(
        features=K, kernel_size=kernel_size, strides=strides, padding=padding, use_bias=use_bias
    )
    x = np.random.default_rng(seed).standard_normal((2,) + in_spatial + (M,)).astype(np.float32)
    variables = conv.init(jax.random.key(seed), x)
    return conv, variables, x


@pytest.mark.parametrize(
    "kernel_size, strides, padding, in_spatial",
    [
        ((3,), 1, "VALID", (9,)),
        ((3,), 2, "VALID", (9,)),
        ((4,), 1, "SAME", (9,)),
        ((3,), 2, "SAME", (8,)),
        ((4,), 2, "SAME", (9,)),
        ((3, 2), (1, 1), "VALID", (5, 6)),
        ((3, 3), (2, 2), "VALID", (7, 7)),
        ((3,), 2, "VALID", (8,)),  # Flax's floor: 2 does not divide 8 - 3
        ((3, 3), (2, 3), "VALID", (8, 10)),  # floor on both axes
        ((3, 2), (2, 2), "SAME", (5, 6)),
        ((2, 3), (1, 2), "SAME", (4, 5)),
    ],
    ids=lambda v: str(v).replace(" ", ""),
)
def test_conv_operator_from_flax_matches_apply(kernel_size, strides, padding, in_spatial):
    M, K = 2, 3
    conv, variables, x = flax_conv_and_op(kernel_size, strides, padding, M, K, in_spatial)
    expected = np.asarray(conv.apply(variables, x))
    op = jaxcs.operators.conv_operator_from_flax(variables, in_spatial, module=conv)
    assert op.padding == padding.lower()
    np.testing.assert_allclose(op.mv(x), expected, rtol=1e-5, atol=1e-5)
    # Without the module, stride and padding come from the arguments.
    op2 = jaxcs.operators.conv_operator_from_flax(
        variables["params"]["kernel"], in_spatial, stride=strides, padding=padding.lower()
    )
    np.testing.assert_allclose(op2.mv(x), expected, rtol=1e-5, atol=1e-5)


def test_conv_operator_from_flax_module_overrides_arguments():
    conv, variables, x = flax_conv_and_op((3,), 2, "SAME", 2, 3, (8,))
    op = jaxcs.operators.conv_operator_from_flax(
        variables, (8,), module=conv, stride=1, padding="valid"
    )
    assert op.stride == (2,) and op.padding == "same"
    np.testing.assert_allclose(op.mv(x), conv.apply(variables, x), rtol=1e-5, atol=1e-5)


class _Wrapper(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Conv(features=3, kernel_size=(3,), padding="VALID", use_bias=True)(x)


class _TwoLayers(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(features=2, kernel_size=(3,), padding="VALID")(x)
        return nn.Conv(features=3, kernel_size=(3,), padding="VALID")(x)


def test_conv_operator_from_flax_never_guesses_the_geometry():
    """A kernel alone does not say its padding: nn.Conv's default is SAME, so a silent 'valid'
    would give the wrong out shape (14 x 14 instead of Flax's 16 x 16)."""
    conv = nn.Conv(features=4, kernel_size=(3, 3))  # Flax's defaults: SAME, stride 1
    x = jnp.ones((1, 16, 16, 2))
    variables = conv.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="module=.*padding="):
        jaxcs.operators.conv_operator_from_flax(variables, (16, 16))
    with pytest.raises(ValueError, match="module=.*padding="):
        jaxcs.ConvOperator.from_flax(variables, (16, 16))
    op = jaxcs.ConvOperator.from_flax(variables, (16, 16), module=conv)
    assert op.out_shape == conv.apply(variables, x).shape[1:] == (16, 16, 4)
    explicit = jaxcs.operators.conv_operator_from_flax(variables, (16, 16), padding="same")
    assert explicit.out_shape == (16, 16, 4) and explicit.stride == (1, 1)


def test_conv_operator_from_flax_params_nesting():
    conv, variables, x = flax_conv_and_op((3,), 1, "VALID", 2, 3, (9,), use_bias=True)
    bias = np.asarray(variables["params"]["bias"])
    expected = np.asarray(conv.apply(variables, x)) - bias  # W is the linear part
    for params in (variables, variables["params"], variables["params"]["kernel"]):
        op = jaxcs.operators.conv_operator_from_flax(params, (9,), module=conv)
        np.testing.assert_allclose(op.mv(x), expected, rtol=1e-5, atol=1e-5)
    wrapper_vars = _Wrapper().init(jax.random.key(1), x)  # {'params': {'Conv_0': {...}}}
    expected = _Wrapper().apply(wrapper_vars, x) - wrapper_vars["params"]["Conv_0"]["bias"]
    op = jaxcs.operators.conv_operator_from_flax(wrapper_vars, (9,), padding="valid")
    np.testing.assert_allclose(op.mv(x), expected, rtol=1e-5, atol=1e-5)
    two = _TwoLayers().init(jax.random.key(2), x)
    with pytest.raises(ValueError, match="params"):
        jaxcs.operators.conv_operator_from_flax(two, (9,), padding="valid")
    op = jaxcs.operators.conv_operator_from_flax(two["params"]["Conv_1"], (7,), padding="valid")
    assert op.filters.shape == (3, 2, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(padding="CIRCULAR"), "padding"),
        (dict(padding=((1, 1),)), "padding"),
        (dict(padding="VALID", kernel_dilation=2), "kernel_dilation"),
        (dict(padding="VALID", input_dilation=(2,)), "input_dilation"),
    ],
    ids=["circular", "explicit-pads", "kernel-dilation", "input-dilation"],
)
def test_conv_operator_from_flax_rejects_unsupported_modules(kwargs, match):
    _, variables, _ = flax_conv_and_op((3,), 1, "VALID", 2, 3, (9,))
    module = nn.Conv(features=3, kernel_size=(3,), use_bias=False, **kwargs)
    with pytest.raises(ValueError, match=match):
        jaxcs.operators.conv_operator_from_flax(variables, (9,), module=module)


# --------------------------------------------------------------------------- MatrixOperator
def test_matrix_operator_matches_numpy(dtype):
    rng = np.random.default_rng(7)
    A = rng.standard_normal((6, 12)).astype(dtype)
    op = jaxcs.MatrixOperator(A, in_shape=(3, 4), out_shape=(2, 3))
    x = rng.standard_normal((5, 3, 4)).astype(dtype)
    z = rng.standard_normal((5, 2, 3)).astype(dtype)
    Wx, WTz = op.mv(x), op.rmv(z)
    assert Wx.shape == (5, 2, 3) and WTz.shape == (5, 3, 4)
    assert Wx.dtype == dtype and WTz.dtype == dtype
    A64 = A.astype(np.float64)
    np.testing.assert_allclose(np.asarray(Wx).reshape(5, 6), x.reshape(5, 12) @ A64.T, **TOL[dtype])
    np.testing.assert_allclose(np.asarray(WTz).reshape(5, 12), z.reshape(5, 6) @ A64, **TOL[dtype])
    np.testing.assert_array_equal(op.as_matrix(), A)
    np.testing.assert_array_equal(op.T.as_matrix(), A.T)
    np.testing.assert_array_equal(op.T.mv(z), WTz)
    default = jaxcs.MatrixOperator(A)
    assert default.in_shape == (12,) and default.out_shape == (6,)
    np.testing.assert_allclose(
        default.mv(x.reshape(5, 12)), np.asarray(Wx).reshape(5, 6), **TOL[dtype]
    )
    assert_dot_test(op, x[0], z[0], TOL[dtype]["rtol"])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jaxcs.MatrixOperator(np.ones(6, np.float32)), "matrix"),
        (lambda: jaxcs.MatrixOperator(np.ones((2, 3), np.int32)), "matrix"),
        (lambda: jaxcs.MatrixOperator(np.ones((2, 6), np.float32), in_shape=(4,)), "in_shape"),
        (
            lambda: jaxcs.MatrixOperator(np.ones((2, 6), np.float32), out_shape=(3,)),
            "out_shape",
        ),
        (lambda: jaxcs.MatrixOperator(np.ones((2, 6), np.float32)).mv(np.ones(5)), r"\bx\b"),
        (
            lambda: jaxcs.MatrixOperator(np.ones((2, 6), np.float32), in_shape=(2, 3)).mv(
                np.ones((3, 2))
            ),
            r"\bx\b",
        ),
        (lambda: jaxcs.MatrixOperator(np.ones((2, 6), np.float32)).rmv(np.ones(6)), r"\bz\b"),
    ],
    ids=["1d-matrix", "int-matrix", "in_shape", "out_shape", "mv-x", "mv-x-shape", "rmv-z"],
)
def test_matrix_operator_bad_shapes(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# --------------------------------------------------------------------------- bad arguments
def _w(*shape, dtype=np.float32):
    return np.ones(shape, dtype)


def test_padding_names_are_read_in_lower_case():
    """One vocabulary: Flax's upper-case names are read as jaxcs's lower-case ones."""
    for name in ("VALID", "Same", "CIRCULAR"):
        op = jaxcs.ConvOperator(_w(3, 2, 2), (6,), padding=name)
        assert op.padding == name.lower()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jaxcs.ConvOperator(_w(3, 2), (7,)), "filters"),  # rank 2 for 1-D
        (lambda: jaxcs.ConvOperator(_w(3, 2, 2), (5, 5)), "filters"),  # rank 3 for 2-D
        (lambda: jaxcs.ConvOperator(_w(3, 2, 2, dtype=np.int32), (7,)), "filters"),
        (lambda: jaxcs.ConvOperator(_w(3, 2, 2), (7,), stride=0), "stride"),
        (lambda: jaxcs.ConvOperator(_w(3, 3, 2, 2), (7, 7), stride=(1, 0)), "stride"),
        (lambda: jaxcs.ConvOperator(_w(3, 3, 2, 2), (7, 7), stride=(1, 1, 1)), "stride"),
        (lambda: jaxcs.ConvOperator(_w(3, 2, 2), (7,), padding="reflect"), "padding"),
        (lambda: jaxcs.ConvOperator(_w(5, 2, 2), (4,)), "valid.*filter.*D=4 < filter l=5"),
        (lambda: jaxcs.ConvOperator(_w(3, 5, 2, 2), (7, 4)), "valid.*axis 1"),
        (
            lambda: jaxcs.ConvOperator(_w(3, 2, 2), (7,), stride=2, padding="circular"),
            "circular.*stride",
        ),
        (
            lambda: jaxcs.ConvOperator(_w(3, 3, 2, 2), (6, 7), stride=2, padding="circular"),
            "circular.*stride",
        ),
    ],
    ids=[
        "filters-rank-1d",
        "filters-rank-2d",
        "filters-int",
        "stride-0",
        "stride-0-2d",
        "stride-len",
        "padding-unknown",
        "valid-filter-longer-than-input",
        "valid-filter-longer-than-input-2d",
        "circular-D-not-multiple-of-stride",
        "circular-D-not-multiple-of-stride-2d",
    ],
)
def test_conv_operator_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_valid_stride_not_dividing_uses_floor_like_flax():
    """Flax/PyTorch VALID: n = floor((D - l)/t) + 1; the last (D - l) mod t inputs are seen by
    no filter, so Wᵀ is exactly zero there (and only there)."""
    op, rng = make_op((10,), (5,), 2, "valid", 2, 3)  # (10 - 5) / 2: one input left over
    assert op.out_shape == (3, 3)
    back = np.asarray(op.rmv(rng.standard_normal(op.out_shape).astype(np.float32)))
    assert np.all(back[-1] == 0) and np.all(back[:-1] != 0)


@pytest.mark.parametrize(
    "in_spatial, filter_shape, padding, x_shape, z_shape",
    [
        ((7,), (3,), "valid", (7, 3), (5, 2)),  # wrong channel count; code has M not K
        ((7,), (3,), "valid", (8, 2), (5, 3, 1)),  # wrong spatial size; extra axis
        ((4, 5), (3, 2), "same", (4, 5, 1), (4, 4, 3)),
        ((4, 5), (3, 2), "circular", (5, 4, 2), (4, 5, 2)),
    ],
    ids=["1d-channels", "1d-spatial", "2d-same", "2d-circular"],
)
def test_mv_rmv_reject_bad_shapes(in_spatial, filter_shape, padding, x_shape, z_shape):
    op, _ = make_op(in_spatial, filter_shape, 1, padding, 2, 3)
    op.mv(np.ones(op.in_shape, np.float32))  # the right shapes work
    op.rmv(np.ones(op.out_shape, np.float32))
    with pytest.raises(ValueError, match=r"\bx\b"):
        op.mv(np.ones(x_shape, np.float32))
    with pytest.raises(ValueError, match=r"\bz\b"):
        op.rmv(np.ones(z_shape, np.float32))
    with pytest.raises(ValueError, match=r"\bz\b"):
        op.T.mv(np.ones(z_shape, np.float32))


def test_rmv_sparse_equals_dense_rmv(dtype):
    """``rmv_sparse`` (a code in index form) against ``rmv`` of the dense code and against
    NumPy, for both operator kinds, with batch axes, unused slots and a NaN value."""
    rng = np.random.default_rng(8)
    A = rng.standard_normal((12, 5)).astype(dtype)
    conv = jaxcs.ConvOperator(
        jnp.asarray(rng.standard_normal((3, 2, 4)).astype(dtype)), (8,), padding="same"
    )
    for op in (jaxcs.MatrixOperator(A, out_shape=(4, 3)), conv):
        size = math.prod(op.out_shape)
        indices = np.stack([rng.permutation(size)[:5] for _ in range(6)]).reshape(2, 3, 5)
        values = rng.standard_normal((2, 3, 5)).astype(dtype)
        mask = rng.random((2, 3, 5)) < 0.7
        code = jaxcs.SparseCode(
            jnp.asarray(indices, jnp.int32),
            jnp.asarray(np.where(mask, values, 0)),
            mask,
            op.out_shape,
        )
        dense = np.zeros((6, size))
        np.put_along_axis(dense, indices.reshape(6, 5), np.where(mask, values, 0).reshape(6, 5), 1)
        got = op.rmv_sparse(code)
        assert got.shape == (2, 3) + tuple(op.in_shape) and got.dtype == dtype
        expected = dense @ np.asarray(op.as_matrix(), np.float64)
        np.testing.assert_allclose(np.asarray(got).reshape(6, -1), expected, **TOL[dtype])
        np.testing.assert_allclose(got, op.rmv(code.to_dense()), **TOL[dtype])
        one = jax.jit(jax.vmap(op.rmv_sparse))(code)
        np.testing.assert_allclose(one, got, **TOL[dtype])
        x = rng.standard_normal((2, 3) + tuple(op.in_shape)).astype(dtype)
        residual = op.residual(x, code)
        assert residual.dtype == dtype
        np.testing.assert_allclose(
            np.asarray(residual).reshape(6, -1), x.reshape(6, -1) - expected, **TOL[dtype]
        )
        np.testing.assert_allclose(op.residual(x, code, sign=1), x + got, **TOL[dtype])
        bad = code.replace(values=code.values.at[0, 0, 0].set(jnp.nan))
        for out in (op.rmv_sparse(bad), op.residual(x, bad)):
            assert np.all(np.isnan(np.asarray(out)[0, 0]))
            assert np.all(np.isfinite(np.asarray(out)[1]))
        with pytest.raises(ValueError, match="batch shape"):
            op.residual(x[0], code)
        with pytest.raises(ValueError, match="sign"):
            op.residual(x, code, sign=2)
        with pytest.raises(ValueError, match=r"\bx must have shape"):
            op.residual(x[..., :-1], code)


def test_rmv_sparse_rejects_a_code_of_another_shape():
    code = jaxcs.TopKModel(2).project_sparse(jnp.arange(6.0))
    for op in (
        jaxcs.MatrixOperator(np.ones((5, 3), np.float32)),
        jaxcs.ConvOperator(jnp.ones((3, 1, 2)), (6,)),
    ):
        with pytest.raises(ValueError, match="out_shape"):
            op.rmv_sparse(code)


@jax.jit
def _rmv_sparse_and_matrix(op, code, x):
    return op.rmv_sparse(code), op.residual(x, code), op.as_matrix()


@pytest.mark.parametrize(CASE_ARGS, CASE_PARAMS)
def test_conv_rmv_sparse_scatter_matches_dense_matrix(
    in_spatial, filter_shape, stride, padding, M, K, monkeypatch
):
    """The scatter path of ``ConvOperator.rmv_sparse`` (filters placed at their shifts,
    wrapped or cropped at the border) against the explicit matrix, every geometry; the
    threshold is lowered so that tiny codes take that path too."""
    monkeypatch.setattr(jaxcs.operators.conv, "SPARSE_FRACTION", 1)
    op, rng = make_op(in_spatial, filter_shape, stride, padding, M, K)
    size = math.prod(op.out_shape)
    slots = max(1, size // 2)
    indices = np.stack([rng.permutation(size)[:slots] for _ in range(3)])
    values = rng.standard_normal((3, slots)).astype(np.float32)
    mask = np.ones((3, slots), bool)
    mask[0, -1] = False
    code = jaxcs.SparseCode(
        jnp.asarray(indices, jnp.int32), jnp.asarray(np.where(mask, values, 0)), mask, op.out_shape
    )
    x = rng.standard_normal((3,) + tuple(op.in_shape)).astype(np.float32)
    got, residual, A = _rmv_sparse_and_matrix(op, code, x)
    dense = np.zeros((3, size))
    np.put_along_axis(dense, indices, np.where(mask, values, 0), 1)
    expected = dense @ np.asarray(A, np.float64)
    np.testing.assert_allclose(np.asarray(got).reshape(3, -1), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(residual).reshape(3, -1), x.reshape(3, -1) - expected, rtol=1e-5, atol=1e-5
    )


# --------------------------------------------------------------------------- W Wᵀ z
@jax.jit
def _normal_sparse(op, code, table):
    return op.normal_sparse(code, table)


@jax.jit
def _normal_sparse_forms(op, code, onto, table):
    return dict(
        fused=op.normal_sparse(code, table, scale=-0.5, onto=onto, add_code=True),
        one=jax.vmap(jax.vmap(lambda c: op.normal_sparse(c, table)))(code),
    )


def _normal_case(in_spatial, filter_shape, stride, padding, M, K, dtype, dense_reference):
    """An operator, a ``(2, 3)``-batch code of up to 20 slots (some unused), ``onto``, and the
    float64 ``(6, size)`` dense code and ``A Aᵀ z`` from the NumPy reference ``A``."""
    op, rng = make_op(in_spatial, filter_shape, stride, padding, M, K, dtype, seed=3)
    A = dense_reference(op.filters, in_spatial, stride, padding)
    size = math.prod(op.out_shape)
    slots = min(size, 20)
    indices = np.stack([rng.permutation(size)[:slots] for _ in range(6)]).reshape(2, 3, slots)
    mask = rng.random((2, 3, slots)) < 0.8
    values = np.where(mask, rng.standard_normal((2, 3, slots)), 0).astype(dtype)
    code = jaxcs.SparseCode(
        jnp.asarray(indices, jnp.int32), jnp.asarray(values), mask, op.out_shape
    )
    onto = rng.standard_normal((2, 3) + op.out_shape).astype(dtype)
    dense = np.zeros((6, size))
    np.put_along_axis(dense, indices.reshape(6, slots), values.reshape(6, slots), 1)
    expected = dense @ A @ A.T
    tol = TOL[dtype] | {"atol": TOL[dtype]["atol"] * max(1.0, np.abs(expected).max())}
    return op, code, onto, dense, expected, tol


# float64 on a few geometries only (each case compiles its own program: suite time)
NORMAL_X64_CASES = ("1d-valid-t2", "1d-circular-t2-alias", "2d-circular-t2", "2d-same-t2")


NORMAL_PARAMS = [
    pytest.param(*p.values, np.dtype(dtype), id=f"{p.id}-{dtype.__name__}")
    for dtype in (np.float32, np.float64)
    for p in CASE_PARAMS
    if dtype == np.float32 or p.id in NORMAL_X64_CASES
]


@pytest.mark.parametrize(CASE_ARGS + ", dtype", NORMAL_PARAMS)
def test_normal_sparse_equals_dense_normal_operator(
    in_spatial, filter_shape, stride, padding, M, K, dtype, dense_reference
):
    """``normal_sparse`` (``W Wᵀ z`` from the correlation table for ``"valid"``/``"circular"``,
    ``mv(rmv_sparse(z))`` for ``"same"``, which has no exact table) against ``A Aᵀ z`` with
    the NumPy reference ``A``, every geometry (1-D and 2-D, strides 1 and 2, aliased circular
    tables), float32 and float64, with batch axes, unused slots and up to 20 slots (beyond
    the unrolled window loop)."""
    case = (in_spatial, filter_shape, stride, padding, M, K, dtype, dense_reference)
    with jax.enable_x64(dtype == np.float64):
        op, code, _, _, expected, tol = _normal_case(*case)
        table = op.gram_table()
        assert isinstance(table, jaxcs.operators.BorderCorrelationTable) == (padding == "same")
        got = _normal_sparse(op, code, table)
    assert got.shape == (2, 3) + op.out_shape and got.dtype == dtype
    np.testing.assert_allclose(np.asarray(got).reshape(6, -1), expected, **tol)


@pytest.mark.parametrize(
    CASE_ARGS,
    [p for p in CASE_PARAMS if p.id in ("1d-valid-t2", "1d-circular-t2-alias", "2d-circular-t2")],
)
def test_normal_sparse_one_code_and_fused_form(
    in_spatial, filter_shape, stride, padding, M, K, dense_reference
):
    """One code at a time under vmap (as inside a solver) equals the batch, and
    ``normal_sparse(z, scale=s, onto=o, add_code=True) = o + s · W Wᵀ z + z``."""
    case = (in_spatial, filter_shape, stride, padding, M, K, np.dtype(np.float32))
    op, code, onto, dense, expected, tol = _normal_case(*case, dense_reference)
    got = _normal_sparse_forms(op, code, onto, op.gram_table())
    np.testing.assert_allclose(np.asarray(got["one"]).reshape(6, -1), expected, **tol)
    fused = onto.reshape(6, -1) - 0.5 * expected + dense
    np.testing.assert_allclose(np.asarray(got["fused"]).reshape(6, -1), fused, **tol)


def test_normal_sparse_table_choice_nan_and_checks():
    """The table is computed when not given; a DenseGram table (MatrixOperator, or any
    operator's dense Gram) gathers its rows; a NaN value spoils the code's whole result;
    the cost estimates say where a table form exists; a wrong ``onto`` or code is refused."""
    rng = np.random.default_rng(5)
    conv, _ = make_op((9,), (3,), 1, "valid", 2, 3)
    matrix = jaxcs.MatrixOperator(rng.standard_normal((12, 5)).astype(np.float32), out_shape=(4, 3))
    for op in (conv, matrix):
        size = math.prod(op.out_shape)
        indices = np.stack([rng.permutation(size)[:4] for _ in range(2)])
        values = rng.standard_normal((2, 4)).astype(np.float32)
        code = jaxcs.SparseCode(
            jnp.asarray(indices, jnp.int32),
            jnp.asarray(values),
            np.ones((2, 4), bool),
            op.out_shape,
        )
        A = np.asarray(op.as_matrix(), np.float64)
        dense = np.zeros((2, size))
        np.put_along_axis(dense, indices, values, 1)
        expected = (dense @ A @ A.T).reshape((2,) + op.out_shape)
        for table in (None, op.gram_table()):
            np.testing.assert_allclose(
                op.normal_sparse(code, table), expected, rtol=1e-5, atol=1e-5
            )
        bad = code.replace(values=code.values.at[0, 1].set(jnp.nan))
        out = np.asarray(op.normal_sparse(bad, op.gram_table()))
        assert np.all(np.isnan(out[0])) and np.all(np.isfinite(out[1]))
        with pytest.raises(ValueError, match="out_shape"):
            op.normal_sparse(jaxcs.TopKModel(1).project_sparse(jnp.arange(7.0)))
    assert isinstance(matrix.gram_table(), jaxcs.operators.DenseGram)
    assert matrix.normal_sparse_cost(4) is None and matrix.mv_cost() == 12 * 5
    assert conv.normal_sparse_cost(4) == 4 * 5 * 3 + 7 * 3 and conv.mv_cost() == 7 * 3 * 2 * 3
    same, _ = make_op((9,), (3,), 1, "same", 2, 3)
    assert same.normal_sparse_cost(4) is None
    with pytest.raises(ValueError, match="onto"):
        conv.normal_sparse(code_for(conv), onto=jnp.zeros(conv.out_shape))


def code_for(op, batch=2):
    """A code of ``batch`` problems with one used slot each (index 0, value 1)."""
    return jaxcs.SparseCode(
        jnp.zeros((batch, 1), jnp.int32),
        jnp.ones((batch, 1)),
        jnp.ones((batch, 1), bool),
        op.out_shape,
    )
