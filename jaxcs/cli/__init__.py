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
from jaxcs.cli.arguments import _HelpFormatter
from jaxcs.cli.bench import add_parser as add_bench
from jaxcs.cli.fig2 import add_parser as add_fig2
from jaxcs.cli.fig3 import add_parser as add_fig3
from jaxcs.cli.plot import add_parser as add_plot
from jaxcs.cli.reproduce import add_parser as add_reproduce
from jaxcs.cli.sweep import add_parser as add_sweep

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
    for add_command in (add_fig2, add_fig3, add_reproduce, add_sweep, add_plot, add_bench):
        add_command(sub)  # in this order in --help
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OSError as err:  # a full or read-only disk, a vanished file: the file and the cause
        print(f"jaxcs {args.command}: {err}", file=sys.stderr)
        return 1
