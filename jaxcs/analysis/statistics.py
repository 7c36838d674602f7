"""Streaming Monte Carlo: chunked sampling with bounded memory and mergeable statistics.

A Monte Carlo run draws ``num_samples`` samples in chunks of ``chunk_size`` inside one
``lax.fori_loop``; each chunk's key is ``fold_in(key, chunk_index)``. Per-sample scalars are
reduced into :class:`Statistics` (count, mean and ``M2`` merged with Chan's pairwise formula, min,
max, a fixed-bin histogram, and a count of non-finite values, which are excluded from the rest),
so memory does not grow with ``num_samples`` unless the samples are kept on request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from jaxcs._progress import tick
from jaxcs._pytree import Pytree, static_field

DEFAULT_RANGE = (0.0, 4.0)
DEFAULT_BINS = 400


class Statistics(Pytree):
    """Summary of a stream of scalar samples.

    Attributes:
        count: number of finite samples.
        mean, m2: running mean and sum of squared deviations (``std = sqrt(m2 / count)``).
        min, max: extremes of the finite samples (``+inf``/``-inf`` when there are none).
        histogram: ``(bins,)`` counts over ``histogram_range`` split in equal half-open bins
            ``[lo + b·w, lo + (b+1)·w)``.
        below, above: finite samples ``< lo`` / ``≥ hi``.
        nonfinite: NaN or ±Inf samples (reported, excluded from everything else).
        histogram_range: ``(lo, hi)`` (static).
    """

    count: Int[Array, ""]
    mean: Float[Array, ""]
    m2: Float[Array, ""]
    min: Float[Array, ""]
    max: Float[Array, ""]
    histogram: Int[Array, " bins"]
    below: Int[Array, ""]
    above: Int[Array, ""]
    nonfinite: Int[Array, ""]
    histogram_range: tuple[float, float] = static_field()

    def __post_init__(self):
        # (lo, hi) as Python floats (the checker cannot tell that the generator gives two)
        self.histogram_range = cast(
            "tuple[float, float]", tuple(float(r) for r in self.histogram_range)
        )

    @classmethod
    def of(
        cls,
        values: Float[ArrayLike, " num_samples"],
        valid: Bool[ArrayLike, " num_samples"] | None = None,
        *,
        histogram_range=DEFAULT_RANGE,
        bins=DEFAULT_BINS,
    ) -> Statistics:
        """Statistics of a 1-D array of samples (``valid``: which entries count at all)."""
        values = jnp.asarray(values)
        valid = jnp.ones(values.shape, bool) if valid is None else valid
        finite = valid & jnp.isfinite(values)
        n = jnp.sum(finite, dtype=jnp.int32)
        safe = jnp.where(finite, values, 0)
        mean = jnp.sum(safe) / jnp.maximum(n, 1)
        m2 = jnp.sum(jnp.where(finite, (values - mean) ** 2, 0))
        lo, hi = histogram_range
        scaled = (safe - lo) / (hi - lo) * bins
        inside = finite & (safe >= lo) & (safe < hi)
        index = jnp.clip(jnp.floor(scaled).astype(jnp.int32), 0, bins - 1)
        histogram = jnp.bincount(index, weights=inside.astype(jnp.int32), length=bins)
        return cls(
            n,
            mean,
            m2,
            jnp.min(jnp.where(finite, values, jnp.inf), initial=jnp.inf),
            jnp.max(jnp.where(finite, values, -jnp.inf), initial=-jnp.inf),
            histogram.astype(jnp.int32),
            jnp.sum(finite & (safe < lo), dtype=jnp.int32),
            jnp.sum(finite & (safe >= hi), dtype=jnp.int32),
            jnp.sum(valid & ~jnp.isfinite(values), dtype=jnp.int32),
            histogram_range,
        )

    def merge(self, other: Statistics) -> Statistics:
        """Statistics of the union of both streams (Chan et al.'s parallel variance)."""
        n = self.count + other.count
        frac = other.count / jnp.maximum(n, 1)
        delta = other.mean - self.mean
        return Statistics(
            n,
            self.mean + delta * frac,
            self.m2 + other.m2 + delta**2 * self.count * frac,
            jnp.minimum(self.min, other.min),
            jnp.maximum(self.max, other.max),
            self.histogram + other.histogram,
            self.below + other.below,
            self.above + other.above,
            self.nonfinite + other.nonfinite,
            self.histogram_range,
        )

    @property
    def std(self) -> Float[Array, ""]:
        """Population standard deviation of the finite samples."""
        return jnp.sqrt(self.m2 / jnp.maximum(self.count, 1))

    @property
    def bin_edges(self) -> Float[np.ndarray, " bins+1"]:
        lo, hi = self.histogram_range
        return np.linspace(lo, hi, self.histogram.shape[-1] + 1)

    def quantile(self, q: float) -> float:
        """Approximate quantile from the histogram (exact to one bin width; not jit-able).

        Quantiles falling among the samples below/above the range are clamped to ``min``/``max``.
        """
        counts = np.concatenate([[int(self.below)], np.asarray(self.histogram), [int(self.above)]])
        total = counts.sum()
        if total == 0:
            return float("nan")
        target = q * total
        cdf = np.cumsum(counts)
        b = int(np.searchsorted(cdf, target, side="left"))
        if b == 0:
            return float(self.min)
        if b == len(counts) - 1:
            return float(self.max)
        edges = self.bin_edges
        before = cdf[b - 1]
        frac = (target - before) / max(counts[b], 1)
        value = edges[b - 1] + frac * (edges[b] - edges[b - 1])
        return float(np.clip(value, float(self.min), float(self.max)))

    def summary(self) -> dict:
        """Python numbers: count, nonfinite, mean, std, min, max, q01, q50, q99 (not jit-able).

        With no finite sample every statistic is NaN (not 0 or ±inf)."""
        if int(self.count) == 0:
            nan = float("nan")
            return {"count": 0, "nonfinite": int(self.nonfinite)} | dict.fromkeys(
                ("mean", "std", "min", "max", "q01", "q50", "q99"), nan
            )
        return {
            "count": int(self.count),
            "nonfinite": int(self.nonfinite),
            "mean": float(self.mean),
            "std": float(self.std),
            "min": float(self.min),
            "max": float(self.max),
            "q01": self.quantile(0.01),
            "q50": self.quantile(0.5),
            "q99": self.quantile(0.99),
        }


def summarize_samples(samples: Float[ArrayLike, "*num_samples"]) -> dict:
    """Exact ``mean, std, min, max, q01, q50, q99`` of kept samples (finite ones), as floats."""
    samples = np.asarray(samples, dtype=np.float64)
    finite = samples[np.isfinite(samples)]
    out = {"count": int(finite.size), "nonfinite": int(samples.size - finite.size)}
    if finite.size == 0:
        nan = float("nan")
        return out | dict.fromkeys(("mean", "std", "min", "max", "q01", "q50", "q99"), nan)
    q01, q50, q99 = np.quantile(finite, [0.01, 0.5, 0.99])
    return out | {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "q01": float(q01),
        "q50": float(q50),
        "q99": float(q99),
    }


def monte_carlo(
    key: PRNGKeyArray,
    chunk_fn: Callable[[PRNGKeyArray], dict[str, Float[Array, " chunk_size"]]],
    num_samples: int | Int[ArrayLike, ""],
    chunk_size: int,
    *,
    histogram_range=DEFAULT_RANGE,
    bins: int = DEFAULT_BINS,
    keep_samples: int | None = None,
    progress_id: Int[ArrayLike, ""] | None = None,
) -> tuple[dict[str, Statistics], dict[str, Float[Array, " keep_samples"]] | None]:
    """Run ``chunk_fn`` over ``ceil(num_samples / chunk_size)`` chunks, streaming statistics.

    Args:
        key: PRNG key; chunk ``c`` uses ``fold_in(key, c)``.
        chunk_fn: ``key -> {name: (chunk_size,) array}`` of per-sample scalars.
        num_samples: total number of samples (may be traced); the last chunk is masked.
        chunk_size: static samples per chunk.
        keep_samples: if an int ``N`` (static), also return the first ``N`` samples of every
            quantity (``(N,)`` arrays; NaN beyond ``num_samples``).
        progress_id: traced int from :class:`progress_bar` (``None``: no progress callbacks).

    Returns:
        ``({name: Statistics}, {name: samples} or None)``.
    """
    num_samples = jnp.asarray(num_samples, jnp.int32)
    # no (num_samples + chunk_size - 1): that overflows int32 near 2**31
    num_chunks = num_samples // chunk_size + (num_samples % chunk_size > 0)
    shapes = jax.eval_shape(chunk_fn, key)
    stats0 = {
        name: Statistics.of(jnp.zeros((0,), s.dtype), histogram_range=histogram_range, bins=bins)
        for name, s in shapes.items()
    }
    kept0, padded = None, 0
    if keep_samples is not None:
        padded = -(-int(keep_samples) // chunk_size) * chunk_size
        kept0 = {name: jnp.full((padded,), jnp.nan, s.dtype) for name, s in shapes.items()}

    def body(c, carry):
        stats, kept = carry
        values = chunk_fn(jr.fold_in(key, c))
        valid = c * chunk_size + jnp.arange(chunk_size) < num_samples
        stats = {
            name: stats[name].merge(
                Statistics.of(values[name], valid, histogram_range=histogram_range, bins=bins)
            )
            for name in stats
        }
        if kept is not None:
            # Chunks past the kept prefix are skipped (a clamped write would overwrite it).
            kept = jax.lax.cond(
                c * chunk_size < padded,
                lambda kept: {
                    name: jax.lax.dynamic_update_slice(
                        kept[name], jnp.where(valid, values[name], jnp.nan), (c * chunk_size,)
                    )
                    for name in kept
                },
                lambda kept: kept,
                kept,
            )
        if progress_id is not None:
            increment = jnp.clip(num_samples - c * chunk_size, 0, chunk_size)
            jax.debug.callback(tick, progress_id, increment)
        return stats, kept

    stats, kept = jax.lax.fori_loop(0, num_chunks, body, (stats0, kept0))
    if kept is not None and keep_samples is not None:  # kept0 is set exactly with keep_samples
        kept = {name: v[: int(keep_samples)] for name, v in kept.items()}
    return stats, kept
