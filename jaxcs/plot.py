"""Matplotlib figures from result dicts and sweep tables (the ``plot`` extra).

No computation happens here beyond averaging repeated cells: fits and curves come from
:mod:`jaxcs.analysis`. Sweep tables are read with :func:`read_table` (standard ``csv`` only).
"""

from __future__ import annotations

from pathlib import Path

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
VIEW_TAIL = 1e-3  # a histogram panel shows its 0.1 %–99.9 % quantiles ...
VIEW_MARGIN = 0.15  # ... widened by 15 % of that width on each side (see _histogram_view)


def _snap(value: float, edge_sets, down: bool) -> float:
    """``value`` moved outwards to the nearest bin edge (of any histogram in ``edge_sets``)
    beyond it: with shared bins, no bin straddles it; with others, a straddling bin is drawn
    in part (a visible step), never hidden."""
    import numpy as np

    moved = []
    for edges in edge_sets:
        if edges[0] < value < edges[-1]:
            i = np.searchsorted(edges, value, side="right" if down else "left")
            moved.append(float(edges[i - 1] if down else edges[i]))
    if not moved:
        return value
    return max(moved) if down else min(moved)


def _histogram_view(series, *, include=(), near=(), tail=VIEW_TAIL, margin=VIEW_MARGIN):
    """The x range of a histogram panel, fitted to the data it draws.

    ``series`` is a list of ``(edges, counts)`` (each its own bins). The range runs from the
    smallest ``tail`` quantile to the largest ``1 − tail`` quantile of the series (at bin
    resolution), extended to the points of ``include`` and to those of ``near`` lying within one
    such width of it, widened by ``margin`` of its width on each side (at least one bin), moved
    out to bin edges and clipped to the bins. Returns ``(lo, hi, hidden)``: ``hidden`` holds
    per series the codes in bins left of ``lo`` and right of ``hi``, ``(below, above)``.
    """
    import numpy as np

    edge_sets = [np.asarray(e, dtype=np.float64) for e, _ in series]
    count_sets = [np.asarray(c, dtype=np.float64) for _, c in series]
    lows, highs = [], []
    for edges, counts in zip(edge_sets, count_sets, strict=True):
        total = counts.sum()
        if total <= 0:
            continue
        cdf = np.cumsum(counts) / total
        lows.append(edges[np.searchsorted(cdf, tail, side="right")])
        highs.append(edges[min(np.searchsorted(cdf, 1 - tail, side="left"), counts.size - 1) + 1])
    if not lows:  # nothing to show: the whole range
        lows, highs = [min(e[0] for e in edge_sets)], [max(e[-1] for e in edge_sets)]
    lo, hi = min(lows), max(highs)
    lo, hi = min([lo, *include]), max([hi, *include])
    width = hi - lo
    for point in near:
        if lo - width <= point <= hi + width:
            lo, hi = min(lo, point), max(hi, point)
    pad = max(margin * (hi - lo), max(float(e[1] - e[0]) for e in edge_sets))
    first, last = min(e[0] for e in edge_sets), max(e[-1] for e in edge_sets)
    lo = max(_snap(lo - pad, edge_sets, down=True), first)
    hi = min(_snap(hi + pad, edge_sets, down=False), last)
    hidden = [
        (int(counts[edges[1:] <= lo].sum()), int(counts[edges[:-1] >= hi].sum()))
        for edges, counts in zip(edge_sets, count_sets, strict=True)
    ]
    return float(lo), float(hi), hidden


def _hidden_note(lo, hi, below: int, above: int, total: int, stats=None, what: str = "") -> str:
    """``"not shown: 9 > 1.83 (max 12.5) of 20000 (0.045 %)"`` (codes), or ``""`` when none
    is (``stats``: the quantity's summary, for its extremes)."""
    parts = []
    if below:
        low = "" if stats is None else f" (min {stats['min']:.3g})"
        parts.append(f"{below} < {lo:.3g}{low}")
    if above:
        high = "" if stats is None else f" (max {stats['max']:.3g})"
        parts.append(f"{above} > {hi:.3g}{high}")
    if not parts:
        return ""
    share = 100 * (below + above) / max(total, 1)
    return f"not shown{what}: {', '.join(parts)} of {total} ({share:.2g} %)"


def _bin_width(edges) -> str:
    import numpy as np

    widths = np.diff(np.asarray(edges, dtype=np.float64))
    return f"{widths.mean():.3g}"


def _legend_on_top(ax, top: float) -> None:
    """Put ``ax``'s legend at its upper left, with the y axis raised above the data's ``top``
    far enough that the legend's entries (about 7 % of the height each) clear it."""
    entries = len(ax.get_legend_handles_labels()[1])
    ax.set_ylim(0, max(top, 1e-3) / max(0.92 - 0.07 * entries, 0.4))
    ax.legend(fontsize=8, loc="upper left")


def _fmt(value) -> str:
    """A δ value to 3 decimals; ``none`` for a missing or infinite one."""
    import math

    if value is None or not math.isfinite(value):
        return "none"
    return f"{value:.3f}"


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
        f"Fig. 2: l×M×K = {setup['filter_length']}×{setup['in_channels']}×"
        f"{setup['out_channels']}, D = {setup['input_size']}, k = {setup['k']}, "
        f"{result['completed_samples']} sampled codes z ∈ ℳ_k (Uniform[−1, 1] non-zeros)\n"
        + _fig2_delta_text(result)
    )
    fig.suptitle(title, fontsize=10)
    return fig


def plot_fig2(result: dict, path: str | Path) -> Path:
    """Write the three histograms of Fig. 2 from :func:`jaxcs.experiments.fig2.run_fig2`'s
    result to ``path`` (PNG): each panel's x range fitted to its data (codes outside it are
    counted on the panel), its mean in the legend, the δ_k bracket under the title. Raises
    ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")

    fig = _fig2_figure(result)
    return _save_figure(fig, fig.get_suptitle(), path)


def _save_figure(fig, title: str, path: str | Path) -> Path:
    """Title ``fig``, write it to ``path`` (PNG at 120 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
        f"Fig. 3 layer: {setup['filter_size']}×{setup['filter_size']}, M = {setup['in_channels']}"
        f", K = {setup['out_channels']}, {setup['map_size']}×{setup['map_size']} maps, "
        f"{setup['pool_size']}×{setup['pool_size']} pooling, k = {setup['k']} "
        f"({100 * setup['nonzero_fraction']:.1f} % non-zeros), {setup['filters']} filters"
    )
    fig.suptitle(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------- sweep figures
# Sweep tables are column tables: a mapping of column name to a 1-D array (a dict of NumPy
# arrays as :func:`read_table` returns, or a pandas DataFrame). Each figure is written as PNG
# (at SWEEP_DPI) and PDF next to each other; every function returns both paths.
SWEEP_DPI = 120
PANEL_SIZE = (4.5, 3.75)  # inches per small multiple
CURVE_SIZE = (6.4, 4.2)  # inches for a single-panel figure
# Columns of results.csv that are outputs of a cell, not parameters of the grid (by prefix).
RESULT_PREFIXES = (
    "cell", "solver", "success", "problems", "error", "num_steps", "ratio", "delta_lower_bound",
    "status", "time", "wall",
)  # fmt: skip


def read_table(path: str | Path) -> dict:
    """Read a CSV file with a header row into a column table ``{name: (rows,) array}``.

    A column whose every entry parses as an integer becomes ``int64``; else one whose entries
    parse as floats (empty entries read as NaN) becomes ``float64``; else it stays ``str``.
    Uses only the standard :mod:`csv` module.
    """
    import csv

    import numpy as np

    with open(path, newline="") as file:
        reader = csv.reader(file)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty (no header row)") from None
        rows = [row for row in reader if row]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}:{number} has {len(row)} fields, the header {len(header)}")
    table = {}
    for index, name in enumerate(header):
        values = [row[index] for row in rows]
        try:
            table[name] = np.array([int(v) for v in values], dtype=np.int64)
            continue
        except ValueError:
            pass
        try:
            table[name] = np.array(
                [float(v) if v.strip() else np.nan for v in values], dtype=np.float64
            )
        except ValueError:
            table[name] = np.array(values, dtype=str)
    return table


def _require(table, names, what: str = "table") -> None:
    """ValueError naming the first column of ``names`` that ``table`` lacks."""
    for name in names:
        if name not in table:
            raise ValueError(f"{what} has no column {name!r} (needs {', '.join(names)})")


def _columns(table, names) -> dict:
    import numpy as np

    return {name: np.asarray(table[name]) for name in names}


def _save(fig, path: str | Path) -> list[Path]:
    """Write ``fig`` to ``path`` as ``.png`` and ``.pdf`` (any suffix of ``path`` replaced)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    for target in written:
        fig.savefig(target, dpi=SWEEP_DPI)
    plt.close(fig)
    return written


def _edges(values):
    """Cell edges around sorted distinct ``values``: midpoints, half a step beyond the ends."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        half = 0.05 * max(abs(values[0]), 1e-3)
        return np.array([values[0] - half, values[0] + half])
    middle = (values[1:] + values[:-1]) / 2
    return np.concatenate(
        [[values[0] - (middle[0] - values[0])], middle, [values[-1] + (values[-1] - middle[-1])]]
    )


def _grid(count: int, max_columns: int):
    """A figure of ``count`` small multiples; returns ``(fig, used axes)``."""
    import matplotlib.pyplot as plt

    columns = min(count, max_columns)
    rows = -(-count // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows),
        constrained_layout=True,
        squeeze=False,
    )
    axes = list(axes.ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _sizes(values) -> str:
    """``"n = 256"`` or ``"n = 128–512"`` for the distinct values of a column."""
    import numpy as np

    distinct = np.unique(values)
    if distinct.size == 1:
        return f"n = {distinct[0]}"
    return f"n = {distinct[0]}–{distinct[-1]}"


def plot_phase_transition(
    table, path: str | Path, *, fits=None, l1_curve: bool = True, nonnegative: bool = False
) -> list[Path]:
    """Phase diagrams of a classical sweep: success rate over ``(δ, ρ) = (m/n, k/m)``, per solver.

    Each panel is one solver: a heat map of ``success_rate`` (cells on the sorted distinct
    ``δ``; within each ``δ`` column, on that column's own sorted ``ρ``, so grids where
    ``ρ = k/m`` differs from column to column need no resampling; rows repeating a
    ``(solver, δ, ρ)`` are averaged), the fitted 50 % curve (logistic fit over ``ρ`` at each
    ``δ``; open markers where the fit is ``"separated"`` and the point is the gap's midpoint),
    and the computed l1 weak threshold :func:`jaxcs.analysis.l1_weak_threshold` for reference.

    Args:
        table: column table with ``solver``, ``delta``, ``rho``, ``success_rate`` (and
            ``successes``, ``problems`` when ``fits`` is None; ``n`` for the title if present).
        path: output path; ``.png`` and ``.pdf`` are written (any suffix replaced).
        fits: rows of :func:`jaxcs.analysis.fit_transitions` (``by="delta"``, ``x="rho"``,
            grouped by solver); computed from ``table`` if None.
        l1_curve: draw the l1 weak threshold.
        nonnegative: draw the simplex (non-negative) threshold instead of the cross-polytope.

    Returns:
        The written ``[png, pdf]`` paths.

    Raises:
        ValueError: if ``table`` lacks a needed column (named in the message).
    """
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import patheffects
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from jaxcs.analysis import fit_transitions, l1_weak_threshold

    needed = ["solver", "delta", "rho", "success_rate"]
    _require(table, needed)
    if fits is None:
        _require(table, needed + ["successes", "problems"])
        fits = fit_transitions(table, by="delta", x="rho", group=("solver",))
    cols = _columns(table, needed)
    solvers = list(dict.fromkeys(cols["solver"].tolist()))  # in the table's (the grid's) order
    norm, cmap = Normalize(0.0, 1.0), matplotlib.colormaps["viridis"]
    outline = [patheffects.Stroke(linewidth=3, foreground="k"), patheffects.Normal()]

    fig, axes = _grid(len(solvers), max_columns=3)
    for ax, solver in zip(axes, solvers, strict=True):
        mine = cols["solver"] == solver
        delta, rho = cols["delta"][mine].astype(float), cols["rho"][mine].astype(float)
        rate = cols["success_rate"][mine].astype(float)
        deltas = np.unique(delta)
        delta_edges = _edges(deltas)
        rho_low, rho_high = np.inf, -np.inf
        for i, d in enumerate(deltas):
            column = delta == d
            rhos, where = np.unique(rho[column], return_inverse=True)
            mean = np.bincount(where, rate[column]) / np.bincount(where)
            rho_edges = _edges(rhos)
            rho_low, rho_high = min(rho_low, rho_edges[0]), max(rho_high, rho_edges[-1])
            ax.pcolormesh(delta_edges[i : i + 2], rho_edges, mean[:, None], cmap=cmap, norm=norm)
        curve = sorted(
            (row["delta"], row["center"], row["status"])
            for row in fits
            if row.get("solver", solver) == solver and row["status"] in ("fitted", "separated")
        )
        if curve:
            d50, r50, status = (np.array(v) for v in zip(*curve, strict=True))
            fitted = status == "fitted"
            ax.plot(d50, r50, "-", color="C3", lw=1.5, path_effects=outline)
            ax.plot(d50[fitted], r50[fitted], "o", color="C3", mec="w", ms=5, label="fitted 50 %")
            if np.any(~fitted):
                ax.plot(
                    d50[~fitted],
                    r50[~fitted],
                    "o",
                    mfc="w",
                    mec="C3",
                    ms=5,
                    label="50 %, separated (gap midpoint)",
                )
        if l1_curve:
            grid = np.linspace(max(delta_edges[0], 1e-3), min(delta_edges[-1], 1.0), 200)
            rho_w = l1_weak_threshold(grid, nonnegative=nonnegative)
            kind = "simplex" if nonnegative else "cross-polytope"
            ax.plot(
                grid,
                rho_w,
                "--",
                color="w",
                lw=1.5,
                path_effects=outline,
                label=f"ℓ1 weak threshold ({kind})",
            )
        ax.set_facecolor("0.85")  # no cell there
        ax.set_xlim(delta_edges[0], delta_edges[-1])
        ax.set_ylim(max(rho_low, 0.0), min(rho_high, 1.0))  # ρ = k/m lies in [0, 1]
        ax.set_xlabel("δ = m/n")
        ax.set_ylabel("ρ = k/m")
        title = str(solver)
        if "n" in table:
            title += f", {_sizes(np.asarray(table['n'])[mine])}"
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            legend = ax.legend(fontsize=7, loc="upper left", framealpha=0.85)
            legend.get_frame().set_facecolor("0.9")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="success rate")
    return _save(fig, path)


def _label(name: str) -> str:
    return {"success_rate": "success rate", "k": "k (nonzeros)"}.get(name, name.replace("_", " "))


def plot_success_curves(
    table, path: str | Path, *, x: str = "k", hue=None, quantity: str = "success_rate"
) -> list[Path]:
    """A swept quantity against one grid parameter: one line per solver (and ``hue`` value).

    ``quantity`` is ``success_rate`` (linear axis on [0, 1]) or any other column; a column whose
    name contains ``error`` is drawn on a log axis (non-positive values left out), and
    ``error_median`` gets the ``error_q05``–``error_q95`` band when those columns exist. Rows
    sharing a solver, ``hue`` values and ``x`` are averaged. A non-numeric ``x`` (e.g.
    ``filter_shape``) is placed at evenly spaced positions in sorted order.

    Args:
        table: column table with ``solver``, ``x``, ``quantity`` and the ``hue`` columns.
        path: output path; ``.png`` and ``.pdf`` are written (any suffix replaced).
        x: the column on the horizontal axis.
        hue: a column (or several) whose values split each solver's line; None for none.
        quantity: the column on the vertical axis.

    Returns:
        The written ``[png, pdf]`` paths.

    Raises:
        ValueError: if ``table`` lacks a needed column (named in the message).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    hues = [] if hue is None else [hue] if isinstance(hue, str) else list(hue)
    _require(table, ["solver", x, quantity, *hues])
    cols = _columns(table, ["solver", x, quantity, *hues])
    band = quantity == "error_median" and "error_q05" in table and "error_q95" in table
    if band:
        cols |= _columns(table, ["error_q05", "error_q95"])
    log = "error" in quantity
    numeric = cols[x].dtype.kind in "iuf"
    positions: dict = {}  # a categorical axis: each value's position
    if not numeric:
        positions = {v: i for i, v in enumerate(sorted(np.unique(cols[x])))}

    fig, ax = plt.subplots(figsize=CURVE_SIZE, constrained_layout=True)
    keys = sorted({(s, *(cols[h][i].item() for h in hues)) for i, s in enumerate(cols["solver"])})
    # With a hue, colour tells the hue and line style the solver: equal curves stay visible.
    solvers = sorted({key[0] for key in keys})
    shades = sorted({key[1:] for key in keys})
    for key in keys:
        which = solvers.index(key[0])
        color = f"C{(shades.index(key[1:]) if hues else which) % 10}"
        style = ("-", "--", ":", "-.")[which % 4] if hues else "-"
        marker = "osD^v"[which % 5]
        mine = cols["solver"] == key[0]
        for h, value in zip(hues, key[1:], strict=True):
            mine &= cols[h] == value
        xs, where = np.unique(cols[x][mine], return_inverse=True)
        counts = np.bincount(where)

        def mean(name, mine=mine, where=where, counts=counts):
            return np.bincount(where, cols[name][mine].astype(float)) / counts

        y = mean(quantity)
        at = xs.astype(float) if numeric else np.array([positions[v] for v in xs], float)
        if log:
            y = np.where(y > 0, y, np.nan)
        label = ", ".join([str(key[0])] + [f"{h}={v}" for h, v in zip(hues, key[1:], strict=True)])
        ax.plot(at, y, color=color, ls=style, marker=marker, ms=4, label=label)
        if band:
            low, high = mean("error_q05"), mean("error_q95")
            if log:
                low = np.where(low > 0, low, np.nan)
            ax.fill_between(at, low, high, color=color, alpha=0.15, lw=0)
    if log:
        ax.set_yscale("log")
    if quantity == "success_rate":
        ax.set_ylim(-0.03, 1.03)
    if not numeric:
        ax.set_xticks(list(positions.values()), [str(v) for v in positions])
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(quantity) + (" (5–95 % band)" if band else ""))
    ax.set_title(f"{_label(quantity)} vs {x}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_rip_ratios(problems, path: str | Path, *, by: str | None = None) -> list[Path]:
    """Histograms of the per-problem ratios ``‖Wᵀz‖ / ‖z‖`` of a sweep, one panel per ``by`` value.

    Each panel marks ratio 1 and the extremes of the ratios, and its legend gives the
    restricted-isometry constant they imply, ``δ ≥ max |ratio² − 1|`` (a lower bound: only the
    sampled codes were seen). Non-finite ratios are left out and counted in the legend.

    Args:
        problems: per-problem column table with ``ratio`` (and ``by``), e.g. ``problems.csv``.
        path: output path; ``.png`` and ``.pdf`` are written (any suffix replaced).
        by: a column whose values get a panel each (all bins shared), or None for one panel.

    Returns:
        The written ``[png, pdf]`` paths.

    Raises:
        ValueError: if ``problems`` lacks a needed column, or holds no finite ratio.
    """
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    _require(problems, ["ratio"] + ([by] if by else []), what="problems")
    ratio = np.asarray(problems["ratio"], dtype=np.float64)
    finite = np.isfinite(ratio)
    if not finite.any():
        raise ValueError("problems has no finite value in column 'ratio'")
    groups = [(None, np.ones(ratio.shape, bool))]
    if by:
        column = np.asarray(problems[by])
        groups = [(value, column == value) for value in np.unique(column)]
    edges = np.histogram_bin_edges(ratio[finite], bins=min(60, max(10, finite.sum() // 20)))

    fig, axes = _grid(len(groups), max_columns=4)
    for ax, (value, mine) in zip(axes, groups, strict=True):
        sample = ratio[mine & finite]
        counts, _ = np.histogram(sample, edges)
        ax.stairs(counts / max(counts.sum(), 1), edges, fill=True, alpha=0.8, color="C0")
        ax.axvline(1.0, color="k", lw=1, ls="--", label="ratio = 1")
        if sample.size:
            implied = float(np.max(np.abs(sample**2 - 1)))
            ax.axvline(sample.min(), color="C3", lw=1, ls=":")
            ax.axvline(
                sample.max(),
                color="C3",
                lw=1,
                ls=":",
                label=f"extremes: δ ≥ max|ratio² − 1| = {implied:.3f}",
            )
        dropped = int(np.sum(mine & ~finite))
        count = f"{sample.size} problems" + (f", {dropped} non-finite" if dropped else "")
        ax.set_title(f"{by} = {value} ({count})" if by else f"all {count}", fontsize=10)
        ax.set_xlabel("‖Wᵀz‖ / ‖z‖")
        ax.set_ylabel("fraction of problems")
        ax.set_ylim(0, 1.3 * max(counts.max() / max(counts.sum(), 1), 1e-3))  # legend room
        ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def _swept_columns(directory: Path, table) -> list[str]:
    """The grid's swept columns: from ``sweep.json`` when the sweep wrote one, else every
    column whose name does not start with one of :data:`RESULT_PREFIXES`."""
    import json

    header = directory / "sweep.json"
    if header.is_file():
        axes = json.loads(header.read_text()).get("axes")
        if axes is not None:
            return list(axes)
    return [name for name in table if not name.startswith(RESULT_PREFIXES)]


def plot_sweep(directory: str | Path) -> list[Path]:
    """Draw the figures that apply to a sweep directory; returns the written paths.

    Reads ``directory/results.csv`` (and ``problems.csv`` if present) with :func:`read_table`
    and writes into ``directory``: ``phase_transition`` if the table has ``delta`` and ``rho``
    (a classical grid), else ``success_vs_k`` (and ``error_vs_k`` when ``error_median`` is
    there), one line per solver and per combination of the other swept grid columns (the
    ``axes`` of ``sweep.json``; without it, the varying columns whose names do not start with
    one of :data:`RESULT_PREFIXES`); and
    ``rip_ratios`` if ``problems.csv`` has finite ``ratio`` values (one panel per ``k`` when
    ``k`` takes 2 to 12 values). Each figure is a PNG and a PDF.

    Raises:
        ValueError: if ``directory/results.csv`` does not exist, or a needed column is missing.
    """
    import numpy as np

    directory = Path(directory)
    results = directory / "results.csv"
    if not results.is_file():
        raise ValueError(f"no results.csv in {directory}: plot_sweep needs the sweep's table")
    table = read_table(results)
    written = []
    if "delta" in table and "rho" in table:
        written += plot_phase_transition(table, directory / "phase_transition")
    else:
        _require(table, ["k"], what=str(results))
        varying = [
            name
            for name in _swept_columns(directory, table)
            if name in table and name != "k" and np.unique(table[name]).size > 1
        ]
        hue = varying or None
        written += plot_success_curves(table, directory / "success_vs_k", x="k", hue=hue)
        if "error_median" in table:
            written += plot_success_curves(
                table, directory / "error_vs_k", x="k", hue=hue, quantity="error_median"
            )
    problems_path = directory / "problems.csv"
    if problems_path.is_file():
        problems = read_table(problems_path)
        if "ratio" in problems and np.isfinite(problems["ratio"].astype(float)).any():
            by = None
            if "k" in problems and 2 <= np.unique(problems["k"]).size <= 12:
                by = "k"
            written += plot_rip_ratios(problems, directory / "rip_ratios", by=by)
    return written


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
