"""What every figure shares: histogram panels fitted to their data (ranges snapped to bin
edges, a note of the codes left out), legends clear of the data, δ written to 3 decimals, axis
labels of sweep columns, small-multiple grids, and writing a figure (PNG; PNG and PDF).
"""

from __future__ import annotations

from pathlib import Path

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


def _save_figure(fig, title: str, path: str | Path) -> Path:
    """Title ``fig``, write it to ``path`` (PNG at 120 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# Sweep figures: each is written as PNG (at SWEEP_DPI) and PDF next to each other.
SWEEP_DPI = 120
PANEL_SIZE = (4.5, 3.75)  # inches per small multiple
CURVE_SIZE = (6.4, 4.2)  # inches for a single-panel figure


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


def _label(name: str) -> str:
    return {"success_rate": "success rate", "k": "k (nonzeros)"}.get(name, name.replace("_", " "))
