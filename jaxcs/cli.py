"""``jaxcs`` console entry point: ``jaxcs fig2``, ``jaxcs fig3``, ``jaxcs reproduce``,
``jaxcs sweep``, ``jaxcs plot``, ``jaxcs bench``.

Arguments are parsed (and counts, seeds and files checked) before JAX is imported, so
``--help`` and argument errors are immediate.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from jaxcs._version import __version__


def _fig2(args: argparse.Namespace) -> int:
    from jaxcs.experiments import MAIN_QUANTITIES, Fig2Setup, run_fig2
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
    bracket = result["delta_bracket"]
    print(
        f"delta_k bracket: [{bracket['lower']:.3f}, {bracket['upper']:.3f}] (sampled "
        f"{bracket['sampled']:.3f}, adversarial search {bracket['search']:.3f} at "
        f"{bracket['search_evaluations']} Gram evaluations; certified upper bound "
        f"{bracket['upper']:.3f}{', vacuous (>= 1)' if bracket['upper_vacuous'] else ''})"
    )
    if not args.no_plot:
        try:
            from jaxcs.plot import plot_fig2

            png = plot_fig2(result, out / "fig2.png")
            print(f"histograms: {png}")
        except ImportError:
            print("histograms: skipped (install the 'plot' extra: pip install 'jaxcs[plot]')")
    return 0


def _fig3(args: argparse.Namespace) -> int:
    from jaxcs.experiments import Fig3Setup, run_fig3
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
                    filter_size=kernel.shape[0],
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
    ratio, bracket = result["ratio_wt"], result["delta_bracket"]
    print(f"Fig. 3 layer (k = {setup.k}, {elapsed:.1f} s): {json_path}")
    print(
        f"‖Wᵀz‖/‖z‖ over {ratio['count']} codes: mean {ratio['mean']:.4f}, std "
        f"{ratio['std']:.4f}, range [{ratio['min']:.4f}, {ratio['max']:.4f}]"
    )
    upper = "none" if bracket["upper"] is None else f"{bracket['upper']:.3f}"
    how = bracket["upper_method"].split(" (")[0] + (", vacuous" if bracket["upper_vacuous"] else "")
    print(f"delta_k bracket: [{bracket['lower']:.3f} ({bracket['lower_method']}), {upper} ({how})]")
    if not args.no_plot:
        try:
            from jaxcs.plot import plot_fig3

            print(f"figure: {plot_fig3(result, out / 'fig3.png')}")
        except ImportError:
            print("figure: skipped (install the 'plot' extra: pip install 'jaxcs[plot]')")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from jaxcs.experiments import (
        ReproduceSetup,
        SetupMismatch,
        StageFileError,
        run_reproduce,
        write_report,
    )

    changes = {
        name: getattr(args, name)
        for name in ("seed", "seeds", "epochs", "dataset")
        if getattr(args, name) is not None
    }
    try:
        setup = ReproduceSetup.quick(**changes) if args.quick else ReproduceSetup(**changes)
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as err:
        print(f"jaxcs reproduce: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        results = run_reproduce(setup, out, progress=not args.no_progress, overwrite=args.overwrite)
    except (SetupMismatch, StageFileError) as err:
        print(f"jaxcs reproduce: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"jaxcs reproduce: {err}", file=sys.stderr)
        return 3
    figures = {}
    if not args.no_plot:
        try:
            from jaxcs.plot import plot_reproduce_fig3, plot_reproduce_table1

            figures["table1"] = plot_reproduce_table1(
                results["table1"]["rows"], out / "table1.png"
            ).name
            figures["fig3"] = plot_reproduce_fig3(results["fig3"]["rows"], out / "fig3.png").name
        except ImportError:
            print("figures: skipped (install the 'plot' extra: pip install 'jaxcs[plot]')")
    report = write_report(results, out, figures=figures)
    elapsed = time.perf_counter() - started
    print(f"report ({elapsed:.1f} s): {out / 'report.md'} and {out / 'report.json'}")
    for name, found in report["comparison"].items():
        verdict = {True: "agrees", False: "differs", None: "see report"}[found["agrees"]]
        print(f"  {name:<12} {verdict}")
    return 0


def _initialize_distributed(args: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` from the flags (or the cluster's auto-detection with
    ``--distributed``), before anything touches a device."""
    flags = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(f is None for f in flags):
        return
    import jax

    # CPU processes exchange results through JAX's CPU collectives (gloo); GPUs and TPUs
    # ignore this setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )


def _sweep(args: argparse.Namespace) -> int:
    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    _initialize_distributed(args)
    from jaxcs.sweeps import ConfigError, SweepError, load_config, sweep

    for module in args.imports:  # they register the grid's own families (jaxcs.sweeps)
        try:
            importlib.import_module(module)
        except ImportError as err:
            print(f"jaxcs sweep: --import {module}: {err}", file=sys.stderr)
            return 2
    try:
        config = load_config(args.config)
        result = sweep(
            config,
            args.output,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            compile_cache=args.compile_cache,
        )
    except (ConfigError, SweepError) as err:
        print(f"jaxcs sweep: {err}", file=sys.stderr)
        return 2
    if result.rows:
        out = Path(args.output)
        print(
            f"{len(result.rows)} rows ({len(config.cells)} cells × {len(config.solvers)} "
            f"solver(s), {config.problems_per_cell} problems each) in "
            f"{result.header['last_run']['seconds']:.1f} s: {out / 'results.csv'}"
        )
        if args.plot:
            return _plot_directory(out, "jaxcs sweep")
    return 0


def _plot_directory(directory: Path, command: str) -> int:
    try:
        from jaxcs.plot import plot_sweep

        paths = plot_sweep(directory)
    except ImportError:
        print(f"{command}: plots need matplotlib: pip install 'jaxcs[plot]'", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"{command}: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"figure: {path}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    return _plot_directory(Path(args.directory), "jaxcs plot")


def _bench(args: argparse.Namespace) -> int:
    from jaxcs.io import write_json
    from jaxcs.sweeps import bench, format_bench

    record = bench(problems_per_solver=args.problems, max_steps=args.max_steps)
    print(format_bench(record))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = write_json(out / f"bench_{record['environment']['backend']}_{stamp}.json", record)
    print(f"saved: {path}")
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after every option's help unless the help already says its
    default, or there is none to show (a flag, or ``None`` meaning the setup's own)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _integer(low: int, what: str):
    """An argparse ``type`` for an integer ``>= low``: the error comes before JAX is imported."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
        return value

    parse.__name__ = what
    return parse


COUNT = _integer(1, "a positive integer")
INDEX = _integer(0, "a non-negative integer")


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return text


def _host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port (e.g. 10.0.0.1:1234); got {text!r}")
    return text


DESCRIPTION = (
    "jaxcs: compressive sensing with convolutional operators (Gilbert et al., 'Towards "
    "understanding the invertibility of convolutional neural networks', IJCAI 2017). Each "
    "command writes JSON results (and figures with the 'plot' extra) and refuses to replace "
    "earlier results unless asked to."
)


def _subcommand(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=_HelpFormatter)


def _output_flags(parser, what: str) -> None:
    parser.add_argument("--no-plot", action="store_true", help=f"do not draw {what}")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars (e.g. for log files)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxcs`` argument parser. Building and using it imports no JAX."""
    parser = argparse.ArgumentParser(
        prog="jaxcs", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"jaxcs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fig2 = _subcommand(
        sub,
        "fig2",
        "reproduce the paper's Fig. 2 (1-D model-RIP and one-step reconstruction)",
        "Reproduce Fig. 2 of Gilbert et al. (IJCAI 2017): random 1-D Gaussian filters, "
        "block-sparse codes, the ratios of Theorem 3.1 and one-step IHT reconstruction, with "
        "the bracket of delta_k. Writes OUTPUT/fig2.json (rewritten after every round, so an "
        "interrupted run keeps its completed samples) and OUTPUT/fig2.png.",
    )
    fig2.add_argument("--output", default="results", help="directory for fig2.json and fig2.png")
    fig2.add_argument("--num-samples", type=COUNT, default=20_000, help="random codes")
    fig2.add_argument("--k", type=COUNT, default=10, help="non-zero blocks per code")
    fig2.add_argument("--seed", type=INDEX, default=0, help="seed of jax.random.key")
    fig2.add_argument("--iht-steps", type=COUNT, default=10, help="steps of the IHT variant")
    fig2.add_argument(
        "--checkpoint-every",
        type=COUNT,
        default=5_000,
        help="samples per round; fig2.json is rewritten after each round",
    )
    fig2.add_argument(
        "--overwrite", action="store_true", help="replace an existing fig2.json in --output"
    )
    _output_flags(fig2, "fig2.png")
    fig2.set_defaults(run=_fig2)

    fig3 = _subcommand(
        sub,
        "fig3",
        "the paper's Fig. 3 layer: model-RIP ratios, Lanczos eigenvalues, the delta bracket",
        "The model-RIP of a VGG-16 conv(5,2)-sized layer (3x3, 512 -> 512, 15x15 maps, 2x2 "
        "pooling, 23.9 % non-zeros): ratio histogram, extreme eigenvalues of sampled supports "
        "by Lanczos, and the bracket of delta_k. About a minute on 2 CPU cores at full size.",
    )
    fig3.add_argument("--output", default="results", help="directory for fig3.json and fig3.png")
    fig3.add_argument(
        "--filters",
        type=_existing_file,
        default=None,
        help="a kernel (f, f, M, K): .npy, .npz or Flax .msgpack (default: Gaussian filters)",
    )
    fig3.add_argument("--quick", action="store_true", help="CI sizes (16 channels, 8x8 maps)")
    fig3.add_argument("--num-samples", type=COUNT, default=None, help="codes (default 1000)")
    fig3.add_argument(
        "--eigen-supports", type=COUNT, default=None, help="supports for Lanczos (default 16)"
    )
    fig3.add_argument(
        "--lanczos-steps", type=COUNT, default=None, help="Lanczos steps per support (default 24)"
    )
    fig3.add_argument("--seed", type=INDEX, default=None, help="seed (default 0)")
    fig3.add_argument(
        "--overwrite", action="store_true", help="replace an existing fig3.json in --output"
    )
    _output_flags(fig3, "fig3.png")
    fig3.set_defaults(run=_fig3)

    reproduce = _subcommand(
        sub,
        "reproduce",
        "the paper's Tables 1-4, Fig. 3 and Theorem 3.3 on offline data, as one report",
        "Train small CNNs on patches of the images bundled with scikit-image and scikit-learn "
        "(random frozen vs learned filters) and measure what the paper measures: accuracy, "
        "sparsity, coherence, model-RIP ratios and delta brackets, one-step IHT "
        "reconstruction, Theorem 3.3. Writes OUTPUT/report.md, report.json and PNG figures. "
        "Each finished stage is kept in OUTPUT/stages: a run started again resumes. About 30 "
        "minutes on 2 CPU cores at full size, 2-3 minutes with --quick.",
    )
    reproduce.add_argument("--output", default="report", help="directory for the report")
    reproduce.add_argument("--quick", action="store_true", help="CI sizes (10 classes, width 8)")
    reproduce.add_argument(
        "--dataset", choices=("patches", "digits"), default=None,
        help="the classification task (default: patches of the bundled images)",
    )  # fmt: skip
    reproduce.add_argument("--seeds", type=COUNT, default=None, help="Table 1 seeds (default 3)")
    reproduce.add_argument(
        "--epochs", type=COUNT, default=None, help="training epochs (default 10)"
    )
    reproduce.add_argument("--seed", type=INDEX, default=None, help="base seed (default 0)")
    reproduce.add_argument(
        "--overwrite", action="store_true",
        help="discard an earlier run in --output (otherwise it is resumed, or refused if its "
        "setup differs)",
    )  # fmt: skip
    _output_flags(reproduce, "the PNG figures")
    reproduce.set_defaults(run=_reproduce)

    sweep = _subcommand(
        sub,
        "sweep",
        "run a parameter grid (TOML): phase transitions, model-RIP, solver throughput",
        "Run a sweep grid from a TOML file and write results.csv (one row per cell and "
        "solver), results.parquet (with pyarrow), sweep.json and the finished blocks. A run "
        "started again on the same --output resumes where it stopped.",
    )
    sweep.add_argument("config", type=_existing_file, help="the grid, a TOML file")
    sweep.add_argument("--output", required=True, help="directory for the results")
    sweep.add_argument(
        "--overwrite", action="store_true", help="discard earlier results in --output"
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--plot", action="store_true", help="draw the figures when done")
    sweep.add_argument(
        "--compile-cache", default=None, help="directory of JAX's persistent compilation cache"
    )
    sweep.add_argument("--x64", action="store_true", help="enable float64 (run.dtype)")
    sweep.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (repeatable): it registers the grid's own operator families, "
        "models or solvers (jaxcs.sweeps.register_operator, register_model, register_solver)",
    )
    hosts = sweep.add_argument_group(
        "several processes (jax.distributed.initialize; process 0 writes)"
    )
    hosts.add_argument(
        "--distributed",
        action="store_true",
        help="initialize from the cluster's environment (SLURM, Open MPI, ...)",
    )
    hosts.add_argument(
        "--coordinator", type=_host_port, default=None, help="host:port of process 0"
    )
    hosts.add_argument("--num-processes", type=COUNT, default=None, help="number of processes")
    hosts.add_argument("--process-id", type=INDEX, default=None, help="this process's index")
    sweep.set_defaults(run=_sweep)

    plot = _subcommand(
        sub,
        "plot",
        "draw a sweep's figures (phase transition, success curves, RIP histograms)",
        "Draw the figures of a sweep directory as PNG and PDF.",
    )
    plot.add_argument("directory", help="a directory written by jaxcs sweep")
    plot.set_defaults(run=_plot)

    bench = sub.add_parser(
        "bench",
        help="solver throughput on this device at standard sizes",
        description="Problems/s and steps/s of IHT, NIHT, HTP and CoSaMP on the Fig. 2 conv "
        "problem and a Gaussian 200 × 1000 problem (k = 20), with success rates; saved as JSON.",
        formatter_class=_HelpFormatter,
    )
    bench.add_argument("--problems", type=COUNT, default=1024, help="problems per solver")
    bench.add_argument("--max-steps", type=COUNT, default=300, help="step budget per problem")
    bench.add_argument("--output", default="results", help="directory for bench_*.json")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OSError as err:  # a full or read-only disk, a vanished file: the file and the cause
        print(f"jaxcs {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
