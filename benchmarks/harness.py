"""What every benchmark script shares: timing a call to its last result (its first call apart
from later ones, or per call over many), interleaved rounds, medians, and the JSON record written
beside the figures.

Figures are compared side by side in one process: each round runs every contender once (in
alternating order, so that neither always runs first on a warm or a cold machine), and a
contender's figure is its median over the rounds. Pin the process for CPU figures
(``taskset -c 0 python benchmarks/NAME.py``).
"""

from __future__ import annotations

import statistics
import time
import timeit
from collections.abc import Callable, Hashable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

SETTLE_SECONDS = 0.3

Name = TypeVar("Name", bound=Hashable)


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


def first_and_runs(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Seconds of the first call of ``fn`` (compilation and one run), seconds of each of
    ``repeats`` later calls (the run alone), and the first call's result."""
    first, out = timed(fn)
    return first, [timed(fn)[0] for _ in range(repeats)], out


def per_call(fn: Callable[[], Any], number: int, repeat: int = 5) -> float:
    """Seconds per call of ``fn`` (too short to time one by one, e.g. Python dispatch): the
    fastest of ``repeat`` batches of ``number`` calls, over ``number``. Nothing waits for JAX
    arrays."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def alternating(runs: dict[Name, Callable[[int], Any]], rounds: int) -> dict[Name, list[Any]]:
    """The result of every run in every round: round ``r`` calls each ``fn(r + 1)`` once (the
    round number, e.g. a seed that is not the warm-up's 0), in the given order on even rounds
    and reversed on odd ones. For runs that time themselves (e.g. a fresh process each)."""
    names = list(runs)
    results: dict[Name, list[Any]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(runs[name](r + 1))
    return results


def interleaved(
    runs: dict[Name, Callable[[int], Any]], rounds: int, *, settle: bool = False
) -> dict[Name, list[float]]:
    """Seconds (:func:`timed`) of every run in every round, in :func:`alternating`'s order:
    round ``r`` calls each ``fn(r + 1)`` once, the order reversed on odd rounds."""

    def seconds(fn: Callable[[int], Any], r: int) -> float:
        return timed(partial(fn, r), settle=settle)[0]

    return alternating({name: partial(seconds, fn) for name, fn in runs.items()}, rounds)


def medians(samples: dict[Name, list[float]]) -> dict[Name, dict]:
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
