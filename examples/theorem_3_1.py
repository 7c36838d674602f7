"""Theorem 3.1 empirically: how the model-RIP constant of a random layer moves with its sizes.

Theorem 3.1 (Gilbert et al. 2017): Gaussian filters give ``Wᵀ`` the model-RIP on 𝓜_k with
constant ``δ_k`` once ``M l² / D ≥ (C k / δ_k²)(log K + log n − log ε)``, i.e. ``δ_k`` scales
like ``sqrt(k (log K + log n) / (M l² / D))``. This example sweeps the input channels ``M``, the
filter length ``l`` and ``k`` at fixed ``D`` and ``K`` with the sweep engine (``rip =
"eigenvalues"``: the exact extreme eigenvalues of every sampled support's restricted Gram, a
lower bound on ``δ_k``) and plots that bound against the theorem's ``x = sqrt(k (log K + log n)
D / (M l²))``: if the theorem's scaling is tight, the points fall on one line through 0.

    python examples/theorem_3_1.py [--output examples/theorem_3_1] [--quick]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

import jaxcs


def grid(quick: bool) -> dict:
    return {
        "operator": {
            "filter_shape": [3] if quick else [3, 5, 9],
            "in_channels": [4] if quick else [4, 8, 16, 32],
            "out_channels": 32,
            "in_spatial": 32,
        },
        "model": {"kind": "block", "k": [1, 4] if quick else [1, 2, 4, 8]},
        "solver": {"name": "NIHT", "max_steps": 20 if quick else 100},
        "run": {"seeds": 8 if quick else 128, "rip": "eigenvalues"},
    }


def theorem_abscissa(rows) -> np.ndarray:
    """``sqrt(k (log K + log n) D / (M l²))`` per row (``n = D − l + 1`` shifts, valid)."""
    out = []
    for r in rows:
        D, l, M, K, k = r["in_spatial"], r["filter_shape"], r["in_channels"], 32, r["k"]
        n = D - l + 1
        out.append(math.sqrt(k * (math.log(K) + math.log(n)) * D / (M * l * l)))
    return np.asarray(out)


def plot(rows, path: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = theorem_abscissa(rows)
    delta = np.asarray([r["delta_lower_bound"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    for l, marker in zip(sorted({r["filter_shape"] for r in rows}), "os^D", strict=False):
        for M, color in zip(
            sorted({r["in_channels"] for r in rows}),
            plt.cm.viridis(np.linspace(0, 0.9, 4)),
            strict=False,
        ):
            pick = [
                i for i, r in enumerate(rows) if r["filter_shape"] == l and r["in_channels"] == M
            ]
            ax.scatter(x[pick], delta[pick], marker=marker, color=color, label=f"l={l}, M={M}")
    slope = float(np.sum(x * delta) / np.sum(x * x))  # least squares through 0
    grid = np.linspace(0, x.max() * 1.05, 50)
    ax.plot(grid, slope * grid, "k--", lw=1, label=f"δ = {slope:.2f} · x (fit through 0)")
    ax.set_xlabel("x = sqrt(k (log K + log n) · D / (M l²))   (Theorem 3.1)")
    ax.set_ylabel("δ_k lower bound (eigenvalues of sampled G_S)")
    ax.set_title(f"Random Gaussian layers, D = 32, K = 32, {rows[0]['problems']} supports/cell")
    ax.legend(fontsize=7, ncol=2)
    written = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    for target in written:
        fig.savefig(target, dpi=120)
    plt.close(fig)
    return written


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).parent / "theorem_3_1"))
    parser.add_argument("--quick", action="store_true", help="a 1 × 2 grid of 8 codes per cell")
    args = parser.parse_args(argv)
    out = Path(args.output)
    result = jaxcs.sweep(grid(args.quick), out, overwrite=True, progress=not args.quick)
    rows = result.rows
    x = theorem_abscissa(rows)
    delta = np.asarray([r["delta_lower_bound"] for r in rows])
    correlation = float(np.corrcoef(x, delta)[0, 1])
    print(f"{'l':>3}{'M':>4}{'k':>4}{'x':>8}{'delta':>8}")
    for r, xi in zip(rows, x, strict=True):
        print(
            f"{r['filter_shape']:>3}{r['in_channels']:>4}{r['k']:>4}{xi:8.3f}"
            f"{r['delta_lower_bound']:8.3f}"
        )
    print(f"correlation of δ with the theorem's x: {correlation:.3f}")
    try:
        for path in plot(rows, out / "theorem_3_1"):
            print(f"figure: {path}")
    except ImportError:
        print("figure: skipped (pip install 'jaxcs[plot]')")
    return rows


if __name__ == "__main__":
    main()
