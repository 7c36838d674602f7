"""Argument checks shared by the public entry points (raised in Python, before tracing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import jax
import jax.core
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


def check_trailing(array: jax.Array, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    """Check that ``array`` ends in ``shape``; return its leading batch shape."""
    shape = tuple(shape)
    if array.ndim < len(shape) or tuple(array.shape[array.ndim - len(shape) :]) != shape:
        raise ValueError(
            f"{name} must have shape (*batch, {', '.join(map(str, shape))}); got {array.shape}"
        )
    return tuple(array.shape[: array.ndim - len(shape)])


def is_traced(value) -> bool:
    """Whether ``value`` is a JAX tracer (its value is unknown until run time)."""
    return isinstance(value, jax.core.Tracer)


def check_k(k, name: str = "k", *, scalar: bool = False):
    """The one validator of a budget ``k``: ``None``, a non-negative integer or (unless
    ``scalar``) an array of them; traced values pass unchecked (their value is unknown).

    Floats are rejected, even whole ones: ``k`` is a count. Returns ``k`` as a Python int, an
    int32 array, ``None`` or the tracer.
    """
    if k is None or is_traced(k):
        return k
    array = np.asarray(k)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        what = "a non-negative integer" if scalar else "a non-negative integer (or integer array)"
        raise ValueError(f"{name} must be None or {what}; got {k!r}")
    if scalar and array.ndim:
        raise ValueError(f"{name} must be None or a non-negative integer scalar; got {k!r}")
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0; got {k!r}")
    return int(array) if array.ndim == 0 else jnp.asarray(array, jnp.int32)


def concrete_int(value) -> int | None:
    """``value`` as a Python int if it is concrete (not traced, scalar), else ``None``."""
    if value is None or is_traced(value):
        return None
    array = np.asarray(value)
    return int(array) if array.ndim == 0 else None


PADDINGS = ("valid", "circular", "same")


def check_choice(value, allowed: Sequence, name: str, error: type[ValueError] = ValueError):
    """``value`` if it is one of ``allowed``, else ``error`` (a ValueError) naming ``name``.

    A boolean is one only if ``allowed`` holds that boolean itself (``1 == True``)."""
    if (isinstance(value, bool) and not any(c is value for c in allowed)) or value not in allowed:
        raise error(f"{name} must be one of {allowed}; got {value!r}")
    return value


def check_padding(
    padding,
    allowed: Sequence[str] = PADDINGS,
    name: str = "padding",
    error: type[ValueError] = ValueError,
) -> str:
    """A padding name, lower case (``"VALID"`` from Flax is read as ``"valid"``)."""
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise error(f"{name} must be one of {allowed}; got {padding!r}")
    return padding.lower()


def check_stride(stride, ndim: int, name: str = "stride") -> tuple[int, ...]:
    """``t``: an int, or one int ``≥ 1`` per spatial axis."""
    return positive_ints(stride, name, ndim)


def check_pool_size(pool_size, spatial, name: str = "pool_size") -> tuple[int, ...]:
    """A pooling region shape for maps of shape ``spatial``: one positive size per spatial
    axis, and a window that fits in the map along every axis.

    A window that does not divide the map leaves a partial last region (ceil mode), as
    documented; one *larger* than the map would leave nothing but a partial region, silently,
    and is a ValueError naming the axis, the window and the map size. An empty axis (size 0)
    has no region at all and is let through (``jaxcs.experiments.networks`` crops a 1-wide map
    to 0 before pooling it, as ``nn.max_pool``'s ``"VALID"`` padding does).
    """
    pool_size = positive_ints(pool_size, name)
    spatial = tuple(int(n) for n in spatial)
    if len(pool_size) != len(spatial):
        raise ValueError(
            f"{name} must have one positive size per spatial axis of the code "
            f"(spatial shape {spatial}); got {pool_size}"
        )
    for axis, (w, n) in enumerate(zip(pool_size, spatial, strict=True)):
        if 0 < n < w:
            raise ValueError(
                f"{name} {pool_size} does not fit the map of spatial shape {spatial}: along "
                f"axis {axis} the window {w} is larger than the map size {n} (a window at most "
                "the map size is needed; a window that does not divide the map leaves a "
                "partial last region)"
            )
    return pool_size


def check_dtype_floating(array, name: str) -> None:
    """``array`` must have a floating dtype."""
    if not jnp.issubdtype(array.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating array; got dtype {array.dtype}")


_Key = TypeVar("_Key")


def check_key(key: _Key, name: str = "key") -> _Key:
    """``key`` is a ``jax.random`` key: a typed key (``jax.random.key``, shape ``()``) or a raw
    ``uint32 (2,)`` one (``jax.random.PRNGKey``), concrete or traced (a vmapped key is one key
    per call); else a ValueError that says how to make one. Returns ``key``."""
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and shape == ():
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and dtype == np.uint32 and shape == (2,):
        return key
    hint = f" (use jax.random.key({key}))" if is_int(key) else ""
    raise ValueError(
        f"{name} must be a jax.random key, e.g. jax.random.key(seed){hint}; got "
        f"{type(key).__name__} with dtype {dtype} and shape {shape}"
    )
