"""The CNN layer as one IHT step, in Flax (eqs. 2–3, Algorithm 1; jaxcs/layers/iht_layer.py).

References (tests/layer_reference.py) are independent of the code under test: Flax's own
``nn.Conv`` and ``nn.max_pool``, the VJP of Flax's conv for ``Wᵀ``, NumPy loops for pooling
with switches, the budget and unpooling, and the conftest's dense NumPy ``W``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import layer_reference as ref  # tests/layer_reference.py (tests/ is on the pythonpath)
import numpy as np
import pytest

import jaxcs
from jaxcs._pytree import Pytree
from jaxcs.layers import IHTLayer, LayerOutput, decode_layer, layer_operator

GEOMETRIES, M, K = ref.GEOMETRIES, ref.M, ref.K
flax_conv, flax_relu_max_pool, flax_adjoint = (
    ref.flax_conv,
    ref.flax_relu_max_pool,
    ref.flax_adjoint,
)
run, normal, gaussian_kernel = ref.run, ref.normal, ref.gaussian_kernel
numpy_pool_batch, make_layer, init, kernel_of = (
    ref.numpy_pool_batch,
    ref.make_layer,
    ref.init,
    ref.kernel_of,
)


# --------------------------------------------------------------------------- encoder vs Flax
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_layer_matches_flax_conv_relu_max_pool(name):
    layer, spatial = make_layer(name)
    x, variables = init(layer, spatial)
    out = jax.jit(layer.apply)(variables, x)
    assert isinstance(out, LayerOutput)
    _, _, stride, padding, pool_size = GEOMETRIES[name]
    wx = np.asarray(flax_conv(kernel_of(variables), x, stride, padding))
    ref_pooled = np.asarray(flax_relu_max_pool(wx, pool_size))
    np.testing.assert_allclose(out.response, wx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.pooled, ref_pooled, rtol=1e-6, atol=1e-6)
    _, switches, code = numpy_pool_batch(wx, pool_size)
    np.testing.assert_array_equal(out.switches, switches)
    np.testing.assert_allclose(out.code, code, rtol=1e-6, atol=1e-6)
    assert out.code.shape == wx.shape and out.pooled.shape == ref_pooled.shape
    assert out.switches.dtype == jnp.int32


@pytest.mark.parametrize("relu", [True, False], ids=["relu", "signed"])
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("name", ["2d-same-t2", "1d-valid-t2"])
def test_code_is_one_iht_step_from_zero(name, k, relu):
    """z_1 = 𝕄_known(W x, k) (Algorithm 1): the layer's code is one step of Algorithm 1."""
    layer, spatial = make_layer(name, k=k, relu=relu)
    x, variables = init(layer, spatial, seed=3)
    pool_size = GEOMETRIES[name][4]
    model = jaxcs.PoolingModel(pool_size, k, nonnegative=relu)

    def both(variables, x):
        op = layer_operator(layer, variables, spatial)
        return layer.apply(variables, x), jaxcs.analysis.iht_codes(op, x, model, 1)

    out, iht = run(both, variables, x)
    np.testing.assert_allclose(out.code, iht, rtol=1e-6, atol=1e-6)
    values, switches, code = numpy_pool_batch(out.response, pool_size, relu=relu, k=k)
    np.testing.assert_allclose(out.pooled, values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.code, code, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out.switches, switches)
    nonzero_regions = (out.pooled != 0).reshape(x.shape[0], -1).sum(axis=1)
    if k is not None:
        assert np.all(nonzero_regions == k)
    if relu:
        assert np.all(out.code >= 0)
    else:
        assert np.any(out.code < 0)


def test_partial_pool_regions_pool_the_border_cells():
    """A pool size that does not divide the map pools the partial border region too (ceil
    mode); on the complete regions it agrees with Flax's VALID max_pool, which drops the rest."""
    layer = IHTLayer(K, (3, 3), pool_size=(2, 3))
    x, variables = init(layer, (7, 9))  # conv map (5, 7): pooled (3, 3)
    out = run(layer.apply, variables, x)
    assert out.pooled.shape == (2, 3, 3, K)
    values, switches, code = numpy_pool_batch(out.response, (2, 3))
    np.testing.assert_allclose(out.pooled, values, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out.switches, switches)
    np.testing.assert_allclose(out.code, code, rtol=1e-6, atol=1e-6)
    flax_pooled = np.asarray(flax_relu_max_pool(out.response, (2, 3)))
    assert flax_pooled.shape == (2, 2, 2, K)
    np.testing.assert_allclose(out.pooled[:, :2, :2], flax_pooled, rtol=1e-6)


def test_layer_output_is_a_jaxcs_pytree():
    """LayerOutput is a :class:`jaxcs.Pytree` (not ``flax.struct``): four leaves, immutable."""
    out = LayerOutput(response=np.ones(3), pooled=np.ones(2), switches=np.zeros(2), code=np.ones(3))
    assert isinstance(out, Pytree)
    leaves, treedef = jax.tree.flatten(out)
    assert len(leaves) == 4
    assert jax.tree.unflatten(treedef, leaves).code is leaves[3]
    assert out.replace(code=np.zeros(3)).code.sum() == 0 and out.code.sum() == 3
    with pytest.raises(AttributeError, match="cannot assign"):
        out.code = np.zeros(3)


# --------------------------------------------------------------------------- tied decoder
@pytest.mark.parametrize(("name", "k"), [("1d-valid-t2", 2), ("2d-same-t2", None)])
def test_decode_is_one_step_reconstruction(name, k):
    layer, spatial = make_layer(name, k=k)
    x, variables = init(layer, spatial, seed=11)
    _, _, stride, padding, pool_size = GEOMETRIES[name]
    model = jaxcs.PoolingModel(pool_size, k, nonnegative=True)
    upper = layer.clone(padding=padding.upper())  # Flax's spelling is read as the same padding

    def decoders(variables, x):
        code = layer.apply(variables, x).code
        op = layer_operator(layer, variables, spatial)
        return (
            code,
            decode_layer(layer, variables, code, spatial),
            op.rmv(code),
            jaxcs.one_step_reconstruction(op, x, model),
            layer.apply(variables, code, spatial, method=IHTLayer.decode),
            upper.apply(variables, x).code,
        )

    code, x_hat, rmv, one_step, method, upper_code = run(decoders, variables, x)
    assert x_hat.shape == x.shape
    assert np.any(code != 0)
    expected = np.asarray(flax_adjoint(kernel_of(variables), code, x.shape, stride, padding))
    np.testing.assert_allclose(x_hat, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x_hat, rmv, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x_hat, one_step, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(method, x_hat, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(upper_code, code)
    # Any params form holding the one kernel gives the same operator.
    for params in (variables, variables["params"], variables["params"]["conv"]):
        op = layer_operator(layer, params, spatial)
        np.testing.assert_array_equal(op.filters, kernel_of(variables))
        assert op.stride == (stride,) * len(spatial) and op.padding == padding
        assert layer_operator(upper, params, spatial).padding == padding


# --------------------------------------------------------------------------- jit, vmap, dtype
def test_jit_and_batching_match_eager_and_per_example():
    layer, spatial = make_layer("1d-same-t2", k=3)
    x, variables = init(layer, spatial, batch=(2, 2), seed=40)
    eager = jax.tree.map(np.asarray, layer.apply(variables, x))  # the only eager apply
    jitted = run(layer.apply, variables, x)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    mapped = run(jax.vmap(jax.vmap(layer.apply, (None, 0)), (None, 0)), variables, x)
    single = jax.jit(layer.apply)
    for i, j in np.ndindex(2, 2):
        one = jax.tree.map(np.asarray, single(variables, x[i, j]))  # unbatched input
        assert one.code.shape == eager.code.shape[2:]
        for a, b, c in zip(
            jax.tree.leaves(one), jax.tree.leaves(eager), jax.tree.leaves(mapped), strict=True
        ):
            np.testing.assert_allclose(b[i, j], a, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(c[i, j], a, rtol=1e-6, atol=1e-6)


def test_vmap_over_params():
    layer, spatial = make_layer("1d-valid-t1")
    x = normal(50, (2,) + spatial + (M,))
    stacked = {"params": {"conv": {"kernel": normal(51, (3, 3, M, K))}}}
    codes = run(jax.vmap(lambda v, x: layer.apply(v, x).code, (0, None)), stacked, x)
    single = jax.jit(lambda v, x: layer.apply(v, x).code)
    for i in range(3):
        v = jax.tree.map(lambda a, i=i: a[i], stacked)
        np.testing.assert_allclose(codes[i], single(v, x), rtol=1e-6, atol=1e-6)


def test_traced_budget_does_not_recompile(assert_no_compiles):
    _, spatial, stride, padding, pool_size = GEOMETRIES["2d-valid-t1"]

    @jax.jit
    def encode(variables, x, k):
        layer = IHTLayer(K, (3, 3), stride, padding, pool_size, k=k)
        return layer.apply(variables, x).code

    layer, _ = make_layer("2d-valid-t1")
    x, variables = init(layer, spatial, seed=60)
    variables, x = jax.device_put((variables, x))
    k2, k3 = jnp.asarray(2), jnp.asarray(3)
    code2 = np.asarray(encode(variables, x, k2))
    code3 = np.asarray(assert_no_compiles(encode, variables, x, k3))
    response = np.asarray(flax_conv(kernel_of(variables), x, stride, padding))
    np.testing.assert_allclose(code2, numpy_pool_batch(response, pool_size, k=2)[2], rtol=1e-6)
    np.testing.assert_allclose(code3, numpy_pool_batch(response, pool_size, k=3)[2], rtol=1e-6)


@pytest.mark.parametrize("name", ["1d-same-t2", "2d-valid-t2"])
def test_float64_against_dense_numpy(name, dense_reference):
    with jax.enable_x64(True):
        layer, spatial = make_layer(name, k=3, param_dtype=jnp.float64)
        x, variables = init(layer, spatial, seed=70, dtype=np.float64)
        assert kernel_of(jax.eval_shape(layer.init, jr.key(71), x)).dtype == jnp.float64

        def encode_decode(variables, x):
            out = layer.apply(variables, x)
            return out, decode_layer(layer, variables, out.code, spatial)

        out, x_hat = run(encode_decode, variables, x)
    assert all(a.dtype == np.float64 for a in (out.response, out.pooled, out.code, x_hat))
    _, _, stride, padding, pool_size = GEOMETRIES[name]
    W = dense_reference(kernel_of(variables), spatial, stride, padding)
    wx = (x.reshape(2, -1) @ W.T).reshape(out.response.shape)
    np.testing.assert_allclose(out.response, wx, rtol=1e-12, atol=1e-12)
    values, _, code = numpy_pool_batch(wx, pool_size, k=3)
    np.testing.assert_allclose(out.pooled, values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.code, code, rtol=1e-12, atol=1e-12)
    expected = (code.reshape(2, -1) @ W).reshape(x.shape)
    np.testing.assert_allclose(x_hat, expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- bad input
def test_bad_configuration_raises_naming_the_field():
    base = dict(features=2, kernel_size=(3,), pool_size=(2,))
    cases = [
        (dict(features=0), "features must be a positive int"),
        (dict(features=2.0), "features must be a positive int"),
        (dict(kernel_size=3), "kernel_size must be a non-empty sequence of ints >= 1"),
        (dict(kernel_size=()), "kernel_size must be a non-empty sequence of ints >= 1"),
        (dict(kernel_size=(3, 0), pool_size=(2, 2)), r"kernel_size must be int\(s\) >= 1"),
        (dict(kernel_size=(3, 3)), r"pool_size must be 2 int\(s\) >= 1"),
        (dict(pool_size=(0,)), r"pool_size must be 1 int\(s\) >= 1"),
        (dict(padding="CIRCULAR"), r"padding must be one of \('valid', 'same'\)"),
        (dict(padding="circular"), r"padding must be one of \('valid', 'same'\)"),
        (dict(stride=(1, 1)), r"stride must be 1 int\(s\) >= 1"),
        (dict(stride=0), r"stride must be 1 int\(s\) >= 1"),
        (dict(k=-1), "k must be >= 0"),
        (dict(k=1.5), "k must be None"),
        (dict(k=3.0), "k must be None or a non-negative integer; got 3.0"),
        (dict(k=np.array([1, 2])), "k must be None or a non-negative integer scalar"),
        (dict(relu=None), "relu"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            IHTLayer(**(base | kwargs))
    # Accepted: Flax's upper-case paddings, an int stride or pool size, NumPy integer budgets.
    for kwargs in (
        dict(padding="VALID"),
        dict(padding="Same"),
        dict(stride=2),
        dict(pool_size=2),
        dict(k=np.int64(2)),
        dict(k=0),
    ):
        IHTLayer(**(base | kwargs))


def test_bad_shapes_raise_naming_the_argument():
    layer, spatial = make_layer("1d-valid-t2")  # kernel 3, stride 2, input 13
    x, variables = init(layer, spatial)
    # Shapes are static, so every check fires while tracing, before any computation.
    encode = jax.jit(layer.apply)
    with pytest.raises(ValueError, match="x has 3 channels"):
        encode(variables, np.ones((2, 13, 3), np.float32))
    with pytest.raises(ValueError, match="x must have shape"):
        encode(variables, np.ones((13,), np.float32))
    with pytest.raises(ValueError, match="x has spatial shape"):
        encode(variables, np.ones((2, 2, M), np.float32))  # shorter than the kernel
    # (12 - 3) / 2 is not whole: floor, as nn.Conv's VALID (the last input is seen by no filter)
    assert encode(variables, np.ones((2, 12, M), np.float32)).code.shape == (
        2,
        (12 - 3) // 2 + 1,
        K,
    )
    other = IHTLayer(K, (5,), 2, pool_size=(3,))
    with pytest.raises(ValueError, match="params hold a kernel"):
        jax.eval_shape(other.apply, variables, x)
    with pytest.raises(ValueError, match="params hold a kernel"):
        layer_operator(other, variables, spatial)
    with pytest.raises(ValueError, match="in_spatial must have 1 spatial sizes"):
        layer_operator(layer, variables, (13, 1))
    with pytest.raises(ValueError, match=r"in_spatial must be int\(s\) >= 1"):
        layer_operator(layer, variables, (0,))
    with pytest.raises(ValueError, match="code must have shape"):
        decode_layer(layer, variables, np.ones((2, 5, K), np.float32), spatial)
