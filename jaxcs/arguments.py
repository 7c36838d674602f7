"""Argument checks shared by the public entry points (raised in Python, before tracing)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def is_int(value) -> bool:
    """A Python or NumPy integer (not a bool, not a float that happens to be whole)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def positive_int(value, name: str) -> int:
    """``value`` as a Python int ``≥ 1`` (ints only: no bools, no floats), or a ValueError."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def non_negative_number(value, name: str):
    """A real number ``≥ 0`` (Python or NumPy scalar; JAX arrays pass unchecked: traced)."""
    if hasattr(value, "dtype") and not isinstance(value, np.generic):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0; got {value!r}")
    return value


def positive_ints(value, name: str, ndim: int | None = None, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ints) as a tuple of ints ``≥ minimum``.

    With ``ndim``, a single int is repeated ``ndim`` times and a sequence must have that length.
    """
    if is_int(value):
        value = (int(value),) * (1 if ndim is None else ndim)
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if (
        items is None
        or not all(is_int(v) for v in items)
        or (ndim is not None and len(items) != ndim)
        or any(v < minimum for v in items)
    ):
        what = f"{ndim} " if ndim is not None else ""
        raise ValueError(f"{name} must be {what}int(s) >= {minimum}; got {value!r}")
    return tuple(int(v) for v in items)


def default_float_dtype():
    """float64 when ``jax_enable_x64`` is on, else float32 (JAX's default floating type)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def float_dtype(dtype, name: str = "dtype"):
    """``dtype`` (``None``: the default floating type) checked to be floating."""
    dtype = default_float_dtype() if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating dtype; got {dtype}")
    return dtype
