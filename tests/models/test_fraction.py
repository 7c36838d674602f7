"""``RegionModel.from_fraction``: ``k = round(fraction · regions)`` for every model (issue 12).

The reference is Python's ``round`` (ties to even) of ``fraction`` times a region count worked
out by hand from the code shape: filters (block), ceil-divided pooling windows per channel
(pooling), entries (top-k).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcs.models import BlockModel, PoolingModel, TopKModel

FRACTIONS = (0.01, 0.1, 0.25, 1 / 3, 0.5, 0.9, 1.0)


def hand_regions(kind, code_shape, pool_size=None):
    spatial, K = code_shape[:-1], code_shape[-1]
    if kind == "block":
        return K
    if kind == "topk":
        return math.prod(code_shape)
    window = (pool_size,) * len(spatial) if isinstance(pool_size, int) else pool_size
    return math.prod(-(-n // w) for n, w in zip(spatial, window, strict=True)) * K


CASES = [
    ("block", (16, 6), {}),  # 1-D codes
    ("block", (5, 4, 3, 9), {}),  # 3-D codes
    ("topk", (40, 2), {}),
    ("topk", (3, 4, 5, 2), {}),
    ("pooling", (10, 3), {"pool_size": (3,)}),  # 1-D, partial last window
    ("pooling", (8, 8, 4), {"pool_size": (2, 2)}),
    ("pooling", (7, 5, 2), {"pool_size": 2}),  # one int for every axis
    ("pooling", (4, 6, 5, 3), {"pool_size": (2, 3, 2)}),  # 3-D, partial along the last axis
]
MODELS = {"block": BlockModel, "topk": TopKModel, "pooling": PoolingModel}


@pytest.mark.parametrize("kind, code_shape, options", CASES)
def test_k_is_the_rounded_fraction_of_the_regions(kind, code_shape, options):
    cls = MODELS[kind]
    regions = hand_regions(kind, code_shape, options.get("pool_size"))
    for fraction in FRACTIONS:
        if round(fraction * regions) == 0:
            continue
        model = cls.from_fraction(fraction, code_shape, **options)
        assert type(model) is cls
        assert model.num_regions(code_shape) == regions
        assert isinstance(model.k, int) and model.k == round(fraction * regions), fraction
        # the same model as the constructor with that k (capacity, static fields, leaves)
        direct = cls(k=model.k, **options)
        assert model.capacity == direct.capacity
        assert jax.tree.structure(model) == jax.tree.structure(direct)


def test_fraction_one_is_every_region():
    for kind, code_shape, options in CASES:
        model = MODELS[kind].from_fraction(1.0, code_shape, **options)
        assert model.k == hand_regions(kind, code_shape, options.get("pool_size"))


def test_ties_round_to_even_as_python_round():
    assert BlockModel.from_fraction(0.5, (4, 3)).k == 2  # 1.5 -> 2
    assert BlockModel.from_fraction(0.5, (4, 5)).k == 2  # 2.5 -> 2
    assert BlockModel.from_fraction(0.5, (4, 7)).k == 4  # 3.5 -> 4
    assert TopKModel.from_fraction(0.25, (2, 3)).k == 2  # 1.5 -> 2


def test_options_and_keywords_pass_through():
    model = PoolingModel.from_fraction(
        0.1, (32, 32, 16), pool_size=(2, 2), capacity=512, nonnegative=True
    )
    assert model.k == 410 and model.capacity == 512 and model.nonnegative
    assert model.pool_size == (2, 2)
    with pytest.raises(ValueError, match="exceeds capacity"):
        PoolingModel.from_fraction(0.5, (32, 32, 16), pool_size=(2, 2), capacity=512)


def test_fraction_array_gives_a_k_array_that_vmaps():
    fractions = np.array([0.1, 0.5, 1.0])
    model = TopKModel.from_fraction(fractions, (4, 5))
    np.testing.assert_array_equal(np.asarray(model.k), [2, 10, 20])
    assert model.capacity == 24  # the largest k, rounded up to a multiple of 8
    v = jnp.arange(1.0, 21.0).reshape(4, 5)
    counts = jax.vmap(lambda m: jnp.sum(m.project(v) != 0))(model)
    np.testing.assert_array_equal(np.asarray(counts), [2, 10, 20])


@pytest.mark.parametrize(
    "fraction",
    [0, 0.0, -0.1, -1, 1.0000001, 2, float("nan"), float("inf"), np.float32(np.nan)],
)
def test_fraction_outside_the_unit_interval_is_an_error(fraction):
    for cls, options in ((BlockModel, {}), (PoolingModel, {"pool_size": 2}), (TopKModel, {})):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            cls.from_fraction(fraction, (4, 4, 3), **options)


@pytest.mark.parametrize("fraction", [True, "0.5", None, [0.5, "a"]])
def test_fraction_that_is_not_a_number_is_an_error(fraction):
    with pytest.raises(ValueError, match="fraction must be"):
        BlockModel.from_fraction(fraction, (4, 3))


def test_any_bad_entry_of_an_array_is_an_error():
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\].*got nan"):
        BlockModel.from_fraction(np.array([0.5, np.nan]), (4, 3))


def test_fraction_that_rounds_to_zero_names_the_smallest_fraction():
    code_shape = (8, 8, 4)  # 4 · 4 · 4 = 64 pooling regions
    with pytest.raises(ValueError, match=r"k = round\(fraction · 64\) = 0") as info:
        PoolingModel.from_fraction(0.005, code_shape, pool_size=(2, 2))
    message = str(info.value)
    assert "smallest fraction that gives k = 1" in message
    smallest = float(message.split("k = 1 is ")[1].split(" ")[0])
    # it is the least float that gives k = 1: 1/(2·64) itself is a tie and rounds to 0
    assert smallest > 1 / 128 and round(smallest * 64) == 1
    assert PoolingModel.from_fraction(smallest, code_shape, pool_size=(2, 2)).k == 1
    below = float(np.nextafter(smallest, 0.0))
    with pytest.raises(ValueError, match="= 0 active regions"):
        PoolingModel.from_fraction(below, code_shape, pool_size=(2, 2))
    with pytest.raises(ValueError, match="= 0 active regions"):
        BlockModel.from_fraction(np.array([0.5, 0.01]), (4, 3))


def test_traced_fraction_is_refused_with_a_way_out():
    with pytest.raises(ValueError, match="fraction must be concrete"):
        jax.jit(lambda f: TopKModel.from_fraction(f, (4, 5)).k)(0.5)


def test_bad_code_shape_and_model_options_are_checked():
    with pytest.raises(ValueError, match="code_shape"):
        BlockModel.from_fraction(0.5, (4, 0))
    with pytest.raises(ValueError, match="pool_size"):
        PoolingModel.from_fraction(0.5, (4, 4, 3), pool_size=(2,))
    with pytest.raises(ValueError, match="pool_size"):
        PoolingModel.from_fraction(0.5, (4, 4, 3), pool_size=(5, 2))  # window > map
