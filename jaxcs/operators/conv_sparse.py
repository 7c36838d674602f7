"""The sparse kernels of a convolution: a code in index form applied without convolving.

Both products add one window per used slot into an array padded so that every window fits,
then crop the padding or fold it back mod the period (``"circular"``):

- ``Wᵀ z`` (:func:`scatter_filters`): the filter of each slot, at its input position, into the
  signal padded as ``W x`` pads it;
- ``W Wᵀ z`` (:func:`add_gram_windows`): the correlation table's window of each slot, around its
  shift, into the code padded by the table's extent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcs.operators.conv_geometry import fold, padded_length

if TYPE_CHECKING:
    from jaxcs.operators.conv import ConvOperator


def padded_canvas(x: jax.Array, values: jax.Array, pads: Sequence[tuple[int, int]]) -> jax.Array:
    """``x`` zero-padded by ``pads`` (one ``(lo, hi)`` per spatial axis, the channel axis not
    padded): the array the windows are added into, NaN throughout when a value is NaN."""
    # a NaN value spoils the whole result: folded into the copy of x the windows need anyway
    x = x + jnp.where(jnp.any(jnp.isnan(values)), jnp.nan, 0).astype(x.dtype)
    pads = list(pads) + [(0, 0)]
    return jnp.pad(x, pads) if any(p != (0, 0) for p in pads) else x


def crop_or_fold(
    padded: jax.Array, starts: Sequence[int], sizes: Sequence[int], circular: bool
) -> jax.Array:
    """Each spatial axis of ``padded`` back to ``sizes``: the ``sizes`` entries from ``starts``
    on, or for ``circular`` padding the axis folded mod its size with entry ``starts`` at 0."""
    if circular:
        for axis, (size, start) in enumerate(zip(sizes, starts, strict=True)):
            padded = fold(padded, axis, size)
            if start:
                padded = jnp.roll(padded, -start, axis=axis)
        return padded
    return padded[tuple(slice(lo, lo + n) for lo, n in zip(starts, sizes, strict=True))]


def scatter_filters(
    op: ConvOperator, x: jax.Array, indices: jax.Array, values: jax.Array
) -> jax.Array:
    """One code's ``x + Σ_s values_s · (filter of slot s at its shift)``: a scatter-add of
    ``(*l, M)`` windows into ``x`` padded as :meth:`~jaxcs.ConvOperator.mv` pads it, then
    cropped or folded."""
    K, d = op.out_channels, op.ndim
    shift = jnp.unravel_index(indices // K, op.out_spatial)
    starts = jnp.stack([t * j for t, j in zip(op.stride, shift, strict=True)], axis=-1)
    filters = jnp.moveaxis(op.filters, -1, 0).astype(values.dtype)  # (K, *l, M)
    windows = values.reshape((-1,) + (1,) * (d + 1)) * filters[indices % K]
    pads = [
        (lo, padded_length(D, (lo, hi), l, op.padding) - D - lo)
        for (lo, hi), D, l in zip(op.pads, op.in_spatial, op.filter_shape, strict=True)
    ]
    padded = padded_canvas(x, values, pads)
    numbers = lax.ScatterDimensionNumbers(
        update_window_dims=tuple(range(1, d + 2)),
        inserted_window_dims=(),
        scatter_dims_to_operand_dims=tuple(range(d)),
    )
    # every window of a valid index lies inside the padded signal (t·j + l ≤ padded size);
    # FILL_OR_DROP: whatever the indices, nothing is written outside it
    padded = lax.scatter_add(
        padded, starts, windows, numbers, mode=lax.GatherScatterMode.FILL_OR_DROP
    )
    # "same" crops its zero padding ("valid" has none); "circular" starts at 0
    starts = [lo for lo, _ in op.pads]
    return crop_or_fold(padded, starts, op.in_spatial, op.padding == "circular")


def add_gram_windows(
    op: ConvOperator, offsets, windows, onto, indices, values, scale, add_code: bool
) -> jax.Array:
    """One code's ``onto + Σ_s scale · values_s · windows[i_s]`` (``+ values_s`` at the
    window cell of ``δ = 0``, ``add_code``), each window added in place at ``j_s`` into
    ``onto`` padded to ``(*(n + table_shape − 1), K)`` (window cell ``w`` lands at shift
    ``j_s + w − offsets``), then cropped (``"valid"``) or folded mod ``n``
    (``"circular"``)."""
    K, spatial = op.out_channels, op.out_spatial
    extent = tuple(windows.shape[1:-1])
    shifts = jnp.unravel_index(indices // K, spatial)
    filters = indices % K
    pads = [(o, e - 1 - o) for o, e in zip(offsets, extent, strict=True)]
    padded = padded_canvas(onto, values, pads)  # NaN as for mv(rmv_sparse(code))
    center = np.zeros(extent + (1,), bool)
    center[tuple(offsets)] = True

    def add(s, padded):
        window = (scale * values[s]) * windows[filters[s]]  # (*extent, K)
        if add_code:
            window = window + jnp.where(center & (jnp.arange(K) == filters[s]), values[s], 0)
        start = tuple(j[s] for j in shifts) + (jnp.zeros((), shifts[0].dtype),)
        # in bounds: j_s + extent ≤ n + extent − 1 on every axis
        current = lax.dynamic_slice(padded, start, extent + (K,))
        return lax.dynamic_update_slice(padded, current + window, start)

    # unrolled for the few slots of a model-sparse code, a loop beyond (program size)
    padded = lax.fori_loop(0, len(indices), add, padded, unroll=max(1, min(len(indices), 16)))
    return crop_or_fold(padded, offsets, spatial, op.padding == "circular")
