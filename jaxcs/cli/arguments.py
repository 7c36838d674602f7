"""What the commands' parsers share: the help formatter that shows defaults, argparse types
that check counts, seeds, files and addresses before JAX is imported, and the flags of every
command that writes figures."""

from __future__ import annotations

import argparse
from pathlib import Path


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


def _subcommand(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=_HelpFormatter)


def _output_flags(parser, what: str) -> None:
    parser.add_argument("--no-plot", action="store_true", help=f"do not draw {what}")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars (e.g. for log files)"
    )
