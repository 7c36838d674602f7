"""SmallCNN, NetworkConfig and block_operator against independent references: the dense
NumPy matrix of the convolution (tests/conftest.py), ``lax.conv_general_dilated``,
``flax.linen.Conv``, and batch norm / max pooling / the classifier written out in NumPy."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import pytest

from jaxcs.experiments.networks import NetworkConfig, SmallCNN, block_kernel, block_operator
from jaxcs.experiments.networks.training import initialize

SHAPE = (8, 8, 2)
BATCH = 5
EPS = 1e-5
TOL = dict(rtol=1e-5, atol=1e-5)


def np_conv_same(x, kernel, bias, dense_reference):
    """``W x + b`` per example with the loop-built dense ``W`` of ``"same"`` padding."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    B, H, W, _ = x.shape
    K = kernel.shape[-1]
    dense = dense_reference(kernel, (H, W), 1, "same")
    return (x.reshape(B, -1) @ dense.T).reshape(B, H, W, K) + np.asarray(bias, np.float64)


def np_batch_norm(v, stats, norm=None):
    out = (np.asarray(v, np.float64) - np.asarray(stats["mean"])) / np.sqrt(
        np.asarray(stats["var"], np.float64) + EPS
    )
    if norm is not None:
        out = out * np.asarray(norm["scale"]) + np.asarray(norm["bias"])
    return out


def np_max_pool(v):
    B, H, W, K = v.shape
    v = np.asarray(v)[:, : H // 2 * 2, : W // 2 * 2]
    return v.reshape(B, H // 2, 2, W // 2, 2, K).max(axis=(2, 4))


def _network(random_variables, frozen_filters):
    config = NetworkConfig((4, 6), filter_size=3, num_classes=3, frozen_filters=frozen_filters)
    variables = random_variables(config, SHAPE, 1)
    x = jax.random.normal(jax.random.PRNGKey(2), (BATCH,) + SHAPE)
    apply = jax.jit(lambda v, x: config.module().apply(v, x, method=SmallCNN.activations))
    blocks, logits = apply(variables, x)
    return config, variables, x, blocks, logits


@pytest.fixture(scope="module")
def learned(random_variables):
    return _network(random_variables, False)


@pytest.fixture(scope="module")
def frozen(random_variables):
    return _network(random_variables, True)


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(widths=()), "widths"),
        (dict(widths=[]), "widths"),
        (dict(widths=4), "widths"),
        (dict(widths=(4, 0)), "widths"),
        (dict(widths=(4, -2)), "widths"),
        (dict(widths=(4.0,)), "widths"),
        (dict(widths=(4,), filter_size=0), "filter_size"),
        (dict(widths=(4,), num_classes=1), "num_classes"),
        (dict(widths=(4,), num_classes=0), "num_classes"),
        (dict(widths=(4,), frozen_filters=1), "frozen_filters"),
        (dict(widths=(4,), frozen_filters="yes"), "frozen_filters"),
    ],
)
def test_config_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetworkConfig(**kwargs)


def test_config_name_depth_and_module():
    random = NetworkConfig([4, 8], filter_size=5, frozen_filters=True)
    learned = NetworkConfig((4, 8), filter_size=5)
    assert random.widths == (4, 8) and random.depth == 2
    assert random.name != learned.name
    assert "random" in random.name and "learned" in learned.name
    assert NetworkConfig((4, 8, 16)).name != NetworkConfig((4, 8)).name
    module = random.module()
    assert isinstance(module, SmallCNN)
    assert tuple(module.widths) == (4, 8) and module.filter_size == 5 and module.frozen_filters


# --------------------------------------------------------------------------- layout
def test_param_layout():
    key = jax.random.PRNGKey(0)
    config = NetworkConfig((4, 6), filter_size=3, num_classes=3)
    variables = jax.eval_shape(lambda: initialize(key, config, SHAPE))
    params = variables["params"]
    assert set(params) == {"block_0", "block_1", "norm_0", "norm_1", "classifier"}
    assert params["block_0"]["kernel"].shape == (3, 3, 2, 4)
    assert params["block_0"]["bias"].shape == (4,)
    assert params["block_1"]["kernel"].shape == (3, 3, 4, 6)
    assert params["norm_1"]["scale"].shape == (6,) and params["norm_1"]["bias"].shape == (6,)
    assert params["classifier"]["kernel"].shape == (2 * 2 * 6, 3)
    assert set(variables["batch_stats"]) == {"norm_0", "norm_1"}

    config = NetworkConfig((4, 6), filter_size=3, num_classes=3, frozen_filters=True)
    fvariables = jax.eval_shape(lambda: initialize(key, config, SHAPE))
    assert set(fvariables["params"]) == {"block_0", "block_1", "classifier"}
    assert set(fvariables["batch_stats"]) == {"norm_0", "norm_1"}


# --------------------------------------------------------------------------- activations
def test_block0_response_matches_references(learned, dense_reference):
    _, variables, x, blocks, _ = learned
    p = variables["params"]["block_0"]
    kernel, bias = p["kernel"], p["bias"]
    assert np.any(np.asarray(bias) != 0)
    response = np.asarray(blocks[0]["response"])
    np.testing.assert_allclose(response, np_conv_same(x, kernel, bias, dense_reference), **TOL)
    lax_out = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(response, np.asarray(lax_out + bias), **TOL)
    flax_out = nn.Conv(4, (3, 3), padding="SAME").apply({"params": p}, x)
    np.testing.assert_allclose(response, np.asarray(flax_out), **TOL)


def test_blocks_chain_and_layers(learned, dense_reference):
    _, variables, x, blocks, logits = learned
    params, stats = variables["params"], variables["batch_stats"]
    assert len(blocks) == 2
    np.testing.assert_array_equal(np.asarray(blocks[0]["input"]), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(blocks[1]["input"]), np.asarray(blocks[0]["pooled"]))
    spatial = [(8, 8), (4, 4)]
    for i, block in enumerate(blocks):
        p = params[f"block_{i}"]
        expected = np_conv_same(block["input"], p["kernel"], p["bias"], dense_reference)
        np.testing.assert_allclose(np.asarray(block["response"]), expected, **TOL)
        assert block["response"].shape == (BATCH, *spatial[i], (4, 6)[i])
        np.testing.assert_array_equal(
            np.asarray(block["relu"]), np.maximum(np.asarray(block["response"]), 0)
        )
        normalized = np_batch_norm(block["relu"], stats[f"norm_{i}"], params[f"norm_{i}"])
        np.testing.assert_allclose(np.asarray(block["normalized"]), normalized, **TOL)
        pooled = np.asarray(block["pooled"])
        np.testing.assert_array_equal(pooled, np_max_pool(block["normalized"]))
        flax_pooled = nn.max_pool(block["normalized"], (2, 2), strides=(2, 2), padding="VALID")
        np.testing.assert_array_equal(pooled, np.asarray(flax_pooled))
    h = np.asarray(blocks[1]["pooled"], np.float64).reshape(BATCH, -1)
    c = params["classifier"]
    expected_logits = h @ np.asarray(c["kernel"]) + np.asarray(c["bias"])
    assert logits.shape == (BATCH, 3)
    np.testing.assert_allclose(np.asarray(logits), expected_logits, **TOL)


def test_call_returns_logits(learned):
    config, variables, x, _, logits = learned
    np.testing.assert_allclose(
        np.asarray(config.module().apply(variables, x)), np.asarray(logits), **TOL
    )


def test_frozen_blocks_ignore_bias_and_have_no_affine(frozen, dense_reference):
    _, variables, x, blocks, _ = frozen
    params, stats = variables["params"], variables["batch_stats"]
    for i, block in enumerate(blocks):
        kernel = params[f"block_{i}"]["kernel"]
        assert np.any(np.asarray(params[f"block_{i}"]["bias"]) != 0)  # held at 0 regardless
        expected = np_conv_same(block["input"], kernel, 0.0, dense_reference)
        np.testing.assert_allclose(np.asarray(block["response"]), expected, **TOL)
        normalized = np_batch_norm(block["relu"], stats[f"norm_{i}"])
        np.testing.assert_allclose(np.asarray(block["normalized"]), normalized, **TOL)
        np.testing.assert_array_equal(np.asarray(block["pooled"]), np_max_pool(block["normalized"]))


def test_train_mode_uses_batch_statistics(learned):
    config, variables, x, _, _ = learned
    (blocks, _), updates = config.module().apply(
        variables, x, True, method=SmallCNN.activations, mutable=["batch_stats"]
    )
    relu = np.asarray(blocks[0]["relu"], np.float64)
    mean, var = relu.mean(axis=(0, 1, 2)), relu.var(axis=(0, 1, 2))
    norm = variables["params"]["norm_0"]
    expected = (relu - mean) / np.sqrt(var + EPS) * np.asarray(norm["scale"]) + np.asarray(
        norm["bias"]
    )
    np.testing.assert_allclose(np.asarray(blocks[0]["normalized"]), expected, rtol=1e-4, atol=1e-4)
    old = variables["batch_stats"]["norm_0"]
    new = updates["batch_stats"]["norm_0"]
    np.testing.assert_allclose(
        np.asarray(new["mean"]), 0.9 * np.asarray(old["mean"]) + 0.1 * mean, rtol=1e-5, atol=1e-5
    )


def test_activations_rejects_non_4d(learned):
    config, variables, x, _, _ = learned
    with pytest.raises(ValueError, match="shape"):
        config.module().apply(variables, x[0], method=SmallCNN.activations)


# --------------------------------------------------------------------------- block operator
@pytest.mark.parametrize("net", ["learned", "frozen"])
def test_block_operator_reproduces_response(net, request):
    config, variables, _, blocks, _ = request.getfixturevalue(net)
    for i, block in enumerate(blocks):
        op = block_operator(variables, i, block["input"].shape[1:3])
        np.testing.assert_array_equal(
            np.asarray(block_kernel(variables, i)),
            np.asarray(variables["params"][f"block_{i}"]["kernel"]),
        )
        bias = 0.0 if config.frozen_filters else variables["params"][f"block_{i}"]["bias"]
        out = op.mv(block["input"]) + bias
        np.testing.assert_allclose(np.asarray(out), np.asarray(block["response"]), **TOL)
        # block_kernel also accepts the bare params tree
        assert block_kernel(variables["params"], i) is variables["params"][f"block_{i}"]["kernel"]


def test_block_kernel_missing_block(learned):
    _, variables, *_ = learned
    with pytest.raises(ValueError, match="block_2"):
        block_kernel(variables, 2)
