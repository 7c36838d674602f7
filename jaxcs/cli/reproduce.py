"""``jaxcs reproduce``: the paper's tables and figures on offline data, its flags and its run
(the stages, the figures with the ``plot`` extra, the report and its verdicts printed)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jaxcs.cli.arguments import COUNT, INDEX, _output_flags, _subcommand
from jaxcs.cli.figures import SKIPPED


def add_parser(sub) -> None:
    parser = _subcommand(
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
    parser.add_argument("--output", default="report", help="directory for the report")
    parser.add_argument("--quick", action="store_true", help="CI sizes (10 classes, width 8)")
    parser.add_argument(
        "--dataset", choices=("patches", "digits"), default=None,
        help="the classification task (default: patches of the bundled images)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=COUNT, default=None, help="Table 1 seeds (default 3)")
    parser.add_argument("--epochs", type=COUNT, default=None, help="training epochs (default 10)")
    parser.add_argument("--seed", type=INDEX, default=None, help="base seed (default 0)")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="discard an earlier run in --output (otherwise it is resumed, or refused if its "
        "setup differs)",
    )  # fmt: skip
    _output_flags(parser, "the PNG figures")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from jaxcs.experiments import (
        ReproduceSetup,
        SetupMismatch,
        StageFileError,
        format_comparison,
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
            print(f"figures: {SKIPPED}")
    report = write_report(results, out, figures=figures)
    elapsed = time.perf_counter() - started
    print(f"report ({elapsed:.1f} s): {out / 'report.md'} and {out / 'report.json'}")
    print(format_comparison(report))
    return 0
