"""``jaxcs fig2``: the paper's Fig. 2, its flags and its run (results to JSON, the summary
printed, the histograms drawn with the ``plot`` extra)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jaxcs.cli.arguments import COUNT, INDEX, _output_flags, _subcommand
from jaxcs.cli.figures import draw_or_skip
from jaxcs.plot import plot_fig2


def add_parser(sub) -> None:
    parser = _subcommand(
        sub,
        "fig2",
        "reproduce the paper's Fig. 2 (1-D model-RIP and one-step reconstruction)",
        "Reproduce Fig. 2 of Gilbert et al. (IJCAI 2017): random 1-D Gaussian filters, "
        "block-sparse codes, the ratios of Theorem 3.1 and one-step IHT reconstruction, with "
        "the bracket of delta_k. Writes OUTPUT/fig2.json (rewritten after every round, so an "
        "interrupted run keeps its completed samples) and OUTPUT/fig2.png.",
    )
    parser.add_argument("--output", default="results", help="directory for fig2.json and fig2.png")
    parser.add_argument("--num-samples", type=COUNT, default=20_000, help="random codes")
    parser.add_argument("--k", type=COUNT, default=10, help="non-zero blocks per code")
    parser.add_argument("--seed", type=INDEX, default=0, help="seed of jax.random.key")
    parser.add_argument("--iht-steps", type=COUNT, default=10, help="steps of the IHT variant")
    parser.add_argument(
        "--checkpoint-every",
        type=COUNT,
        default=5_000,
        help="samples per round; fig2.json is rewritten after each round",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing fig2.json in --output"
    )
    _output_flags(parser, "fig2.png")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from jaxcs.experiments import Fig2Setup, format_fig2, run_fig2
    from jaxcs.io import environment, write_json

    try:
        setup = Fig2Setup(
            k=args.k,
            num_samples=args.num_samples,
            seed=args.seed,
            iht_steps=args.iht_steps,
            checkpoint_every=args.checkpoint_every,
        )
    except ValueError as err:
        print(f"jaxcs fig2: {err}", file=sys.stderr)
        return 2
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"jaxcs fig2: --output {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    json_path = out / "fig2.json"
    if json_path.exists() and not args.overwrite:
        print(
            f"jaxcs fig2: {json_path} exists (an earlier run's results): pass --overwrite to "
            "replace it, or choose another --output",
            file=sys.stderr,
        )
        return 2
    env = environment()
    started = time.perf_counter()

    def save(result: dict) -> None:
        result = dict(result, environment=env, seconds=time.perf_counter() - started)
        write_json(json_path, result)

    result = run_fig2(setup, progress=not args.no_progress, on_round=save)
    elapsed = time.perf_counter() - started
    print(f"Fig. 2 ({result['completed_samples']} samples, {elapsed:.1f} s): {json_path}")
    print(format_fig2(result))
    draw_or_skip(args.no_plot, "histograms", lambda: plot_fig2(result, out / "fig2.png"))
    return 0
