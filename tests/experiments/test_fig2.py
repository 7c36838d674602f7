"""The main job: ``jaxcs fig2`` (the paper's Fig. 2)."""

import json

import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.analysis import delta_lower_bound_from, summarize_samples
from jaxcs.cli import main
from jaxcs.experiments.fig2 import Fig2Setup, run_fig2

SMALL = dict(num_samples=400, checkpoint_every=200, iht_steps=3)
# the CLI's flags for SMALL: its runs reuse the fixture's compiled programs
SMALL_FLAGS = ["--num-samples", "400", "--checkpoint-every", "200", "--iht-steps", "3"]


@pytest.fixture(scope="module")
def small_run():
    rounds = []
    result = run_fig2(Fig2Setup(**SMALL), on_round=rounds.append)
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
    # (a) and (b) centered at 1 (the paper); the full ratio is not (neighbouring shifts).
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


def test_fig2_rip_quantities_are_those_of_the_library_estimator(small_run):
    """Fig. 2 runs the library's model-RIP kernel: each round (key ``fold_in(key_data, r)``)
    draws the codes that :func:`jaxcs.estimate_model_rip` draws with the same chunk size, so
    the ratios and eigenvalues are the same numbers, and δ is the library's formula."""
    result, _ = small_run
    setup = Fig2Setup(**SMALL)
    key_op, key_data = jr.split(jr.key(setup.seed))
    op = setup.operator(key_op)
    rounds = [
        jaxcs.estimate_model_rip(
            jr.fold_in(key_data, r),
            op,
            jaxcs.BlockModel(setup.k),
            setup.checkpoint_every,
            method="gram",
            chunk_size=200,
            full_ratio=True,
            keep_samples=True,
        )
        for r in range(2)
    ]
    for name in ("ratio_wt", "ratio_wwt", "ratio_wwt_full", "eig_min", "eig_max"):
        samples = np.concatenate([np.asarray(est.samples[name]) for est in rounds])
        expected = summarize_samples(samples)
        for field in ("mean", "min", "max", "q50"):
            assert result["quantities"][name][field] == pytest.approx(
                expected[field], rel=1e-6, abs=1e-7
            ), (name, field)
    q = result["quantities"]
    assert result["delta_lower_bound"] == float(
        delta_lower_bound_from(q["eig_min"]["min"], q["eig_max"]["max"])
    )
    assert result["delta_lower_bound_random_z"] == float(
        delta_lower_bound_from(q["ratio_wt"]["min"] ** 2, q["ratio_wt"]["max"] ** 2)
    )


def test_fig2_rounds_checkpoint(small_run):
    result, rounds = small_run
    assert [r["completed_samples"] for r in rounds] == [200, 400]
    assert rounds[-1] == result


def test_fig2_deterministic(small_run, compile_messages):
    result, _ = small_run
    again = run_fig2(Fig2Setup(**SMALL))
    assert again["quantities"] == result["quantities"]
    with compile_messages() as compiled:
        other = run_fig2(Fig2Setup(**SMALL, seed=1))
    assert other["quantities"]["ratio_wt"] != result["quantities"]["ratio_wt"]
    # another seed is another key, not another program
    assert not [m for m in compiled if "_round" in m or "_search_kernel" in m], compiled


def test_cli_writes_json_and_png(tmp_path, capsys):
    code = main(
        [
            "fig2",
            "--output",
            str(tmp_path),
            *SMALL_FLAGS,
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "fig2.json").read_text())
    for name in ("ratio_wt", "ratio_wwt", "recon_error"):
        assert {"mean", "std", "min", "max", "q01", "q50", "q99"} <= set(data["quantities"][name])
    assert data["setup"]["filter_shape"] == [5] and data["setup"]["k"] == 10
    assert data["environment"]["jax"]
    out = capsys.readouterr().out
    assert "ratio_wt" in out and "recon_error" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "fig2.png").stat().st_size > 10_000


def test_cli_never_silently_overwrites_earlier_results(tmp_path, capsys):
    earlier = tmp_path / "fig2.json"
    earlier.write_text('{"completed_samples": 20000}')
    assert main(["fig2", "--output", str(tmp_path), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert earlier.read_text() == '{"completed_samples": 20000}'  # untouched
    assert main(["fig2", "--output", str(tmp_path), "--no-progress", "--no-plot", "--overwrite",
                 *SMALL_FLAGS]) == 0  # fmt: skip
    assert json.loads(earlier.read_text())["completed_samples"] == 400


def test_cli_bad_arguments(tmp_path, capsys):
    # the setup's own check (needs the layer's sizes)
    assert main(["fig2", "--output", str(tmp_path), "--no-progress", "--k", "97"]) == 2
    assert "k must be <= out_channels" in capsys.readouterr().err
    # argparse's, before JAX is imported
    with pytest.raises(SystemExit) as error:
        main(["fig2", "--output", str(tmp_path), "--no-progress", "--num-samples", "0"])
    assert error.value.code == 2
    assert "--num-samples: expected a positive integer" in capsys.readouterr().err


def test_setup_validation():
    with pytest.raises(ValueError, match="filter_shape"):
        Fig2Setup(filter_shape=(0,))
    with pytest.raises(ValueError, match="filter_shape must be 1 int"):
        Fig2Setup(filter_shape=(5, 5))
    with pytest.raises(
        TypeError, match="filter_length is now filter_shape, input_size is now in_spatial"
    ):
        Fig2Setup(filter_length=5, input_size=32)
    assert Fig2Setup(filter_shape=7, in_spatial=[40]).operator(jr.key(0)).in_shape == (40, 32)
    with pytest.raises(ValueError, match="seed"):
        Fig2Setup(seed=-1)


def test_fig2_brackets_delta(small_run):
    """The bracket: sampled ≤ lower (the larger of sampled and search) ≤ certified upper."""
    result, rounds = small_run
    bracket = result["delta_bracket"]
    assert bracket["sampled"] == result["delta_lower_bound"]
    assert bracket["lower"] == max(bracket["sampled"], bracket["search"])
    assert bracket["search_evaluations"] <= SMALL["num_samples"]
    assert bracket["lower"] <= bracket["upper"] and bracket["upper_method"] == "babel-table"
    assert bracket["upper_vacuous"] == (bracket["upper"] >= 1)
    # every checkpoint carries the bracket of its own samples
    assert rounds[0]["delta_bracket"]["sampled"] == rounds[0]["delta_lower_bound"]
