"""Progress bars, one mechanism for every long run: a tqdm bar when the ``progress`` extra is
installed (else nothing), which host code advances directly and jitted loops advance through
``jax.debug.callback`` with the bar's integer id (:class:`progress_bar`, :func:`tick`)."""

from __future__ import annotations

from itertools import count
from typing import Protocol

import numpy as np


class Bar(Protocol):
    """What jaxcs uses of a tqdm bar."""

    def update(self, n: int = 1, /) -> object: ...

    def set_postfix_str(self, s: str = "", /) -> object: ...

    def close(self) -> None: ...


BARS: dict[int, Bar] = {}  # the open bars of progress_bar, by id
_IDS = count(1)


def bar(
    total: int, *, desc: str = "", unit: str = "it", initial: int = 0, leave: bool = True
) -> Bar | None:
    """A tqdm bar, or ``None`` without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave)


def tick(bar_id, increment) -> None:
    """Advance the open bar ``bar_id`` by ``increment`` (host values or the arrays of a
    ``jax.debug.callback``: under ``vmap`` every member reports the same increment)."""
    open_bar = BARS.get(int(np.max(np.asarray(bar_id))))
    if open_bar is not None:
        open_bar.update(int(np.max(np.asarray(increment))))


def advance_progress(bar_id, increment: int) -> None:
    """Advance the bar of :class:`progress_bar` ``bar_id`` by ``increment`` from the host
    (a no-op for the id 0 of a disabled bar)."""
    if bar_id:
        tick(bar_id, increment)


class progress_bar:
    """Context manager: a bar that jitted loops can advance (:func:`tick` in a
    ``jax.debug.callback``). Yields an integer id to pass along; 0 when disabled or without
    tqdm (no reporting)."""

    def __init__(self, total: int, desc: str = "", enabled: bool = True, unit: str = "sample"):
        self.total, self.desc, self.enabled, self.unit = total, desc, enabled, unit
        self.id = 0

    def __enter__(self) -> int:
        opened = (
            bar(self.total, desc=self.desc, unit=self.unit, leave=False) if self.enabled else None
        )
        if opened is None:
            return 0
        self.id = next(_IDS)
        BARS[self.id] = opened
        return self.id

    def __exit__(self, *exc):
        opened = BARS.pop(self.id, None)
        if opened is not None:
            opened.close()
        return False
