"""The sweep engine in one process: statistics from the per-problem records, one compilation
per static shape, resumption, outputs that pandas reads, RIP extremes, non-finite data."""

import json

import jax.random as jr
import numpy as np
import pytest

from jaxcs import NIHT, MatrixOperator, TopKModel, recover
from jaxcs.sweeps import ConfigError, SweepError, load_config, plan, sweep
from jaxcs.sweeps.table import TIMING

MATRIX = {
    "matrix": {"n": 32, "delta": [0.25, 0.5], "rho": [0.15, 0.3, 0.45]},
    "solver": {"name": "NIHT", "max_steps": 60},
    "run": {"seeds": 6, "batch": 4, "per_problem": True, "rip": "ratios"},
}


def _untimed(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.fixture(scope="module")
def matrix_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("matrix")
    return sweep(MATRIX, directory, progress=False), directory


def test_rows_summarize_the_problems(matrix_run):
    result, directory = matrix_run
    config = load_config(MATRIX)
    assert len(result.rows) == len(config.cells) == 6
    import csv

    with open(directory / "problems.csv") as f:
        problems = list(csv.DictReader(f))
    assert len(problems) == 6 * 6
    for row in result.rows:
        mine = [p for p in problems if int(p["cell"]) == row["cell"]]
        error = np.array([float(p["error"]) for p in mine])
        status = np.array([int(p["status"]) for p in mine])
        ratio = np.array([float(p["ratio"]) for p in mine])
        assert row["problems"] == len(mine) == 6
        assert row["success_rate"] == np.mean(error < 1e-3)
        assert row["error_median"] == pytest.approx(np.median(error))
        assert row["error_q95"] == pytest.approx(np.quantile(error, 0.95))
        assert row["converged"] == np.sum(status == 0)
        assert sum(row[c] for c in ("converged", "max_steps_reached", "stalled")) == 6
        assert row["delta_from_ratios"] == pytest.approx(np.max(np.abs(ratio**2 - 1)))
        assert row["m"] == round(row["delta"] * 32) and row["k"] == max(
            1, round(row["rho"] * row["m"])
        )


def test_problems_match_recover_on_the_same_data(matrix_run):
    """Rebuild cell 1's problems from (seed, cell, problem) and solve them with recover."""
    result, _ = matrix_run
    config = load_config(MATRIX)
    cell = config.cells[1]
    group = next(g for g in plan(config) if cell in g.cells)
    m, n, k = cell.derived["m"], 32, cell.k
    errors = []
    for problem in range(6):
        key = jr.fold_in(jr.fold_in(jr.key(0), cell.problem_key()), problem)
        key_op, key_code = jr.split(key)
        phi = jr.normal(key_op, (m, n)) / np.sqrt(m)
        model = TopKModel(k, capacity=group.spec.capacity)
        z = model.sample(key_code, (n,), distribution="normal")
        solution = recover(MatrixOperator(phi).T, phi @ z, TopKModel(k), NIHT(), max_steps=60)
        errors.append(float(np.linalg.norm(solution.z - z) / np.linalg.norm(z)))
    row = next(r for r in result.rows if r["cell"] == 1)
    assert row["error_median"] == pytest.approx(np.median(errors), rel=1e-3, abs=1e-6)
    # A NIHT run that creeps for many steps ends where the last bit decides (an exact fixed
    # point in one compiled program, convergence a few steps later in another): here one of
    # the six problems (5) stalls in the sweep's program and converges under recover.
    successes = np.sum(np.array(errors) < 1e-3)
    assert abs(round(row["success_rate"] * 6) - successes) <= 1


def test_outputs_load_with_pandas(matrix_run):
    pd = pytest.importorskip("pandas")
    result, directory = matrix_run
    frame = pd.read_csv(directory / "results.csv")
    assert list(frame.columns) == result.columns
    for column in (
        "delta",
        "rho",
        "k",
        "success_rate",
        "error_median",
        "num_steps_median",
        "nonfinite",
        "problems_per_second",
    ):
        assert column in frame
    assert frame["k"].dtype.kind == "i" and frame["success_rate"].dtype.kind == "f"
    pytest.importorskip("pyarrow")
    parquet = pd.read_parquet(directory / "results.parquet")
    assert parquet.shape == frame.shape
    assert np.allclose(parquet["error_median"], frame["error_median"])
    problems = pd.read_parquet(directory / "problems.parquet")
    assert len(problems) == 36 and set(problems["cell"]) == set(range(6))
    header = json.loads((directory / "sweep.json").read_text())
    assert header["complete"] and header["axes"] == ["delta", "rho"]
    assert header["environment"]["jax"] and header["devices"]
    assert header["seed"] == 0 and header["problems_per_cell"] == 6


def test_one_compilation_per_static_shape_and_resume(matrix_run, tmp_path, compile_messages):
    """Two m's (static) × three rho's (dynamic k) × two step budgets (dynamic): two programs,
    compiled once per process. A finished directory computes nothing; a deleted block is the
    only one recomputed, with the same table."""
    result, _ = matrix_run
    fresh_grid = dict(
        MATRIX,
        matrix=dict(MATRIX["matrix"], n=36),  # shapes not compiled yet
        solver=dict(MATRIX["solver"], max_steps=[3, 60]),
    )
    assert len(plan(load_config(fresh_grid))) == 2
    with compile_messages() as messages:
        budgets = sweep(fresh_grid, progress=False)
    assert len(messages) == 2, messages
    starved = [row for row in budgets.rows if row["max_steps"] == 3]
    assert len(starved) == 6 and all(row["num_steps_median"] <= 3 for row in starved)
    assert sum(row["max_steps_reached"] for row in starved) > 0
    assert len(budgets.rows) == 12
    with compile_messages() as messages:
        fresh = sweep(MATRIX, tmp_path, progress=False)  # compiled by the fixture already
    assert messages == []
    assert _untimed(fresh.rows) == _untimed(result.rows)
    again = sweep(MATRIX, tmp_path, progress=False)
    assert again.header["last_run"]["computed_blocks"] == 0
    blocks = sorted((tmp_path / "blocks").rglob("*.npz"))
    assert len(blocks) == 2 * 5  # 18 problems per group in blocks of 4
    blocks[3].unlink()
    resumed = sweep(MATRIX, tmp_path, progress=False)
    assert resumed.header["last_run"]["computed_blocks"] == 1
    assert _untimed(resumed.rows) == _untimed(result.rows)


def test_another_grid_in_the_same_directory_is_refused(matrix_run):
    _, directory = matrix_run
    other = dict(MATRIX, run=dict(MATRIX["run"], seeds=7))
    with pytest.raises(SweepError, match="another grid"):
        sweep(other, directory, progress=False)


def test_conv_pooling_rip_extremes_bracket_the_ratios():
    """Each drawn code's ‖Wᵀz‖²/‖z‖² lies between the extremes over its support (over z ≥ 0
    for the non-negative model), so the eigenvalue bound is never below the ratio bound."""
    config = {
        "operator": {"filter_shape": 3, "in_channels": 2, "out_channels": 4, "in_spatial": 12},
        "model": {"kind": "pooling", "pool_size": 2, "k": 6, "nonnegative": [False, True]},
        "solver": {"name": "FISTA", "max_steps": 50, "lam": 1e-2},
        "run": {"seeds": 5, "rip": "eigenvalues", "per_problem": True},
    }
    result = sweep(config, progress=False)
    assert len(result.rows) == 2
    for p in result.problems:
        assert p["eig_min"] - 1e-5 <= p["ratio"] ** 2 <= p["eig_max"] + 1e-5
    for row in result.rows:
        assert row["delta_lower_bound"] >= row["delta_from_ratios"]
        assert row["lam"] == 1e-2 and row["step_size"] is None
        assert row["nonfinite"] == 0


def test_channel_models_sweep_with_their_supports_extremes():
    """The per-channel and joint models (not region models) in a sweep: every solver recovers
    the planted codes of an over-determined layer, and each drawn code's ratio lies between
    its support's Gram extremes (its ``k · K`` slots)."""
    config = {
        "operator": {"filter_shape": 3, "in_channels": 4, "out_channels": 3, "in_spatial": 12},
        "model": {"kind": ["per-channel", "joint"], "k": [1, 2]},
        "solver": {"name": ["NIHT", "SP"], "max_steps": 100},
        "run": {"seeds": 4, "rip": "eigenvalues", "per_problem": True},
    }
    result = sweep(config, progress=False)
    assert [(row["model"], row["k"], row["solver"]) for row in result.rows[:4]] == [
        ("per-channel", 1, "NIHT"),
        ("per-channel", 1, "SP"),
        ("per-channel", 2, "NIHT"),
        ("per-channel", 2, "SP"),
    ]
    assert len(result.rows) == 8 and all(row["success_rate"] == 1.0 for row in result.rows)
    for p in result.problems:
        assert p["eig_min"] - 1e-5 <= p["ratio"] ** 2 <= p["eig_max"] + 1e-5


def test_nonfinite_filters_are_refused_before_anything_runs(tmp_path):
    filters = np.random.default_rng(0).normal(size=(3, 2, 4)).astype(np.float32)
    filters[1, 0, 2] = np.nan
    np.save(tmp_path / "w.npy", filters)
    config = {
        "operator": {
            "filter_shape": 3,
            "in_channels": 2,
            "out_channels": 4,
            "in_spatial": 10,
            "filters": str(tmp_path / "w.npy"),
        },
        "model": {"k": 2},
        "solver": {"name": "IHT", "max_steps": 5},
        "run": {"seeds": 3},
    }
    with pytest.raises(ConfigError, match="w.npy' holds 1 non-finite values"):
        sweep(config, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_plots_a_sweep_and_names_bad_keys(matrix_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from jaxcs.cli import main

    _, directory = matrix_run
    assert main(["plot", str(directory)]) == 0
    assert (directory / "phase_transition.png").stat().st_size > 0
    assert (directory / "phase_transition.pdf").stat().st_size > 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[matrix]\nn = 8\ndelta = 0.5\nrho = 0.5\nsize = 3\n[run]\nseeds = 2\n")
    assert main(["sweep", str(bad), "--output", str(tmp_path / "out")]) == 2
    assert "unknown key matrix.size; allowed:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["plot", str(tmp_path)]) == 2
    assert "no results.csv" in capsys.readouterr().err
