"""A vmapped batch of model-RIP estimates reads like single ones: ``summary()`` gives one dict
per estimate (equal to the unbatched estimate with the same key) and the repr names the δ kind."""

from __future__ import annotations

import jax
import jax.random as jr
import pytest

import jaxcs


@pytest.fixture(scope="module")
def setup():
    op = jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4), (8,))
    return op, jaxcs.BlockModel(2), jr.split(jr.key(1), 3)


@pytest.mark.parametrize("eigenvalues", [True, False])
def test_batched_summary_is_one_dict_per_estimate(setup, eigenvalues):
    op, model, keys = setup
    batch = jax.vmap(lambda k: jaxcs.estimate_model_rip(k, op, model, 16, eigenvalues=eigenvalues))(
        keys
    )
    summaries = batch.summary()
    assert isinstance(summaries, list) and len(summaries) == 3
    for key, found in zip(keys, summaries, strict=True):
        single = jaxcs.estimate_model_rip(key, op, model, 16, eigenvalues=eigenvalues).summary()
        assert found.keys() == single.keys()
        assert found["delta_lower_bound"] == pytest.approx(single["delta_lower_bound"], rel=1e-5)
        assert found["delta_kind"] == single["delta_kind"]
        assert found["ratio_wt"]["mean"] == pytest.approx(single["ratio_wt"]["mean"], rel=1e-5)
    kind = "support extremes (dense)" if eigenvalues else "random codes"
    assert all(s["delta_kind"] == kind for s in summaries)
    text = repr(batch)
    assert text.startswith("RIPEstimate(batch (3,)") and kind in text and "COMPLETED" in text


def test_single_repr_names_the_bound_kind(setup):
    op, model, _ = setup
    weak = jaxcs.estimate_model_rip(jr.key(2), op, model, 16, eigenvalues=False)
    assert "(random codes)" in repr(weak) and "num_samples=16" in repr(weak)
    strong = jaxcs.estimate_model_rip(jr.key(2), op, model, 16)
    assert "(support extremes (dense))" in repr(strong)
    assert f"{float(strong.delta_lower_bound):.4f}" in repr(strong)


def test_nested_batches_nest_the_lists(setup):
    op, model, _ = setup
    keys = jr.split(jr.key(3), 4).reshape(2, 2)
    batch = jax.vmap(jax.vmap(lambda k: jaxcs.estimate_model_rip(k, op, model, 8)))(keys)
    summaries = batch.summary()
    assert [len(row) for row in summaries] == [2, 2]
    assert isinstance(summaries[1][0]["delta_lower_bound"], float)
