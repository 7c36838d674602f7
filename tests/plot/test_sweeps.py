"""Sweep figures: each writes a PNG of the expected size and a PDF, from synthetic tables and
from CSV files on disk; missing columns are reported by name."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib import image  # noqa: E402

from jaxcs.analysis import fit_transitions  # noqa: E402
from jaxcs.plot import (  # noqa: E402
    plot_phase_transition,
    plot_rip_ratios,
    plot_success_curves,
    plot_sweep,
)
from jaxcs.sweeps import read_table  # noqa: E402

# 120 dpi: a small multiple is 4.5 × 3.75 in = 540 × 450 px, a single panel 6.4 × 4.2 in.
PANEL_PX = (450, 540)
CURVE_PX = (504, 768)


def assert_written(paths, shape):
    """``[png, pdf]`` exist and are non-empty; the PNG is ``shape = (height, width)`` pixels."""
    png, pdf = paths
    assert png.suffix == ".png" and pdf.suffix == ".pdf"
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert image.imread(png).shape[:2] == shape


def classical_table(n=200, trials=20, seed=0):
    """(solver, δ, ρ) cells with ρ = k/m on each column's own k grid (an irregular grid)."""
    rng = np.random.default_rng(seed)
    columns = {name: [] for name in "solver delta rho m n k successes problems".split()}
    for solver, center in (("IHT", 0.25), ("NIHT", 0.35)):
        for delta in (0.2, 0.4, 0.6, 0.8):
            m = round(delta * n)
            for k in range(1, m, max(1, m // 12)):
                p = 1 / (1 + np.exp(30 * (k / m - center - delta / 4)))
                values = (solver, delta, k / m, m, n, k, rng.binomial(trials, p), trials)
                for name, value in zip(columns, values, strict=True):
                    columns[name].append(value)
    table = {name: np.array(values) for name, values in columns.items()}
    table["success_rate"] = table["successes"] / table["problems"]
    return table


def conv_table():
    columns = {name: [] for name in "solver k out_channels success_rate error_median".split()}
    for solver in ("IHT", "HTP"):
        for channels in (4, 8):
            for k in (1, 2, 4, 8, 16):
                rate = 1 / (1 + np.exp(k - channels))
                values = (solver, k, channels, rate, 10.0 ** (-8 * rate))
                for name, value in zip(columns, values, strict=True):
                    columns[name].append(value)
    table = {name: np.array(values) for name, values in columns.items()}
    table["error_q05"], table["error_q95"] = table["error_median"] / 3, table["error_median"] * 3
    return table


def problems_table(seed=0):
    rng = np.random.default_rng(seed)
    k = np.repeat([2, 4, 8], 200)
    ratio = 1 + rng.normal(0, 0.02 * k)
    ratio[5] = np.nan
    return {"k": k, "ratio": ratio, "solver": np.full(k.shape, "IHT")}


def write_csv(path, table):
    names = list(table)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(names)
        for row in zip(*(table[name] for name in names), strict=True):
            writer.writerow(["" if isinstance(v, float) and np.isnan(v) else v for v in row])


# --------------------------------------------------------------------------- figures
def test_phase_transition_with_given_fits_and_the_simplex_curve(tmp_path):
    table = classical_table()
    fits = fit_transitions(table)
    fits[0] = fits[0] | {"status": "separated"}  # drawn with an open marker
    one = {name: column[table["solver"] == "IHT"] for name, column in table.items()}
    del one["successes"]  # not needed once fits are given
    paths = plot_phase_transition(one, tmp_path / "pt.svg", fits=fits, nonnegative=True)
    assert paths == [tmp_path / "pt.png", tmp_path / "pt.pdf"]  # any suffix is replaced
    assert_written(paths, PANEL_PX)


def test_error_curves_on_a_log_axis_with_band(tmp_path):
    paths = plot_success_curves(conv_table(), tmp_path / "e", quantity="error_median")
    assert_written(paths, CURVE_PX)


def test_success_curves_over_a_categorical_parameter(tmp_path):
    table = conv_table() | {"filter_shape": np.array(["3x3", "5x5"] * 10)}
    assert_written(plot_success_curves(table, tmp_path / "c", x="filter_shape"), CURVE_PX)


def test_rip_ratios_in_one_panel(tmp_path):
    assert_written(plot_rip_ratios(problems_table(), tmp_path / "all"), PANEL_PX)


@pytest.mark.parametrize(
    ("plot", "table", "kwargs", "column"),
    [
        (plot_phase_transition, "classical", {}, "rho"),
        (plot_phase_transition, "classical", {}, "problems"),  # needed to fit
        (plot_success_curves, "conv", {}, "success_rate"),
        (plot_success_curves, "conv", {"x": "in_channels"}, "in_channels"),
        (plot_success_curves, "conv", {"hue": "filter_shape"}, "filter_shape"),
        (plot_rip_ratios, "problems", {}, "ratio"),
        (plot_rip_ratios, "problems", {"by": "cell"}, "cell"),
    ],
)
def test_missing_columns_are_named(tmp_path, plot, table, kwargs, column):
    table = {"classical": classical_table, "conv": conv_table, "problems": problems_table}[table]()
    table.pop(column, None)
    with pytest.raises(ValueError, match=repr(column)):
        plot(table, tmp_path / "x", **kwargs)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- sweep directories
def test_plot_sweep_classical_with_problems(tmp_path):
    """Two solvers: two phase panels; three values of k: three histogram panels."""
    table = classical_table()
    write_csv(tmp_path / "results.csv", table)
    write_csv(tmp_path / "problems.csv", problems_table())
    assert read_table(tmp_path / "results.csv")["successes"].tolist() == table["successes"].tolist()
    paths = plot_sweep(tmp_path)
    assert [p.name for p in paths] == [
        "phase_transition.png", "phase_transition.pdf", "rip_ratios.png", "rip_ratios.pdf",
    ]  # fmt: skip
    assert_written(paths[:2], (PANEL_PX[0], 2 * PANEL_PX[1]))
    assert_written(paths[2:], (450, 3 * 540))


def test_plot_sweep_conv_grid(tmp_path):
    """No delta/rho: success and error against k, one line per solver and out_channels."""
    write_csv(tmp_path / "results.csv", conv_table())
    paths = plot_sweep(str(tmp_path))
    assert [p.name for p in paths] == [
        "success_vs_k.png", "success_vs_k.pdf", "error_vs_k.png", "error_vs_k.pdf",
    ]  # fmt: skip
    for pair in (paths[:2], paths[2:]):
        assert_written(pair, CURVE_PX)


def test_plot_sweep_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="results.csv"):
        plot_sweep(tmp_path)
