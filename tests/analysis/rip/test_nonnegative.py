"""The δ lower bound of a non-negative model comes from non-negative codes only.

The extreme eigenvectors of ``G_S`` may have mixed signs; then they are no codes of a
non-negative model and the eigenvalues overstate δ. The references here are exhaustive: every
KKT point of the Rayleigh quotient on the non-negative orthant of ``S`` lies in the relative
interior of some face ``T ⊆ S``, where it is an entrywise positive eigenvector of ``G_T``, so
the orthant's extremes are the extremes of those eigenvalues over all ``T``.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs import BlockModel, PoolingModel, TopKModel
from jaxcs.analysis import orthant_extremes

TOL = 2e-5  # float32 Grams of norm ~1
REACHED = 1e-4


def exact_orthant_extremes(G):
    """``(min, max)`` of ``zᵀGz/‖z‖²`` over ``z ≥ 0, z ≠ 0`` by enumerating the faces."""
    k, found = len(G), []
    for size in range(1, k + 1):
        for T in itertools.combinations(range(k), size):
            w, V = np.linalg.eigh(G[np.ix_(T, T)])
            for i in range(size):
                v = V[:, i]
                if np.all(v >= -1e-12) or np.all(v <= 1e-12):
                    found.append(w[i])
    return min(found), max(found)


def two_filter_operator():
    """``l = 1``, ``D = 1``, ``M = 2``: filters with ``‖w‖² = 1.3`` and ``⟨w₁, w₂⟩ = −0.2``,
    so ``G = [[1.3, −0.2], [−0.2, 1.3]]``: eigenvalues 1.1 (eigenvector (1, 1)) and 1.5
    (eigenvector (1, −1), no non-negative code)."""
    a = math.sqrt(1.3)
    b = -0.2 / a
    w = np.array([[a, b], [0.0, math.sqrt(1.3 - b * b)]])  # (M, K): columns are the filters
    return jaxcs.ConvOperator(jnp.asarray(w[None], jnp.float32), (1,))


def test_two_filters_mixed_sign_eigenvector():
    op = two_filter_operator()
    A = np.asarray(op.as_matrix(), np.float64)
    np.testing.assert_allclose(A @ A.T, [[1.3, -0.2], [-0.2, 1.3]], atol=1e-6)
    # z >= 0: the quotient lies in [1.1, 1.3] (1.3 at e_1 or e_2), so δ = 0.3
    nonneg = jaxcs.estimate_model_rip(jr.key(0), op, BlockModel(2, nonnegative=True), 64)
    assert 0.29 <= float(nonneg.delta_lower_bound) <= 0.3 + 1e-6
    assert float(nonneg.eig_max.max) == pytest.approx(1.3, abs=1e-6)
    assert float(nonneg.eig_min.min) == pytest.approx(1.1, abs=1e-6)
    assert nonneg.summary()["status"] == "COMPLETED"
    # signed codes reach the eigenvector (1, −1): δ = 0.5
    signed = jaxcs.estimate_model_rip(jr.key(0), op, BlockModel(2), 64)
    assert float(signed.delta_lower_bound) == pytest.approx(0.5, abs=1e-6)


# --------------------------------------------------------------------------- brute force
def topk_regions(i):
    return i


def pool_regions(i):  # PoolingModel((2,)) on a (4, 2) code: flat i = position·2 + channel
    return (i // 2 // 2, i % 2)


CASES = [
    # id, out_shape, model, region of a flat index, in_dim of the random matrix
    ("topk", (6,), TopKModel(3, nonnegative=True), topk_regions, 4),
    ("pooling-masked-slots", (4, 2), PoolingModel((2,), k=2, nonnegative=True), pool_regions, 3),
]


@pytest.mark.parametrize(
    "out_shape, model, region, in_dim", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_nonnegative_bound_against_exhaustive_search(out_shape, model, region, in_dim):
    size, k = math.prod(out_shape), int(model.k)
    n, chunk = 48, 16
    supports = [
        S
        for S in itertools.combinations(range(size), k)
        if len({region(i) for i in S}) == k  # one non-zero per region
    ]
    reached = total = 0
    overstated = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        op = jaxcs.MatrixOperator(
            jnp.asarray(rng.standard_normal((size, in_dim)) / 2, jnp.float32), out_shape=out_shape
        )
        A = np.asarray(op.matrix, np.float64)
        G = A @ A.T
        key = jr.key(seed)
        est = jaxcs.estimate_model_rip(key, op, model, n, chunk_size=chunk, keep_samples=True)
        assert est.summary()["status"] == "COMPLETED"
        # δ over every support of the model, exactly
        delta = max(
            max(1 - lo, hi - 1)
            for lo, hi in (exact_orthant_extremes(G[np.ix_(S, S)]) for S in supports)
        )
        assert float(est.delta_lower_bound) <= delta + TOL, seed
        # per sampled support: never beyond the orthant's extremes, and mostly at them
        codes = [
            model.sample_sparse(jr.fold_in(key, c), out_shape, (chunk,)) for c in range(n // chunk)
        ]
        indices = np.concatenate([np.asarray(c.indices) for c in codes])
        masks = np.concatenate([np.asarray(c.mask) for c in codes])
        assert masks.sum(-1).max() == k and (model.num_slots(out_shape) > k) == (not masks.all())
        eig_min, eig_max = (np.asarray(est.samples[name]) for name in ("eig_min", "eig_max"))
        signed = []
        for b in range(n):
            S = indices[b][masks[b]]
            assert np.all(np.asarray(codes[b // chunk].values)[b % chunk] >= 0)
            lo, hi = exact_orthant_extremes(G[np.ix_(S, S)])
            assert eig_min[b] >= lo - TOL and eig_max[b] <= hi + TOL, (seed, b)
            reached += abs(eig_min[b] - lo) <= REACHED and abs(eig_max[b] - hi) <= REACHED
            total += 1
            ev = np.linalg.eigvalsh(G[np.ix_(S, S)])
            signed.append(max(1 - ev[0], ev[-1] - 1))
        overstated.append(max(signed) - delta)
    assert reached >= 0.9 * total, (reached, total)
    # The cases discriminate: the eigenvalues of G_S would overstate δ (the bug fixed here).
    assert max(overstated) > 0.05


def test_orthant_extremes_random_psd_with_masks():
    rng = np.random.default_rng(0)
    B, k = 200, 5
    A = rng.standard_normal((B, k, 3)) / 2
    G = A @ np.swapaxes(A, 1, 2)
    mask = rng.random((B, k)) < 0.7
    mask[:, 0] = True
    start = rng.uniform(-1, 1, (B, k)) * mask
    q_min, q_max = orthant_extremes(
        jnp.asarray(G, jnp.float32), jnp.asarray(start, jnp.float32), jnp.asarray(mask)
    )
    q_min, q_max = np.asarray(q_min), np.asarray(q_max)
    reached = 0
    for b in range(B):
        S = np.flatnonzero(mask[b])
        lo, hi = exact_orthant_extremes(G[b][np.ix_(S, S)])
        assert q_min[b] >= lo - TOL and q_max[b] <= hi + TOL, b
        reached += abs(q_min[b] - lo) <= REACHED and abs(q_max[b] - hi) <= REACHED
        ev = np.linalg.eigvalsh(G[b][np.ix_(S, S)])
        assert ev[0] - TOL <= q_min[b] <= q_max[b] <= ev[-1] + TOL
    assert reached >= 0.95 * B, reached


def test_signed_model_keeps_the_eigenvalues():
    """Only the non-negative path changed: a signed model reports ``eigvalsh`` exactly, and the
    orthant extremes of the same supports lie inside ``[λ_min, λ_max]``."""
    op = jaxcs.MatrixOperator(
        jnp.asarray(np.random.default_rng(1).standard_normal((6, 4)) / 2, jnp.float32),
        out_shape=(6,),
    )
    code = TopKModel(3).sample_sparse(jr.key(3), (6,), (16,))
    signed = jaxcs.analysis.code_ratios(op, code, eigenvalues=True)
    nonneg = jaxcs.analysis.code_ratios(op, code, eigenvalues=True, nonnegative=True)
    gram = np.asarray(jaxcs.operators.restricted_gram(op, code.indices, code.mask), np.float64)
    used = np.asarray(code.mask)
    ev = np.array(
        [np.linalg.eigvalsh(g[np.ix_(m, m)])[[0, -1]] for g, m in zip(gram, used, strict=True)]
    )
    np.testing.assert_allclose(signed["eig_min"], ev[:, 0], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(signed["eig_max"], ev[:, -1], rtol=2e-5, atol=2e-5)
    assert np.all(np.asarray(nonneg["eig_min"]) >= ev[:, 0] - TOL)
    assert np.all(np.asarray(nonneg["eig_max"]) <= ev[:, -1] + TOL)
    assert np.any(np.asarray(nonneg["eig_max"]) < ev[:, -1] - 1e-3)  # mixed-sign eigenvectors
    for name in ("ratio_wt", "ratio_wwt"):
        np.testing.assert_array_equal(signed[name], nonneg[name])
