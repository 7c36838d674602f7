"""A certified upper bound on the model-RIP constant from the Gram's rows (eq. 1).

Gershgorin: every eigenvalue of ``G_S`` lies within ``R_p = Σ_{q ∈ S, q ≠ p} |G_pq|`` of some
diagonal entry ``G_pp``, ``p ∈ S``. A support of the model holds at most one column per region
and ``k`` in all, so ``R_p`` is at most the sum of the ``k − 1`` largest *admissible* entries of
row ``p``: per region other than ``p``'s own, its largest ``|G_pq|`` (a Babel-function bound,
Tropp 2004, restricted to the model). Hence

    λ_max(G_S) − 1 ≤ max_p (G_pp − 1 + B_p),   1 − λ_min(G_S) ≤ max_p (1 − G_pp + B_p),

and ``δ_k ≤`` the larger of the two (the second also ``≤ 1``: ``G_S`` is positive semi-definite).
For a **non-negative** model (``z ≥ 0``) only positive entries can raise ``zᵀGz`` and only
negative ones lower it: the upper side sums the ``k − 1`` largest ``max(G_pq, 0)``, the lower side
the largest ``max(−G_pq, 0)``, a bound never weaker than the signed one.

For a :class:`~jaxcs.ConvOperator` the rows are read off its table (the correlation table
``C[i, i', δ]``, or for ``"same"`` padding the border table, whose entries and diagonal follow
each column's truncation): rows of one filter whose positions see the same pattern of realised
shifts, truncations and pooling regions (interior rows of one window offset, each border row)
are one class, so the cost is ``O(classes · K² · table size)``, seconds at VGG-16 size. Other
operators use the dense Gram ``W Wᵀ``, for codes of at most ``DENSE_ROWS_MAX`` entries.

A model that is not a region model (:class:`~jaxcs.PerChannelModel`, :class:`~jaxcs.JointModel`,
one's own) is bounded by its support size alone: with at most ``s`` non-zeros per code,
``R_p`` is at most the sum of the ``s − 1`` largest ``|G_pq|``, ``q ≠ p`` (dense Gram).
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np

from jaxcs._pytree import Pytree, static_field
from jaxcs.analysis.rip.exact import check_rip_model
from jaxcs.models import RegionModel, model_regions
from jaxcs.operators import (
    BorderCorrelationTable,
    ConvOperator,
    CorrelationTable,
    restricted_gram,
)

DENSE_ROWS_MAX = 8192


class RIPUpperBound(Pytree):
    """Result of :func:`model_rip_upper_bound`.

    Attributes:
        delta: the certified upper bound on ``δ_k`` (``max(upper_side, lower_side)``).
        upper_side: bound on ``λ_max(G_S) − 1`` over the model.
        lower_side: bound on ``1 − λ_min(G_S)`` (at most 1).
        method: ``"babel-table"`` (rows from the correlation table), ``"babel-dense"`` (the
            dense Gram, region by region) or ``"babel-support"`` (a model that is not a region
            model: the dense Gram's rows, by support size).
        vacuous: ``delta ≥ 1``: the bound says nothing a positive semi-definite Gram does not.
    """

    delta: float
    upper_side: float
    lower_side: float
    method: str = static_field()
    vacuous: bool = static_field()

    def summary(self) -> dict:
        return {
            "delta": float(self.delta),
            "upper_side": float(self.upper_side),
            "lower_side": float(self.lower_side),
            "method": self.method,
            "vacuous": bool(self.vacuous),
        }


# The bound is host-driven (its row classes are enumerated in Python, each with its own shapes),
# so its arithmetic runs in float64 NumPy: no program compiled per class shape, and the sums of
# a certified bound rounded in double precision.
def _top_sum(values: np.ndarray, count: int) -> np.ndarray:
    """Sum of the ``count`` largest entries along the last axis (entries ≥ 0)."""
    if count <= 0:
        return np.zeros(values.shape[:-1])
    if count >= values.shape[-1]:
        return np.sum(values, axis=-1)
    return np.sum(np.partition(values, -count, axis=-1)[..., -count:], axis=-1)


def _sides(diagonal, positive_sums, negative_sums) -> tuple[float, float]:
    upper = float(np.max(diagonal - 1 + positive_sums))
    lower = float(np.max(1 - diagonal + negative_sums))
    return upper, min(lower, 1.0)


def _parts(entries: np.ndarray, nonnegative: bool):
    """The entry magnitudes that can raise (first) and lower (second) the quotient."""
    if nonnegative:
        return np.maximum(entries, 0), np.maximum(-entries, 0)
    magnitude = np.abs(entries)
    return magnitude, magnitude


def _dense_gram(op, code_shape) -> np.ndarray:
    size = math.prod(code_shape)
    if size > DENSE_ROWS_MAX:
        raise ValueError(
            f"the dense Babel bound needs codes of at most {DENSE_ROWS_MAX} entries; "
            f"op.out_shape={tuple(code_shape)} has {size} (a ConvOperator with 'valid' or "
            "'circular' padding uses its correlation table at any size)"
        )
    gram = restricted_gram(op, jnp.arange(size, dtype=jnp.int32)[None])[0]
    return np.asarray(gram, np.float64)


def _dense_bound(op, model, code_shape, k: int) -> tuple[float, float]:
    gram = _dense_gram(op, code_shape)
    size = gram.shape[0]
    cells, inside = model_regions(model, code_shape)  # (R, c)
    region_of = np.zeros(size, np.int64)
    region_of[cells[inside]] = np.nonzero(inside)[0]
    own = region_of[:, None] == np.arange(len(cells))[None, :]  # (N, R)
    sums = []
    for part in _parts(gram, model.nonnegative):
        per_region = np.max(np.where(inside[None], part[:, cells], 0), axis=-1)  # (N, R)
        sums.append(_top_sum(np.where(own, 0, per_region), k - 1))
    return _sides(np.diagonal(gram), *sums)


def _support_bound(op, model, code_shape, k: int) -> tuple[float, float]:
    """Any model whose codes of budget ``k`` have at most ``s`` non-zeros (its
    :meth:`~jaxcs.AbstractSparsityModel.num_slots` at capacity ``k``): ``R_p`` is at most the
    sum of the ``s − 1`` largest off-diagonal entries of row ``p`` (the Babel function
    ``μ₁(s − 1)`` with each column's own norm), whatever the model's structure."""
    gram = _dense_gram(op, code_shape)
    slots = model.with_budget(k, k).num_slots(code_shape)
    off = ~np.eye(gram.shape[0], dtype=bool)
    sums = [_top_sum(np.where(off, part, 0), slots - 1) for part in _parts(gram, model.nonnegative)]
    return _sides(np.diagonal(gram), *sums)


def _axis_classes(op: ConvOperator, table, window: int, axis: int):
    """The distinct row patterns along one axis: for each position ``j``, ``(diagonal key,
    partners)`` with, per partner slot, ``(table key, relative region)`` (``None``: no partner
    column there). A :class:`CorrelationTable`'s slots are its indices along the axis; a
    :class:`BorderCorrelationTable`'s are the shifts ``δ ∈ [−R, R]``, keyed by the box of ``j``'s
    clip class (``"same"`` padding truncates border columns, their diagonal included)."""
    n = op.out_spatial[axis]
    border = isinstance(table, BorderCorrelationTable)
    if border:
        geometry = table.axes[axis]
        R, folded, circular = geometry.radius, False, False
        slots = range(2 * R + 1)
    else:
        R = table.radius[axis]
        folded = table.folded is not None and table.folded[axis]
        circular = table.periods is not None
        slots = range(table.values.shape[2 + axis])
    windows = -(-n // window)
    patterns = set()
    for j in range(n):
        if border:
            classes = geometry.key_map
            clip = int(geometry.clip_class(np.asarray(j), np))
            diagonal = classes[R][clip]
        else:
            diagonal = table.offsets[axis]
        partners = []
        for index in slots:
            delta = index if folded else index - R
            partner = j - delta
            if circular:
                partner %= n
            elif not 0 <= partner < n:
                partners.append(None)
                continue
            relative = partner // window - j // window
            key = classes[index][clip] if border else index
            partners.append((key, relative % windows if circular else relative))
        patterns.add((diagonal, tuple(partners)))
    return sorted(patterns, key=str)


def _table_bound(op: ConvOperator, model, code_shape, k: int) -> tuple[float, float]:
    table = op.gram_table()
    window = model.region_shape(code_shape)
    K = op.out_channels
    d = op.ndim
    values = np.asarray(table.values, np.float64)  # (K, K, *keys)
    filters = np.arange(K)
    per_axis = [_axis_classes(op, table, window[a], a) for a in range(d)]
    best_upper, best_lower = -math.inf, -math.inf
    for rows in itertools.product(*per_axis):
        diagonal = values[(filters, filters, *(row[0] for row in rows))]
        partners = [row[1] for row in rows]
        cells = list(itertools.product(*partners))
        keys = [tuple(0 if c is None else c[0] for c in cell) for cell in cells]
        regions = [tuple(c[1] for c in cell) if None not in cell else None for cell in cells]
        ids = {r: i for i, r in enumerate(sorted({r for r in regions if r is not None}))}
        own = ids.get((0,) * d)
        # the realised partner cells grouped by region: one slice of the cells per region
        cells_of = [[c for c, r in enumerate(regions) if r == region] for region in ids]
        order = np.array([c for group in cells_of for c in group], np.int64)
        starts = np.cumsum([0] + [len(group) for group in cells_of[:-1]])
        entries = values[(slice(None), slice(None), *np.array(keys, np.int64)[order].T)]
        sums = []
        for part in _parts(entries, model.nonnegative):  # (K, K, realised cells)
            # (K, K, regions): the largest entry of each partner region of each filter pair
            if len(ids):
                per_region = np.maximum.reduceat(part, starts, axis=-1)
            else:
                per_region = np.zeros((K, K, 0))
            if own is not None:
                per_region[filters, filters, own] = 0
            sums.append(_top_sum(per_region.reshape(K, -1), k - 1))
        upper, lower = _sides(diagonal, *sums)
        best_upper, best_lower = max(best_upper, upper), max(best_lower, lower)
    return best_upper, best_lower


def model_rip_upper_bound(op, model, k: int | None = None) -> RIPUpperBound:
    """Certified upper bound on ``δ_k`` (eq. 1) of ``model`` for ``Φ = Wᵀ`` (module docstring).

    Host-driven (Python floats out; the row classes are enumerated in Python), so not jit-able.

    Args:
        op: the layer ``W``.
        model: the sparsity model (its ``k``, or the ``k`` given, is the support budget).
        k: override of ``model.k`` (e.g. ``2k`` for the ``δ_2k`` of Theorem 3.3).

    Returns:
        A :class:`RIPUpperBound`.
    """
    code_shape, model_k = check_rip_model(op, model, "model_rip_upper_bound", regions=False)
    k = model_k if k is None else min(int(k), model.max_budget(code_shape))
    if not isinstance(model, RegionModel):
        upper, lower = _support_bound(op, model, code_shape, k)
        return _result(upper, lower, "babel-support")
    table = op.gram_table() if isinstance(op, ConvOperator) else None
    if isinstance(table, (CorrelationTable, BorderCorrelationTable)):
        upper, lower = _table_bound(op, model, code_shape, k)
        method = "babel-table"
    else:
        upper, lower = _dense_bound(op, model, code_shape, k)
        method = "babel-dense"
    return _result(upper, lower, method)


def _result(upper: float, lower: float, method: str) -> RIPUpperBound:
    delta = max(upper, lower)
    if not (math.isfinite(upper) and math.isfinite(lower)):
        upper = lower = delta = math.nan
    return RIPUpperBound(delta, upper, lower, method, bool(delta >= 1))
