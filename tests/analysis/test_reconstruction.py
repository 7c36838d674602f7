"""One CNN layer as one IHT step and the tied-weight reconstruction (Algorithm 1)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs


def _block_projection_numpy(h: np.ndarray, k: int) -> np.ndarray:
    """𝕄_known for the block model, by hand: per channel the largest |h|, then the top k."""
    n, K = h.shape
    best = np.argmax(np.abs(h), axis=0)  # first maximum: lowest index
    kept = h[best, np.arange(K)]
    order = np.argsort(-np.abs(kept), kind="stable")[:k]
    z = np.zeros_like(h)
    z[best[order], order] = kept[order]
    return z


def _operator(key, filter_length=3, M=2, K=6, D=12, padding="valid", stride=1):
    w = jaxcs.gaussian_filters(key, (filter_length,), M, K)
    return jaxcs.ConvOperator(w, (D,), stride=stride, padding=padding)


@pytest.mark.parametrize("padding", ["valid", "circular", "same"])
def test_one_step_reconstruction_matches_numpy(padding):
    op = _operator(jr.key(0), padding=padding)
    A = np.asarray(op.as_matrix(), np.float64)
    x = np.asarray(jr.normal(jr.key(1), (4,) + op.in_shape))
    model = jaxcs.BlockModel(3)
    x_hat = np.asarray(jaxcs.one_step_reconstruction(op, x, model))
    for b in range(4):
        h = (A @ x[b].reshape(-1)).reshape(op.out_shape)
        z = _block_projection_numpy(h, 3)
        ref = (A.T @ z.reshape(-1)).reshape(op.in_shape)
        np.testing.assert_allclose(x_hat[b], ref, rtol=1e-4, atol=1e-5)


def test_iht_codes_matches_numpy_loop():
    op = _operator(jr.key(2), K=8, D=16)
    A = np.asarray(op.as_matrix(), np.float64)
    x = np.asarray(jr.normal(jr.key(3), op.in_shape))
    model = jaxcs.BlockModel(2)
    z = np.zeros(op.out_shape)
    for steps in (1, 2, 5):
        z = np.zeros(op.out_shape)
        for _ in range(steps):
            b = z + (A @ (x.reshape(-1) - A.T @ z.reshape(-1))).reshape(op.out_shape)
            z = _block_projection_numpy(b, 2)
        ours = np.asarray(jaxcs.analysis.iht_codes(op, x, model, steps))
        np.testing.assert_allclose(ours, z, rtol=1e-4, atol=1e-5)


def test_first_iht_step_is_one_layer():
    """z_1 = 𝕄(W x, k): the convolution, max-|·| pooling over each block, unpooling."""
    op = _operator(jr.key(4))
    x = jr.normal(jr.key(5), (3,) + op.in_shape)
    model = jaxcs.PoolingModel((2,), k=4)
    z1 = jaxcs.analysis.iht_codes(op, x, model, 1)
    layer = jax.vmap(model.project)(op.mv(x))
    np.testing.assert_allclose(z1, layer, rtol=1e-6)


def test_iht_recovers_planted_codes():
    """Random Gaussian filters, small k: IHT recovers planted block-sparse codes."""
    w = jaxcs.gaussian_filters(jr.key(6), (5,), 32, 96)
    op = jaxcs.ConvOperator(w, (32,), padding="valid")
    model = jaxcs.BlockModel(3)
    z = model.sample(jr.key(7), op.out_shape, (16,))
    x = op.rmv(z)
    z_hat = jaxcs.analysis.iht_codes(op, x, model, 30)
    err = jnp.linalg.norm((z_hat - z).reshape(16, -1), axis=1) / jnp.linalg.norm(
        z.reshape(16, -1), axis=1
    )
    assert float(jnp.median(err)) < 1e-3


def test_batched_and_jit_equal_unbatched():
    op = _operator(jr.key(8))
    x = jr.normal(jr.key(9), (2, 3) + op.in_shape)
    model = jaxcs.BlockModel(2)
    batched = jax.jit(lambda op, x, m: jaxcs.one_step_reconstruction(op, x, m))(op, x, model)
    assert batched.shape == x.shape
    for a in range(2):
        for b in range(3):
            np.testing.assert_allclose(
                batched[a, b], jaxcs.one_step_reconstruction(op, x[a, b], model), rtol=1e-5
            )


def test_fixed_switches_differ_from_known():
    op = _operator(jr.key(10))
    x = jr.normal(jr.key(11), op.in_shape)
    model = jaxcs.PoolingModel((2,))
    known = jaxcs.one_step_reconstruction(op, x, model)
    fixed = jaxcs.one_step_reconstruction(op, x, model, switches="fixed")
    assert not np.allclose(known, fixed)
    with pytest.raises(ValueError, match="switches"):
        jaxcs.one_step_reconstruction(op, x, model, switches="middle")


def test_relative_error_and_nonfinite_reporting():
    x = jnp.array([[3.0, 4.0], [0.0, 0.0], [jnp.nan, 1.0]])
    x_hat = jnp.array([[3.0, 3.0], [0.0, 0.0], [1.0, 1.0]])
    err = np.asarray(jaxcs.analysis.relative_error(x, x_hat, 1))
    np.testing.assert_allclose(err[0], 0.2)
    assert np.isnan(err[1]) and np.isnan(err[2])


def test_bad_num_steps():
    op = _operator(jr.key(12))
    with pytest.raises(ValueError, match="num_steps"):
        jaxcs.analysis.iht_codes(op, jnp.zeros(op.in_shape), jaxcs.BlockModel(1), 0)


@pytest.mark.parametrize(
    "x_shape, hat_shape, ndim, match",
    [
        ((3, 4), (3, 5), 1, r"same shape.*\(3, 4\).*\(3, 5\)"),
        ((3, 4), (4,), 1, "same shape"),
        ((3, 4), (3, 4), 3, r"signal_ndim must be an int in \[1, x.ndim = 2\]"),
        ((3, 4), (3, 4), 0, "signal_ndim"),
        ((3, 4), (3, 4), 1.0, "signal_ndim"),
    ],
)
def test_relative_error_names_bad_shapes(x_shape, hat_shape, ndim, match):
    with pytest.raises(ValueError, match=match):
        jaxcs.analysis.relative_error(jnp.ones(x_shape), jnp.ones(hat_shape), ndim)
    if x_shape == hat_shape and ndim == 3:  # also inside jit: the shapes are static
        with pytest.raises(ValueError, match="signal_ndim"):
            jax.jit(lambda a, b: jaxcs.analysis.relative_error(a, b, 3))(
                jnp.ones(x_shape), jnp.ones(x_shape)
            )
