"""Model-RIP Monte Carlo throughput on the Fig. 2 setup, and the cost of the operator abstraction.

Measured side by side in one run, interleaved round by round (machines are shared and noisy;
each figure is the median over rounds, and the ratios are of those medians):

- ``numpy_dense``: the dense NumPy reference with an explicit ``W`` matrix (``Kn × MD``), a
  batch of 1024 codes per matrix product (the fastest plain-NumPy formulation), codes sampled
  with NumPy; computes ratios (a) ``‖Wᵀz‖/‖z‖`` and (b) ``‖(WWᵀz)_S‖/‖z‖``.
- ``numpy_dense_per_sample``: the same, one code at a time (for context).
- ``jaxcs_conv``: :func:`jaxcs.estimate_model_rip` with ``method="conv"`` (two convolutions).
- ``jaxcs_gram``: ``method="gram"`` (restricted Gram from the correlation table, ``O(k²)``).
- ``jaxcs_gram_eigenvalues``: ``method="gram", eigenvalues=True``: also the exact extreme
  eigenvalues of every sampled support's restricted Gram (the δ lower bound).

Targets (issue 3): fastest jaxcs path ≥ 30× ``numpy_dense``; eigenvalue path ≥ 3×
``numpy_dense``. Then ``mv``/``rmv`` at VGG-16 conv(5,2) size (15×15×512 → 512, 3×3, SAME,
batch 32) against a bare ``jax.lax.conv_general_dilated`` call (target ≤ 1.1×).

Usage: ``python benchmarks/rip_throughput.py [--quick] [--output benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax

import jaxcs
from jaxcs.io import environment

FIG2 = dict(filter_length=5, in_channels=32, out_channels=96, input_size=32, k=10)


def numpy_dense_reference(A: np.ndarray, n: int, K: int, k: int, batch: int, rng):
    """One batch of ratios (a), (b) with the explicit matrix ``A = W`` (rows: code entries)."""
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


def rate(fn, samples: int) -> float:
    start = time.perf_counter()
    fn()
    return samples / (time.perf_counter() - start)


def bench_rip(rounds: int, quick: bool) -> dict:
    key = jr.key(0)
    w = jaxcs.gaussian_filters(
        key, (FIG2["filter_length"],), FIG2["in_channels"], FIG2["out_channels"]
    )
    op = jaxcs.ConvOperator(w, (FIG2["input_size"],), stride=1, padding="valid")
    model = jaxcs.BlockModel(FIG2["k"])
    A = np.asarray(op.as_matrix())
    n, K, k = op.out_spatial[0], op.out_channels, FIG2["k"]
    rng = np.random.default_rng(0)
    scale = 0.1 if quick else 1.0
    sizes = {
        "numpy_dense": int(16 * 1024 * scale) or 1024,
        "numpy_dense_per_sample": int(2000 * scale) or 100,
        "jaxcs_conv": int(200_000 * scale),
        "jaxcs_gram": int(4_000_000 * scale),
        "jaxcs_gram_eigenvalues": int(1_000_000 * scale),
    }
    configs = {
        "jaxcs_conv": dict(method="conv", eigenvalues=False),
        "jaxcs_gram": dict(method="gram", eigenvalues=False),
        "jaxcs_gram_eigenvalues": dict(method="gram", eigenvalues=True),
    }

    def run_numpy():
        for _ in range(sizes["numpy_dense"] // 1024):
            numpy_dense_reference(A, n, K, k, 1024, rng)

    def run_numpy_single():
        for _ in range(sizes["numpy_dense_per_sample"]):
            numpy_dense_reference(A, n, K, k, 1, rng)

    def run_jaxcs(name, seed):
        est = jaxcs.estimate_model_rip(jr.key(seed), op, model, sizes[name], **configs[name])
        jax.block_until_ready(est)
        return est

    estimates = {name: run_jaxcs(name, 0) for name in configs}  # compile + warm up
    run_numpy()
    rates = {name: [] for name in sizes}
    for r in range(rounds):
        rates["numpy_dense"].append(rate(run_numpy, sizes["numpy_dense"]))
        rates["numpy_dense_per_sample"].append(
            rate(run_numpy_single, sizes["numpy_dense_per_sample"])
        )
        for name in configs:
            rates[name].append(rate(lambda name=name, r=r: run_jaxcs(name, r + 1), sizes[name]))
    median = {name: statistics.median(v) for name, v in rates.items()}
    fastest = max(("jaxcs_conv", "jaxcs_gram"), key=median.get)
    ref_a, _ = numpy_dense_reference(A, n, K, k, 20_000, np.random.default_rng(1))
    return {
        "setup": FIG2 | {"stride": 1, "padding": "valid", "rounds": rounds},
        "samples_per_call": sizes,
        "samples_per_second": {
            name: {"median": median[name], "all": v} for name, v in rates.items()
        },
        "fastest_jaxcs_path": fastest,
        "ratio_fastest_vs_numpy_dense": median[fastest] / median["numpy_dense"],
        "ratio_eigenvalues_vs_numpy_dense": median["jaxcs_gram_eigenvalues"]
        / median["numpy_dense"],
        "ratio_fastest_vs_numpy_per_sample": median[fastest] / median["numpy_dense_per_sample"],
        "targets": {"fastest_vs_numpy_dense": 30.0, "eigenvalues_vs_numpy_dense": 3.0},
        "sanity_mean_ratio_wt": {
            "numpy_dense": float(np.mean(ref_a)),
            **{name: float(est.ratio_wt.mean) for name, est in estimates.items()},
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
    times = {name: [] for name in calls}
    for fn in calls.values():
        jax.block_until_ready(fn())
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(reps):
                out = fn()
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - start) / reps)
    median = {name: statistics.median(v) for name, v in times.items()}
    return {
        "setup": {"input": [batch, 15, 15, 512], "filters": [3, 3, 512, 512], "padding": "same"},
        "seconds_per_call": {name: {"median": median[name], "all": v} for name, v in times.items()},
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
    start = time.perf_counter()
    est = jaxcs.estimate_model_rip(jr.key(1), op, model, large, **kwargs)
    jax.block_until_ready(est)
    seconds = time.perf_counter() - start
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
        start = time.perf_counter()
        mu = float(jaxcs.coherence(op, shifts=shifts))
        out[f"shifts_{shifts}"] = {
            "coherence": mu,
            "seconds_first_call": time.perf_counter() - start,
        }
    return {"filters": [3, 3, 512, 512], **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--tag", default=None, help="file name suffix (default: backend)")
    args = parser.parse_args()
    env = environment()
    result = {
        "benchmark": "rip_throughput",
        "environment": env,
        "rip": bench_rip(args.rounds, args.quick),
        "operator": bench_operator(args.rounds, args.quick),
        "memory": bench_memory(args.quick),
        "coherence_vgg": bench_coherence(),
        "quick": args.quick,
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    tag = args.tag or env["backend"]
    path = out / f"rip_throughput_{tag}{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=1))
    rip, opr = result["rip"], result["operator"]
    print(
        json.dumps(
            {name: round(v["median"]) for name, v in rip["samples_per_second"].items()}, indent=1
        )
    )
    print(
        f"fastest jaxcs path ({rip['fastest_jaxcs_path']}) / numpy dense: "
        f"{rip['ratio_fastest_vs_numpy_dense']:.1f}x (target 30x)"
    )
    print(
        f"eigenvalue path / numpy dense: {rip['ratio_eigenvalues_vs_numpy_dense']:.1f}x (target 3x)"
    )
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
