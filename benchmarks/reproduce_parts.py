"""The heavy parts of ``jaxcs reproduce``, one by one: the CNN training step and, per block of
the analysed network, the pieces that Fig. 3, Table 3 and Theorem 3.3 call.

Measured side by side in one run, interleaved round by round after a warm-up call that compiles
each (machines are shared and noisy; each figure is the median over rounds, the ratios are of
those medians; every timed call ends in ``jax.block_until_ready``):

1. ``training_step``: :func:`jaxcs.experiments.networks.make_train_step` for
   ``NetworkConfig((32, 32, 32), 3, 18)`` at learning rate 1e-3 on one batch of 64 × 32 × 32 × 3,
   against the rival an expert would write, ``FlaxRival``: the same architecture with plain
   ``flax.linen.Conv(padding="SAME")`` + ReLU + ``BatchNorm`` + ``nn.max_pool`` + ``Dense`` and
   the same ``optax.adam`` step. Also the frozen-filter step (``frozen_filters=True``: no
   gradient reaches the convolutions) against the learned one. Targets: jaxcs / Flax ≥ 0.9;
   frozen faster than learned.
2. ``parts``: on the analysed network of ``ReproduceSetup()`` (width 32, 3 blocks, 32 × 32
   patches, filter size 3), untrained (:func:`jaxcs.experiments.networks.initialize`), its
   activations on 64 random normal inputs, each block's ``W`` as :func:`jaxcs.experiments.evidence.
   layer_operators` builds it (``"same"``, unit-norm filters), and ``k`` = 60 % of the block's
   2 × 2 regions (the layer's measured ``k`` of a real run is of that order). Per block:

   - ``estimate_model_rip``: 1000 codes of ``PoolingModel((2, 2), k)``, ``method="conv"``,
     ``eigenvalues=False``, ``keep_samples=True`` (Fig. 3's sampled ratios);
   - ``algorithm2``: 16 inputs, ``max_steps=300``, λ as Fig. 3 takes it (5 % of ``2 max|Wx|``);
   - ``one_step_reconstruction`` on the 64 inputs (non-negative model, Table 3), against
     ``numpy_one_step``, the same step in NumPy, batched (convolution as an im2col matmul, 2 × 2
     argmax pooling by ``reshape``, the ``k`` largest by ``np.argpartition``, the transposed
     convolution as the adjoint matmul and a col2im sum); the two must agree (relative
     difference < 1e-4);
   - ``niht``: ``recover(op, x, model, NIHT(), max_steps=100, tol=1e-5)`` (Table 3) on all
     64 inputs. (Before this benchmark, the ray projection of NIHT's step-size search ranked its
     ``2 · capacity`` candidates by pairwise comparison, O(capacity²) time and memory: 32 GB at
     block 0. It now sorts beyond ``jaxcs.models.ray.PAIRWISE_RANK_LIMIT`` candidates.);
   - ``ray_projection``: one ``project_ray(...).at(μ)`` (what NIHT's search calls per trial
     step size) against one ``project_sparse`` of the formed sum, on one code: the diagnosis
     of the ``niht`` figure;
   - ``model_rip_bracket``: ``num_samples=128`` (Fig. 3 and Theorem 3.3 call it).

The full ``jaxcs reproduce`` is not run here.

On 2 shared cores the whole run takes ~6 minutes; ``--sections`` and ``--blocks`` measure a part
of it and ``--merge`` puts those figures into an existing output file (``runs`` lists every
invocation merged into it; a later one replaces the sections and blocks it measured).

Usage: ``python benchmarks/reproduce_parts.py [--quick] [--rounds 5] [--sections
training,parts] [--blocks 0,1,2] [--merge] [--output
benchmarks/results/reproduce_parts_cpu.json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from functools import partial
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from harness import interleaved, save, timed

from jaxcs.analysis import estimate_model_rip, model_rip_bracket, one_step_reconstruction
from jaxcs.experiments import evidence
from jaxcs.experiments.networks import (
    NetworkConfig,
    classifier_train_step,
    initialize,
    make_train_step,
)
from jaxcs.experiments.reproduce import ReproduceSetup
from jaxcs.io import environment
from jaxcs.models import PoolingModel, project_ray
from jaxcs.solvers import NIHT, algorithm2, recover

POOL = (2, 2)
K_FRACTION = 0.6
TRAIN_TARGET = 0.9  # jaxcs steps/s ÷ Flax steps/s
AGREEMENT_TOLERANCE = 1e-4


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What each part runs on (``full()``: the brief's sizes; ``quick()``: a smoke test)."""

    widths: tuple[int, ...]
    patch_size: int
    num_classes: int
    train_batch: int
    train_steps: int  # steps per timed call
    inputs: int  # analysis inputs (one-step, NIHT)
    rip_samples: int
    algorithm2_inputs: int
    algorithm2_steps: int
    niht_steps: int
    bracket_samples: int

    @classmethod
    def full(cls) -> Sizes:
        setup = ReproduceSetup()
        return cls(
            widths=setup.analysed(False).widths, patch_size=setup.patch_size,
            num_classes=setup.num_classes, train_batch=64, train_steps=10,
            inputs=setup.analysis_examples, rip_samples=setup.fig3_samples,
            algorithm2_inputs=setup.algorithm2_examples, algorithm2_steps=setup.algorithm2_steps,
            niht_steps=setup.niht_steps, bracket_samples=setup.bracket_samples,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            widths=(4,), patch_size=8, num_classes=4, train_batch=8, train_steps=2, inputs=4,
            rip_samples=50, algorithm2_inputs=2, algorithm2_steps=20, niht_steps=5,
            bracket_samples=8,
        )  # fmt: skip


# ------------------------------------------------------------------------ 1. training step
class FlaxRival(nn.Module):
    """The small CNN as an expert writes it in plain Flax: per block ``nn.Conv("SAME")`` →
    ReLU → ``nn.BatchNorm`` → 2 × 2 ``nn.max_pool``, then ``nn.Dense``."""

    widths: tuple[int, ...]
    filter_size: int
    num_classes: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        l = self.filter_size
        for width in self.widths:
            x = nn.Conv(width, (l, l), padding="SAME")(x)
            x = nn.relu(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = nn.max_pool(x, POOL, strides=POOL, padding="VALID")
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


def flax_train_step(module: nn.Module, learning_rate: float):
    """The same Adam step on the softmax cross-entropy as :func:`make_train_step`."""
    return classifier_train_step(module, learning_rate)


def bench_training(sizes: Sizes, rounds: int) -> dict:
    shape = (sizes.patch_size, sizes.patch_size, 3)
    key_x, key_y, key_init = jr.split(jr.key(10), 3)
    x = jr.normal(key_x, (sizes.train_batch, *shape))
    y = jr.randint(key_y, (sizes.train_batch,), 0, sizes.num_classes)
    learning_rate = 1e-3
    states = {}
    for name, frozen in (("jaxcs", False), ("jaxcs_frozen", True)):
        config = NetworkConfig(sizes.widths, 3, sizes.num_classes, frozen)
        step, optimizer = make_train_step(config, learning_rate)
        variables = initialize(key_init, config, shape)
        states[name] = [step, variables, optimizer.init(variables["params"])]
    rival = FlaxRival(sizes.widths, 3, sizes.num_classes)
    step, optimizer = flax_train_step(rival, learning_rate)
    variables = dict(rival.init(key_init, jnp.zeros((1, *shape)), train=False))
    states["flax"] = [step, variables, optimizer.init(variables["params"])]
    names = ("flax", "jaxcs", "jaxcs_frozen")

    losses = {}

    def run(name, _round=0):
        step, variables, opt_state = states[name]
        for _ in range(sizes.train_steps):
            variables, opt_state, loss = step(variables, opt_state, x, y)
        jax.block_until_ready((variables, loss))
        states[name][1:] = [variables, opt_state]
        losses[name] = float(loss)

    first = {name: timed(partial(run, name))[0] for name in names}  # compile + warm up
    calls = interleaved({name: partial(run, name) for name in names}, rounds)
    times = {name: [t / sizes.train_steps for t in v] for name, v in calls.items()}
    median = {name: statistics.median(v) for name, v in times.items()}
    speed = {name: 1 / median[name] for name in names}
    return {
        "setup": {
            "widths": list(sizes.widths),
            "filter_size": 3,
            "num_classes": sizes.num_classes,
            "batch": [sizes.train_batch, *shape],
            "learning_rate": learning_rate,
            "optimizer": "optax.adam",
            "steps_per_timed_call": sizes.train_steps,
            "rounds": rounds,
        },
        "rival": "FlaxRival: flax.linen.Conv(padding='SAME') + relu + BatchNorm + max_pool + "
        "Dense, the same optax.adam step",
        "seconds_per_step": {name: {"median": median[name], "all": v} for name, v in times.items()},
        "steps_per_second": speed,
        "first_call_seconds": first,
        "ratio_jaxcs_vs_flax": speed["jaxcs"] / speed["flax"],
        "target_min_ratio_jaxcs_vs_flax": TRAIN_TARGET,
        "ratio_frozen_vs_learned": speed["jaxcs_frozen"] / speed["jaxcs"],
        "loss_after_timing": losses,
    }


# ------------------------------------------------------------------------ 2. report parts
def numpy_one_step(w: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """``Wᵀ 𝕄(W x, k)`` for a batch, in NumPy: ``"same"`` padding, stride 1, non-negative
    2 × 2 pooling model (ReLU, argmax switches, the ``k`` largest regions kept).

    Args:
        w: ``(l, l, M, K)`` filters (odd ``l``); x: ``(B, H, W, M)``, ``H`` and ``W`` even.
    """
    l, _, M, K = w.shape
    B, H, W, _ = x.shape
    p = l // 2
    w2 = w.reshape(l * l * M, K)
    xp = np.pad(x, ((0, 0), (p, l - 1 - p), (p, l - 1 - p), (0, 0)))
    cols = np.concatenate([xp[:, a : a + H, b : b + W] for a in range(l) for b in range(l)], -1)
    v = (cols.reshape(-1, l * l * M) @ w2).reshape(B, H // 2, 2, W // 2, 2, K)
    cells = v.transpose(0, 1, 3, 5, 2, 4).reshape(B, -1, 4)  # (B, regions, 2·2)
    switch = cells.argmax(-1)
    value = np.maximum(np.take_along_axis(cells, switch[..., None], -1)[..., 0], 0)
    top = np.argpartition(value, value.shape[1] - k, axis=1)[:, -k:]
    kept = np.zeros_like(value)
    np.put_along_axis(kept, top, np.take_along_axis(value, top, 1), 1)
    code = np.where(np.arange(4) == switch[..., None], kept[..., None], 0).astype(x.dtype)
    code = code.reshape(B, H // 2, W // 2, K, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    g = (code.reshape(-1, K) @ w2.T).reshape(B, H, W, l, l, M)
    out = np.zeros_like(xp)
    for a in range(l):
        for b in range(l):
            out[:, a : a + H, b : b + W] += g[:, :, :, a, b]
    return out[:, p : p + H, p : p + W]


def niht_plan(capacity: int, inputs: int, steps: int) -> tuple[int, int]:
    """``(inputs, max_steps)`` of the timed NIHT call: all of them (the ray ranking sorts
    beyond ``PAIRWISE_RANK_LIMIT`` candidates, so no budget cut is needed)."""
    del capacity
    return inputs, steps


def analysed_blocks(sizes: Sizes):
    """The analysed network (untrained), its blocks' arrays on random inputs, and each block's
    normalised ``W``."""
    config = NetworkConfig(sizes.widths, 3, sizes.num_classes)
    shape = (sizes.patch_size, sizes.patch_size, 3)
    variables = initialize(jr.key(0), config, shape)
    x = jr.normal(jr.key(1), (sizes.inputs, *shape))
    blocks, _ = config.module().apply(variables, x, method="activations")
    ops = evidence.layer_operators(jr.key(2), variables, blocks)
    return config, blocks, [o["learned"] for o in ops]


def block_calls(i: int, op, block: dict, sizes: Sizes) -> tuple[list[dict], dict, dict]:
    """The timed calls of block ``i``: ``(entries, calls, extra)`` with ``calls[name](seed)``
    run in the rounds, each entry the JSON row (without timings) of one or two of them, and
    ``extra`` what the last calls found (steps taken, means, the bracket)."""
    regions = PoolingModel(POOL).num_regions(op.out_shape)
    k = max(1, round(K_FRACTION * regions))
    signed, relu = PoolingModel(POOL, k), PoolingModel(POOL, k, nonnegative=True)
    capacity = relu.num_slots(op.out_shape)
    x = jnp.asarray(block["input"])
    x_alg2 = x[: sizes.algorithm2_inputs]
    lam = evidence.algorithm2_lambda(op, x_alg2, 0.05)
    niht_inputs, niht_steps = niht_plan(capacity, len(x), sizes.niht_steps)
    x_niht = x[:niht_inputs]
    w_np, x_np = np.asarray(op.filters), np.asarray(x)
    common = {
        "block": i,
        "layer": evidence.layer_name(i),
        "input_shape": list(op.in_shape),
        "code_shape": list(op.out_shape),
        "filters": list(op.filters.shape),
        "regions": regions,
        "k": k,
        "capacity": capacity,
    }
    # one code and a gradient for the ray diagnosis (NIHT's second step: z = 𝕄(Wx), g = W r)
    code = relu.project_sparse(op.mv(x[0]))
    g = op.mv(x[0] - op.rmv(code.to_dense()))
    ray_at = jax.jit(lambda code, g, mu: project_ray(relu, code, g).at(mu).values)
    dense_at = jax.jit(lambda code, g, mu: relu.project_sparse(code.add_to(mu * g)).values)
    extra: dict = {}

    def rip(seed):
        est = estimate_model_rip(
            jr.key(seed), op, signed, sizes.rip_samples, method="conv", eigenvalues=False,
            keep_samples=True, progress=False,
        )  # fmt: skip
        jax.block_until_ready(est)
        extra["rip_mean_ratio_wt"] = float(est.ratio_wt.mean)

    def alg2(seed):
        found = jax.block_until_ready(
            algorithm2(op, x_alg2, signed, lam, max_steps=sizes.algorithm2_steps)
        )
        extra["alg2_num_steps_mean"] = float(jnp.mean(found.num_steps))

    def one_step(seed):
        jax.block_until_ready(one_step_reconstruction(op, x, relu))

    def one_step_numpy(seed):
        numpy_one_step(w_np, x_np, k)

    def niht(seed):
        solution = recover(op, x_niht, relu, NIHT(), max_steps=niht_steps, tol=1e-5)
        jax.block_until_ready(solution)
        extra["niht_num_steps_mean"] = float(jnp.mean(solution.num_steps))
        extra["niht_num_steps_max"] = int(jnp.max(solution.num_steps))

    def ray(seed):
        jax.block_until_ready(ray_at(code, g, 1.0))

    def dense(seed):
        jax.block_until_ready(dense_at(code, g, 1.0))

    def bracket(seed):
        found = model_rip_bracket(
            jr.key(seed), op, signed, num_samples=sizes.bracket_samples, progress=False
        )
        extra["bracket"] = evidence.bracket_summary(found)

    calls = {
        "estimate_model_rip": rip,
        "algorithm2": alg2,
        "one_step_reconstruction": one_step,
        "one_step_numpy": one_step_numpy,
        "niht": niht,
        "ray_projection": ray,
        "dense_projection": dense,
        "model_rip_bracket": bracket,
    }
    ours = np.asarray(one_step_reconstruction(op, x, relu))
    theirs = numpy_one_step(w_np, x_np, k)
    agreement = float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))
    entries = [
        common
        | {
            "part": "estimate_model_rip",
            "num_samples": sizes.rip_samples,
            "model": "PoolingModel((2, 2), k)",
            "options": {"method": "conv", "eigenvalues": False, "keep_samples": True},
            "calls": ["estimate_model_rip"],
        },
        common
        | {
            "part": "algorithm2",
            "inputs": len(x_alg2),
            "max_steps": sizes.algorithm2_steps,
            "model": "PoolingModel((2, 2), k)",
            "lambda": lam,
            "calls": ["algorithm2"],
        },
        common
        | {
            "part": "one_step_reconstruction",
            "inputs": len(x),
            "model": "PoolingModel((2, 2), k, nonnegative=True)",
            "rival": "numpy_one_step (im2col matmul, reshape pooling, argpartition, adjoint "
            "matmul + col2im)",
            "relative_difference_vs_numpy": agreement,
            "agreement_tolerance": AGREEMENT_TOLERANCE,
            "agrees": agreement < AGREEMENT_TOLERANCE,
            "calls": ["one_step_reconstruction", "one_step_numpy"],
        },
        common
        | {
            "part": "niht",
            "inputs": niht_inputs,
            "max_steps": niht_steps,
            "requested": {"inputs": len(x), "max_steps": sizes.niht_steps},
            "model": "PoolingModel((2, 2), k, nonnegative=True)",
            "options": {"solver": "NIHT()", "tol": 1e-5},
            "ray_candidates": 2 * capacity,
            "calls": ["niht"],
        },
        common
        | {
            "part": "ray_projection",
            "what": "one project_ray(model, z, g).at(mu) against one "
            "model.project_sparse(z.add_to(mu * g)), one code",
            "calls": ["ray_projection", "dense_projection"],
        },
        common
        | {
            "part": "model_rip_bracket",
            "num_samples": sizes.bracket_samples,
            "model": "PoolingModel((2, 2), k)",
            "calls": ["model_rip_bracket"],
        },
    ]
    return entries, calls, extra


def bench_parts(sizes: Sizes, rounds: int, which: list[int]) -> list[dict]:
    _, blocks, ops = analysed_blocks(sizes)
    which = [i for i in which if i < len(blocks)]
    plans = {i: block_calls(i, ops[i], blocks[i], sizes) for i in which}
    runs = {(i, name): fn for i, (_, calls, _) in plans.items() for name, fn in calls.items()}
    first = {key: timed(partial(fn, 0))[0] for key, fn in runs.items()}  # compile + warm up
    times = interleaved(runs, rounds)
    rows = []
    for i, (entries, _, extra) in plans.items():
        median = {name: statistics.median(times[i, name]) for (j, name) in times if j == i}
        for entry in entries:
            row = {key: value for key, value in entry.items() if key != "calls"}
            row["seconds"] = {
                name: {"median": median[name], "all": times[i, name]} for name in entry["calls"]
            }
            row["first_call_seconds"] = {name: first[i, name] for name in entry["calls"]}
            part = entry["part"]
            if part == "estimate_model_rip":
                row["samples_per_second"] = entry["num_samples"] / median[part]
                row["mean_ratio_wt"] = extra["rip_mean_ratio_wt"]
            elif part == "algorithm2":
                row["num_steps_mean"] = extra["alg2_num_steps_mean"]
            elif part == "one_step_reconstruction":
                row["ratio_jaxcs_vs_numpy"] = median["one_step_numpy"] / median[part]
            elif part == "niht":
                # a vmapped while loop runs until its slowest member stops: per input and
                # step taken by the slowest
                steps = extra["niht_num_steps_max"]
                row["num_steps_mean"] = extra["niht_num_steps_mean"]
                row["num_steps_max"] = steps
                row["seconds_per_input_step"] = median[part] / (entry["inputs"] * steps)
                row["extrapolated_seconds_64_inputs_100_steps"] = (
                    row["seconds_per_input_step"] * 64 * 100
                )
            elif part == "ray_projection":
                row["ratio_ray_vs_dense"] = median["ray_projection"] / median["dense_projection"]
            elif part == "model_rip_bracket":
                row["bracket"] = extra["bracket"]
            rows.append(row)
    return rows


# ------------------------------------------------------------------------ main
NOTES = (
    "Medians over interleaved rounds after a compiling warm-up call; ratios are of medians and "
    "are speeds (above 1: jaxcs faster), except ratio_ray_vs_dense (a time ratio). The parts "
    "use an untrained network's normalised filters and activations on random normal inputs, "
    "k = 60 % of each block's 2 x 2 regions. NIHT is timed on all 64 inputs x 100 steps: the "
    "ray projection's ranking sorts beyond PAIRWISE_RANK_LIMIT candidates (it was pairwise, "
    "O(capacity^2) memory, 32 GB at block 0, before this issue). The full reproduce is timed "
    "by its own stages (examples/report/report.json, timings)."
)


def merge(path: Path, result: dict) -> dict:
    """Put this run's sections into the file at ``path`` (when it exists)."""
    if not path.exists():
        return result
    old = json.loads(path.read_text())
    if old.get("quick") != result["quick"]:
        raise SystemExit(f"{path} holds a {'quick' if old.get('quick') else 'full'} run")
    if "training_step" in result:
        old["training_step"] = result["training_step"]
    if "parts" in result:
        blocks = {row["block"] for row in result["parts"]}
        kept = [row for row in old.get("parts", []) if row["block"] not in blocks]
        old["parts"] = sorted(kept + result["parts"], key=lambda row: row["block"])
    old["environment"] = result["environment"]
    old["runs"] = old.get("runs", []) + result["runs"]
    old["notes"] = result["notes"]
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 2)")
    parser.add_argument("--sections", default="training,parts", help="training and/or parts")
    parser.add_argument("--blocks", default="0,1,2", help="blocks of the parts to measure")
    parser.add_argument("--merge", action="store_true", help="update an existing --output")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "reproduce_parts_cpu.json")
    )
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    if not sections or not sections <= {"training", "parts"}:
        raise SystemExit(f"--sections must name training and/or parts; got {args.sections!r}")
    blocks = sorted({int(b) for b in args.blocks.split(",") if b.strip()})
    sizes = Sizes.quick() if args.quick else Sizes.full()
    rounds = args.rounds or (2 if args.quick else 5)
    started = time.perf_counter()
    env = environment()
    result: dict = {"benchmark": "reproduce_parts", "environment": env, "quick": args.quick}
    if "training" in sections:
        result["training_step"] = bench_training(sizes, rounds)
    if "parts" in sections:
        result["parts"] = bench_parts(sizes, rounds, blocks)
    result["notes"] = NOTES
    result["runs"] = [
        {
            "sections": sorted(sections),
            "blocks": blocks if "parts" in sections else [],
            "rounds": rounds,
            "seconds": time.perf_counter() - started,
            "load_average_at_end": list(os.getloadavg()),
        }
    ]
    path = Path(args.output)
    if args.merge:
        result = merge(path, result)
    save(path, result)
    if "training" in sections:
        t = result["training_step"]
        speed = {name: round(v, 2) for name, v in t["steps_per_second"].items()}
        print(f"training steps/s {speed}")
        print(
            f"jaxcs / flax: {t['ratio_jaxcs_vs_flax']:.3f} (target >= {TRAIN_TARGET}); "
            f"frozen / learned: {t['ratio_frozen_vs_learned']:.2f}"
        )
    for row in result.get("parts", []) if "parts" in sections else []:
        if row["block"] not in blocks:
            continue
        seconds = ", ".join(f"{name} {v['median']:.4g} s" for name, v in row["seconds"].items())
        extra = ""
        if "ratio_jaxcs_vs_numpy" in row:
            extra = (
                f"; jaxcs/numpy speed {row['ratio_jaxcs_vs_numpy']:.2f}, rel diff "
                f"{row['relative_difference_vs_numpy']:.1e}"
            )
        elif "extrapolated_seconds_64_inputs_100_steps" in row:
            extra = (
                f"; 64 x 100 extrapolated {row['extrapolated_seconds_64_inputs_100_steps']:.0f} s"
            )
        elif "ratio_ray_vs_dense" in row:
            extra = f"; ray/dense time {row['ratio_ray_vs_dense']:.2f}"
        print(f"block {row['block']} k={row['k']} {row['part']}: {seconds}{extra}")
    print(f"wrote {path} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
