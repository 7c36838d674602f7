"""Model-RIP ratios by restricted Gram or by convolution: which is faster, per padding and ``k``.

:func:`jaxcs.estimate_model_rip` computes the ratios ``‖Wᵀz‖/‖z‖`` and ``‖(WWᵀz)_S‖/‖z‖``
either from the restricted Gram ``G_S`` (``method="gram"``: a ``k × k`` gather from the
operator's correlation table, the border table for ``"same"`` padding) or by two convolutions
(``method="conv"``). This times both, with ``eigenvalues=False`` and ``eigenvalues=True``
(``eigen_method="auto"``; the result says which eigenvalue path ran), for every padding
(``"valid"``, ``"same"``, ``"circular"``) of three layers:

- ``fig2``: the paper's Fig. 2 layer, 1-D, 5 × 32 → 96 Gaussian filters, ``D = 32``,
  ``BlockModel(k)``;
- ``conv16``: 2-D, 3×3, 16 → 32 channels, 16×16 input, ``PoolingModel((2, 2), k)``;
- ``conv32``: 2-D, 3×3, 64 → 64 channels, 32×32 input, ``PoolingModel((2, 2), k)``.

Each case (layer, padding, ``k``, eigenvalues) runs one warm-up call per method (compiling
it), then ``--rounds`` rounds that time ``method="gram"`` and ``method="conv"`` interleaved
(the order alternating by round; machines are shared and noisy) on a new key each; figures
are medians over the rounds, in microseconds per code. ``num_samples`` is about
``NUM_SAMPLES`` of the layer (fewer with eigenvalues), rounded to whole chunks of each
method's automatic chunk size: the last chunk of a call is computed in full however few of its
codes count, which would otherwise charge a method for codes it never reports. Every case also
records the operator's cost
figures (``mv_cost``, ``restricted_gram_cost``) and which method ``method="auto"`` picks:
``auto_before`` (the former rule, ``"gram"`` while the capacity is ≤ 256) and ``auto_now``
(:func:`jaxcs.analysis.rip.cost.choose_method`, the cost model calibrated on this file's results).

Results merge into ``benchmarks/results/rip_method_choice_<backend>.json`` (by case), so the
grid can be run in parts that each stay short::

    python benchmarks/rip_method_choice.py --layers fig2 conv16 --eigenvalues false
    python benchmarks/rip_method_choice.py --layers conv32
    python benchmarks/rip_method_choice.py --picks-only   # re-derive auto's picks, no timing

Usage: ``python benchmarks/rip_method_choice.py [--layers …] [--paddings …] [--eigenvalues
both|true|false] [--rounds 3] [--output benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import jax
import jax.random as jr
from harness import interleaved, medians, paired_ratio, save, timed

import jaxcs
from jaxcs.analysis import rip

LAYERS = {
    "fig2": dict(
        filter_shape=(5,), in_channels=32, out_channels=96, input_size=(32,), ks=(10, 32, 64, 96)
    ),
    "conv16": dict(
        filter_shape=(3, 3),
        in_channels=16,
        out_channels=32,
        input_size=(16, 16),
        ks=(16, 64, 128, 256, 512),
    ),
    "conv32": dict(
        filter_shape=(3, 3),
        in_channels=64,
        out_channels=64,
        input_size=(32, 32),
        ks=(64, 256, 512),
    ),
}
PADDINGS = ("valid", "same", "circular")
METHODS = ("gram", "conv")
# codes per timed call (eigenvalues=False, True): calls of about 0.1–3 s on 2 CPU cores
NUM_SAMPLES = {"fig2": (4096, 512), "conv16": (1024, 128), "conv32": (256, 32)}


def operator(layer: str, padding: str):
    spec = LAYERS[layer]
    w = jaxcs.gaussian_filters(
        jr.key(0), spec["filter_shape"], spec["in_channels"], spec["out_channels"]
    )
    return jaxcs.ConvOperator(w, spec["input_size"], padding=padding)


def model(layer: str, k: int):
    return jaxcs.BlockModel(k) if layer == "fig2" else jaxcs.PoolingModel((2, 2), k)


def num_samples_for(layer: str, eigenvalues: bool, chunk: int) -> int:
    """Codes per timed call: about ``NUM_SAMPLES`` of the layer, rounded to whole chunks of
    the method's automatic chunk size (the last chunk of a call is computed in full even
    when it is mostly masked, which would charge one method for codes it never reports)."""
    target = NUM_SAMPLES[layer][int(eigenvalues)]
    return chunk * max(1, round(target / chunk))


def auto_chunk(op, m, method: str, eigen_method: str | None) -> int:
    """The chunk size :func:`jaxcs.estimate_model_rip` picks for this method (unbounded
    ``num_samples``)."""
    use_gram = method == "gram" or eigen_method == "dense"
    use_conv = method == "conv" or eigen_method == "lanczos"
    return rip._auto_chunk(op, m, use_gram, use_conv, lanczos=eigen_method == "lanczos")


def auto_picks(op, capacity: int, eigenvalues: bool) -> dict:
    """What ``method="auto"`` picks: the former rule, and the current cost model."""
    out = {"auto_before": "gram" if capacity <= 256 else "conv"}
    eigen = rip.choose_eigen_method(op, capacity, rip.DEFAULT_STEPS) if eigenvalues else None
    choose = getattr(rip, "choose_method", None)
    if choose is not None:
        out["auto_now"] = choose(op, capacity, eigen, lanczos_steps=rip.DEFAULT_STEPS)
        out["modelled_cost"] = {
            m: rip.sample_cost(op, capacity, m, eigen, rip.DEFAULT_STEPS) for m in METHODS
        }
    return out


def bench_case(layer: str, padding: str, k: int, eigenvalues: bool, rounds: int) -> dict:
    op, m = operator(layer, padding), model(layer, k)
    capacity = m.num_slots(op.out_shape)
    eigen = rip.choose_eigen_method(op, capacity, rip.DEFAULT_STEPS) if eigenvalues else None
    chunk = {method: auto_chunk(op, m, method, eigen) for method in METHODS}
    n = {method: num_samples_for(layer, eigenvalues, chunk[method]) for method in METHODS}

    def run(method, seed):
        return jaxcs.estimate_model_rip(
            jr.key(seed), op, m, n[method], method=method, eigenvalues=eigenvalues, progress=False
        )

    first = {}
    for method in METHODS:
        first[method], est = timed(lambda method=method: run(method, 0))
        assert est.method == method and est.eigen_method == eigen
    seconds = interleaved({method: partial(run, method) for method in METHODS}, rounds)
    per_code = {  # microseconds per code
        method: [t / n[method] * 1e6 for t in seconds[method]] for method in METHODS
    }
    median = {method: entry["median"] for method, entry in medians(per_code).items()}
    return {
        "layer": layer,
        "padding": padding,
        "k": k,
        "capacity": capacity,
        "eigenvalues": eigenvalues,
        "eigen_method": eigen,
        "num_samples": n,
        "chunk_size": chunk,
        "code_shape": list(op.out_shape),
        "mv_cost": op.mv_cost(),
        "restricted_gram_cost": op.restricted_gram_cost(capacity),
        "us_per_code": medians(per_code),
        "first_call_seconds": first,
        "fastest": min(median, key=median.get),
        "gram_over_conv": median["gram"] / median["conv"],
        # per round (the two calls of a round ran back to back): robust to drifting load
        "gram_over_conv_paired_median": paired_ratio(per_code["gram"], per_code["conv"]),
    } | auto_picks(op, capacity, eigenvalues)


def case_id(case: dict) -> str:
    return f"{case['layer']}/{case['padding']}/k={case['k']}/eig={int(case['eigenvalues'])}"


def regret(case: dict, pick: str) -> float:
    """Time per code of the picked method over the fastest one's (1.0: it is the fastest)."""
    times = {m: case["us_per_code"][m]["median"] for m in METHODS}
    return times[pick] / min(times.values())


def table(cases: list[dict]) -> str:
    lines = [
        f"{'case':30s} {'gram us':>9s} {'conv us':>9s} {'eigen':>8s} {'before':>7s} {'now':>5s}"
        f" {'regret before':>13s} {'now':>5s}"
    ]
    for case in cases:
        t = case["us_per_code"]
        now = case.get("auto_now", "?")
        lines.append(
            f"{case_id(case):30s} {t['gram']['median']:9.1f} {t['conv']['median']:9.1f} "
            f"{case['eigen_method'] or '-':>8s} {case['auto_before']:>7s} {now:>5s} "
            f"{regret(case, case['auto_before']):13.2f} "
            f"{regret(case, now) if now in METHODS else float('nan'):5.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--paddings", nargs="+", default=list(PADDINGS), choices=PADDINGS)
    parser.add_argument("--ks", nargs="+", type=int, default=None, help="default: per layer")
    parser.add_argument("--eigenvalues", default="both", choices=("both", "true", "false"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--picks-only", action="store_true", help="re-derive auto's picks only")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    path = Path(args.output) / f"rip_method_choice_{jax.default_backend()}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    cases = {case_id(c): c for c in previous.get("cases", [])}
    if args.picks_only:
        for case in cases.values():
            op = operator(case["layer"], case["padding"])
            case |= auto_picks(op, case["capacity"], case["eigenvalues"])
    else:
        eigen = {"both": (False, True), "true": (True,), "false": (False,)}[args.eigenvalues]
        for layer in args.layers:
            for padding in args.paddings:
                for k in args.ks or LAYERS[layer]["ks"]:
                    for eigenvalues in eigen:
                        case = bench_case(layer, padding, k, eigenvalues, args.rounds)
                        cases[case_id(case)] = case
                        print(table([case]).splitlines()[-1], flush=True)
    ordered = sorted(
        cases.values(),
        key=lambda c: (
            list(LAYERS).index(c["layer"]),
            PADDINGS.index(c["padding"]),
            c["k"],
            c["eigenvalues"],
        ),
    )
    now = [regret(c, c["auto_now"]) for c in ordered if "auto_now" in c]
    result = {
        "benchmark": "rip_method_choice",
        "setup": {
            "layers": {name: {k: v for k, v in spec.items()} for name, spec in LAYERS.items()},
            "rounds": sorted({len(c["us_per_code"]["gram"]["all"]) for c in ordered}),
            "num_samples": NUM_SAMPLES,
            "timed": "estimate_model_rip(key, op, model, num_samples, method=..., "
            "eigenvalues=...), default chunk size, num_samples whole chunks, after one "
            "warm-up call per method; us_per_code = seconds per call / num_samples * 1e6",
        },
        "calibration": {
            "GRAM_ENTRY_COST": getattr(rip, "GRAM_ENTRY_COST", None),
            "max_regret_auto_now": max(now) if now else None,
            "max_regret_auto_before": max(
                (regret(c, c["auto_before"]) for c in ordered), default=None
            ),
        },
        "cases": ordered,
    }
    save(path, result)
    print(table(ordered))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
