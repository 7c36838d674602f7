"""The Babel bound of ``"same"`` layers read off the border table equals the bound from the dense
Gram ``W Wᵀ`` of ``op.as_matrix()`` (an independent computation of every truncated column)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs
from jaxcs.analysis.rip.upper import _dense_bound, _table_bound


def dense_reference(op, model, k):
    """``(upper side, lower side)`` from ``A = W`` in float64, by the module's definition."""
    A = np.asarray(op.as_matrix(), np.float64)
    G = A @ A.T
    cells, inside = jaxcs.models.model_regions(model, op.out_shape)
    region_of = np.empty(len(G), int)
    region_of[cells[inside]] = np.nonzero(inside)[0]
    upper, lower = -math.inf, -math.inf
    for p in range(len(G)):
        best = {}
        for q in range(len(G)):
            if region_of[q] != region_of[p]:
                best[region_of[q]] = max(best.get(region_of[q], 0.0), abs(G[p, q]))
        babel = sum(sorted(best.values(), reverse=True)[: k - 1])
        upper = max(upper, G[p, p] - 1 + babel)
        lower = max(lower, 1 - G[p, p] + babel)
    return upper, min(lower, 1.0)


@pytest.mark.parametrize(
    "filter_shape, in_spatial, stride",
    [((3,), (9,), 1), ((4,), (9,), 2), ((3, 3), (5, 5), 1), ((2, 3), (5, 4), 2)],
)
@pytest.mark.parametrize(
    "model",
    [jaxcs.BlockModel(3), jaxcs.PoolingModel((2, 2), 4), jaxcs.TopKModel(5)],
    ids=["block", "pooling", "topk"],
)
def test_border_table_bound_equals_the_dense_bound(filter_shape, in_spatial, stride, model):
    if isinstance(model, jaxcs.PoolingModel):
        model = jaxcs.PoolingModel((2,) * len(in_spatial), 4)
    rng = np.random.default_rng(len(filter_shape) + stride)
    w = rng.standard_normal(filter_shape + (3, 4))
    w /= np.linalg.norm(w.reshape(-1, 4), axis=0)
    op = jaxcs.ConvOperator(jnp.asarray(w, jnp.float32), in_spatial, stride, "same")
    k = int(model.k)
    table = _table_bound(op, model, tuple(op.out_shape), k)
    np.testing.assert_allclose(table, dense_reference(op, model, k), atol=2e-5)
    np.testing.assert_allclose(table, _dense_bound(op, model, tuple(op.out_shape), k), atol=2e-5)
    assert jaxcs.model_rip_upper_bound(op, model).method == "babel-table"
