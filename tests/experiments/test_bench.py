"""``jaxcs bench``: a record per standard problem and solver, readable as a table."""

import importlib
import json

from jaxcs.cli import main
from jaxcs.experiments import bench, format_bench


def test_bench_record_and_cli(tmp_path, capsys, monkeypatch):
    benchmark = importlib.import_module(
        "jaxcs.experiments.bench"
    )  # the module: the name is bench()

    assert set(benchmark.PROBLEMS) == {"fig2_conv", "gaussian_200x1000"}
    small = {  # the same two kinds of problem at test sizes (compile time)
        "fig2_conv": {
            "operator": {"filter_shape": 3, "in_channels": 2, "out_channels": 6, "in_spatial": 12},
            "model": {"kind": "block", "k": 2},
        },
        "gaussian_200x1000": {"matrix": {"n": 40, "delta": 0.5, "rho": 0.1}},
    }
    monkeypatch.setattr(benchmark, "PROBLEMS", small)
    record = bench(problems_per_solver=2, solvers=("NIHT",), max_steps=3)
    assert set(record["results"]) == {"fig2_conv", "gaussian_200x1000"}
    for problem in record["results"].values():
        r = problem["NIHT"]
        assert r["problems_per_second"] > 0 and 0 <= r["success_rate"] <= 1
        assert r["steps_per_second"] == r["problems_per_second"] * r["num_steps_mean"]
        assert r["num_steps_mean"] <= 3 and r["compile_seconds"] > 0
    text = format_bench(record)
    assert "fig2_conv" in text and "NIHT" in text and "problems/s" in text
    monkeypatch.setattr("jaxcs.experiments.bench", lambda **kw: record)
    assert main(["bench", "--output", str(tmp_path)]) == 0
    (saved,) = tmp_path.glob("bench_cpu_*.json")
    assert json.loads(saved.read_text())["results"] == record["results"]
    assert "saved:" in capsys.readouterr().out
