"""Sweep-engine throughput: the engine against a plain Python loop over cells, and the cost of
sharding the problem axis over 4 simulated CPU devices against 1 on the same cores.

(a) **Engine vs loop.** A Gaussian phase-transition grid (``n = 128``, ``delta`` × ``rho`` =
3 × 4 cells, ``seeds`` problems per cell, NIHT, ``max_steps = 200``, ``tol = 1e-6``):

- ``engine``: :func:`jaxcs.sweep` in memory (one compiled program per ``m``, a fresh ``Φ`` per
  problem, generated inside the program);
- ``loop``: what a user writes without the engine: for each cell, draw one ``Φ`` and the cell's
  codes with NumPy, and call :func:`jaxcs.recover` on the cell's batch (one ``Φ`` per cell: a
  batched ``recover`` takes one operator). Run twice; the second pass finds every program
  compiled (``loop_warm``);
- ``loop_per_problem``: the engine's semantics (a fresh ``Φ`` per problem) in a loop: one
  ``recover`` call per problem, every program already compiled.

Reported: problems/s end to end (compilation included, as a user waits for it) and in steady
state (the engine's run time without compilation against the warm loop).

(b) **4 devices vs 1.** The same grid with ``--xla_force_host_platform_device_count`` 1 and 4,
each in a fresh process, on the same cores: the engine's run seconds (compilation excluded);
target ``4-device / 1-device ≤ 1.2``.

Usage: ``python benchmarks/sweep_throughput.py [--seeds 64] [--output benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

from harness import alternating, save, timed

GRID = {
    "matrix": {"n": 128, "delta": [0.25, 0.5, 0.75], "rho": [0.1, 0.2, 0.3, 0.4]},
    "solver": {"name": "NIHT", "max_steps": 200, "tol": 1e-6},
}


def grid(seeds: int) -> dict:
    return dict(GRID, run={"seeds": seeds})


def engine(seeds: int) -> dict:
    import jaxcs

    total, result = timed(lambda: jaxcs.sweep(grid(seeds), progress=False))
    groups = result.header["groups"]
    run = sum(g["run_seconds"] for g in groups)
    compile_seconds = sum(g["compile_seconds"] for g in groups)
    problems = sum(row["problems"] for row in result.rows)
    success = sum(row["successes"] for row in result.rows) / problems
    return {
        "seconds": total,
        "run_seconds": run,
        "compile_seconds": compile_seconds,
        "problems": problems,
        "success_rate": success,
        "devices": len(result.header["devices"]),
    }


def loop(seeds: int, *, per_problem: bool = False) -> dict:
    """A Python loop over the grid's cells, problems drawn with NumPy: one ``recover`` call
    per cell on its batch (one Φ per cell), or, ``per_problem``, one call per problem with a
    fresh Φ each (the engine's problems; a batched ``recover`` takes one operator)."""
    import numpy as np

    import jaxcs

    config = jaxcs.load_config(grid(seeds))
    rng = np.random.default_rng(0)

    def run() -> tuple[int, int]:
        successes = problems = 0
        for cell in config.cells:
            m, n, k = cell.derived["m"], cell.params["n"], cell.k
            for batch in [1] * seeds if per_problem else [seeds]:
                phi = rng.normal(size=(m, n)).astype(np.float32) / np.sqrt(m)
                z = np.zeros((batch, n), np.float32)
                for row in z:
                    row[rng.choice(n, k, replace=False)] = rng.normal(size=k)
                solution = jaxcs.recover(
                    jaxcs.MatrixOperator(phi).T,
                    z @ phi.T,
                    jaxcs.TopKModel(k),
                    jaxcs.NIHT(),
                    max_steps=200,
                )
                error = np.linalg.norm(np.asarray(solution.z) - z, axis=1)
                successes += int(np.sum(error / np.linalg.norm(z, axis=1) < 1e-3))
                problems += batch
        return successes, problems

    seconds, (successes, problems) = timed(run)
    return {
        "seconds": seconds,
        "problems": problems,
        "success_rate": successes / problems,
    }


def devices_run(seeds: int, devices: int, round_number: int = 0) -> dict:
    """The engine's figures in a fresh process with ``devices`` simulated CPU devices (the
    round number, passed by :func:`harness.alternating`, plays no part)."""
    del round_number
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
    code += f"import sweep_throughput as b; print(json.dumps(b.engine({seeds})))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=64, help="problems per cell")
    parser.add_argument("--rounds", type=int, default=3, help="device runs per count")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)

    from jaxcs.io import environment

    first_loop = loop(args.seeds)  # compiles one program per (m, capacity)
    warm_loop = loop(args.seeds)
    per_problem = loop(args.seeds, per_problem=True)  # every program compiled by now
    run = engine(args.seeds)
    rate = run["problems"] / run["seconds"]
    steady = run["problems"] / run["run_seconds"]
    a = {
        "engine": run,
        "loop": first_loop,
        "loop_warm": warm_loop,
        "loop_per_problem_warm": per_problem,
        "engine_problems_per_second": rate,
        "engine_problems_per_second_steady": steady,
        "loop_problems_per_second": first_loop["problems"] / first_loop["seconds"],
        "loop_warm_problems_per_second": warm_loop["problems"] / warm_loop["seconds"],
    }
    a["loop_per_problem_warm_problems_per_second"] = (
        per_problem["problems"] / per_problem["seconds"]
    )
    a["ratio_steady_vs_per_problem_loop"] = steady / a["loop_per_problem_warm_problems_per_second"]
    a["ratio_end_to_end"] = rate / a["loop_problems_per_second"]
    a["ratio_steady"] = steady / a["loop_warm_problems_per_second"]
    a["pass_20x_steady"] = a["ratio_steady"] >= 20

    runs = alternating(
        {devices: partial(devices_run, args.seeds, devices) for devices in (1, 4)}, args.rounds
    )
    one = min(r["run_seconds"] for r in runs[1])
    four = min(r["run_seconds"] for r in runs[4])
    b = {
        "runs": {str(d): r for d, r in runs.items()},
        "run_seconds_1_device_best": one,
        "run_seconds_4_devices_best": four,
        "ratio_4_over_1": four / one,
        "ratio_4_over_1_median": sorted(r["run_seconds"] for r in runs[4])[args.rounds // 2]
        / sorted(r["run_seconds"] for r in runs[1])[args.rounds // 2],
    }
    b["pass_at_most_1.2x"] = b["ratio_4_over_1"] <= 1.2
    record = {
        "benchmark": "sweep_throughput",
        "grid": grid(args.seeds),
        "environment": environment(),
        "engine_vs_loop": a,
        "devices_4_vs_1": b,
    }
    print(
        f"(a) engine {rate:.0f} problems/s end to end ({steady:.0f} steady), loop "
        f"{a['loop_problems_per_second']:.0f} (warm {a['loop_warm_problems_per_second']:.0f}): "
        f"{a['ratio_end_to_end']:.1f}× end to end, {a['ratio_steady']:.1f}× steady; "
        f"per-problem loop (fresh Φ, as the engine) "
        f"{a['loop_per_problem_warm_problems_per_second']:.0f}: "
        f"{a['ratio_steady_vs_per_problem_loop']:.1f}×"
    )
    print(
        f"(b) run seconds, 4 simulated devices / 1: {b['ratio_4_over_1']:.2f} (best rounds), "
        f"{b['ratio_4_over_1_median']:.2f} (medians)"
    )
    save(Path(args.output) / f"sweep_throughput_{record['environment']['backend']}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
