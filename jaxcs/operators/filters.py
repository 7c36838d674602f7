"""Random and normalized filter banks ``(*filter_shape, M, K)`` (Theorem 3.1)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from jaxcs._validate import check_key, float_dtype, positive_ints


def _filter_shape_of(filter_shape, in_channels: int, out_channels: int) -> tuple[int, ...]:
    filter_shape = positive_ints(filter_shape, "filter_shape")
    if not filter_shape:
        raise ValueError("filter_shape must have at least one spatial size")
    channels = positive_ints((in_channels, out_channels), "in_channels/out_channels", 2)
    return filter_shape + channels


def gaussian_filters(
    key: PRNGKeyArray, filter_shape, in_channels: int, out_channels: int, dtype=None
) -> Float[Array, "*filter_shape M K"]:
    """I.i.d. ``N(0, 1/(M·l))`` filters (Theorem 3.1), shape ``(*filter_shape, M, K)``.

    Each filter then has unit expected squared norm, so ``W``'s rows have unit norm on average.
    ``dtype=None`` is JAX's default floating type (float32; float64 under x64), as for the
    other constructors.
    """
    check_key(key)
    shape = _filter_shape_of(filter_shape, in_channels, out_channels)
    dtype = float_dtype(dtype)
    fan_in = math.prod(shape[:-1])
    return jax.random.normal(key, shape, dtype) / jnp.sqrt(jnp.asarray(fan_in, dtype))


def unit_norm_filters(
    key: PRNGKeyArray, filter_shape, in_channels: int, out_channels: int, dtype=None
) -> Float[Array, "*filter_shape M K"]:
    """Gaussian filters normalized so every filter ``w[..., i]`` has unit ℓ2 norm."""
    return normalize_filters(gaussian_filters(key, filter_shape, in_channels, out_channels, dtype))


def rademacher_filters(
    key: PRNGKeyArray, filter_shape, in_channels: int, out_channels: int, dtype=None
) -> Float[Array, "*filter_shape M K"]:
    """I.i.d. ``±1/sqrt(M·l)`` filters (each filter has exactly unit norm)."""
    check_key(key)
    shape = _filter_shape_of(filter_shape, in_channels, out_channels)
    dtype = float_dtype(dtype)
    fan_in = math.prod(shape[:-1])
    signs = jax.random.rademacher(key, shape, dtype)
    return signs / jnp.sqrt(jnp.asarray(fan_in, dtype))


def normalize_filters(
    filters: Float[ArrayLike, "*filter_shape M K"],
) -> Float[Array, "*filter_shape M K"]:
    """Scale each filter ``filters[..., i]`` (all taps and input channels) to unit ℓ2 norm.

    A zero filter stays zero.
    """
    filters = jnp.asarray(filters)
    axes = tuple(range(filters.ndim - 1))
    norms = jnp.sqrt(jnp.sum(filters * filters, axis=axes, keepdims=True))
    return filters / jnp.where(norms > 0, norms, 1)
