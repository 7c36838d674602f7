"""Stacks of IHT layers and their tied-weight decoder (jaxcs/layers/encoder.py).

References (tests/layer_reference.py) are independent of the code under test: Flax's own
``nn.Conv`` and ``nn.max_pool``, the VJP of Flax's conv for ``Wᵀ``, NumPy loops for pooling
with switches and unpooling, and the conftest's dense NumPy ``W``.
"""

from __future__ import annotations

import jax
import jax.random as jr
import layer_reference as ref  # tests/layer_reference.py (tests/ is on the pythonpath)
import numpy as np
import pytest

import jaxcs
from jaxcs.layers import IHTEncoder, IHTLayer, decode_stack, layer_operator

GEOMETRIES, M = ref.GEOMETRIES, ref.M
flax_conv, flax_relu_max_pool, flax_adjoint = (
    ref.flax_conv,
    ref.flax_relu_max_pool,
    ref.flax_adjoint,
)
run, normal = ref.run, ref.normal
numpy_pool_batch, numpy_unpool = ref.numpy_pool_batch, ref.numpy_unpool
make_layer, init, stack_variables = ref.make_layer, ref.init, ref.stack_variables


def two_layer_encoder():
    return IHTEncoder(
        (
            IHTLayer(4, (3, 3), padding="same", pool_size=(2, 2)),
            IHTLayer(5, (3, 3), padding="valid", pool_size=(2, 2), k=5),
        )
    )


def test_encoder_and_decode_stack_match_hand_composition():
    encoder = two_layer_encoder()
    x = normal(20, (2, 12, 12, 3))
    variables = stack_variables(encoder.layers, 3, seed=21)
    # Flax's init gives the same tree (traced only: compiling the initializer is slow on CPU).
    shapes = jax.eval_shape(encoder.init, jr.key(21), x)
    assert jax.tree.map(lambda a: a.shape, shapes) == jax.tree.map(np.shape, variables)

    def encode_decode(variables, x):
        results = encoder.apply(variables, x)
        top = results[-1].code
        return (
            results,
            decode_stack(encoder, variables, results, (12, 12)),
            encoder.apply(variables, results, (12, 12), method=IHTEncoder.decode),
            decode_stack(encoder.layers, variables["params"], results, (12, 12), code=0 * top),
        )

    (r1, r2), x_hat, method, from_zero = run(encode_decode, variables, x)
    k1 = variables["params"]["layers_0"]["conv"]["kernel"]
    k2 = variables["params"]["layers_1"]["conv"]["kernel"]
    # Encoder: layer 2 encodes layer 1's pooled map; references from Flax and NumPy loops.
    wx1 = np.asarray(flax_conv(k1, x, 1, "same"))
    np.testing.assert_allclose(r1.pooled, flax_relu_max_pool(wx1, (2, 2)), rtol=1e-6, atol=1e-6)
    wx2 = np.asarray(flax_conv(k2, r1.pooled, 1, "valid"))
    values2, _, code2 = numpy_pool_batch(wx2, (2, 2), k=5)
    np.testing.assert_allclose(r2.pooled, values2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r2.code, code2, rtol=1e-5, atol=1e-6)
    assert r1.code.shape == (2, 12, 12, 4) and r1.pooled.shape == (2, 6, 6, 4)
    assert r2.code.shape == (2, 4, 4, 5) and r2.pooled.shape == (2, 2, 2, 5)
    # Decoder: x̂ = W₁ᵀ unpool₁(W₂ᵀ h₂), written out by hand.
    y2 = np.asarray(flax_adjoint(k2, r2.code, r1.pooled.shape, 1, "valid"))
    u1 = numpy_unpool(y2, r1.switches, (2, 2), (12, 12)).astype(np.float32)
    expected = np.asarray(flax_adjoint(k1, u1, x.shape, 1, "same"))
    assert x_hat.shape == x.shape
    np.testing.assert_allclose(x_hat, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(method, x_hat, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(from_zero, 0)


def test_one_layer_stack_is_one_step_reconstruction():
    layer, spatial = make_layer("2d-valid-t2", k=4)
    encoder = IHTEncoder((layer,))
    x = normal(30, (3,) + spatial + (M,))
    variables = stack_variables(encoder.layers, M, seed=31)
    model = jaxcs.PoolingModel(GEOMETRIES["2d-valid-t2"][4], 4, nonnegative=True)

    def both(variables, x):
        results = encoder.apply(variables, x)
        op = layer_operator(layer, variables["params"]["layers_0"], spatial)
        return (
            decode_stack(encoder, variables, results, spatial),
            jaxcs.one_step_reconstruction(op, x, model),
        )

    stack, one_step = run(both, variables, x)
    assert np.any(stack != 0)
    np.testing.assert_allclose(stack, one_step, rtol=1e-5, atol=1e-6)


def test_relu_switch_of_a_region_without_positive_values(dense_reference):
    """ReLU switch rule: a region whose conv values are all <= 0 pools to 0 but keeps a switch,
    the argmax of its pre-ReLU values (least negative, lowest index on ties), and decode_stack
    unpools the next layer's decoded value there."""
    # Layer 1: the ± pair of the one-tap identity filter, so channel 0 is x and channel 1 is -x.
    # Regions (pool size 2) of the first signal, channel 0: [-3, -1] all negative (switch 1,
    # the least negative), [-2, -2] a tie (switch 0), [4, 1], [0.5, -5], [-1, 0] all <= 0
    # (switch 1), [-7] partial and negative (switch 0). Channel 1 mirrors them.
    signal = np.array([-3, -1, -2, -2, 4, 1, 0.5, -5, -1, 0, -7], np.float32)
    x = np.stack([signal, normal(80, signal.shape)])[..., None]  # (2, 11, 1)
    encoder = IHTEncoder(
        (
            IHTLayer(2, (1,), pool_size=(2,)),
            IHTLayer(1, (3,), padding="same", pool_size=(1,)),  # no pooling on top
        )
    )
    k1 = np.array([1.0, -1.0], np.float32).reshape(1, 1, 2)
    k2 = (np.abs(normal(81, (3, 2, 1))) + 0.1).astype(np.float32)  # positive: y > 0 below
    variables = {
        "params": {"layers_0": {"conv": {"kernel": k1}}, "layers_1": {"conv": {"kernel": k2}}}
    }

    def encode_decode(variables, x):
        results = encoder.apply(variables, x)
        return results, decode_stack(encoder, variables, results, (11,))

    (r1, r2), x_hat = run(encode_decode, variables, x)

    # Layer 1 in NumPy: the pre-ReLU argmax of each region (-inf pads the partial one).
    h1 = np.concatenate([x, -x], axis=-1).astype(np.float64)  # (2, 11, 2)
    cells = np.pad(h1, ((0, 0), (0, 1), (0, 0)), constant_values=-np.inf).reshape(2, 6, 2, 2)
    switches = np.argmax(cells, axis=2)  # (2, 6, 2): the first maximum, lowest index on ties
    no_positive = cells.max(axis=2) <= 0
    assert no_positive[0, :, 0].tolist() == [True, True, False, False, True, True]
    assert no_positive[0, :, 1].tolist() == [False, False, True, False, False, False]
    np.testing.assert_array_equal(switches[0, :, 0], [1, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(switches[0, :, 1], [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(r1.switches, switches)
    np.testing.assert_array_equal(r1.pooled, np.maximum(cells.max(axis=2), 0))
    np.testing.assert_array_equal(r1.pooled[no_positive], 0)
    np.testing.assert_array_equal(r1.code, numpy_pool_batch(h1, (2,))[2])

    # Decoder in NumPy: y = W₂ᵀ h₂ (dense W₂), unpooled at layer 1's switches, then W₁ᵀ.
    W2 = dense_reference(k2, (6,), 1, "same")  # (6·1, 6·2)
    h2 = np.maximum(np.asarray(r1.pooled, np.float64).reshape(2, -1) @ W2.T, 0)
    np.testing.assert_allclose(r2.code.reshape(2, -1), h2, rtol=1e-5, atol=1e-6)
    y = (h2 @ W2).reshape(2, 6, 2)
    assert np.all(y[no_positive] > 0)  # the regions that pooled to 0 do get a value back
    u = np.zeros((2, 11, 2))
    for b, p, c in np.ndindex(2, 6, 2):
        u[b, 2 * p + switches[b, p, c], c] = y[b, p, c]
    expected = u[..., :1] - u[..., 1:]  # W₁ᵀ u for the ± pair of the identity filter
    np.testing.assert_allclose(x_hat, expected, rtol=1e-5, atol=1e-6)
    # Region 0 ([-3, -1] in channel 0, pooled 0): its decoded value lands on position 1, the
    # least negative entry; channel 1 ([3, 1]) puts its own at position 0.
    np.testing.assert_allclose(x_hat[0, 1, 0], y[0, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(x_hat[0, 0, 0], -y[0, 0, 1], rtol=1e-5)
    # Region 4 ([-1, 0], all <= 0): position 9, where the 0 is; position 8 gets channel 1's.
    np.testing.assert_allclose(x_hat[0, 9, 0], y[0, 4, 0], rtol=1e-5)
    np.testing.assert_allclose(x_hat[0, 8, 0], -y[0, 4, 1], rtol=1e-5)


def test_vmap_over_decode_stack():
    encoder = two_layer_encoder()
    x2 = normal(52, (2, 12, 12, 3))
    variables = stack_variables(encoder.layers, 3, seed=53)
    results = jax.jit(encoder.apply)(variables, x2)
    batched = run(lambda v, r: decode_stack(encoder, v, r, (12, 12)), variables, results)
    mapped = run(jax.vmap(lambda r: decode_stack(encoder, variables, r, (12, 12))), results)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6, atol=1e-6)
    assert np.any(batched != 0)


# --------------------------------------------------------------------------- bad input
def test_bad_encoder_raises_naming_layers():
    with pytest.raises(ValueError, match="layers must be a non-empty"):
        IHTEncoder(())
    with pytest.raises(ValueError, match="layers must all have the same number"):
        IHTEncoder((IHTLayer(2, (3,), pool_size=(2,)), IHTLayer(2, (3, 3))))
    with pytest.raises(ValueError, match=r"layers\[1\] must be an IHTLayer"):
        IHTEncoder((IHTLayer(2, (3,), pool_size=(2,)), "conv"))


def test_bad_decode_stack_arguments_raise_naming_them():
    layer, spatial = make_layer("1d-valid-t2")
    _, variables = init(layer, spatial)  # one layer's variables, not an encoder's
    encoder = two_layer_encoder()
    x2 = np.ones((1, 12, 12, 3), np.float32)
    ev = stack_variables(encoder.layers, 3, seed=0)
    results = jax.eval_shape(encoder.apply, ev, x2)
    with pytest.raises(ValueError, match="results must hold one LayerOutput per layer"):
        jax.eval_shape(lambda r: decode_stack(encoder, ev, r, (12, 12)), results[:1])
    with pytest.raises(ValueError, match="params must be the encoder's variables"):
        jax.eval_shape(lambda r: decode_stack(encoder, variables, r, (12, 12)), results)
    with pytest.raises(ValueError, match="in_spatial must have 2 spatial sizes"):
        jax.eval_shape(lambda r: decode_stack(encoder, ev, r, (12,)), results)
