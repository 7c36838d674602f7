"""A command's figures: drawn when the ``plot`` extra (matplotlib) is installed, else a line
saying they were skipped."""

from __future__ import annotations

from collections.abc import Callable

SKIPPED = "skipped (install the 'plot' extra: pip install 'jaxcs[plot]')"


def draw_or_skip(no_plot: bool, label: str, draw: Callable[[], object]) -> None:
    """Print ``label: PATH`` of the file ``draw()`` wrote, or ``label: skipped (...)`` when
    matplotlib is missing; nothing with ``no_plot`` (the command's ``--no-plot``)."""
    if no_plot:
        return
    try:
        path = draw()
    except ImportError:
        print(f"{label}: {SKIPPED}")
        return
    print(f"{label}: {path}")
