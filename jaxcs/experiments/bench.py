"""``jaxcs bench``: solver throughput on the current device at standard sizes.

Two standard problems, each a one-cell sweep run by the sweep engine (so the figures are what a
sweep gets: compiled once, sharded over every local device, fresh operators per problem):

- ``fig2_conv``: the paper's Fig. 2 layer (Gaussian filters ``5 × 32 × 96``, ``D = 32``, valid
  padding), ``BlockModel(10)``, Uniform[−1, 1] non-zeros;
- ``gaussian_200x1000``: a Gaussian ``Φ`` (``m × n = 200 × 1000``, ``N(0, 1/m)``), ``k = 20``,
  ``N(0, 1)`` non-zeros (``delta = 0.2``, ``rho = 0.1``).

For each solver: problems/s and steps/s (problems/s × mean steps), with the success rate (relative
error < 10⁻³), the compile time, and the device. Compilation is timed apart from the
runs, so the figures are steady-state throughput.
"""

from __future__ import annotations

import time

import jax

from jaxcs.io import environment
from jaxcs.sweeps import sweep

SOLVERS = ("IHT", "NIHT", "HTP", "CoSaMP")
PROBLEMS = {
    "fig2_conv": {
        "operator": {
            "filter_shape": 5,
            "in_channels": 32,
            "out_channels": 96,
            "in_spatial": 32,
            "filters": "gaussian",
        },
        "model": {"kind": "block", "k": 10},
    },
    "gaussian_200x1000": {
        "matrix": {"kind": "gaussian", "n": 1000, "delta": 0.2, "rho": 0.1},
    },
}


def bench(*, problems_per_solver: int = 1024, solvers=SOLVERS, max_steps: int = 300) -> dict:
    """Measure every solver on every standard problem; returns a JSON-able record.

    Not jit-able: it compiles and times programs.

    Args:
        problems_per_solver: problems per solver and problem kind (the throughput's batch).
        solvers: solver names.
        max_steps: step budget per problem (``tol = 1e-6``).
    """
    record = {"environment": environment(), "problems_per_solver": problems_per_solver}
    results = {}
    for name, problem in PROBLEMS.items():
        config = dict(problem)
        config["solver"] = {"name": list(solvers), "max_steps": max_steps}
        config["run"] = {"seeds": problems_per_solver}
        started = time.perf_counter()
        result = sweep(config, progress=False)  # compile time is measured apart
        rows, header = result.rows, result.header
        results[name] = {
            row["solver"]: {
                "problems_per_second": row["problems_per_second"],
                "steps_per_second": row["problems_per_second"] * row["num_steps_mean"],
                "success_rate": row["success_rate"],
                "num_steps_mean": row["num_steps_mean"],
                "compile_seconds": next(
                    g.get("compile_seconds") for g in header["groups"] if g["solver"] == solver
                ),
            }
            for row, solver in ((r, r["solver"]) for r in rows)
        }
        results[name]["seconds"] = time.perf_counter() - started
    record["results"] = results
    record["devices"] = [str(d) for d in jax.local_devices()]
    return record


def format_bench(record: dict) -> str:
    """The record as a text table."""
    lines = [f"device: {record['devices'][0]} (× {len(record['devices'])})"]
    head = f"{'problem':<20}{'solver':<8}{'problems/s':>12}{'steps/s':>12}{'success':>9}"
    lines.append(head)
    for problem, solvers in record["results"].items():
        for solver, r in solvers.items():
            if solver == "seconds":
                continue
            lines.append(
                f"{problem:<20}{solver:<8}{r['problems_per_second']:>12.1f}"
                f"{r['steps_per_second']:>12.0f}{r['success_rate']:>9.3f}"
            )
    return "\n".join(lines)


__all__ = ["bench", "format_bench"]
