"""The main job: ``jaxcs fig2`` (model.md §10)."""

import json

import pytest

from jaxcs.cli import main
from jaxcs.experiments.fig2 import Fig2Setup, run_fig2

SMALL = dict(num_samples=400, checkpoint_every=200, iht_steps=3)


@pytest.fixture(scope="module")
def small_run():
    rounds = []
    result = run_fig2(Fig2Setup(**SMALL), chunk_size=100, on_round=rounds.append)
    return result, rounds


def test_fig2_quantities(small_run):
    result, _ = small_run
    q = result["quantities"]
    for name in ("ratio_wt", "ratio_wwt", "recon_error", "ratio_wwt_full"):
        assert set(q[name]) >= {"mean", "std", "min", "max", "q01", "q50", "q99"}
        assert q[name]["count"] == 400 and q[name]["nonfinite"] == 0
        assert (
            q[name]["min"] <= q[name]["q01"] <= q[name]["q50"] <= q[name]["q99"] <= q[name]["max"]
        )
    # (a) and (b) centered at 1 (the paper); the full ratio is not (model.md §6).
    assert abs(q["ratio_wt"]["mean"] - 1) < 0.05
    assert abs(q["ratio_wwt"]["mean"] - 1) < 0.1
    assert 1.7 < q["ratio_wwt_full"]["mean"] < 2.2
    # (c) one step is a rough inverse; more IHT steps do better; fixed switches fail.
    assert q["recon_error"]["q50"] < 0.6
    assert q["recon_error_iht_3"]["q50"] < q["recon_error"]["q50"]
    assert q["recon_error_fixed_switches"]["q50"] > 1.0
    eig_min, eig_max = q["eig_min"]["min"], q["eig_max"]["max"]
    assert result["delta_lower_bound"] == pytest.approx(max(1 - eig_min, eig_max - 1))
    assert result["delta_lower_bound"] >= result["delta_lower_bound_random_z"] - 1e-6


def test_fig2_rounds_checkpoint(small_run):
    result, rounds = small_run
    assert [r["completed_samples"] for r in rounds] == [200, 400]
    assert rounds[-1] == result


def test_fig2_deterministic(small_run):
    result, _ = small_run
    again = run_fig2(Fig2Setup(**SMALL), chunk_size=100)
    assert again["quantities"] == result["quantities"]
    other = run_fig2(Fig2Setup(**SMALL, seed=1), chunk_size=100)
    assert other["quantities"]["ratio_wt"] != result["quantities"]["ratio_wt"]


def test_cli_writes_json_and_png(tmp_path, capsys):
    code = main(
        [
            "fig2",
            "--output",
            str(tmp_path),
            "--num-samples",
            "200",
            "--checkpoint-every",
            "200",
            "--iht-steps",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "fig2.json").read_text())
    for name in ("ratio_wt", "ratio_wwt", "recon_error"):
        assert {"mean", "std", "min", "max", "q01", "q50", "q99"} <= set(data["quantities"][name])
    assert data["setup"]["filter_length"] == 5 and data["setup"]["k"] == 10
    assert data["environment"]["jax"]
    out = capsys.readouterr().out
    assert "ratio_wt" in out and "recon_error" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "fig2.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, message",
    [(["--k", "97"], "k must be <= out_channels"), (["--num-samples", "0"], "num_samples")],
)
def test_cli_bad_arguments(tmp_path, capsys, args, message):
    assert main(["fig2", "--output", str(tmp_path), "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err


def test_setup_validation():
    with pytest.raises(ValueError, match="filter_length"):
        Fig2Setup(filter_length=0)
    with pytest.raises(ValueError, match="seed"):
        Fig2Setup(seed=-1)
