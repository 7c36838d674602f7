"""The model-RIP bracket: how far sampling, search and the certified bound get, and what it costs.

Measured in one run:

1. ``fig2_budgets``: on the Fig. 2 setup (1-D, 5 × 32 × 96 Gaussian filters, D = 32, valid,
   ``BlockModel(10)``), δ from the per-support eigenvalues of ``B`` sampled supports
   (:func:`jaxcs.estimate_model_rip`) against :func:`jaxcs.search_model_rip` with the same
   budget ``B`` of Gram evaluations, over seeds; and the certified upper bound.
2. ``enumerable``: small layers where every support can be visited: exact δ
   (:func:`jaxcs.exact_model_rip`) beside search and sampling at a small budget.
3. ``lanczos_vs_dense``: on the Fig. 3 layer (3 × 3, 512 → 512, 15 × 15, "same", 2 × 2
   pooling), seconds per support of Lanczos on the masked operator against gathering ``G_S``
   and ``eigvalsh`` (NumPy, LAPACK) at sizes where the dense path still runs, and the dense
   cost extrapolated (``∝ k³``) to the Fig. 3 support size.
4. ``fig3``: the full-size ``jaxcs fig3`` run's time and peak memory, read from
   ``examples/fig3/fig3.json`` (run ``jaxcs fig3 --output examples/fig3`` first).

Usage: ``python benchmarks/rip_bracket.py [--quick] [--output benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.random as jr
import numpy as np
from harness import first_and_runs, save, timed

import jaxcs


def fig2_budgets(budgets, seeds) -> dict:
    w = jaxcs.gaussian_filters(jr.key(0), (5,), 32, 96)
    op = jaxcs.ConvOperator(w, (32,), 1, "valid")
    model = jaxcs.BlockModel(10)
    rows = []
    for budget in budgets:
        for seed in range(seeds):
            key = jr.key(seed)
            sampled_time, sampled_delta = timed(
                lambda key=key, budget=budget: float(
                    jaxcs.estimate_model_rip(key, op, model, budget).delta_lower_bound
                )
            )
            search_time, search = timed(
                lambda key=key, budget=budget: jaxcs.search_model_rip(key, op, model, budget)
            )
            search_delta = float(search.delta)
            rows.append(
                dict(
                    budget=budget,
                    seed=seed,
                    sampled_delta=sampled_delta,
                    search_delta=search_delta,
                    search_evaluations=int(search.evaluations[-1]),
                    sampled_seconds=sampled_time,
                    search_seconds=search_time,
                )
            )
            print(rows[-1])
    upper = jaxcs.model_rip_upper_bound(op, model)
    return {
        "setup": "fig2: 5x32x96 gaussian, D=32, valid, BlockModel(10)",
        "rows": rows,
        "upper_bound": upper.summary(),
        "note": "seconds include compilation for the first seed of each budget",
    }


ENUMERABLE = [
    # (name, filter shape, M, K, in_spatial, padding, model)
    ("1-D block k=3", (3,), 4, 8, (10,), "valid", jaxcs.BlockModel(3)),
    ("1-D pooling k=3", (3,), 4, 8, (10,), "valid", jaxcs.PoolingModel((2,), 3)),
    ("1-D top-k k=3", (3,), 4, 8, (10,), "valid", jaxcs.TopKModel(3)),
    ("1-D block k=3 z>=0", (3,), 4, 8, (10,), "valid", jaxcs.BlockModel(3, nonnegative=True)),
    ("2-D pooling k=3", (2, 2), 3, 6, (5, 5), "valid", jaxcs.PoolingModel((2, 2), 3)),
    ("1-D block k=4 circular", (5,), 3, 6, (8,), "circular", jaxcs.BlockModel(4)),
    ("1-D top-k k=2 same", (3,), 2, 4, (8,), "same", jaxcs.TopKModel(2)),
]


def enumerable(budget: int) -> list[dict]:
    rows = []
    for name, fshape, M, K, spatial, padding, model in ENUMERABLE:
        w = jaxcs.gaussian_filters(jr.key(1), fshape, M, K)
        op = jaxcs.ConvOperator(jaxcs.operators.normalize_filters(w), spatial, 1, padding)
        exact = jaxcs.exact_model_rip(op, model, max_supports=10**7)
        search = jaxcs.search_model_rip(jr.key(0), op, model, budget)
        sampled = jaxcs.estimate_model_rip(jr.key(0), op, model, budget)
        upper = jaxcs.model_rip_upper_bound(op, model)
        rows.append(
            dict(
                case=name,
                supports=exact.num_supports,
                exact=exact.delta,
                search=float(search.delta),
                sampled=float(sampled.delta_lower_bound),
                upper=upper.delta,
                upper_method=upper.method,
                search_over_exact=float(search.delta) / exact.delta,
                sampled_over_exact=float(sampled.delta_lower_bound) / exact.delta,
                budget=budget,
            )
        )
        print(rows[-1])
    return rows


def lanczos_vs_dense(dense_sizes, lanczos_sizes, steps: int, quick: bool) -> dict:
    M = K = 64 if quick else 512
    w = jaxcs.operators.normalize_filters(jaxcs.gaussian_filters(jr.key(0), (3, 3), M, K))
    op = jaxcs.ConvOperator(w, (15, 15), 1, "same")
    k_fig3 = round(0.239 * 15 * 15 * K)
    dense = []
    # not jax.jit(op.rmv): jit hashes a bound method's module, and its arrays are unhashable
    rmv = jax.jit(lambda codes: op.rmv(codes))
    for k in dense_sizes:
        model = jaxcs.PoolingModel((2, 2), k)
        code = model.sample_sparse(jr.key(k), op.out_shape, (1,))
        support = np.asarray(code.indices[0])

        def gram_on_support(support=support, k=k):
            # the columns of Φ on S: Wᵀ applied to the unit codes of S, 256 at a time
            columns = []
            for start in range(0, k, 256):
                rows = support[start : start + 256]
                units = np.zeros((len(rows), int(np.prod(op.out_shape))), np.float32)
                units[np.arange(len(rows)), rows] = 1
                x = rmv(units.reshape((len(rows),) + tuple(op.out_shape)))
                columns.append(np.asarray(x).reshape(len(rows), -1))
            columns = np.concatenate(columns)
            return columns @ columns.T

        gather, gram = timed(gram_on_support)
        eig, _ = timed(lambda gram=gram: np.linalg.eigvalsh(gram.astype(np.float64)))
        dense.append(dict(k=k, gram_seconds=gather, eigvalsh_seconds=eig))
        print(dense[-1])
    largest = dense[-1]
    scale = (k_fig3 / largest["k"]) ** 3
    lanczos = []
    for k in lanczos_sizes + [k_fig3]:
        model = jaxcs.PoolingModel((2, 2), k)
        code = model.sample_sparse(jr.key(k), op.out_shape, (4,))
        run = jax.jit(lambda op, code: jaxcs.analysis.masked_extremes(op, code, steps=steps))
        _, (seconds,), found = first_and_runs(lambda run=run, code=code: run(op, code), 1)
        per_support = seconds / 4
        lanczos.append(
            dict(
                k=k,
                seconds_per_support=per_support,
                max_residual=float(np.max(np.maximum(found.residual_min, found.residual_max))),
            )
        )
        print(lanczos[-1])
    return {
        "layer": f"3x3, {M}->{K}, 15x15, same, 2x2 pooling",
        "steps": steps,
        "dense": dense,
        "lanczos": lanczos,
        "fig3_k": k_fig3,
        "dense_extrapolated_eigvalsh_seconds_at_fig3_k": largest["eigvalsh_seconds"] * scale,
        "dense_gram_bytes_at_fig3_k": 4 * k_fig3**2,
        "lanczos_over_dense_at_fig3_k": lanczos[-1]["seconds_per_support"]
        / (largest["eigvalsh_seconds"] * scale),
    }


def fig3_run(path: Path) -> dict | None:
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    return {
        "source": str(path),
        "seconds": result.get("seconds"),
        "timings": result.get("timings"),
        "peak_memory_mib": result.get("peak_memory_mib"),
        "delta_bracket": result.get("delta_bracket"),
        "ratio_wt_mean": result["ratio_wt"]["mean"],
        "machine": result.get("environment"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default="benchmarks/results")
    args = parser.parse_args()
    quick = args.quick
    record = {
        "fig2_budgets": fig2_budgets(
            [1024, 4096] if quick else [1024, 4096, 16384], 2 if quick else 3
        ),
        "enumerable": enumerable(512 if quick else 2048),
        "lanczos_vs_dense": lanczos_vs_dense(
            [256, 512] if quick else [512, 1024, 2048],
            [1024] if quick else [1024, 4096],
            24,
            quick,
        ),
        "fig3": fig3_run(Path("examples/fig3/fig3.json")),
    }
    name = f"rip_bracket_{jax.default_backend()}{'_quick' if quick else ''}.json"
    print(f"saved: {save(Path(args.output) / name, record)}")


if __name__ == "__main__":
    main()
