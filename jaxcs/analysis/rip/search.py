"""Adversarial lower bounds on the model-RIP constant: a batched search over supports (eq. 1).

Random supports give *typical* restricted Grams; δ is set by rare bad ones. In the spirit of
Dossal, Peyré and Fadili's numerical exploration of recovery conditions (2012), this searches
for them: the best of a batch of sampled supports seed ``restarts`` hill climbs, half pushing
``λ_min(G_S)`` down and half ``λ_max(G_S)`` up, all vmapped. A move swaps one column of the
support for another admissible one (the model keeps at most one per region): for the extreme
eigenvector ``v`` on ``S`` and ``c = W Wᵀ (v on S)`` (two convolutions), a column ``q ∉ S`` with
large ``|c_q| = |⟨a_q, Φ_S v⟩|`` moves the quotient of ``v + α e_q`` by ``2α c_q`` at first
order, up or down as ``α`` chooses. Each step tries the ``guided`` columns of largest ``|c_q|``
and ``explore`` random ones, replacing the slot of ``q``'s region if it has one, else the slot
where ``|v|`` is smallest, and keeps the best candidate if it improves. Every quotient is that of
an actual support of the model, so every figure is a lower bound on δ, never above the exact one.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_key, positive_int, positive_ints
from jaxcs.analysis.rip.exact import ExtremeSupports, check_rip_model, extremes_summary
from jaxcs.analysis.rip.spectrum.gram import support_extremes
from jaxcs.models import model_regions


class RIPSearch(Pytree):
    """Result of :func:`search_model_rip` (every δ a lower bound on the model's δ_k).

    Attributes:
        delta: ``max(1 − eig_min, eig_max − 1)`` over every support evaluated.
        eig_min, eig_max: the most extreme quotients found (over ``z ≥ 0`` when non-negative).
        smallest, largest: :class:`ExtremeSupports`, the final support of each climb, most
            extreme first.
        seed_delta: δ from the sampled seed supports alone.
        history: ``(steps + 1,)`` δ after the seeds and after each search step.
        evaluations: ``(steps + 1,)`` evaluations of ``G_S`` spent up to each point of
            ``history`` (the last is the total).
    """

    delta: Float[Array, ""]
    eig_min: Float[Array, ""]
    eig_max: Float[Array, ""]
    smallest: ExtremeSupports
    largest: ExtremeSupports
    seed_delta: Float[Array, ""]
    history: Float[Array, " steps+1"]
    evaluations: Int[Array, " steps+1"]
    nonnegative: bool = static_field()

    def summary(self) -> dict:
        """Python numbers for reports and JSON."""
        return extremes_summary(self) | {
            "seed_delta": float(self.seed_delta),
            "evaluations": int(self.evaluations[-1]),
        }


def search_plan(budget: int, restarts: int, guided: int, explore: int) -> tuple[int, int]:
    """``(seeds, steps)``: a quarter of ``budget`` (at least ``restarts``) on sampled seeds, the
    rest on ``steps`` search steps of ``restarts · (guided + explore)`` evaluations each."""
    per_step = restarts * (guided + explore)
    seeds = max(restarts, budget // 4)
    return seeds, max(0, (budget - seeds) // per_step)


def search_model_rip(
    key: PRNGKeyArray,
    op,
    model,
    budget: int = 4096,
    *,
    restarts: int = 16,
    guided: int = 4,
    explore: int = 4,
    distribution: str = "uniform",
) -> RIPSearch:
    """Adversarial lower bound on δ_k (eq. 1): sampled seeds, then vmapped hill climbs.

    At most ``budget`` restricted Grams are evaluated in all (seeds included), so a sampled
    estimate over ``budget`` random supports is the fair comparison. jit-able (configuration
    static), deterministic for a given key.

    Args:
        key: PRNG key.
        op: the layer ``W`` (any operator; codes have ``op.out_shape``).
        model: a :class:`~jaxcs.models.RegionModel` with a concrete ``k ≥ 1`` and a capacity of at
        most
            1024 slots (each evaluation is a ``k × k`` eigendecomposition).
        budget: evaluations of ``G_S`` in all.
        restarts: hill climbs (even; half per side).
        guided, explore: candidates per climb and step: columns of largest ``|c_q|`` and
            uniformly random columns.
        distribution: values of the seed codes (irrelevant to their supports).

    Returns:
        A :class:`RIPSearch`.
    """
    check_key(key)
    code_shape, _ = check_rip_model(op, model, "search_model_rip")
    budget = positive_int(budget, "budget")
    restarts = positive_int(restarts, "restarts")
    if restarts % 2:
        raise ValueError(f"restarts must be even (half per side); got {restarts}")
    guided = positive_ints((guided,), "guided", minimum=0)[0]
    explore = positive_ints((explore,), "explore", minimum=0)[0]
    if guided + explore == 0:
        raise ValueError("guided + explore must be >= 1 (candidates per step)")
    if model.num_slots(code_shape) > 1024:
        raise ValueError(
            f"search_model_rip needs the model's capacity <= 1024 slots; got "
            f"{model.num_slots(code_shape)}"
        )
    seeds, steps = search_plan(budget, restarts, guided, explore)
    cells, inside = model_regions(model, code_shape)
    region_of = np.full(math.prod(code_shape), -1, np.int32)
    region_of[cells[inside]] = np.nonzero(inside)[0]
    return _search(
        key,
        op,
        model,
        jnp.asarray(region_of),
        seeds=seeds,
        steps=steps,
        restarts=restarts,
        guided=guided,
        explore=explore,
        distribution=distribution,
    )


def _climb_step(op, table, region_of, nonnegative, guided, explore):
    """One step of every climb: ``(key, state) -> state`` (state: indices, mask, sign, q)."""

    evaluate = partial(support_extremes, op, table=table, nonnegative=nonnegative)

    def step(key, indices, mask, sign, quotient, vector):
        restarts, slots = indices.shape
        size = region_of.shape[0]
        z = jnp.zeros((restarts, size), vector.dtype)
        z = z.at[jnp.arange(restarts)[:, None], indices].add(jnp.where(mask, vector, 0))
        c = op.mv(op.rmv(z.reshape((restarts,) + tuple(op.out_shape)))).reshape(restarts, size)
        score = jnp.abs(c)
        on_support = jnp.zeros((restarts, size), bool)
        on_support = on_support.at[jnp.arange(restarts)[:, None], indices].max(mask)
        score = jnp.where(on_support, -jnp.inf, score)
        candidates = []
        if guided:
            candidates.append(jax.lax.top_k(score, guided)[1])
        if explore:
            candidates.append(jr.randint(key, (restarts, explore), 0, size))
        q = jnp.concatenate(candidates, axis=1)  # (restarts, m)
        occupant = region_of[indices][:, None, :] == region_of[q][:, :, None]  # (r, m, slots)
        occupant = occupant & mask[:, None, :]
        weakest = jnp.argmin(jnp.where(mask, jnp.abs(vector), jnp.inf), axis=-1)  # (r,)
        slot = jnp.where(jnp.any(occupant, -1), jnp.argmax(occupant, -1), weakest[:, None])
        m = q.shape[1]
        new = jnp.broadcast_to(indices[:, None, :], (restarts, m, slots))
        new = jnp.where(jnp.arange(slots) == slot[..., None], q[..., None], new)
        flat_mask = jnp.broadcast_to(mask[:, None, :], new.shape).reshape(-1, slots)
        q_min, q_max, v_min, v_max = evaluate(new.reshape(-1, slots), flat_mask)
        lower = sign[:, None] < 0
        value = jnp.where(lower, q_min.reshape(restarts, m), q_max.reshape(restarts, m))
        vectors = jnp.where(
            lower[..., None], v_min.reshape(restarts, m, slots), v_max.reshape(restarts, m, slots)
        )
        # objective sign · quotient, maximised; NaN never wins
        objective = jnp.where(jnp.isnan(value), -jnp.inf, sign[:, None] * value)
        best = jnp.argmax(objective, axis=1)
        take = lambda a: jnp.take_along_axis(a, best[:, None, None], axis=1)[:, 0]  # noqa: E731
        best_value = jnp.take_along_axis(value, best[:, None], axis=1)[:, 0]
        improves = sign * best_value > sign * quotient
        indices = jnp.where(improves[:, None], take(new), indices)
        vector = jnp.where(improves[:, None], take(vectors), vector)
        quotient = jnp.where(improves, best_value, quotient)
        return indices, quotient, vector

    return evaluate, step


def _search_kernel(
    key, op, model, region_of, *, seeds, steps, restarts, guided, explore, distribution
):
    table = op.gram_table()
    nonnegative = model.nonnegative
    evaluate, step = _climb_step(op, table, region_of, nonnegative, guided, explore)
    key_seed, key_steps = jr.split(key)
    code = model.sample_sparse(
        key_seed, tuple(op.out_shape), (seeds,), distribution=distribution, dtype=op.dtype
    )
    q_min, q_max, v_min, v_max = evaluate(code.indices, code.mask)
    half = restarts // 2
    nan_hi = jnp.where(jnp.isnan(q_min), jnp.inf, q_min)
    nan_lo = jnp.where(jnp.isnan(q_max), -jnp.inf, q_max)
    low = jnp.argsort(nan_hi)[:half]
    high = jnp.argsort(-nan_lo)[:half]
    chosen = jnp.concatenate([low, high])
    sign = jnp.concatenate([-jnp.ones(half, op.dtype), jnp.ones(half, op.dtype)])
    indices, mask = code.indices[chosen], code.mask[chosen]
    quotient = jnp.concatenate([q_min[low], q_max[high]])
    vector = jnp.concatenate([v_min[low], v_max[high]])
    seed_min, seed_max = jnp.min(nan_hi), jnp.max(nan_lo)
    seed_delta = jnp.maximum(1 - seed_min, seed_max - 1)

    def body(carry, step_key):
        indices, quotient, vector, eig_min, eig_max = carry
        indices, quotient, vector = step(step_key, indices, mask, sign, quotient, vector)
        eig_min = jnp.minimum(eig_min, jnp.min(quotient[:half]))
        eig_max = jnp.maximum(eig_max, jnp.max(quotient[half:]))
        return (indices, quotient, vector, eig_min, eig_max), jnp.maximum(1 - eig_min, eig_max - 1)

    carry = (indices, quotient, vector, seed_min, seed_max)
    carry, history = jax.lax.scan(body, carry, jr.split(key_steps, steps))
    indices, quotient, _, eig_min, eig_max = carry
    per_step = restarts * (guided + explore)
    history = jnp.concatenate([seed_delta[None], history])
    evaluations = seeds + per_step * jnp.arange(steps + 1)
    finite = op.is_finite()

    def extremes(rows, values, descending):
        order = jnp.argsort(-values if descending else values)
        found = indices[rows][order]
        used = mask[rows][order]
        return ExtremeSupports(jnp.where(used, found, -1), used, values[order])

    delta = jnp.maximum(1 - eig_min, eig_max - 1)
    nan = lambda x: jnp.where(finite, x, jnp.nan)  # noqa: E731
    return RIPSearch(
        nan(delta),
        nan(eig_min),
        nan(eig_max),
        extremes(slice(0, half), quotient[:half], False),
        extremes(slice(half, None), quotient[half:], True),
        nan(seed_delta),
        nan(history),
        evaluations,
        nonnegative,
    )


_search = jax.jit(
    _search_kernel,
    static_argnames=("seeds", "steps", "restarts", "guided", "explore", "distribution"),
)
