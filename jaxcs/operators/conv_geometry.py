"""The geometry of a convolutional layer: the number of shifts per axis, the length of a padded
axis, the dimension numbers of the convolution, and the periodic fold (the adjoint of wrap
padding)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxcs._validate import check_padding


def conv_output_shape(
    in_spatial: Sequence[int],
    filter_shape: Sequence[int],
    stride: Sequence[int],
    padding: str,
) -> tuple[int, ...]:
    """Spatial shape of ``W x`` (the number of shifts ``n`` per axis).

    ``"valid"``: ``n = floor((D − l)/t) + 1`` (Flax's and PyTorch's ``VALID``; when ``t`` does
    not divide ``D − l`` the last ``(D − l) mod t`` inputs of the axis are seen by no filter,
    and ``Wᵀ`` is zero there); ``"circular"``: ``n = D/t`` with ``D`` a multiple of ``t``;
    ``"same"``: ``n = ceil(D/t)``.

    Raises:
        ValueError: naming ``in_spatial``/``stride`` when the filter is longer than a valid
            input, or a circular input is not a multiple of the stride.
    """
    padding = check_padding(padding)
    out = []
    for axis, (D, l, t) in enumerate(zip(in_spatial, filter_shape, stride, strict=True)):
        if padding == "valid":
            if D < l:
                raise ValueError(
                    f"padding='valid' needs the filter no longer than the input on every axis; "
                    f"axis {axis}: in_spatial D={D} < filter l={l} (use padding='same')"
                )
            out.append((D - l) // t + 1)
        elif padding == "circular":
            if D % t:
                raise ValueError(
                    f"padding='circular' needs the input size to be a multiple of the stride; "
                    f"axis {axis}: in_spatial D={D}, stride t={t}"
                )
            out.append(D // t)
        else:  # "same"
            out.append(-(-D // t))
    return tuple(out)


def padded_length(size: int, pads: tuple[int, int], length: int, padding: str) -> int:
    """The length of one axis of a signal padded as ``W x`` pads it: ``D`` plus its zero
    padding ``(lo, hi)``, plus ``l − 1`` wrapped entries for ``"circular"`` padding."""
    lo, hi = pads
    extra = length - 1 if padding == "circular" else 0
    return size + lo + hi + extra


def dimension_numbers(ndim: int) -> tuple[str, str, str]:
    """``lax.conv_general_dilated``'s layouts of a signal, the filters and a code with ``ndim``
    spatial axes: channels last, filters ``(*filter_spatial, M, K)``."""
    spatial = "DHW"[-ndim:] if ndim <= 3 else "".join(chr(ord("a") + i) for i in range(ndim))
    return "N" + spatial + "C", spatial + "IO", "N" + spatial + "C"


def fold(x: jax.Array, axis: int, period: int) -> jax.Array:
    """Sum ``x`` along ``axis`` modulo ``period``: the adjoint of wrap padding."""
    size = x.shape[axis]
    reps = -(-size // period)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, reps * period - size)
    x = jnp.pad(x, widths)
    x = x.reshape(x.shape[:axis] + (reps, period) + x.shape[axis + 1 :])
    return x.sum(axis=axis)
