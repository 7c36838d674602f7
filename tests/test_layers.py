"""The CNN layer as one IHT step, in Flax (model.md §5, §7; jaxcs/layers.py).

References are independent of the code under test: Flax's own ``nn.Conv`` and ``nn.max_pool``
for the encoder, the VJP of Flax's conv for ``Wᵀ`` (the adjoint of a linear map), NumPy loops
for pooling with switches, the budget and unpooling, and the conftest's dense NumPy ``W``.
"""

from __future__ import annotations

import itertools
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.layers import (
    IHTEncoder,
    IHTLayer,
    LayerOutput,
    decode_layer,
    decode_stack,
    layer_operator,
    plus_minus_filters,
)

# (kernel_size, input spatial, strides, padding, pool_window): the window divides the conv map.
GEOMETRIES = {
    "1d-valid-t1": ((3,), (10,), 1, "VALID", (2,)),
    "1d-valid-t2": ((3,), (13,), 2, "VALID", (3,)),
    "1d-same-t1": ((3,), (8,), 1, "SAME", (4,)),
    "1d-same-t2": ((4,), (16,), 2, "SAME", (2,)),
    "2d-valid-t1": ((3, 3), (8, 10), 1, "VALID", (2, 2)),
    "2d-valid-t2": ((3, 2), (9, 12), 2, "VALID", (2, 3)),
    "2d-same-t1": ((3, 3), (6, 8), 1, "SAME", (2, 2)),
    "2d-same-t2": ((3, 3), (8, 12), 2, "SAME", (2, 2)),
}
M, K = 2, 3


# --------------------------------------------------------------------------- references
# Reference computations and the code under test are jitted: run eagerly, every small op
# compiles on its own, which dominates the runtime of a CPU test suite.
@partial(jax.jit, static_argnames=("strides", "padding"))
def flax_conv(kernel, x, strides, padding):
    """``W x`` with Flax's own ``nn.Conv`` holding ``kernel``."""
    d = kernel.ndim - 2
    conv = nn.Conv(
        kernel.shape[-1], kernel.shape[:d], strides=strides, padding=padding, use_bias=False
    )
    return conv.apply({"params": {"kernel": kernel}}, x)


@partial(jax.jit, static_argnames=("window",))
def flax_relu_max_pool(h, window):
    return nn.max_pool(nn.relu(h), window, strides=window)


@partial(jax.jit, static_argnames=("x_shape", "strides", "padding"))
def flax_adjoint(kernel, code, x_shape, strides, padding):
    """``Wᵀ code`` as the VJP of Flax's conv (independent of ``ConvOperator.rmv``)."""
    zeros = jnp.zeros(x_shape, jnp.result_type(kernel, code))
    _, vjp = jax.vjp(lambda x: flax_conv(kernel, x, strides, padding), zeros)
    return vjp(code)[0]


def run(fn, *args):
    """``fn(*args)`` jitted, with NumPy outputs."""
    return jax.tree.map(np.asarray, jax.jit(fn)(*args))


def normal(seed, shape, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def gaussian_kernel(seed, kernel_size, m, k, dtype=np.float32):
    """N(0, 1/(M·l)) filters (Theorem 3.1), drawn with NumPy."""
    shape = tuple(kernel_size) + (m, k)
    return normal(seed, shape, dtype) / np.sqrt(np.prod(shape[:-1])).astype(dtype)


def numpy_pool(h, window, relu=True, k=None):
    """Pooling with switches, the budget and unpooling of one code ``(*spatial, K)``, by loops.

    Per region and channel: the first entry (C order in the window) of largest ``h`` (ReLU,
    clipped at 0) or largest ``|h|`` (signed); then the ``k`` pooled values of largest magnitude
    (stable: lowest flat index first); partial border regions pool the cells they have.
    """
    h = np.asarray(h, np.float64)
    spatial, channels = h.shape[:-1], h.shape[-1]
    pooled = tuple(-(-n // w) for n, w in zip(spatial, window, strict=True))
    values = np.zeros(pooled + (channels,))
    switches = np.zeros(pooled + (channels,), np.int64)
    where = {}
    for p in itertools.product(*map(range, pooled)):
        for c in range(channels):
            best = None
            for off in itertools.product(*map(range, window)):
                pos = tuple(pi * w + o for pi, w, o in zip(p, window, off, strict=True))
                if any(q >= n for q, n in zip(pos, spatial, strict=True)):
                    continue
                score = h[pos + (c,)] if relu else abs(h[pos + (c,)])
                if best is None or score > best[0]:
                    best = (score, off, pos)
            value = h[best[2] + (c,)]
            values[p + (c,)] = max(value, 0.0) if relu else value
            switches[p + (c,)] = np.ravel_multi_index(best[1], window)
            where[p + (c,)] = best[2]
    if k is not None:
        order = np.argsort(-np.abs(values).ravel(), kind="stable")
        keep = np.zeros(values.size, bool)
        keep[order[:k]] = True
        values = np.where(keep.reshape(values.shape), values, 0.0)
    code = np.zeros_like(h)
    for idx, pos in where.items():
        code[pos + (idx[-1],)] = values[idx]
    return values, switches, code


def numpy_pool_batch(h, window, relu=True, k=None):
    h = np.asarray(h, np.float64)
    d = len(window)
    batch = h.shape[: h.ndim - d - 1]
    flat = h.reshape((-1,) + h.shape[h.ndim - d - 1 :])
    outs = [numpy_pool(v, window, relu, k) for v in flat]
    return tuple(np.stack(o).reshape(batch + o[0].shape) for o in zip(*outs, strict=True))


def numpy_unpool(values, switches, window, spatial):
    """Each pooled value back at its switch, for ``(B, *pooled, K)`` arrays, by loops."""
    values, switches = np.asarray(values, np.float64), np.asarray(switches)
    out = np.zeros((values.shape[0],) + tuple(spatial) + (values.shape[-1],))
    for idx in np.ndindex(values.shape):
        b, p, c = idx[0], idx[1:-1], idx[-1]
        off = np.unravel_index(switches[idx], window)
        pos = tuple(pi * w + o for pi, w, o in zip(p, window, off, strict=True))
        out[(b,) + pos + (c,)] = values[idx]
    return out


def make_layer(name, **kwargs):
    ks, spatial, strides, padding, window = GEOMETRIES[name]
    layer = IHTLayer(
        features=K, kernel_size=ks, strides=strides, padding=padding, pool_window=window, **kwargs
    )
    return layer, spatial


def init(layer, spatial, batch=(2,), seed=0, dtype=np.float32):
    """A batch ``x`` and Gaussian variables in the layer's params layout."""
    x = normal(seed, batch + tuple(spatial) + (M,), dtype)
    kernel = gaussian_kernel(seed + 1, layer.kernel_size, M, layer.features, dtype)
    return x, {"params": {"conv": {"kernel": kernel}}}


def stack_variables(layers, in_channels, seed, dtype=np.float32):
    """Gaussian variables in an encoder's params layout (``layers_i/conv/kernel``)."""
    params, m = {}, in_channels
    for i, layer in enumerate(layers):
        kernel = gaussian_kernel(seed + i, layer.kernel_size, m, layer.features, dtype)
        params[f"layers_{i}"] = {"conv": {"kernel": kernel}}
        m = layer.features
    return {"params": params}


def kernel_of(variables):
    return variables["params"]["conv"]["kernel"]


# --------------------------------------------------------------------------- encoder vs Flax
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_layer_matches_flax_conv_relu_max_pool(name):
    layer, spatial = make_layer(name)
    x, variables = init(layer, spatial)
    out = jax.jit(layer.apply)(variables, x)
    assert isinstance(out, LayerOutput)
    _, _, strides, padding, window = GEOMETRIES[name]
    wx = np.asarray(flax_conv(kernel_of(variables), x, strides, padding))
    ref_pooled = np.asarray(flax_relu_max_pool(wx, window))
    np.testing.assert_allclose(out.response, wx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.pooled, ref_pooled, rtol=1e-6, atol=1e-6)
    _, switches, code = numpy_pool_batch(wx, window)
    np.testing.assert_array_equal(out.switches, switches)
    np.testing.assert_allclose(out.code, code, rtol=1e-6, atol=1e-6)
    assert out.code.shape == wx.shape and out.pooled.shape == ref_pooled.shape
    assert out.switches.dtype == jnp.int32


@pytest.mark.parametrize("relu", [True, False], ids=["relu", "signed"])
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("name", ["2d-same-t2", "1d-valid-t2"])
def test_code_is_one_iht_step_from_zero(name, k, relu):
    """z_1 = 𝕄_known(W x, k) (model.md §7): the layer's code is one step of Algorithm 1."""
    layer, spatial = make_layer(name, k=k, relu=relu)
    x, variables = init(layer, spatial, seed=3)
    window = GEOMETRIES[name][4]
    model = jaxcs.PoolingModel(window, k, nonnegative=relu)

    def both(variables, x):
        op = layer_operator(layer, variables, spatial)
        return layer.apply(variables, x), jaxcs.iht_codes(op, x, model, 1)

    out, iht = run(both, variables, x)
    np.testing.assert_allclose(out.code, iht, rtol=1e-6, atol=1e-6)
    values, switches, code = numpy_pool_batch(out.response, window, relu=relu, k=k)
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


def test_partial_windows_pool_the_border_cells():
    """A window that does not divide the map pools the partial border region too (ceil mode);
    on the complete regions it agrees with Flax's VALID max_pool, which drops the rest."""
    layer = IHTLayer(K, (3, 3), pool_window=(2, 3))
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


# --------------------------------------------------------------------------- Proposition 1
def test_plus_minus_filters_layout():
    w = normal(0, (3, 2, M, K))
    pm = np.asarray(plus_minus_filters(w))
    assert pm.shape == (3, 2, M, 2 * K)
    np.testing.assert_array_equal(pm[..., :K], w)
    np.testing.assert_array_equal(pm[..., K:], -w)


@pytest.mark.parametrize("name", ["1d-valid-t2", "2d-same-t2"])
def test_proposition_1(name):
    """Ψ = [Wᵀ, −Wᵀ]: ReLU(Ψᵀ x) = (ReLU(W x), ReLU(−W x)) and Ψ · ReLU(Ψᵀ x) = Wᵀ W x."""
    ks, spatial, strides, padding, _ = GEOMETRIES[name]
    w = gaussian_kernel(5, ks, M, K)
    x = normal(6, (2,) + spatial + (M,))
    wx = np.asarray(flax_conv(w, x, strides, padding))
    wtwx = np.asarray(flax_adjoint(w, wx, x.shape, strides, padding))
    # Through the layer: ± filters, ReLU, no pooling (a window of ones), tied decoder.
    layer = IHTLayer(2 * K, ks, strides, padding, pool_window=(1,) * len(ks))

    def prop1(w, x):
        variables = {"params": {"conv": {"kernel": plus_minus_filters(w)}}}
        code = layer.apply(variables, x).code
        psi_t = jaxcs.ConvOperator(plus_minus_filters(w), spatial, strides, padding.lower())
        return (
            code,
            decode_layer(layer, variables, code, spatial),
            psi_t.rmv(jnp.maximum(psi_t.mv(x), 0)),
        )

    code, x_hat, via_operator = run(prop1, w, x)
    np.testing.assert_allclose(code[..., :K], np.maximum(wx, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(code[..., K:], np.maximum(-wx, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x_hat, wtwx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(via_operator, wtwx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["1d-same-t1", "2d-valid-t1"])
def test_signed_pooling_is_the_larger_of_the_plus_minus_pair(name):
    """The theory's signed max-|·| pooling of W x (relu=False) is, per region, whichever of the
    ReLU'd ± pair's pooled values is larger, with its sign and its switch (Proposition 1)."""
    ks, spatial, strides, padding, window = GEOMETRIES[name]
    w = gaussian_kernel(7, ks, M, K)
    x = normal(8, (2,) + spatial + (M,))
    signed = IHTLayer(K, ks, strides, padding, window, relu=False)
    pair = IHTLayer(2 * K, ks, strides, padding, window, relu=True)

    def both(w, x):
        s = signed.apply({"params": {"conv": {"kernel": w}}}, x)
        return s, pair.apply({"params": {"conv": {"kernel": plus_minus_filters(w)}}}, x)

    s, p = run(both, w, x)
    pos, neg = p.pooled[..., :K], p.pooled[..., K:]
    take_pos = pos >= neg
    np.testing.assert_allclose(s.pooled, np.where(take_pos, pos, -neg), rtol=1e-6)
    np.testing.assert_array_equal(
        s.switches, np.where(take_pos, p.switches[..., :K], p.switches[..., K:])
    )
    assert np.any(take_pos) and np.any(~take_pos)


# --------------------------------------------------------------------------- tied decoder
@pytest.mark.parametrize(("name", "k"), [("1d-valid-t2", 2), ("2d-same-t2", None)])
def test_decode_is_one_step_reconstruction(name, k):
    layer, spatial = make_layer(name, k=k)
    x, variables = init(layer, spatial, seed=11)
    _, _, strides, padding, window = GEOMETRIES[name]
    model = jaxcs.PoolingModel(window, k, nonnegative=True)

    def decoders(variables, x):
        code = layer.apply(variables, x).code
        op = layer_operator(layer, variables, spatial)
        return (
            code,
            decode_layer(layer, variables, code, spatial),
            op.rmv(code),
            jaxcs.one_step_reconstruction(op, x, model),
            layer.apply(variables, code, spatial, method=IHTLayer.decode),
        )

    code, x_hat, rmv, one_step, method = run(decoders, variables, x)
    assert x_hat.shape == x.shape
    assert np.any(code != 0)
    ref = np.asarray(flax_adjoint(kernel_of(variables), code, x.shape, strides, padding))
    np.testing.assert_allclose(x_hat, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x_hat, rmv, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x_hat, one_step, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(method, x_hat, rtol=1e-6, atol=1e-6)
    # Any params form holding the one kernel gives the same operator.
    for params in (variables, variables["params"], variables["params"]["conv"]):
        op = layer_operator(layer, params, spatial)
        np.testing.assert_array_equal(op.filters, kernel_of(variables))
        assert op.stride == (strides,) * len(spatial) and op.padding == padding.lower()


def two_layer_encoder():
    return IHTEncoder(
        (
            IHTLayer(4, (3, 3), padding="SAME", pool_window=(2, 2)),
            IHTLayer(5, (3, 3), padding="VALID", pool_window=(2, 2), k=5),
        )
    )


def test_encoder_and_decode_stack_match_hand_composition():
    encoder = two_layer_encoder()
    x = normal(20, (2, 12, 12, 3))
    variables = stack_variables(encoder.layers, 3, seed=21)
    # Flax's init gives the same tree (traced only: compiling the initialiser is slow on CPU).
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
    wx1 = np.asarray(flax_conv(k1, x, 1, "SAME"))
    np.testing.assert_allclose(r1.pooled, flax_relu_max_pool(wx1, (2, 2)), rtol=1e-6, atol=1e-6)
    wx2 = np.asarray(flax_conv(k2, r1.pooled, 1, "VALID"))
    values2, _, code2 = numpy_pool_batch(wx2, (2, 2), k=5)
    np.testing.assert_allclose(r2.pooled, values2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r2.code, code2, rtol=1e-5, atol=1e-6)
    assert r1.code.shape == (2, 12, 12, 4) and r1.pooled.shape == (2, 6, 6, 4)
    assert r2.code.shape == (2, 4, 4, 5) and r2.pooled.shape == (2, 2, 2, 5)
    # Decoder: x̂ = W₁ᵀ unpool₁(W₂ᵀ h₂), written out by hand.
    y2 = np.asarray(flax_adjoint(k2, r2.code, r1.pooled.shape, 1, "VALID"))
    u1 = numpy_unpool(y2, r1.switches, (2, 2), (12, 12)).astype(np.float32)
    ref = np.asarray(flax_adjoint(k1, u1, x.shape, 1, "SAME"))
    assert x_hat.shape == x.shape
    np.testing.assert_allclose(x_hat, ref, rtol=1e-5, atol=1e-5)
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


def test_vmap_over_params_and_decode_stack():
    layer, spatial = make_layer("1d-valid-t1")
    x = normal(50, (2,) + spatial + (M,))
    stacked = {"params": {"conv": {"kernel": normal(51, (3, 3, M, K))}}}
    codes = run(jax.vmap(lambda v, x: layer.apply(v, x).code, (0, None)), stacked, x)
    single = jax.jit(lambda v, x: layer.apply(v, x).code)
    for i in range(3):
        v = jax.tree.map(lambda a, i=i: a[i], stacked)
        np.testing.assert_allclose(codes[i], single(v, x), rtol=1e-6, atol=1e-6)
    encoder = two_layer_encoder()
    x2 = normal(52, (2, 12, 12, 3))
    variables = stack_variables(encoder.layers, 3, seed=53)
    results = jax.jit(encoder.apply)(variables, x2)
    batched = run(lambda v, r: decode_stack(encoder, v, r, (12, 12)), variables, results)
    mapped = run(jax.vmap(lambda r: decode_stack(encoder, variables, r, (12, 12))), results)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6, atol=1e-6)
    assert np.any(batched != 0)


def test_traced_budget_does_not_recompile(assert_no_compiles):
    _, spatial, strides, padding, window = GEOMETRIES["2d-valid-t1"]

    @jax.jit
    def encode(variables, x, k):
        layer = IHTLayer(K, (3, 3), strides, padding, window, k=k)
        return layer.apply(variables, x).code

    layer, _ = make_layer("2d-valid-t1")
    x, variables = init(layer, spatial, seed=60)
    variables, x = jax.device_put((variables, x))
    k2, k3 = jnp.asarray(2), jnp.asarray(3)
    code2 = np.asarray(encode(variables, x, k2))
    code3 = np.asarray(assert_no_compiles(encode, variables, x, k3))
    response = np.asarray(flax_conv(kernel_of(variables), x, strides, padding))
    np.testing.assert_allclose(code2, numpy_pool_batch(response, window, k=2)[2], rtol=1e-6)
    np.testing.assert_allclose(code3, numpy_pool_batch(response, window, k=3)[2], rtol=1e-6)


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
    _, _, strides, padding, window = GEOMETRIES[name]
    W = dense_reference(kernel_of(variables), spatial, strides, padding.lower())
    wx = (x.reshape(2, -1) @ W.T).reshape(out.response.shape)
    np.testing.assert_allclose(out.response, wx, rtol=1e-12, atol=1e-12)
    values, _, code = numpy_pool_batch(wx, window, k=3)
    np.testing.assert_allclose(out.pooled, values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.code, code, rtol=1e-12, atol=1e-12)
    ref = (code.reshape(2, -1) @ W).reshape(x.shape)
    np.testing.assert_allclose(x_hat, ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- bad input
def test_bad_configuration_raises_naming_the_field():
    cases = [
        (dict(features=0, kernel_size=(3,), pool_window=(2,)), "features"),
        (dict(features=2, kernel_size=3, pool_window=(2,)), "kernel_size"),
        (dict(features=2, kernel_size=(3, 3), pool_window=(2,)), "pool_window"),
        (dict(features=2, kernel_size=(3,), pool_window=(2,), padding="CIRCULAR"), "padding"),
        (dict(features=2, kernel_size=(3,), pool_window=(2,), strides=(1, 1)), "strides"),
        (dict(features=2, kernel_size=(3,), pool_window=(2,), k=-1), "k must be >= 0"),
        (dict(features=2, kernel_size=(3,), pool_window=(2,), k=1.5), "k must be None"),
        (dict(features=2, kernel_size=(3,), pool_window=(2,), relu=None), "relu"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            IHTLayer(**kwargs)
    with pytest.raises(ValueError, match="layers must be a non-empty"):
        IHTEncoder(())
    with pytest.raises(ValueError, match="layers must all have the same number"):
        IHTEncoder((IHTLayer(2, (3,), pool_window=(2,)), IHTLayer(2, (3, 3))))
    with pytest.raises(ValueError, match="filters"):
        plus_minus_filters(np.ones((3, 4)))


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
        encode(variables, np.ones((2, 12, M), np.float32))  # (12 - 3) / 2 shifts
    other = IHTLayer(K, (5,), 2, pool_window=(3,))
    with pytest.raises(ValueError, match="params hold a kernel"):
        jax.eval_shape(other.apply, variables, x)
    with pytest.raises(ValueError, match="params hold a kernel"):
        layer_operator(other, variables, spatial)
    with pytest.raises(ValueError, match="input_shape"):
        layer_operator(layer, variables, (13, 1))
    with pytest.raises(ValueError, match="code must have shape"):
        decode_layer(layer, variables, np.ones((2, 5, K), np.float32), spatial)
    encoder = two_layer_encoder()
    x2 = np.ones((1, 12, 12, 3), np.float32)
    ev = stack_variables(encoder.layers, 3, seed=0)
    results = jax.eval_shape(encoder.apply, ev, x2)
    with pytest.raises(ValueError, match="results must hold one LayerOutput per layer"):
        jax.eval_shape(lambda r: decode_stack(encoder, ev, r, (12, 12)), results[:1])
    with pytest.raises(ValueError, match="params must be the encoder's variables"):
        jax.eval_shape(lambda r: decode_stack(encoder, variables, r, (12, 12)), results)
