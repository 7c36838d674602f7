"""``jaxcs plot``: a sweep directory's figures, drawn with the ``plot`` extra (and after
``jaxcs sweep --plot``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxcs.cli.arguments import _subcommand


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


def add_parser(sub) -> None:
    parser = _subcommand(
        sub,
        "plot",
        "draw a sweep's figures (phase transition, success curves, RIP histograms)",
        "Draw the figures of a sweep directory as PNG and PDF.",
    )
    parser.add_argument("directory", help="a directory written by jaxcs sweep")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _plot_directory(Path(args.directory), "jaxcs plot")
