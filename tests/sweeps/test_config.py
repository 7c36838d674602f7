"""Sweep grids: cells are the product of the axes; every bad key is named before anything runs."""

import pytest

from jaxcs.sweeps import ConfigError, load_config

CONV = """
[operator]
filter_shape = [5]
in_channels = 4
out_channels = [8, 16]
in_spatial = [32]
stride = 1
padding = "valid"
filters = "gaussian"
[model]
kind = "block"
k = [1, 2, 4, 8]
[solver]
name = "NIHT"
max_steps = 200
[run]
seeds = 16
"""


def test_cells_are_the_product_of_the_axes():
    config = load_config(CONV)
    # a one-value list is an axis too (the issue's own example writes shapes so)
    assert list(config.axes) == ["filter_shape", "out_channels", "in_spatial", "k"]
    assert len(config.cells) == 8
    pairs = [(c.params["out_channels"], c.k) for c in config.cells]
    assert pairs == [(K, k) for K in (8, 16) for k in (1, 2, 4, 8)]
    assert config.cells[0].params["filter_shape"] == (5,)
    assert config.cells[0].derived["out_shape"] == (28, 8)
    # The problems of a cell depend on its parameters, not its position or the solver's.
    keys = {c.problem_key() for c in config.cells}
    assert len(keys) == 8
    again = load_config(CONV.replace('name = "NIHT"', 'name = ["IHT", "HTP"]'))
    assert [c.problem_key() for c in again.cells] == [c.problem_key() for c in config.cells]


def test_shapes_follow_the_list_rule():
    text = CONV.replace("filter_shape = [5]", "filter_shape = [[3, 3]]")
    text = text.replace("in_spatial = [32]", "in_spatial = [[8, 8], [10, 10]]")
    config = load_config(text)
    assert config.cells[0].params["filter_shape"] == (3, 3)
    assert [c.derived["out_shape"] for c in config.cells[:8:4]] == [(6, 6, 8), (8, 8, 8)]


def test_matrix_grid_in_donoho_tanner_coordinates():
    config = load_config(
        {
            "matrix": {"n": 200, "delta": [0.1, 0.5], "rho": [0.05, 0.3]},
            "run": {"seeds": 4},
        }
    )
    derived = [(c.derived["m"], c.k) for c in config.cells]
    assert derived == [(20, 1), (20, 6), (100, 5), (100, 30)]
    assert config.cells[0].params["model"] == "topk"
    assert config.cells[0].params["distribution"] == "normal"


@pytest.mark.parametrize(
    "edit, message",
    [
        (("[run]", "[runs]"), "unknown table [runs]"),
        (("stride = 1", "strides = 1"), "unknown key operator.strides"),
        (('kind = "block"', 'kind = "blocks"'), "model.kind must be among"),
        (('padding = "valid"', 'padding = "full"'), "operator.padding must be one of"),
        (('filters = "gaussian"', 'filters = "normal"'), "operator.filters must be one of"),
        (('name = "NIHT"', 'name = "OMP"'), "solver.name must be among"),
        (('name = "NIHT"', 'name = "NIHTT"'), "did you mean 'NIHT'?"),
        (("seeds = 16", "seeds = 0"), "run.seeds must be an integer >= 1"),
        (("seeds = 16", "seeds = [4, 8]"), "run.seeds must be a scalar"),
        (
            ("k = [1, 2, 4, 8]", "k = [1, 2, 4, 9]"),
            "k=9 is out of range for BlockModel on a code of shape",
        ),
        (("k = [1, 2, 4, 8]", "k = [1, 1]"), "model.k repeats a value"),
        (("k = [1, 2, 4, 8]", "k = []"), "model.k is an empty list"),
        (("in_spatial = [32]", "in_spatial = [3]"), "padding='valid' needs"),
        (
            ("in_spatial = [32]", "input_shape = [32]"),
            r"operator.input_shape is now operator\.in_spatial",
        ),
        (("[run]", "[solver.NIHT]\nstep_size = 1.0\n[run]"), "NIHT takes none"),
        (("[run]", "[solver.HTP]\nstep_size = 1.0\n[run]"), "does not list 'HTP'"),
        (("seeds = 16", 'seeds = 16\nrip = "exact"'), "run.rip must be one of"),
    ],
)
def test_bad_configs_name_the_key(edit, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(CONV.replace(*edit))


def test_solver_names_are_case_insensitive():
    config = load_config(CONV.replace('name = "NIHT"', 'name = ["niht", "cosamp"]'))
    assert config.solvers == ("NIHT", "CoSaMP")
    with pytest.raises(ConfigError, match="repeats a solver"):
        load_config(CONV.replace('name = "NIHT"', 'name = ["niht", "NIHT"]'))


def test_bad_config_sources(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[operator\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="exactly one problem table"):
        load_config({"model": {"k": 1}, "run": {"seeds": 1}})
    with pytest.raises(ConfigError, match="exactly one of k"):
        load_config(CONV.replace("k = [1, 2, 4, 8]", "fraction = 0.01\nk = 1"))


def test_fraction_gives_k_of_the_code_size():
    config = load_config(CONV.replace("k = [1, 2, 4, 8]", "fraction = 0.02"))
    # codes (28, 8) and (28, 16): 224 and 448 entries
    assert [c.k for c in config.cells] == [4, 9]


POOLING = CONV.replace('kind = "block"', 'kind = "pooling"\npool_size = 64').replace(
    "k = [1, 2, 4, 8]", "k = 1"
)


@pytest.mark.parametrize(
    "text, message",
    [
        # codes (28, 8) and (28, 16): a 64-wide window does not fit the 28-wide map
        (POOLING, r"model.kind = 'pooling': .*\(64,\) does not fit the map of spatial shape"),
        (
            CONV.replace("max_steps = 200", "max_steps = 1000000000000"),
            r"solver.max_steps must be an integer in \[1, 2147483647\] \(2\*\*31 - 1: step "
            r"counts are int32.*got 1000000000000",
        ),
        (
            CONV.replace("seeds = 16", "seeds = 1000000000"),
            r"run.seeds must be an integer in \[1, 16777216\].*got 1000000000",
        ),
        (
            CONV.replace('kind = "block"', 'kind = "block"\npool_size = 2'),
            "model.pool_size applies to the pooling model only; model.kind is 'block'",
        ),
        (
            CONV.replace("max_steps = 200", "max_steps = 200\nstep_size = 0.5"),
            # (and any solver registered with a step_size, e.g. by the README's block)
            r"solver.step_size applies to IHT(, | and )HTP.* only; solver.name is \['NIHT'\]",
        ),
        (
            CONV.replace("max_steps = 200", "max_steps = 200\nlam = 0.01"),
            r"solver.lam applies to FISTA only",
        ),
        (
            '[matrix]\nn = 100000000\ndelta = 0.5\nrho = 0.1\n[run]\nseeds = 4\n',
            r"needs at least 20,000,004,800,000,000 bytes .* of host memory .* available: "
            "reduce the matrix.n",
        ),
    ],
    ids=["pool-window", "max-steps", "seeds", "pool-size-unused", "step-size-unused",
         "lam-unused", "memory"],
)  # fmt: skip
def test_grids_that_cannot_run_are_refused_before_anything_is_written(tmp_path, text, message):
    """Refused in Python before anything is compiled, run or written (no sweep.json: the
    directory stays usable for the corrected grid)."""
    from jaxcs.sweeps import sweep

    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message):
        sweep(text, out, progress=False)
    assert not out.exists()


def test_options_that_apply_to_one_of_the_listed_solvers_are_kept():
    config = load_config(CONV.replace('name = "NIHT"', 'name = ["NIHT", "IHT"]\nstep_size = 0.5'))
    assert config.source["solver"]["step_size"] == 0.5
    # a swept model kind keeps pool_size for its pooling cells (it raised KeyError)
    config = load_config(
        CONV.replace('kind = "block"', 'kind = ["block", "pooling"]').replace(
            "k = [1, 2, 4, 8]", "k = 1"
        )
    )
    assert [dict(c.derived["model_params"]) for c in config.cells[:2]] == [
        {},
        {"pool_size": (2,)},
    ]


def test_summaries_that_cannot_fit_in_host_memory_are_refused(tmp_path, monkeypatch):
    from jaxcs.sweeps import memory, sweep

    monkeypatch.setattr(memory, "_host_memory", lambda: 1_000_000)
    text = CONV.replace("seeds = 16", "seeds = 8192\nper_problem = true")
    with pytest.raises(ConfigError, match=r"run.seeds = 8192 problems per cell need at least "):
        sweep(text, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_corrupt_sweep_record_is_named(tmp_path):
    """A sweep.json that is not JSON: a SweepError naming it (a bare JSONDecodeError)."""
    from jaxcs.sweeps import SweepError, sweep

    (tmp_path / "sweep.json").write_text('{"fingerprint": ')
    with pytest.raises(SweepError, match=r"sweep\.json is not a sweep record \(not valid JSON"):
        sweep(CONV, tmp_path, progress=False)
