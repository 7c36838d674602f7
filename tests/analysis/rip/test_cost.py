"""``method="auto"`` of the model-RIP estimate picks the method with the lower modelled cost
(calibrated per padding on benchmarks/results/rip_method_choice_cpu.json), records it in the
result, and both methods give the same ratios for the same key and chunk size."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.analysis.rip.cost import (
    DEFAULT_GRAM_ENTRY_COST,
    GRAM_ENTRY_COST,
    choose_method,
    gram_entry_cost,
    sample_cost,
)

PADDINGS = ("valid", "same", "circular")
TOL32 = dict(rtol=2e-5, atol=2e-5)


def layer(padding, filter_shape=(3, 3), M=16, K=32, size=(16, 16), seed=0):
    w = jaxcs.gaussian_filters(jr.key(seed), filter_shape, M, K)
    return jaxcs.ConvOperator(w, size, padding=padding)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("eigen_method", [None, "dense", "lanczos"])
@pytest.mark.parametrize("full_ratio", [False, True])
def test_auto_picks_the_lower_modelled_cost(padding, eigen_method, full_ratio):
    op = layer(padding)
    picks = set()
    for capacity in (8, 16, 64, 128, 256, 512, 1024):
        costs = {
            m: sample_cost(op, capacity, m, eigen_method, 32, full_ratio) for m in ("gram", "conv")
        }
        pick = choose_method(op, capacity, eigen_method, full_ratio=full_ratio, lanczos_steps=32)
        assert costs[pick] == min(costs.values()), (capacity, costs)
        picks.add(pick)
    if eigen_method == "dense":  # G_S is gathered for the eigenvalues anyway
        assert picks == {"gram"}
    elif full_ratio:  # the two convolutions run for the full ratio anyway
        assert picks == {"conv"}
    else:  # gram for small k, conv for large k
        assert picks == {"gram", "conv"}


def test_the_cost_model_is_the_calibrated_one():
    for padding in PADDINGS:
        op = layer(padding)
        assert gram_entry_cost(op) == GRAM_ENTRY_COST[padding]
        assert sample_cost(op, 64, "gram", None, 32) == GRAM_ENTRY_COST[padding] * 64 * 64
        assert sample_cost(op, 64, "conv", None, 32) == 2 * op.mv_cost()
    matrix = jaxcs.MatrixOperator(jnp.eye(4))
    assert gram_entry_cost(matrix) == DEFAULT_GRAM_ENTRY_COST
    assert gram_entry_cost(layer("valid").T) == DEFAULT_GRAM_ENTRY_COST


def test_same_padding_where_gram_is_costly_picks_conv():
    """The case of the report (3×3, 16 → 32, 16×16, "same", 2×2 pooling, k = 128; then 55 s
    by Gram against 3 s by convolution, before the border table): the two now measure within
    3 % of each other (benchmarks/results/rip_method_choice_cpu.json) and auto convolves; at
    k = 512 the convolutions are 3.5× faster."""
    op = layer("same")
    assert choose_method(op, 128, None) == "conv"
    assert choose_method(op, 512, "lanczos") == "conv"
    assert choose_method(op, 16, None) == "gram"
    assert choose_method(op, 128, "dense") == "gram"
    # a 64 → 64 channel 32×32 layer convolves 33× more per code: the Gram stays cheaper
    big = jaxcs.ConvOperator(jnp.zeros((3, 3, 64, 64)), (32, 32), padding="same")
    assert choose_method(big, 512, None) == "gram"


@pytest.mark.parametrize(
    "k, expected", [(8, "gram"), (32, "conv")], ids=["small-k-gram", "large-k-conv"]
)
def test_estimate_records_the_method_that_ran(k, expected):
    op = layer("same", filter_shape=(5,), M=8, K=16, size=(64,))
    model = jaxcs.TopKModel(k)
    capacity = model.num_slots(op.out_shape)
    assert choose_method(op, capacity, None) == expected
    est = jaxcs.estimate_model_rip(jr.key(0), op, model, 16, eigenvalues=False)
    assert est.method == expected
    assert est.summary()["method"] == expected
    assert f"method={expected}" in repr(est)
    for method in ("gram", "conv"):
        forced = jaxcs.estimate_model_rip(jr.key(0), op, model, 16, method=method)
        assert forced.method == method and forced.summary()["method"] == method


def test_batched_repr_shows_the_method():
    op = layer("valid", filter_shape=(3,), M=2, K=4, size=(8,))
    import jax

    keys = jr.split(jr.key(1), 2)
    batch = jax.vmap(
        lambda key: jaxcs.estimate_model_rip(key, op, jaxcs.BlockModel(2), 8, method="conv")
    )(keys)
    assert "method=conv" in repr(batch)
    assert all(s["method"] == "conv" for s in batch.summary())


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("eigenvalues", [False, True])
def test_gram_and_conv_give_the_same_ratios(padding, eigenvalues):
    """Same key and chunk size: the same codes, hence the same samples (up to float32)."""
    op = layer(padding, filter_shape=(3,), M=2, K=6, size=(12,), seed=4)
    model = jaxcs.BlockModel(4)
    kw = dict(chunk_size=16, keep_samples=True, eigenvalues=eigenvalues)
    gram = jaxcs.estimate_model_rip(jr.key(9), op, model, 40, method="gram", **kw)
    conv = jaxcs.estimate_model_rip(jr.key(9), op, model, 40, method="conv", **kw)
    assert (gram.method, conv.method) == ("gram", "conv")
    names = ("ratio_wt", "ratio_wwt") + (("eig_min", "eig_max") if eigenvalues else ())
    for name in names:
        np.testing.assert_allclose(gram.samples[name], conv.samples[name], **TOL32, err_msg=name)
        for field in ("mean", "min", "max"):
            np.testing.assert_allclose(
                getattr(getattr(gram, name), field), getattr(getattr(conv, name), field), **TOL32
            )
