"""Linear operators: the convolutional layer ``W`` (model.md §1–2), a dense matrix, and transposes.

Conventions (model.md §1). A signal is ``(*spatial, M)`` (channels last), filters are
``(*filter_spatial, M, K)`` (Flax ``nn.Conv`` kernel layout), a code is ``(*out_spatial, K)``.
``mv`` applies ``W`` (signal -> code, one CNN layer without bias), ``rmv`` applies ``Wᵀ``
(code -> signal, the transposed convolution, the paper's synthesis operator ``Φ = Wᵀ``).
Every operator accepts any number of leading batch axes.

Operators are pytrees whose arrays are leaves and whose shapes, stride and padding are static,
so ``jax.vmap`` over a stack of operators (many random filter draws) is one batched computation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxcs.arguments import float_dtype, positive_ints
from jaxcs.pytree import PytreeNode

PADDINGS = ("valid", "circular", "same")
SPARSE_FRACTION = 8  # rmv_sparse scatters while slots ≤ code size / 8, else convolves


def _as_tuple(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    return positive_ints(value, name, ndim)


def _check_trailing(array: jax.Array, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    """Check that ``array`` ends in ``shape``; return its leading batch shape."""
    if array.ndim < len(shape) or tuple(array.shape[array.ndim - len(shape) :]) != shape:
        raise ValueError(
            f"{name} must have shape (*batch, {', '.join(map(str, shape))}); got {array.shape}"
        )
    return tuple(array.shape[: array.ndim - len(shape)])


def conv_output_shape(
    input_shape: Sequence[int],
    filter_shape: Sequence[int],
    stride: Sequence[int],
    padding: str,
) -> tuple[int, ...]:
    """Spatial shape of ``W x`` (the number of shifts ``n`` per axis), model.md §2.

    ``"valid"``: ``n = (D − l)/t + 1`` and ``(D − l)`` must be a multiple of ``t``;
    ``"circular"``: ``n = D/t`` with ``D`` a multiple of ``t``; ``"same"``: ``n = ceil(D/t)``.

    Raises:
        ValueError: naming ``input_shape``/``stride`` when the number of shifts is not an integer.
    """
    out = []
    for axis, (D, l, t) in enumerate(zip(input_shape, filter_shape, stride, strict=True)):
        if padding == "valid":
            if D < l or (D - l) % t:
                raise ValueError(
                    f"padding='valid' needs (D - l) to be a non-negative multiple of the stride "
                    f"on every axis; axis {axis}: input_shape D={D}, filter l={l}, stride t={t}, "
                    f"so (D - l)/t + 1 = {(D - l) / t + 1:g} shifts is not a positive integer"
                )
            out.append((D - l) // t + 1)
        elif padding == "circular":
            if D % t:
                raise ValueError(
                    f"padding='circular' needs the input size to be a multiple of the stride; "
                    f"axis {axis}: input_shape D={D}, stride t={t}"
                )
            out.append(D // t)
        elif padding == "same":
            out.append(-(-D // t))
        else:
            raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")
    return tuple(out)


def _spec(ndim: int) -> tuple[str, str, str]:
    spatial = "DHW"[-ndim:] if ndim <= 3 else "".join(chr(ord("a") + i) for i in range(ndim))
    return "N" + spatial + "C", spatial + "IO", "N" + spatial + "C"


class ConvOperator(PytreeNode):
    """The convolutional layer ``W`` (``Kn × MD``) and its adjoint, model.md §2.

    ``(W x)[j, i] = Σ_m Σ_s w[s, m, i] · x[t·j + s, m]`` (cross-correlation, as ``nn.Conv``),
    with ``x`` zero-padded as Flax's ``"SAME"`` for ``padding="same"`` and the index taken
    mod ``D`` for ``padding="circular"``.

    Args:
        filters: ``(*filter_spatial, M, K)`` floating array (the leaf).
        input_shape: spatial shape ``(*spatial,)`` of a signal, without the channel axis.
        stride: ``t``, an int or one int per spatial axis.
        padding: ``"valid"`` (the paper), ``"circular"`` or ``"same"``.
        precision: passed to ``lax.conv_general_dilated`` (``None``: JAX's default).

    Attributes:
        in_shape: ``(*input_shape, M)``, the shape of a signal ``x``.
        out_shape: ``(*out_spatial, K)``, the shape of a code ``z = W x``.

    Raises:
        ValueError: filter rank not ``len(input_shape) + 2``, non-floating filters, a bad
            stride or padding, or a non-integer number of shifts.
    """

    _leaves = ("filters",)
    _static = ("input_shape", "stride", "padding", "precision", "pads")

    def __init__(
        self,
        filters: jax.Array,
        input_shape: Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: str = "valid",
        precision: Any = None,
    ):
        input_shape = positive_ints(input_shape, "input_shape")
        ndim = len(input_shape)
        if ndim < 1:
            raise ValueError(f"input_shape must have at least one spatial size; got {input_shape}")
        if not isinstance(filters, jax.Array):  # NumPy in: a JAX array of JAX's dtype
            filters = jnp.asarray(filters)
        if len(filters.shape) != ndim + 2:
            raise ValueError(
                f"filters must have shape (*filter_spatial, M, K) with {ndim} spatial axes "
                f"(input_shape={input_shape}), i.e. rank {ndim + 2}; got shape {filters.shape}"
            )
        if not jnp.issubdtype(filters.dtype, jnp.floating):
            raise ValueError(f"filters must be a floating array; got dtype {filters.dtype}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")
        stride = _as_tuple(stride, ndim, "stride")
        fshape = tuple(filters.shape[:ndim])
        if min(filters.shape) < 1:
            raise ValueError(f"filters must have no empty axis; got shape {filters.shape}")
        conv_output_shape(input_shape, fshape, stride, padding)  # validates
        if padding == "same":
            pads = tuple(lax.padtype_to_pads(input_shape, fshape, stride, "SAME"))
        else:
            pads = ((0, 0),) * ndim
        self._set(
            filters=filters,
            input_shape=input_shape,
            stride=stride,
            padding=padding,
            precision=precision,
            pads=tuple((int(a), int(b)) for a, b in pads),
        )

    @classmethod
    def from_flax(cls, params, input_shape, **kwargs) -> ConvOperator:
        """From a Flax ``nn.Conv`` kernel or params tree; see :func:`conv_operator_from_flax`."""
        return conv_operator_from_flax(params, input_shape, **kwargs)

    # ----------------------------------------------------------------------------- shapes
    @property
    def ndim(self) -> int:
        """Number of spatial axes ``d``."""
        return len(self.input_shape)

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
        return conv_output_shape(self.input_shape, self.filter_shape, self.stride, self.padding)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.input_shape + (self.in_channels,)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.out_spatial + (self.out_channels,)

    @property
    def dtype(self):
        return self.filters.dtype

    @property
    def T(self) -> TransposedOperator:
        """The transposed operator (``mv`` and ``rmv`` swapped)."""
        return TransposedOperator(self)

    def _padded_size(self, axis: int) -> int:
        lo, hi = self.pads[axis]
        extra = self.filter_shape[axis] - 1 if self.padding == "circular" else 0
        return self.input_shape[axis] + lo + hi + extra

    # ----------------------------------------------------------------------------- apply
    def mv(self, x: jax.Array) -> jax.Array:
        """``W x``: one convolutional layer without bias.

        Args:
            x: ``(*batch, *input_shape, M)``.

        Returns:
            ``(*batch, *out_spatial, K)``.
        """
        x = jnp.asarray(x)
        batch = _check_trailing(x, self.in_shape, "x")
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
            ``(*batch, *input_shape, M)``.
        """
        z = jnp.asarray(z)
        batch = _check_trailing(z, self.out_shape, "z")
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
            for axis, D in enumerate(self.input_shape):
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
            ``(*batch, *input_shape, M)``.
        """
        batch = code.indices.shape[:-1]
        return self.residual(jnp.zeros(batch + self.in_shape, self.dtype), code, sign=1)

    def residual(self, x: jax.Array, code, *, sign: int = -1) -> jax.Array:
        """``x − Wᵀ z`` (``sign=-1``) or ``x + Wᵀ z`` for a code in index form: the filters of
        the used slots scattered onto ``x`` (:meth:`rmv_sparse`), no intermediate signal.

        Args:
            x: ``(*batch, *input_shape, M)``, the batch of ``code``.
            code: a :class:`~jaxcs.SparseCode` of shape ``out_shape``.
            sign: ``-1`` or ``1``.

        Returns:
            ``(*batch, *input_shape, M)``; NaN throughout where a value of the code is NaN.
        """
        x, batch = _check_residual(self, x, code, sign)
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
            for a, ((lo, _), D) in enumerate(zip(self.pads, self.input_shape, strict=True))
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
            for axis, D in enumerate(self.input_shape):
                padded = _fold(padded, axis, D)
        else:  # "same" crops its zero padding ("valid" has none)
            padded = padded[
                tuple(
                    slice(lo, lo + D)
                    for (lo, _), D in zip(self.pads, self.input_shape, strict=True)
                )
            ]
        return padded

    def as_matrix(self) -> jax.Array:
        """The dense ``(prod(out_shape), prod(in_shape))`` matrix of ``W`` (tests, tiny sizes).

        Rows are the C-order flattening of ``(*out_spatial, K)``, columns of
        ``(*input_shape, M)``.
        """
        return _dense(self)


def _check_code(code, out_shape) -> None:
    """A code in index form must be for this operator's code shape."""
    if tuple(getattr(code, "shape", ())) != tuple(out_shape):
        raise ValueError(
            f"code must be a SparseCode of shape {tuple(out_shape)} (op.out_shape); got "
            f"{getattr(code, 'shape', type(code).__name__)}"
        )


def _check_residual(op, x, code, sign) -> tuple[jax.Array, tuple[int, ...]]:
    """Arguments of ``op.residual``: ``(x as an array, batch shape)``, or a ValueError."""
    _check_code(code, op.out_shape)
    if sign not in (-1, 1):
        raise ValueError(f"sign must be -1 (x − Wᵀz) or 1 (x + Wᵀz); got {sign!r}")
    x = jnp.asarray(x)
    batch = _check_trailing(x, tuple(op.in_shape), "x")
    if batch != code.indices.shape[:-1]:
        raise ValueError(
            f"x has batch shape {batch} but code has {code.indices.shape[:-1]}; they must match"
        )
    return x, batch


def _fold(x: jax.Array, axis: int, period: int) -> jax.Array:
    """Sum ``x`` along ``axis`` modulo ``period``: the adjoint of wrap padding."""
    size = x.shape[axis]
    reps = -(-size // period)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, reps * period - size)
    x = jnp.pad(x, widths)
    x = x.reshape(x.shape[:axis] + (reps, period) + x.shape[axis + 1 :])
    return x.sum(axis=axis)


def _dense(op) -> jax.Array:
    n_in = math.prod(op.in_shape)
    basis = jnp.eye(n_in, dtype=op.dtype).reshape((n_in,) + tuple(op.in_shape))
    return op.mv(basis).reshape(n_in, -1).T


class MatrixOperator(PytreeNode):
    """A dense ``W`` (``m × N``) with the operator interface; for tests and tiny problems.

    Args:
        matrix: ``(m, N)`` floating array: ``mv(x) = matrix @ x``, ``rmv(z) = matrixᵀ @ z``.
        in_shape: shape of ``x`` (default ``(N,)``); ``prod(in_shape) == N``.
        out_shape: shape of ``z`` (default ``(m,)``); ``prod(out_shape) == m``.
    """

    _leaves = ("matrix",)
    _static = ("in_shape", "out_shape")

    def __init__(self, matrix, in_shape=None, out_shape=None):
        matrix = jnp.asarray(matrix)
        if matrix.ndim != 2 or not jnp.issubdtype(matrix.dtype, jnp.floating):
            raise ValueError(
                f"matrix must be a 2-D floating array; got shape {matrix.shape}, {matrix.dtype}"
            )
        m, n = matrix.shape
        in_shape = (n,) if in_shape is None else tuple(int(d) for d in in_shape)
        out_shape = (m,) if out_shape is None else tuple(int(d) for d in out_shape)
        if math.prod(in_shape) != n:
            raise ValueError(f"in_shape {in_shape} must have {n} entries (matrix columns)")
        if math.prod(out_shape) != m:
            raise ValueError(f"out_shape {out_shape} must have {m} entries (matrix rows)")
        self._set(matrix=matrix, in_shape=in_shape, out_shape=out_shape)

    @property
    def dtype(self):
        return self.matrix.dtype

    @property
    def T(self) -> TransposedOperator:
        return TransposedOperator(self)

    def mv(self, x: jax.Array) -> jax.Array:
        """``W x`` for ``x`` of shape ``(*batch, *in_shape)``."""
        x = jnp.asarray(x)
        batch = _check_trailing(x, self.in_shape, "x")
        y = x.reshape(batch + (-1,)) @ self.matrix.T
        return y.reshape(batch + self.out_shape)

    def rmv(self, z: jax.Array) -> jax.Array:
        """``Wᵀ z`` for ``z`` of shape ``(*batch, *out_shape)``."""
        z = jnp.asarray(z)
        batch = _check_trailing(z, self.out_shape, "z")
        y = z.reshape(batch + (-1,)) @ self.matrix
        return y.reshape(batch + self.in_shape)

    def rmv_sparse(self, code) -> jax.Array:
        """``Wᵀ z`` for a code in index form (:class:`~jaxcs.SparseCode`, ``s`` slots).

        Sums the ``s`` rows of ``W`` that the code uses: ``O(s · N)`` instead of the
        ``O(m · N)`` of :meth:`rmv`. Unused slots hold value 0; a NaN value makes the result NaN.

        Returns:
            ``(*batch, *in_shape)``.
        """
        batch = code.indices.shape[:-1]
        return self.residual(jnp.zeros(batch + self.in_shape, self.dtype), code, sign=1)

    def residual(self, x: jax.Array, code, *, sign: int = -1) -> jax.Array:
        """``x − Wᵀ z`` (``sign=-1``) or ``x + Wᵀ z`` for a code in index form, as
        :meth:`rmv_sparse` but accumulated onto ``x`` (``(*batch, *in_shape)``)."""
        x, batch = _check_residual(self, x, code, sign)
        values = sign * code.used_values()
        indices, slots = code.indices, code.indices.shape[-1]
        dtype = jnp.result_type(values.dtype, self.matrix.dtype, x.dtype)

        def add_row(s, y):  # a fused gather-multiply-add per slot: no (s, N) intermediate
            return y + values[..., s, None] * self.matrix[indices[..., s]]

        y = x.reshape(batch + (-1,)).astype(dtype)
        y = jax.lax.fori_loop(0, slots, add_row, y, unroll=max(1, min(slots, 8)))
        return y.reshape(batch + self.in_shape)

    def as_matrix(self) -> jax.Array:
        return self.matrix


class TransposedOperator(PytreeNode):
    """``Wᵀ`` as an operator in its own right: ``mv`` and ``rmv`` of ``operator`` swapped."""

    _leaves = ("operator",)

    def __init__(self, operator):
        self._set(operator=operator)

    @property
    def in_shape(self):
        return self.operator.out_shape

    @property
    def out_shape(self):
        return self.operator.in_shape

    @property
    def dtype(self):
        return self.operator.dtype

    @property
    def T(self):
        return self.operator

    def mv(self, x):
        return self.operator.rmv(x)

    def rmv(self, z):
        return self.operator.mv(z)

    def as_matrix(self):
        return self.operator.as_matrix().T


# --------------------------------------------------------------------------- constructors
def _filter_shape_of(filter_shape, in_channels: int, out_channels: int) -> tuple[int, ...]:
    filter_shape = positive_ints(filter_shape, "filter_shape")
    if not filter_shape:
        raise ValueError("filter_shape must have at least one spatial size")
    channels = positive_ints((in_channels, out_channels), "in_channels/out_channels", 2)
    return filter_shape + channels


def gaussian_filters(key, filter_shape, in_channels: int, out_channels: int, dtype=None):
    """I.i.d. ``N(0, 1/(M·l))`` filters (Theorem 3.1), shape ``(*filter_shape, M, K)``.

    Each filter then has unit expected squared norm, so ``W``'s rows have unit norm on average.
    ``dtype=None`` is JAX's default floating type (float32; float64 under x64), as for the
    other constructors.
    """
    shape = _filter_shape_of(filter_shape, in_channels, out_channels)
    dtype = float_dtype(dtype)
    fan_in = math.prod(shape[:-1])
    return jax.random.normal(key, shape, dtype) / jnp.sqrt(jnp.asarray(fan_in, dtype))


def unit_norm_filters(key, filter_shape, in_channels: int, out_channels: int, dtype=None):
    """Gaussian filters normalised so every filter ``w[..., i]`` has unit ℓ2 norm."""
    return normalize_filters(gaussian_filters(key, filter_shape, in_channels, out_channels, dtype))


def rademacher_filters(key, filter_shape, in_channels: int, out_channels: int, dtype=None):
    """I.i.d. ``±1/sqrt(M·l)`` filters (each filter has exactly unit norm)."""
    shape = _filter_shape_of(filter_shape, in_channels, out_channels)
    dtype = float_dtype(dtype)
    fan_in = math.prod(shape[:-1])
    signs = jax.random.rademacher(key, shape, dtype)
    return signs / jnp.sqrt(jnp.asarray(fan_in, dtype))


def normalize_filters(filters: jax.Array) -> jax.Array:
    """Scale each filter ``filters[..., i]`` (all taps and input channels) to unit ℓ2 norm.

    A zero filter stays zero.
    """
    filters = jnp.asarray(filters)
    axes = tuple(range(filters.ndim - 1))
    norms = jnp.sqrt(jnp.sum(filters * filters, axis=axes, keepdims=True))
    return filters / jnp.where(norms > 0, norms, 1)


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
    input_shape: Sequence[int],
    *,
    module: Any = None,
    stride: int | Sequence[int] = 1,
    padding: str = "valid",
) -> ConvOperator:
    """A :class:`ConvOperator` from a Flax ``nn.Conv`` kernel or params tree.

    The bias (if any) is ignored: ``W`` is the linear part of the layer.

    Args:
        params: the kernel ``(*filter_spatial, M, K)`` or a params tree holding one ``kernel``
            (e.g. ``variables``, ``variables['params']`` or ``variables['params']['Conv_0']``).
        input_shape: spatial input shape.
        module: an ``nn.Conv``; when given, its ``strides`` and ``padding`` (``"VALID"`` or
            ``"SAME"``) are used instead of ``stride`` and ``padding``.

    Raises:
        ValueError: the module uses dilation, feature groups or a padding that
            :class:`ConvOperator` does not define (Flax's ``"CIRCULAR"`` is centred, ours starts at
            offset 0, model.md §2).
    """
    kernel = jnp.asarray(_find_kernel(params))
    if module is not None:
        for attr in ("input_dilation", "kernel_dilation"):
            value = getattr(module, attr, 1)
            if value not in (None, 1) and set(_as_tuple(value, kernel.ndim - 2, attr)) != {1}:
                raise ValueError(f"module.{attr}={value!r} is not supported (must be 1)")
        if getattr(module, "feature_group_count", 1) != 1:
            raise ValueError("module.feature_group_count must be 1")
        stride = 1 if module.strides is None else module.strides
        pad = module.padding
        if not isinstance(pad, str) or pad.upper() not in ("VALID", "SAME"):
            raise ValueError(
                f"module.padding={pad!r} is not supported: use 'VALID' or 'SAME' (Flax's "
                "'CIRCULAR' is centred; build ConvOperator(..., padding='circular') yourself)"
            )
        padding = pad.lower()
    return ConvOperator(kernel, input_shape, stride=stride, padding=padding)
