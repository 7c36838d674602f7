"""``jaxcs fig3``: the paper's Fig. 3 layer at CI size."""

import json

import jax.random as jr
import numpy as np
import pytest

from jaxcs.cli import main
from jaxcs.experiments.fig3 import Fig3Setup, run_fig3

TINY = dict(in_channels=8, out_channels=8, in_spatial=(6, 6), num_samples=40, eigen_supports=5)


@pytest.fixture(scope="module")
def tiny_run():
    stages = []
    return run_fig3(Fig3Setup.quick(**TINY), on_stage=stages.append), stages


def test_fig3_ratios_and_supports(tiny_run):
    result, stages = tiny_run
    setup = Fig3Setup.quick(**TINY)
    assert setup.k == round(0.239 * 6 * 6 * 8)
    ratio = result["ratio_wt"]
    assert ratio["count"] == 40 and ratio["nonfinite"] == 0
    # normalised filters: ratios near 1, below it on average ("same" truncates border columns)
    assert 0.6 < ratio["min"] <= ratio["mean"] <= ratio["max"] < 1.4
    assert sum(ratio["histogram"]["counts"]) == 40
    assert len(result["supports"]) == 5
    for s in result["supports"]:
        # unit-norm filters, columns truncated by the zero padding: every diagonal entry of
        # G_S is at most 1, and λ_min ≤ min diagonal ≤ max diagonal ≤ λ_max
        assert 0 <= s["eig_min"] <= 1 and s["eig_max"] > 1 - 1e-6
        assert 0 <= s["residual_min"] < 0.2 and 0 <= s["residual_max"] < 0.2
    # stages: ratios, one per Lanczos chunk (4 supports each), upper bound
    assert [len(st.get("supports", [])) for st in stages][-1] == 5
    assert {"ratios", "lanczos", "upper_bound"} <= set(result["timings"])
    assert result["peak_memory_mib"] > 0


def test_fig3_bracket(tiny_run):
    result, _ = tiny_run
    bracket = result["delta_bracket"]
    lanczos = max(
        max(1 - s["eig_min"], s["eig_max"] - 1) for s in result["supports"]
    )  # each support's extreme quotients bound δ from below
    assert bracket["lanczos"] == pytest.approx(lanczos)
    assert bracket["lower"] == max(bracket["lanczos"], bracket["random_codes"])
    # the per-support extremes bound δ at least as well as the codes' own ratios
    assert bracket["lanczos"] >= bracket["random_codes"]
    assert bracket["upper"] is not None and bracket["upper"] >= bracket["lower"]
    assert bracket["upper_vacuous"] == (bracket["upper"] >= 1)


def test_fig3_user_filters(tmp_path):
    setup = Fig3Setup.quick(**(TINY | dict(num_samples=8, eigen_supports=0)))
    kernel = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    result = run_fig3(setup, kernel=kernel, filters_name="mine")
    assert result["setup"]["filters"] == "mine" and result["supports"] == []
    with pytest.raises(ValueError, match=r"filters must have shape \(3, 3, 8, 8\)"):
        run_fig3(setup, kernel=kernel[..., :4])


def test_cli_fig3_quick_and_no_silent_overwrite(tmp_path, capsys):
    kernel = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "kernel.npy", kernel)
    args = ["fig3", "--quick", "--output", str(tmp_path), "--no-progress", "--no-plot"]
    args += ["--num-samples", "8", "--eigen-supports", "1", "--lanczos-steps", "4"]
    args += ["--filters", str(tmp_path / "kernel.npy")]
    assert main(args) == 0
    data = json.loads((tmp_path / "fig3.json").read_text())
    assert data["setup"]["in_channels"] == 8 and data["setup"]["num_samples"] == 8
    assert data["setup"]["filters"].endswith("kernel.npy") and data["environment"]["jax"]
    assert "delta_k bracket" in capsys.readouterr().out
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:  # argparse, before JAX is touched
        main(["fig3", "--output", str(tmp_path), "--filters", str(tmp_path / "x.txt")])
    assert missing.value.code == 2 and "no such file" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("not a kernel")
    assert main(["fig3", "--output", str(tmp_path), "--filters", str(tmp_path / "x.txt")]) == 2


def test_setup_validation():
    with pytest.raises(ValueError, match="nonzero_fraction"):
        Fig3Setup(nonzero_fraction=0.5)  # more than one non-zero per 2×2 region
    with pytest.raises(ValueError, match="in_spatial"):
        Fig3Setup(in_spatial=0)
    with pytest.raises(TypeError, match="filter_size is now filter_shape"):
        Fig3Setup(filter_size=3)
    with pytest.raises(TypeError, match="map_size is now in_spatial"):
        Fig3Setup.quick(map_size=8)
    setup = Fig3Setup.quick(filter_shape=(3, 1), in_spatial=(6, 5))
    assert setup.operator(jr.key(0)).in_shape == (6, 5, 16) and setup.k == round(0.239 * 30 * 16)
