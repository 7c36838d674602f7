"""What every benchmark script shares: timing a call to its last result, interleaved rounds,
medians, and the JSON record written beside the figures.

Figures are compared side by side in one process: each round runs every contender once (in
alternating order, so that neither always runs first on a warm or a cold machine), and a
contender's figure is its median over the rounds. Pin the process for CPU figures
(``taskset -c 0 python benchmarks/NAME.py``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

SETTLE_SECONDS = 0.3


def timed(fn: Callable[[], Any], *, settle: bool = False) -> tuple[float, Any]:
    """Seconds for ``fn()`` until its JAX arrays are ready, and its result. With ``settle``, a
    short pause first, so that the thread pools of the previous measurement (XLA's, BLAS's)
    are idle and do not compete with this one."""
    import jax  # here: a worker may configure JAX (platforms, flags) after importing this

    if settle:
        time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def interleaved(
    runs: dict[str, Callable[[int], Any]], rounds: int, *, settle: bool = False
) -> dict[str, list[float]]:
    """Seconds of every run in every round: round ``r`` calls each ``fn(r + 1)`` once (the
    round number, e.g. a seed that is not the warm-up's 0), in the given order on even rounds
    and reversed on odd ones."""
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            seconds[name].append(timed(partial(runs[name], r + 1), settle=settle)[0])
    return seconds


def medians(samples: dict[str, list[float]]) -> dict[str, dict]:
    """``{name: {"median": …, "all": […]}}`` (what the JSON records keep)."""
    return {name: {"median": statistics.median(v), "all": list(v)} for name, v in samples.items()}


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of ``a / b`` (the two ran back to back in each round: robust to
    a load that drifts between rounds)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def save(path: Path | str, result: dict) -> Path:
    """Write ``result`` as JSON to ``path`` (folders made), with the machine and versions
    (:func:`jaxcs.io.environment`) under ``"environment"`` unless it has them already."""
    from jaxcs.io import environment, write_json  # here: cr-sparse's worker has no jaxcs

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"environment": environment()} | result)
    return path
