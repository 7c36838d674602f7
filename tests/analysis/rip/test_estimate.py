"""Model-RIP estimator (eq. 1) against NumPy computations on the dense ``W``.

References are built from the loop-built dense matrix ``A = W`` (``dense_reference`` fixture):
the rows of ``A`` are the columns of ``Φ = Wᵀ``, so for a code ``z`` with support ``S``
``‖Wᵀz‖ = ‖Aᵀz‖``, ``(WWᵀz)_S = (A Aᵀ z)[S]`` and ``G_S = A[S] A[S]ᵀ``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
import jaxcs.analysis.rip.estimate
from jaxcs import BlockModel, PoolingModel, TopKModel
from jaxcs.analysis.rip.cost import chunk_bucket

TOL32 = dict(rtol=2e-5, atol=2e-5)
TOL64 = dict(rtol=1e-10, atol=1e-10)
RATIO_NAMES = ("ratio_wt", "ratio_wwt", "ratio_wwt_full")
ALL_NAMES = RATIO_NAMES + ("eig_min", "eig_max")


# --------------------------------------------------------------------------- helpers
def make_conv(in_spatial, filter_shape, stride, padding, M, K, *, seed=0, dtype=np.float32):
    """A random ConvOperator and its filters as float64 NumPy."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(tuple(filter_shape) + (M, K)) / math.sqrt(M * math.prod(filter_shape))
    op = jaxcs.ConvOperator(jnp.asarray(w.astype(dtype)), in_spatial, stride, padding)
    return op, w.astype(dtype).astype(np.float64)


def numpy_codes(code):
    """Dense ``(B, size)`` float64 codes and per-code supports, from the index form in NumPy."""
    idx, val, mask = (np.asarray(a) for a in (code.indices, code.values, code.mask))
    size = math.prod(code.shape)
    z = np.zeros((idx.shape[0], size))
    supports = []
    for b in range(idx.shape[0]):
        S = idx[b][mask[b]]
        assert len(set(S.tolist())) == len(S), "a model code has distinct non-zero positions"
        z[b, S] = val[b][mask[b]]
        supports.append(S)
    return z, supports


def numpy_ratios(A, code):
    """Every quantity of :func:`jaxcs.analysis.code_ratios`, from the dense ``A`` (float64)."""
    z, supports = numpy_codes(code)
    out = {name: [] for name in ALL_NAMES}
    for zb, S in zip(z, supports, strict=True):
        x = A.T @ zb
        y = A @ x
        nz = np.linalg.norm(zb)
        out["ratio_wt"].append(np.linalg.norm(x) / nz)
        out["ratio_wwt"].append(np.linalg.norm(y[S]) / nz)
        out["ratio_wwt_full"].append(np.linalg.norm(y) / nz)
        ev = np.linalg.eigvalsh(A[S] @ A[S].T)
        out["eig_min"].append(ev[0])
        out["eig_max"].append(ev[-1])
    return {name: np.array(v) for name, v in out.items()}


@jax.jit
def both_methods(op, code):
    """Every quantity by both methods, in one compiled program (compiles dominate the time)."""
    return {
        method: jaxcs.analysis.code_ratios(
            op, code, method=method, eigenvalues=True, full_ratio=True
        )
        for method in ("gram", "conv")
    }


def stack(*trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


# --------------------------------------------------------------------------- code_ratios
CONV_CASES = [
    # id, in_spatial, filter_shape, stride, padding, M, K, model
    ("1d-valid-t1-block", (10,), (3,), 1, "valid", 2, 5, BlockModel(3)),
    ("1d-valid-t2-pool", (11,), (5,), 2, "valid", 2, 4, PoolingModel((2,), k=3)),
    ("1d-circular-t1-pool", (8,), (3,), 1, "circular", 2, 4, PoolingModel((2,), k=5)),
    ("1d-circular-t2-alias-topk", (6,), (5,), 2, "circular", 1, 3, TopKModel(4)),
    ("1d-same-t2-block", (9,), (4,), 2, "same", 2, 3, BlockModel(2)),
    ("2d-valid-t2-block", (7, 7), (3, 3), 2, "valid", 1, 3, BlockModel(2)),
    ("2d-circular-t21-pool-all", (6, 4), (3, 2), (2, 1), "circular", 1, 2, PoolingModel((2, 2))),
    ("2d-same-t1-topk", (5, 5), (3, 3), 1, "same", 1, 2, TopKModel(5)),
]


@pytest.mark.parametrize(
    "in_spatial, filter_shape, stride, padding, M, K, model",
    [c[1:] for c in CONV_CASES],
    ids=[c[0] for c in CONV_CASES],
)
def test_code_ratios_match_dense_numpy(
    dense_reference, in_spatial, filter_shape, stride, padding, M, K, model
):
    op, w = make_conv(in_spatial, filter_shape, stride, padding, M, K, seed=len(in_spatial) + K)
    A = dense_reference(w, in_spatial, stride, padding)
    code = model.sample_sparse(jr.key(K + M), op.out_shape, (6,))
    ref = numpy_ratios(A, code)
    assert np.all(ref["eig_max"] > ref["eig_min"] + 1e-3) or model.k in (None, 1)
    got = both_methods(op, code)
    for method, out in got.items():
        assert set(out) == set(ALL_NAMES)
        for name in ALL_NAMES:
            assert out[name].shape == (6,)
            np.testing.assert_allclose(out[name], ref[name], **TOL32, err_msg=f"{method} {name}")
    for name in ALL_NAMES:
        np.testing.assert_allclose(got["gram"][name], got["conv"][name], **TOL32, err_msg=name)


MATRIX_CASES = [
    ("topk-vector", (12,), TopKModel(4)),
    ("block-2d-out", (4, 3), BlockModel(2)),
]


@pytest.mark.parametrize(
    "out_shape, model", [c[1:] for c in MATRIX_CASES], ids=[c[0] for c in MATRIX_CASES]
)
def test_code_ratios_matrix_operator(out_shape, model):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((math.prod(out_shape), 7)) / math.sqrt(7)
    op = jaxcs.MatrixOperator(jnp.asarray(A, jnp.float32), out_shape=out_shape)
    A = np.asarray(op.matrix, np.float64)
    code = model.sample_sparse(jr.key(4), op.out_shape, (5,))
    ref = numpy_ratios(A, code)
    for method, out in both_methods(op, code).items():
        for name in ALL_NAMES:
            np.testing.assert_allclose(out[name], ref[name], **TOL32, err_msg=f"{method} {name}")


def test_code_ratios_optional_outputs():
    op, _ = make_conv((8,), (3,), 1, "valid", 1, 3)
    code = BlockModel(2).sample_sparse(jr.key(0), op.out_shape, (3,))
    for method in ("gram", "conv"):
        shapes = jax.eval_shape(
            lambda op, code, m=method: jaxcs.analysis.code_ratios(op, code, method=m), op, code
        )
        assert set(shapes) == {"ratio_wt", "ratio_wwt"}
    with pytest.raises(ValueError, match="method"):
        jaxcs.analysis.code_ratios(op, code, method="dense")


F64_CASES = [
    ("1d-circular-alias", (6,), (5,), 2, "circular", 1, 3, TopKModel(4)),
    ("2d-same", (5, 4), (3, 2), 1, "same", 2, 2, PoolingModel((2, 2), k=3)),
]


@pytest.mark.parametrize(
    "in_spatial, filter_shape, stride, padding, M, K, model",
    [c[1:] for c in F64_CASES],
    ids=[c[0] for c in F64_CASES],
)
def test_code_ratios_float64(
    x64, dense_reference, in_spatial, filter_shape, stride, padding, M, K, model
):
    op, w = make_conv(in_spatial, filter_shape, stride, padding, M, K, seed=5, dtype=np.float64)
    assert op.dtype == jnp.float64
    A = dense_reference(w, in_spatial, stride, padding)
    code = model.sample_sparse(jr.key(1), op.out_shape, (4,), dtype=jnp.float64)
    ref = numpy_ratios(A, code)
    for method, out in both_methods(op, code).items():
        for name in ALL_NAMES:
            assert out[name].dtype == jnp.float64, name
            np.testing.assert_allclose(out[name], ref[name], **TOL64, err_msg=f"{method} {name}")


# --------------------------------------------------------------------------- the estimator
# One static configuration shared by most tests: jit caches it across tests, and compiling the
# estimator dominates the run time. num_samples, key, k and the filters are traced.
STD = dict(chunk_size=16, full_ratio=True)
N_KEEP = 45  # keep_samples makes num_samples static


def small_op(seed=0, padding="valid"):
    op, _ = make_conv((12,), (3,), 1, padding, 2, 6, seed=seed)
    return op


def test_estimate_kept_samples_follow_the_key_schedule_and_numpy(dense_reference):
    """Chunk ``c`` draws ``model.sample_sparse(fold_in(key, c), ...)`` (statistics docstring);
    every kept sample equals the NumPy value on that code, the tail chunk is masked, and every
    summary statistic equals NumPy on the kept samples."""
    op, w = make_conv((12,), (3,), 1, "valid", 2, 6, seed=1)
    A = dense_reference(w, (12,), 1, "valid")
    model, key, n, chunk = BlockModel(3), jr.key(7), N_KEEP, STD["chunk_size"]
    est = jaxcs.estimate_model_rip(key, op, model, n, keep_samples=True, **STD)
    refs = [
        numpy_ratios(A, model.sample_sparse(jr.fold_in(key, c), op.out_shape, (chunk,)))
        for c in range(-(-n // chunk))
    ]
    for name in ALL_NAMES:
        kept = np.asarray(est.samples[name])
        assert kept.shape == (n,)
        ref = np.concatenate([r[name] for r in refs])[:n]
        np.testing.assert_allclose(kept, ref, **TOL32, err_msg=name)
        stats = getattr(est, name)
        assert int(stats.count) == n and int(stats.nonfinite) == 0
        np.testing.assert_allclose(stats.mean, ref.mean(), rtol=1e-5)
        np.testing.assert_allclose(stats.std, ref.std(), rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(stats.min, ref.min(), **TOL32)
        np.testing.assert_allclose(stats.max, ref.max(), **TOL32)
    assert int(est.num_samples) == n and int(est.status) == jaxcs.Status.COMPLETED
    assert est.status.dtype == jnp.int32 and est.extra is None


def test_estimate_eigenvalues_bracket_ratios_and_delta_bounds():
    op = small_op(seed=2)
    est = jaxcs.estimate_model_rip(jr.key(3), op, BlockModel(4), N_KEEP, keep_samples=True, **STD)
    s = {name: np.asarray(est.samples[name], np.float64) for name in ALL_NAMES}
    tol = 1e-5
    # Rayleigh quotient and ‖G_S z‖/‖z‖ both lie in [λ_min, λ_max] of G_S.
    assert np.all(s["eig_min"] - tol <= s["ratio_wt"] ** 2)
    assert np.all(s["ratio_wt"] ** 2 <= s["eig_max"] + tol)
    assert np.all(s["eig_min"] - tol <= s["ratio_wwt"])
    assert np.all(s["ratio_wwt"] <= s["eig_max"] + tol)
    assert np.all(s["ratio_wwt"] <= s["ratio_wwt_full"] + tol)  # restriction shrinks the norm
    assert np.ptp(s["ratio_wt"]) > 0.05  # not a degenerate sample
    # Summary statistics are exactly those of the kept samples.
    for name in ALL_NAMES:
        stats, v = getattr(est, name), s[name]
        np.testing.assert_allclose(stats.mean, v.mean(), rtol=1e-5)
        np.testing.assert_allclose(stats.std, v.std(), rtol=1e-3)
        assert float(stats.min) == pytest.approx(v.min(), rel=1e-6)
        assert float(stats.max) == pytest.approx(v.max(), rel=1e-6)
        edges = np.linspace(0.0, 4.0, 401)
        np.testing.assert_array_equal(stats.histogram, np.histogram(v, edges)[0])
    delta = max(1 - s["eig_min"].min(), s["eig_max"].max() - 1)
    assert float(est.delta_lower_bound) == pytest.approx(delta, rel=1e-6, abs=1e-6)
    delta_z = max(1 - s["ratio_wt"].min() ** 2, s["ratio_wt"].max() ** 2 - 1)
    assert float(est.delta_lower_bound_random_z) == pytest.approx(delta_z, rel=1e-5, abs=1e-6)
    # The exact per-support bound dominates the random-code one.
    assert float(est.delta_lower_bound) >= float(est.delta_lower_bound_random_z) - 1e-6
    summary = est.summary()
    assert summary["num_samples"] == N_KEEP and summary["status"] == "COMPLETED"
    assert "filters_finite" not in summary and "extra" not in summary
    assert summary["ratio_wt"]["q50"] == pytest.approx(np.quantile(s["ratio_wt"], 0.5), rel=1e-6)
    assert summary["delta_lower_bound"] == pytest.approx(delta, rel=1e-6, abs=1e-6)


def test_estimate_without_eigenvalues_uses_random_codes_for_delta():
    # Structure only (eval_shape traces without compiling).
    shapes = jax.eval_shape(
        lambda: jaxcs.estimate_model_rip(
            jr.key(0), small_op(), BlockModel(3), 50, eigenvalues=False
        )
    )
    assert shapes.eig_min is None and shapes.eig_max is None and shapes.ratio_wwt_full is None
    assert shapes.samples is None and shapes.ratio_wt.mean.shape == ()
    # Without eigenvalues, delta_lower_bound falls back on the random-code ratios.
    est = jaxcs.estimate_model_rip(
        jr.key(0), small_op(), BlockModel(3), N_KEEP, keep_samples=True, **STD
    )
    est = est.replace(eig_min=None, eig_max=None)
    r = np.asarray(est.samples["ratio_wt"], np.float64)
    expected = max(1 - r.min() ** 2, r.max() ** 2 - 1)
    assert float(est.delta_lower_bound) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_estimate_is_deterministic_in_the_key():
    op, model = small_op(), BlockModel(3)
    a = jaxcs.estimate_model_rip(jr.key(5), op, model, 100, **STD)
    b = jaxcs.estimate_model_rip(jr.key(5), op, model, 100, **STD)
    c = jaxcs.estimate_model_rip(jr.key(6), op, model, 100, **STD)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert float(a.ratio_wt.mean) != float(c.ratio_wt.mean)
    assert float(a.eig_min.min) != float(c.eig_min.min)


def test_estimate_gram_and_conv_agree():
    """Same key and chunk size: the same codes, so the same samples and statistics (the
    per-padding numerics of both methods are checked on code_ratios above)."""
    op, model = small_op(seed=4), BlockModel(4)
    kw = dict(keep_samples=True, **STD)
    g = jaxcs.estimate_model_rip(jr.key(9), op, model, N_KEEP, method="gram", **kw)
    c = jaxcs.estimate_model_rip(jr.key(9), op, model, N_KEEP, method="conv", **kw)
    for name in ALL_NAMES:
        np.testing.assert_allclose(g.samples[name], c.samples[name], **TOL32, err_msg=name)
        sg, sc = getattr(g, name), getattr(c, name)
        assert int(sg.count) == int(sc.count) == N_KEEP
        for field in ("mean", "std", "min", "max"):
            np.testing.assert_allclose(
                getattr(sg, field), getattr(sc, field), **TOL32, err_msg=f"{name}.{field}"
            )


def test_fig2_setup_ratios():
    """Fig. 2: ratio (a) and restricted ratio (b) near 1, the full ratio near 1.94."""
    w = jaxcs.gaussian_filters(jr.key(0), (5,), 32, 96)
    op = jaxcs.ConvOperator(w, (32,), 1, "valid")
    est = jaxcs.estimate_model_rip(
        jr.key(1), op, BlockModel(10), 20000, full_ratio=True, eigenvalues=False
    )
    assert int(est.ratio_wt.count) == 20000
    assert abs(float(est.ratio_wt.mean) - 1) < 0.05
    assert abs(float(est.ratio_wwt.mean) - 1) < 0.1
    assert 1.7 < float(est.ratio_wwt_full.mean) < 2.2
    assert 0 < float(est.ratio_wt.std) < 0.1


# --------------------------------------------------------------------------- compilation
def test_estimate_does_not_recompile(assert_no_compiles, compile_messages):
    """With the default chunk: a new key, k, operator or num_samples (77 and 100 share the
    chunk of 128) reuses the program."""
    m10, m12, m20 = BlockModel(10), BlockModel(12), BlockModel(20)
    op1 = make_conv((5,), (3,), 1, "valid", 1, 24, seed=10)[0]
    op2 = make_conv((5,), (3,), 1, "valid", 1, 24, seed=11)[0]
    assert m10.num_slots(op1.out_shape) == m12.num_slots(op1.out_shape) == 16
    assert m20.num_slots(op1.out_shape) == 24
    k1, k2 = jr.key(1), jr.key(2)

    def run(key, op, model, n):
        return jaxcs.estimate_model_rip(key, op, model, n)

    first = jax.block_until_ready(run(k1, op1, m10, 100))
    with assert_no_compiles():
        results = [
            run(k2, op1, m10, 100),
            run(k1, op1, m12, 100),
            run(k1, op2, m10, 100),
            run(k1, op1, m10, 77),
        ]
        jax.block_until_ready(results)
    # Each call really used its new argument.
    means = [float(first.ratio_wt.mean)] + [float(r.ratio_wt.mean) for r in results[:3]]
    assert len(set(means)) == 4
    assert int(results[3].ratio_wt.count) == 77
    assert [chunk_bucket(n) for n in (1, 2, 3, 77, 100, 128, 129)] == [1, 2, 4, 128, 128, 128, 256]
    # The guard is meaningful: a new capacity is a new static shape and compiles.
    with compile_messages() as messages:
        jax.block_until_ready(run(k1, op1, m20, 100))
    assert messages


# --------------------------------------------------------------------------- vmap
def _assert_estimates_close(batched, index, single):
    for name in ALL_NAMES[:2] + ALL_NAMES[3:]:
        sb, ss = getattr(batched, name), getattr(single, name)
        assert int(sb.count[index]) == int(ss.count)
        for field in ("mean", "std", "min", "max"):
            np.testing.assert_allclose(
                getattr(sb, field)[index], getattr(ss, field), rtol=1e-5, atol=1e-6
            )


def test_vmap_over_operators():
    ops = [small_op(seed=s) for s in (20, 21, 22)]
    key, model = jr.key(4), BlockModel(3)
    batched = jax.vmap(lambda op: jaxcs.estimate_model_rip(key, op, model, 50, **STD))(stack(*ops))
    assert batched.ratio_wt.mean.shape == (3,)
    singles = [jaxcs.estimate_model_rip(key, op, model, 50, **STD) for op in ops]
    for i, single in enumerate(singles):
        _assert_estimates_close(batched, i, single)
    assert len({float(s.ratio_wt.mean) for s in singles}) == 3


def test_vmap_over_models_with_array_k():
    op, key = small_op(seed=3), jr.key(8)
    models = BlockModel(k=jnp.array([2, 4]), capacity=8)
    batched = jax.vmap(lambda m: jaxcs.estimate_model_rip(key, op, m, 60, **STD))(models)
    for i, k in enumerate((2, 4)):
        single = jaxcs.estimate_model_rip(key, op, BlockModel(k, capacity=8), 60, **STD)
        _assert_estimates_close(batched, i, single)
    # k = 2 and k = 4 really differ: the eigenvalue spread grows with k.
    assert float(batched.eig_max.mean[1]) > float(batched.eig_max.mean[0])


# --------------------------------------------------------------------------- non-finite
def _poisoned_op(value):
    w = np.array(small_op(seed=6).filters)
    w[1, 0, 2] = value
    return jaxcs.ConvOperator(jnp.asarray(w), (12,), 1, "valid")


@pytest.mark.parametrize(
    "method",
    ["conv", "gram", "auto"],
)
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_nonfinite_operator_is_reported_not_raised(method, value):
    n = 40
    est = jaxcs.estimate_model_rip(
        jr.key(0), _poisoned_op(value), BlockModel(2), n, method=method, **STD
    )
    assert int(est.status) == jaxcs.Status.NONFINITE
    assert est.summary()["status"] == "NONFINITE"
    for name in ("ratio_wt", "ratio_wwt"):
        stats = getattr(est, name)
        assert int(stats.nonfinite) == n, name
        assert int(stats.count) == 0, name


def test_nonfinite_operator_gives_nonfinite_eigenvalues():
    """eigvalsh does not propagate NaN (it returns finite garbage for a Gram holding NaN):
    every eigenvalue sample of a non-finite operator must be reported non-finite."""
    op, model, key = _poisoned_op(np.nan), BlockModel(2), jr.key(1)
    est = jaxcs.estimate_model_rip(key, op, model, N_KEEP, keep_samples=True, **STD)
    for name in ("eig_min", "eig_max"):
        assert not np.any(np.isfinite(np.asarray(est.samples[name]))), name
        assert int(getattr(est, name).nonfinite) == N_KEEP
    assert not np.isfinite(float(est.delta_lower_bound))


def test_code_ratios_nan_gram_entry_gives_nan_eigenvalues():
    """The per-support guard: a code whose restricted Gram holds a NaN gets NaN extremes."""
    op = _poisoned_op(np.nan)
    code = jaxcs.SparseCode(
        jnp.array([[2, 7]]), jnp.array([[1.0, 0.5]]), jnp.array([[True, True]]), op.out_shape
    )
    out = jaxcs.analysis.code_ratios(op, code, eigenvalues=True)
    assert np.isnan(np.asarray(out["eig_min"])).all() and np.isnan(np.asarray(out["eig_max"])).all()


def test_finite_operator_reports_finite():
    est = jaxcs.estimate_model_rip(jr.key(0), small_op(), BlockModel(2), 30, **STD)
    assert int(est.status) == jaxcs.Status.COMPLETED
    for name in ALL_NAMES:
        assert int(getattr(est, name).nonfinite) == 0
        assert int(getattr(est, name).count) == 30


# --------------------------------------------------------------------------- bad arguments
@pytest.fixture
def no_trace(monkeypatch):
    """Replace the jitted core so that reaching it (i.e. tracing) fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("argument validation let a bad argument reach the jitted core")

    monkeypatch.setattr(jaxcs.analysis.rip.estimate, "_estimate", forbidden)


BAD_ARGUMENTS = [
    pytest.param(dict(num_samples=0), "num_samples", id="num_samples-0"),
    pytest.param(dict(num_samples=-5), "num_samples", id="num_samples-negative"),
    pytest.param(dict(num_samples=2.5), "num_samples", id="num_samples-float"),
    pytest.param(dict(num_samples=True), "num_samples", id="num_samples-bool"),
    pytest.param(dict(model=BlockModel(97)), "k=97 is out of range", id="k-too-large"),
    pytest.param(dict(model=BlockModel(0)), "model.k", id="k-zero"),
    pytest.param(dict(method="dense"), "method", id="method"),
    pytest.param(dict(chunk_size=0), "chunk_size", id="chunk-zero"),
    pytest.param(dict(chunk_size=-3), "chunk_size", id="chunk-negative"),
    pytest.param(dict(chunk_size=2.5), "chunk_size", id="chunk-float"),
    pytest.param(dict(histogram_range=(2.0, 1.0)), "histogram_range", id="range-reversed"),
    pytest.param(dict(histogram_range=(1.0, 1.0)), "histogram_range", id="range-empty"),
    pytest.param(dict(histogram_range=(0.0, float("nan"))), "histogram_range", id="range-nan"),
    pytest.param(dict(bins=0), "bins", id="bins-zero"),
    pytest.param(
        dict(model=TopKModel(2000), eigen_method="dense"), "eigen_method", id="eigen-capacity"
    ),
    pytest.param(dict(eigen_method="eig"), "eigen_method", id="eigen-method"),
    pytest.param(dict(lanczos_steps=0), "lanczos_steps", id="lanczos-steps"),
    pytest.param(dict(histogram_range=(0.0, 1.0, 2.0)), "histogram_range", id="range-three"),
    pytest.param(dict(chunk_size="a"), "chunk_size", id="chunk-string"),
]


@pytest.mark.parametrize("changes, match", BAD_ARGUMENTS)
def test_bad_arguments_raise_before_tracing(no_trace, changes, match):
    w = np.random.default_rng(0).standard_normal((5, 4, 96)).astype(np.float32)
    op = jaxcs.ConvOperator(jnp.asarray(w), (32,), 1, "valid")  # K = 96, code (28, 96)
    args = dict(key=jr.key(0), op=op, model=BlockModel(10), num_samples=10) | changes
    with pytest.raises(ValueError, match=match):
        jaxcs.estimate_model_rip(**args)


def test_eigenvalues_false_allows_a_large_capacity():
    op = jaxcs.ConvOperator(jnp.ones((1, 1, 2100)), (1,), 1, "valid")
    est = jaxcs.estimate_model_rip(jr.key(0), op, TopKModel(2000), 2, eigenvalues=False)
    assert int(est.ratio_wt.count) == 2


def test_wrong_types_raise_type_error(no_trace):
    op = small_op()
    with pytest.raises(TypeError, match="model"):
        jaxcs.estimate_model_rip(jr.key(0), op, "block", 10)
    with pytest.raises(TypeError, match="op"):
        jaxcs.estimate_model_rip(jr.key(0), np.eye(4), BlockModel(1), 10)
    with pytest.raises(TypeError, match="op"):  # the protocol's methods alone are not enough
        jaxcs.estimate_model_rip(jr.key(0), _DuckOperator(op), BlockModel(1), 10)


class _DuckOperator:
    """Has ``mv``, ``rmv``, shapes and dtype, but is no :class:`jaxcs.AbstractOperator`."""

    def __init__(self, op):
        self.mv, self.rmv, self.dtype = op.mv, op.rmv, op.dtype
        self.in_shape, self.out_shape = op.in_shape, op.out_shape


def test_any_operator_is_accepted():
    """``op.T`` (a TransposedOperator with the dense defaults) is an operator like any other:
    the same numbers as the MatrixOperator of its matrix (same codes: same key and shapes)."""
    op = small_op(seed=12).T
    dense = jaxcs.MatrixOperator(op.as_matrix(), out_shape=op.out_shape)
    model, kw = BlockModel(2), dict(keep_samples=True, **STD)
    a = jaxcs.estimate_model_rip(jr.key(3), op, model, N_KEEP, **kw)
    b = jaxcs.estimate_model_rip(jr.key(3), dense, model, N_KEEP, **kw)
    for name in ALL_NAMES:
        np.testing.assert_allclose(a.samples[name], b.samples[name], **TOL32, err_msg=name)
    assert int(a.status) == jaxcs.Status.COMPLETED


# --------------------------------------------------------------------------- float64
def test_estimate_float64(x64, dense_reference):
    op, w = make_conv((10,), (3,), 1, "circular", 2, 4, seed=8, dtype=np.float64)
    A = dense_reference(w, (10,), 1, "circular")
    model, key = BlockModel(3), jr.key(2)
    est = jaxcs.estimate_model_rip(
        key, op, model, 20, chunk_size=20, keep_samples=True, full_ratio=True, eigenvalues=False
    )
    code = model.sample_sparse(jr.fold_in(key, 0), op.out_shape, (20,), dtype=jnp.float64)
    ref = numpy_ratios(A, code)
    for name in RATIO_NAMES:
        assert est.samples[name].dtype == jnp.float64
        assert getattr(est, name).mean.dtype == jnp.float64
        np.testing.assert_allclose(est.samples[name], ref[name], **TOL64, err_msg=name)
        np.testing.assert_allclose(getattr(est, name).mean, ref[name].mean(), **TOL64)


# --------------------------------------------------------------------------- Theorem 3.3
def numpy_bound(dk, d2k):
    return 5 * d2k / (1 - dk) * math.sqrt((1 + d2k) / (1 - d2k))


@pytest.mark.parametrize("dk, d2k", [(0.0, 0.0), (0.1, 0.2), (0.05, 0.05), (0.3, 0.9), (0, 0.5)])
def test_theorem_3_3_bound_values(dk, d2k):
    assert float(jaxcs.analysis.theorem_3_3_bound(dk, d2k)) == pytest.approx(
        numpy_bound(dk, d2k), 1e-6
    )


def test_theorem_3_3_bound_arrays_and_jit():
    dk, d2k = np.array([0.0, 0.1, 0.2]), np.array([0.1, 0.1, 0.5])
    expected = [numpy_bound(a, b) for a, b in zip(dk, d2k, strict=True)]
    np.testing.assert_allclose(jaxcs.analysis.theorem_3_3_bound(dk, d2k), expected, rtol=1e-6)
    jitted = jax.jit(jaxcs.analysis.theorem_3_3_bound)
    np.testing.assert_allclose(jitted(dk, d2k), expected, rtol=1e-6)
    bad = jitted(jnp.array([0.3, -0.1, 0.1, 0.1]), jnp.array([0.2, 0.2, 1.0, 0.5]))
    np.testing.assert_array_equal(np.isinf(bad), [True, True, True, False])


@pytest.mark.parametrize(
    "dk, d2k",
    [(0.3, 0.2), (0.1, 1.0), (0.1, 1.5), (-0.1, 0.2), (np.array([0.1, 0.3]), np.array([0.2, 0.2]))],
)
def test_theorem_3_3_bound_rejects_concrete_invalid(dk, d2k):
    with pytest.raises(ValueError, match="delta"):
        jaxcs.analysis.theorem_3_3_bound(dk, d2k)
