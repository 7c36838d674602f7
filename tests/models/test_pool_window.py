"""A pooling window larger than the map is an error (issue 12, item 8); one equal to the map, or
one that does not divide it (a partial last region), still works."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs
from jaxcs.models import PoolingModel, fixed_switches, max_pool, pool_project, unpool


def _message(window, axis, w, n):
    head = re.escape(f"pool_size {window} does not fit")
    tail = re.escape(f"along axis {axis} the window {w} is larger than the map size {n}")
    return f"{head}.*{tail}"


CASES = [
    # (spatial, window, axis, w, n)
    ((3,), (4,), 0, 4, 3),
    ((3, 5), (4, 2), 0, 4, 3),
    ((3, 5), (2, 6), 1, 6, 5),
    ((2, 3, 4), (1, 1, 5), 2, 5, 4),
    ((2, 3, 4), (2, 4, 1), 1, 4, 3),
]


@pytest.mark.parametrize("spatial, window, axis, w, n", CASES)
def test_window_larger_than_the_map_is_an_error_for_each_axis(spatial, window, axis, w, n):
    v = jnp.ones(spatial + (2,))
    match = _message(window, axis, w, n)
    with pytest.raises(ValueError, match=match):
        max_pool(v, window)
    with pytest.raises(ValueError, match=match):
        max_pool(v, window, nonnegative=True)
    with pytest.raises(ValueError, match=match):
        pool_project(v, window, 1)
    with pytest.raises(ValueError, match=match):
        jaxcs.models.pool_project_sparse(v, window, 1)
    pooled = tuple(1 for _ in spatial) + (2,)
    with pytest.raises(ValueError, match=match):
        unpool(jnp.ones(pooled), jnp.zeros(pooled, int), window, spatial)
    with pytest.raises(ValueError, match=match):
        fixed_switches(spatial, window)
    model = PoolingModel(window, 1)
    with pytest.raises(ValueError, match=match):
        model.project(v)
    with pytest.raises(ValueError, match=match):
        model.num_regions(v.shape)
    with pytest.raises(ValueError, match=match):
        model.sample(jax.random.key(0), v.shape)


def test_the_error_is_raised_under_jit_too():
    with pytest.raises(ValueError, match="pool_size"):
        jax.jit(lambda v: max_pool(v, (3, 3))[0])(jnp.ones((2, 4, 1)))


def test_one_int_pool_size_larger_than_a_map_axis():
    with pytest.raises(ValueError, match=_message((2, 2), 1, 2, 1)):
        PoolingModel(2, 1).project(jnp.ones((4, 1, 3)))


@pytest.mark.parametrize("spatial", [(3,), (3, 5), (2, 3, 4)])
def test_window_equal_to_the_map_is_one_region_per_channel(spatial):
    rng = np.random.default_rng(0)
    v = rng.standard_normal(spatial + (3,)).astype(np.float32)
    values, switches = max_pool(v, spatial)
    assert values.shape == switches.shape == (1,) * len(spatial) + (3,)
    flat = v.reshape(-1, 3)
    best = np.argmax(np.abs(flat), axis=0)
    np.testing.assert_array_equal(np.asarray(switches).reshape(3), best)
    np.testing.assert_array_equal(np.asarray(values).reshape(3), flat[best, np.arange(3)])
    back = unpool(values, switches, spatial, spatial)
    assert back.shape == v.shape
    assert PoolingModel(spatial, 2).num_regions(v.shape) == 3
    assert jnp.sum(PoolingModel(spatial, 2).project(v) != 0) == 2


def test_windows_that_do_not_divide_the_map_keep_their_partial_region():
    v = jnp.arange(1.0, 6.0).reshape(5, 1)  # regions {1, 2, 3} and the partial {4, 5}
    values, switches = max_pool(v, (3,))
    np.testing.assert_array_equal(np.asarray(values)[:, 0], [3.0, 5.0])
    np.testing.assert_array_equal(np.asarray(switches)[:, 0], [2, 1])


def test_an_empty_map_axis_is_let_through():
    # no region at all, nothing partial: the networks' decoder crops a 1-wide map to 0 first
    values, switches = max_pool(jnp.ones((0, 4, 2)), (2, 2))
    assert values.shape == switches.shape == (0, 2, 2)
