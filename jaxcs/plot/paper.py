"""The paper's figures: Fig. 2's histograms, Fig. 3's layer, and ``jaxcs reproduce``'s Fig. 3 and
Table 1 analogues, drawn from the result dicts of :mod:`jaxcs.experiments` (no computation).
"""

from __future__ import annotations

from pathlib import Path

from jaxcs.plot.style import (
    _bin_width,
    _fmt,
    _hidden_note,
    _histogram_view,
    _legend_on_top,
    _save_figure,
)

# Fig. 2's panels: (result key, title, x-axis quantity), as jaxcs.experiments.fig2 names them.
FIG2_PANELS = (
    ("ratio_wt", "(a) Wᵀ on k-block codes z", "‖Wᵀz‖₂ / ‖z‖₂"),
    ("ratio_wwt", "(b) WWᵀ restricted to S = supp z", "‖(WWᵀz)_S‖₂ / ‖z‖₂"),
    (
        "recon_error",
        "(c) one IHT step: x̂ = Wᵀ𝕄(Wx, k), x = Wᵀz",
        "relative error ‖x − x̂‖₂ / ‖x‖₂",
    ),
)


def _fig2_delta_text(result: dict) -> str:
    """The δ_k estimates of a Fig. 2 result, as written under its title (two lines)."""
    bracket = result.get("delta_bracket")
    random_z = result.get("delta_lower_bound_random_z")
    from_ratios = "" if random_z is None else f"; the ratios of (a) alone give δ_k ≥ {random_z:.3f}"
    if not bracket:
        return (
            f"model-RIP constant δ_k ≥ {result['delta_lower_bound']:.3f}\n(extreme eigenvalues "
            f"of the sampled supports' Gram matrices){from_ratios}"
        )
    upper = _fmt(bracket.get("upper"))
    upper_how = ""
    if upper != "none":
        method = bracket.get("upper_method")
        upper_how = f"; upper end: {method or 'certified'} bound"
        if bracket.get("upper_vacuous"):
            upper_how += " (vacuous: ≥ 1)"
    return (
        f"model-RIP constant δ_k ∈ [{bracket['lower']:.3f}, {upper}]{upper_how}\n"
        f"lower end = max(sampled supports' Gram eigenvalues {bracket['sampled']:.3f}, "
        f"adversarial support search {bracket['search']:.3f}){from_ratios}"
    )


def _fig2_figure(result: dict):
    """The Figure of :func:`plot_fig2` (titled, not written)."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0), constrained_layout=True)
    for ax, (name, title, quantity) in zip(axes, FIG2_PANELS, strict=True):
        hist = result["histograms"][name]
        stats = result["quantities"][name]
        drawn = [(name, hist, "C0", f"{stats['count']} codes")]
        if name == "ratio_wwt" and "ratio_wwt_full" in result["histograms"]:
            full = result["quantities"].get("ratio_wwt_full")
            drawn.append(
                (
                    "ratio_wwt_full",
                    result["histograms"]["ratio_wwt_full"],
                    "C3",
                    "full ‖WWᵀz‖₂/‖z‖₂",
                )
            )
        series = [(np.asarray(h["edges"]), np.asarray(h["counts"])) for _, h, _, _ in drawn]
        means = [result["quantities"][n]["mean"] for n, *_ in drawn if n in result["quantities"]]
        lo, hi, hidden = _histogram_view(series, include=means)
        top = 0.0
        notes = []
        for (key, h, color, label), (edges, counts) in zip(drawn, series, strict=True):
            total = int(counts.sum() + h.get("below", 0) + h.get("above", 0))
            fraction = counts / max(total, 1)
            top = max(top, fraction.max(initial=0.0))
            if key == name:
                ax.stairs(fraction, edges, fill=True, alpha=0.8, color=color, label=label)
                ax.axvline(
                    stats["mean"],
                    color="k",
                    lw=1,
                    ls="--",
                    label=f"mean {stats['mean']:.3f} (std {stats['std']:.3f})",
                )
            else:
                ax.stairs(fraction, edges, color=color, lw=1.2, label=label)
                if full is not None:
                    ax.axvline(
                        full["mean"],
                        color=color,
                        lw=1,
                        ls="--",
                        label=f"full: mean {full['mean']:.3f}",
                    )
            below, above = hidden.pop(0)
            note = _hidden_note(
                lo,
                hi,
                below + h.get("below", 0),
                above + h.get("above", 0),
                total,
                result["quantities"].get(key),
                "" if key == name else " (full)",
            )
            if note:
                notes.append(note)
        ax.set_xlim(lo, hi)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(quantity)
        ax.set_ylabel(f"fraction of codes per bin (width {_bin_width(series[0][0])})")
        for note in notes:  # a legend entry of its own: never drawn over the data
            ax.plot([], [], " ", label=note)
        _legend_on_top(ax, top)
    setup = result["setup"]
    title = (
        f"Fig. 2: l×M×K = {_times(setup['filter_shape'])}×{setup['in_channels']}×"
        f"{setup['out_channels']}, D = {_times(setup['in_spatial'])}, k = {setup['k']}, "
        f"{result['completed_samples']} sampled codes z ∈ ℳ_k (Uniform[−1, 1] non-zeros)\n"
        + _fig2_delta_text(result)
    )
    fig.suptitle(title, fontsize=10)
    return fig


def _times(shape) -> str:
    return "×".join(str(n) for n in shape)


def plot_fig2(result: dict, path: str | Path) -> Path:
    """Write the three histograms of Fig. 2 from :func:`jaxcs.experiments.fig2.run_fig2`'s
    result to ``path`` (PNG): each panel's x range fitted to its data (codes outside it are
    counted on the panel), its mean in the legend, the δ_k bracket under the title. Raises
    ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")

    fig = _fig2_figure(result)
    return _save_figure(fig, fig.get_suptitle(), path)


def plot_fig3(result: dict, path: str | Path) -> Path:
    """Write Fig. 3 from :func:`jaxcs.experiments.fig3.run_fig3`'s result to ``path`` (PNG):
    the histogram of ``‖Wᵀz‖/‖z‖``, each Lanczos support's extreme eigenvalues (with their
    residuals) and the δ bracket. Raises ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")

    fig = _fig3_figure(result)
    return _save_figure(fig, fig.get_suptitle(), path)


def _fig3_figure(result: dict):
    """The Figure of :func:`plot_fig3` (titled, not written)."""
    import matplotlib
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    setup, ratio = result["setup"], result["ratio_wt"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.0), constrained_layout=True)
    ax = axes[0]
    edges, counts = (
        np.asarray(ratio["histogram"]["edges"]),
        np.asarray(ratio["histogram"]["counts"]),
    )
    lo, hi, [(below, above)] = _histogram_view(
        [(edges, counts)], include=[ratio["mean"]], near=[1.0]
    )
    total = int(counts.sum())
    fraction = counts / max(total, 1)
    ax.stairs(fraction, edges, fill=True, alpha=0.8, label=f"{ratio['count']} codes")
    ax.axvline(
        ratio["mean"], color="k", lw=1, ls="--",
        label=f"mean {ratio['mean']:.3f} (std {ratio['std']:.3f})",
    )  # fmt: skip
    notes = [_hidden_note(lo, hi, below, above, total, ratio)]
    if lo <= 1.0 <= hi:
        ax.axvline(1.0, color="C3", lw=1, label="ratio 1 (isometry)")
    else:
        notes.append(f"ratio 1 (isometry): {'right' if hi < 1 else 'left'} of the plot")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("‖Wᵀz‖₂ / ‖z‖₂")
    ax.set_ylabel(f"fraction of codes per bin (width {_bin_width(edges)})")
    ax.set_title(f"(a) norm ratio of Wᵀ, {ratio['count']} sampled codes z", fontsize=10)
    for note in notes:
        if note:
            ax.plot([], [], " ", label=note)
    _legend_on_top(ax, fraction.max(initial=0.0))
    ax = axes[1]
    supports = result.get("supports", [])
    if supports:
        index = np.arange(len(supports))
        for name, color in (("min", "C0"), ("max", "C1")):
            values = np.array([s[f"eig_{name}"] for s in supports])
            errors = np.array([s[f"residual_{name}"] for s in supports])
            ax.errorbar(
                index, values, yerr=errors, fmt="o", ms=3, color=color, label=f"θ_{name} (Ritz)"
            )
        ax.axhline(1.0, color="k", lw=0.8, label="1 (isometry)")
        ax.legend(fontsize=8, loc="center right", bbox_to_anchor=(1.0, 0.7))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("sampled support (index)")
    ax.set_ylabel("Ritz value of G_S (± residual: some eigenvalue within)")
    ax.set_title(f"(b) extreme Ritz values, {setup['lanczos_steps']} Lanczos steps", fontsize=10)
    ax = axes[2]
    bracket = result.get("delta_bracket")
    if bracket:
        upper = bracket["upper"]
        certified = upper is not None and np.isfinite(upper)
        right = upper if certified else 1.5 * bracket["lower"]  # no upper end: open to the right
        ax.barh(
            [0],
            [right - bracket["lower"]],
            left=[bracket["lower"]],
            height=0.5,
            color="C2",
            alpha=0.4,
            hatch=None if certified else "//",
            label="δ_k can lie here",
        )
        ax.axvline(1.0, color="k", lw=0.8, label="δ_k = 1")
        marks = (("lanczos", "Lanczos", "C0"), ("random_codes", "random codes", "C1"))
        shown = [bracket["lower"], right, 1.0]
        for name, label, color in marks:
            if bracket.get(name) is not None and np.isfinite(bracket[name]):
                shown.append(bracket[name])
                ax.plot(
                    [bracket[name]], [0], "o", color=color, label=f"{label} {bracket[name]:.3f}"
                )
        if certified:
            ax.plot([upper], [0], "D", ms=6, color="C2", label=f"upper bound {upper:.3f}")
        positive = min(shown) > 0
        if positive and max(shown) > 20 * min(shown):  # a vacuous upper end: keep the rest legible
            ax.set_xscale("log")
            ax.set_xlim(min(shown) / 1.6, 1.6 * max(shown))
        else:
            ax.set_xlim(0, 1.05 * max(shown))
        upper_text = "none" if not certified else f"{upper:.3f}"
        if bracket["upper_vacuous"]:
            upper_text += " (vacuous)"
        ax.set_title(f"(c) δ_k ∈ [{bracket['lower']:.3f}, {upper_text}]", fontsize=10)
        ax.legend(fontsize=8, loc="upper center", ncols=2)
    ax.set_ylim(-0.6, 1.4)
    ax.set_yticks([])
    ax.set_xlabel("δ_k (model-RIP constant)" + (", log scale" if ax.get_xscale() == "log" else ""))
    title = (
        f"Fig. 3 layer: {_times(setup['filter_shape'])}, M = {setup['in_channels']}"
        f", K = {setup['out_channels']}, {_times(setup['in_spatial'])} maps, "
        f"{setup['pool_size']}×{setup['pool_size']} pooling, k = {setup['k']} "
        f"({100 * setup['nonzero_fraction']:.1f} % non-zeros), {setup['filters']} filters"
    )
    fig.suptitle(title, fontsize=10)
    return fig


def plot_reproduce_fig3(rows: list[dict], path: str | Path) -> Path:
    """The Fig. 3 analogue of ``jaxcs reproduce``: one panel per layer, the ``‖Wᵀz‖/‖z‖``
    histograms of learned and random filters for sampled codes and Algorithm 2's codes (as
    densities: the two filter sets have their own bins), each panel's x range fitted to its
    data, the means in the legend and each layer's δ bracket in its title. Raises
    ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")

    fig = _reproduce_fig3_figure(rows)
    return _save_figure(fig, fig.get_suptitle(), path)


def _reproduce_fig3_figure(rows: list[dict]):
    """The Figure of :func:`plot_reproduce_fig3` (titled, not written)."""
    import matplotlib.pyplot as plt
    import numpy as np

    layers = list(dict.fromkeys(r["layer"] for r in rows))
    fig, axes = plt.subplots(
        2, len(layers), figsize=(4.6 * len(layers), 6.8), constrained_layout=True, squeeze=False
    )
    styles = {"learned": "C0", "random": "C1"}
    for j, layer in enumerate(layers):
        mine = [r for r in rows if r["layer"] == layer]
        for i, (series, label) in enumerate(
            (("sampled", "(a) sampled codes"), ("alg2_relu", "(b) Algorithm 2, after ReLU"))
        ):
            ax = axes[i, j]
            key = "ratio_sampled" if series == "sampled" else "ratio_alg2_relu"
            drawn = [
                (np.asarray(r["histogram"]["edges"]), np.asarray(r["histogram"][series], float))
                for r in mine
            ]
            lo, hi, hidden = _histogram_view(
                drawn, include=[r[key]["mean"] for r in mine], near=[1.0]
            )
            titles, notes, top = [], [], 0.0
            for row, (edges, counts), (below, above) in zip(mine, drawn, hidden, strict=True):
                color, stats = styles.get(row["filters"]), row[key]
                density = counts / max(counts.sum(), 1) / np.diff(edges)
                top = max(top, density.max(initial=0.0))
                ax.stairs(density, edges, color=color, lw=1.5, label=f"{row['filters']} filters")
                ax.axvline(
                    stats["mean"], color=color, lw=1, ls="--",
                    label=f"{row['filters']}: mean {stats['mean']:.3f}",
                )  # fmt: skip
                note = _hidden_note(
                    lo, hi, below, above, int(counts.sum()), stats, f" ({row['filters']})"
                )
                if note:
                    notes.append(note)
                bracket = row["delta_bracket"]
                upper = "∞" if bracket["upper"] is None else f"{bracket['upper']:.2f}"
                titles.append(f"{row['filters']}: δ ∈ [{bracket['lower']:.2f}, {upper}]")
            if lo <= 1.0 <= hi:
                ax.axvline(1.0, color="k", lw=0.8, label="ratio 1 (isometry)")
            ax.set_xlim(lo, hi)
            ax.set_xlabel("‖Wᵀz‖₂ / ‖z‖₂")
            ax.set_ylabel("density (fraction of codes per unit)")
            k = mine[0]["k"]
            ax.set_title(f"{layer}, k={k}: {label}\n" + ", ".join(titles), fontsize=9)
            for note in notes:
                ax.plot([], [], " ", label=note)
            _legend_on_top(ax, top)
    fig.suptitle("Model-RIP ratios of trained vs random filters", fontsize=10)
    return fig


def plot_reproduce_table1(rows: list[dict], path: str | Path) -> Path:
    """Table 1's accuracies as bars: depth × (filter size, width), random vs learned, with the
    spread over seeds (min–max). Raises ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = sorted({(r["depth"], r["filter_size"], r["width"]) for r in rows})
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(groups) + 2), 3.8), constrained_layout=True)
    x = np.arange(len(groups))
    for offset, kind, color in ((-0.2, "random", "C1"), (0.2, "learned", "C0")):
        found = {
            (r["depth"], r["filter_size"], r["width"]): r for r in rows if r["filters"] == kind
        }
        mean = np.array([100 * found[g]["test_accuracy_mean"] for g in groups])
        low = mean - np.array([100 * found[g]["test_accuracy_min"] for g in groups])
        high = np.array([100 * found[g]["test_accuracy_max"] for g in groups]) - mean
        ax.bar(x + offset, mean, 0.4, color=color, label=f"{kind} filters")
        ax.errorbar(x + offset, mean, yerr=[low, high], fmt="none", color="k", lw=1, capsize=2)
    ax.set_xticks(x, [f"L{d}\nf{f} w{w}" for d, f, w in groups], fontsize=8)
    ax.set_ylabel("test accuracy (%), min–max over seeds")
    ax.legend(fontsize=8)
    return _save_figure(fig, "Table 1 analogue: frozen random vs learned filters", path)
