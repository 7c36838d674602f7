"""``jaxcs sweep``: a parameter grid from a TOML file, its flags (the grid's own modules,
several processes) and its run (the table written, a summary line, the figures on request)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from jaxcs.cli.arguments import COUNT, INDEX, _existing_file, _host_port, _subcommand
from jaxcs.cli.plot import _plot_directory


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


def add_parser(sub) -> None:
    parser = _subcommand(
        sub,
        "sweep",
        "run a parameter grid (TOML): phase transitions, model-RIP, solver throughput",
        "Run a sweep grid from a TOML file and write results.csv (one row per cell and "
        "solver), results.parquet (with pyarrow), sweep.json and the finished blocks. A run "
        "started again on the same --output resumes where it stopped.",
    )
    parser.add_argument("config", type=_existing_file, help="the grid, a TOML file")
    parser.add_argument("--output", required=True, help="directory for the results")
    parser.add_argument(
        "--overwrite", action="store_true", help="discard earlier results in --output"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--plot", action="store_true", help="draw the figures when done")
    parser.add_argument(
        "--compile-cache", default=None, help="directory of JAX's persistent compilation cache"
    )
    parser.add_argument("--x64", action="store_true", help="enable float64 (run.dtype)")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (repeatable): it registers the grid's own operator families, "
        "models or solvers (jaxcs.sweeps.register_operator, register_model, register_solver)",
    )
    hosts = parser.add_argument_group(
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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
