"""RIPEstimate to and from JSON: every field round-trips exactly (histograms, statistics, the δ
kind, ``method``, ``eigen_method``, status, kept samples, ``extra``), vmapped batches and
non-finite values included, and the text is strict JSON."""

from __future__ import annotations

import json
import math
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.analysis.rip import RIPEstimate, sample_model_rip


@pytest.fixture(scope="module")
def op():
    return jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4), (10,))


def assert_same_estimate(found, expected):
    """Same treedef (statics included: method, eigen_method, histogram ranges) and every leaf
    of the same dtype, shape and value (NaN where NaN)."""
    found_leaves, found_def = jax.tree.flatten(found)
    expected_leaves, expected_def = jax.tree.flatten(expected)
    assert found_def == expected_def
    assert found.method == expected.method and found.eigen_method == expected.eigen_method
    for a, b in zip(found_leaves, expected_leaves, strict=True):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        assert np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def strict_loads(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "options",
    [
        dict(method="gram", eigenvalues=True, keep_samples=True, full_ratio=True),
        dict(method="conv", eigenvalues=False),
        dict(method="gram", eigenvalues=True, eigen_method="lanczos", lanczos_steps=4),
    ],
    ids=["dense-kept-full", "conv-no-eigen", "lanczos"],
)
def test_round_trip_is_exact(op, options, tmp_path):
    est = jaxcs.estimate_model_rip(jr.key(1), op, jaxcs.BlockModel(2), 40, **options)
    text = est.to_json()
    data = strict_loads(text)
    assert data["format"] == "jaxcs.RIPEstimate" and data["method"] == options["method"]
    assert data["delta_kind"] == est.delta_kind
    assert data["summary"]["method"] == options["method"]
    assert_same_estimate(RIPEstimate.from_dict(data), est)
    path = est.to_json(tmp_path / "est.json")
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    loaded = RIPEstimate.from_json(path)
    assert_same_estimate(loaded, est)
    assert loaded.delta_kind == est.delta_kind
    assert float(loaded.delta_lower_bound) == float(est.delta_lower_bound)
    assert repr(loaded) == repr(est)
    if options.get("eigen_method") == "lanczos":
        assert loaded.eig_residual is not None and loaded.eigen_method == "lanczos"


def test_vmapped_batch_round_trips(op, tmp_path):
    keys = jr.split(jr.key(2), 3)
    batch = jax.vmap(lambda k: jaxcs.estimate_model_rip(k, op, jaxcs.BlockModel(2), 16))(keys)
    loaded = RIPEstimate.from_json(batch.to_json(tmp_path / "batch.json"))
    assert_same_estimate(loaded, batch)
    assert loaded.ratio_wt.histogram.shape == batch.ratio_wt.histogram.shape == (3, 400)
    assert json.loads(batch.to_json())["batch_shape"] == [3]
    assert loaded.summary() == batch.summary()


def test_extra_quantities_round_trip(op):
    model = jaxcs.BlockModel(2)

    def extra(code):
        return {"l1": jnp.sum(jnp.abs(code.values), axis=-1)}

    run = jax.jit(
        partial(
            sample_model_rip,
            method="gram",
            eigenvalues=False,
            full_ratio=False,
            chunk_size=8,
            distribution="uniform",
            histogram_range=(0.0, 4.0),
            bins=50,
            keep_samples=20,
            extra=extra,
        )
    )
    est = run(jr.key(3), op, model, 20)
    assert est.extra is not None and "l1" in est.samples
    assert_same_estimate(RIPEstimate.from_dict(json.loads(est.to_json())), est)


def test_nonfinite_values_survive_as_strict_json(op):
    """A NaN filter: NONFINITE status, statistics without finite samples (min +inf, max −inf,
    NaN means) and NaN samples; all written as strings, all read back."""
    bad = op.replace(filters=op.filters.at[0, 0, 0].set(jnp.nan))
    est = jaxcs.estimate_model_rip(jr.key(4), bad, jaxcs.BlockModel(2), 12, keep_samples=True)
    assert est.summary()["status"] == "NONFINITE"
    assert float(est.ratio_wt.min) == math.inf and float(est.ratio_wt.max) == -math.inf
    text = est.to_json()
    data = strict_loads(text)  # no bare NaN / Infinity tokens
    assert "NaN" in data["fields"]["samples"]["dict"]["ratio_wt"]["data"]
    stats = data["fields"]["ratio_wt"]["statistics"]
    assert stats["min"]["data"] == ["Infinity"] and stats["max"]["data"] == ["-Infinity"]
    assert data["summary"]["delta_lower_bound"] == "NaN"
    loaded = RIPEstimate.from_dict(data)
    assert_same_estimate(loaded, est)
    assert np.isnan(loaded.delta_lower_bound)


def test_float64_round_trips_exactly(x64, op):
    op64 = op.replace(filters=jnp.asarray(op.filters, jnp.float64) / 3)
    est = jaxcs.estimate_model_rip(jr.key(5), op64, jaxcs.BlockModel(2), 16)
    assert est.ratio_wt.mean.dtype == jnp.float64
    assert_same_estimate(RIPEstimate.from_dict(json.loads(est.to_json())), est)


@pytest.mark.parametrize(
    "data, match",
    [
        ({"format": "something else"}, "not a saved RIPEstimate"),
        ([1, 2], "not a saved RIPEstimate"),
        ({"format": "jaxcs.RIPEstimate", "version": 99}, "version"),
        ({"format": "jaxcs.RIPEstimate", "version": 1, "fields": {}}, "lacks the fields"),
    ],
)
def test_bad_files_are_refused(data, match):
    with pytest.raises(ValueError, match=match):
        RIPEstimate.from_dict(data)


def test_to_dict_inside_a_trace_is_refused(op):
    model = jaxcs.BlockModel(2)

    @jax.jit
    def inside(key):
        jaxcs.estimate_model_rip(key, op, model, 8).to_dict()
        return 0

    with pytest.raises(TypeError, match="concrete values"):
        inside(jr.key(0))


@pytest.fixture(scope="module")
def saved(op) -> dict:
    est = jaxcs.estimate_model_rip(jr.key(6), op, jaxcs.BlockModel(2), 8, method="gram")
    return json.loads(est.to_json())


def _edit(data: dict, path: str, value):
    """``data`` with the entry at the dotted ``path`` replaced by ``value``."""
    data = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


@pytest.mark.parametrize(
    "path, value, match",
    [
        ("method", "fourier", r"key 'method' must be one of \['gram', 'conv', None\]; got 'fou"),
        ("eigen_method", "qr", r"key 'eigen_method' must be one of \['dense', 'lanczos', None\]"),
        ("fields", [1], "key 'fields' must be a dict"),
        ("fields.ratio_wt.statistics.mean.dtype", "object", "'ratio_wt.mean': dtype must be a num"),
        ("fields.ratio_wt.statistics.mean.dtype", "no-such-type", "'ratio_wt.mean': dtype must be"),
        ("fields.ratio_wt.statistics.mean.shape", [2], "'ratio_wt.mean': data must be a list of 2"),
        ("fields.ratio_wt.statistics.mean.shape", [-1], "'ratio_wt.mean': shape must be a list"),
        ("fields.ratio_wt.statistics.mean.data", ["x"], "'ratio_wt.mean': data of dtype float32"),
        ("fields.ratio_wt.statistics.count.data", [1.5], "'ratio_wt.count': data of dtype int32"),
        ("fields.ratio_wt.statistics.count.data", [2**40], "'ratio_wt.count': data of dtype int32"),
        ("fields.ratio_wt.statistics.mean", {"dtype": "float32"}, r"lacks \['shape', 'data'\]"),
        ("fields.ratio_wt.histogram_range", [2.0, 1.0], "histogram_range must be two numbers"),
        ("fields.status.data", [77], r"field 'status' holds \[77\], not Status codes"),
        ("fields.status.dtype", "float32", "field 'status' must be int32"),
        ("fields.num_samples.data", [-3], "'num_samples' must be >= 0"),
    ],
)  # fmt: skip
def test_hand_edited_files_are_refused_naming_the_key(saved, path, value, match):
    """Every field is checked: a dtype "object" raised TypeError and an unknown method was
    accepted; a float in an int field was truncated silently."""
    with pytest.raises(ValueError, match=match):
        RIPEstimate.from_dict(_edit(saved, path, value))


def test_from_json_names_the_file(saved, tmp_path):
    bad = tmp_path / "est.json"
    bad.write_text('{"format": "jaxcs.RIPEstimate", ')
    with pytest.raises(ValueError, match=rf"{bad}: not a saved RIPEstimate \(not JSON"):
        RIPEstimate.from_json(bad)
    bad.write_text(json.dumps(_edit(saved, "method", "fourier")))
    with pytest.raises(ValueError, match=rf"{bad}: saved RIPEstimate key 'method'"):
        RIPEstimate.from_json(bad)
