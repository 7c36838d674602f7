"""Exact power-of-two scales: what the solver driver divides a problem by, so that float32
neither overflows nor underflows whatever the magnitudes of the signal and the operator.

Multiplying by ``2^e`` changes no significand, so a problem that was already well scaled is
solved bit for bit as before, and one scaled by a power of two is solved exactly as its
unscaled twin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def power_of_two_scale(values, dtype=None) -> jax.Array:
    """``2^e`` with ``max|values| / 2^e`` in ``[0.5, 1)``: a positive scalar of ``dtype``
    (default: that of ``values``); 1 where every entry is 0 or one is not finite (nothing to
    scale, or nothing to trust). ``e`` is clipped to the dtype's normal range.

    jit- and vmap-able.
    """
    values = jnp.asarray(values)
    dtype = jnp.dtype(values.dtype if dtype is None else dtype)
    top = jnp.max(jnp.abs(values)).astype(dtype)
    usable = jnp.isfinite(top) & (top > 0)
    _, exponent = jnp.frexp(jnp.where(usable, top, 1))
    info = jnp.finfo(dtype)
    exponent = jnp.clip(jnp.where(usable, exponent, 0), info.minexp + 1, info.maxexp - 1)
    return jnp.ldexp(jnp.ones((), dtype), exponent)


def scaled_norm(values) -> jax.Array:
    """``‖values‖₂`` without overflow or underflow of the squares: the norm of
    ``values / 2^e`` times ``2^e`` (:func:`power_of_two_scale`); NaN or inf as the plain norm
    where an entry is not finite."""
    scale = power_of_two_scale(values)
    return jnp.linalg.norm(values / scale) * scale


__all__ = ["power_of_two_scale", "scaled_norm"]
