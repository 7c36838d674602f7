"""The sweep engine: compile once per static shape, shard problems over every device and host,
keep every finished block, and write one tidy table.

How a grid runs (:func:`sweep`):

1. **Groups.** Cells that share their static shapes (layer or matrix sizes, model and solver)
   form a group, one per solver; a group is one compiled program, ``vmap``-ed over its
   problems, whose dynamic inputs are the cell (its problem key), the problem number, ``k``,
   the step budget ``max_steps``, ``tol`` and the solver's parameter (step size or ``λ``).
   So a sweep compiles exactly once per group, and a resumed sweep compiles nothing for a
   finished group.
2. **Blocks.** A group's problems (cell-major: cell 0's problems, then cell 1's, ...) are cut
   into blocks of ``B`` problems (``run.batch``, or sized from the problem so that a block's
   arrays stay within a fixed budget: memory is bounded for any grid). Each program call runs
   one block per device (``jax.shard_map`` over a 1-D mesh of every device of every process);
   a device always runs the same ``B``-problem program, so results do not depend on the
   device count.
3. **Hosts.** After ``jax.distributed.initialize`` the mesh spans every process; each process
   feeds only its own devices (``jax.make_array_from_callback``), results are gathered
   (``process_allgather``) and process 0 alone writes.
4. **Never lose work.** Each finished block is written atomically (:class:`BlockStore`); a run
   started again on the same directory computes only the missing blocks. ``sweep.json``
   records the grid, versions, devices, seed, block size and timings.

Randomness is a function of ``(seed, cell, problem)`` alone (:mod:`jaxcs.sweeps.problems`), so
the table is bit-identical for any device count, process count, block order or resumption
(apart from the measured ``seconds`` and ``problems_per_second``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcs._progress import bar
from jaxcs.io import environment, write_json
from jaxcs.models import default_capacity
from jaxcs.sweeps.config import (
    ConfigError,
    FiltersFile,
    SweepConfig,
    load_config,
    solver_parameter,
)
from jaxcs.sweeps.problems import (
    INPUTS,
    ProgramSpec,
    problem_elements,
    solve_block,
    support_extremes,
)
from jaxcs.sweeps.store import BlockStore
from jaxcs.sweeps.table import (
    format_value,
    statistic_columns,
    summarize,
    text_columns,
    write_csv,
    write_parquet,
)

AXIS = "problems"
# Block sizing per backend: on CPU small blocks were fastest (a vmapped while loop runs until
# its slowest problem, and small blocks stay in cache: 615 / 483 / 384 problems/s for blocks
# of 8 / 32 / 128 on a Gaussian grid, 2 cores); accelerators want wide batches.
BLOCK_BUDGET = {"cpu": 2**24}  # array elements alive per block (64 MiB in float32)
MAX_BLOCK = {"cpu": 32}
ACCELERATOR_BUDGET, ACCELERATOR_MAX_BLOCK = 2**27, 1024
MIN_BLOCKS = 8  # blocks of the largest group: up to this many devices stay busy
OUTPUT_FILES = ("results.csv", "results.parquet", "problems.csv", "problems.parquet")
# Memory a grid needs, checked before anything runs or is written (check_memory). Lower bounds,
# so that a refused grid surely cannot run (one near the limit may still run out: XLA's
# temporaries come on top): a block holds problem_elements(spec) values per problem; while a
# cell is summarized its records take at least RECORD_BYTES per problem (its numbers and their
# concatenated copies), and each per-problem row (run.per_problem) is a Python dict of at least
# ROW_BYTES.
RECORD_BYTES = 128
ROW_BYTES = 1024


class SweepError(RuntimeError):
    """A sweep that cannot start (e.g. a directory holding another grid's results)."""


@dataclasses.dataclass(frozen=True)
class Group:
    """Cells that run as one compiled program (one solver, one static shape).

    Attributes:
        index: position among the groups.
        solver: the solver's name in the grid (``solver.name``).
        spec: the static configuration of the program.
        cells: the group's cells, in grid order.
        inputs: per cell, the dynamic inputs ``cell_key``, ``k``, ``tol``, ``param``.
        filters: the fixed filters of an ``operator.filters`` file
            (:class:`~jaxcs.sweeps.config.FiltersFile`, read when the grid was checked), or
            ``None``.
    """

    index: int
    solver: str
    spec: ProgramSpec
    cells: tuple
    inputs: dict
    filters: FiltersFile | None

    def num_problems(self, per_cell: int) -> int:
        return len(self.cells) * per_cell


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` returns.

    Attributes:
        rows: one dict per cell and solver (the rows of ``results.csv``).
        columns: the table's column names, in order.
        header: the run's record (what ``sweep.json`` holds).
        directory: the output directory, or ``None``.
        problems: per-problem rows when ``run.per_problem`` and no directory (else they are in
            ``problems.csv``), or ``None``.
    """

    rows: list
    columns: list
    header: dict
    directory: Path | None = None
    problems: list | None = None

    def table(self) -> dict[str, np.ndarray]:
        """The table as ``{column: array}``."""
        return {c: np.asarray([row.get(c) for row in self.rows]) for c in self.columns}

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def plan(config: SweepConfig) -> list[Group]:
    """Split the grid into groups of cells that share one compiled program."""
    keys: dict[tuple, list] = {}
    for cell in config.cells:
        for solver in config.solvers:
            keys.setdefault(_static_key(config, cell, solver), []).append(cell)
    groups = []
    for index, (key, cells) in enumerate(keys.items()):
        solver = key[0]
        first = cells[0]
        capacity = default_capacity(max(c.k for c in cells))
        spec = ProgramSpec(
            problem=config.problem,
            shape=_shape(config, first),
            model=_model(config, first),
            capacity=capacity,
            solver=config.families["solver"][solver],
            static_param=key[3],
            rip=config.run["rip"],
            seed=config.run["seed"],
            dtype=config.run["dtype"],
        )
        inputs = {
            "cell_key": np.array([c.problem_key() for c in cells], np.uint32),
            "k": np.array([c.k for c in cells], np.int32),
            "max_steps": np.array([c.params["max_steps"] for c in cells], np.int32),
            "tol": np.array([c.params["tol"] for c in cells], np.float64),
            "param": np.array([_dynamic_param(config, c, solver) for c in cells], np.float64),
        }
        filters = config.filters.get(first.params.get("filters"))
        groups.append(Group(index, solver, spec, tuple(cells), inputs, filters))
    return groups


def _static_key(config, cell, solver) -> tuple:
    param = solver_parameter(config, cell, solver)
    return (
        solver,
        _shape(config, cell),
        _model(config, cell),
        param if isinstance(param, str) else None,  # a string (IHT's "auto") is static
    )


def _shape(config, cell) -> tuple:
    p = cell.params
    if config.problem == "matrix":
        return (p["matrix"], cell.derived["m"], p["n"])
    if config.problem == "family":
        (family,) = config.families["operator"].values()
        return (family, tuple((name, p[name]) for name in family.parameters))
    return (
        p["filter_shape"],
        p["in_channels"],
        p["out_channels"],
        p["input_shape"],
        cell.derived["stride"],
        p["padding"],
        p["filters"],
    )


def _model(config, cell) -> tuple:
    p, d = cell.params, cell.derived
    family = config.families["model"][p["model"]]
    return (family, d["model_params"], d["nonnegative"], p["distribution"])


def _dynamic_param(config, cell, solver) -> float:
    value = solver_parameter(config, cell, solver)
    return 0.0 if value is None or isinstance(value, str) else float(value)


def block_size(config: SweepConfig, groups: list[Group]) -> int:
    """Problems per block: ``run.batch``, else the largest power of two (≤ 32 on CPU, ≤ 1024 on
    GPU/TPU) whose arrays fit the block budget and that cuts the largest group into at least 8
    blocks (so that up to 8 devices share it; for more, set ``run.batch``). A function of the
    grid and the backend, never of the device count: that is what makes tables identical
    across device and process counts."""
    if config.run["batch"]:
        return config.run["batch"]
    backend = jax.default_backend()
    budget = BLOCK_BUDGET.get(backend, ACCELERATOR_BUDGET)
    cap = MAX_BLOCK.get(backend, ACCELERATOR_MAX_BLOCK)
    elements = max(problem_elements(g.spec) for g in groups)
    largest = max(g.num_problems(config.problems_per_cell) for g in groups)
    size = max(1, min(cap, budget // elements, -(-largest // MIN_BLOCKS)))
    return 1 << (size.bit_length() - 1)


def sweep(
    config,
    output: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    compile_cache: str | Path | None = None,
) -> SweepResult:
    """Run a sweep grid (module docstring) and return its table.

    jit/vmap do not apply: this is the driver that compiles and runs the programs.

    Args:
        config: the grid: a TOML path or string, a dict, or a :class:`SweepConfig`
            (:func:`load_config`).
        output: directory for ``results.csv`` (and ``results.parquet`` with pyarrow),
            ``problems.csv``/``.parquet`` (``run.per_problem``), ``sweep.json`` and the finished
            blocks. A directory that holds an unfinished run of the same grid is resumed; one
            of another grid is refused unless ``overwrite``. ``None``: keep everything in
            memory.
        overwrite: discard earlier results in ``output``.
        progress: show a progress bar (tqdm; process 0 only).
        compile_cache: directory of JAX's persistent compilation cache (repeated runs then
            skip compilation).

    Returns:
        A :class:`SweepResult` (on processes other than 0: rows empty, nothing written).

    Raises:
        ConfigError: a bad grid, naming the key, or one whose blocks cannot fit in memory
            (:func:`check_memory`, with the figures), before anything runs or is written.
        SweepError: ``output`` holds another grid's results (and not ``overwrite``).
    """
    config = load_config(config)
    if config.run["dtype"] == "float64" and not jax.config.read("jax_enable_x64"):
        raise ConfigError(
            "run.dtype = 'float64' needs 64-bit JAX: set JAX_ENABLE_X64=1 (or "
            "jax.config.update('jax_enable_x64', True)) before running"
        )
    if compile_cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(compile_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    started = time.perf_counter()
    groups = plan(config)
    check_memory(config, groups, keep_rows=output is None)
    lead = jax.process_index() == 0
    directory = None if output is None else Path(output)
    header = _start(config, groups, directory, overwrite, lead)
    batch = header["batch"]
    store = BlockStore(directory)
    if lead:
        store.remove_partial()
    mesh = jax.make_mesh((jax.device_count(),), (AXIS,))
    per_cell = config.problems_per_cell
    pending = {g.index: _pending(store, g, per_cell, batch) for g in groups}
    total = sum(g.num_problems(per_cell) for g in groups)
    remaining = sum(
        _problems_in(blocks, g.num_problems(per_cell), batch)
        for g, blocks in zip(groups, pending.values(), strict=True)
    )
    bar = SweepProgress(groups, pending, per_cell, batch, total - remaining, progress and lead)
    records_done = {"computed_blocks": 0, "resumed_blocks": 0}
    try:
        for group in groups:
            blocks = pending[group.index]
            records_done["resumed_blocks"] += _num_blocks(group, per_cell, batch) - len(blocks)
            entry = header["groups"][group.index]
            if not blocks:
                continue
            run_seconds, compile_seconds = _run_group(
                group, blocks, store, mesh, per_cell, batch, bar, lead
            )
            entry["compile_seconds"] = entry.get("compile_seconds", 0.0) + compile_seconds
            entry["run_seconds"] = entry.get("run_seconds", 0.0) + run_seconds
            entry["computed_blocks"] = entry.get("computed_blocks", 0) + len(blocks)
            records_done["computed_blocks"] += len(blocks)
            if lead and directory is not None:
                write_json(directory / "sweep.json", header)
    finally:
        bar.close()
    header["last_run"] = records_done | {"seconds": time.perf_counter() - started}
    if not lead:
        return SweepResult([], [], header, directory)
    rows, columns, problems = _aggregate(config, groups, store, per_cell, batch, directory)
    header["complete"] = True
    header["columns"] = columns
    header["seconds"] = header.get("seconds", 0.0) + header["last_run"]["seconds"]
    if directory is not None:
        write_csv(directory / "results.csv", rows, columns)
        header["files"] = ["results.csv"]
        if write_parquet(directory / "results.parquet", rows, columns):
            header["files"].append("results.parquet")
        if config.run["per_problem"]:
            header["files"] += [p.name for p in sorted(directory.glob("problems.*"))]
        write_json(directory / "sweep.json", header)
    return SweepResult(rows, columns, header, directory, problems)


def check_memory(config: SweepConfig, groups: list[Group], *, keep_rows: bool = False) -> None:
    """Refuse a grid whose blocks (or whose summaries) cannot fit in memory, with the figures.

    A block of ``B`` problems (:func:`block_size`) holds at least ``B`` times
    :func:`~jaxcs.sweeps.problems.problem_elements` values of ``run.dtype`` on each device;
    CPU devices share the host's memory (physical memory, or the container's limit if lower),
    an accelerator has its own (``memory_stats()["bytes_limit"]``; unknown: not checked).
    Summarizing holds one cell's records (and, with ``run.per_problem`` and ``keep_rows``, every
    problem's row) in host memory. The figures are lower bounds (see :data:`RECORD_BYTES`).

    Raises:
        ConfigError: the figure needed, the figure available, and the keys that set them.
    """
    batch = block_size(config, groups)
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
    per_cell = config.problems_per_cell
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
    filter_shape, in_channels, out_channels, input_shape = spec.shape[:4]
    return (
        f"layers of filters {filter_shape} x {in_channels} x {out_channels} on inputs {input_shape}"
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


def _start(config, groups, directory, overwrite, lead) -> dict:
    """The run's header: a new one, or the earlier run's when resuming the same grid."""
    fingerprint = config.fingerprint()
    if directory is not None and (path := directory / "sweep.json").exists():
        try:
            earlier = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            if not overwrite:
                raise SweepError(
                    f"{path} is not a sweep record (not valid JSON: {err}); choose another "
                    "output directory or pass overwrite=True (--overwrite)"
                ) from None
            earlier = {}
        if not isinstance(earlier, dict):
            earlier = {}
        if overwrite:
            if lead:
                BlockStore(directory).clear()
                for name in OUTPUT_FILES:
                    (directory / name).unlink(missing_ok=True)
        elif earlier.get("fingerprint") != fingerprint:
            raise SweepError(
                f"{directory} holds the results of another grid{_changed_files(config, earlier)} "
                f"(fingerprint {earlier.get('fingerprint')}, this grid {fingerprint}); choose "
                "another output directory or pass overwrite=True (--overwrite)"
            )
        else:
            earlier["resumed"] = earlier.get("resumed", 0) + 1
            earlier["complete"] = False
            earlier["environment"] = environment()  # this run's machine (timings are its own)
            earlier["devices"] = [str(d) for d in jax.devices()]
            earlier["process_count"] = jax.process_count()
            return earlier
    elif directory is not None and (directory / "blocks").exists():
        if not overwrite:
            raise SweepError(
                f"{directory} holds blocks but no sweep.json (not a jaxcs sweep directory?); "
                "choose another output directory or pass overwrite=True (--overwrite)"
            )
        if lead:
            shutil.rmtree(directory / "blocks")
    per_cell = config.problems_per_cell
    header = {
        "fingerprint": fingerprint,
        "config": config.source,
        "environment": environment(),
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
        "seed": config.run["seed"],
        "randomness": "key = fold_in(fold_in(PRNGKey(seed), cell_key), problem)",
        "problems_per_cell": per_cell,
        "cells": len(config.cells),
        "axes": list(config.axes),
        "solvers": list(config.solvers),
        "batch": None,
        "groups": [],
        "complete": False,
        "resumed": 0,
    }
    if config.filters:  # what the fingerprint covers, by file (to say which one changed)
        header["filters_sha256"] = {path: f.sha256 for path, f in config.filters.items()}
    header["batch"] = block_size(config, groups)
    for g in groups:
        header["groups"].append(
            {
                "index": g.index,
                "solver": g.solver,
                "static": g.spec.describe(),
                "cells": [c.index for c in g.cells],
                "problems": g.num_problems(per_cell),
                "blocks": _num_blocks(g, per_cell, header["batch"]),
            }
        )
    if directory is not None and lead:
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "sweep.json", header)
    return header


def _changed_files(config, earlier: dict) -> str:
    """Why a directory of the same grid is another grid's: its filters files' contents."""
    same = json.dumps(earlier.get("config"), sort_keys=True) == json.dumps(
        config.source, sort_keys=True
    )
    if not same or not config.filters:
        return ""
    if "filters_sha256" not in earlier:
        return ": the same grid, from a jaxcs that did not record its filters files' contents"
    then = earlier["filters_sha256"]
    changed = [path for path, f in config.filters.items() if then.get(path) != f.sha256]
    return (
        f": the same grid, but {', '.join(changed)} no longer holds the filters its results "
        "were computed with (edited since)"
    )


def _num_blocks(group, per_cell, batch) -> int:
    return -(-group.num_problems(per_cell) // batch)


def _problems_in(blocks, num_problems, batch) -> int:
    return sum(min(batch, num_problems - b * batch) for b in blocks)


def _pending(store, group, per_cell, batch) -> list[int]:
    """The blocks still to compute (process 0's view, shared with every process)."""
    n = _num_blocks(group, per_cell, batch)
    done = np.zeros(n, bool)
    if jax.process_index() == 0:
        for b in store.done(group):
            if b < n:
                done[b] = True
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        done = np.asarray(multihost_utils.broadcast_one_to_all(done))
    return [b for b in range(n) if not done[b]]


class SweepProgress:
    """One tqdm bar for the whole run (process 0 only): problems done, problems/s, the ETA,
    and the finished cells (cell × solver pairs whose every block is written)."""

    def __init__(self, groups, pending, per_cell, batch, initial, enabled):
        self.per_cell, self.batch = per_cell, batch
        self.missing = {g.index: set(pending[g.index]) for g in groups}
        self.cells = {g.index: len(g.cells) for g in groups}
        self.total_cells = sum(self.cells.values())
        self.bar = None
        if enabled:
            total = sum(g.num_problems(per_cell) for g in groups)
            self.bar = bar(total, initial=initial, desc="sweep", unit="problem")
            if self.bar is not None:
                self._show()

    def _finished_cells(self) -> int:
        done = 0
        for group, missing in self.missing.items():
            for position in range(self.cells[group]):
                first = position * self.per_cell // self.batch
                last = ((position + 1) * self.per_cell - 1) // self.batch
                done += not any(b in missing for b in range(first, last + 1))
        return done

    def _show(self) -> None:
        assert self.bar is not None  # called only while there is a bar
        self.bar.set_postfix_str(f"cells {self._finished_cells()}/{self.total_cells}")

    def update(self, group, blocks, problems: int) -> None:
        self.missing[group.index].difference_update(blocks)
        if self.bar is not None:
            self.bar.update(problems)
            self._show()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _compiled(group, mesh, batch):
    """The group's program for ``batch`` problems per device on ``mesh``, compiled once per
    process: a second sweep of the same shapes (a notebook, a resumed run) compiles nothing.
    Fixed filters are constants of the program, so the cache keys on their content hash
    (:class:`~jaxcs.sweeps.config.FiltersFile`): an edited file is another program, even at the
    same path, size and modification time."""
    return _compile(group.spec, group.filters, mesh, batch)


@functools.lru_cache(maxsize=64)
def _compile(spec, fixed: FiltersFile | None, mesh, batch):
    filters = None if fixed is None else fixed.array

    def block(inputs):
        return solve_block(spec, inputs, filters)

    program = jax.jit(
        jax.shard_map(block, mesh=mesh, in_specs=P(AXIS), out_specs=P(AXIS), check_vma=False),
    )
    sharding = NamedSharding(mesh, P(AXIS))
    shapes = {
        name: jax.ShapeDtypeStruct((mesh.size * batch,), dtype, sharding=sharding)
        for name, dtype in _input_dtypes(spec).items()
    }
    return program.lower(shapes).compile()


def _input_dtypes(spec) -> dict:
    real = np.dtype(spec.dtype)
    return {name: (real if dtype is None else np.dtype(dtype)) for name, dtype in INPUTS.items()}


def _run_group(group, blocks, store, mesh, per_cell, batch, bar, lead) -> tuple[float, float]:
    devices = mesh.size
    sharding = NamedSharding(mesh, P(AXIS))
    dtypes = _input_dtypes(group.spec)
    t0 = time.perf_counter()
    compiled = _compiled(group, mesh, batch)
    compile_seconds = time.perf_counter() - t0
    num_problems = group.num_problems(per_cell)
    run_seconds = 0.0
    for start in range(0, len(blocks), devices):
        step = blocks[start : start + devices]
        slots = step + [step[-1]] * (devices - len(step))  # idle devices repeat a block
        host, valid = _step_inputs(group, slots, per_cell, batch, num_problems, dtypes)
        t0 = time.perf_counter()
        arrays = {name: _global_array(value, sharding) for name, value in host.items()}
        out = _gather(compiled(arrays))
        if group.spec.rip == "eigenvalues":
            out = support_extremes(out, group.spec.nonnegative)
        seconds = time.perf_counter() - t0
        run_seconds += seconds
        counted = sum(int(valid[d].sum()) for d in range(len(step)))
        for d, b in enumerate(step):
            keep = valid[d]
            records = {
                name: value[d * batch : (d + 1) * batch][keep] for name, value in out.items()
            }
            problem = b * batch + np.arange(batch)[keep]
            records["cell"] = np.array([group.cells[p // per_cell].index for p in problem])
            records["problem"] = problem % per_cell
            records["seconds"] = np.asarray(seconds * keep.sum() / counted)
            if lead:
                store.write(group, b, records)
        bar.update(group, step, counted)
    return run_seconds, compile_seconds


def _step_inputs(group, slots, per_cell, batch, num_problems, dtypes):
    """Host inputs of one program call: ``len(slots)`` blocks, one per device."""
    index = (np.asarray(slots)[:, None] * batch + np.arange(batch)[None, :]).reshape(-1)
    valid = index < num_problems
    index = np.minimum(index, num_problems - 1)
    cell, problem = index // per_cell, index % per_cell
    host = {
        "cell_key": group.inputs["cell_key"][cell],
        "problem": problem,
        "k": group.inputs["k"][cell],
        "max_steps": group.inputs["max_steps"][cell],
        "tol": group.inputs["tol"][cell],
        "param": group.inputs["param"][cell],
    }
    host = {name: np.asarray(value, dtypes[name]) for name, value in host.items()}
    return host, valid.reshape(len(slots), batch)


def _global_array(value: np.ndarray, sharding):
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def _gather(out: dict) -> dict[str, np.ndarray]:
    if jax.process_count() == 1:
        return {name: np.asarray(value) for name, value in out.items()}
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(out, tiled=True)
    return {name: np.asarray(value) for name, value in gathered.items()}


def _problem_params(config, cell, solver, text: set) -> dict:
    """The columns that say which problem a row is of: the cell, its grid parameters, the
    derived ``m`` and ``k``, and the solver."""
    row = {"cell": cell.index}
    for column, value in cell.params.items():
        if column not in config.solver_columns:
            row[column] = format_value(value, column in text)
    if config.problem == "matrix":
        row["m"] = cell.derived["m"]
    row["k"] = cell.k
    row["solver"] = solver
    return row


def _row_params(config, cell, solver, text: set) -> dict:
    """:func:`_problem_params` and the parameters the solver ran with."""
    row = _problem_params(config, cell, solver, text)
    row["max_steps"] = cell.params["max_steps"]
    row["tol"] = cell.params["tol"]
    param = solver_parameter(config, cell, solver)
    own = config.families["solver"][solver].parameter
    for column in config.solver_columns[2:]:  # step_size, lam, registered solvers' own
        row[column] = param if column == own else None
    return row


PROBLEM_COLUMNS = ("problem", "error", "status", "num_steps", "residual")


def _aggregate(config, groups, store, per_cell, batch, directory):
    """Stream every group's blocks in order into rows (a cell is summarized as soon as its
    last problem is read: memory holds one cell's records at a time)."""
    rip, tolerance = config.run["rip"], config.run["success_tolerance"]
    rows, problems_out = [], []
    text = text_columns(config.cells)
    writer = ProblemWriter(directory, config.run["per_problem"]) if directory else None
    for group in groups:
        pending: dict[int, dict[str, list]] = {}
        seconds: dict[int, float] = {}
        cells = {c.index: c for c in group.cells}
        position = {c.index: p for p, c in enumerate(group.cells)}
        for b in range(_num_blocks(group, per_cell, batch)):
            records = store.read(group, b)
            block_seconds = float(records["seconds"])
            count = len(records["cell"])
            for cell_index in np.unique(records["cell"]):
                take = records["cell"] == cell_index
                acc = pending.setdefault(int(cell_index), {})
                for name, value in records.items():
                    if name not in ("cell", "seconds"):
                        acc.setdefault(name, []).append(value[take])
                seconds[int(cell_index)] = (
                    seconds.get(int(cell_index), 0.0) + block_seconds * take.sum() / count
                )
            last = (b + 1) * batch
            for cell_index in list(pending):
                if (position[cell_index] + 1) * per_cell <= last:
                    data = {n: np.concatenate(v) for n, v in pending.pop(cell_index).items()}
                    cell = cells[cell_index]
                    base = _row_params(config, cell, group.solver, text)
                    row = base | summarize(data, tolerance, rip)
                    elapsed = seconds.pop(cell_index)
                    row["seconds"] = elapsed
                    row["problems_per_second"] = row["problems"] / elapsed if elapsed else None
                    rows.append(row)
                    if config.run["per_problem"]:
                        ids = _problem_params(config, cell, group.solver, text)
                        per = _problem_rows(ids, data, rip)
                        if writer is not None:
                            writer.write(per)
                        else:
                            problems_out.extend(per)
    if writer is not None:
        writer.close()
    order = {name: i for i, name in enumerate(config.solvers)}
    rows.sort(key=lambda r: (r["cell"], order[r["solver"]]))
    columns = list(rows[0]) if rows else []
    for column in statistic_columns(rip):
        if column not in columns:
            columns.append(column)
    return rows, columns, (problems_out if config.run["per_problem"] and not directory else None)


def _problem_rows(base: dict, data: dict, rip) -> list[dict]:
    names: list[str] = list(PROBLEM_COLUMNS)
    if rip:
        names.append("ratio")
    if rip == "eigenvalues":
        names += ["eig_min", "eig_max"]
    out = []
    for i in range(len(data["problem"])):
        row = dict(base)
        for name in names:
            value = data[name][i]
            row[name] = value.item() if hasattr(value, "item") else value
        out.append(row)
    return out


class ProblemWriter:
    """Streams per-problem rows to ``problems.csv`` (and ``problems.parquet`` with pyarrow)."""

    def __init__(self, directory: Path, enabled: bool):
        self.enabled = enabled
        self.directory = directory
        self._csv = None
        self._parquet: Any = None  # None, "pending" (no table yet) or a pyarrow ParquetWriter

    def write(self, rows: list[dict]) -> None:
        if not self.enabled or not rows:
            return
        import csv

        if self._csv is None:
            self.columns = list(rows[0])
            self._file = open(self.directory / "problems.csv.tmp", "w", newline="")
            self._csv = csv.DictWriter(self._file, fieldnames=self.columns)
            self._csv.writeheader()
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq

                self._pa = pa
                self._parquet_path = self.directory / "problems.parquet.tmp"
                self._parquet = "pending"
                self._pq = pq
            except ImportError:
                self._parquet = None
        for row in rows:
            self._csv.writerow({c: ("" if row[c] is None else row[c]) for c in self.columns})
        if self._parquet is not None:
            data = {c: [row[c] for row in rows] for c in self.columns}
            table = self._pa.table(data)
            if self._parquet == "pending":
                self._parquet = self._pq.ParquetWriter(self._parquet_path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))

    def close(self) -> None:
        if self._csv is None:
            return
        self._file.close()
        (self.directory / "problems.csv.tmp").replace(self.directory / "problems.csv")
        if self._parquet not in (None, "pending"):
            self._parquet.close()
            self._parquet_path.replace(self.directory / "problems.parquet")


__all__ = ["Group", "SweepError", "SweepResult", "plan", "sweep"]
