"""Model-RIP Monte Carlo throughput on the Fig. 2 setup, and the cost of the operator abstraction.

Fig. 2 setup: 1-D, filters 5 × 32 × 96 Gaussian, D = 32, ``"valid"``, stride 1, ``BlockModel(10)``,
Uniform[−1, 1] non-zeros. Measured side by side in one run, interleaved round by round (machines
are shared and noisy; each figure is the median over rounds, and the ratios are of those
medians). The references are NumPy implementations of the *same* methods:

- ``numpy_gram_batched`` (the expert reference for the ratios): codes sampled with NumPy
  (Floyd's distinct-block draw, vectorised over the batch), the restricted Grams ``G_S`` of a
  batch gathered in one fancy index from the correlation table ``C[i, i', δ]``
  (``jaxcs.operators.correlation_table(op).values``, zero-extended to every shift so that the
  gather needs no mask), then ratios (a) ``sqrt(zᵀ G_S z)/‖z‖`` and (b) ``‖G_S z‖/‖z‖``, batched.
- ``numpy_eigvalsh_batched`` (the expert reference for exact per-support eigenvalues): the same
  Grams, then one batched ``numpy.linalg.eigvalsh`` and its extremes.
- ``numpy_dense_matrix``: a weak baseline with the explicit ``Kn × MD`` matrix ``W`` (two
  matrix products per batch of 1024 codes), kept for continuity with earlier figures.
- ``jaxcs_gram`` / ``jaxcs_gram_eigenvalues``: :func:`jaxcs.estimate_model_rip` with
  ``method="gram"``, ``eigenvalues=False`` / ``True`` (exact extreme eigenvalues of every
  sampled support), for ``BlockModel(10)`` (16 slots: the default capacity rounds ``k`` up to a
  multiple of 8) and ``BlockModel(10, capacity=10)`` (suffix ``_capacity_k``).
- ``jaxcs_conv``: ``method="conv"`` (two convolutions per code).

Targets (issue "fast against a real rival"): ``jaxcs_gram`` ≥ 5× ``numpy_gram_batched``;
``jaxcs_gram_eigenvalues`` ≥ 2× ``numpy_eigvalsh_batched``. Then ``mv``/``rmv`` at VGG-16
conv(5,2) size (15×15×512 → 512, 3×3, SAME, batch 32) against a bare
``jax.lax.conv_general_dilated`` call (target ≤ 1.1×).

Usage: ``python benchmarks/rip_throughput.py [--quick] [--output benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from harness import interleaved, medians, save, timed
from jax import lax

import jaxcs

FIG2 = dict(filter_length=5, in_channels=32, out_channels=96, input_size=32, k=10)
NUMPY_BATCH = 1024  # codes per NumPy batch (fastest of 512 … 8192 on 2 cores)
TARGETS = {"gram_vs_numpy_gram_batched": 5.0, "eigenvalues_vs_numpy_eigvalsh_batched": 2.0}


def numpy_block_codes(rng, batch: int, K: int, n: int, k: int):
    """A batch of Fig. 2 codes: ``k`` distinct filters (Floyd's algorithm, vectorised over the
    batch), a uniform shift in ``[0, n)`` for each and Uniform[−1, 1] float32 values.

    Returns:
        ``(filters, shifts, values)``, each ``(batch, k)``.
    """
    filters = np.empty((batch, k), np.int64)
    u = rng.random((batch, k))
    for i in range(k):
        top = K - k + i
        t = (u[:, i] * (top + 1)).astype(np.int64)
        if i:
            t = np.where((filters[:, :i] == t[:, None]).any(axis=1), top, t)
        filters[:, i] = t
    shifts = rng.integers(0, n, (batch, k))
    values = rng.uniform(-1, 1, (batch, k)).astype(np.float32)
    return filters, shifts, values


class NumpyGram:
    """Restricted Grams ``G_S`` of Fig. 2 codes by one fancy-index gather from the table."""

    def __init__(self, table: np.ndarray, n: int):
        K, _, width = table.shape
        R = (width - 1) // 2
        # zero-extended to every shift two codes can have, |δ| ≤ n − 1: no mask in the gather
        padded = np.zeros((K, K, 2 * n - 1), table.dtype)
        padded[:, :, n - 1 - R : n + R] = table
        self.flat, self.K, self.n = padded.reshape(-1), K, n

    def grams(self, filters, shifts):
        """``(batch, k, k)``: ``G[a, b] = C[i_a, i_b, j_a − j_b]``."""
        span = 2 * self.n - 1
        row = filters * (self.K * span) + shifts + (self.n - 1)
        col = filters * span - shifts
        return self.flat[row[:, :, None] + col[:, None, :]]


def numpy_gram_batched(gram: NumpyGram, batch: int, k: int, rng):
    """One batch of ratios (a) ``sqrt(zᵀGz)/‖z‖`` and (b) ``‖Gz‖/‖z‖`` from gathered Grams."""
    filters, shifts, z = numpy_block_codes(rng, batch, gram.K, gram.n, k)
    G = gram.grams(filters, shifts)
    gz = np.einsum("bij,bj->bi", G, z)
    znorm = np.linalg.norm(z, axis=1)
    ratio_a = np.sqrt(np.maximum(np.einsum("bi,bi->b", gz, z), 0)) / znorm
    ratio_b = np.linalg.norm(gz, axis=1) / znorm
    return ratio_a, ratio_b


def numpy_eigvalsh_batched(gram: NumpyGram, batch: int, k: int, rng):
    """One batch of exact ``(λ_min, λ_max)`` of the Grams (one batched ``eigvalsh``)."""
    filters, shifts, _ = numpy_block_codes(rng, batch, gram.K, gram.n, k)
    evals = np.linalg.eigvalsh(gram.grams(filters, shifts))
    return evals[:, 0], evals[:, -1]


def numpy_dense_matrix(A: np.ndarray, n: int, K: int, k: int, batch: int, rng):
    """One batch of ratios (a), (b) with the explicit matrix ``A = W`` (rows: code entries): a
    weak baseline (``O(Kn · MD)`` per code where the Gram needs ``O(k²)``)."""
    blocks = np.argpartition(rng.random((batch, K)), k, axis=1)[:, :k]
    idx = rng.integers(0, n, (batch, k)) * K + blocks
    vals = rng.uniform(-1, 1, (batch, k)).astype(A.dtype)
    Z = np.zeros((batch, A.shape[0]), A.dtype)
    np.put_along_axis(Z, idx, vals, axis=1)
    X = Z @ A  # Wᵀ z for every code (rows)
    Y = X @ A.T  # W Wᵀ z
    znorm = np.linalg.norm(vals, axis=1)
    ratio_a = np.linalg.norm(X, axis=1) / znorm
    ratio_b = np.linalg.norm(np.take_along_axis(Y, idx, axis=1), axis=1) / znorm
    return ratio_a, ratio_b


def check_references(op, gram: NumpyGram, k: int) -> dict:
    """The NumPy references compute the quantities of :func:`jaxcs.analysis.code_ratios` on the same
    codes: the largest relative differences (float32 rounding)."""
    filters, shifts, z = numpy_block_codes(np.random.default_rng(2), 512, gram.K, gram.n, k)
    code = jaxcs.SparseCode(
        jnp.asarray(shifts * gram.K + filters, jnp.int32),
        jnp.asarray(z),
        jnp.ones(z.shape, bool),
        tuple(op.out_shape),
    )
    ours = jaxcs.analysis.code_ratios(op, code, eigenvalues=True)
    G = gram.grams(filters, shifts)
    gz = np.einsum("bij,bj->bi", G, z)
    znorm = np.linalg.norm(z, axis=1)
    evals = np.linalg.eigvalsh(G.astype(np.float64))
    theirs = {
        "ratio_wt": np.sqrt(np.einsum("bi,bi->b", gz, z)) / znorm,
        "ratio_wwt": np.linalg.norm(gz, axis=1) / znorm,
        "eig_min": evals[:, 0],
        "eig_max": evals[:, -1],
    }
    return {
        name: float(np.max(np.abs(np.asarray(ours[name]) - ref) / np.abs(ref)))
        for name, ref in theirs.items()
    }


def bench_rip(rounds: int, quick: bool) -> dict:
    key = jr.key(0)
    w = jaxcs.gaussian_filters(
        key, (FIG2["filter_length"],), FIG2["in_channels"], FIG2["out_channels"]
    )
    op = jaxcs.ConvOperator(w, (FIG2["input_size"],), stride=1, padding="valid")
    k = FIG2["k"]
    models = {"": jaxcs.BlockModel(k), "_capacity_k": jaxcs.BlockModel(k, capacity=k)}
    A = np.asarray(op.as_matrix())
    n, K = op.out_spatial[0], op.out_channels
    gram = NumpyGram(np.asarray(jaxcs.operators.correlation_table(op).values), n)
    rng = np.random.default_rng(0)
    scale = 0.1 if quick else 1.0

    def size(count: int, batch: int = 1) -> int:
        return max(batch, int(count * scale) // batch * batch)

    sizes = {
        "numpy_dense_matrix": size(16 * 1024, 1024),
        "numpy_gram_batched": size(1_000_000, NUMPY_BATCH),
        "numpy_eigvalsh_batched": size(200_000, NUMPY_BATCH),
        "jaxcs_conv": size(200_000),
    }
    configs = {"jaxcs_conv": (models[""], dict(method="conv", eigenvalues=False))}
    for suffix, model in models.items():
        sizes[f"jaxcs_gram{suffix}"] = size(2_000_000)
        sizes[f"jaxcs_gram_eigenvalues{suffix}"] = size(400_000)
        configs[f"jaxcs_gram{suffix}"] = (model, dict(method="gram", eigenvalues=False))
        configs[f"jaxcs_gram_eigenvalues{suffix}"] = (model, dict(method="gram", eigenvalues=True))
    numpy_runs = {
        "numpy_dense_matrix": lambda: numpy_dense_matrix(A, n, K, k, 1024, rng),
        "numpy_gram_batched": lambda: numpy_gram_batched(gram, NUMPY_BATCH, k, rng),
        "numpy_eigvalsh_batched": lambda: numpy_eigvalsh_batched(gram, NUMPY_BATCH, k, rng),
    }

    def run_numpy(name):
        batch = 1024 if name == "numpy_dense_matrix" else NUMPY_BATCH
        for _ in range(sizes[name] // batch):
            numpy_runs[name]()

    def run_jaxcs(name, seed):
        model, config = configs[name]
        est = jaxcs.estimate_model_rip(
            jr.key(seed), op, model, sizes[name], progress=False, **config
        )
        jax.block_until_ready(est)
        return est

    estimates = {name: run_jaxcs(name, 0) for name in configs}  # compile + warm up
    for name in numpy_runs:
        numpy_runs[name]()
    runs = {name: lambda seed, name=name: run_numpy(name) for name in numpy_runs}
    runs |= {name: partial(run_jaxcs, name) for name in configs}
    seconds = interleaved(runs, rounds)
    rates = {name: [sizes[name] / t for t in seconds[name]] for name in runs}
    median = {name: entry["median"] for name, entry in medians(rates).items()}
    ratios = {}
    for suffix in models:
        ratios[f"gram{suffix}_vs_numpy_gram_batched"] = (
            median[f"jaxcs_gram{suffix}"] / median["numpy_gram_batched"]
        )
        ratios[f"eigenvalues{suffix}_vs_numpy_eigvalsh_batched"] = (
            median[f"jaxcs_gram_eigenvalues{suffix}"] / median["numpy_eigvalsh_batched"]
        )
        ratios[f"gram{suffix}_vs_numpy_dense_matrix"] = (
            median[f"jaxcs_gram{suffix}"] / median["numpy_dense_matrix"]
        )
        ratios[f"eigenvalues{suffix}_vs_numpy_dense_matrix"] = (
            median[f"jaxcs_gram_eigenvalues{suffix}"] / median["numpy_dense_matrix"]
        )
    ratios["numpy_gram_batched_vs_numpy_dense_matrix"] = (
        median["numpy_gram_batched"] / median["numpy_dense_matrix"]
    )
    ref_a, _ = numpy_gram_batched(gram, 20_000, k, np.random.default_rng(1))
    ref_min, ref_max = numpy_eigvalsh_batched(gram, 20_000, k, np.random.default_rng(1))
    return {
        "setup": FIG2 | {"stride": 1, "padding": "valid", "rounds": rounds},
        "samples_per_call": sizes,
        "numpy_batch": NUMPY_BATCH,
        "samples_per_second": medians(rates),
        "ratios": ratios,
        "targets": TARGETS,
        "references_vs_code_ratios_max_relative_difference": check_references(op, gram, k),
        "sanity_means": {
            "numpy_gram_batched": {"ratio_wt": float(np.mean(ref_a))},
            "numpy_eigvalsh_batched": {
                "eig_min": float(np.mean(ref_min)),
                "eig_max": float(np.mean(ref_max)),
            },
            **{
                name: {
                    "ratio_wt": float(est.ratio_wt.mean),
                    **(
                        {"eig_min": float(est.eig_min.mean), "eig_max": float(est.eig_max.mean)}
                        if est.eig_min is not None
                        else {}
                    ),
                }
                for name, est in estimates.items()
            },
        },
    }


def bench_operator(rounds: int, quick: bool) -> dict:
    """``mv``/``rmv`` vs bare ``lax.conv_general_dilated`` at VGG-16 conv(5,2) size."""
    batch = 8 if quick else 32
    key_w, key_x = jr.split(jr.key(1))
    w = jaxcs.gaussian_filters(key_w, (3, 3), 512, 512)
    op = jaxcs.ConvOperator(w, (15, 15), stride=1, padding="same")
    x = jr.normal(key_x, (batch, 15, 15, 512))
    z = op.mv(x)
    dn = ("NHWC", "HWIO", "NHWC")
    pads = [(1, 1), (1, 1)]

    @jax.jit
    def bare_mv(w, x):
        return lax.conv_general_dilated(x, w, (1, 1), pads, dimension_numbers=dn)

    @jax.jit
    def bare_rmv(w, z):  # the same transposed convolution, written inline
        kernel = jnp.swapaxes(jnp.flip(w, (0, 1)), -1, -2)
        return lax.conv_general_dilated(z, kernel, (1, 1), pads, dimension_numbers=dn)

    ours_mv = jax.jit(lambda op, x: op.mv(x))
    ours_rmv = jax.jit(lambda op, z: op.rmv(z))
    np.testing.assert_allclose(bare_mv(w, x), ours_mv(op, x), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(bare_rmv(w, z), ours_rmv(op, z), rtol=1e-4, atol=1e-3)
    calls = {
        "bare_mv": lambda: bare_mv(w, x),
        "jaxcs_mv": lambda: ours_mv(op, x),
        "bare_rmv": lambda: bare_rmv(w, z),
        "jaxcs_rmv": lambda: ours_rmv(op, z),
    }
    reps = 3 if quick else 10
    for fn in calls.values():
        jax.block_until_ready(fn())
    repeated = {name: lambda _, fn=fn: [fn() for _ in range(reps)] for name, fn in calls.items()}
    times = {name: [t / reps for t in v] for name, v in interleaved(repeated, rounds).items()}
    median = {name: entry["median"] for name, entry in medians(times).items()}
    return {
        "setup": {"input": [batch, 15, 15, 512], "filters": [3, 3, 512, 512], "padding": "same"},
        "seconds_per_call": medians(times),
        "ratio_mv_vs_bare": median["jaxcs_mv"] / median["bare_mv"],
        "ratio_rmv_vs_bare": median["jaxcs_rmv"] / median["bare_rmv"],
        "target_max_ratio": 1.1,
    }


def bench_memory(quick: bool) -> dict:
    """Peak resident memory does not grow with ``num_samples`` (chunked streaming)."""
    import resource

    w = jaxcs.gaussian_filters(jr.key(2), (5,), 32, 96)
    op = jaxcs.ConvOperator(w, (32,), padding="valid")
    model = jaxcs.BlockModel(10)
    small, large = 100_000, (1_000_000 if quick else 10_000_000)

    def peak_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    kwargs = dict(method="gram", eigenvalues=False, chunk_size=8192)
    jax.block_until_ready(jaxcs.estimate_model_rip(jr.key(0), op, model, small, **kwargs))
    before = peak_mib()
    seconds, est = timed(lambda: jaxcs.estimate_model_rip(jr.key(1), op, model, large, **kwargs))
    after = peak_mib()
    return {
        "num_samples": [small, large],
        "peak_rss_mib_after_small": before,
        "peak_rss_mib_after_large": after,
        "growth_mib": after - before,
        "large_run_seconds": seconds,
        "large_run_count": int(est.ratio_wt.count),
    }


def bench_coherence() -> dict:
    """Shift-aware coherence of a VGG-16-sized layer (3×3×512×512), from the table."""
    w = jaxcs.gaussian_filters(jr.key(3), (3, 3), 512, 512)
    op = jaxcs.ConvOperator(w, (14, 14), padding="same")
    out = {}
    for shifts in (False, True):
        seconds, mu = timed(lambda shifts=shifts: float(jaxcs.coherence(op, shifts=shifts)))
        out[f"shifts_{shifts}"] = {"coherence": mu, "seconds_first_call": seconds}
    return {"filters": [3, 3, 512, 512], **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--tag", default=None, help="file name suffix (default: backend)")
    args = parser.parse_args()
    result = {
        "benchmark": "rip_throughput",
        "rip": bench_rip(args.rounds, args.quick),
        "operator": bench_operator(args.rounds, args.quick),
        "memory": bench_memory(args.quick),
        "coherence_vgg": bench_coherence(),
        "quick": args.quick,
    }
    tag = args.tag or jax.default_backend()
    path = save(
        Path(args.output) / f"rip_throughput_{tag}{'_quick' if args.quick else ''}.json", result
    )
    rip, opr = result["rip"], result["operator"]
    print(
        json.dumps(
            {name: round(v["median"]) for name, v in rip["samples_per_second"].items()}, indent=1
        )
    )
    for name, value in rip["ratios"].items():
        target = TARGETS.get(name)
        print(f"{name}: {value:.2f}x" + (f" (target {target:g}x)" if target else ""))
    print(
        f"mv / bare conv: {opr['ratio_mv_vs_bare']:.3f}, rmv / bare: "
        f"{opr['ratio_rmv_vs_bare']:.3f} (target <= 1.1)"
    )
    mem = result["memory"]
    print(
        f"peak RSS growth from {mem['num_samples'][0]} to {mem['num_samples'][1]} samples: "
        f"{mem['growth_mib']:.1f} MiB"
    )
    coh = result["coherence_vgg"]["shifts_True"]
    print(f"shift-aware coherence 3x3x512x512: {coh['seconds_first_call']:.2f} s (with compile)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
