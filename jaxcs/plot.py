"""Matplotlib figures from result dicts (the ``plot`` extra). No computation happens here."""

from __future__ import annotations

from pathlib import Path

FIG2_PANELS = (
    ("ratio_wt", "(a) ‖Wᵀz‖ / ‖z‖"),
    ("ratio_wwt", "(b) ‖(WWᵀz)_S‖ / ‖z‖  (restricted to supp z)"),
    ("recon_error", "(c) ‖x − x̂‖ / ‖x‖,  x̂ = Wᵀ𝕄(Wx, k)"),
)


def plot_fig2(result: dict, path: str | Path) -> Path:
    """Write the three histograms of Fig. 2 from :func:`jaxcs.experiments.fig2.run_fig2`'s
    result to ``path`` (PNG). Raises ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for ax, (name, title) in zip(axes, FIG2_PANELS, strict=True):
        hist = result["histograms"][name]
        edges, counts = np.asarray(hist["edges"]), np.asarray(hist["counts"])
        ax.stairs(counts / max(counts.sum(), 1), edges, fill=True, alpha=0.8)
        stats = result["quantities"][name]
        ax.axvline(stats["mean"], color="k", lw=1, ls="--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"mean {stats['mean']:.3f}, std {stats['std']:.3f}")
        if name == "ratio_wwt" and "ratio_wwt_full" in result["histograms"]:
            full = result["histograms"]["ratio_wwt_full"]
            full_counts = np.asarray(full["counts"])
            ax.stairs(
                full_counts / max(full_counts.sum(), 1),
                np.asarray(full["edges"]),
                color="C3",
                label="full ‖WWᵀz‖/‖z‖",
            )
            ax.legend(fontsize=8)
    setup = result["setup"]
    fig.suptitle(
        f"Fig. 2: l×M×K = {setup['filter_length']}×{setup['in_channels']}×"
        f"{setup['out_channels']}, D = {setup['input_size']}, k = {setup['k']}, "
        f"{result['completed_samples']} samples",
        fontsize=10,
    )
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
