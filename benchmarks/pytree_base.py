"""What the pytree base costs outside compiled code: flatten / unflatten and the dispatch of a
cached ``jax.jit`` call that takes an operator, a model and a solver.

Inside a compiled program the base plays no part (the same leaves, the same program); what a
user can feel is the Python work per call. Two source trees are compared side by side (e.g.
the tree before and after a change of base, ``git worktree add /tmp/before <rev>``): each
round runs one child process per tree (``PYTHONPATH`` set to the tree, pinned with ``taskset``
when given), alternating, and the figures are the medians over rounds.

Usage: ``python benchmarks/pytree_base.py --tree before=/tmp/before --tree after=. [--cpu 0]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from harness import alternating, save

HERE = Path(__file__).resolve().parent
CHILD = r"""
import json
import jax, jax.numpy as jnp, jax.random as jr
import jaxcs
from harness import per_call

w = jaxcs.gaussian_filters(jr.key(0), (5,), 32, 96)
op = jaxcs.ConvOperator(w, (32,))
model = jaxcs.BlockModel(10)
solver = jaxcs.NIHT()
trees = (op, model, solver)


@jax.jit
def touch(op, model, solver):
    return op.filters[0, 0, 0] + model.k


touch(*trees).block_until_ready()
leaves, treedef = jax.tree.flatten(trees)


def per_call_us(fn, number):
    return per_call(fn, number) * 1e6


out = {
    "flatten_us": per_call_us(lambda: jax.tree.flatten(trees), 2000),
    "unflatten_us": per_call_us(lambda: jax.tree.unflatten(treedef, leaves), 2000),
    "jit_dispatch_us": per_call_us(lambda: touch(*trees), 2000),
    "construct_model_us": per_call_us(lambda: jaxcs.BlockModel(10), 2000),
}
print(json.dumps(out))
"""


def _run(tree: Path, cpu: str | None) -> dict:
    # the tree's jaxcs, and the harness beside this script
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(HERE)]), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-c", CHILD]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="label=path")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", default=None, help="taskset CPU list for every child")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    rounds = alternating(
        {
            label: lambda _, path=path: _run(Path(path).resolve(), args.cpu)
            for label, path in trees.items()
        },
        args.rounds,
    )
    medians = {
        label: {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
        for label, runs in rounds.items()
    }
    labels = list(trees)
    first = labels[0]
    ratios = {
        label: {key: medians[label][key] / medians[first][key] for key in medians[first]}
        for label in labels[1:]
    }
    import jax

    record = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpu": args.cpu, "cores": os.cpu_count(), "jax": jax.__version__},
        "trees": trees,
        "rounds": rounds,
        "median_us": medians,
        f"ratio_to_{first}": ratios,
    }
    out = save(Path(args.output) / "pytree_base_cpu.json", record)
    for label in labels:
        print(label, {k: round(v, 2) for k, v in medians[label].items()})
    for label, r in ratios.items():
        print(f"{label} / {first}", {k: round(v, 2) for k, v in r.items()})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
