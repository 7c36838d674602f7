"""Kernels from other frameworks read as :class:`~jaxcs.ConvOperator` filters
``(*filter_spatial, M, K)``: PyTorch's ``(K, M, *filter_spatial)`` moved, Keras's and Flax's
taken as they are, a Flax params tree searched for its one kernel and an ``nn.Conv``'s
geometry (strides, padding) read and checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxcs._validate import positive_ints


def layout_hint(shape, in_spatial) -> str:
    """What a filter larger than the input suggests: a kernel in another layout."""
    return (
        f"filters of shape {tuple(shape)} read as (*filter_spatial, M, K) have a filter larger "
        f"than the input {in_spatial}: a kernel in another layout? PyTorch's (K, M, *filter): "
        f"ConvOperator.from_torch; Keras/Flax (*filter, M, K): ConvOperator.from_keras"
    )


def torch_filters(weight) -> jax.Array:
    """A PyTorch ``nn.Conv{1,2,3}d`` weight ``(K, M, *filter_spatial)`` as filters
    ``(*filter_spatial, M, K)``: the taps moved, nothing flipped (both convolutions are
    cross-correlations)."""
    weight = jnp.asarray(weight)
    if weight.ndim < 3:
        raise ValueError(
            f"weight must have PyTorch's layout (K, M, *filter_spatial), rank >= 3; got "
            f"shape {tuple(weight.shape)}"
        )
    return jnp.moveaxis(weight, (0, 1), (-1, -2))


def find_kernel(params: Any) -> jax.Array:
    """The one ``kernel`` of a Flax params tree (or the kernel array itself)."""
    if hasattr(params, "shape"):
        return params
    if isinstance(params, Mapping):
        if "kernel" in params:
            return params["kernel"]
        found = [v for v in params.values() if isinstance(v, Mapping) or hasattr(v, "shape")]
        kernels = []
        for value in found:
            try:
                kernels.append(find_kernel(value))
            except ValueError:
                pass
        if len(kernels) == 1:
            return kernels[0]
    raise ValueError(
        "params must be a kernel array or a Flax params tree holding exactly one 'kernel' "
        "(for a tree with several layers, pass the layer's own subtree)"
    )


def flax_geometry(
    module: Any,
    ndim: int,
    stride: int | Sequence[int] | None,
    padding: str | None,
) -> tuple[int | Sequence[int] | None, str]:
    """``(stride, padding)`` of a Flax layer: the ``nn.Conv`` ``module``'s own (checked: no
    dilation, one feature group, ``"VALID"`` or ``"SAME"``) when given, else ``stride`` and the
    required ``padding`` as passed (``ndim`` spatial axes)."""
    if module is not None:
        for attr in ("input_dilation", "kernel_dilation"):
            value = getattr(module, attr, 1)
            if value not in (None, 1) and set(positive_ints(value, attr, ndim)) != {1}:
                raise ValueError(f"module.{attr}={value!r} is not supported (must be 1)")
        if getattr(module, "feature_group_count", 1) != 1:
            raise ValueError("module.feature_group_count must be 1")
        stride = 1 if module.strides is None else module.strides
        pad = module.padding
        if not isinstance(pad, str) or pad.upper() not in ("VALID", "SAME"):
            raise ValueError(
                f"module.padding={pad!r} is not supported: use 'VALID' or 'SAME' (Flax's "
                "'CIRCULAR' is centered; build ConvOperator(..., padding='circular') yourself)"
            )
        padding = pad.lower()
    elif padding is None:
        raise ValueError(
            "conv_operator_from_flax needs the layer's geometry: pass module= (the nn.Conv, "
            "whose strides and padding are read) or padding= ('valid', 'same' or 'circular') "
            "and stride=; nn.Conv's own default is padding='SAME', stride 1"
        )
    return stride, padding
