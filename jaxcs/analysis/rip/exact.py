"""The exact model-RIP constant by enumerating every support of the model (eq. 1).

``δ_k = max_S max(1 − λ_min(G_S), λ_max(G_S) − 1)`` over the supports ``S`` of the model: a block
model has ``n^k · C(K, k)`` of them, a pooling model ``C(R, k) · c^k`` (``R`` regions of ``c``
cells), top-k ``C(N, k)``. On small models all of them can be visited, chunked and vmapped; the
result is the reference that the sampled, searched and certified bounds of
:func:`jaxcs.model_rip_bracket` are tested against.

Signed models need the supports of exactly ``k`` non-zeros only (a smaller support lies inside
one of them, and eigenvalues interlace). Non-negative models (δ over ``z ≥ 0``) visit every size
``1 … k``: the orthant extremes are attained on some face (see
:mod:`jaxcs.analysis.rip.spectrum.gram`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from jaxcs._progress import advance_progress, progress_bar
from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import concrete_int, is_traced, positive_int
from jaxcs.analysis.rip.spectrum.gram import support_quotient_extremes
from jaxcs.models import (
    AbstractSparsityModel,
    RegionModel,
    check_model,
    count_supports,
    iter_supports,
    log_count_lower_bound,
    support_sizes,
)
from jaxcs.operators import check_operator
from jaxcs.status import Status

DEFAULT_MAX_SUPPORTS = 2_000_000
GRAM_CHUNK_BUDGET = 2**22  # Gram entries per chunk (16 MiB in float32)


class ExtremeSupports(Pytree):
    """The supports with the most extreme quotients found, most extreme first.

    Attributes:
        supports: ``(w, s)`` int flat code indices (``-1`` in unused slots).
        mask: ``(w, s)`` used slots.
        quotients: ``(w,)`` the extreme quotient of each (``λ_min`` or ``λ_max`` of ``G_S``, or
            the orthant extreme of a non-negative model); NaN rows are empty.
    """

    supports: Int[np.ndarray | Array, "w s"]
    mask: Bool[np.ndarray | Array, "w s"]
    quotients: Float[np.ndarray | Array, " w"]


class ExactRIP(Pytree):
    """Result of :func:`exact_model_rip`: δ over every support of the model.

    Attributes:
        delta: ``max(1 − eig_min, eig_max − 1)``, the model-RIP constant (eq. 1) itself.
        eig_min, eig_max: ``min_S λ_min(G_S)`` and ``max_S λ_max(G_S)`` (over ``z ≥ 0`` for a
            non-negative model).
        smallest, largest: :class:`ExtremeSupports` attaining them (most extreme first).
        num_supports: number of supports visited (all of the model's).
        status: ``Status.COMPLETED``, or ``Status.NONFINITE`` when an extreme eigenvalue is
            not finite (then every figure is NaN; an operator with non-finite entries is
            refused before any work).
        nonnegative: whether δ is over ``z ≥ 0`` only.
    """

    delta: float
    eig_min: float
    eig_max: float
    smallest: ExtremeSupports
    largest: ExtremeSupports
    num_supports: int = static_field()
    status: int = static_field()
    nonnegative: bool = static_field()

    def summary(self) -> dict:
        """Python numbers for reports and JSON."""
        return extremes_summary(self) | {
            "num_supports": int(self.num_supports),
            "status": Status(self.status).name,
            "worst_smallest_support": _first_support(self.smallest),
            "worst_largest_support": _first_support(self.largest),
        }


def extremes_summary(result) -> dict:
    """``delta``, ``eig_min``, ``eig_max`` and ``nonnegative`` of a bound's result, as Python
    values."""
    return {
        "delta": float(result.delta),
        "eig_min": float(result.eig_min),
        "eig_max": float(result.eig_max),
        "nonnegative": bool(result.nonnegative),
    }


def _first_support(found: ExtremeSupports) -> list[int]:
    return [int(i) for i in found.supports[0][found.mask[0]]] if len(found.quotients) else []


class ExtremeTracker:
    """Host-side running record of the ``worst`` supports with the smallest (``sign = −1``) or
    largest (``sign = 1``) quotient, merged chunk by chunk."""

    def __init__(self, worst: int, slots: int, sign: int):
        self.worst, self.slots, self.sign = worst, slots, sign
        self.supports = np.full((0, slots), -1, np.int64)
        self.quotients = np.zeros((0,))

    def add(self, supports: np.ndarray, quotients: np.ndarray) -> None:
        supports = np.asarray(supports, np.int64)
        if supports.shape[1] < self.slots:
            pad = np.full((len(supports), self.slots - supports.shape[1]), -1, np.int64)
            supports = np.concatenate([supports, pad], axis=1)
        score = self.sign * np.asarray(quotients, np.float64)
        score = np.where(np.isnan(score), -np.inf, score)
        keep = np.argsort(-score, kind="stable")[: self.worst]
        self.supports = np.concatenate([self.supports, supports[keep]])
        self.quotients = np.concatenate([self.quotients, np.asarray(quotients)[keep]])
        order = np.argsort(
            -np.where(np.isnan(self.quotients), -np.inf, self.sign * self.quotients), kind="stable"
        )[: self.worst]
        self.supports, self.quotients = self.supports[order], self.quotients[order]

    def result(self) -> ExtremeSupports:
        return ExtremeSupports(self.supports, self.supports >= 0, self.quotients)

    @property
    def best(self) -> float:
        return float(self.quotients[0]) if len(self.quotients) else math.nan


def _evaluate(op, table, supports, *, nonnegative: bool):
    return support_quotient_extremes(op, supports, table=table, nonnegative=nonnegative)


_evaluate_jit = jax.jit(_evaluate, static_argnames=("nonnegative",))


def check_rip_model(op, model, call: str, *, regions: bool = True) -> tuple[tuple[int, ...], int]:
    """The checks every enumerating model-RIP entry point shares: ``op`` an operator with
    finite entries, ``model`` a sparsity model (a :class:`RegionModel` when ``regions``:
    ``call`` walks its supports region by region) fitting ``op.out_shape`` with a concrete
    ``k ≥ 1``; returns ``(code_shape, k)``."""
    check_operator(op)
    check_model(model)
    if regions and not isinstance(model, RegionModel):
        raise TypeError(
            f"{call} needs a region model (BlockModel, PoolingModel, TopKModel: it walks the "
            f"supports one region at a time); got {type(model).__name__}. Its model-RIP can be "
            f"estimated with jaxcs.estimate_model_rip"
        )
    code_shape = model.check_code_shape(op.out_shape, "op.out_shape")
    finite = op.is_finite()
    if not is_traced(finite) and not bool(finite):
        raise ValueError(
            f"{call}: op holds non-finite values (NaN or Inf in its filters or matrix); every "
            f"Gram and bound of it would be NaN, so nothing was computed"
        )
    k = concrete_int(model.k)
    if k is None and model.k is not None:
        raise ValueError("model.k must be concrete (a Python int) here, not traced")
    if k == 0:
        raise ValueError("model.k must be >= 1 for a model-RIP constant (k = 0 has no codes)")
    if k is None:
        k = model.max_budget(code_shape)
    return code_shape, k


def _enumerable(model, code_shape):
    """``(sizes, counts, supports)`` of a model that is not a region model, from its optional
    enumeration (signed models only: interlacing makes the full supports enough)."""
    name = type(model).__name__
    if model.nonnegative:
        raise TypeError(
            f"exact_model_rip of a non-negative {name} is not available: the orthant's extremes "
            f"need every sub-support, which only region models enumerate"
        )
    try:
        size = model.support_size(code_shape)
        count = model.support_count(code_shape)
    except NotImplementedError:
        raise TypeError(
            f"exact_model_rip needs a model that enumerates its supports (support_size, "
            f"support_count, iter_supports); {name} does not. Its model-RIP can be estimated "
            f"with jaxcs.estimate_model_rip"
        ) from None

    def supports(size, chunk):
        return model.iter_supports(code_shape, chunk)

    return [size], {size: count}, supports


def exact_model_rip(
    op,
    model: AbstractSparsityModel,
    *,
    max_supports: int = DEFAULT_MAX_SUPPORTS,
    chunk_size: int | None = None,
    worst: int = 5,
    progress: bool = False,
) -> ExactRIP:
    """δ_k of eq. 1 exactly: the extreme eigenvalues of ``G_S`` over every support of ``model``.

    Host-driven, so neither jit- nor vmap-able: the number of supports is a Python integer that
    decides how many chunks run (each chunk is one jitted, vmapped evaluation of
    ``chunk_size`` restricted Grams) and the worst supports are merged on the host.

    Args:
        op: the layer ``W`` (any operator; codes have ``op.out_shape``).
        model: a :class:`~jaxcs.models.RegionModel` with a concrete ``k`` (``BlockModel``,
            ``PoolingModel``, ``TopKModel``; signed or non-negative), or a signed model that
            enumerates its supports (``PerChannelModel``, ``JointModel``, one's own with
            ``support_size``, ``support_count``, ``iter_supports``).
        max_supports: the most supports to enumerate; a larger model is refused before any
            work (the error names the count): raise it, or bracket δ with
            :func:`jaxcs.model_rip_bracket`.
        chunk_size: supports per evaluation (default: from a 16 MiB budget of Gram entries).
        worst: how many of the most extreme supports to return per side.
        progress: show a tqdm bar (``progress`` extra).

    Returns:
        An :class:`ExactRIP`.

    Raises:
        ValueError: ``k`` not ≥ 1 or out of range, or more than ``max_supports`` supports.
        TypeError: ``op`` is not an operator, or ``model`` neither a region model nor a
            signed model that enumerates its supports.
    """
    code_shape, k = check_rip_model(op, model, "exact_model_rip", regions=False)
    max_supports = positive_int(max_supports, "max_supports")
    worst = positive_int(worst, "worst")
    if isinstance(model, RegionModel):
        sizes = support_sizes(model, code_shape, all_sizes=model.nonnegative)
        log_lower = max(log_count_lower_bound(model, code_shape, size) for size in sizes)
        if log_lower > math.log(max_supports):
            raise ValueError(
                f"exact_model_rip would enumerate about 10^{log_lower / math.log(10):.1f} or "
                f"more supports of {type(model).__name__}(k={k}) on codes of shape "
                f"{code_shape}, more than max_supports={max_supports:,}: bracket delta with "
                f"jaxcs.model_rip_bracket"
            )
        counts = {size: count_supports(model, code_shape, size) for size in sizes}

        def supports(size, chunk):
            return iter_supports(model, code_shape, size, chunk)
    else:
        sizes, counts, supports = _enumerable(model, code_shape)
    total = sum(counts.values())
    if total > max_supports:
        raise ValueError(
            f"exact_model_rip would enumerate {total:,} supports of {type(model).__name__}"
            f" (k={k}) on codes of shape {code_shape}, more than max_supports={max_supports:,}: "
            "raise max_supports, or bracket delta with jaxcs.model_rip_bracket"
        )
    slots = max(sizes)
    smallest = ExtremeTracker(worst, slots, -1)
    largest = ExtremeTracker(worst, slots, 1)
    table = op.gram_table()
    with progress_bar(total, "exact model-RIP", enabled=bool(progress)) as bar_id:
        for size in sizes:
            if chunk_size is None:  # a power of two, so that calls of similar sizes share programs
                chunk = max(1, min(counts[size], GRAM_CHUNK_BUDGET // (size * size)))
                chunk = 2 ** math.ceil(math.log2(chunk))
            else:
                chunk = positive_int(chunk_size, "chunk_size")
            for rows in supports(size, chunk):
                padded = np.concatenate([rows, np.repeat(rows[:1], chunk - len(rows), axis=0)])
                q_min, q_max = _evaluate_jit(
                    op, table, jnp.asarray(padded, jnp.int32), nonnegative=model.nonnegative
                )
                smallest.add(rows, np.asarray(q_min)[: len(rows)])
                largest.add(rows, np.asarray(q_max)[: len(rows)])
                advance_progress(bar_id, len(rows))
    eig_min, eig_max = smallest.best, largest.best
    delta = max(1 - eig_min, eig_max - 1)
    finite = bool(np.isfinite(delta))  # the operator's entries are finite (checked above)
    if not finite:
        eig_min = eig_max = delta = math.nan
    return ExactRIP(
        delta,
        eig_min,
        eig_max,
        smallest.result(),
        largest.result(),
        total,
        int(Status.COMPLETED if finite else Status.NONFINITE),
        model.nonnegative,
    )
