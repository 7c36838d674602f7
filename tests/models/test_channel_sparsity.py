"""The per-channel and joint models (not region models) against brute force: their projections
are the closest codes of the model (every support enumerated), their samples lie in the model
with uniform supports, and they go through the solvers and the sampled model-RIP, whose extremes
meet the brute-force δ_k on a tiny layer."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.models import JointModel, PerChannelModel

SHAPE = (2, 3, 2)  # n = 6 positions, K = 2 channels


def _supports(model, shape):
    """Every support of the model with a full budget, as boolean masks ``shape`` (brute force
    from the definitions)."""
    n, K = int(np.prod(shape[:-1])), shape[-1]
    k = int(model.k)
    if isinstance(model, PerChannelModel):
        for choice in itertools.product(itertools.combinations(range(n), k), repeat=K):
            mask = np.zeros((n, K), bool)
            for c, positions in enumerate(choice):
                mask[list(positions), c] = True
            yield mask.reshape(shape)
    else:
        for positions in itertools.combinations(range(n), k):
            mask = np.zeros((n, K), bool)
            mask[list(positions)] = True
            yield mask.reshape(shape)


def _best_distance(model, v):
    """``min ‖v − u‖`` over the model's codes ``u``: on each support, the closest code keeps
    ``v`` (its positive part for a non-negative model)."""
    kept = np.maximum(v, 0) if model.nonnegative else v
    return min(np.linalg.norm(v - np.where(mask, kept, 0)) for mask in _supports(model, v.shape))


MODELS = {
    "per-channel-1": PerChannelModel(1),
    "per-channel-2": PerChannelModel(2),
    "per-channel-2-nonneg": PerChannelModel(2, nonnegative=True),
    "joint-1": JointModel(1),
    "joint-3": JointModel(3),
    "joint-3-nonneg": JointModel(3, nonnegative=True),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_projection_is_the_closest_model_code(name):
    """Against every support: random data, data with ties (repeated magnitudes), and zeros."""
    model = MODELS[name]
    rng = np.random.default_rng(0)
    cases = [rng.normal(size=SHAPE) for _ in range(4)]
    cases.append(np.round(rng.normal(size=SHAPE)))  # many equal magnitudes
    cases.append(np.zeros(SHAPE))
    for v in cases:
        v = v.astype(np.float32)
        projected = np.asarray(model.project(v))
        assert bool(model.contains(projected))
        np.testing.assert_allclose(
            np.linalg.norm(v - projected), _best_distance(model, v), rtol=1e-6, atol=1e-6
        )
        sparse = model.project_sparse(v)
        assert sparse.indices.shape == (model.num_slots(SHAPE),)
        np.testing.assert_array_equal(np.asarray(sparse.to_dense()), projected)


def test_projection_keeps_the_lower_position_on_ties_and_spreads_nan():
    v = np.ones(SHAPE, np.float32)
    per_channel = np.asarray(PerChannelModel(2).project(v)).reshape(-1, 2)
    np.testing.assert_array_equal(per_channel[:2], 1)
    assert np.all(per_channel[2:] == 0)
    joint = np.asarray(JointModel(1).project(v)).reshape(-1, 2)
    np.testing.assert_array_equal(joint[0], 1)
    assert np.all(joint[1:] == 0)
    v[1, 1, 0] = np.nan
    for model in (PerChannelModel(2), JointModel(1)):
        assert np.all(np.isnan(np.asarray(model.project(v))))


def test_contains_follows_the_definitions():
    z = np.zeros(SHAPE, np.float32).reshape(-1, 2)
    z[[0, 3], 0] = 1.0  # two positions in channel 0
    z[5, 1] = -2.0  # one in channel 1
    z = z.reshape(SHAPE)
    assert bool(PerChannelModel(2).contains(z)) and not bool(PerChannelModel(1).contains(z))
    assert bool(JointModel(3).contains(z)) and not bool(JointModel(2).contains(z))
    assert not bool(PerChannelModel(2, nonnegative=True).contains(z))


@pytest.mark.parametrize("name", ["per-channel-2", "joint-3-nonneg"])
def test_samples_lie_in_the_model_with_uniform_supports(name):
    """Exactly ``k`` per channel (``k`` positions in all channels), and each position as often
    as any other: the counts over 3,000 codes within 5 standard deviations of ``k / n``."""
    model = MODELS[name]
    draws = 3000
    codes = np.asarray(model.sample(jr.key(0), SHAPE, (draws,)))
    assert all(bool(model.contains(c)) for c in codes[:50])
    active = (codes != 0).reshape(draws, -1, 2)
    n, k = active.shape[1], int(model.k)
    if isinstance(model, PerChannelModel):
        np.testing.assert_array_equal(active.sum(axis=1), k)
    else:
        np.testing.assert_array_equal(active.any(axis=2).sum(axis=1), k)
        assert np.all(active.all(axis=2) == active.any(axis=2))
        assert np.all(codes >= 0)
    frequency = active[:, :, 0].mean(axis=0)
    sd = np.sqrt(k / n * (1 - k / n) / draws)
    assert np.all(np.abs(frequency - k / n) < 5 * sd), frequency


def test_k_is_a_leaf_and_bad_arguments_are_named():
    model = PerChannelModel(3, capacity=8)
    v = jnp.asarray(np.random.default_rng(1).normal(size=SHAPE), jnp.float32)
    counts = jax.vmap(lambda k: jnp.sum(model.replace(k=k).project(v) != 0))(jnp.arange(1, 4))
    np.testing.assert_array_equal(counts, [2, 4, 6])
    with pytest.raises(ValueError, match="at most 6 positions"):
        JointModel(7).project(v)
    with pytest.raises(ValueError, match="needs k"):
        PerChannelModel(None)
    with pytest.raises(ValueError, match="distribution"):
        JointModel(1).sample(jr.key(0), SHAPE, distribution="cauchy")


# --------------------------------------------------------------------------- solvers and RIP
def _layer():
    w = jaxcs.gaussian_filters(jr.key(0), (5,), 16, 4)
    return jaxcs.ConvOperator(w, (20,))  # codes (16, 4)


@pytest.mark.parametrize("model", [PerChannelModel(1), JointModel(2)], ids=["per-channel", "joint"])
def test_every_solver_recovers_planted_codes(model):
    op = _layer()
    z = model.sample(jr.key(1), op.out_shape, (6,))
    x = op.rmv(z)
    for solver in (jaxcs.IHT(), jaxcs.NIHT(), jaxcs.HTP(), jaxcs.CoSaMP()):
        solution = jaxcs.recover(op, x, model, solver, max_steps=200)
        errors = np.linalg.norm(np.asarray(solution.z - z).reshape(6, -1), axis=1)
        assert np.all(errors <= 1e-3 * np.linalg.norm(np.asarray(z).reshape(6, -1), axis=1)), (
            type(solver).__name__,
            errors,
        )
        assert np.all(np.asarray(solution.status) == jaxcs.Status.CONVERGED)
        assert all(bool(model.contains(c)) for c in np.asarray(solution.z))
    fista = jaxcs.recover(op, x, model, jaxcs.FISTA(lam=1e-3), max_steps=200)
    assert all(bool(model.contains(c)) for c in np.asarray(fista.z))


@pytest.mark.parametrize(
    "model",
    [PerChannelModel(1), JointModel(1), JointModel(2)],
    ids=["per-channel", "joint", "joint2"],
)
def test_exact_and_sampled_rip_meet_the_brute_force_delta_on_a_tiny_layer(model):
    """Codes (3, 2), 9, 3 or 3 supports: ``exact_model_rip`` (the model's own enumeration)
    gives the brute-force δ_k, and 512 samples visit every support, so the sampled extremes
    of the restricted Grams are the same."""
    w = jaxcs.gaussian_filters(jr.key(3), (2,), 3, 2)
    op = jaxcs.ConvOperator(w, (4,))
    phi = np.asarray(op.as_matrix(), np.float64).T  # columns: code entries
    eigs = []
    for mask in _supports(model, op.out_shape):
        columns = phi[:, mask.reshape(-1)]
        eigs.append(np.linalg.eigvalsh(columns.T @ columns))
    exact = max(max(1 - e[0], e[-1] - 1) for e in eigs)
    result = jaxcs.exact_model_rip(op, model, chunk_size=2)
    assert result.num_supports == len(eigs)
    assert result.delta == pytest.approx(exact, rel=1e-4)
    estimate = jaxcs.estimate_model_rip(jr.key(4), op, model, 512, method="gram")
    assert float(estimate.delta_lower_bound) == pytest.approx(exact, rel=1e-4)
    # the bracket: exact when the supports are few, else sampled below, Babel bound above
    bracket = jaxcs.model_rip_bracket(jr.key(5), op, model)
    assert bracket.lower_method == "exact" and bracket.lower == bracket.upper
    assert bracket.upper == pytest.approx(exact, rel=1e-4)
    bracket = jaxcs.model_rip_bracket(jr.key(5), op, model, num_samples=2, exact_max_supports=1)
    assert bracket.upper_method == "babel-support" and bracket.search_result is None
    assert bracket.lower <= exact + 1e-5 and exact <= bracket.upper + 1e-9
    upper = jaxcs.model_rip_upper_bound(op, model)
    assert upper.delta == bracket.upper and upper.delta >= exact - 1e-9
    # over z ≥ 0 the constant is at most the signed one; the bracket still holds it
    signs = model.replace(nonnegative=True)
    positive = jaxcs.model_rip_bracket(jr.key(6), op, signs, num_samples=256)
    assert positive.lower <= exact + 1e-5 and positive.lower <= positive.upper


def test_region_walks_name_what_they_need():
    op = _layer()
    with pytest.raises(TypeError, match="needs a region model"):
        jaxcs.search_model_rip(jr.key(0), op, JointModel(1), 64)
    with pytest.raises(TypeError, match="non-negative"):
        jaxcs.exact_model_rip(op, JointModel(1, nonnegative=True))
    with pytest.raises(TypeError, match="sparsity model"):
        jaxcs.recover(op, jnp.zeros(op.in_shape), "topk", jaxcs.IHT())
