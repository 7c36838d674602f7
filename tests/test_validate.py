"""Argument handling across the public API: no silent truncation, x64-aware defaults, NaN."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs


def _op():
    return jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4), (8,))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda w: jaxcs.ConvOperator(w, (6.7,)), "in_spatial"),
        (lambda w: jaxcs.ConvOperator(w, (8,), stride=1.5), "stride"),
        (lambda w: jaxcs.ConvOperator(w, (8,), stride=True), "stride"),
        (lambda w: jaxcs.gaussian_filters(jr.key(0), (2.7,), 2, 4), "filter_shape"),
        (lambda w: jaxcs.gaussian_filters(jr.key(0), (3,), 0, 4), "in_channels"),
        (lambda w: jaxcs.PoolingModel((2.9,), 1), "pool_size"),
        (lambda w: jaxcs.BlockModel(3.0), "k"),
        (lambda w: jaxcs.BlockModel(1, capacity=0), "capacity"),
        (lambda w: jaxcs.ConvOperator(w, (8,), padding="full"), "padding"),
        (lambda w: jaxcs.BlockModel(1).sample(jr.key(0), (4.5, 3)), "code_shape"),
        (lambda w: jaxcs.BlockModel(1).sample(jr.key(0), (4, 3), (-1,)), "batch_shape"),
        (lambda w: jaxcs.models.block_sparsify(jnp.ones(4), 2.5), "k"),
        (lambda w: jaxcs.models.block_sparsify(jnp.ones(4), -1), "k"),
        (lambda w: jaxcs.unpool(jnp.ones((2, 1)), jnp.array([[0], [5]]), (2,), (4,)), "switches"),
        (lambda w: jaxcs.operators.restricted_gram(_op(), jnp.array([[0, 10_000]])), "support"),
        (lambda w: jaxcs.analysis.theorem_3_3_bound(float("nan"), 0.5), "delta"),
    ],
)
def test_bad_arguments_are_rejected(call, match):
    w = jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4)
    with pytest.raises(ValueError, match=match):
        call(w)


def test_default_dtypes_follow_x64():
    assert jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4).dtype == jnp.float32
    assert jaxcs.BlockModel(1).sample(jr.key(0), (4, 3)).dtype == jnp.float32
    with jax.enable_x64(True):
        for make in (
            jaxcs.gaussian_filters,
            jaxcs.unit_norm_filters,
            jaxcs.operators.rademacher_filters,
        ):
            assert make(jr.key(0), (3,), 2, 4).dtype == jnp.float64
        assert jaxcs.BlockModel(1).sample(jr.key(0), (4, 3)).dtype == jnp.float64


def test_numpy_filters_become_jax_arrays():
    op = jaxcs.ConvOperator(np.random.default_rng(0).standard_normal((3, 2, 2)), (6,))
    assert isinstance(op.filters, jax.Array) and op.dtype == jnp.float32
    assert op.mv(np.ones((6, 2))).dtype == jnp.float32


def test_nan_input_makes_projection_nan():
    v = jnp.array([[1.0, jnp.nan], [2.0, 0.5]])
    assert np.isnan(np.asarray(jaxcs.BlockModel(1).project(v))).all()
    op = _op()
    x = jnp.ones(op.in_shape).at[0, 0].set(jnp.nan)
    sol = jaxcs.recover(op, x, jaxcs.BlockModel(1), max_steps=5)
    assert int(sol.status) == int(jaxcs.Status.NONFINITE)


def test_traced_k_beyond_capacity_gives_nan_codes():
    sample = jax.jit(lambda m: m.sample(jr.key(0), (5, 3), (4,)))
    ok = np.asarray(sample(jaxcs.BlockModel(2, capacity=8)))
    assert np.isfinite(ok).all() and (np.count_nonzero(ok.reshape(4, -1), axis=1) == 2).all()
    too_many = np.asarray(sample(jaxcs.BlockModel(jnp.asarray(6), capacity=8)))  # 3 regions
    assert np.isnan(too_many).reshape(4, -1).any(axis=1).all()


def test_statistics_without_finite_samples_are_nan():
    w = jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4).at[0, 0, 0].set(jnp.nan)
    op = jaxcs.ConvOperator(w, (8,))
    est = jaxcs.estimate_model_rip(jr.key(0), op, jaxcs.BlockModel(1), 20)
    summary = est.summary()
    assert summary["ratio_wt"]["count"] == 0 and np.isnan(summary["ratio_wt"]["mean"])
    assert np.isnan(summary["delta_lower_bound"]) and np.isnan(
        summary["delta_lower_bound_random_z"]
    )


def test_check_choice_takes_a_bool_only_where_it_is_a_choice():
    from jaxcs._validate import check_choice

    assert check_choice(True, (False, True, "interior"), "shifts") is True
    assert check_choice("interior", (False, True, "interior"), "shifts") == "interior"
    with pytest.raises(ValueError, match=r"n must be one of \(1, 2\); got True"):
        check_choice(True, (1, 2), "n")
    with pytest.raises(ValueError, match=r"key must be one of \['a', None\]; got 'b'"):
        check_choice("b", ["a", None], "key")
