"""Reading the sweep tables that :mod:`jaxcs.sweeps.table` writes (``results.csv``,
``problems.csv``) back into column tables, with the standard :mod:`csv` module only.
"""

from __future__ import annotations

from pathlib import Path


def read_table(path: str | Path) -> dict:
    """Read a CSV file with a header row into a column table ``{name: (rows,) array}``.

    A column whose every entry parses as an integer becomes ``int64``; else one whose entries
    parse as floats (empty entries read as NaN) becomes ``float64``; else it stays ``str``.
    Uses only the standard :mod:`csv` module.
    """
    import csv

    import numpy as np

    with open(path, newline="") as file:
        reader = csv.reader(file)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty (no header row)") from None
        rows = [row for row in reader if row]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}:{number} has {len(row)} fields, the header {len(header)}")
    table = {}
    for index, name in enumerate(header):
        values = [row[index] for row in rows]
        try:
            table[name] = np.array([int(v) for v in values], dtype=np.int64)
            continue
        except ValueError:
            pass
        try:
            table[name] = np.array(
                [float(v) if v.strip() else np.nan for v in values], dtype=np.float64
            )
        except ValueError:
            table[name] = np.array(values, dtype=str)
    return table
