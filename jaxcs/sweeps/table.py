"""The tidy result table: one row per cell and solver, from the per-problem records.

Columns, in order: ``cell`` (grid position), one column per grid parameter (swept or fixed;
a 1-D shape as its size, an N-D shape as ``"3x3"``), the derived ``m`` (matrices) and ``k``,
``solver`` and the parameters it ran with (``max_steps``, ``tol``, ``step_size``, ``lam``; empty
where a solver takes none), then the statistics over the cell's problems (:data:`STATISTICS`).

Errors are relative, ``‖ẑ − z‖ / ‖z‖``; a problem is a success when its error is below
``run.success_tolerance``. Medians and quantiles are over the problems with a finite error (a
non-finite one is counted in ``nonfinite``, never hidden in a statistic). ``seconds`` is the
wall time attributed to the cell (its share of each batch it was run in, all devices
together) and ``problems_per_second`` its throughput: these two columns are measurements and
differ from run to run; every other column is a pure function of the grid and seed.

The writers: the table as CSV and Parquet (atomically), and the per-problem rows
(``run.per_problem``) streamed to ``problems.csv`` / ``problems.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxcs.analysis import is_success
from jaxcs.status import Status

QUANTILES = (0.05, 0.25, 0.75, 0.95)
STATUS_COLUMNS = {
    Status.CONVERGED: "converged",
    Status.MAX_STEPS: "max_steps_reached",
    Status.STALLED: "stalled",
    Status.DIVERGED: "diverged",
    Status.NONFINITE: "nonfinite",
}
STATISTICS = (
    ("problems", "successes", "success_rate", "error_median")
    + tuple(f"error_q{round(100 * q):02d}" for q in QUANTILES)
    + ("error_mean", "num_steps_median", "num_steps_mean", "residual_median")
    + tuple(STATUS_COLUMNS.values())
)
RIP_STATISTICS = ("ratio_min", "ratio_mean", "ratio_max", "delta_from_ratios")
EIGEN_STATISTICS = ("eig_min", "eig_max", "delta_from_eigenvalues")
TIMING = ("seconds", "problems_per_second")


def format_value(value, text: bool = False):
    """A parameter value as a table cell: a shape as its size when ``text`` is false (every
    value of its column is a 1-D shape), else as ``"3x3"``."""
    if isinstance(value, tuple | list):
        return int(value[0]) if not text else "x".join(str(v) for v in value)
    return value


def text_columns(cells) -> set[str]:
    """The shape columns that hold an N-D shape in some cell (written as ``"3x3"`` text)."""
    return {
        column
        for cell in cells
        for column, value in cell.params.items()
        if isinstance(value, tuple) and len(value) != 1
    }


def summarize(records: dict[str, np.ndarray], success_tolerance: float, rip) -> dict:
    """The statistics of one cell and solver from its per-problem ``records`` (``(S,)``
    arrays: ``error``, ``status``, ``num_steps``, ``residual``[, ``ratio``[, ``eig_min``,
    ``eig_max``]])."""
    error = np.asarray(records["error"], np.float64)
    finite = error[np.isfinite(error)]
    status = np.asarray(records["status"])
    steps = np.asarray(records["num_steps"], np.float64)
    successes = int(np.sum(is_success(error, success_tolerance)))  # NaN: a failure
    row = {
        "problems": int(error.size),
        "successes": successes,
        "success_rate": successes / error.size,
        "error_median": _quantile(finite, 0.5),
    }
    for q in QUANTILES:
        row[f"error_q{round(100 * q):02d}"] = _quantile(finite, q)
    row["error_mean"] = float(np.mean(finite)) if finite.size else float("nan")
    row["num_steps_median"] = float(np.median(steps))
    row["num_steps_mean"] = float(np.mean(steps))
    residual = np.asarray(records["residual"], np.float64)
    row["residual_median"] = _quantile(residual[np.isfinite(residual)], 0.5)
    for code, column in STATUS_COLUMNS.items():
        row[column] = int(np.sum(status == code))
    if rip:
        ratio = np.asarray(records["ratio"], np.float64)
        squared = ratio[np.isfinite(ratio)] ** 2
        row["ratio_min"] = float(np.sqrt(squared.min())) if squared.size else float("nan")
        row["ratio_mean"] = float(np.mean(np.sqrt(squared))) if squared.size else float("nan")
        row["ratio_max"] = float(np.sqrt(squared.max())) if squared.size else float("nan")
        row["delta_from_ratios"] = _delta(squared, squared)
        row["delta_lower_bound"] = row["delta_from_ratios"]
    if rip == "eigenvalues":
        low = np.asarray(records["eig_min"], np.float64)
        high = np.asarray(records["eig_max"], np.float64)
        low, high = low[np.isfinite(low)], high[np.isfinite(high)]
        row["eig_min"] = float(low.min()) if low.size else float("nan")
        row["eig_max"] = float(high.max()) if high.size else float("nan")
        row["delta_from_eigenvalues"] = _delta(low, high)
        row["delta_lower_bound"] = float(
            np.nanmax([row["delta_from_ratios"], row["delta_from_eigenvalues"]])
        )
    return row


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if values.size else float("nan")


def _delta(low: np.ndarray, high: np.ndarray) -> float:
    """``max(1 − min low, max high − 1)``: the δ lower bound of extreme quotients
    ``‖Φz‖² / ‖z‖²`` (:func:`jaxcs.analysis.delta_lower_bound_from`)."""
    if not low.size:
        return float("nan")
    return float(max(1 - low.min(), high.max() - 1))


def statistic_columns(rip) -> tuple[str, ...]:
    """The statistic columns of a table, in order."""
    columns = STATISTICS
    if rip:
        columns += RIP_STATISTICS
    if rip == "eigenvalues":
        columns += EIGEN_STATISTICS
    if rip:
        columns += ("delta_lower_bound",)
    return columns + TIMING


def write_csv(path, rows: list[dict], columns: list[str]) -> None:
    """``rows`` as CSV (empty cells for ``None``), written atomically."""
    import csv
    import os

    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    os.replace(tmp, path)


def write_parquet(path, rows: list[dict], columns: list[str]) -> bool:
    """``rows`` as Parquet when ``pyarrow`` is installed (the ``tables`` extra); ``False``
    without it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    import os

    data = {c: [row.get(c) for row in rows] for c in columns}
    for c, values in data.items():  # a column of mixed ints and strings is stored as text
        kinds = {type(v) for v in values if v is not None}
        if str in kinds and len(kinds) > 1:
            data[c] = [None if v is None else str(v) for v in values]
    tmp = f"{path}.tmp"
    pq.write_table(pa.table(data), tmp)
    os.replace(tmp, path)
    return True


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


__all__ = ["STATISTICS", "format_value", "statistic_columns", "summarize"]
