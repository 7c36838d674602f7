"""The convolutional layer ``W`` and its hand-written adjoint (the paper's ``x = Wᵀ z``).

Conventions (as Flax). A signal is ``(*in_spatial, M)`` (channels last), filters are
``(*filter_spatial, M, K)`` (Flax ``nn.Conv`` kernel layout), a code is ``(*out_spatial, K)``.
``mv`` applies ``W`` (signal -> code, one CNN layer without bias), ``rmv`` applies ``Wᵀ``
(code -> signal, the transposed convolution, the paper's synthesis operator ``Φ = Wᵀ``).
Every method accepts any number of leading batch axes.

The filters are the leaf; shapes, stride and padding are static, so ``jax.vmap`` over a stack
of operators (many random filter draws) is one batched computation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcs._pytree import static_field
from jaxcs._scale import power_of_two_scale
from jaxcs._validate import (
    check_dtype_floating,
    check_padding,
    check_stride,
    check_trailing,
    positive_ints,
)
from jaxcs.operators.base import (
    AbstractOperator,
    DenseGram,
    check_code,
    check_residual,
    mask_gram,
)
from jaxcs.operators.border import BorderCorrelationTable, border_correlation_table
from jaxcs.operators.correlation import (
    CorrelationTable,
    correlation_table,
    decode_support,
    table_gram,
    table_gram_pairs,
    table_shape,
)

SPARSE_FRACTION = 8  # rmv_sparse scatters while slots ≤ code size / 8, else convolves


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


def _spec(ndim: int) -> tuple[str, str, str]:
    spatial = "DHW"[-ndim:] if ndim <= 3 else "".join(chr(ord("a") + i) for i in range(ndim))
    return "N" + spatial + "C", spatial + "IO", "N" + spatial + "C"


def _layout_hint(shape, in_spatial) -> str:
    """What a filter larger than the input suggests: a kernel in another layout."""
    return (
        f"filters of shape {tuple(shape)} read as (*filter_spatial, M, K) have a filter larger "
        f"than the input {in_spatial}: a kernel in another layout? PyTorch's (K, M, *filter): "
        f"ConvOperator.from_torch; Keras/Flax (*filter, M, K): ConvOperator.from_keras"
    )


class ConvOperator(AbstractOperator):
    """The convolutional layer ``W`` (``Kn × MD``) and its adjoint ``Wᵀ``.

    ``(W x)[j, i] = Σ_m Σ_s w[s, m, i] · x[t·j + s, m]`` (cross-correlation, as ``nn.Conv``),
    with ``x`` zero-padded as Flax's ``"SAME"`` for ``padding="same"`` and the index taken
    mod ``D`` for ``padding="circular"``.

    Args:
        filters: ``(*filter_spatial, M, K)`` floating array (the leaf).
        in_spatial: spatial shape ``(*spatial,)`` of a signal, without the channel axis.
        stride: ``t``, an int or one int per spatial axis.
        padding: ``"valid"`` (the paper), ``"circular"`` or ``"same"``.
        precision: passed to ``lax.conv_general_dilated`` (``None``: JAX's default).
        large_filters: allow a filter larger than the input along some axis (``"same"`` or
            ``"circular"`` padding; ``"valid"`` never can). Off by default: such a shape is
            almost always a kernel in another layout, e.g. PyTorch's ``(K, M, *filter)``
            read as ``(*filter, M, K)`` (use :meth:`from_torch`).

    Attributes:
        in_shape: ``(*in_spatial, M)``, the shape of a signal ``x``.
        out_shape: ``(*out_spatial, K)``, the shape of a code ``z = W x``.

    Raises:
        ValueError: filter rank not ``len(in_spatial) + 2``, non-floating filters, a bad
            stride or padding, or a non-integer number of shifts.
    """

    filters: jax.Array
    in_spatial: tuple[int, ...] = static_field()
    stride: tuple[int, ...] = static_field()
    padding: str = static_field()
    precision: Any = static_field()
    pads: tuple[tuple[int, int], ...] = static_field()

    def __init__(
        self,
        filters: jax.Array,
        in_spatial: Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: str = "valid",
        precision: Any = None,
        *,
        large_filters: bool = False,
    ):
        in_spatial = positive_ints(in_spatial, "in_spatial")
        ndim = len(in_spatial)
        if ndim < 1:
            raise ValueError(f"in_spatial must have at least one spatial size; got {in_spatial}")
        if not isinstance(filters, jax.Array):  # NumPy in: a JAX array of JAX's dtype
            filters = jnp.asarray(filters)
        if len(filters.shape) != ndim + 2:
            raise ValueError(
                f"filters must have shape (*filter_spatial, M, K) with {ndim} spatial axes "
                f"(in_spatial={in_spatial}), i.e. rank {ndim + 2}; got shape {filters.shape}"
            )
        check_dtype_floating(filters, "filters")
        padding = check_padding(padding)
        stride = check_stride(stride, ndim)
        fshape = tuple(filters.shape[:ndim])
        if min(filters.shape) < 1:
            raise ValueError(f"filters must have no empty axis; got shape {filters.shape}")
        larger = any(f > d for f, d in zip(fshape, in_spatial, strict=True))
        if larger and not large_filters and padding != "valid":
            raise ValueError(
                f"{_layout_hint(filters.shape, in_spatial)}; a filter larger than the input on "
                f"purpose: large_filters=True"
            )
        try:
            conv_output_shape(in_spatial, fshape, stride, padding)  # validates
        except ValueError as error:
            if larger:  # "valid" padding: never possible, but say what the shape suggests
                raise ValueError(f"{error}; {_layout_hint(filters.shape, in_spatial)}") from None
            raise
        if padding == "same":
            pads = tuple(lax.padtype_to_pads(in_spatial, fshape, stride, "SAME"))
        else:
            pads = ((0, 0),) * ndim
        self.filters = filters
        self.in_spatial = in_spatial
        self.stride = stride
        self.padding = padding
        self.precision = precision
        self.pads = tuple((int(a), int(b)) for a, b in pads)

    @classmethod
    def from_flax(cls, params, in_spatial, **kwargs) -> ConvOperator:
        """From a Flax ``nn.Conv`` kernel or params tree; see :func:`conv_operator_from_flax`."""
        return conv_operator_from_flax(params, in_spatial, **kwargs)

    @classmethod
    def from_torch(
        cls, weight, in_spatial, stride=1, padding: str = "valid", **kwargs
    ) -> ConvOperator:
        """From a PyTorch ``nn.Conv{1,2,3}d`` weight, layout ``(K, M, *filter_spatial)``
        (out channels, in channels, then the filter), e.g. ``conv.weight.detach().numpy()``.

        PyTorch's convolution is a cross-correlation, as ours: the taps are moved to
        ``(*filter_spatial, M, K)`` and nothing is flipped. ``padding``: ``"valid"`` (PyTorch's
        ``padding=0``) or ``"same"`` (its ``padding="same"``); other keyword arguments as for the
        constructor. The bias is not part of ``W``.
        """
        weight = jnp.asarray(weight)
        if weight.ndim < 3:
            raise ValueError(
                f"weight must have PyTorch's layout (K, M, *filter_spatial), rank >= 3; got "
                f"shape {tuple(weight.shape)}"
            )
        filters = jnp.moveaxis(weight, (0, 1), (-1, -2))
        return cls(filters, in_spatial, stride, padding, **kwargs)

    @classmethod
    def from_keras(
        cls, kernel, in_spatial, stride=1, padding: str = "valid", **kwargs
    ) -> ConvOperator:
        """From a Keras ``Conv{1,2,3}D`` kernel, layout ``(*filter_spatial, M, K)`` (Keras's and
        Flax's layout, the constructor's own), e.g. ``layer.get_weights()[0]``. ``padding``:
        ``"valid"`` or ``"same"`` (Keras's own names); other keyword arguments as for the
        constructor."""
        return cls(kernel, in_spatial, stride, padding, **kwargs)

    # ----------------------------------------------------------------------------- shapes
    @property
    def ndim(self) -> int:
        """Number of spatial axes ``d``."""
        return len(self.in_spatial)

    @property
    def filter_shape(self) -> tuple[int, ...]:
        """``filter_spatial`` (``l = prod(filter_shape)`` taps)."""
        return tuple(self.filters.shape[-self.ndim - 2 : -2])

    @property
    def in_channels(self) -> int:
        """``M``."""
        return int(self.filters.shape[-2])

    @property
    def out_channels(self) -> int:
        """``K``, the number of filters."""
        return int(self.filters.shape[-1])

    @property
    def out_spatial(self) -> tuple[int, ...]:
        """Number of shifts per axis (``n = prod(out_spatial)``)."""
        return conv_output_shape(self.in_spatial, self.filter_shape, self.stride, self.padding)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_spatial + (self.in_channels,)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.out_spatial + (self.out_channels,)

    @property
    def dtype(self):
        return self.filters.dtype

    def normalized(self) -> tuple[ConvOperator, jax.Array]:
        """``(W / c, c)`` with ``c = 2^e`` and ``max|w / c|`` in ``[0.5, 1)``: the filters
        divided exactly (:meth:`jaxcs.AbstractOperator.normalized`)."""
        scale = power_of_two_scale(self.filters)
        return self.replace(filters=self.filters / scale), scale

    def expected_leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        """``filters``: ``(*filter_shape, M, K)``, of rank ``len(in_spatial) + 2`` (the sizes
        are those of the filters' trailing axes: only extra leading axes are refused)."""
        return {"filters": self.filter_shape + (self.in_channels, self.out_channels)}

    def _padded_size(self, axis: int) -> int:
        lo, hi = self.pads[axis]
        extra = self.filter_shape[axis] - 1 if self.padding == "circular" else 0
        return self.in_spatial[axis] + lo + hi + extra

    # ----------------------------------------------------------------------------- apply
    def mv(self, x: jax.Array) -> jax.Array:
        """``W x``: one convolutional layer without bias.

        Args:
            x: ``(*batch, *in_spatial, M)``.

        Returns:
            ``(*batch, *out_spatial, K)``.
        """
        x = jnp.asarray(x)
        check_trailing(x, self.in_shape, "x")
        return _mv(self, x)

    def _mv(self, x: jax.Array) -> jax.Array:
        batch = x.shape[: x.ndim - len(self.in_shape)]
        dtype = jnp.result_type(self.filters.dtype, x.dtype)
        xb = x.reshape((-1,) + self.in_shape).astype(dtype)
        if self.padding == "circular":
            wrap = [(0, 0)] + [(0, l - 1) for l in self.filter_shape] + [(0, 0)]
            xb = jnp.pad(xb, wrap, mode="wrap")
        y = lax.conv_general_dilated(
            xb,
            self.filters.astype(dtype),
            window_strides=self.stride,
            padding=self.pads,
            dimension_numbers=_spec(self.ndim),
            precision=self.precision,
        )
        return y.reshape(batch + self.out_shape)

    def rmv(self, z: jax.Array) -> jax.Array:
        """``Wᵀ z``: the transposed convolution (the decoder, ``Φ z`` with ``Φ = Wᵀ``).

        Written by hand: dilate ``z`` by the stride, correlate with the spatially flipped filters
        (input and output channels swapped), crop the zero padding (``"same"``) or fold the
        wrapped border back mod ``D`` (``"circular"``).

        Args:
            z: ``(*batch, *out_spatial, K)``.

        Returns:
            ``(*batch, *in_spatial, M)``.
        """
        z = jnp.asarray(z)
        check_trailing(z, self.out_shape, "z")
        return _rmv(self, z)

    def _rmv(self, z: jax.Array) -> jax.Array:
        batch = z.shape[: z.ndim - len(self.out_shape)]
        dtype = jnp.result_type(self.filters.dtype, z.dtype)
        zb = z.reshape((-1,) + self.out_shape).astype(dtype)
        spatial_axes = tuple(range(self.ndim))
        kernel = jnp.swapaxes(jnp.flip(self.filters, spatial_axes), -1, -2).astype(dtype)
        pads = []
        for axis, (l, t, n) in enumerate(
            zip(self.filter_shape, self.stride, self.out_spatial, strict=True)
        ):
            lo, hi = self.pads[axis]
            extra = self._padded_size(axis) - ((n - 1) * t + l)
            if self.padding == "circular":
                pads.append((l - 1, l - 1 + extra))
            else:  # crop the zero padding of "same" (negative padding crops)
                pads.append((l - 1 - lo, l - 1 + extra - hi))
        x = lax.conv_general_dilated(
            zb,
            kernel,
            window_strides=(1,) * self.ndim,
            padding=pads,
            lhs_dilation=self.stride,
            dimension_numbers=_spec(self.ndim),
            precision=self.precision,
        )
        if self.padding == "circular":
            for axis, D in enumerate(self.in_spatial):
                x = _fold(x, axis + 1, D)
        return x.reshape(batch + self.in_shape)

    def rmv_sparse(self, code) -> jax.Array:
        """``Wᵀ z`` for a code in index form (:class:`~jaxcs.SparseCode`, ``s`` slots).

        Each used slot ``(j, i)`` adds filter ``i``, scaled by its value, at input position
        ``t·j − pad`` (wrapped for ``"circular"``, cropped for ``"same"``): a scatter of ``s``
        windows of ``l · M``, against the ``n · K · l · M`` of the transposed convolution.
        Codes with more than ``1/SPARSE_FRACTION`` of the code size in slots use :meth:`rmv`.
        A NaN value makes the result NaN.

        Returns:
            ``(*batch, *in_spatial, M)``.
        """
        batch = code.indices.shape[:-1]
        return self.residual(jnp.zeros(batch + self.in_shape, self.dtype), code, sign=1)

    def residual(self, x: jax.Array, code, *, sign: int = -1) -> jax.Array:
        """``x − Wᵀ z`` (``sign=-1``) or ``x + Wᵀ z`` for a code in index form: the filters of
        the used slots scattered onto ``x`` (:meth:`rmv_sparse`), no intermediate signal.

        Args:
            x: ``(*batch, *in_spatial, M)``, the batch of ``code``.
            code: a :class:`~jaxcs.SparseCode` of shape ``out_shape``.
            sign: ``-1`` or ``1``.

        Returns:
            ``(*batch, *in_spatial, M)``; NaN throughout where a value of the code is NaN.
        """
        x, batch = check_residual(self, x, code, sign)
        slots = code.indices.shape[-1]
        if slots * SPARSE_FRACTION > math.prod(self.out_shape):
            return x + sign * self.rmv(code.to_dense())
        dtype = jnp.result_type(self.filters.dtype, code.values.dtype, x.dtype)
        values = sign * code.used_values().astype(dtype)
        flat = jax.vmap(self._place)(
            x.reshape((-1,) + self.in_shape).astype(dtype),
            code.indices.reshape(-1, slots),
            values.reshape(-1, slots),
        )
        return flat.reshape(batch + self.in_shape)

    def _place(self, x: jax.Array, indices: jax.Array, values: jax.Array) -> jax.Array:
        """One code's ``x + Σ_s values_s · (filter of slot s at its shift)``: a scatter-add of
        ``(*l, M)`` windows into ``x`` padded as :meth:`mv` pads it, then cropped or folded."""
        K, d = self.out_channels, self.ndim
        shift = jnp.unravel_index(indices // K, self.out_spatial)
        starts = jnp.stack([t * j for t, j in zip(self.stride, shift, strict=True)], axis=-1)
        filters = jnp.moveaxis(self.filters, -1, 0).astype(values.dtype)  # (K, *l, M)
        windows = values.reshape((-1,) + (1,) * (d + 1)) * filters[indices % K]
        pads = [
            (lo, self._padded_size(a) - D - lo)
            for a, ((lo, _), D) in enumerate(zip(self.pads, self.in_spatial, strict=True))
        ]
        # a NaN value spoils the whole signal: folded into the copy of x the scatter needs anyway
        x = x + jnp.where(jnp.any(jnp.isnan(values)), jnp.nan, 0).astype(x.dtype)
        padded = jnp.pad(x, pads + [(0, 0)]) if any(p != (0, 0) for p in pads) else x
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
        if self.padding == "circular":
            for axis, D in enumerate(self.in_spatial):
                padded = _fold(padded, axis, D)
        else:  # "same" crops its zero padding ("valid" has none)
            padded = padded[
                tuple(
                    slice(lo, lo + D) for (lo, _), D in zip(self.pads, self.in_spatial, strict=True)
                )
            ]
        return padded

    # ----------------------------------------------------------------------------- W Wᵀ
    def normal_sparse(
        self, code, table=None, *, scale=1.0, onto=None, add_code: bool = False
    ) -> jax.Array:
        """``onto + scale · W Wᵀ z (+ z)`` for a code in index form, without a convolution
        (``"valid"`` and ``"circular"``; ``"same"``, whose border table holds Gram entries but
        no windows, uses :meth:`AbstractOperator.normal_sparse`, ``mv(rmv_sparse(code))``).

        ``(W Wᵀ z)[j', i'] = Σ_s z_s · C[i', i_s, j' − j_s]`` (``C`` the correlation table,
        :func:`~jaxcs.correlation_table`; shifts in output units, any stride): each used slot
        ``(j_s, i_s)`` adds the window ``scale · z_s · N[i_s]`` of
        :meth:`~jaxcs.CorrelationTable.normal_windows` at the shifts ``j_s + δ``,
        ``|δ_d| ≤ R_d`` (dropped outside the code for ``"valid"``, taken mod ``n`` for
        ``"circular"``), and with ``add_code`` also ``z_s`` at ``δ = 0``: ``s`` in-place
        window updates of ``prod(2R + 1) · K`` cells, against the ``n · l · M · K``
        multiply-adds of the convolution :meth:`mv`. A NaN value makes the result NaN.

        Args:
            code: a :class:`~jaxcs.SparseCode` of shape ``out_shape``, any batch axes.
            table: the operator's :meth:`gram_table` (``None``: computed here; not read for
                ``"same"``).
            scale: a scalar factor of ``W Wᵀ z``.
            onto: ``(*batch, *out_shape)`` to add the result to (``None``: zeros).
            add_code: also add ``z`` itself.

        Returns:
            ``(*batch, *out_shape)``.
        """
        check_code(code, self.out_shape)
        if self.padding == "same" or isinstance(table, DenseGram):
            return super().normal_sparse(code, table, scale=scale, onto=onto, add_code=add_code)
        # not "same": gram_table() is a CorrelationTable
        table = cast(CorrelationTable, self.gram_table() if table is None else table)
        batch, slots = code.indices.shape[:-1], code.indices.shape[-1]
        dtype = jnp.result_type(
            table.values.dtype, code.values.dtype, *([] if onto is None else [onto.dtype])
        )
        onto = jnp.zeros(batch + self.out_shape, dtype) if onto is None else onto
        if onto.shape != batch + self.out_shape:
            raise ValueError(
                f"onto must have shape {batch + self.out_shape} (batch + out_shape); got "
                f"{onto.shape}"
            )
        windows = table.normal_windows().astype(dtype)
        scale = jnp.asarray(scale, dtype)

        def place(onto, indices, values):
            return self._add_windows(table.offsets, windows, onto, indices, values, scale, add_code)

        args = (onto.astype(dtype), code.indices, code.used_values().astype(dtype))
        if not batch:  # one code (as inside a solver's vmap): no batch axis to map over
            return place(*args)
        flat = jax.vmap(place)(
            args[0].reshape((-1,) + self.out_shape),
            args[1].reshape(-1, slots),
            args[2].reshape(-1, slots),
        )
        return flat.reshape(batch + self.out_shape)

    def _add_windows(self, offsets, windows, onto, indices, values, scale, add_code):
        """One code's ``onto + Σ_s scale · values_s · windows[i_s]`` (``+ values_s`` at the
        window cell of ``δ = 0``, ``add_code``), each window added in place at ``j_s`` into
        ``onto`` padded to ``(*(n + table_shape − 1), K)`` (window cell ``w`` lands at shift
        ``j_s + w − offsets``), then cropped (``"valid"``) or folded mod ``n``
        (``"circular"``)."""
        K, spatial = self.out_channels, self.out_spatial
        extent = tuple(windows.shape[1:-1])
        shifts = jnp.unravel_index(indices // K, spatial)
        filters = indices % K
        # a NaN value spoils the whole result, as it does for mv(rmv_sparse(code))
        onto = onto + jnp.where(jnp.any(jnp.isnan(values)), jnp.nan, 0).astype(onto.dtype)
        pads = [(o, e - 1 - o) for o, e in zip(offsets, extent, strict=True)] + [(0, 0)]
        padded = jnp.pad(onto, pads)
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
        if self.padding == "circular":
            for axis, (n, o) in enumerate(zip(spatial, offsets, strict=True)):
                padded = jnp.roll(_fold(padded, axis, n), -o, axis=axis)
            return padded
        return padded[tuple(slice(o, o + n) for n, o in zip(spatial, offsets, strict=True))]

    def mv_cost(self) -> int:
        """``n · l · M · K`` multiply-adds (the convolution, ``n = prod(out_spatial)``)."""
        return (
            math.prod(self.out_spatial)
            * math.prod(self.filter_shape)
            * self.in_channels
            * self.out_channels
        )

    def normal_sparse_cost(self, slots: int) -> int | None:
        """``slots · prod(table_shape) · K`` window-cell updates plus the ``n · K`` cells of
        the result (:meth:`normal_sparse`); ``None`` for ``"same"`` (no window form: its
        :meth:`normal_sparse` convolves)."""
        if self.padding == "same":
            return None
        shape = table_shape(self.filter_shape, self.stride, self.out_spatial, self.padding)
        return slots * math.prod(shape) * self.out_channels + math.prod(self.out_shape)

    # ----------------------------------------------------------------------------- Grams
    def gram_table(self) -> CorrelationTable | BorderCorrelationTable:
        """The correlation table ``C[i, i', δ]`` (:func:`~jaxcs.correlation_table`) for
        ``"valid"`` and ``"circular"`` padding; for ``"same"``, whose zero padding truncates
        the border columns, the :class:`~jaxcs.operators.BorderCorrelationTable`
        (``C`` restricted by the border clip class of the first column, exact)."""
        if self.padding == "same":
            return border_correlation_table(self)
        return correlation_table(self)

    def restricted_gram_cost(self, k: int) -> int:
        # a "same" pair costs one more small gather per axis (its box key), no larger temporaries
        return k * k

    def _gram_table(self, table):
        """``table``, or :meth:`gram_table` when ``None``; a correlation table given for a
        ``"same"`` layer (or a border table for another) is refused: it would give wrong
        border entries silently."""
        if table is None:
            return self.gram_table()
        if isinstance(table, BorderCorrelationTable) != (self.padding == "same"):
            raise ValueError(
                f"table must be this operator's gram_table() (a BorderCorrelationTable for "
                f"padding='same', else a CorrelationTable); got {type(table).__name__} for "
                f"padding={self.padding!r}"
            )
        return table

    def restricted_gram(self, support, mask=None, *, table=None) -> jax.Array:
        """``G_S`` without any convolution : a ``k × k`` gather from the
        :meth:`gram_table` (``O(k²)``, exact for every padding). Arguments as
        :meth:`AbstractOperator.restricted_gram`."""
        i, j = decode_support(self, support)
        gram = table_gram(self._gram_table(table), i, j)
        return mask_gram(gram, mask)

    def restricted_gram_pairs(self, support, mask=None, *, table=None):
        """Diagonal and strict upper triangle of :meth:`restricted_gram`, gathered directly
        from the table (half the entries of the full Gram)."""
        i, j = decode_support(self, support)
        return table_gram_pairs(self._gram_table(table), i, j, mask)


def _fold(x: jax.Array, axis: int, period: int) -> jax.Array:
    """Sum ``x`` along ``axis`` modulo ``period``: the adjoint of wrap padding."""
    size = x.shape[axis]
    reps = -(-size // period)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, reps * period - size)
    x = jnp.pad(x, widths)
    x = x.reshape(x.shape[:axis] + (reps, period) + x.shape[axis + 1 :])
    return x.sum(axis=axis)


def _find_kernel(params: Any) -> jax.Array:
    if hasattr(params, "shape"):
        return params
    if isinstance(params, Mapping):
        if "kernel" in params:
            return params["kernel"]
        found = [v for v in params.values() if isinstance(v, Mapping) or hasattr(v, "shape")]
        kernels = []
        for value in found:
            try:
                kernels.append(_find_kernel(value))
            except ValueError:
                pass
        if len(kernels) == 1:
            return kernels[0]
    raise ValueError(
        "params must be a kernel array or a Flax params tree holding exactly one 'kernel' "
        "(for a tree with several layers, pass the layer's own subtree)"
    )


def conv_operator_from_flax(
    params: Any,
    in_spatial: Sequence[int],
    *,
    module: Any = None,
    stride: int | Sequence[int] | None = None,
    padding: str | None = None,
) -> ConvOperator:
    """A :class:`ConvOperator` from a Flax ``nn.Conv`` kernel or params tree.

    The bias (if any) is ignored: ``W`` is the linear part of the layer.

    Args:
        params: the kernel ``(*filter_spatial, M, K)`` or a params tree holding one ``kernel``
            (e.g. ``variables``, ``variables['params']`` or ``variables['params']['Conv_0']``).
        in_spatial: spatial input shape.
        module: an ``nn.Conv``; when given, its ``strides`` and ``padding`` (``"VALID"`` or
            ``"SAME"``) are used instead of ``stride`` and ``padding``.
        stride, padding: the layer's geometry when no ``module`` is given. ``padding`` is then
            required: a kernel alone does not say it, and guessing is wrong for Flax's own
            default (``nn.Conv`` pads ``"SAME"``). ``stride`` defaults to 1.

    Raises:
        ValueError: neither ``module`` nor ``padding`` given; the module uses dilation, feature
            groups or a padding that
            :class:`ConvOperator` does not define (Flax's ``"CIRCULAR"`` is centered, ours starts at
            offset 0).
    """
    kernel = jnp.asarray(_find_kernel(params))
    if module is not None:
        for attr in ("input_dilation", "kernel_dilation"):
            value = getattr(module, attr, 1)
            if value not in (None, 1) and set(positive_ints(value, attr, kernel.ndim - 2)) != {1}:
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
    return ConvOperator(kernel, in_spatial, stride=1 if stride is None else stride, padding=padding)


# W x and Wᵀ z compiled as one program per operator structure and shape: called eagerly, each
# compiles once instead of once per operation inside it; inside a caller's jit or vmap they are
# traced inline as before.
_mv = jax.jit(ConvOperator._mv)
_rmv = jax.jit(ConvOperator._rmv)
