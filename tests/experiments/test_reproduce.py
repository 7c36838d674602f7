"""`jaxcs reproduce --quick`: the report's tables have the right shape and sane ranges, stages
resume without recomputing, and a directory of another setup is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

from jaxcs.analysis import theorem_3_3_bound  # noqa: E402
from jaxcs.cli import main  # noqa: E402
from jaxcs.experiments import (  # noqa: E402
    ReproduceSetup,
    SetupMismatch,
    evidence,
    reproduce,
    run_reproduce,
    write_report,
)

SETUP = ReproduceSetup.quick()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reproduce")
    results = run_reproduce(SETUP, directory)
    report = write_report(results, directory)
    return directory, results, report


def test_report_has_every_table_as_rows(run):
    directory, _, _ = run
    report = json.loads((directory / "report.json").read_text())
    for name in ("table1", "table2", "table3", "table4", "fig3", "theorem_3_3"):
        assert isinstance(report[name], list) and report[name], name
        assert all(isinstance(row, dict) for row in report[name])
        assert name in report["comparison"]
    for row in report["table3"]:
        for key in ("layer", "learned_filters", "random_filters", "random_activations"):
            assert key in row
        assert "image_tied" in row and "image_trained" in row
    text = (directory / "report.md").read_text()
    for title in ("Table 1", "Table 2", "Table 3", "Table 4", "Fig. 3", "Theorem 3.3"):
        assert f"## {title}" in text
    assert text.count("**Against the paper.**") == 6
    assert report["environment"]["jax"] and report["setup"]["seed"] == SETUP.seed


def test_table1_grid_and_learned_beats_random_at_depth_3(run):
    rows = run[2]["table1"]
    expected = len(SETUP.depths) * len(SETUP.filter_sizes) * len(SETUP.widths) * 2
    assert len(rows) == expected
    chance = 1 / SETUP.classes
    for row in rows:
        assert row["seeds"] == SETUP.seeds
        assert row["test_accuracy_min"] <= row["test_accuracy_mean"] <= row["test_accuracy_max"]
        assert row["test_accuracy_mean"] > 2 * chance  # both kinds learn something
    deepest = max(SETUP.depths)
    learned = [r for r in rows if r["depth"] == deepest and r["filters"] == "learned"]
    random = [r for r in rows if r["depth"] == deepest and r["filters"] == "random"]
    assert max(r["test_accuracy_mean"] for r in learned) > max(
        r["test_accuracy_mean"] for r in random
    )


def test_table2_pooled_maps_are_denser_and_k_counts_nonzero_regions(run):
    rows = run[2]["table2"]
    assert len(rows) == 2 * max(SETUP.depths)  # learned and random analysed networks
    for row in rows:
        assert 0 < row["relu_nonzero_pct"] <= 100 and 0 < row["pool_nonzero_pct"] <= 100
        # a region is non-zero when any of its 4 entries is: never sparser than the ReLU map
        assert row["pool_nonzero_pct"] >= row["relu_nonzero_pct"] - 1e-9
        assert row["k"] == pytest.approx(row["pool_nonzero_pct"] / 100 * row["regions"], abs=1)
        assert row["regions"] * 4 == row["code_size"]


def test_table3_baseline_near_sqrt2_and_errors_in_range(run):
    rows = run[2]["table3"]
    assert [r["layer"] for r in rows] == ["image"] + [
        f"pool({i})" for i in range(1, max(SETUP.depths))
    ]
    for row in rows:
        assert abs(row["random_activations"] - math.sqrt(2)) < 0.03
        for kind in ("learned", "random"):
            one_step = row[f"{kind}_filters"]
            if row["layer"] != "image":  # the paper's rows; a first layer may overshoot (k > MD)
                assert 0.3 < one_step < 1.3
            assert row[f"{kind}_filters_gain_optimal"] <= one_step + 1e-6
            assert row[f"{kind}_filters_niht"] <= one_step + 0.05  # more steps do not hurt
        assert 0 <= row["image_tied"] <= 1 and 0 <= row["image_tied_reference"] <= 1
        assert row["image_trained"] > 0 and row["image_trained_reference"] > 0


def test_table4_coherence_ranges_and_vgg_sizes(run):
    rows = run[2]["table4"]
    trained = [r for r in rows if r["learned_filter_coherence"] is not None]
    vgg = [r for r in rows if r["source"] == "vgg16 sizes"]
    assert len(trained) == max(SETUP.depths)
    sizes = [(m, k) for m, k in evidence.VGG16_LAYERS if max(m, k) <= SETUP.vgg_max_channels]
    assert [(r["in_channels"], r["out_channels"]) for r in vgg] == sizes
    for row in rows:
        assert 0 < row["random_filter_coherence_mean"] <= 1
        # shift-aware coherence is a max over a superset of the filter-level pairs
        assert row["random_shift_coherence_mean"] >= row["random_filter_coherence_mean"] - 1e-6
    for row in trained:
        assert 0 < row["learned_filter_coherence"] <= row["learned_shift_coherence"] + 1e-6 <= 1
    # more and longer filters: Gaussian filters get less coherent
    assert vgg[-1]["random_filter_coherence_mean"] < vgg[0]["random_filter_coherence_mean"] / 3


def test_fig3_random_filters_centred_near_one_and_brackets_ordered(run):
    rows = run[2]["fig3"]
    assert len(rows) == 2 * max(SETUP.depths)
    for row in rows:
        hist = row["histogram"]
        assert sum(hist["sampled"]) == row["ratio_sampled"]["count"] == SETUP.fig3_samples
        assert len(hist["edges"]) == len(hist["sampled"]) + 1
        bracket = row["delta_bracket"]
        assert 0 <= bracket["lower"]
        assert bracket["upper"] is None or bracket["lower"] <= bracket["upper"] + 1e-6
        if row["filters"] == "random":
            assert abs(row["ratio_sampled"]["mean"] - 1) < 0.1
            assert row["ratio_sampled"]["std"] < 0.1


def test_theorem_rows_are_consistent_with_the_formula(run):
    rows = run[2]["theorem_3_3"]
    assert len(rows) == 2 * max(SETUP.depths) * len(SETUP.theorem_k_fractions)
    fig3 = {(r["layer"], r["filters"]): r["delta_bracket"] for r in run[2]["fig3"]}
    for row in rows:  # at the layer's own k, the same δ_k as Fig. 3's
        if row["k_fraction"] == 1.0:
            assert row["delta_k_lower"] == fig3[(row["layer"], row["filters"])]["lower"]
    for row in rows:
        assert row["delta_k_lower"] <= row["delta_2k_lower"] + 1e-9
        if row["delta_2k_lower"] >= 1:
            assert row["verdict"].startswith("vacuous") and row["bound_at_lower"] is None
        else:
            lower_k = min(row["delta_k_lower"], row["delta_2k_lower"])
            expected = float(theorem_3_3_bound(lower_k, row["delta_2k_lower"]))
            assert row["bound_at_lower"] == pytest.approx(expected, rel=1e-5)
            d = row["delta_2k_lower"]
            assert row["bound_at_lower"] == pytest.approx(
                5 * d / (1 - lower_k) * math.sqrt((1 + d) / (1 - d)), rel=1e-5
            )


def _forbid(monkeypatch, *names):
    def refuse(*args, **kwargs):
        raise AssertionError("recomputed a finished stage")

    for module, name in names:
        monkeypatch.setattr(module, name, refuse)


def test_a_finished_run_resumes_without_recomputing(run, monkeypatch):
    directory, results, _ = run
    _forbid(
        monkeypatch,
        (reproduce, "train_network"),
        (reproduce, "train_decoder"),
        *((evidence, name) for name in ("fig3_rows", "table3_rows", "theorem_rows")),
    )
    again = run_reproduce(SETUP, directory)
    for name in reproduce.STAGES:  # as JSON: NaN (no search at large k) equals itself there
        assert json.dumps(again[name], sort_keys=True) == json.dumps(results[name], sort_keys=True)


def test_an_interrupted_run_recomputes_only_the_missing_stage(run, monkeypatch, tmp_path):
    directory, results, _ = run
    copy = tmp_path / "copy"
    for path in directory.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(directory)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (copy / "stages" / "theorem_3_3.json").unlink()
    (copy / "stages" / "table1.json").unlink()  # the per-network file is kept
    _forbid(monkeypatch, (reproduce, "train_network"), (evidence, "fig3_rows"))
    again = run_reproduce(SETUP, copy)
    assert again["table1"]["rows"] == results["table1"]["rows"]
    assert again["theorem_3_3"]["rows"] == results["theorem_3_3"]["rows"]  # deterministic


def test_another_setup_is_refused_unless_overwrite(run):
    directory = run[0]
    with pytest.raises(SetupMismatch, match="another setup"):
        run_reproduce(ReproduceSetup.quick(seed=1), directory)
    assert main(["reproduce", "--quick", "--seed", "1", "--output", str(directory)]) == 2


def test_the_cli_resumes_and_writes_the_report_with_figures(run, capsys):
    pytest.importorskip("matplotlib")
    directory = run[0]
    (directory / "report.md").unlink()
    assert main(["reproduce", "--quick", "--no-progress", "--output", str(directory)]) == 0
    text = (directory / "report.md").read_text()
    for name in ("table1.png", "fig3.png"):
        assert (directory / name).stat().st_size > 10_000
        assert f"]({name})" in text
    out = capsys.readouterr().out
    assert "table3" in out and "report" in out


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"dataset": "cifar"}, "dataset"),
        ({"classes": 1}, "classes"),
        ({"classes": 99}, "classes"),
        ({"depths": ()}, "depths"),
        ({"widths": (0,)}, "widths"),
        ({"patch_size": 20}, "patch_size"),
        ({"epochs": 0}, "epochs"),
        ({"seeds": 1.5}, "seeds"),
        ({"algorithm2_fraction": 1.0}, "algorithm2_fraction"),
        ({"theorem_k_fractions": (0.0,)}, "theorem_k_fractions"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_bad_setups_are_named(changes, match):
    with pytest.raises(ValueError, match=match):
        ReproduceSetup.quick(**changes)


def test_fingerprint_tells_setups_apart():
    assert SETUP.fingerprint() == ReproduceSetup.quick().fingerprint()
    assert SETUP.fingerprint() != ReproduceSetup.quick(seed=3).fingerprint()
    assert np.all([c.num_classes == SETUP.classes for c in SETUP.grid()])


def _copy(directory, target):
    for path in directory.rglob("*"):
        if path.is_file():
            (target / path.relative_to(directory)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(directory)).write_bytes(path.read_bytes())
    return target


def test_without_setup_json_another_seeds_stages_are_refused(run, tmp_path, capsys):
    """A `--seed 1` run must never report seed 0's tables: each stage carries its setup's
    fingerprint, whatever happened to setup.json."""
    copy = _copy(run[0], tmp_path / "copy")
    (copy / "setup.json").unlink()
    with pytest.raises(SetupMismatch, match=r"stages/\w+\.json is a stage of another setup"):
        run_reproduce(ReproduceSetup.quick(seed=1), copy)
    assert not (copy / "setup.json").exists()  # refused before anything is written
    assert main(["reproduce", "--quick", "--seed", "1", "--output", str(copy)]) == 2
    assert "stage of another setup" in capsys.readouterr().err
    assert run_reproduce(SETUP, copy)["table2"] == run[1]["table2"]  # its own setup: reused


def test_a_stage_without_a_fingerprint_is_never_reused(tmp_path):
    stages = tmp_path / "stages"
    stages.mkdir()
    for name in reproduce.STAGES:
        (stages / f"{name}.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(SetupMismatch, match=r"fig3\.json carries no setup fingerprint"):
        run_reproduce(SETUP, tmp_path)


def test_a_network_file_that_is_not_the_trained_one_is_refused(run, tmp_path):
    copy = _copy(run[0], tmp_path / "copy")
    learned, random = (
        copy / "networks" / f"{SETUP.analysed(frozen).name}.msgpack" for frozen in (False, True)
    )
    learned.write_bytes(random.read_bytes())
    (copy / "stages" / "table2.json").unlink()
    with pytest.raises(SetupMismatch, match="is not the network this run trained"):
        run_reproduce(SETUP, copy)


def _example_stage(name: str) -> dict:
    """Stage ``name`` of the full run under ``examples/report`` (a real run's rows)."""
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "report" / "stages" / f"{name}.json"
    return json.loads(path.read_text())


def _stage_edit(content: dict, name: str, edit: str) -> str:
    """The text of a stage file: ``content`` (a real run's stage) after ``edit``."""
    key = "networks" if name == "table1_networks" else "rows"
    content = json.loads(json.dumps(content))  # a copy
    if edit == "truncated":
        return json.dumps(content)[:200]
    if edit == "no rows":
        return json.dumps({k: v for k, v in content.items() if k != key})
    column, value = edit.split("=", 1)
    row = content[key][0]
    *parents, last = column.split(".")
    for part in parents:
        row = row[part]
    if value == "<missing>":
        del row[last]
    else:
        row[last] = json.loads(value)
    return json.dumps(content)


@pytest.mark.parametrize(
    "name, edit, match",
    [
        ("table2", "truncated", r"table2\.json: not a stage file \(not valid JSON"),
        ("table3", "no rows", r"table3\.json: the stage file has no 'rows'"),
        ("table1_networks", "no rows", r"table1_networks\.json: the stage file has no 'networks'"),
        ("table1", "test_accuracy_mean=1.7",
         r"table1\.json: rows\[0\]\.test_accuracy_mean must be a finite number in \[0, 1\]; "
         "got 1.7"),
        ("table2", 'relu_nonzero_pct="49 %"', r"rows\[0\]\.relu_nonzero_pct must be a finite"),
        ("table4", "random_filter_coherence_mean=NaN", r"coherence_mean must be a finite number"),
        ("fig3", "ratio_sampled.mean=<missing>", r"rows\[0\]\.ratio_sampled lacks the key 'mean'"),
        ("fig3", "delta_bracket.lower=-0.5", r"delta_bracket\.lower must be a finite number >= 0"),
        ("theorem_3_3", "k=2.5", r"rows\[0\]\.k must be an integer >= 0; got 2.5"),
        ("table1_networks", "test_accuracy=-0.1", r"networks\[0\]\.test_accuracy must be"),
    ],
)  # fmt: skip
def test_a_bad_stage_file_is_named_never_reported(tmp_path, name, edit, match):
    """A corrupt stage file (a bare JSONDecodeError naming no file), one without its rows (a
    KeyError: 'rows' in the report), a hand-edited value (copied into the report unchecked):
    each a StageFileError naming the file, the row and the key, before the report."""
    from jaxcs.experiments import StageFileError

    store = reproduce.StageStore(tmp_path, SETUP)
    content = _example_stage(name)
    content["fingerprint"] = SETUP.fingerprint()  # this setup's stage, hand-edited
    assert store.load(name) is None
    (store.stages / f"{name}.json").write_text(_stage_edit(content, name, edit))
    with pytest.raises(StageFileError, match=match):
        store.load(name)
    # the untouched file is reused as it is
    (store.stages / f"{name}.json").write_text(json.dumps(content))
    assert store.load(name)[("networks" if name == "table1_networks" else "rows")]


def test_the_cli_names_a_corrupt_stage_file(tmp_path, capsys):
    reproduce.StageStore(tmp_path, SETUP)
    (tmp_path / "stages" / "table1.json").write_text('{"rows": [')
    assert main(["reproduce", "--quick", "--output", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jaxcs reproduce: {tmp_path / 'stages' / 'table1.json'}: not a stage")
    assert "Traceback" not in err
