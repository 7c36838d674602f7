"""Extreme eigenvalues of batches of small symmetric matrices against ``numpy.linalg.eigvalsh``.

Besides random draws, matrices built to hit every branch of the bisection's Sturm count: equal
diagonals and integer entries (a bisection midpoint lands on a diagonal entry, so a pivot is
exactly zero), zero off-diagonals, repeated and clustered eigenvalues, Wilkinson and graded
matrices, sizes 1 to 64, and the restricted Grams of real supports of convolutional layers.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxcs
from jaxcs.analysis.rip.spectrum.eigenvalues import extreme_eigenvalues

SIZES = (1, 2, 3, 5, 8, 11, 16)  # trivial, small, odd and even, up to the 16 slots of k = 10
extremes = jax.jit(extreme_eigenvalues)


def reference(matrices, mask=None):
    """Float64 NumPy extremes of the used blocks (NaN for an empty one) and ``‖block‖₂``."""
    matrices = np.asarray(matrices, np.float64)
    batch, k = matrices.shape[:-2], matrices.shape[-1]
    flat = matrices.reshape(-1, k, k)
    used = np.ones(flat.shape[:-1], bool) if mask is None else np.asarray(mask).reshape(-1, k)
    lo, hi, norm = (np.full(flat.shape[0], np.nan) for _ in range(3))
    for b, (a, u) in enumerate(zip(flat, used, strict=True)):
        if u.any():
            evals = np.linalg.eigvalsh(a[np.ix_(u, u)])
            lo[b], hi[b], norm[b] = evals[0], evals[-1], np.abs(evals).max()
    return lo.reshape(batch), hi.reshape(batch), norm.reshape(batch)


def assert_extremes(matrices, mask=None, *, factor=4.0):
    """Exact to working precision: ``|λ̂ − λ| ≤ factor · k · ε · ‖G‖₂`` (backward stability)."""
    lo, hi = extremes(matrices, mask)
    ref_lo, ref_hi, norm = reference(matrices, mask)
    dtype = jnp.asarray(matrices).dtype
    assert lo.dtype == dtype and hi.dtype == dtype
    k = np.shape(matrices)[-1]
    atol = factor * k * np.finfo(dtype).eps * np.nan_to_num(norm) + np.finfo(dtype).tiny
    np.testing.assert_array_equal(np.isnan(lo), np.isnan(ref_lo))
    np.testing.assert_array_equal(np.isnan(hi), np.isnan(ref_hi))
    for got, want in ((lo, ref_lo), (hi, ref_hi)):
        finite = ~np.isnan(want)
        assert np.all(np.abs(np.asarray(got, np.float64) - want)[finite] <= atol[finite])


def random_symmetric(rng, shape, k, dtype):
    a = rng.standard_normal(tuple(shape) + (k, k))
    return (a + np.swapaxes(a, -1, -2)).astype(dtype)


def random_gram(rng, shape, k, dtype, columns=40):
    """Gram-like: ``X Xᵀ`` of ``k`` random unit-ish columns (eigenvalues around 1)."""
    x = rng.standard_normal(tuple(shape) + (k, columns)) / np.sqrt(columns)
    return (x @ np.swapaxes(x, -1, -2)).astype(dtype)


def test_every_size(dtype):
    """k = 1 … 16, one batch each: random symmetric, Gram-like, rank-deficient (λ_min = 0) and
    masked Grams whose unused slots hold NaN, inf or huge values (ignored), one of them with no
    used slot (NaN)."""
    rng = np.random.default_rng(0)
    for k in SIZES:
        masked = random_gram(rng, (32,), k, dtype)
        mask = rng.random((32, k)) < 0.6
        mask[0], mask[1] = False, True
        junk = np.where(rng.random((32, k, k)) < 0.5, np.nan, 1e30).astype(dtype)
        masked = np.where(mask[:, :, None] & mask[:, None, :], masked, junk)
        matrices = np.concatenate(
            [
                random_symmetric(rng, (32,), k, dtype),
                random_gram(rng, (32,), k, dtype),
                random_gram(rng, (16,), k, dtype, columns=max(1, k // 2)),
                masked,
            ]
        )
        mask = np.concatenate([np.ones((80, k), bool), mask])
        assert_extremes(matrices, mask)


def test_trailing_unused_slots_as_in_sampled_codes(dtype):
    """The layout of the models' codes: the first ``k`` slots used, the rest empty."""
    rng = np.random.default_rng(3)
    for k in (1, 2, 5, 10):
        a = random_gram(rng, (32,), 16, dtype)
        mask = np.broadcast_to(np.arange(16) < k, (32, 16))
        assert_extremes(a, mask)


def test_special_spectra(dtype):
    """Diagonal and block-diagonal matrices (no reflector needed), repeated eigenvalues, the
    zero matrix, 2×2, and scales near the ends of the dtype's range."""
    rng = np.random.default_rng(4)
    k = 8
    diagonal = np.stack([np.diag(rng.standard_normal(k)) for _ in range(4)])
    blocks = random_symmetric(rng, (4,), k, np.float64)
    blocks[:, :3, 3:] = blocks[:, 3:, :3] = 0
    cases = np.concatenate([diagonal, blocks, np.eye(k)[None], np.zeros((1, k, k))])
    assert_extremes(random_symmetric(rng, (20,), 2, dtype))
    big = np.finfo(dtype).max ** 0.75
    small = np.finfo(dtype).tiny ** 0.75
    scaled = [random_gram(rng, (5,), k, np.float64) * scale for scale in (big, small)]
    assert_extremes(np.concatenate([cases] + scaled).astype(dtype))


def test_reads_the_lower_triangle_only():
    rng = np.random.default_rng(5)
    a = random_symmetric(rng, (16,), 6, np.float32)
    junk = np.triu(rng.standard_normal((16, 6, 6)), 1).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(extremes(a + junk)), np.asarray(extremes(a)))


def test_non_finite_used_entry_gives_nan():
    a = random_gram(np.random.default_rng(6), (3,), 5, np.float32)
    a[0, 1, 2] = a[0, 2, 1] = np.nan
    a[1, 4, 4] = np.inf
    lo, hi = extremes(a)
    assert np.isnan(lo[:2]).all() and np.isnan(hi[:2]).all()
    assert np.isfinite(lo[2]) and np.isfinite(hi[2])


def test_batch_shapes_jit_and_vmap_agree():
    rng = np.random.default_rng(7)
    a = random_gram(rng, (2, 3), 7, np.float32)
    mask = rng.random((2, 3, 7)) < 0.8
    batched = extremes(a, mask)
    assert batched[0].shape == (2, 3)
    mapped = jax.jit(jax.vmap(extreme_eigenvalues))(a, mask)
    one = extremes(a[1, 2], mask[1, 2])
    assert one[0].shape == ()
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(batched), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(one), np.asarray(batched)[:, 1, 2], rtol=1e-6)
    assert_extremes(a, mask)


def test_rejects_non_square():
    with pytest.raises(ValueError, match="k, k"):
        extreme_eigenvalues(np.zeros((3, 4, 5)))


def test_zero_pivot_is_counted_as_negative():
    """A bisection midpoint equal to a diagonal entry makes a Sturm pivot exactly 0 (LAPACK
    counts it as negative, ``q ≤ pivmin``): ``[[1, .5], [.5, 1]]`` has eigenvalues 0.5 and 1.5,
    and an unbatched matrix is accepted with or without a mask."""
    a = np.array([[1.0, 0.5], [0.5, 1.0]], np.float32)
    lo, hi = extremes(a)
    assert lo.shape == hi.shape == ()
    assert (float(lo), float(hi)) == pytest.approx((0.5, 1.5), abs=1e-6)
    assert float(extreme_eigenvalues(a, np.array([True, True]))[0]) == pytest.approx(0.5)


def wilkinson(k: int) -> np.ndarray:
    """``W_k⁺``: diagonal ``|j − (k − 1)/2|``, unit off-diagonals (pairs of nearly equal
    eigenvalues)."""
    return np.diag(np.abs(np.arange(k) - (k - 1) / 2)) + np.eye(k, k=1) + np.eye(k, k=-1)


def structured(k: int, rng) -> list[np.ndarray]:
    """Matrices of size ``k`` built to hit every branch (module docstring)."""
    ones, eye = np.ones((k, k)), np.eye(k)
    toeplitz = 2 * eye - np.eye(k, k=1) - np.eye(k, k=-1)  # equal diagonals
    q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    clustered = 1 + 1e-6 * np.arange(k)
    repeated = np.where(np.arange(k) < k // 2, 1.0, 3.0)
    graded = np.diag(10.0 ** -np.arange(k))  # entries from 1 down to 10^(1 - k)
    sym = rng.standard_normal((k, k))
    return [
        ones,  # rank one: eigenvalues 0 (k − 1 times) and k
        0.5 * ones + 0.5 * eye,  # the reported case at k = 2
        toeplitz,
        np.diag(np.repeat(np.arange(1, k + 1) // 2, 1).astype(float)),  # zero off-diagonals
        eye,
        np.zeros((k, k)),
        q @ np.diag(clustered) @ q.T,
        q @ np.diag(repeated) @ q.T,
        wilkinson(k),
        graded @ (sym + sym.T) @ graded,
        rng.integers(-2, 3, (k, k)).astype(float),  # integers: midpoints hit diagonal entries
        np.triu(np.full((k, k), 0.5)) + np.triu(np.full((k, k), 0.5)).T,  # equal diagonals
    ]


def test_structured_matrices(dtype):
    """Sizes 1 to 64 in one batch (the leading ``k × k`` block of a 64 × 64 matrix, the rest
    masked out), at unit, tiny and huge scales (the routine rescales to unit largest entry)."""
    rng = np.random.default_rng(0)
    blocks = [(k, a) for k in (1, 2, 3, 4, 7, 16, 33, 64) for a in structured(k, rng)]
    matrices = np.zeros((len(blocks), 64, 64))
    for i, (k, a) in enumerate(blocks):
        matrices[i, :k, :k] = np.tril(a) + np.tril(a, -1).T
    mask = np.arange(64) < np.array([k for k, _ in blocks])[:, None]
    for scale in (1, np.finfo(dtype).tiny ** 0.5, np.finfo(dtype).max ** 0.5):
        assert_extremes((matrices * scale).astype(dtype), mask)
    # unmasked too, the sizes one at a time
    for k in (2, 7):
        assert_extremes(
            np.stack([m[:k, :k] for m, (j, _) in zip(matrices, blocks, strict=True) if j == k])
        )


@given(
    k=st.integers(1, 9),
    entries=st.lists(
        st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 2.0, 0.1, 1e-3]),
        min_size=81,
        max_size=81,
    ),
)
@settings(deadline=None)
def test_property_small_symmetric(k, entries):
    """Random symmetric matrices from a few exact values (ties, zero pivots, zero rows): the
    leading ``k × k`` block of a 9 × 9 matrix, the rest masked out (one compiled program)."""
    a = np.array(entries, np.float64).reshape(9, 9)
    a = np.tril(a) + np.tril(a, -1).T
    assert_extremes(a.astype(np.float32)[None], (np.arange(9) < k)[None])


def real_support_grams(num: int):
    """``num`` restricted Grams ``G_S`` of supports sampled from block, pooling and top-k
    models on a 1-D layer (``l = 5``, ``M = 2``, ``K = 6``, ``D = 12``) with signed Gaussian,
    unit-norm and constant filters (float32), with their masks of used slots (padded to the
    largest capacity). One program per model: the three filter sets are mapped over."""
    shape = ((5,), 2, 6)
    filters = jnp.stack(
        [
            jaxcs.gaussian_filters(jr.key(0), *shape),
            jaxcs.unit_norm_filters(jr.key(1), *shape),
            jnp.full((5, 2, 6), 0.5),
        ]
    )
    models = [jaxcs.BlockModel(4), jaxcs.PoolingModel((3,), 4), jaxcs.TopKModel(4)]
    per = -(-num // (len(filters) * len(models)))

    @jax.jit
    @partial(jax.vmap, in_axes=(0, None, None))
    def sample(w, key, model):
        op = jaxcs.ConvOperator(w, (12,), 1, "valid")
        codes = model.sample_sparse(key, op.out_shape, (per,))
        return op.restricted_gram(codes.indices, codes.mask), codes.mask

    grams, masks = [], []
    for seed, model in enumerate(models):
        gram, mask = map(np.asarray, sample(filters, jr.key(seed), model))
        pad = 8 - gram.shape[-1]
        grams.append(np.pad(gram.reshape(-1, *gram.shape[-2:]), ((0, 0), (0, pad), (0, pad))))
        masks.append(np.pad(mask.reshape(-1, mask.shape[-1]), ((0, 0), (0, pad))))
    return np.concatenate(grams)[:num], np.concatenate(masks)[:num]


def test_ten_thousand_grams_of_real_supports():
    grams, masks = real_support_grams(10_000)
    assert grams.shape[0] == 10_000 and masks.sum(-1).min() == 4
    assert_extremes(grams, masks)
