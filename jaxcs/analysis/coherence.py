"""Mutual coherence of ``Φ = Wᵀ`` (model.md §9, the paper's Table 4).

``μ = max_{p ≠ q} |⟨a_p, a_q⟩| / (‖a_p‖ ‖a_q‖)`` over columns of ``Wᵀ``. The paper does not say
whether shifted copies of one filter count as distinct columns, so both are offered:

- filter-level (``shifts=False``): the flattened filters only, ``K`` columns of length ``l·M``;
- shift-aware (``shifts=True``): every pair of overlapping shifted filters, read off the
  correlation table (:func:`jaxcs.correlation_table`), never from a dense Gram; a VGG-16
  3×3×512×512 layer takes seconds on two CPU cores.

Any other operator (a dense matrix, ``op.T``, a user's own :class:`~jaxcs.AbstractOperator`)
has no filters: its coherence is over all columns of ``Wᵀ``, from the dense Gram ``W Wᵀ``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxcs.operators import AbstractOperator, ConvOperator, correlation_table


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


def coherence(op, shifts: bool = False) -> jax.Array:
    """Mutual coherence of the columns of ``Wᵀ`` (model.md §9). jit- and vmap-able.

    Args:
        op: an operator, or (filter-level) a filter array ``(*filter_spatial, M, K)``.
        shifts: for a :class:`~jaxcs.ConvOperator` (or a filter array):
            ``False``: filter-level, over the ``K`` flattened filters;
            ``True``: shift-aware, over all pairs of distinct columns ``(j, i) ≠ (j', i')`` that
            occur in ``Wᵀ`` (only shifts ``|j − j'| < n`` realised by the layer; circular shifts
            wrap), read off the correlation table. For ``padding="same"`` only the interior
            columns (those the zero padding does not truncate) take part; with no two interior
            columns the result is 0. Any other operator has no filters: its coherence is over
            all columns of ``Wᵀ`` (from its dense Gram ``W Wᵀ``) whatever ``shifts`` says.

    Returns:
        A scalar in ``[0, 1]`` (0 when there is a single column; zero columns are ignored).
    """
    if not isinstance(op, AbstractOperator):
        if shifts:
            raise TypeError(
                "shifts=True needs a ConvOperator (its stride and padding define the shifts); "
                f"got {type(op).__name__}"
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
    table = correlation_table(op)
    values = table.values  # (K, K, *table_shape)
    K = values.shape[0]
    centre = []
    realised = np.ones(values.shape[2:], dtype=bool)
    for axis, (R, n) in enumerate(zip(table.radius, op.out_spatial, strict=True)):
        size = values.shape[2 + axis]
        shape = [1] * len(table.radius)
        shape[axis] = size
        if table.folded is not None and table.folded[axis]:
            centre.append(0)  # folded: index = δ mod n
            continue
        centre.append(R)
        delta = np.arange(size) - R
        if table.periods is None:  # a shift δ occurs between two (interior) columns iff |δ| < n
            if op.padding == "same":
                n = _interior_positions(op, axis)
            realised &= (np.abs(delta) < n).reshape(shape)
    zero_shift = np.zeros(values.shape[2:], dtype=bool)
    zero_shift[tuple(centre)] = True
    d = len(table.radius)
    eye = np.eye(K, dtype=bool).reshape((K, K) + (1,) * d)
    exclude = ~realised[None, None] | (eye & zero_shift[None, None])
    norms = jnp.sqrt(jnp.maximum(values[(jnp.arange(K), jnp.arange(K), *centre)], 0))
    norms = norms.reshape((K,) + (1,) * d)
    return _normalized_offdiag_max(values, norms, norms, exclude)
