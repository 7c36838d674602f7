"""Sweep figures: phase diagrams, success and error curves, RIP-ratio histograms, and the
figures that apply to a sweep directory.

No computation happens here beyond averaging repeated cells: fits and curves come from
:mod:`jaxcs.analysis`. Sweep tables are column tables: a mapping of column name to a 1-D array
(a dict of NumPy arrays as :func:`jaxcs.sweeps.read_table` returns, or a pandas DataFrame).
Each figure is written as PNG and PDF next to each other; every function returns both paths.
"""

from __future__ import annotations

from pathlib import Path

from jaxcs.plot.style import CURVE_SIZE, _grid, _label, _save

# Columns of results.csv that are outputs of a cell, not parameters of the grid (by prefix).
RESULT_PREFIXES = (
    "cell", "solver", "success", "problems", "error", "num_steps", "ratio", "delta_lower_bound",
    "status", "time", "wall",
)  # fmt: skip


def _require(table, names, what: str = "table") -> None:
    """ValueError naming the first column of ``names`` that ``table`` lacks."""
    for name in names:
        if name not in table:
            raise ValueError(f"{what} has no column {name!r} (needs {', '.join(names)})")


def _columns(table, names) -> dict:
    import numpy as np

    return {name: np.asarray(table[name]) for name in names}


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

    Reads ``directory/results.csv`` (and ``problems.csv`` if present) with
    :func:`jaxcs.sweeps.read_table` and writes into ``directory``: ``phase_transition`` if the
    table has ``delta`` and ``rho`` (a classical grid), else ``success_vs_k`` (and
    ``error_vs_k`` when ``error_median`` is there), one line per solver and per combination of
    the other swept grid columns (the ``axes`` of ``sweep.json``; without it, the varying
    columns whose names do not start with one of :data:`RESULT_PREFIXES`); and
    ``rip_ratios`` if ``problems.csv`` has finite ``ratio`` values (one panel per ``k`` when
    ``k`` takes 2 to 12 values). Each figure is a PNG and a PDF.

    Raises:
        ValueError: if ``directory/results.csv`` does not exist, or a needed column is missing.
    """
    import numpy as np

    from jaxcs.sweeps import read_table

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
