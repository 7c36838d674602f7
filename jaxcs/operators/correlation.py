"""The shifted-filter correlation table ``C`` and restricted Grams from it (model.md §3).

The columns of ``Φ = Wᵀ`` are shifted filters, so the inner product of columns ``(j, i)`` and
``(j', i')`` depends only on ``(i, i', j − j')``:

    ⟨a_{j,i}, a_{j',i'}⟩ = C[i, i', δ] = Σ_s Σ_m w[s, m, i] · w[s + t·δ, m, i'],  δ = j − j',

and vanishes once ``|t·δ| ≥ l`` on any axis. ``C`` is indexed by the shift ``δ`` in *output*
units (one step = one stride), ``δ ∈ [−R, R]`` per axis with ``R = (l − 1) // t``; for stride 1
it is the ``K × K × (2l − 1)`` table of model.md §3. A restricted Gram
``G_S = (Wᵀ)_Sᵀ (Wᵀ)_S`` is then a ``k × k`` gather: ``O(k²)`` per support, no convolution.

Exactness: for ``"valid"`` no column is truncated, so the table is exact. For ``"circular"`` the
shift is taken mod ``n`` (and, when a filter is longer than half the period, aliased shifts are
summed into a folded table), so it is exact too. ``"same"`` zero padding truncates the columns
that touch the border; :func:`restricted_gram` then uses an exact per-pair overlap sum,
``O(k² · l · M)`` per support, instead of the table.

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

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import is_traced
from jaxcs.operators.base import check_operator


class CorrelationTable(Pytree):
    """``C[i, i', δ]`` for a :class:`ConvOperator` (see the module docstring).

    Attributes:
        values: ``(K, K, *table_shape)``; along axis ``d`` the index is ``δ_d + R_d`` (linear)
            or ``δ_d mod n_d`` (folded, circular padding with ``n_d ≤ 2 R_d``).
        radius: ``R_d = (l_d − 1) // t_d`` per axis.
        periods: ``n_d`` per axis for circular padding, else ``None``.
        folded: per axis, whether the table is folded mod ``n_d``.
    """

    values: jax.Array
    radius: tuple[int, ...] = static_field()
    periods: tuple[int, ...] | None = static_field()
    folded: tuple[bool, ...] | None = static_field()

    def lookup(self, i_a, i_b, shift) -> jax.Array:
        """``C[i_a, i_b, shift]`` with zeros where the columns do not overlap.

        Args:
            i_a, i_b: filter indices, broadcastable integer arrays.
            shift: ``(..., d)`` integer shifts ``δ = j_a − j_b`` in output units.
        """
        index = [i_a, i_b]
        inside = True
        for axis, R in enumerate(self.radius):
            delta = shift[..., axis]
            if self.periods is None:
                index.append(jnp.clip(delta + R, 0, 2 * R))
                inside = inside & (jnp.abs(delta) <= R)
            elif self.folded[axis]:
                index.append(jnp.mod(delta, self.periods[axis]))
            else:
                wrapped = jnp.mod(delta + R, self.periods[axis]) - R
                index.append(jnp.clip(wrapped + R, 0, 2 * R))
                inside = inside & (wrapped <= R)
        return jnp.where(inside, self.values[tuple(index)], 0)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Per axis, the table index of the shift ``δ = 0``: ``R_d`` (linear), ``0`` (folded)."""
        folded = self.folded or (False,) * len(self.radius)
        return tuple(0 if fold else R for R, fold in zip(self.radius, folded, strict=True))

    def normal_windows(self) -> jax.Array:
        """``N[i, *w, i'] = C[i', i, δ]``, ``(K, *table_shape, K)``, with ``δ = w − offsets``
        (mod ``n`` when folded): the window that a unit code entry of filter ``i`` at shift ``j``
        adds to ``W Wᵀ z`` at the shifts ``j + δ`` (``C`` as in the module docstring)."""
        return jnp.moveaxis(self.values, 0, -1)


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
    """The table ``C[i, i', δ]`` of inner products of shifted filters (model.md §3).

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
    w = op.filters
    fshape, stride = op.filter_shape, op.stride
    radius, folded = table_geometry(fshape, stride, op.out_spatial, op.padding)
    K = op.out_channels
    blocks = np.empty(tuple(2 * R + 1 for R in radius), dtype=object)
    for delta in itertools.product(*[range(-R, R + 1) for R in radius]):
        a_slices, b_slices = [], []
        for d, l, t in zip(delta, fshape, stride, strict=True):
            big = t * d  # Σ_s w[s] w[s + big], s and s + big both in [0, l)
            a_slices.append(slice(max(0, -big), min(l, l - big)))
            b_slices.append(slice(max(0, big), min(l, l + big)))
        a = w[tuple(a_slices)].reshape(-1, K)
        b = w[tuple(b_slices)].reshape(-1, K)
        blocks[tuple(d + R for d, R in zip(delta, radius, strict=True))] = a.T @ b
    values = jnp.stack([blk for blk in blocks.reshape(-1)], axis=-1)
    values = values.reshape((K, K) + blocks.shape)
    periods = None
    if op.padding == "circular":
        periods = op.out_spatial
        for axis, (R, n, fold) in enumerate(zip(radius, periods, folded, strict=True)):
            if fold:  # alias δ and δ ± n: sum them into a table indexed by δ mod n
                fold_matrix = np.zeros((2 * R + 1, n), dtype=np.float64)
                fold_matrix[np.arange(2 * R + 1), np.arange(-R, R + 1) % n] = 1
                fold_matrix = jnp.asarray(fold_matrix, values.dtype)
                values = jnp.moveaxis(
                    jnp.tensordot(values, fold_matrix, axes=([2 + axis], [0])), -1, 2 + axis
                )
    return CorrelationTable(values, radius, periods, folded)


def gram_table(op):
    """What :func:`restricted_gram` gathers ``G_S`` from, computed once per operator:
    ``op.gram_table()`` (a :class:`CorrelationTable` for a ``"valid"``/``"circular"``
    :class:`~jaxcs.ConvOperator`, the whole Gram as a :class:`~jaxcs.DenseGram` for a small
    dense operator, else ``None``)."""
    check_operator(op)
    return op.gram_table()


def decode_support(op, support: jax.Array):
    """Flat code indices of a convolutional code -> (filter index i, shift j of shape
    ``(..., d)``)."""
    K = op.out_channels
    i = support % K
    j = jnp.stack(jnp.unravel_index(support // K, op.out_spatial), axis=-1)
    return i, j


def table_gram(table: CorrelationTable, i, j) -> jax.Array:
    """``G_S`` of the columns ``(j, i)`` from the table: ``(..., k, k)``."""
    shift = j[..., :, None, :] - j[..., None, :, :]
    return table.lookup(i[..., :, None], i[..., None, :], shift)


def table_gram_pairs(table: CorrelationTable, i, j, mask=None):
    """Diagonal ``(..., k)`` and strict upper triangle ``(..., k(k − 1)/2)`` of
    :func:`table_gram`, gathered directly."""
    k = i.shape[-1]
    rows, cols = np.triu_indices(k, 1)
    diagonal = table.lookup(i, i, jnp.zeros_like(j))
    upper = table.lookup(i[..., rows], i[..., cols], j[..., rows, :] - j[..., cols, :])
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


def restricted_gram(op, support, mask=None, *, table=None) -> jax.Array:
    """``G_S = (Wᵀ)_Sᵀ (Wᵀ)_S`` for a batch of supports (model.md §3); ``op.restricted_gram``
    after checking the support.

    Args:
        op: any operator (:class:`~jaxcs.AbstractOperator`).
        support: ``(*batch, k)`` integer flat indices into a code of shape ``op.out_shape``
            (C order). Indices must be in range (they are clipped, not checked, under ``jit``).
        mask: optional ``(*batch, k)`` booleans; masked-out entries get zero rows and columns
            (the Gram of zero columns), so a fixed-size support array can hold any ``k``.
        table: a precomputed :func:`gram_table` (saves recomputing it per call).

    Returns:
        ``(*batch, k, k)`` symmetric Grams. Cost ``O(k²)`` per support from a correlation
        table (``"valid"``/``"circular"`` convolutions) or a :class:`~jaxcs.DenseGram`,
        ``O(k² · l · M)`` for ``"same"`` (exact border overlaps), ``O(k² · N)`` from the columns
        of a large :class:`~jaxcs.MatrixOperator`, one batched ``rmv`` for other operators.
    """
    check_operator(op)
    support = _check_support(op, support)
    return op.restricted_gram(support, mask, table=table)


def restricted_gram_pairs(op, support, mask=None, *, table=None):
    """The diagonal and the strict upper triangle of :func:`restricted_gram`, unexpanded.

    ``G_S`` is symmetric, so its ``k(k − 1)/2`` distinct off-diagonal entries carry all of it;
    gathering only those from the correlation table is about twice as fast as the full Gram.

    Returns:
        ``(diagonal, upper)``: ``(*batch, k)`` and ``(*batch, k(k − 1)/2)``, the latter in the
        order of ``numpy.triu_indices(k, 1)``.
    """
    check_operator(op)
    support = _check_support(op, support)
    return op.restricted_gram_pairs(support, mask, table=table)


def same_padding_gram(op, i, j):
    """Exact Gram of zero-padding-truncated columns: overlap sums over the in-bounds taps.

    Column ``(j, i)`` holds ``w[s, :, i]`` at input position ``p = t·j − lo + s`` when
    ``0 ≤ p < D``; two columns share the positions ``p``, so the pair sum runs over the taps
    ``s`` of the first column that are in bounds and whose partner tap ``s + t·(j_a − j_b)``
    exists.
    """
    w = jnp.moveaxis(op.filters, -1, 0)  # (K, *l, M)
    d = op.ndim
    taps = [jnp.arange(l) for l in op.filter_shape]
    in_bounds_a = True
    partner_index = []
    partner_ok = True
    for axis in range(d):
        t, (lo, _), D = op.stride[axis], op.pads[axis], op.in_spatial[axis]
        shape = [1] * d
        shape[axis] = -1
        s = taps[axis].reshape(shape)
        pos = (t * j[..., axis] - lo)[(Ellipsis,) + (None,) * d] + s  # (..., k, *l)
        in_bounds_a = in_bounds_a & (pos >= 0) & (pos < D)
        big = t * (j[..., :, None, axis] - j[..., None, :, axis])  # (..., k, k)
        s_b = big[(Ellipsis,) + (None,) * d] + s  # (..., k, k, *l)
        partner_ok = partner_ok & (s_b >= 0) & (s_b < op.filter_shape[axis])
        partner_index.append(jnp.clip(s_b, 0, op.filter_shape[axis] - 1))
    w_a = w[i] * in_bounds_a[..., None]  # (..., k, *l, M)
    i_b = jnp.broadcast_to(i[..., None, :], partner_index[0].shape[: i.ndim + 1])
    i_b = i_b[(Ellipsis,) + (None,) * d]
    w_b = w[(i_b, *partner_index)] * partner_ok[..., None]  # (..., k, k, *l, M)
    spatial = "".join(chr(ord("p") + a) for a in range(d))
    return jnp.einsum(f"...a{spatial}m,...ab{spatial}m->...ab", w_a, w_b)
