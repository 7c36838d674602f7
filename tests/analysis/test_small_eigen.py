"""Extreme eigenvalues of batches of small symmetric matrices against ``numpy.linalg.eigvalsh``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcs.analysis.small_eigen import extreme_eigenvalues

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
