"""``operator.filters = "file.npy"``: the file is checked against the grid before anything runs
or is written, and results are keyed on its *contents* (an edited file is never mistaken for
the one earlier results, or a compiled program, came from)."""

import hashlib
import json
import os
import pickle

import numpy as np
import pytest

from jaxcs.sweeps import ConfigError, SweepError, load_config, sweep
from jaxcs.sweeps.table import TIMING


def _grid(path, filter_shape=3, in_channels=2, out_channels=4) -> dict:
    return {
        "operator": {
            "filter_shape": filter_shape,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "in_spatial": 10,
            "filters": str(path),
        },
        "model": {"k": 2},
        "solver": {"name": "IHT", "max_steps": 5},
        "run": {"seeds": 4, "batch": 2},  # two blocks: a kill can land between them
    }


def _filters(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(3, 2, 4)).astype(np.float32)


def _untimed(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.fixture(scope="module")
def filters_path(tmp_path_factory):
    """One path for the module's sweeps (the path is part of the compiled program's key: one
    path keeps the compilations to one per content)."""
    return tmp_path_factory.mktemp("filters") / "w.npy"


# --------------------------------------------------------------------------- item 2: checks
@pytest.mark.parametrize("shape", [(3, 2, 4), (7, 2, 4), (5, 2, 8), (5, 2, 2), (5, 3, 4)])
def test_a_file_of_the_wrong_shape_is_refused_before_anything_is_written(tmp_path, shape):
    path = tmp_path / "w.npy"
    np.save(path, np.ones(shape, np.float32))
    grid = _grid(path, filter_shape=5, in_channels=2, out_channels=4)
    message = (
        f"operator.filters file {str(path)!r} holds filters of shape {shape}; cell 0 needs "
        "(*filter_shape, in_channels, out_channels) = (5, 2, 4)"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(grid)
    assert message in str(caught.value)
    with pytest.raises(ConfigError, match="holds filters of shape"):
        sweep(grid, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_the_right_shape_is_accepted_and_held_read_only(tmp_path):
    path = tmp_path / "w.npy"
    filters = np.random.default_rng(0).normal(size=(5, 2, 4))
    np.save(path, filters)
    config = load_config(_grid(path, filter_shape=5))
    (fixed,) = config.filters.values()
    np.testing.assert_array_equal(fixed.array, filters)
    assert not fixed.array.flags.writeable
    # swept shapes: each cell is checked against the same file
    grid = _grid(path, filter_shape=[5, 3])
    with pytest.raises(ConfigError, match=r"cell 1 needs .* = \(3, 2, 4\)"):
        load_config(grid)


@pytest.mark.parametrize(
    "content, match",
    [
        (np.ones((3, 2, 4), np.int64), "holds int64 values; filters must be floating point"),
        (np.full((3, 2, 4), np.nan, np.float32), "holds 24 non-finite values"),
        (np.full((3, 2, 4), 1e300), r"values up to 1e\+300, beyond run.dtype = 'float32'"),
        (np.full((3, 2, 4), None, object), r"Python objects \(dtype object\)"),
        ("pickle", "not a NumPy .npy file"),
        ("truncated", "cannot read a plain"),
    ],
)
def test_a_file_that_is_not_finite_floats_is_named(tmp_path, content, match):
    path = tmp_path / "w.npy"
    if isinstance(content, np.ndarray):
        np.save(path, content, allow_pickle=True)
    elif content == "pickle":
        path.write_bytes(pickle.dumps(np.ones((3, 2, 4))))
    else:
        np.save(path, np.ones((3, 2, 4)))
        path.write_bytes(path.read_bytes()[:70])
    with pytest.raises(ConfigError, match=match) as caught:
        load_config(_grid(path))
    assert f"operator.filters file {str(path)!r}" in str(caught.value)


def test_the_fingerprint_follows_the_contents(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, _filters(0))
    before = load_config(_grid(path)).fingerprint()
    np.save(path, _filters(0))
    assert load_config(_grid(path)).fingerprint() == before
    np.save(path, _filters(1))
    assert load_config(_grid(path)).fingerprint() != before
    # without a file the fingerprint is the grid's alone (earlier directories still resume)
    gaussian = load_config(_grid("gaussian"))
    text = json.dumps(gaussian.source, sort_keys=True).encode()
    assert gaussian.fingerprint() == hashlib.sha256(text).hexdigest()[:16]


# --------------------------------------------------------------------------- item 5: reuse
def test_an_edited_file_does_not_bring_back_the_old_table(filters_path, tmp_path):
    np.save(filters_path, _filters(0))
    grid = _grid(filters_path)
    first = sweep(grid, tmp_path, progress=False)
    np.save(filters_path, _filters(1))
    with pytest.raises(SweepError, match=f"{filters_path} no longer holds the filters"):
        sweep(grid, tmp_path, progress=False)
    again = sweep(grid, tmp_path, overwrite=True, progress=False)
    assert again.header["last_run"]["computed_blocks"] == 2
    assert _untimed(again.rows) != _untimed(first.rows)
    assert again.header["fingerprint"] != first.header["fingerprint"]


def test_kill_edit_resume_never_mixes_two_filter_sets(filters_path, tmp_path):
    np.save(filters_path, _filters(0))
    grid = _grid(filters_path)
    sweep(grid, tmp_path, progress=False)
    # a run killed after its first block: the second block's file is missing
    (last,) = sorted((tmp_path / "blocks").rglob("*.npz"))[1:]
    last.unlink()
    header = (tmp_path / "sweep.json").read_text()
    np.save(filters_path, _filters(1))
    with pytest.raises(SweepError, match="no longer holds the filters"):
        sweep(grid, tmp_path, progress=False)
    assert not last.exists() and (tmp_path / "sweep.json").read_text() == header


def test_the_compiled_program_is_keyed_on_the_contents(filters_path):
    """Same path, same size, same modification time, other numbers: another program."""
    np.save(filters_path, _filters(0))
    grid = _grid(filters_path)
    first = sweep(grid, progress=False)
    stat = filters_path.stat()
    np.save(filters_path, _filters(1))
    os.utime(filters_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert filters_path.stat().st_size == stat.st_size
    second = sweep(grid, progress=False)
    assert _untimed(second.rows) != _untimed(first.rows)
    np.save(filters_path, _filters(0))
    assert _untimed(sweep(grid, progress=False).rows) == _untimed(first.rows)
