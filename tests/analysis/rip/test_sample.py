"""The pure model-RIP kernel :func:`sample_model_rip`: the same numbers as
:func:`estimate_model_rip`, inside the caller's ``jit``/``vmap``, extra per-code quantities, the
``status`` code, and the one δ formula :func:`delta_lower_bound_from`."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs import BlockModel, Status
from jaxcs.analysis import DEFAULT_BINS, DEFAULT_RANGE, delta_lower_bound_from, sample_model_rip

N, CHUNK = 45, 16
# What estimate_model_rip(..., chunk_size=16, full_ratio=True) resolves its defaults to.
CONFIG = dict(
    method="gram",
    eigenvalues=True,
    full_ratio=True,
    chunk_size=CHUNK,
    distribution="uniform",
    histogram_range=DEFAULT_RANGE,
    bins=DEFAULT_BINS,
)


def small_op(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, 2, 6)) / math.sqrt(6)
    return jaxcs.ConvOperator(jnp.asarray(w, jnp.float32), (12,), 1, "valid")


def code_norms(code):
    """Two extra quantities of a chunk's codes: ``‖z‖₁`` and the number of used slots."""
    return {
        "l1": jnp.sum(jnp.abs(code.values), axis=-1),
        "nnz": jnp.sum(code.mask, axis=-1).astype(jnp.float32),
    }


def assert_trees_equal(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)


def test_kernel_in_a_user_jit_equals_estimate_model_rip():
    op, model, key = small_op(1), BlockModel(3), jr.key(2)
    expected = jaxcs.estimate_model_rip(key, op, model, N, chunk_size=CHUNK, full_ratio=True)
    kernel = jax.jit(partial(sample_model_rip, keep_samples=False, **CONFIG))
    got = kernel(key, op, model, N)  # num_samples traced
    assert_trees_equal(got, expected)
    assert got.extra is None and got.samples is None
    assert int(got.status) == Status.COMPLETED and got.status.dtype == jnp.int32
    assert int(got.num_samples) == N and int(got.ratio_wt.count) == N


def test_kernel_under_vmap_over_keys_and_operators():
    ops = jax.tree.map(lambda *a: jnp.stack(a), *[small_op(s) for s in (3, 4)])
    keys = jr.split(jr.key(5), 2)
    model = BlockModel(2)

    @jax.jit
    def batched(keys, ops):
        return jax.vmap(
            lambda key, op: sample_model_rip(key, op, model, N, keep_samples=False, **CONFIG)
        )(keys, ops)

    out = batched(keys, ops)
    assert out.ratio_wt.mean.shape == (2,) and out.status.shape == (2,)
    for i in range(2):
        op = jax.tree.map(lambda a, i=i: a[i], ops)
        single = jaxcs.estimate_model_rip(keys[i], op, model, N, chunk_size=CHUNK, full_ratio=True)
        for name in ("ratio_wt", "ratio_wwt", "ratio_wwt_full", "eig_min", "eig_max"):
            b, s = getattr(out, name), getattr(single, name)
            assert int(b.count[i]) == int(s.count) == N
            for field in ("mean", "std", "min", "max"):
                np.testing.assert_allclose(
                    getattr(b, field)[i], getattr(s, field), rtol=1e-5, atol=1e-6
                )
        assert int(out.status[i]) == Status.COMPLETED


def test_extra_quantities_are_streamed_and_kept():
    """Extra quantities follow the key schedule of the codes (chunk ``c`` draws
    ``model.sample_sparse(fold_in(key, c), ...)``), and their statistics are those of the kept
    samples; the built-in quantities are unchanged by their presence."""
    op, model, key = small_op(6), BlockModel(3), jr.key(7)
    est = sample_model_rip(key, op, model, N, keep_samples=True, extra=code_norms, **CONFIG)
    plain = sample_model_rip(key, op, model, N, keep_samples=True, **CONFIG)
    codes = [
        model.sample_sparse(jr.fold_in(key, c), op.out_shape, (CHUNK,))
        for c in range(-(-N // CHUNK))
    ]
    values = np.concatenate([np.asarray(c.values, np.float64) for c in codes])[:N]
    mask = np.concatenate([np.asarray(c.mask) for c in codes])[:N]
    reference = {"l1": np.abs(values).sum(-1), "nnz": mask.sum(-1).astype(np.float64)}
    assert set(est.extra) == {"l1", "nnz"}
    assert set(est.samples) == set(plain.samples) | {"l1", "nnz"}
    for name, ref in reference.items():
        np.testing.assert_allclose(est.samples[name], ref, rtol=1e-6)
        stats = est.extra[name]
        assert int(stats.count) == N and int(stats.nonfinite) == 0
        np.testing.assert_allclose(stats.mean, ref.mean(), rtol=1e-5)
        np.testing.assert_allclose(stats.max, ref.max(), rtol=1e-6)
    np.testing.assert_array_equal(est.samples["nnz"], 3.0)
    for name in plain.samples:
        np.testing.assert_array_equal(est.samples[name], plain.samples[name])
    summary = est.summary()
    assert summary["status"] == "COMPLETED"
    assert summary["extra"]["l1"]["mean"] == pytest.approx(reference["l1"].mean(), rel=1e-5)


def test_extra_without_kept_samples_and_a_traced_count():
    op, model, key = small_op(8), BlockModel(2), jr.key(9)
    run = jax.jit(
        lambda key, n: sample_model_rip(
            key, op, model, n, keep_samples=20, extra=code_norms, **CONFIG
        )
    )
    est = run(key, 30)
    assert int(est.extra["l1"].count) == 30 and est.samples["l1"].shape == (20,)
    with pytest.raises(ValueError, match="keep_samples=True"):
        jax.jit(lambda n: sample_model_rip(key, op, model, n, keep_samples=True, **CONFIG))(30)


def test_nonfinite_extra_sets_the_status():
    op, model = small_op(10), BlockModel(2)

    def half_nan(code):
        return {"odd": jnp.where(jnp.arange(code.values.shape[0]) % 2 == 0, 1.0, jnp.nan)}

    est = sample_model_rip(jr.key(0), op, model, 32, keep_samples=False, extra=half_nan, **CONFIG)
    assert int(est.status) == Status.NONFINITE
    assert int(est.extra["odd"].nonfinite) == 16 and int(est.extra["odd"].count) == 16
    assert int(est.ratio_wt.nonfinite) == 0  # the built-in quantities are all finite
    assert est.summary()["status"] == "NONFINITE"


@pytest.mark.parametrize(
    "extra, match",
    [
        (lambda code: {"ratio_wt": jnp.zeros(code.values.shape[0])}, "built-in"),
        (lambda code: {"wide": code.values}, "shape"),
        (lambda code: jnp.zeros(code.values.shape[0]), "dict"),
    ],
    ids=["builtin-name", "wrong-shape", "not-a-dict"],
)
def test_bad_extra_raises(extra, match):
    with pytest.raises(ValueError, match=match):
        sample_model_rip(
            jr.key(0), small_op(), BlockModel(2), 8, keep_samples=False, extra=extra, **CONFIG
        )


# --------------------------------------------------------------------------- δ
def test_delta_lower_bound_from_python_numbers_stay_float64():
    lo, hi = 0.7861176207065582, 1.2782650105357170
    got = delta_lower_bound_from(lo, hi)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    assert float(got) == max(1 - lo, hi - 1)  # exactly, not rounded to float32
    assert float(delta_lower_bound_from(0.95, 1.01)) == pytest.approx(0.05)
    assert float(delta_lower_bound_from(1.1, 1.5)) == pytest.approx(0.5)  # 1 − λ_min < 0 is fine


def test_delta_lower_bound_from_unknown_is_nan():
    for lo, hi in [(np.nan, 1.2), (0.8, np.nan), (np.inf, -np.inf)]:
        assert np.isnan(delta_lower_bound_from(lo, hi))
    # Statistics without a finite sample hold min = +inf, max = -inf
    got = jax.jit(delta_lower_bound_from)(jnp.array([0.9, jnp.inf]), jnp.array([1.3, -jnp.inf]))
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(got[0], 0.3, rtol=1e-6)
    assert np.isnan(got[1])


def test_rip_estimate_delta_uses_delta_lower_bound_from():
    est = jaxcs.estimate_model_rip(
        jr.key(1), small_op(11), BlockModel(3), N, chunk_size=CHUNK, full_ratio=True
    )
    assert float(est.delta_lower_bound) == float(
        delta_lower_bound_from(est.eig_min.min, est.eig_max.max)
    )
    assert float(est.delta_lower_bound_random_z) == float(
        delta_lower_bound_from(est.ratio_wt.min**2, est.ratio_wt.max**2)
    )


def test_kernel_defaults_are_the_estimators():
    """Only key, operator, model and sample count are required: the kernel's defaults draw and
    reduce what ``estimate_model_rip(method="gram", eigenvalues=False, chunk_size=1024)`` does."""
    op = jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(0), (3,), 4, 6), (12,))
    model = BlockModel(2)
    kernel = jaxcs.analysis.sample_model_rip(jr.key(1), op, model, 300)
    checked = jaxcs.estimate_model_rip(
        jr.key(1), op, model, 300, method="gram", eigenvalues=False, chunk_size=1024
    )
    assert int(kernel.num_samples) == 300 and int(kernel.status) == Status.COMPLETED
    for name in ("ratio_wt", "ratio_wwt"):
        got, want = getattr(kernel, name), getattr(checked, name)
        # the same codes (another draw moves these by ~1e-2); a ratio may differ in its last
        # bit, the two programs summing in another order
        for field in ("mean", "min", "max"):
            np.testing.assert_allclose(
                np.asarray(getattr(got, field)), np.asarray(getattr(want, field)), rtol=1e-6
            )
