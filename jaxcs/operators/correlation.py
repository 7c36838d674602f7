"""The shifted-filter correlation table ``C`` and restricted Grams from it.

The columns of ``Φ = Wᵀ`` are shifted filters, so the inner product of columns ``(j, i)`` and
``(j', i')`` depends only on ``(i, i', j − j')``:

    ⟨a_{j,i}, a_{j',i'}⟩ = C[i, i', δ] = Σ_s Σ_m w[s, m, i] · w[s + t·δ, m, i'],  δ = j − j',

and vanishes once ``|t·δ| ≥ l`` on any axis. ``C`` is indexed by the shift ``δ`` in *output*
units (one step = one stride), ``δ ∈ [−R, R]`` per axis with ``R = (l − 1) // t``; for stride 1
it is the ``K × K × (2l − 1)`` table. A restricted Gram
``G_S = (Wᵀ)_Sᵀ (Wᵀ)_S`` is then a ``k × k`` gather: ``O(k²)`` per support, no convolution.

Exactness: for ``"valid"`` no column is truncated, so the table is exact. For ``"circular"`` the
shift is taken mod ``n`` (and, when a filter is longer than half the period, aliased shifts are
summed into a folded table), so it is exact too. ``"same"`` zero padding truncates the columns
that touch the border, so ``C`` is exact there only for interior pairs; the operator's
:meth:`~jaxcs.ConvOperator.gram_table` is then a
:class:`~jaxcs.operators.BorderCorrelationTable`, which adds the border clip class of the
first column to the index and keeps every restricted Gram an ``O(k²)`` gather.

The same table applies the normal operator ``W Wᵀ`` to a sparse code without a convolution
(:meth:`~jaxcs.ConvOperator.normal_sparse`): ``(W Wᵀ z)[j', i'] = Σ_s z_s · C[i', i_s, j' − j_s]``,
each non-zero ``z_s`` at ``(j_s, i_s)`` adding one window :meth:`CorrelationTable.normal_windows`
``[i_s]`` (scaled by ``z_s``) around its shift.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import is_traced
from jaxcs.operators.base import SupportGram, SupportGramPairs, SupportMask, check_operator

# The columns ``(j, i)`` of ``Φ = Wᵀ`` that a table's ``entries`` pairs: filter indices, shifts
# (output units, one per spatial axis), and NumPy index arrays into the ``k`` columns.
ColumnFilters = Int[Array, "*batch k"]
ColumnShifts = Int[Array, "*batch k d"]
ColumnPairs = Int[ArrayLike, "*#pairs"]


class CorrelationTable(Pytree):
    """``C[i, i', δ]`` for a :class:`ConvOperator` (see the module docstring).

    Attributes:
        values: ``(K, K, *table_shape)``; along axis ``d`` the index is ``δ_d + R_d`` (linear)
            or ``δ_d mod n_d`` (folded, circular padding with ``n_d ≤ 2 R_d``).
        radius: ``R_d = (l_d − 1) // t_d`` per axis.
        periods: ``n_d`` per axis for circular padding, else ``None``.
        folded: per axis, whether the table is folded mod ``n_d``.
    """

    values: Float[Array, "K K *table_shape"]
    radius: tuple[int, ...] = static_field()
    periods: tuple[int, ...] | None = static_field()
    folded: tuple[bool, ...] | None = static_field()

    def lookup(
        self,
        i_a: Int[Array, "*#batch"],
        i_b: Int[Array, "*#batch"],
        shift: Int[Array, "*#batch d"],
    ) -> Float[Array, "*batch"]:
        """``C[i_a, i_b, shift]`` with zeros where the columns do not overlap.

        Args:
            i_a, i_b: filter indices, broadcastable integer arrays.
            shift: ``(..., d)`` integer shifts ``δ = j_a − j_b`` in output units.
        """
        index = []
        inside = True
        for axis, R in enumerate(self.radius):
            delta = shift[..., axis]
            if self.periods is None:
                index.append(jnp.clip(delta + R, 0, 2 * R))
                inside = inside & (jnp.abs(delta) <= R)
                continue
            assert self.folded is not None  # a circular table (periods) has its folded flags
            if self.folded[axis]:
                index.append(jnp.mod(delta, self.periods[axis]))
            else:
                wrapped = jnp.mod(delta + R, self.periods[axis]) - R
                index.append(jnp.clip(wrapped + R, 0, 2 * R))
                inside = inside & (wrapped <= R)
        return jnp.where(inside, gather_entries(self.values, i_a, i_b, index), 0)

    def entries(
        self, i: ColumnFilters, j: ColumnShifts, rows: ColumnPairs, cols: ColumnPairs
    ) -> Float[Array, "*batch_pairs"]:
        """Gram entries ``⟨a_p, a_q⟩`` of columns ``p = rows``, ``q = cols`` of the columns
        ``(j, i)`` (``i``: ``(..., k)``, ``j``: ``(..., k, d)``; ``rows``, ``cols``:
        broadcastable NumPy index arrays into the ``k`` columns): :meth:`lookup` of
        ``j_p − j_q``."""
        return self.lookup(i[..., rows], i[..., cols], j[..., rows, :] - j[..., cols, :])

    @property
    def offsets(self) -> tuple[int, ...]:
        """Per axis, the table index of the shift ``δ = 0``: ``R_d`` (linear), ``0`` (folded)."""
        folded = self.folded or (False,) * len(self.radius)
        return tuple(0 if fold else R for R, fold in zip(self.radius, folded, strict=True))

    def normal_windows(self) -> Float[Array, "K *table_shape K"]:
        """``N[i, *w, i'] = C[i', i, δ]``, ``(K, *table_shape, K)``, with ``δ = w − offsets``
        (mod ``n`` when folded): the window that a unit code entry of filter ``i`` at shift ``j``
        adds to ``W Wᵀ z`` at the shifts ``j + δ`` (``C`` as in the module docstring)."""
        return jnp.moveaxis(self.values, 0, -1)


def gather_entries(values: jax.Array, i_a, i_b, index) -> jax.Array:
    """``values[i_a, i_b, *index]`` (``values``: ``(K, K, *table_shape)``) as one gather from
    the flattened table: on CPU about 1.4× faster than the multi-index gather."""
    flat = i_a * values.shape[1] + i_b
    for size, axis_index in zip(values.shape[2:], index, strict=True):
        flat = flat * size + axis_index
    return values.reshape(-1)[flat]


def table_geometry(filter_shape, stride, out_spatial, padding: str):
    """``(radius, folded)`` of the correlation table of a ``"valid"``/``"circular"`` layer:
    ``R_d = (l_d − 1) // t_d`` and, for circular padding, whether axis ``d`` is folded mod
    ``n_d`` (``n_d ≤ 2 R_d``; ``None`` for valid). Static: no table is computed."""
    radius = tuple((l - 1) // t for l, t in zip(filter_shape, stride, strict=True))
    if padding != "circular":
        return radius, None
    return radius, tuple(n <= 2 * R for n, R in zip(out_spatial, radius, strict=True))


def table_shape(filter_shape, stride, out_spatial, padding: str) -> tuple[int, ...]:
    """The spatial shape of the table (:func:`table_geometry`): ``2 R_d + 1`` per linear axis,
    ``n_d`` per folded one."""
    radius, folded = table_geometry(filter_shape, stride, out_spatial, padding)
    folded = folded or (False,) * len(radius)
    return tuple(
        n if fold else 2 * R + 1 for R, n, fold in zip(radius, out_spatial, folded, strict=True)
    )


def correlation_table(op) -> CorrelationTable:
    """The table ``C[i, i', δ]`` of inner products of shifted filters.

    Costs ``Σ_δ overlap(δ) · M · K²`` multiply-adds (one matrix product per shift), e.g. about
    ``10¹⁰`` for a VGG-16 3×3×512×512 layer: seconds on two CPU cores. Works for 1-D and 2-D
    (any number of spatial axes) and any stride.

    Args:
        op: a :class:`ConvOperator`.

    Returns:
        A :class:`CorrelationTable`, ``values`` of shape ``(K, K, *table_shape)``.
    """
    if not all(hasattr(op, name) for name in ("filters", "filter_shape", "stride", "padding")):
        raise TypeError(
            f"op must be a ConvOperator (a correlation table is a table of shifted filters); "
            f"got {type(op).__name__}"
        )
    fshape, stride = op.filter_shape, op.stride
    radius, folded = table_geometry(fshape, stride, op.out_spatial, op.padding)
    boxes = [
        [overlap_box(l, t, d) for d in range(-R, R + 1)]
        for l, t, R in zip(fshape, stride, radius, strict=True)
    ]
    values = box_correlations(op.filters, boxes)
    periods = None
    if op.padding == "circular":
        periods = op.out_spatial
        assert folded is not None  # table_geometry folds (or not) each axis of a circular table
        for axis, (R, n, fold) in enumerate(zip(radius, periods, folded, strict=True)):
            if fold:  # alias δ and δ ± n: sum them into a table indexed by δ mod n
                fold_matrix = np.zeros((2 * R + 1, n), dtype=np.float64)
                fold_matrix[np.arange(2 * R + 1), np.arange(-R, R + 1) % n] = 1
                fold_matrix = jnp.asarray(fold_matrix, values.dtype)
                values = jnp.moveaxis(
                    jnp.tensordot(values, fold_matrix, axes=([2 + axis], [0])), -1, 2 + axis
                )
    return CorrelationTable(values, radius, periods, folded)


def overlap_box(length: int, stride: int, delta: int) -> tuple[int, int, int]:
    """``(start, stop, offset)``: the taps ``s ∈ [start, stop)`` of a filter of ``length`` taps
    whose tap ``s + offset`` is in range too, for columns ``delta`` strides apart
    (``offset = t·δ``): one axis of the overlap box of :func:`box_correlations`."""
    offset = stride * delta
    return max(0, -offset), min(length, length - offset), offset


def box_correlations(filters: jax.Array, boxes) -> jax.Array:
    """Correlations of a filter bank over boxes of taps, one matrix product per box.

    Args:
        filters: ``(*l, M, K)``.
        boxes: per spatial axis, a sequence of ``(start, stop, offset)``: the taps
            ``s ∈ [start, stop)`` of the first filter, each paired with the tap ``s + offset``
            of the second (both in range).

    Returns:
        ``B[i, i', κ_0, …] = Σ_{s ∈ box} Σ_m w[s, m, i] · w[s + offset, m, i']`` over the
        product box ``boxes[0][κ_0] × boxes[1][κ_1] × …``: ``(K, K, *len(boxes[d]))``.
    """
    K = filters.shape[-1]
    blocks = []
    for combo in itertools.product(*boxes):
        a = filters[tuple(slice(start, stop) for start, stop, _ in combo)].reshape(-1, K)
        b = filters[tuple(slice(start + off, stop + off) for start, stop, off in combo)]
        blocks.append(a.T @ b.reshape(-1, K))
    values = jnp.stack(blocks, axis=-1)
    return values.reshape((K, K) + tuple(len(axis) for axis in boxes))


def gram_table(op):
    """What :func:`restricted_gram` gathers ``G_S`` from, computed once per operator:
    ``op.gram_table()`` (a :class:`CorrelationTable` for a ``"valid"``/``"circular"``
    :class:`~jaxcs.ConvOperator`, a :class:`~jaxcs.operators.BorderCorrelationTable`
    for ``"same"``, the whole Gram as a :class:`~jaxcs.operators.DenseGram` for a small dense
    operator, else ``None``)."""
    check_operator(op)
    return op.gram_table()


def decode_support(op, support: jax.Array):
    """Flat code indices of a convolutional code -> (filter index i, shift j of shape
    ``(..., d)``)."""
    K = op.out_channels
    i = support % K
    j = jnp.stack(jnp.unravel_index(support // K, op.out_spatial), axis=-1)
    return i, j


def table_gram(table, i, j) -> jax.Array:
    """``G_S`` of the columns ``(j, i)`` from a table with ``entries`` (a
    :class:`CorrelationTable` or a border table): ``(..., k, k)``."""
    k = np.arange(i.shape[-1])
    return table.entries(i, j, k[:, None], k[None, :])


def table_gram_pairs(table, i, j, mask=None):
    """Diagonal ``(..., k)`` and strict upper triangle ``(..., k(k − 1)/2)`` of
    :func:`table_gram`, gathered directly."""
    k = i.shape[-1]
    rows, cols = np.triu_indices(k, 1)
    diagonal = table.entries(i, j, np.arange(k), np.arange(k))
    upper = table.entries(i, j, rows, cols)
    if mask is not None:
        mask = jnp.asarray(mask, bool)
        diagonal = jnp.where(mask, diagonal, 0)
        upper = jnp.where(mask[..., rows] & mask[..., cols], upper, 0)
    return diagonal, upper


def _check_support(op, support):
    support = jnp.asarray(support)
    if not jnp.issubdtype(support.dtype, jnp.integer) or support.ndim < 1:
        raise ValueError(
            "support must be an integer array (*batch, k) of flat indices into the code "
            f"(C-order over {tuple(op.out_shape)}); got {support.dtype}{list(support.shape)}"
        )
    size = math.prod(op.out_shape)
    if (
        not is_traced(support)
        and support.size
        and (int(support.min()) < 0 or int(support.max()) >= size)
    ):
        raise ValueError(
            f"support indices must be in [0, {size}) (the code size); got "
            f"[{int(support.min())}, {int(support.max())}]"
        )
    return support


def restricted_gram(
    op, support: Int[ArrayLike, "*batch k"], mask: SupportMask | None = None, *, table=None
) -> SupportGram:
    """``G_S = (Wᵀ)_Sᵀ (Wᵀ)_S`` for a batch of supports; ``op.restricted_gram``
    after checking the support.

    Args:
        op: any operator (:class:`~jaxcs.AbstractOperator`).
        support: ``(*batch, k)`` integer flat indices into a code of shape ``op.out_shape``
            (C order). Indices must be in range (they are clipped, not checked, under ``jit``).
        mask: optional ``(*batch, k)`` booleans; masked-out entries get zero rows and columns
            (the Gram of zero columns), so a fixed-size support array can hold any ``k``.
        table: a precomputed :func:`gram_table` (saves recomputing it per call).

    Returns:
        ``(*batch, k, k)`` symmetric Grams. Cost ``O(k²)`` per support from a convolution's
        table (correlation table, border table for ``"same"``) or a
        :class:`~jaxcs.operators.DenseGram`, ``O(k² · N)`` from the columns of a large
        :class:`~jaxcs.MatrixOperator`, one batched ``rmv`` for other operators.
    """
    check_operator(op)
    support = _check_support(op, support)
    return op.restricted_gram(support, mask, table=table)


def restricted_gram_pairs(
    op, support: Int[ArrayLike, "*batch k"], mask: SupportMask | None = None, *, table=None
) -> SupportGramPairs:
    """The diagonal and the strict upper triangle of :func:`restricted_gram`, unexpanded.

    ``G_S`` is symmetric, so its ``k(k − 1)/2`` distinct off-diagonal entries carry all of it;
    it gathers half the entries of the full Gram (whether that is faster depends on what XLA fuses
    the gather with: :func:`jaxcs.analysis.code_ratios` gathers the full Gram).

    Returns:
        ``(diagonal, upper)``: ``(*batch, k)`` and ``(*batch, k(k − 1)/2)``, the latter in the
        order of ``numpy.triu_indices(k, 1)``.
    """
    check_operator(op)
    support = _check_support(op, support)
    return op.restricted_gram_pairs(support, mask, table=table)
