"""``jaxcs`` console entry point: ``jaxcs fig2``, ``jaxcs fig3``, ``jaxcs reproduce``,
``jaxcs sweep``, ``jaxcs plot``, ``jaxcs bench`` (one module each: its flags and its run).

Arguments are parsed (and counts, seeds and files checked) before JAX is imported, so
``--help`` and argument errors are immediate. The console does argparse and printing only: the
summaries it prints are formatted by :mod:`jaxcs.experiments`.
"""

from __future__ import annotations

import argparse
import sys

from jaxcs._version import __version__
from jaxcs.cli import bench, fig2, fig3, plot, reproduce, sweep
from jaxcs.cli.arguments import _HelpFormatter

DESCRIPTION = (
    "jaxcs: compressive sensing with convolutional operators (Gilbert et al., 'Towards "
    "understanding the invertibility of convolutional neural networks', IJCAI 2017). Each "
    "command writes JSON results (and figures with the 'plot' extra) and refuses to replace "
    "earlier results unless asked to."
)


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxcs`` argument parser. Building and using it imports no JAX."""
    parser = argparse.ArgumentParser(
        prog="jaxcs", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"jaxcs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fig2.add_parser(sub)
    fig3.add_parser(sub)
    reproduce.add_parser(sub)
    sweep.add_parser(sub)
    plot.add_parser(sub)
    bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OSError as err:  # a full or read-only disk, a vanished file: the file and the cause
        print(f"jaxcs {args.command}: {err}", file=sys.stderr)
        return 1
