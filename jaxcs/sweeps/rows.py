"""The finished blocks read back, in order, into the table's rows: one row per cell and solver
(its parameters and statistics) and, with ``run.per_problem``, one row per problem. A cell is
summarized as soon as its last problem is read: memory holds one cell's records at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxcs.sweeps.planning import Group, SweepPlan
from jaxcs.sweeps.store import BlockStore
from jaxcs.sweeps.table import (
    ProblemWriter,
    format_value,
    statistic_columns,
    summarize,
    text_columns,
)

PROBLEM_COLUMNS = ("problem", "error", "status", "num_steps", "residual")


def table_rows(plan: SweepPlan, store: BlockStore, directory: Path | None):
    """Stream every group's blocks in order into rows (a cell is summarized as soon as its
    last problem is read: memory holds one cell's records at a time)."""
    config, per_cell, batch = plan.config, plan.per_cell, plan.batch
    rip, tolerance = config.run["rip"], config.run["success_tolerance"]
    rows, problems_out = [], []
    text = text_columns(config.cells)
    writer = ProblemWriter(directory, config.run["per_problem"]) if directory else None
    for group in plan.groups:
        pending: dict[int, dict[str, list]] = {}
        seconds: dict[int, float] = {}
        cells = {c.index: c for c in group.cells}
        position = {c.index: p for p, c in enumerate(group.cells)}
        for b in range(plan.num_blocks(group)):
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
                    base = _row_params(plan, group, position[cell_index], text)
                    row = base | summarize(data, tolerance, rip)
                    elapsed = seconds.pop(cell_index)
                    row["seconds"] = elapsed
                    row["problems_per_second"] = row["problems"] / elapsed if elapsed else None
                    rows.append(row)
                    if config.run["per_problem"]:
                        ids = _problem_params(plan, cell, group.solver, text)
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


def _problem_params(plan: SweepPlan, cell, solver, text: set) -> dict:
    """The columns that say which problem a row is of: the cell, its grid parameters, the
    derived ``m`` and ``k``, and the solver."""
    row = {"cell": cell.index}
    for column, value in cell.params.items():
        if column not in plan.solver_columns:
            row[column] = format_value(value, column in text)
    if plan.config.problem == "matrix":
        row["m"] = cell.derived["m"]
    row["k"] = cell.k
    row["solver"] = solver
    return row


def _row_params(plan: SweepPlan, group: Group, position: int, text: set) -> dict:
    """:func:`_problem_params` of the group's cell at ``position``, and the parameters the
    solver ran with."""
    cell = group.cells[position]
    row = _problem_params(plan, cell, group.solver, text)
    row["max_steps"] = cell.params["max_steps"]
    row["tol"] = cell.params["tol"]
    param = group.parameters[position]
    own = group.parameter
    for column in plan.solver_columns[2:]:  # step_size, lam, registered solvers' own
        row[column] = param if column == own else None
    return row


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
