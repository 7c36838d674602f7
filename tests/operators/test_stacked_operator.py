"""A stacked batch of operators passed without ``jax.vmap`` is refused up front, with a message
that says what it looks like and how to map over it; under ``vmap`` (and ``jit``) the same
batch works and gives what a Python loop over its members gives."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.operators.base import check_operator

HINT = (
    "this looks like a stacked batch of operators: map over it with "
    "jax.vmap(lambda op: estimate_model_rip(key, op, model, n))(ops)"
)
KEYS = jr.split(jr.key(0), 3)
N = 24


def conv(key):
    return jaxcs.ConvOperator(jaxcs.gaussian_filters(key, (3,), 2, 4), (10,))


def matrix(key):
    return jaxcs.MatrixOperator(jr.normal(key, (12, 8)) / jnp.sqrt(8.0))


def stack(ops):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *ops)


def estimate(op, model, key=None):
    key = jr.key(1) if key is None else key
    return jaxcs.estimate_model_rip(key, op, model, N, chunk_size=8)


def test_vmapped_constructor_is_refused_with_shapes_and_hint():
    ops = jax.vmap(conv)(KEYS)
    assert ops.filters.shape == (3, 3, 2, 4)
    with pytest.raises(ValueError) as info:
        estimate(ops, jaxcs.BlockModel(2))
    message = str(info.value)
    assert "op.filters has shape (3, 3, 2, 4)" in message
    assert "ConvOperator as configured has filters of shape (3, 2, 4)" in message
    assert "extra leading axes (3,)" in message
    assert HINT in message


def test_stacked_matrix_operator_is_refused():
    ops = stack([matrix(k) for k in KEYS])
    with pytest.raises(ValueError, match=re.escape("op.matrix has shape (3, 12, 8)")) as info:
        estimate(ops, jaxcs.TopKModel(2))
    assert "of shape (12, 8)" in str(info.value) and HINT in str(info.value)


def test_stacked_operator_under_a_transpose_is_refused():
    ops = stack([conv(k) for k in KEYS]).T
    assert isinstance(ops, jaxcs.operators.TransposedOperator)
    with pytest.raises(ValueError, match=re.escape("op.operator.filters has shape (3, 3, 2, 4)")):
        estimate(ops, jaxcs.TopKModel(2))


def test_other_entry_points_refuse_it_too():
    ops = jax.vmap(conv)(KEYS)
    for call in (
        lambda: jaxcs.check_adjoint(ops, jr.key(0)),
        lambda: jaxcs.operator_norm(ops, 5),
        lambda: check_operator(ops, "layer"),
    ):
        with pytest.raises(ValueError, match="stacked batch of operators: map over it with"):
            call()
    with pytest.raises(ValueError, match=re.escape("layer.filters has shape")):
        check_operator(ops, "layer")


def test_an_inconsistent_operator_is_named_as_such():
    op = matrix(KEYS[0])
    broken = op.replace(matrix=op.matrix[:, :5])
    with pytest.raises(ValueError, match="inconsistent"):
        check_operator(broken)


def test_single_operators_pass_also_under_jit():
    for op in (conv(KEYS[0]), matrix(KEYS[0]), conv(KEYS[0]).T, matrix(KEYS[0]).T):
        check_operator(op)
    op, model = conv(KEYS[0]), jaxcs.BlockModel(2)
    jitted = jax.jit(lambda op: estimate(op, model))(op)
    np.testing.assert_allclose(jitted.ratio_wt.mean, estimate(op, model).ratio_wt.mean, rtol=1e-6)
    with pytest.raises(ValueError, match="stacked batch"):
        jax.jit(lambda op: estimate(op, model))(jax.vmap(conv)(KEYS))


@pytest.mark.parametrize(
    "make, model",
    [
        (conv, jaxcs.BlockModel(2)),
        (matrix, jaxcs.TopKModel(3)),
        (lambda key: conv(key).T, jaxcs.TopKModel(3)),
    ],
    ids=["conv", "matrix", "transposed"],
)
def test_vmap_over_a_stacked_batch_matches_a_loop(make, model):
    ops = stack([make(k) for k in KEYS])
    batch = jax.vmap(lambda op: estimate(op, model))(ops)
    assert batch.ratio_wt.mean.shape == (3,)
    for i, key in enumerate(KEYS):
        single = estimate(make(key), model)
        for name in ("ratio_wt", "ratio_wwt", "eig_min", "eig_max"):
            for field in ("mean", "min", "max"):
                np.testing.assert_allclose(
                    getattr(getattr(batch, name), field)[i],
                    getattr(getattr(single, name), field),
                    rtol=2e-5,
                    atol=2e-6,
                    err_msg=f"{name}.{field}[{i}]",
                )
        np.testing.assert_array_equal(batch.ratio_wt.histogram[i], single.ratio_wt.histogram)


def test_user_operators_without_declared_shapes_are_not_checked():
    class Scale(jaxcs.AbstractOperator):
        factor: jax.Array
        in_shape: tuple = jaxcs.static_field(default=(4,))
        out_shape: tuple = jaxcs.static_field(default=(4,))

        @property
        def dtype(self):
            return self.factor.dtype

        def mv(self, x):
            return self.factor * x

        def rmv(self, z):
            return self.factor * z

    check_operator(Scale(jnp.ones(3)))  # nothing declared: nothing to compare
    assert Scale(jnp.ones(())).expected_leaf_shapes() == {}
