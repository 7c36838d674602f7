"""The memory a sweep needs, checked before anything runs or is written: a grid whose blocks
(or whose summaries) cannot fit is refused with the figures and the keys that set them.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np

from jaxcs.sweeps.config_values import ConfigError
from jaxcs.sweeps.planning import SweepPlan
from jaxcs.sweeps.problems import problem_elements

# Memory a grid needs, checked before anything runs or is written (check_memory). Lower bounds,
# so that a refused grid surely cannot run (one near the limit may still run out: XLA's
# temporaries come on top): a block holds problem_elements(spec) values per problem; while a
# cell is summarized its records take at least RECORD_BYTES per problem (its numbers and their
# concatenated copies), and each per-problem row (run.per_problem) is a Python dict of at least
# ROW_BYTES.
RECORD_BYTES = 128
ROW_BYTES = 1024


def check_memory(plan: SweepPlan, *, keep_rows: bool = False) -> None:
    """Refuse a grid whose blocks (or whose summaries) cannot fit in memory, with the figures.

    A block of ``B`` problems (:func:`~jaxcs.sweeps.planning.block_size`) holds at least
    ``B`` times :func:`~jaxcs.sweeps.problems.problem_elements` values of ``run.dtype`` on each
    device; CPU devices share the host's memory (physical memory, or the container's limit if
    lower), an accelerator has its own (``memory_stats()["bytes_limit"]``; unknown: not checked).
    Summarizing holds one cell's records (and, with ``run.per_problem`` and ``keep_rows``, every
    problem's row) in host memory. The figures are lower bounds (see :data:`RECORD_BYTES`).

    Raises:
        ConfigError: the figure needed, the figure available, and the keys that set them.
    """
    config, groups, batch = plan.config, plan.groups, plan.batch
    itemsize = np.dtype(config.run["dtype"]).itemsize
    largest = max(groups, key=lambda g: problem_elements(g.spec))
    per_block = problem_elements(largest.spec) * itemsize * batch
    devices = jax.local_devices()
    host = _host_memory()
    if devices[0].platform == "cpu":
        needed, available = per_block * len(devices), host
        where = f"host memory ({len(devices)} CPU device(s), one block each)"
    else:
        needed, available = per_block, _device_memory(devices[0])
        where = f"memory of {devices[0]}"
    if available is not None and needed > available:
        sizes = "matrix.n and matrix.delta" if config.problem == "matrix" else "operator sizes"
        raise ConfigError(
            f"a block of {batch} problem(s) of {largest.solver} on {_sizes(largest.spec)} "
            f"({config.run['dtype']}) needs at least {_bytes(needed)} of {where}; "
            f"{_bytes(available)} available: reduce the {sizes}"
            + (" or run.batch" if config.run["batch"] > 1 else "")
        )
    per_cell = plan.per_cell
    per_problem = RECORD_BYTES + (ROW_BYTES if config.run["per_problem"] else 0)
    needed = per_cell * per_problem
    if keep_rows and config.run["per_problem"]:
        needed += ROW_BYTES * sum(g.num_problems(per_cell) for g in groups)
    if host is not None and needed > host:
        raise ConfigError(
            f"run.seeds = {per_cell} problems per cell need at least {_bytes(needed)} of host "
            f"memory to summarize (about {per_problem} bytes per problem"
            + (
                ", and every problem's row kept in memory without an output directory"
                if keep_rows and config.run["per_problem"]
                else ""
            )
            + f"); {_bytes(host)} available: lower run.seeds"
            + (" or turn off run.per_problem" if config.run["per_problem"] else "")
        )


def _sizes(spec) -> str:
    if spec.problem == "matrix":
        kind, m, n = spec.shape
        return f"{kind} {m} x {n} matrices"
    if spec.problem == "family":
        family, params = spec.shape
        return f"{family.name} operators ({', '.join(f'{k}={v}' for k, v in params)})"
    filter_shape, in_channels, out_channels, in_spatial = spec.shape[:4]
    return (
        f"layers of filters {filter_shape} x {in_channels} x {out_channels} on inputs {in_spatial}"
    )


def _bytes(count: int) -> str:
    return f"{count:,} bytes ({count / 2**30:.3g} GiB)"


def _host_memory() -> int | None:
    """Physical memory, or the cgroup's (container's) limit when it is lower; ``None`` if the
    platform says neither."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = None
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = int(Path(name).read_text().strip())
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
        total = limit if total is None else min(total, limit)
    return total


def _device_memory(device) -> int | None:
    """An accelerator's memory (``memory_stats()["bytes_limit"]``), or ``None`` if unknown."""
    try:
        stats = device.memory_stats()
    except Exception:  # not every backend implements memory_stats
        return None
    limit = (stats or {}).get("bytes_limit")
    return int(limit) if limit else None
