"""The timing harness every benchmark script shares (``benchmarks/harness.py``): interleaved
rounds in alternating order, first calls apart from later ones, per-call seconds, medians, paired
ratios, and the JSON record with the machine."""

import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "harness", Path(__file__).parents[1] / "benchmarks" / "harness.py"
)
harness = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(harness)


def test_rounds_alternate_and_pass_the_round_number():
    calls = []
    runs = {name: (lambda r, name=name: calls.append((name, r))) for name in ("a", "b", "c")}
    seconds = harness.interleaved(runs, 3)
    assert calls == [("a", 1), ("b", 1), ("c", 1), ("c", 2), ("b", 2), ("a", 2)] + [
        ("a", 3),
        ("b", 3),
        ("c", 3),
    ]
    assert {name: len(v) for name, v in seconds.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t >= 0 for v in seconds.values() for t in v)


def test_medians_paired_ratio_and_record(tmp_path):
    table = harness.medians({"x": [3.0, 1.0, 2.0], "y": [4.0, 4.0]})
    assert table == {
        "x": {"median": 2.0, "all": [3.0, 1.0, 2.0]},
        "y": {"median": 4.0, "all": [4.0, 4.0]},
    }
    assert harness.paired_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 1.0]) == 3.0
    with pytest.raises(ValueError):
        harness.paired_ratio([1.0], [1.0, 2.0])
    path = harness.save(tmp_path / "deep" / "r.json", {"figure": 1.5})
    record = json.loads(path.read_text())
    assert record["figure"] == 1.5 and record["environment"]["jax"]
    seconds, out = harness.timed(lambda: 7)
    assert out == 7 and seconds >= 0


def test_alternating_keeps_results_and_first_call_apart():
    results = harness.alternating({"one": lambda r: ("one", r), 4: lambda r: (4, r)}, 3)
    assert results == {"one": [("one", 1), ("one", 2), ("one", 3)], 4: [(4, 1), (4, 2), (4, 3)]}
    calls = []
    first, runs, out = harness.first_and_runs(lambda: calls.append(1) or len(calls), 3)
    assert out == 1 and len(calls) == 4 and len(runs) == 3
    assert first >= 0 and all(t >= 0 for t in runs)
    counted = []
    seconds = harness.per_call(lambda: counted.append(1), number=10, repeat=2)
    assert len(counted) == 20 and 0 <= seconds < 1
