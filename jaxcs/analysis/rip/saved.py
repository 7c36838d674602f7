"""The leaves of a saved :class:`~jaxcs.RIPEstimate` as strict JSON values and back, exactly:
arrays as ``{"dtype", "shape", "data"}``, non-finite floats as strings."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcs.analysis.statistics import Statistics

JSON_FORMAT = "jaxcs.RIPEstimate"
JSON_VERSION = 1
SAVED_METHODS = ("gram", "conv", None)  # what a saved estimate may say it ran
SAVED_EIGEN_METHODS = ("dense", "lanczos", None)
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_float(x: float):
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def encode_floats(value):
    """``value`` (nested dicts, lists, numbers) with its non-finite floats as strings."""
    if isinstance(value, dict):
        return {key: encode_floats(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_floats(v) for v in value]
    if isinstance(value, float):
        return _encode_float(value)
    return value


def _encode_array(value) -> dict:
    array = np.asarray(value)
    if array.dtype.kind == "f":
        data = [_encode_float(x) for x in array.astype(np.float64).ravel().tolist()]
    else:
        data = array.ravel().tolist()
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": data}


def encode_field(value):
    if value is None:
        return None
    if isinstance(value, Statistics):
        return {
            "statistics": {
                name: _encode_array(getattr(value, name)) for name in value.leaf_fields()
            },
            "histogram_range": [_encode_float(float(r)) for r in value.histogram_range],
        }
    if isinstance(value, dict):
        return {"dict": {str(name): encode_field(v) for name, v in value.items()}}
    return _encode_array(value)


def _decode_array(data: dict, name: str):
    where = f"saved RIPEstimate field {name!r}"
    missing = [key for key in ("dtype", "shape", "data") if key not in data]
    if missing:
        raise ValueError(f"{where} is not an array: it lacks {missing}")
    try:
        dtype = jnp.dtype(data["dtype"])
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "fiub" or not isinstance(data["dtype"], str):
        raise ValueError(
            f"{where}: dtype must be a numeric dtype (float, int, uint or bool); got "
            f"{data['dtype']!r}"
        )
    shape, values = data["shape"], data["data"]
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ValueError(f"{where}: shape must be a list of ints >= 0; got {shape!r:.80}")
    if not isinstance(values, list) or len(values) != math.prod(shape):
        count = len(values) if isinstance(values, list) else type(values).__name__
        raise ValueError(
            f"{where}: data must be a list of {math.prod(shape)} values (shape {shape}); got "
            f"{count}"
        )
    if dtype.kind == "f":
        values = [_NONFINITE.get(x, x) if isinstance(x, str) else x for x in values]
        ok = all(isinstance(x, int | float) and not isinstance(x, bool) for x in values)
        what = "numbers (or 'NaN', 'Infinity', '-Infinity')"
    elif dtype.kind == "b":
        ok, what = all(isinstance(x, bool) for x in values), "true or false"
    else:
        info = np.iinfo(dtype)
        ok = all(
            isinstance(x, int) and not isinstance(x, bool) and info.min <= x <= info.max
            for x in values
        )
        what = f"integers in [{info.min}, {info.max}]"
    if not ok:
        raise ValueError(f"{where}: data of dtype {dtype.name} must hold {what}")
    array = np.asarray(values, dtype=np.float64 if dtype.kind == "f" else dtype)
    array = array.astype(dtype).reshape(tuple(shape))
    # a JAX array unless JAX would change its dtype (float64 with x64 off stays NumPy)
    return jnp.asarray(array) if jax.dtypes.canonicalize_dtype(dtype) == dtype else array


def decode_field(data, name: str):
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"saved RIPEstimate field {name!r} is not a dict; got {data!r:.80}")
    if "statistics" in data:
        stats = data["statistics"]
        if not isinstance(stats, dict):
            raise ValueError(f"saved RIPEstimate field {name!r}: statistics must be a dict")
        missing = [leaf for leaf in Statistics.leaf_fields() if leaf not in stats]
        if missing or not isinstance(data.get("histogram_range"), list):
            raise ValueError(
                f"saved RIPEstimate field {name!r} lacks {missing or ['histogram_range']}"
            )
        # JAX arrays, or NumPy arrays of a dtype that JAX would change (float64 with x64 off)
        leaves: dict[str, Any] = {
            leaf: _decode_array(stats[leaf], f"{name}.{leaf}") for leaf in Statistics.leaf_fields()
        }
        # JSON values: numbers, or the strings of _NONFINITE (checked below)
        bounds: tuple[Any, ...] = tuple(_NONFINITE.get(r, r) for r in data["histogram_range"])
        if (
            len(bounds) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            or not bounds[0] < bounds[1]
        ):
            raise ValueError(
                f"saved RIPEstimate field {name!r}.histogram_range must be two numbers lo < hi; "
                f"got {data['histogram_range']!r:.80}"
            )
        return Statistics(**leaves, histogram_range=bounds)
    if "dict" in data:
        if not isinstance(data["dict"], dict):
            raise ValueError(f"saved RIPEstimate field {name!r}: 'dict' must be a dict")
        return {key: decode_field(v, f"{name}.{key}") for key, v in data["dict"].items()}
    return _decode_array(data, name)
