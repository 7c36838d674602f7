"""Streaming Monte Carlo statistics and the chunked driver against NumPy on the raw samples."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
import jaxcs._progress as progress
from jaxcs.analysis import Statistics

RANGE, BINS = (-2.0, 2.0), 16
EDGES = np.linspace(*RANGE, BINS + 1)


# --------------------------------------------------------------------------- helpers
# Jitted once per input shape: far fewer compilations than running the ops eagerly.
stats_of = jax.jit(Statistics.of, static_argnames=("histogram_range", "bins"))
merge = jax.jit(Statistics.merge)


def numpy_statistics(values, histogram_range=RANGE, bins=BINS):
    """Everything :class:`Statistics` promises, from NumPy on the concatenated samples."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    lo, hi = histogram_range
    inside = finite[(finite >= lo) & (finite < hi)]
    return dict(
        count=finite.size,
        mean=finite.mean() if finite.size else None,
        std=finite.std() if finite.size else None,
        min=finite.min() if finite.size else np.inf,
        max=finite.max() if finite.size else -np.inf,
        histogram=np.histogram(inside, np.linspace(lo, hi, bins + 1))[0],
        below=int(np.sum(finite < lo)),
        above=int(np.sum(finite >= hi)),
        nonfinite=int(np.sum(~np.isfinite(values))),
    )


def assert_matches(stats, ref, rtol=1e-5):
    assert int(stats.count) == ref["count"]
    assert int(stats.nonfinite) == ref["nonfinite"]
    assert int(stats.below) == ref["below"]
    assert int(stats.above) == ref["above"]
    np.testing.assert_array_equal(stats.histogram, ref["histogram"])
    assert float(stats.min) == pytest.approx(ref["min"], rel=1e-6)
    assert float(stats.max) == pytest.approx(ref["max"], rel=1e-6)
    if ref["mean"] is not None:
        np.testing.assert_allclose(stats.mean, ref["mean"], rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(stats.std, ref["std"], rtol=rtol, atol=1e-6)


def random_chunks(seed):
    """Chunks of mixed sizes (one empty), with NaN, ±Inf and values outside the range."""
    rng = np.random.default_rng(seed)
    sizes = [7, 0, 50, 13, 1, 29]
    chunks = [(1.3 * rng.standard_normal(n)).astype(np.float32) for n in sizes]
    chunks[2][[3, 17]] = np.nan
    chunks[3][[0, 5, 6]] = [np.inf, -np.inf, np.nan]
    chunks[5][[1, 2]] = [5.0, -7.5]
    return chunks


# --------------------------------------------------------------------------- Statistics
@pytest.mark.parametrize("seed", [0, 1])
def test_merge_of_chunks_equals_numpy_on_the_concatenation(seed):
    chunks = random_chunks(seed)
    parts = [stats_of(jnp.asarray(c), histogram_range=RANGE, bins=BINS) for c in chunks]
    ref = numpy_statistics(np.concatenate(chunks))
    assert ref["nonfinite"] == 5 and ref["below"] > 0 and ref["above"] > 0
    # Left fold, right fold and a balanced tree all give the same statistics.
    left = functools.reduce(merge, parts)
    right = functools.reduce(lambda a, b: merge(b, a), parts[::-1])
    tree = merge(
        merge(merge(parts[0], parts[1]), parts[2]), merge(parts[3], merge(parts[4], parts[5]))
    )
    for stats in (left, right, tree):
        assert_matches(stats, ref)
    # Each single chunk, too.
    for part, chunk in zip(parts, chunks, strict=True):
        assert_matches(part, numpy_statistics(chunk))


def test_statistics_of_empty_and_all_nonfinite():
    empty = Statistics.of(jnp.zeros((0,), jnp.float32), histogram_range=RANGE, bins=BINS)
    assert int(empty.count) == 0 and int(empty.nonfinite) == 0
    assert float(empty.min) == np.inf and float(empty.max) == -np.inf
    assert np.isnan(empty.quantile(0.5))
    bad = Statistics.of(jnp.array([np.nan, np.inf, -np.inf]), histogram_range=RANGE, bins=BINS)
    assert int(bad.count) == 0 and int(bad.nonfinite) == 3
    assert int(bad.histogram.sum()) == 0 and int(bad.below) == int(bad.above) == 0
    # Merging with empty statistics on either side changes nothing.
    x = jnp.array([0.5, -1.0, 3.0])
    s = Statistics.of(x, histogram_range=RANGE, bins=BINS)
    ref = numpy_statistics(np.asarray(x))
    for merged in (s.merge(empty), empty.merge(s)):
        assert_matches(merged, ref)
    assert_matches(bad.merge(s), ref | {"nonfinite": 3})
    assert_matches(s.merge(bad), ref | {"nonfinite": 3})


def test_valid_mask_excludes_entries_entirely():
    x = jnp.array([0.1, np.nan, 1.5, np.inf, -0.7, 9.0])
    valid = jnp.array([True, False, True, True, False, True])
    stats = Statistics.of(x, valid, histogram_range=RANGE, bins=BINS)
    assert_matches(stats, numpy_statistics(np.asarray(x)[np.asarray(valid)]))
    assert int(stats.nonfinite) == 1  # the NaN is masked out, the Inf is not


def test_histogram_includes_the_lower_edge():
    stats = Statistics.of(jnp.array([-2.0, -1.75, 0.0]), histogram_range=RANGE, bins=BINS)
    np.testing.assert_array_equal(stats.histogram, np.histogram([-2.0, -1.75, 0.0], EDGES)[0])
    assert int(stats.below) == 0


def test_float32_merging_of_many_chunks_is_accurate():
    """1e6 float32 samples near 1 in 1000 chunks: mean and std stay accurate (Chan's merge)."""
    chunk, num = 1000, 1000

    def chunk_fn(key):
        return {"v": 1.0 + 0.01 * jr.normal(key, (chunk,))}

    key = jr.key(3)
    stats, _ = jax.jit(lambda k: jaxcs.analysis.monte_carlo(k, chunk_fn, chunk * num, chunk))(key)
    values = jax.vmap(lambda c: chunk_fn(jr.fold_in(key, c))["v"])(jnp.arange(num))
    values = np.asarray(values, np.float64)
    s = stats["v"]
    assert s.mean.dtype == jnp.float32 and int(s.count) == chunk * num
    assert abs(float(s.mean) - values.mean()) < 1e-5
    assert float(s.std) == pytest.approx(values.std(), rel=1e-3)
    assert float(s.min) == values.min() and float(s.max) == values.max()


def test_quantile_within_one_bin_of_numpy():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(5000).astype(np.float32)
    stats = Statistics.of(jnp.asarray(x), histogram_range=(-4.0, 4.0), bins=50)
    width = 8.0 / 50
    for q in (0.01, 0.1, 0.25, 0.5, 0.9, 0.99):
        assert abs(stats.quantile(q) - np.quantile(x, q)) <= width, q


def test_quantile_clamps_to_min_and_max_outside_the_range():
    x = np.concatenate([np.full(30, -5.0), np.linspace(0.0, 1.0, 40), np.full(30, 7.0)])
    x = x + np.linspace(0, 1e-3, x.size)  # distinct extremes
    stats = Statistics.of(jnp.asarray(x), histogram_range=RANGE, bins=BINS)
    assert stats.quantile(0.1) == pytest.approx(x.min())
    assert stats.quantile(0.95) == pytest.approx(x.max())
    assert abs(stats.quantile(0.5) - np.quantile(x, 0.5)) <= 4.0 / BINS


def test_summary_keys_and_values():
    x = np.random.default_rng(2).uniform(-1, 1, 500)
    stats = Statistics.of(jnp.asarray(x), histogram_range=RANGE, bins=200)
    summary = stats.summary()
    assert set(summary) == {"count", "nonfinite", "mean", "std", "min", "max", "q01", "q50", "q99"}
    assert all(isinstance(v, (int, float)) for v in summary.values())
    assert summary["count"] == 500 and summary["nonfinite"] == 0
    assert summary["mean"] == pytest.approx(x.mean(), abs=1e-6)
    assert summary["std"] == pytest.approx(x.std(), rel=1e-5)
    for name, q in (("q01", 0.01), ("q50", 0.5), ("q99", 0.99)):
        assert abs(summary[name] - np.quantile(x, q)) <= 4.0 / 200


# --------------------------------------------------------------------------- monte_carlo
CHUNK = 5


def chunk_fn(key):
    """Two per-sample quantities, one of them sometimes NaN."""
    u = jr.uniform(key, (CHUNK,))
    return {"u": u, "v": jnp.where(u < 0.2, jnp.nan, 1.0 / u)}


def reference_samples(key, num_chunks):
    """The documented key schedule: chunk ``c`` is ``chunk_fn(fold_in(key, c))``."""
    out = {"u": [], "v": []}
    for c in range(num_chunks):
        values = chunk_fn(jr.fold_in(key, c))
        for name in out:
            out[name].append(np.asarray(values[name]))
    return {name: np.concatenate(v) for name, v in out.items()}


def test_monte_carlo_masks_the_tail_and_keeps_samples():
    key, n = jr.key(11), 23
    stats, kept = jaxcs.analysis.monte_carlo(
        key, chunk_fn, n, CHUNK, histogram_range=(0.0, 4.0), bins=8, keep_samples=n
    )
    ref = reference_samples(key, 5)
    for name in ("u", "v"):
        np.testing.assert_array_equal(kept[name], ref[name][:n])
        expected = numpy_statistics(ref[name][:n], (0.0, 4.0), 8)
        assert_matches(stats[name], expected)
    assert int(stats["u"].count) == n
    # The masked tail's NaNs are not counted: only those among the first n samples.
    assert int(stats["v"].nonfinite) == int(np.isnan(ref["v"][:n]).sum()) > 0


def test_monte_carlo_keep_more_than_num_samples_pads_with_nan():
    key = jr.key(12)
    _, kept = jaxcs.analysis.monte_carlo(key, chunk_fn, 12, CHUNK, keep_samples=17)
    ref = reference_samples(key, 3)
    assert kept["u"].shape == (17,)
    np.testing.assert_array_equal(kept["u"][:12], ref["u"][:12])
    assert np.all(np.isnan(kept["u"][12:]))


def test_monte_carlo_keep_fewer_than_num_samples_is_rejected_or_truncated():
    key = jr.key(13)
    try:
        _, kept = jaxcs.analysis.monte_carlo(key, chunk_fn, 12, CHUNK, keep_samples=6)
    except ValueError:
        return
    np.testing.assert_array_equal(kept["u"], reference_samples(key, 3)["u"][:6])


def test_monte_carlo_traced_num_samples_compiles_once(assert_no_compiles):
    run = jax.jit(lambda key, n: jaxcs.analysis.monte_carlo(key, chunk_fn, n, CHUNK)[0])
    key = jr.key(14)
    first = run(key, 20)
    second = assert_no_compiles(run, key, 37)
    assert int(first["u"].count) == 20 and int(second["u"].count) == 37
    ref = reference_samples(key, 8)["u"]
    np.testing.assert_allclose(first["u"].mean, ref[:20].mean(), rtol=1e-6)
    np.testing.assert_allclose(second["u"].mean, ref[:37].mean(), rtol=1e-6)


# --------------------------------------------------------------------------- progress
class _RecordingBars(dict):
    """``BARS`` stand-in that remembers every bar the context manager closes."""

    def __init__(self):
        super().__init__()
        self.closed = []

    def pop(self, key, default=None):
        bar = super().pop(key, default)
        if bar is not None:
            self.closed.append(bar)
        return bar


def test_progress_bar_counts_every_sample_of_a_jitted_run():
    pytest.importorskip("tqdm")
    run = jax.jit(
        lambda key, n, pid: jaxcs.analysis.monte_carlo(key, chunk_fn, n, CHUNK, progress_id=pid)[0]
    )
    with progress.progress_bar(23, "test") as bar_id:
        assert bar_id > 0
        stats = jax.block_until_ready(run(jr.key(0), 23, bar_id))
        jax.effects_barrier()
        bar = progress.BARS[bar_id]
        assert bar.total == 23
        assert bar.n == 23  # 4 full chunks + the masked tail of 3
    assert bar_id not in progress.BARS  # closed and forgotten on exit
    assert int(stats["u"].count) == 23


def test_progress_disabled_yields_zero():
    with progress.progress_bar(10, enabled=False) as bar_id:
        assert bar_id == 0


def test_estimate_model_rip_progress_reaches_the_total(monkeypatch):
    pytest.importorskip("tqdm")
    bars = _RecordingBars()
    monkeypatch.setattr(progress, "BARS", bars)
    w = jaxcs.gaussian_filters(jr.key(0), (3,), 1, 4)
    op = jaxcs.ConvOperator(w, (6,), 1, "valid")
    est = jaxcs.estimate_model_rip(
        jr.key(1), op, jaxcs.BlockModel(2), 50, chunk_size=8, eigenvalues=False, progress=True
    )
    jax.block_until_ready(est)
    jax.effects_barrier()
    assert len(bars.closed) == 1 and not bars
    assert bars.closed[0].total == 50 and bars.closed[0].n == 50
    assert int(est.ratio_wt.count) == 50
