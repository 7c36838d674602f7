"""The sweep engine's run: a grid checked (:mod:`~jaxcs.sweeps.config`) and planned once
(:mod:`~jaxcs.sweeps.planning`) is compiled once per static shape, its problems sharded over every
device and host, every finished block kept, and one tidy table written
(:mod:`~jaxcs.sweeps.rows`). Only the plan is read here.

How a grid runs (:func:`sweep`):

1. **Groups** (the plan). Cells that share their static shapes (layer or matrix sizes, model
   and solver) form a group, one per solver; a group is one compiled program, ``vmap``-ed over
   its problems, whose dynamic inputs are the cell (its problem key), the problem number,
   ``k``, the step budget ``max_steps``, ``tol`` and the solver's parameter (step size or
   ``λ``).
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
   records the grid, versions, devices, seed, block size and timings
   (:mod:`~jaxcs.sweeps.record`).

Randomness is a function of ``(seed, cell, problem)`` alone (:mod:`jaxcs.sweeps.problems`), so
the table is bit-identical for any device count, process count, block order or resumption
(apart from the measured ``seconds`` and ``problems_per_second``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcs.io import write_json
from jaxcs.sweeps.config import load_config
from jaxcs.sweeps.config_values import ConfigError
from jaxcs.sweeps.filters_file import FiltersFile
from jaxcs.sweeps.memory import check_memory
from jaxcs.sweeps.planning import plan_sweep
from jaxcs.sweeps.problems import INPUTS, solve_block, support_extremes
from jaxcs.sweeps.progress import SweepProgress
from jaxcs.sweeps.record import start_record
from jaxcs.sweeps.rows import table_rows
from jaxcs.sweeps.store import BlockStore
from jaxcs.sweeps.table import write_csv, write_parquet

AXIS = "problems"


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
    plan = plan_sweep(config)
    check_memory(plan, keep_rows=output is None)
    lead = jax.process_index() == 0
    directory = None if output is None else Path(output)
    header = start_record(plan, directory, overwrite, lead)
    # a resumed run keeps the block size it was started with (its blocks are on disk)
    plan = dataclasses.replace(plan, batch=header["batch"])
    groups, per_cell, batch = plan.groups, plan.per_cell, plan.batch
    store = BlockStore(directory)
    if lead:
        store.remove_partial()
    mesh = jax.make_mesh((jax.device_count(),), (AXIS,))
    pending = {g.index: _pending(store, g, plan.num_blocks(g)) for g in groups}
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
            records_done["resumed_blocks"] += plan.num_blocks(group) - len(blocks)
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
    rows, columns, problems = table_rows(plan, store, directory)
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


def _problems_in(blocks, num_problems, batch) -> int:
    return sum(min(batch, num_problems - b * batch) for b in blocks)


def _pending(store, group, n: int) -> list[int]:
    """The blocks still to compute of the group's ``n`` (process 0's view, shared with every
    process)."""
    done = np.zeros(n, bool)
    if jax.process_index() == 0:
        for b in store.done(group):
            if b < n:
                done[b] = True
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        done = np.asarray(multihost_utils.broadcast_one_to_all(done))
    return [b for b in range(n) if not done[b]]


def _compiled(group, mesh, batch):
    """The group's program for ``batch`` problems per device on ``mesh``, compiled once per
    process: a second sweep of the same shapes (a notebook, a resumed run) compiles nothing.
    Fixed filters are constants of the program, so the cache keys on their content hash
    (:class:`~jaxcs.sweeps.filters_file.FiltersFile`): an edited file is another program, even
    at the same path, size and modification time."""
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


__all__ = ["SweepResult", "sweep"]
