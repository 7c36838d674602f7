"""Phase transitions of sparse recovery: the l1 weak threshold and logistic fits of sweeps.

Two questions a recovery sweep over ``(δ, ρ) = (m/n, k/m)`` asks (NumPy only, no JAX):

* where would l1 minimisation fail? :func:`l1_weak_threshold` computes the asymptotic
  Donoho–Tanner weak threshold ``ρ_W(δ)`` (cross-polytope for signed, simplex for non-negative
  signals) from the minimax formula of Donoho, Maleki & Montanari (PNAS 106(45), 2009, eq. 5);
* where did a solver fail? :func:`fit_transition` fits ``P(success | x)`` by a logistic curve by
  maximum likelihood and reports the 50 % point and the 10–90 % width, the two numbers GAGA
  (Blanchard & Tanner) and Magni report; :func:`fit_transitions` does so for every group of a
  result table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import ArrayLike, Float, Int

# Golden-section search on the bracket found by the grid: 0.618**60 ≈ 3e-13 of two grid cells.
_GRID_POINTS = 256
_GOLDEN_STEPS = 60
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _gauss_tail(z: np.ndarray) -> np.ndarray:
    """``Φ(−z)`` (standard normal upper tail), accurate in the far tail (erfc, not 1 − erf)."""
    return 0.5 * np.asarray(_ERFC(np.asarray(z, np.float64) / math.sqrt(2.0)), np.float64)


def _minimax_rho(z: np.ndarray, delta: np.ndarray, kappa: float) -> np.ndarray:
    """DMM eq. 5 before the maximisation: ``ρ(z; δ)`` for thresholds ``z > 0``.

    ``[1 − (κ/δ)·g(z)] / [1 + z² − κ·g(z)]`` with ``g(z) = (1+z²)Φ(−z) − zφ(z)``; the
    denominator is positive for ``z > 0`` (it vanishes at ``z = 0`` when ``κ = 2``).
    """
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    g = (1.0 + z * z) * _gauss_tail(z) - z * pdf
    return (1.0 - kappa / delta * g) / (1.0 + z * z - kappa * g)


def l1_weak_threshold(
    delta: Float[ArrayLike, "*shape"], *, nonnegative: bool = False
) -> Float[np.ndarray, "*shape"]:
    """The asymptotic weak phase transition ``ρ_W(δ)`` of l1 minimisation, computed.

    Below the curve (``ρ = k/m < ρ_W(m/n)``) l1 minimisation (basis pursuit; with
    ``nonnegative`` the linear program with ``x ≥ 0``) recovers a typical ``k``-sparse vector
    from ``m`` Gaussian measurements with probability tending to one as ``n → ∞``; above it, it
    fails with probability tending to one. Computed from the minimax formula of Donoho, Maleki &
    Montanari (PNAS 2009, eq. 5), which they show equals the Donoho–Tanner weak threshold of the
    cross-polytope (``κ = 2``, signed) and of the simplex (``κ = 1``, non-negative):

        ``ρ_W(δ) = max_{z ≥ 0} [1 − (κ/δ)·g(z)] / [1 + z² − κ·g(z)]``,
        ``g(z) = (1 + z²)·Φ(−z) − z·φ(z)``.

    The maximum is located on a grid of ``z`` in ``(0, z_max(δ)]`` and refined by golden-section
    search inside the grid cells either side of the best grid point; the objective rises then
    falls in ``z`` (checked in the tests), so this brackets the maximiser, and ``ρ_W`` agrees
    with Stojnic's independent closed form to better than 1e-9 (to ~1e-15 for ``δ ≥ 0.01``).
    At ``δ = 1`` the supremum is the limit ``z → 0`` and equals 1.

    Args:
        delta: undersampling ratio(s) ``δ = m/n`` in ``(0, 1]``, a scalar or an array of any
            shape.
        nonnegative: the simplex curve (non-negative signals) instead of the cross-polytope.

    Returns:
        ``ρ_W(δ)``, float64 of the shape of ``delta`` (0-d for a scalar).

    Raises:
        ValueError: if any ``delta`` is not a finite number in ``(0, 1]``.
    """
    delta = np.asarray(delta, dtype=np.float64)
    if not np.all(np.isfinite(delta) & (delta > 0) & (delta <= 1)):
        bad = delta[~(np.isfinite(delta) & (delta > 0) & (delta <= 1))].ravel()
        raise ValueError(f"delta must lie in (0, 1], got {bad[0]!r}")
    kappa = 1.0 if nonnegative else 2.0
    d = delta.reshape(-1, 1)
    # The maximiser grows like sqrt(2 log(1/δ)) as δ → 0; the grid reaches well beyond it.
    z_max = np.sqrt(2.0 * np.log(1.0 / d)) + 4.0
    step = z_max / _GRID_POINTS
    grid = step * np.arange(1, _GRID_POINTS + 1)
    on_grid = _minimax_rho(grid, d, kappa)
    best = np.argmax(on_grid, axis=1)[:, None]
    # Bracket: one cell either side of the best grid point (its left end may be z = 0).
    lo = (np.take_along_axis(grid, best, axis=1) - step).clip(min=0.0)
    hi = np.take_along_axis(grid, best, axis=1) + step
    a, b = lo, hi
    c, e = b - _INV_PHI * (b - a), a + _INV_PHI * (b - a)
    fc, fe = _minimax_rho(c, d, kappa), _minimax_rho(e, d, kappa)
    for _ in range(_GOLDEN_STEPS):
        left = fc >= fe  # the maximiser lies in [a, e]
        a, b = np.where(left, a, c), np.where(left, e, b)
        c_new = np.where(left, b - _INV_PHI * (b - a), e)
        e_new = np.where(left, c, a + _INV_PHI * (b - a))
        f_new = _minimax_rho(np.where(left, c_new, e_new), d, kappa)
        fc, fe = np.where(left, f_new, fe), np.where(left, fc, f_new)
        c, e = c_new, e_new
    rho = np.maximum(np.maximum(fc, fe), np.take_along_axis(on_grid, best, axis=1))
    rho = np.where(d == 1.0, 1.0, rho)  # sup over z > 0 is the limit z → 0
    return rho.reshape(delta.shape)


# --------------------------------------------------------------------------- logistic fits
_LOGIT_90 = math.log(9.0)  # logit(0.9) = −logit(0.1): the 10–90 % width is 2·ln 9 / |slope|


@dataclass(frozen=True)
class TransitionFit:
    """A fitted phase transition ``P(success | x) = σ(intercept + slope·x)``, ``σ(t) = 1/(1+e⁻ᵗ)``.

    Attributes:
        center: ``x`` at which success is 50 % (``−intercept / slope``).
        width: distance between the 10 % and 90 % points, ``2·ln 9 / |slope|``.
        intercept, slope: the logistic coefficients (``slope < 0`` when success falls with
            ``x``, the usual case).
        status: ``"fitted"`` (maximum-likelihood estimate); ``"separated"`` (successes and
            failures do not overlap in ``x``, so the estimate does not exist: ``center`` is the
            midpoint of the gap between the last ``x`` with a success and the first with a
            failure (or the reverse when success rises with ``x``), ``width`` that gap as an
            upper bound, ``slope = ∓inf``, ``intercept`` NaN); ``"all_success"``,
            ``"all_failure"`` or ``"insufficient"`` (fewer than two distinct ``x`` with trials):
            everything else NaN.
        method: ``"logistic-mle"``, ``"separation-gap"`` or ``"none"``.
    """

    center: float
    width: float
    intercept: float
    slope: float
    status: str
    method: str


def _nan_fit(status: str) -> TransitionFit:
    nan = float("nan")
    return TransitionFit(nan, nan, nan, nan, status, "none")


def _counts(value, name: str, shape) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != shape:
        raise ValueError(f"{name} must have the shape of x {shape}, got {array.shape}")
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers")
    if np.any(array < 0) or np.any(array != np.round(array)):
        raise ValueError(f"{name} must hold non-negative integer counts")
    return array.astype(np.float64)


def _logistic_mle(x, successes, trials, max_steps: int = 100) -> tuple[float, float]:
    """Maximum-likelihood ``(intercept, slope)`` by Newton's method with step halving.

    The binomial log-likelihood ``Σ sᵢηᵢ − tᵢ log(1 + e^ηᵢ)`` is strictly concave when successes
    and failures overlap (checked by the caller), so the iteration converges from ``0``. ``x``
    is standardised first so the Hessian is well conditioned whatever the scale of ``x``.
    """
    shift, scale = np.average(x, weights=trials), np.ptp(x)
    design = np.stack([np.ones_like(x), (x - shift) / scale], axis=1)

    def loglik(beta):
        eta = design @ beta
        return float(np.sum(successes * eta - trials * np.logaddexp(0.0, eta)))

    beta = np.zeros(2)
    current = loglik(beta)
    for _ in range(max_steps):
        eta = design @ beta
        p = np.exp(-np.logaddexp(0.0, -eta))  # σ(η) without overflow
        gradient = design.T @ (successes - trials * p)
        hessian = (design * (trials * p * (1 - p))[:, None]).T @ design
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while True:  # step halving: never accept a decrease of the likelihood
            candidate = beta + size * step
            value = loglik(candidate)
            if value >= current - 1e-12 * abs(current) or size < 1e-10:
                break
            size /= 2
        beta, previous, current = candidate, current, value
        if np.max(np.abs(size * step)) < 1e-10 or abs(current - previous) < 1e-14 * (
            1 + abs(current)
        ):
            break
    slope = beta[1] / scale
    return float(beta[0] - slope * shift), float(slope)


def fit_transition(
    x: Float[ArrayLike, " N"], successes: Int[ArrayLike, " N"], trials: Int[ArrayLike, " N"]
) -> TransitionFit:
    """Fit ``P(success | x) = σ(intercept + slope·x)`` to binomial counts by maximum likelihood.

    ``x`` is the swept variable (e.g. ``ρ = k/m`` at fixed ``δ``); each entry contributes
    ``successes[i]`` successes out of ``trials[i]`` independent problems. Entries may repeat an
    ``x``; entries with ``trials = 0`` carry no information. Success may fall or rise with
    ``x``: the sign of ``slope`` says which.

    Args:
        x: ``(N,)`` finite values of the swept variable.
        successes: ``(N,)`` non-negative integer counts, ``successes ≤ trials``.
        trials: ``(N,)`` non-negative integer counts.

    Returns:
        A :class:`TransitionFit`; its ``status`` says whether the fit exists (see there).

    Raises:
        ValueError: if ``x`` is not 1-D and finite, the shapes differ, a count is negative or
            not an integer, or ``successes > trials``.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if x.dtype.kind not in "iuf" or not np.all(np.isfinite(x)):
        raise ValueError("x must hold finite numbers")
    x = x.astype(np.float64)
    successes = _counts(successes, "successes", x.shape)
    trials = _counts(trials, "trials", x.shape)
    if np.any(successes > trials):
        raise ValueError("successes must not exceed trials")

    used = trials > 0
    x, successes, trials = x[used], successes[used], trials[used]
    if np.unique(x).size < 2:
        return _nan_fit("insufficient")
    if successes.sum() == trials.sum():
        return _nan_fit("all_success")
    if successes.sum() == 0:
        return _nan_fit("all_failure")

    with_success, with_failure = x[successes > 0], x[successes < trials]
    if with_success.max() <= with_failure.min():  # success falls with x, no overlap
        lo, hi, slope = with_success.max(), with_failure.min(), -math.inf
    elif with_failure.max() <= with_success.min():  # success rises with x, no overlap
        lo, hi, slope = with_failure.max(), with_success.min(), math.inf
    else:
        intercept, slope = _logistic_mle(x, successes, trials)
        return TransitionFit(
            center=-intercept / slope,
            width=2 * _LOGIT_90 / abs(slope),
            intercept=intercept,
            slope=slope,
            status="fitted",
            method="logistic-mle",
        )
    return TransitionFit(
        center=float(lo + hi) / 2,
        width=float(hi - lo),
        intercept=float("nan"),
        slope=slope,
        status="separated",
        method="separation-gap",
    )


def _python(value):
    """A NumPy scalar as the Python scalar it holds (plain values pass through)."""
    return value.item() if isinstance(value, np.generic) else value


def fit_transitions(
    table: Mapping,
    *,
    by: str | None = "delta",
    x: str = "rho",
    success: str = "successes",
    trials: str = "problems",
    group: Sequence[str] | str = ("solver",),
) -> list[dict]:
    """:func:`fit_transition` for every group of a column table.

    Rows of ``table`` that share the values of the ``group`` columns and of ``by`` are fitted
    together, over ``x``: for a classical sweep, one transition ``ρ`` per solver and ``δ``.

    Args:
        table: a column table, any mapping of column name to a 1-D array-like of one common
            length (a dict of NumPy arrays, a pandas DataFrame, :func:`jaxcs.sweeps.read_table`).
        by: the column whose every value gets its own fit, or ``None`` for one fit per group.
        x: the swept column.
        success, trials: the columns of success and problem counts.
        group: the columns that identify a curve (one name or several).

    Returns:
        One dict per fit, sorted by group values then ``by``: the group values, ``by``'s value
        (absent when ``by`` is ``None``), and ``center``, ``width``, ``status``, ``intercept``,
        ``slope``, ``method`` of the :class:`TransitionFit`.

    Raises:
        ValueError: if a named column is missing or the columns differ in length, and as
            :func:`fit_transition` does on bad counts.
    """
    keys = [group] if isinstance(group, str) else list(group)
    if by is not None:
        keys.append(by)
    columns = {}
    for name in [*keys, x, success, trials]:
        if name not in table:
            raise ValueError(f"table has no column {name!r}")
        columns[name] = np.asarray(table[name])
        if columns[name].ndim != 1:
            raise ValueError(f"column {name!r} must be 1-D, got shape {columns[name].shape}")
    lengths = {name: column.shape[0] for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"table columns differ in length: {lengths}")
    length = next(iter(lengths.values()))

    cells: dict[tuple, list[int]] = {}
    for row in range(length):
        cells.setdefault(tuple(_python(columns[k][row]) for k in keys), []).append(row)
    rows = []
    for key in sorted(cells):
        index = np.asarray(cells[key])
        fit = fit_transition(columns[x][index], columns[success][index], columns[trials][index])
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "center": fit.center,
                "width": fit.width,
                "status": fit.status,
                "intercept": fit.intercept,
                "slope": fit.slope,
                "method": fit.method,
            }
        )
    return rows
