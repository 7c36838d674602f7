"""``jaxcs`` console entry point: ``jaxcs fig2 [--output DIR] ...``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jaxcs.io import environment, write_json


def _fig2(args: argparse.Namespace) -> int:
    from jaxcs.experiments import MAIN_QUANTITIES, Fig2Setup, run_fig2

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
    env = environment()
    started = time.perf_counter()

    def save(result: dict) -> None:
        result = dict(result, environment=env, seconds=time.perf_counter() - started)
        write_json(json_path, result)

    result = run_fig2(setup, progress=not args.no_progress, on_round=save)
    elapsed = time.perf_counter() - started
    print(f"Fig. 2 ({result['completed_samples']} samples, {elapsed:.1f} s): {json_path}")
    header = (
        f"{'quantity':<28}{'mean':>8}{'std':>8}{'min':>8}{'q01':>8}{'q50':>8}{'q99':>8}{'max':>8}"
    )
    print(header)
    names = list(MAIN_QUANTITIES) + ["ratio_wwt_full", "eig_min", "eig_max"]
    names += sorted(result["variants"])
    for name in names:
        s = result["quantities"][name]
        row = "".join(f"{s[c]:8.3f}" for c in ("mean", "std", "min", "q01", "q50", "q99", "max"))
        print(f"{name:<28}{row}")
    print(
        f"delta_k lower bound (exact eigenvalues of sampled supports): "
        f"{result['delta_lower_bound']:.3f}"
    )
    if not args.no_plot:
        try:
            from jaxcs.plot import plot_fig2
        except ImportError:  # pragma: no cover - plot.py itself imports lazily
            plot_fig2 = None
        try:
            png = plot_fig2(result, out / "fig2.png")
            print(f"histograms: {png}")
        except ImportError:
            print("histograms: skipped (install the 'plot' extra: pip install 'jaxcs[plot]')")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxcs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fig2 = sub.add_parser(
        "fig2",
        help="reproduce the paper's Fig. 2 (1-D model-RIP and one-step reconstruction)",
        description="Reproduce Fig. 2 of Gilbert et al. (IJCAI 2017) on its own defaults.",
    )
    fig2.add_argument("--output", default="results", help="directory for fig2.json/fig2.png")
    fig2.add_argument("--num-samples", type=int, default=20_000)
    fig2.add_argument("--k", type=int, default=10, help="non-zero blocks per code")
    fig2.add_argument("--seed", type=int, default=0)
    fig2.add_argument("--iht-steps", type=int, default=10, help="steps of the IHT variant")
    fig2.add_argument(
        "--checkpoint-every",
        type=int,
        default=5_000,
        help="samples per round; fig2.json is rewritten after each round",
    )
    fig2.add_argument("--no-plot", action="store_true")
    fig2.add_argument("--no-progress", action="store_true")
    fig2.set_defaults(run=_fig2)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
