"""The tied-weight decoder against a NumPy reference written out by hand (undo batch norm,
unpool at ``argmax`` of the 2 × 2 regions, ``Wᵀ`` from the loop-built dense matrix of
tests/conftest.py), ``batch_norm_affine`` against Flax's BatchNorm, and ``train_decoder``."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcs.experiments.networks import (
    NetworkConfig,
    PixelDecoder,
    SmallCNN,
    batch_norm_affine,
    pooling_switches,
    tied_decode,
    train_decoder,
)

EPS = 1e-5
BATCH = 4
TOL = dict(rtol=1e-4, atol=1e-4)

# jitted: eager tracing of the decoder's many small ops compiles each one (seconds on a CPU)
decode = jax.jit(tied_decode, static_argnums=(0, 3))


def _network(random_variables, widths, shape, frozen=False, seed=1):
    config = NetworkConfig(widths, filter_size=3, num_classes=2, frozen_filters=frozen)
    variables = random_variables(config, shape, seed)
    x = jax.random.normal(jax.random.PRNGKey(seed + 10), (BATCH,) + tuple(shape))
    apply = jax.jit(lambda v, x: config.module().apply(v, x, method=SmallCNN.activations))
    blocks, _ = apply(variables, x)
    return config, variables, x, blocks


@pytest.fixture(scope="module")
def one_block(random_variables):
    return _network(random_variables, (4,), (8, 8, 2))


@pytest.fixture(scope="module")
def two_blocks(random_variables):
    # 6 x 6 input: block 1 sees 3 x 3 maps, whose last row and column max pooling drops
    return _network(random_variables, (4, 6), (6, 6, 2))


def np_switches(normalized):
    """argmax (first on ties) of each 2 × 2 region, C order in the region; odd edges dropped."""
    v = np.asarray(normalized)
    B, H, W, K = v.shape
    h, w = H // 2, W // 2
    cells = v[:, : 2 * h, : 2 * w].reshape(B, h, 2, w, 2, K).transpose(0, 1, 3, 5, 2, 4)
    return cells.reshape(B, h, w, K, 4).argmax(axis=-1)


def np_unpool(values, switches, spatial):
    values, switches = np.asarray(values, np.float64), np.asarray(switches)
    B, h, w, K = values.shape
    out = np.zeros((B, *spatial, K))
    for b, i, j, k in np.ndindex(B, h, w, K):
        di, dj = divmod(int(switches[b, i, j, k]), 2)
        out[b, 2 * i + di, 2 * j + dj, k] = values[b, i, j, k]
    return out


def np_affine(config, variables, index):
    stats = variables["batch_stats"][f"norm_{index}"]
    a = 1 / np.sqrt(np.asarray(stats["var"], np.float64) + EPS)
    c = -np.asarray(stats["mean"], np.float64) * a
    if not config.frozen_filters:
        norm = variables["params"][f"norm_{index}"]
        scale, shift = np.asarray(norm["scale"], np.float64), np.asarray(norm["bias"])
        a, c = a * scale, c * scale + shift
    return a, c


def np_decode_step(config, variables, blocks, index, pooled, dense_reference):
    """One block backwards: BN⁻¹, unpool at the switches of ``normalized``, ``Wᵀ``."""
    a, c = np_affine(config, variables, index)
    relu = (np.asarray(pooled, np.float64) - c) / a
    normalized = np.asarray(blocks[index]["normalized"])
    code = np_unpool(relu, np_switches(normalized), normalized.shape[1:3])
    kernel = variables["params"][f"block_{index}"]["kernel"]
    in_spatial = blocks[index]["input"].shape[1:3]
    dense = dense_reference(kernel, in_spatial, 1, "same")
    M = kernel.shape[2]
    return (code.reshape(len(code), -1) @ dense).reshape(len(code), *in_spatial, M)


# --------------------------------------------------------------------------- switches
def test_pooling_switches_match_argmax():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)  # odd height: last row dropped
    v[0, :2, :2, 0] = 0.5  # a tie: the lowest index wins
    v[1, 2:4, 2:4, 1] = -1.0  # all-negative tie
    switches = np.asarray(pooling_switches(jnp.asarray(v)))
    assert switches.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(switches, np_switches(v))
    assert switches[0, 0, 0, 0] == 0 and switches[1, 1, 1, 1] == 0
    # the switch holds what nn.max_pool keeps
    pooled = np.asarray(nn.max_pool(jnp.asarray(v), (2, 2), strides=(2, 2), padding="VALID"))
    cells = v[:, :4].reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 3, 3, 4)
    np.testing.assert_array_equal(
        np.take_along_axis(cells, switches[..., None], -1)[..., 0], pooled
    )


# --------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("frozen", [False, True], ids=["learned", "frozen"])
def test_batch_norm_affine_matches_flax(random_variables, frozen):
    config = NetworkConfig((4, 6), num_classes=2, frozen_filters=frozen)
    variables = random_variables(config, (8, 8, 2), 3)
    v = jnp.asarray(np.random.default_rng(4).normal(size=(3, 4, 4, 6)) * 2, jnp.float32)
    module = nn.BatchNorm(use_running_average=True, use_scale=not frozen, use_bias=not frozen)
    norm = {"batch_stats": variables["batch_stats"]["norm_1"]}
    if not frozen:
        norm["params"] = variables["params"]["norm_1"]
    expected = jax.jit(module.apply)(norm, v)
    a, c = batch_norm_affine(variables, 1, config)
    assert a.shape == c.shape == (6,)
    out = np.asarray(a) * np.asarray(v) + np.asarray(c)
    np.testing.assert_allclose(out, np.asarray(expected), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(a), np_affine(config, variables, 1)[0], rtol=1e-6)


# --------------------------------------------------------------------------- tied decode
def test_tied_decode_one_block_matches_reference(one_block, dense_reference):
    config, variables, x, blocks = one_block
    pooled = blocks[0]["pooled"]
    out = decode(config, variables, blocks, 1, pooled)
    assert out.shape == x.shape
    expected = np_decode_step(config, variables, blocks, 0, pooled, dense_reference)
    np.testing.assert_allclose(np.asarray(out), expected, **TOL)
    # the unpooled code is the ReLU map at the switches: BN⁻¹ of pooled recovers it
    relu = np.asarray(blocks[0]["relu"])
    a, c = np_affine(config, variables, 0)
    switches = np_switches(blocks[0]["normalized"])
    code = np_unpool((np.asarray(pooled) - c) / a, switches, (8, 8))
    mask = np_unpool(np.ones(pooled.shape), switches, (8, 8)) > 0
    np.testing.assert_allclose(code[mask], relu[mask], rtol=1e-4, atol=1e-4)
    # the batch-norm shift alone decodes to nothing
    shift = jnp.broadcast_to(jnp.asarray(c, jnp.float32), pooled.shape)
    zero = decode(config, variables, blocks, 1, shift)
    np.testing.assert_allclose(np.asarray(zero), 0.0, atol=1e-5)


def test_tied_decode_two_blocks_composes(two_blocks, dense_reference):
    config, variables, x, blocks = two_blocks
    assert blocks[1]["input"].shape == (BATCH, 3, 3, 4)
    assert blocks[1]["pooled"].shape == (BATCH, 1, 1, 6)
    top = blocks[1]["pooled"]
    out2 = decode(config, variables, blocks, 2, top)
    assert out2.shape == x.shape
    step1 = np_decode_step(config, variables, blocks, 1, top, dense_reference)
    assert step1.shape == blocks[0]["pooled"].shape
    expected = np_decode_step(config, variables, blocks, 0, step1, dense_reference)
    np.testing.assert_allclose(np.asarray(out2), expected, **TOL)
    # level 2 = level 1 applied to block 1's step
    out1 = decode(config, variables, blocks, 1, jnp.asarray(step1, jnp.float32))
    np.testing.assert_allclose(np.asarray(out2), np.asarray(out1), **TOL)
    assert decode(config, variables, blocks, 1, blocks[0]["pooled"]).shape == x.shape


def test_tied_decode_frozen(random_variables, dense_reference):
    config, variables, x, blocks = _network(random_variables, (4,), (8, 8, 2), frozen=True)
    out = decode(config, variables, blocks, 1, blocks[0]["pooled"])
    expected = np_decode_step(config, variables, blocks, 0, blocks[0]["pooled"], dense_reference)
    np.testing.assert_allclose(np.asarray(out), expected, **TOL)


@pytest.mark.parametrize("level", [0, 3, 1.0])
def test_tied_decode_rejects_level(two_blocks, level):
    config, variables, _, blocks = two_blocks
    with pytest.raises(ValueError, match="level"):
        tied_decode(config, variables, blocks, level, blocks[0]["pooled"])


# --------------------------------------------------------------------------- train_decoder
@pytest.fixture(scope="module")
def upsampling():
    rng = np.random.default_rng(5)
    # width = input channels = 4 throughout, so the level-2 decoder's kernels have the shapes of
    # the level-1 one (eager initialisation compiles once per shape)
    inputs = rng.normal(size=(32, 4, 4, 4)).astype(np.float32)
    targets = inputs[..., :2].repeat(2, axis=1).repeat(2, axis=2)
    return inputs, targets


@pytest.fixture(scope="module")
def fitted(upsampling):
    inputs, targets = upsampling
    kwargs = dict(levels=1, width=4, epochs=6, batch_size=8, learning_rate=1e-2)
    return [train_decoder(jax.random.PRNGKey(0), inputs, targets, **kwargs) for _ in range(2)]


def test_train_decoder_learns_and_is_deterministic(fitted, upsampling):
    inputs, targets = upsampling
    (decoder, variables, losses, seconds), (_, variables2, losses2, _) = fitted
    assert isinstance(decoder, PixelDecoder) and decoder.levels == 1
    assert len(losses) == 6 and seconds >= 0
    assert losses == losses2
    for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(variables2), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert losses[-1] < 0.6 * losses[0]
    out = jax.jit(decoder.apply)(variables, inputs)
    assert out.shape == targets.shape
    assert float(jnp.mean((out - targets) ** 2)) < float(np.mean(targets**2))


def test_train_decoder_two_levels_shape(upsampling):
    inputs, targets = upsampling
    inputs = inputs[:8, :2, :2]  # batch_size 16 > 8 examples: one batch of all of them
    decoder, variables, losses, _ = train_decoder(
        jax.random.PRNGKey(1), inputs, targets[:8], levels=2, width=4, epochs=1, batch_size=16
    )
    assert len(losses) == 1 and np.isfinite(losses[0])
    assert jax.jit(decoder.apply)(variables, inputs).shape == (8, 8, 8, 2)


def test_train_decoder_rejects_length_mismatch(upsampling):
    inputs, targets = upsampling
    with pytest.raises(ValueError, match="same length"):
        train_decoder(jax.random.PRNGKey(0), inputs, targets[:-1], levels=1)
