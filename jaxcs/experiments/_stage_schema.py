"""What a ``jaxcs reproduce`` stage file must hold, checked when a run reuses it.

A stage file (``DIR/stages/<stage>.json``) goes into the report as it is, so a file that is not
JSON, lacks its rows, or holds a hand-edited value of the wrong type or out of its range is
refused with the file, the row and the key named (:class:`StageFileError`), never passed on to
the report or to a ``KeyError`` deep inside it. Only the columns the report and the later
stages read are checked; other keys are let through. Ranges are those the quantities cannot
leave (accuracies in [0, 1], percentages in [0, 100], coherences in [0, 1], norms, ratios,
errors and δ's ≥ 0, counts ≥ 0).
"""

from __future__ import annotations

import json
import math
from pathlib import Path


class StageFileError(ValueError):
    """A stage file that cannot be reused (the message names the file, the row and the key):
    delete it to recompute that stage, or start again with ``--overwrite``."""


# Column specs: (kind, low, high, nullable); kind "str", "int", "number", "bool", "list" or
# a dict of specs (a nested record). Non-finite numbers are refused except for "number~"
# (statistics of an empty sample are NaN).
def _num(low=0.0, high=math.inf, *, null=False, nonfinite=False):
    return ("number~" if nonfinite else "number", low, high, null)


def _int(low=0, *, null=False):
    return ("int", low, math.inf, null)


STR = ("str", None, None, False)
LIST = ("list", None, None, False)
UNIT = _num(0.0, 1.0)
STATS = {
    "mean": _num(nonfinite=True),
    "std": _num(nonfinite=True),
    "min": _num(nonfinite=True),
    "max": _num(nonfinite=True),
    "count": _int(),
}
ROWS = {
    "table1": {
        "depth": _int(1),
        "filter_size": _int(1),
        "width": _int(1),
        "filters": STR,
        "test_accuracy_mean": UNIT,
        "test_accuracy_std": _num(),
        "test_accuracy_min": UNIT,
        "test_accuracy_max": UNIT,
        "train_accuracy_mean": UNIT,
    },
    "table2": {
        "network": STR,
        "layer": STR,
        "relu_nonzero_pct": _num(0.0, 100.0),
        "pool_nonzero_pct": _num(0.0, 100.0),
        "k": _int(),
        "regions": _int(1),
    },
    "table3": {
        "layer": STR,
        "k": _int(),
        "learned_filters": _num(),
        "random_filters": _num(),
        "random_activations": _num(),
        "learned_filters_niht": _num(),
        "random_filters_niht": _num(),
        "learned_filters_gain_optimal": _num(null=True),
        "image_tied": _num(null=True),
        "image_tied_reference": _num(null=True),
        "image_trained": _num(null=True),
        "image_trained_reference": _num(null=True),
    },
    "table4": {
        "source": STR,
        "layer": STR,
        "in_channels": _int(1),
        "learned_filter_coherence": _num(0.0, 1.0, null=True),
        "learned_shift_coherence": _num(0.0, 1.0, null=True),
        "random_filter_coherence_mean": UNIT,
        "random_filter_coherence_std": _num(),
        "random_shift_coherence_mean": UNIT,
    },
    "fig3": {
        "layer": STR,
        "filters": STR,
        "k": _int(),
        "code_shape": LIST,
        "ratio_sampled": STATS,
        "ratio_alg2_signed": STATS,
        "ratio_alg2_relu": STATS,
        "delta_bracket": {
            "lower": _num(),
            "lower_method": STR,
            "upper": _num(null=True),
        },
    },
    "theorem_3_3": {
        "layer": STR,
        "filters": STR,
        "k": _int(),
        "delta_k_lower": _num(),
        "delta_k_upper": _num(null=True),
        "delta_2k_lower": _num(),
        "delta_2k_upper": _num(null=True),
        "bound_at_lower": _num(null=True),
        "bound_at_upper": _num(null=True),
        "observed_error_max": _num(),
        "verdict": STR,
    },
    "table1_networks": {
        "network": STR,
        "seed": _int(),
        "test_accuracy": UNIT,
        "train_accuracy": UNIT,
    },
}
# The list of records each stage keeps ("rows", or the trained networks of Table 1).
RECORDS = {"table1_networks": "networks"}


def read_stage(path: Path, name: str) -> dict:
    """The content of the stage file ``path`` of stage ``name``, checked (see the module).

    Raises:
        StageFileError: not JSON, not an object, the rows missing, or a row's value of the
            wrong type or out of range; naming the file, the row and the key.
    """
    content = read_json(path, "a stage file")
    check_stage(name, content, path)
    return content


def read_json(path: Path, what: str = "a jaxcs reproduce file"):
    """The JSON content of ``path``, or a :class:`StageFileError` naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StageFileError(f"{path}: not {what} (not valid JSON: {err}){_HINT}") from None


_HINT = "; delete it to recompute the stage, or run with --overwrite"


def check_stage(name: str, content, path) -> None:
    """Check the content of stage ``name`` read from ``path`` (see :func:`read_stage`)."""
    if not isinstance(content, dict):
        raise StageFileError(
            f"{path}: a stage file holds a JSON object; got {type(content).__name__}{_HINT}"
        )
    key = RECORDS.get(name, "rows")
    if key not in content:
        raise StageFileError(
            f"{path}: the stage file has no {key!r} (keys {sorted(content)}){_HINT}"
        )
    rows = content[key]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise StageFileError(f"{path}: {key!r} must be a list of objects{_HINT}")
    if not rows and name in ROWS and name not in RECORDS:
        raise StageFileError(f"{path}: {key!r} is empty{_HINT}")
    for index, row in enumerate(rows):
        _check_record(row, ROWS.get(name, {}), f"{path}: {key}[{index}]")


def _check_record(record: dict, specs: dict, where: str) -> None:
    for column, spec in specs.items():
        if column not in record:
            raise StageFileError(f"{where} lacks the key {column!r}{_HINT}")
        value = record[column]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise StageFileError(
                    f"{where}.{column} must be an object; got {value!r:.60}{_HINT}"
                )
            _check_record(value, spec, f"{where}.{column}")
            continue
        kind, low, high, null = spec
        if value is None and null:
            continue
        if not _is(kind, value) or (
            low is not None and not low <= value <= high and _finite(value)
        ):
            raise StageFileError(
                f"{where}.{column} must be {_describe(spec)}; got {value!r:.60}{_HINT}"
            )


def _finite(value) -> bool:
    return isinstance(value, bool) or not isinstance(value, float) or math.isfinite(value)


def _is(kind: str, value) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and (kind == "number~" or math.isfinite(value))


def _describe(spec) -> str:
    kind, low, high, null = spec
    what = {"str": "a string", "bool": "true or false", "list": "a list", "int": "an integer"}
    text = what.get(kind, "a finite number" if kind == "number" else "a number")
    if low is not None:
        text += f" >= {low:g}" if high == math.inf else f" in [{low:g}, {high:g}]"
    return text + (" (or null)" if null else "")
