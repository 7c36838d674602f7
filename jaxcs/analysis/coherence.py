"""Mutual coherence of ``Φ = Wᵀ`` (the paper's Table 4).

``μ = max_{p ≠ q} |⟨a_p, a_q⟩| / (‖a_p‖ ‖a_q‖)`` over columns of ``Wᵀ``. The paper does not say
whether shifted copies of one filter count as distinct columns, so both are offered:

- filter-level (``shifts=False``): the flattened filters only, ``K`` columns of length ``l·M``;
- shift-aware (``shifts=True``): every pair of distinct columns that occurs in the layer, read
  off the operator's :meth:`~jaxcs.ConvOperator.gram_table`, never from a dense Gram. For
  ``"same"`` padding that includes the border columns that the zero padding truncates (their
  smaller norms can make their normalised correlations the largest): the border table
  (:class:`jaxcs.operators.BorderCorrelationTable`) gives every pair's inner product and every
  column's norm by its per-axis clip class, and the few realised per-axis combinations
  ``(shift, class of the first column, class of the second)`` are enumerated and combined
  across axes. ``shifts="interior"`` keeps only the columns the padding does not truncate
  (the same as ``True`` for ``"valid"`` and ``"circular"``). A VGG-16 3×3×512×512 layer takes
  seconds on two CPU cores.

Any other operator (a dense matrix, ``op.T``, a user's own :class:`~jaxcs.AbstractOperator`)
has no filters: its coherence is over all columns of ``Wᵀ``, from the dense Gram ``W Wᵀ``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxcs._validate import check_choice
from jaxcs.operators import (
    AbstractOperator,
    BorderCorrelationTable,
    ConvOperator,
    correlation_table,
)

SHIFTS = (False, True, "interior")


def _normalized_offdiag_max(gram: jax.Array, norms_a: jax.Array, norms_b: jax.Array, exclude):
    """``max |gram[p, q]| / (‖a_p‖ ‖a_q‖)`` over the entries not excluded (axes 0, 1: p, q)."""
    scale = norms_a[:, None] * norms_b[None, :]
    cos = jnp.abs(gram) / jnp.where(scale > 0, scale, 1)
    return jnp.max(jnp.where(exclude, 0, cos), initial=0)


def _filter_coherence(filters: jax.Array) -> jax.Array:
    flat = filters.reshape(-1, filters.shape[-1])
    norms = jnp.linalg.norm(flat, axis=0)
    eye = jnp.eye(flat.shape[-1], dtype=bool)
    return _normalized_offdiag_max(flat.T @ flat, norms, norms, eye)


def _column_coherence(op) -> jax.Array:
    """Over all columns of ``Φ = Wᵀ`` (the rows of ``W``), from the dense Gram ``W Wᵀ``."""
    w = op.as_matrix()
    gram = w @ w.T
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), 0))
    eye = jnp.eye(gram.shape[0], dtype=bool)
    return _normalized_offdiag_max(gram, norms, norms, eye)


def _interior_positions(op: ConvOperator, axis: int) -> int:
    """Number of shifts along ``axis`` whose column is not truncated by "same" zero padding."""
    t, (lo, _), D, l = op.stride[axis], op.pads[axis], op.in_spatial[axis], op.filter_shape[axis]
    j = np.arange(op.out_spatial[axis])
    return int(np.sum((t * j - lo >= 0) & (t * j - lo + l <= D)))


def _table_axis_pairs(table, axis: int, n: int):
    """Along one axis of a correlation table, the realised column pairs as ``(table index,
    norm index of the first column, of the second, zero shift)`` arrays: the shifts
    ``|δ| < n`` (``n`` columns along the axis), every index of a folded axis."""
    if table.folded is not None and table.folded[axis]:
        index = np.arange(table.values.shape[2 + axis])  # δ mod n
        return index, np.zeros_like(index), np.zeros_like(index), index == 0
    R = table.radius[axis]
    delta = np.arange(-R, R + 1)
    delta = delta[np.abs(delta) < n]
    centre = np.full_like(delta, R)
    return delta + R, centre, centre, delta == 0


def _border_axis_pairs(geometry):
    """Along one axis of a border table, the distinct realised ``(box of the pair, box of the
    first column's norm, of the second's, zero shift)``: every position ``j_a`` and shift
    ``δ`` with ``j_b = j_a − δ`` a position too."""
    R, n = geometry.radius, geometry.shifts
    j_a, delta = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(-R, R + 1)))
    keep = (j_a - delta >= 0) & (j_a - delta < n)
    j_a, delta = j_a[keep], delta[keep]
    zero = np.zeros_like(delta)
    rows = np.stack(
        [
            geometry.static_key(delta, j_a),
            geometry.static_key(zero, j_a),
            geometry.static_key(zero, j_a - delta),
            delta == 0,
        ],
        axis=1,
    )
    return tuple(np.unique(rows, axis=0).T)


def _outer_and(flags) -> np.ndarray:
    """``out[a, b, …] = flags[0][a] & flags[1][b] & …`` (``np.ix_`` would read booleans as
    masks)."""
    d = len(flags)
    axes = [
        np.asarray(f, bool).reshape([-1 if b == a else 1 for b in range(d)])
        for a, f in enumerate(flags)
    ]
    return functools.reduce(np.logical_and, axes)


def _shift_coherence(values: jax.Array, per_axis) -> jax.Array:
    """``max |values[i, i', κ]| / (‖a‖ ‖b‖)`` over the realised pairs: per axis ``(pair, norm_a,
    norm_b, zero)`` index arrays (:func:`_table_axis_pairs`), combined as a product across
    axes; a column's squared norm is ``values[i, i, norm index]``; the pairs of one filter at
    zero shift on every axis are the column itself and are left out."""
    K = values.shape[0]
    diagonal = values[jnp.arange(K), jnp.arange(K)]  # (K, *table_shape)
    eye = np.eye(K, dtype=bool)
    best = jnp.zeros((), values.dtype)
    # one slab per realised pair along the first axis keeps the temporaries at K² × Π_rest
    first, rest = per_axis[0], per_axis[1:]
    for pair, norm_a, norm_b, zero in zip(*first, strict=True):
        index = [np.array([pair]), *[p[0] for p in rest]]
        gram = values[(slice(None), slice(None), *np.ix_(*index))]  # (K, K, T_0, *T_rest)
        norms = []
        for first_norm, column in ((norm_a, 1), (norm_b, 2)):
            index = [np.array([first_norm]), *[p[column] for p in rest]]
            norms.append(jnp.sqrt(jnp.maximum(diagonal[(slice(None), *np.ix_(*index))], 0)))
        scale_a, scale_b = norms
        zeros = _outer_and([np.array([zero]), *[p[3] for p in rest]])
        exclude = eye.reshape(eye.shape + (1,) * len(per_axis)) & zeros
        best = jnp.maximum(best, _normalized_offdiag_max(gram, scale_a, scale_b, exclude))
    return best


def coherence(
    op: AbstractOperator | Float[ArrayLike, "*filter_spatial M K"], shifts: bool | str = False
) -> Float[Array, ""]:
    """Mutual coherence of the columns of ``Wᵀ`` (the paper's Table 4). jit- and vmap-able.

    Args:
        op: an operator, or (filter-level) a filter array ``(*filter_spatial, M, K)``.
        shifts: for a :class:`~jaxcs.ConvOperator` (or a filter array):
            ``False``: filter-level, over the ``K`` flattened filters;
            ``True``: shift-aware, over all pairs of distinct columns ``(j, i) ≠ (j', i')`` of
            ``Wᵀ`` (only shifts realised by the layer; circular shifts wrap; for
            ``padding="same"`` the border columns as the zero padding truncates them), read off
            the operator's table;
            ``"interior"``: shift-aware over the columns that the zero padding does not
            truncate only (``"same"``; the same as ``True`` otherwise); with no two interior
            columns the result is 0.
            Any other operator has no filters: its coherence is over all columns of ``Wᵀ``
            (from its dense Gram ``W Wᵀ``) whatever ``shifts`` says.

    Returns:
        A scalar in ``[0, 1]`` (0 when there is a single column; zero columns are ignored).

    Raises:
        ValueError: ``shifts`` not one of ``False``, ``True``, ``"interior"``.
        TypeError: a shift-aware coherence asked of a filter array.
    """
    check_choice(shifts, SHIFTS, "shifts")
    if not isinstance(op, AbstractOperator):
        if shifts:
            raise TypeError(
                f"shifts={shifts!r} needs a ConvOperator (its stride and padding define the "
                f"shifts); got {type(op).__name__}"
            )
        filters = jnp.asarray(op)
        if filters.ndim < 3:
            raise ValueError(
                f"filters must have shape (*filter_spatial, M, K); got {filters.shape}"
            )
        return _filter_coherence(filters)
    if not isinstance(op, ConvOperator):
        return _column_coherence(op)
    if not shifts:
        return _filter_coherence(op.filters)
    table = correlation_table(op) if shifts == "interior" else op.gram_table()
    if isinstance(table, BorderCorrelationTable):
        per_axis = [_border_axis_pairs(geometry) for geometry in table.axes]
    else:
        columns = op.out_spatial
        if op.padding == "same":  # "interior"
            columns = [_interior_positions(op, axis) for axis in range(op.ndim)]
        per_axis = [_table_axis_pairs(table, axis, n) for axis, n in enumerate(columns)]
    return _shift_coherence(table.values, per_axis)
