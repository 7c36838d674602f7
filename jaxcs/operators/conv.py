"""The convolutional layer ``W`` and its hand-written adjoint (the paper's ``x = Wᵀ z``).

Conventions (as Flax). A signal is ``(*in_spatial, M)`` (channels last), filters are
``(*filter_spatial, M, K)`` (Flax ``nn.Conv`` kernel layout), a code is ``(*out_spatial, K)``.
``mv`` applies ``W`` (signal -> code, one CNN layer without bias), ``rmv`` applies ``Wᵀ``
(code -> signal, the transposed convolution, the paper's synthesis operator ``Φ = Wᵀ``).
Every method accepts any number of leading batch axes.

The filters are the leaf; shapes, stride and padding are static, so ``jax.vmap`` over a stack
of operators (many random filter draws) is one batched computation.

The layer's geometry is in :mod:`~jaxcs.operators.conv_geometry`, the kernels of its sparse
fast paths in :mod:`~jaxcs.operators.conv_sparse`, the other frameworks' layouts in
:mod:`~jaxcs.operators.conv_import`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

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
    Support,
    SupportGram,
    SupportGramPairs,
    SupportMask,
    check_code,
    check_residual,
    mask_gram,
)
from jaxcs.operators.border import BorderCorrelationTable, border_correlation_table
from jaxcs.operators.conv_geometry import (
    conv_output_shape,
    dimension_numbers,
    fold,
    padded_length,
)
from jaxcs.operators.conv_import import find_kernel, flax_geometry, layout_hint, torch_filters
from jaxcs.operators.conv_sparse import add_gram_windows, scatter_filters
from jaxcs.operators.correlation import (
    CorrelationTable,
    correlation_table,
    decode_support,
    table_gram,
    table_gram_pairs,
    table_shape,
)

SPARSE_FRACTION = 8  # rmv_sparse scatters while slots ≤ code size / 8, else convolves


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

    filters: Float[Array, "*filter_shape M K"]
    in_spatial: tuple[int, ...] = static_field()
    stride: tuple[int, ...] = static_field()
    padding: str = static_field()
    precision: Any = static_field()
    pads: tuple[tuple[int, int], ...] = static_field()

    def __init__(
        self,
        filters: Float[ArrayLike, "*filter_shape M K"],
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
                f"{layout_hint(filters.shape, in_spatial)}; a filter larger than the input on "
                f"purpose: large_filters=True"
            )
        try:
            conv_output_shape(in_spatial, fshape, stride, padding)  # validates
        except ValueError as error:
            if larger:  # "valid" padding: never possible, but say what the shape suggests
                raise ValueError(f"{error}; {layout_hint(filters.shape, in_spatial)}") from None
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
        cls,
        weight: Float[ArrayLike, "K M *filter_shape"],
        in_spatial,
        stride=1,
        padding: str = "valid",
        **kwargs,
    ) -> ConvOperator:
        """From a PyTorch ``nn.Conv{1,2,3}d`` weight, layout ``(K, M, *filter_spatial)``
        (out channels, in channels, then the filter), e.g. ``conv.weight.detach().numpy()``.

        PyTorch's convolution is a cross-correlation, as ours: the taps are moved to
        ``(*filter_spatial, M, K)`` and nothing is flipped. ``padding``: ``"valid"`` (PyTorch's
        ``padding=0``) or ``"same"`` (its ``padding="same"``); other keyword arguments as for the
        constructor. The bias is not part of ``W``.
        """
        return cls(torch_filters(weight), in_spatial, stride, padding, **kwargs)

    @classmethod
    def from_keras(
        cls,
        kernel: Float[ArrayLike, "*filter_shape M K"],
        in_spatial,
        stride=1,
        padding: str = "valid",
        **kwargs,
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

    def normalized(self) -> tuple[ConvOperator, Float[Array, ""]]:
        """``(W / c, c)`` with ``c = 2^e`` and ``max|w / c|`` in ``[0.5, 1)``: the filters
        divided exactly (:meth:`jaxcs.AbstractOperator.normalized`)."""
        scale = power_of_two_scale(self.filters)
        return self.replace(filters=self.filters / scale), scale

    def expected_leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        """``filters``: ``(*filter_shape, M, K)``, of rank ``len(in_spatial) + 2`` (the sizes
        are those of the filters' trailing axes: only extra leading axes are refused)."""
        return {"filters": self.filter_shape + (self.in_channels, self.out_channels)}

    # ----------------------------------------------------------------------------- apply
    def mv(
        self, x: Float[ArrayLike, "*batch_in_spatial M"]
    ) -> Float[Array, "*batch_out_spatial K"]:
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
            dimension_numbers=dimension_numbers(self.ndim),
            precision=self.precision,
        )
        return y.reshape(batch + self.out_shape)

    def rmv(
        self, z: Float[ArrayLike, "*batch_out_spatial K"]
    ) -> Float[Array, "*batch_in_spatial M"]:
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
            padded = padded_length(self.in_spatial[axis], (lo, hi), l, self.padding)
            extra = padded - ((n - 1) * t + l)
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
            dimension_numbers=dimension_numbers(self.ndim),
            precision=self.precision,
        )
        if self.padding == "circular":
            for axis, D in enumerate(self.in_spatial):
                x = fold(x, axis + 1, D)
        return x.reshape(batch + self.in_shape)

    def rmv_sparse(self, code) -> Float[Array, "*batch_in_spatial M"]:
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

    def residual(
        self, x: Float[ArrayLike, "*batch_in_spatial M"], code, *, sign: int = -1
    ) -> Float[Array, "*batch_in_spatial M"]:
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
        flat = jax.vmap(partial(scatter_filters, self))(
            x.reshape((-1,) + self.in_shape).astype(dtype),
            code.indices.reshape(-1, slots),
            values.reshape(-1, slots),
        )
        return flat.reshape(batch + self.in_shape)

    # ----------------------------------------------------------------------------- W Wᵀ
    def normal_sparse(
        self,
        code,
        table=None,
        *,
        scale=1.0,  # typed as in AbstractOperator.normal_sparse, which "same" hands it to
        onto: Float[Array, "*batch_out_spatial K"] | None = None,
        add_code: bool = False,
    ) -> Float[Array, "*batch_out_spatial K"]:
        """``onto + scale · W Wᵀ z (+ z)`` for a code in index form, without a convolution
        (``"valid"`` and ``"circular"``; ``"same"``, whose border table holds Gram entries but
        no windows, uses :meth:`AbstractOperator.normal_sparse`, ``mv(rmv_sparse(code))``).

        ``(W Wᵀ z)[j', i'] = Σ_s z_s · C[i', i_s, j' − j_s]`` (``C`` the correlation table,
        :func:`~jaxcs.operators.correlation_table`; shifts in output units, any stride): each used
        slot ``(j_s, i_s)`` adds the window ``scale · z_s · N[i_s]`` of
        :meth:`~jaxcs.operators.CorrelationTable.normal_windows` at the shifts ``j_s + δ``,
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
            return add_gram_windows(
                self, table.offsets, windows, onto, indices, values, scale, add_code
            )

        args = (onto.astype(dtype), code.indices, code.used_values().astype(dtype))
        if not batch:  # one code (as inside a solver's vmap): no batch axis to map over
            return place(*args)
        flat = jax.vmap(place)(
            args[0].reshape((-1,) + self.out_shape),
            args[1].reshape(-1, slots),
            args[2].reshape(-1, slots),
        )
        return flat.reshape(batch + self.out_shape)

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
        """The correlation table ``C[i, i', δ]`` (:func:`~jaxcs.operators.correlation_table`) for
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

    def restricted_gram(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGram:
        """``G_S`` without any convolution : a ``k × k`` gather from the
        :meth:`gram_table` (``O(k²)``, exact for every padding). Arguments as
        :meth:`AbstractOperator.restricted_gram`."""
        i, j = decode_support(self, support)
        gram = table_gram(self._gram_table(table), i, j)
        return mask_gram(gram, mask)

    def restricted_gram_pairs(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGramPairs:
        """Diagonal and strict upper triangle of :meth:`restricted_gram`, gathered directly
        from the table (half the entries of the full Gram)."""
        i, j = decode_support(self, support)
        return table_gram_pairs(self._gram_table(table), i, j, mask)


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
    kernel = jnp.asarray(find_kernel(params))
    stride, padding = flax_geometry(module, kernel.ndim - 2, stride, padding)
    return ConvOperator(kernel, in_spatial, stride=1 if stride is None else stride, padding=padding)


# W x and Wᵀ z compiled as one program per operator structure and shape: called eagerly, each
# compiles once instead of once per operation inside it; inside a caller's jit or vmap they are
# traced inline as before.
_mv = jax.jit(ConvOperator._mv)
_rmv = jax.jit(ConvOperator._rmv)
