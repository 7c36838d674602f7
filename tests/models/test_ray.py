"""Projections along a ray ``z + μ g`` (jaxcs/ray_projection.py) against ``project``.

The ray form must give exactly the projection of ``z + μ g``: the same cells and values, the
same tie rule (tied integer data), for every model kind, signed and non-negative, partial
pooling windows, ``z = 0`` (support from another vector) and ``z`` model-sparse.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs
from jaxcs.models import project_ray

ray_module = importlib.import_module("jaxcs.models.ray")

CASES = [
    ("topk-1d", jaxcs.TopKModel(3, capacity=4), (12,)),
    ("topk-2d-nonneg", jaxcs.TopKModel(3, capacity=4, nonnegative=True), (4, 3)),
    ("block", jaxcs.BlockModel(2, capacity=2), (5, 4)),
    ("block-2d-nonneg", jaxcs.BlockModel(2, capacity=3, nonnegative=True), (3, 2, 4)),
    ("pool-1d-partial", jaxcs.PoolingModel((2,), 3, capacity=4), (7, 3)),
    ("pool-2d-2x3-partial", jaxcs.PoolingModel((2, 3), 2, capacity=3), (5, 4, 2)),
    ("pool-2d-nonneg", jaxcs.PoolingModel((2, 2), 3, capacity=8, nonnegative=True), (5, 5, 2)),
]
MUS = jnp.asarray([0.0, 0.25, 0.5, 1.0, 2.0])


@pytest.mark.parametrize("ranking", ["pairwise", "sort"])
@pytest.mark.parametrize(("model", "shape"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_ray_projection_equals_project(model, shape, ranking, monkeypatch):
    """Both rankings (pairwise for few candidates, a stable sort for many) give the projection,
    ties included."""
    if ranking == "sort":
        monkeypatch.setattr(ray_module, "PAIRWISE_RANK_LIMIT", 0)
    rng = np.random.default_rng(50)

    @jax.jit
    def both(base, g, zero):
        support = model.project_sparse(base)
        # z = 0 keeps the support (the regions held) with values 0
        support = support.replace(values=jnp.where(zero, 0, support.values))
        z = support.to_dense()
        ray = project_ray(model, support, g)
        fast = jax.vmap(lambda mu: ray.at(mu).to_dense())(MUS)
        slow = jax.vmap(lambda mu: model.project(z + mu * g))(MUS)
        return fast, slow

    for trial in range(12):
        draw = rng.integers(-2, 3, size=shape) if trial % 2 else rng.standard_normal(shape)
        g = rng.integers(-2, 3, size=shape) if trial % 2 else rng.standard_normal(shape)
        fast, slow = both(
            jnp.asarray(draw, jnp.float32), jnp.asarray(g, jnp.float32), trial % 3 == 0
        )
        np.testing.assert_array_equal(np.asarray(fast), np.asarray(slow))


def test_ray_projection_nan_and_capacity():
    model = jaxcs.BlockModel(2, capacity=2)
    rng = np.random.default_rng(51)
    v = jnp.asarray(rng.standard_normal((5, 4)), jnp.float32)
    support = model.project_sparse(v)
    g = jnp.asarray(rng.standard_normal((5, 4)), jnp.float32)
    bad = g.at[4, 3].set(jnp.nan)
    assert np.all(np.isnan(project_ray(model, support, bad).at(1.0).to_dense()))
    zero = support.replace(values=support.values * 0)
    over = jax.jit(lambda k: project_ray(model.replace(k=k), zero, g).at(1.0).to_dense())
    assert np.all(np.isnan(over(3)))
    np.testing.assert_array_equal(over(1), model.replace(k=1).project(g))
    ray = project_ray(model, support, g)
    assert np.all(np.isnan(ray.at(jnp.nan).to_dense()))  # as project(z + NaN · g)
    assert np.all(np.isnan(ray.at(jnp.inf).to_dense()))  # inf · 0 = NaN in z + inf · g
    nan_z = support.replace(values=support.values.at[1].set(jnp.nan))
    assert np.all(np.isnan(project_ray(model, nan_z, g).at(0.5).to_dense()))
