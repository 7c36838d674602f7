"""XLA's CPU compile time for jaxcs's programs: the default fusion emitters against XLA's loop
emitters (``XLA_FLAGS=--xla_cpu_use_fusion_emitters=false``).

On a CPU, a sweep over many static configurations, or a short session, spends most of its time
compiling. This measures the seconds of the first call (compile and one run) and the median of
later calls (the run alone) of the four recovery solvers (``recover`` on 64 planted codes in
𝓜_3 of a 1-D conv layer l=5, M=32, K=96, D=32) and of one model-RIP Monte Carlo
(``estimate_model_rip``, 2×2 pooling, k=32, on a 16→32-channel 3×3 layer with 16×16 maps), in
a fresh process per XLA setting. The settings alternate round by round (machines are shared and
noisy); figures are medians over rounds, ratios are of those medians. The two settings'
solutions are compared: same statuses and step counts, iterates within float32 rounding.

Usage: ``python benchmarks/cpu_compile_flags.py [--rounds 3] [--output benchmarks/results]``;
pin it to cores with ``taskset -c 0`` to compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from harness import alternating, save

SETTINGS = {
    "fusion_emitters (XLA default)": "",
    "loop_emitters": "--xla_cpu_use_fusion_emitters=false",
}

CHILD = r"""
import json, statistics
import jax, jax.numpy as jnp, jax.random as jr, numpy as np
import jaxcs
from harness import first_and_runs

def timed(fn, repeats=3):
    first, runs, out = first_and_runs(fn, repeats)
    return out, first, statistics.median(runs)

w = jaxcs.gaussian_filters(jr.key(0), (5,), 32, 96)
op = jaxcs.ConvOperator(w, (32,))
model = jaxcs.BlockModel(3)
z = jax.jit(model.sample, static_argnums=(1, 2))(jr.key(1), op.out_shape, (64,))
x = op.rmv(z)
rows, solutions = [], {}
for name, solver in [("IHT", jaxcs.IHT(1.0)), ("NIHT", jaxcs.NIHT()), ("HTP", jaxcs.HTP()),
                     ("CoSaMP", jaxcs.CoSaMP())]:
    sol, first, run = timed(lambda: jaxcs.recover(op, x, model, solver, max_steps=100, tol=1e-5))
    rows.append({"program": f"recover {name}", "first_call_s": first, "run_s": run})
    solutions[name] = {"status": np.asarray(sol.status).tolist(),
                       "num_steps": np.asarray(sol.num_steps).tolist(),
                       "z": np.asarray(sol.z).ravel().tolist()}
layer = jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(2), (3, 3), 16, 32), (16, 16))
pooling = jaxcs.PoolingModel((2, 2), 32)
est, first, run = timed(lambda: jaxcs.estimate_model_rip(jr.key(3), layer, pooling, 512))
rows.append({"program": "estimate_model_rip", "first_call_s": first, "run_s": run})
solutions["rip_mean"] = float(est.ratio_wwt.mean)
print(json.dumps({"rows": rows, "solutions": solutions}))
"""


def run_child(flags: str) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    # the harness beside this script, then whatever the caller had on the path (jaxcs)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")])
    )
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(a: dict, b: dict) -> dict:
    """Same statuses and step counts; largest iterate difference relative to the largest
    iterate."""
    import numpy as np

    same, worst = True, 0.0
    for name, sol in a.items():
        if name == "rip_mean":
            continue
        other = b[name]
        same &= sol["status"] == other["status"] and sol["num_steps"] == other["num_steps"]
        za, zb = np.asarray(sol["z"]), np.asarray(other["z"])
        worst = max(worst, float(np.max(np.abs(za - zb)) / max(np.max(np.abs(za)), 1e-30)))
    rip = abs(a["rip_mean"] - b["rip_mean"]) / abs(a["rip_mean"])
    return {"same_status_and_steps": bool(same), "max_relative_z_difference": worst,
            "rip_mean_relative_difference": rip}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    results = alternating(
        {name: lambda _, flags=flags: run_child(flags) for name, flags in SETTINGS.items()},
        args.rounds,
    )
    base, fast = SETTINGS
    rows = []
    for i, row in enumerate(results[base][0]["rows"]):
        entry = {"program": row["program"]}
        for name in SETTINGS:
            entry[f"{name} first_call_s"] = statistics.median(
                r["rows"][i]["first_call_s"] for r in results[name]
            )
            entry[f"{name} run_s"] = statistics.median(r["rows"][i]["run_s"] for r in results[name])
        entry["first_call_ratio"] = entry[f"{fast} first_call_s"] / entry[f"{base} first_call_s"]
        entry["run_ratio"] = entry[f"{fast} run_s"] / entry[f"{base} run_s"]
        rows.append(entry)
        print(
            f"{row['program']:20s} first call {entry[f'{base} first_call_s']:6.2f} s -> "
            f"{entry[f'{fast} first_call_s']:6.2f} s ({entry['first_call_ratio']:.2f}x), run "
            f"{entry[f'{base} run_s'] * 1e3:7.1f} ms -> {entry[f'{fast} run_s'] * 1e3:7.1f} ms "
            f"({entry['run_ratio']:.2f}x)"
        )
    agreement = compare(results[base][0]["solutions"], results[fast][0]["solutions"])
    print(agreement)

    out = save(
        args.output / "cpu_compile_flags_cpu.json",
        {
            "benchmark": "cpu_compile_flags",
            "settings": SETTINGS,
            "rounds": args.rounds,
            "rows": rows,
            "agreement": agreement,
            "affinity": sorted(os.sched_getaffinity(0)),
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
