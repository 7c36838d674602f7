"""The model-RIP constant bracketed from both sides: ``lower ≤ δ_k ≤ upper`` (eq. 1).

A sampled estimate of δ is a *typical* lower bound: the worst supports are rare. This puts the
pieces together, cheapest sufficient first:

- the model has at most ``exact_max_supports`` supports: enumerate them all
  (:func:`exact_model_rip`), and the bracket closes (``lower = upper = δ``);
- otherwise the lower end is the larger of the per-support extremes of ``num_samples``
  sampled supports (:func:`estimate_model_rip`: dense ``eigvalsh`` or Lanczos, by cost) and an
  adversarial search at the same budget of Gram evaluations (:func:`search_model_rip`, while
  the capacity allows a dense ``G_S``); the upper end is the certified Babel bound of
  :func:`model_rip_upper_bound`, reported as vacuous when it reaches 1.
"""

from __future__ import annotations

import math

import jax.random as jr
from jaxtyping import PRNGKeyArray

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_key, positive_int
from jaxcs.analysis.rip.cost import MAX_EXACT_EIGEN_K
from jaxcs.analysis.rip.estimate import estimate_model_rip
from jaxcs.analysis.rip.exact import ExactRIP, check_rip_model, exact_model_rip
from jaxcs.analysis.rip.search import RIPSearch, search_model_rip
from jaxcs.analysis.rip.spectrum.masked import DEFAULT_STEPS
from jaxcs.analysis.rip.upper import RIPUpperBound, model_rip_upper_bound
from jaxcs.models import RegionModel, count_supports, log_count_lower_bound, support_sizes

DEFAULT_EXACT_MAX_SUPPORTS = 200_000


class RIPBracket(Pytree):
    """Result of :func:`model_rip_bracket`: ``lower ≤ δ_k ≤ upper``.

    Attributes:
        lower, upper: the two ends (Python floats; NaN where unknown).
        lower_method: ``"exact"``, ``"search"`` or ``"sampled (dense)"`` /
            ``"sampled (lanczos)"``: which bound gave ``lower``.
        upper_method: ``"exact"``, ``"babel-table"``, ``"babel-dense"`` or ``"none"`` (no
            certified bound at this size: ``upper`` is then 1 for the lower side only, and
            ``inf`` overall).
        sampled: δ from the sampled supports' extremes (NaN when exact).
        search: δ from the adversarial search (NaN when not run).
        exact: the :class:`ExactRIP` when the model was enumerated, else ``None``.
        upper_bound: the :class:`RIPUpperBound` (``None`` when unavailable).
        search_result: the :class:`RIPSearch` (``None`` when not run).
        num_supports: the model's number of supports when it was counted (a Python int), else
            ``None`` (far more than ``exact_max_supports``).
    """

    lower: float
    upper: float
    sampled: float
    search: float
    exact: ExactRIP | None
    upper_bound: RIPUpperBound | None
    search_result: RIPSearch | None
    lower_method: str = static_field()
    upper_method: str = static_field()
    num_supports: int | None = static_field()

    @property
    def vacuous(self) -> bool:
        """Whether the upper end says nothing (``≥ 1``: every Gram is positive semi-definite)."""
        return not self.upper < 1

    def summary(self) -> dict:
        """Python numbers for reports and JSON."""
        return {
            "lower": float(self.lower),
            "upper": float(self.upper),
            "lower_method": self.lower_method,
            "upper_method": self.upper_method,
            "vacuous": self.vacuous,
            "sampled": float(self.sampled),
            "search": float(self.search),
            "exact": None if self.exact is None else float(self.exact.delta),
            "num_supports": self.num_supports,
            "upper_sides": None if self.upper_bound is None else self.upper_bound.summary(),
        }


def _support_total(model, code_shape, exact_max_supports: int) -> int | None:
    """A region model's number of supports to enumerate, or ``None`` when a cheap lower bound
    already exceeds ``exact_max_supports`` (counts can be astronomical)."""
    sizes = support_sizes(model, code_shape, all_sizes=model.nonnegative)
    if all(
        log_count_lower_bound(model, code_shape, size) <= math.log(exact_max_supports)
        for size in sizes
    ):
        return sum(count_supports(model, code_shape, size) for size in sizes)
    return None


def model_rip_bracket(
    key: PRNGKeyArray,
    op,
    model,
    *,
    num_samples: int = 4096,
    search_budget: int | None = None,
    exact_max_supports: int = DEFAULT_EXACT_MAX_SUPPORTS,
    lanczos_steps: int | None = None,
    progress: bool | None = None,
) -> RIPBracket:
    """Bracket δ_k (eq. 1) of ``model`` for ``Φ = Wᵀ``: ``lower ≤ δ_k ≤ upper`` (module
    docstring).

    Host-driven (it picks its paths by the model's size and returns Python floats), so not
    jit-able; each path it runs is.

    Args:
        key: PRNG key (deterministic for a given key).
        op: the layer ``W``.
        model: a sparsity model with a concrete ``k``; a non-negative one brackets δ over
            ``z ≥ 0``. A region model gets every path; another model (per-channel, joint,
            one's own) gets the exact path when it enumerates its supports (signed), else
            the sampled lower end and the support-size Babel bound (no adversarial search:
            it walks regions).
        num_samples: sampled supports for the lower end.
        search_budget: Gram evaluations of the adversarial search (default ``num_samples``,
            the same budget as sampling; 0 to skip).
        exact_max_supports: enumerate every support up to this many (then ``lower = upper``).
        lanczos_steps: Lanczos steps when sampling takes that path (default: the estimator's).
        progress: progress bars (``None``: on long runs).

    Returns:
        A :class:`RIPBracket`.
    """
    check_key(key)
    code_shape, _ = check_rip_model(op, model, "model_rip_bracket", regions=False)
    num_samples = positive_int(num_samples, "num_samples")
    search_budget = num_samples if search_budget is None else int(search_budget)
    if search_budget < 0:
        raise ValueError(f"search_budget must be >= 0; got {search_budget}")
    exact_max_supports = positive_int(exact_max_supports, "exact_max_supports")
    regions = isinstance(model, RegionModel)
    total = _support_total(model, code_shape, exact_max_supports) if regions else None
    if not regions and not model.nonnegative:
        try:  # a model that enumerates its supports (signed: the full ones suffice)
            total = model.support_count(code_shape)
        except NotImplementedError:
            total = None
    if total is not None and total <= exact_max_supports:
        exact = exact_model_rip(op, model, max_supports=exact_max_supports, progress=bool(progress))
        return RIPBracket(
            exact.delta,
            exact.delta,
            math.nan,
            math.nan,
            exact,
            None,
            None,
            "exact",
            "exact",
            total,
        )
    key_sample, key_search = jr.split(key)
    steps = DEFAULT_STEPS if lanczos_steps is None else lanczos_steps  # the estimator's default
    estimate = estimate_model_rip(
        key_sample, op, model, num_samples, lanczos_steps=steps, progress=progress
    )
    sampled = float(estimate.delta_lower_bound)
    lower, lower_method = sampled, f"sampled ({estimate.eigen_method})"
    search, search_result = math.nan, None
    if regions and search_budget and model.num_slots(code_shape) <= MAX_EXACT_EIGEN_K:
        search_result = search_model_rip(key_search, op, model, search_budget)
        search = float(search_result.delta)
        if search > lower or math.isnan(lower):
            lower, lower_method = search, "search"
    try:
        upper_bound = model_rip_upper_bound(op, model)
        upper, upper_method = upper_bound.delta, upper_bound.method
    except ValueError:  # no table and too large for the dense Gram
        upper_bound, upper, upper_method = None, math.inf, "none"
    return RIPBracket(
        lower,
        upper,
        sampled,
        search,
        None,
        upper_bound,
        search_result,
        lower_method,
        upper_method,
        total,
    )
