"""``jaxcs fig3``: the paper's Fig. 3 layer, its flags and its run (results to JSON, the
summary printed, the figure drawn with the ``plot`` extra)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jaxcs.cli.arguments import COUNT, INDEX, _existing_file, _output_flags, _subcommand
from jaxcs.cli.figures import draw_or_skip
from jaxcs.plot import plot_fig3


def add_parser(sub) -> None:
    parser = _subcommand(
        sub,
        "fig3",
        "the paper's Fig. 3 layer: model-RIP ratios, Lanczos eigenvalues, the delta bracket",
        "The model-RIP of a VGG-16 conv(5,2)-sized layer (3x3, 512 -> 512, 15x15 maps, 2x2 "
        "pooling, 23.9 % non-zeros): ratio histogram, extreme eigenvalues of sampled supports "
        "by Lanczos, and the bracket of delta_k. About a minute on 2 CPU cores at full size.",
    )
    parser.add_argument("--output", default="results", help="directory for fig3.json and fig3.png")
    parser.add_argument(
        "--filters",
        type=_existing_file,
        default=None,
        help="a kernel (f, f, M, K): .npy, .npz or Flax .msgpack (default: Gaussian filters)",
    )
    parser.add_argument("--quick", action="store_true", help="CI sizes (16 channels, 8x8 maps)")
    parser.add_argument("--num-samples", type=COUNT, default=None, help="codes (default 1000)")
    parser.add_argument(
        "--eigen-supports", type=COUNT, default=None, help="supports for Lanczos (default 16)"
    )
    parser.add_argument(
        "--lanczos-steps", type=COUNT, default=None, help="Lanczos steps per support (default 24)"
    )
    parser.add_argument("--seed", type=INDEX, default=None, help="seed (default 0)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing fig3.json in --output"
    )
    _output_flags(parser, "fig3.png")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from jaxcs.experiments import Fig3Setup, format_fig3, run_fig3
    from jaxcs.io import environment, load_kernel, write_json

    started = time.perf_counter()
    changes = {
        name: getattr(args, name)
        for name in ("num_samples", "eigen_supports", "lanczos_steps", "seed")
        if getattr(args, name) is not None
    }
    kernel, filters_name = None, "gaussian"
    try:
        if args.filters is not None:
            kernel = load_kernel(args.filters)
            filters_name = str(args.filters)
            if kernel.ndim == 4:  # the layer's sizes come from the kernel
                changes |= dict(
                    filter_shape=tuple(kernel.shape[:2]),
                    in_channels=kernel.shape[2],
                    out_channels=kernel.shape[3],
                )
        setup = Fig3Setup.quick(**changes) if args.quick else Fig3Setup(**changes)
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        json_path = out / "fig3.json"
        if json_path.exists() and not args.overwrite:
            raise ValueError(f"{json_path} exists: pass --overwrite to replace it")
    except (OSError, ValueError) as err:
        print(f"jaxcs fig3: {err}", file=sys.stderr)
        return 2
    env = environment()

    def save(result: dict) -> None:
        write_json(json_path, dict(result, environment=env, seconds=time.perf_counter() - started))

    result = run_fig3(
        setup, kernel=kernel, filters_name=filters_name, progress=not args.no_progress,
        on_stage=save,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    print(f"Fig. 3 layer (k = {setup.k}, {elapsed:.1f} s): {json_path}")
    print(format_fig3(result))
    draw_or_skip(args.no_plot, "figure", lambda: plot_fig3(result, out / "fig3.png"))
    return 0
