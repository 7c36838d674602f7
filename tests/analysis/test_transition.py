"""The l1 weak threshold against published values and an independent formula; logistic fits of
phase transitions against scipy's optimiser on the same likelihood."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from jaxcs.analysis import TransitionFit, fit_transition, fit_transitions, l1_weak_threshold

# --------------------------------------------------------------------------- published values
# Magni (SIP-AAU/Magni, magni/cs/reconstruction/gamp/channel_initialisation.py, the doctests of
# `rho_se`): Donoho–Maleki–Montanari eq. 5 maximised by brute force, printed to 3 decimals.
# (delta, nonnegative, rho)
MAGNI = [(0.19, False, 0.238), (0.19, True, 0.318), (0.5, False, 0.386), (0.5, True, 0.558)]

# Donoho & Tanner's tabulated cross-polytope curve `rhoW_crosspolytope` (polytope.mat, once at
# ecos.maths.ed.ac.uk/data/polytope.mat) as read off at δ = 0.05, 0.10, …, 0.90 and printed to
# 3 decimals by a public script comparing logistic fits with it (`rho_delta` list; found by the
# code search, repository not named by the index). The table's δ grid is not this one, so the
# reading carries the nearest tabulated δ as well as the rounding: 1e-3. Its last two readings
# (0.759 at 0.95, 0.963 at 1.0) are left out: the curve is steep there, and the table stops
# short of δ = 1, where ρ_W = 1.
POLYTOPE_MAT_DELTA = np.linspace(0.05, 0.90, 18)
POLYTOPE_MAT_RHO = [
    0.154, 0.190, 0.218, 0.243, 0.267, 0.291, 0.314, 0.337, 0.361,
    0.386, 0.411, 0.438, 0.467, 0.499, 0.534, 0.573, 0.620, 0.678,
]  # fmt: skip


@pytest.mark.parametrize(("delta", "nonnegative", "rho"), MAGNI)
def test_weak_threshold_matches_magni(delta, nonnegative, rho):
    assert round(float(l1_weak_threshold(delta, nonnegative=nonnegative)), 3) == rho


def test_weak_threshold_matches_donoho_tanner_table():
    np.testing.assert_allclose(l1_weak_threshold(POLYTOPE_MAT_DELTA), POLYTOPE_MAT_RHO, atol=1e-3)


# --------------------------------------------------------------------------- independent forms
def stojnic_weak_threshold(delta: float, nonnegative: bool) -> float:
    """ρ_W from Stojnic's closed-form characterisation (Stojnic 2009, "Various thresholds for
    ℓ1-optimization in compressed sensing", arXiv:0907.3666, weak thresholds of signed and of
    non-negative ℓ1): with α = m/n and β = k/n, β_w solves

        (1−β)·c·exp(−e²)/α − √2·e = 0,   e = erfinv(a),

    a = (1−α)/(1−β), c = √(2/π) (signed); a = 2(1−α)/(1−β) − 1, c = 1/√(2π) (non-negative).
    A different formula from DMM's minimax expression, solved by a root finder, not a maximiser.
    """
    c = 1 / math.sqrt(2 * math.pi) if nonnegative else math.sqrt(2 / math.pi)

    def equation(beta):
        a = (1 - delta) / (1 - beta)
        e = special.erfinv(2 * a - 1 if nonnegative else a)
        return (1 - beta) * c * math.exp(-e * e) / delta - math.sqrt(2) * e

    beta = optimize.brentq(equation, 1e-14, delta * (1 - 1e-12), xtol=1e-15, rtol=1e-15)
    return beta / delta


def scipy_minimax_threshold(delta: float, nonnegative: bool) -> float:
    """DMM eq. 5 maximised by scipy's bounded scalar minimiser (the same formula, another
    optimiser and scipy's normal distribution)."""
    kappa = 1 if nonnegative else 2

    def negative_rho(z):
        g = (1 + z * z) * stats.norm.cdf(-z) - z * stats.norm.pdf(z)
        return -(1 - kappa / delta * g) / (1 + z * z - kappa * g)

    result = optimize.minimize_scalar(
        negative_rho, bounds=(1e-9, 12), method="bounded", options={"xatol": 1e-12}
    )
    return -result.fun


DELTAS = [1e-4, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]


@pytest.mark.parametrize("nonnegative", [False, True], ids=["signed", "nonnegative"])
def test_weak_threshold_agrees_with_stojnic_and_scipy(nonnegative):
    rho = l1_weak_threshold(np.array(DELTAS), nonnegative=nonnegative)
    stojnic = [stojnic_weak_threshold(d, nonnegative) for d in DELTAS]
    minimax = [scipy_minimax_threshold(d, nonnegative) for d in DELTAS]
    np.testing.assert_allclose(rho, stojnic, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rho, minimax, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kappa", [1, 2])
def test_minimax_objective_is_unimodal(kappa):
    """Rising then falling in z for every δ (the maximum may sit at z → 0 as δ → 1): the
    grid-then-bracket search cannot stop at a local maximum."""
    z = np.linspace(1e-3, 9, 20001)[None, :]
    delta = np.geomspace(1e-5, 0.9999, 60)[:, None]
    g = (1 + z * z) * stats.norm.cdf(-z) - z * stats.norm.pdf(z)
    rho = (1 - kappa / delta * g) / (1 + z * z - kappa * g)
    slope_sign = np.sign(np.diff(rho, axis=1))
    assert np.all(np.diff(slope_sign, axis=1) <= 0)
    assert np.all(slope_sign[:, -1] < 0)


def test_weak_threshold_shape_limits_and_order():
    delta = np.linspace(0.02, 1.0, 50)
    signed, nonnegative = l1_weak_threshold(delta), l1_weak_threshold(delta, nonnegative=True)
    assert signed.shape == delta.shape and signed.dtype == np.float64
    assert np.all(np.diff(signed) > 0) and np.all(np.diff(nonnegative) > 0)
    assert np.all(nonnegative[:-1] > signed[:-1])  # non-negativity is extra information
    assert np.all((signed > 0) & (signed <= 1))
    assert signed[-1] == nonnegative[-1] == 1.0
    assert 1 - l1_weak_threshold(1 - 1e-6) < 1e-2  # continuous at δ = 1
    assert l1_weak_threshold(0.5).shape == ()
    assert l1_weak_threshold([[0.5, 0.25]]).shape == (1, 2)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), [0.5, 2.0]])
def test_weak_threshold_rejects_delta_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=r"delta must lie in \(0, 1\]"):
        l1_weak_threshold(bad)


# --------------------------------------------------------------------------- logistic fits
def logistic(x, center, width):
    slope = -2 * math.log(9) / width  # success falls with x
    return 1 / (1 + np.exp(-slope * (x - center)))


def draw(center=0.4, width=0.2, trials=40, seed=0, x=None):
    x = np.linspace(0.05, 0.95, 19) if x is None else x
    rng = np.random.default_rng(seed)
    t = np.full(x.shape, trials)
    return x, rng.binomial(t, logistic(x, center, width)), t


def scipy_fit(x, s, t):
    def nll(beta):
        eta = beta[0] + beta[1] * x
        return -np.sum(s * eta - t * np.logaddexp(0, eta))

    result = optimize.minimize(nll, np.zeros(2), method="BFGS", options={"gtol": 1e-9})
    return result.x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_matches_scipy_maximum_likelihood(seed):
    x, s, t = draw(seed=seed)
    fit = fit_transition(x, s, t)
    assert isinstance(fit, TransitionFit)
    assert (fit.status, fit.method) == ("fitted", "logistic-mle")
    intercept, slope = scipy_fit(x, s, t)
    np.testing.assert_allclose([fit.intercept, fit.slope], [intercept, slope], rtol=1e-5)
    assert fit.center == pytest.approx(-fit.intercept / fit.slope)
    assert fit.width == pytest.approx(2 * math.log(9) / abs(fit.slope))


def test_fit_recovers_a_known_transition_from_many_trials():
    x, s, t = draw(center=0.37, width=0.15, trials=20000, seed=3)
    fit = fit_transition(x, s, t)
    # standard errors here are ~1e-3 (center) and ~1 % (width)
    assert fit.center == pytest.approx(0.37, abs=5e-3)
    assert fit.width == pytest.approx(0.15, rel=0.05)
    assert fit.slope < 0


def test_fit_handles_rising_success_repeated_x_and_empty_cells():
    x, s, t = draw(seed=4)
    rising = fit_transition(1 - x, s, t)  # mirror image: success rises with x
    falling = fit_transition(x, s, t)
    assert rising.slope == pytest.approx(-falling.slope, rel=1e-8)
    assert rising.center == pytest.approx(1 - falling.center, abs=1e-8)
    # splitting each cell in two (repeated x) and adding cells without trials changes nothing
    half = t // 2
    split = fit_transition(
        np.concatenate([x, x, [0.5]]),
        np.concatenate([np.minimum(s, half), s - np.minimum(s, half), [0]]),
        np.concatenate([half, t - half, [0]]),
    )
    assert split.center == pytest.approx(falling.center, rel=1e-8)
    assert split.width == pytest.approx(falling.width, rel=1e-8)


def test_fit_reports_separation_with_the_gap():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    t = np.full(5, 10)
    fit = fit_transition(x, [10, 10, 0, 0, 0], t)
    assert (fit.status, fit.method) == ("separated", "separation-gap")
    assert fit.center == pytest.approx(0.25) and fit.width == pytest.approx(0.1)
    assert fit.slope == -math.inf and math.isnan(fit.intercept)
    # quasi-complete: the one mixed cell is the step
    quasi = fit_transition(x, [10, 10, 4, 0, 0], t)
    assert (quasi.status, quasi.center, quasi.width) == ("separated", 0.3, 0.0)
    rising = fit_transition(x, [0, 0, 0, 10, 10], t)
    assert rising.status == "separated" and rising.slope == math.inf
    assert rising.center == pytest.approx(0.35)


@pytest.mark.parametrize(
    ("successes", "trials", "status"),
    [
        ([5, 5, 5], [5, 5, 5], "all_success"),
        ([0, 0, 0], [5, 5, 5], "all_failure"),
        ([2, 0, 0], [5, 0, 0], "insufficient"),
        ([0, 0, 0], [0, 0, 0], "insufficient"),
    ],
)
def test_fit_degenerate_cases(successes, trials, status):
    fit = fit_transition([0.1, 0.2, 0.3], successes, trials)
    assert (fit.status, fit.method) == (status, "none")
    assert math.isnan(fit.center) and math.isnan(fit.width)


def test_fit_of_a_single_repeated_x_is_insufficient():
    assert fit_transition([0.2, 0.2], [1, 3], [4, 4]).status == "insufficient"


@pytest.mark.parametrize(
    ("x", "successes", "trials", "name"),
    [
        ([0.1, 0.2], [1, 2, 3], [3, 3, 3], "successes"),
        ([0.1, 0.2], [1, 2], [3], "trials"),
        ([[0.1, 0.2]], [[1, 2]], [[3, 3]], "x"),
        ([0.1, np.nan], [1, 2], [3, 3], "x"),
        ([0.1, 0.2], [-1, 2], [3, 3], "successes"),
        ([0.1, 0.2], [1, 2], [3, -3], "trials"),
        ([0.1, 0.2], [1.5, 2], [3, 3], "successes"),
        ([0.1, 0.2], [4, 2], [3, 3], "successes"),
    ],
)
def test_fit_rejects_bad_input_naming_the_argument(x, successes, trials, name):
    with pytest.raises(ValueError, match=name):
        fit_transition(x, successes, trials)


# --------------------------------------------------------------------------- tables
def sweep_table():
    rows = []
    for solver, shift in (("IHT", 0.0), ("NIHT", 0.1)):
        for delta in (0.25, 0.5):
            x, s, t = draw(center=0.3 + shift + delta / 5, seed=int(delta * 8) + int(shift * 10))
            rows += [(solver, delta, r, si, ti) for r, si, ti in zip(x, s, t, strict=True)]
    solver, delta, rho, s, t = zip(*rows, strict=True)
    return {
        "solver": np.array(solver),
        "delta": np.array(delta),
        "rho": np.array(rho),
        "successes": np.array(s),
        "problems": np.array(t),
    }


def test_fit_transitions_fits_every_solver_and_delta():
    table = sweep_table()
    rows = fit_transitions(table)
    assert [(r["solver"], r["delta"]) for r in rows] == [
        ("IHT", 0.25), ("IHT", 0.5), ("NIHT", 0.25), ("NIHT", 0.5),
    ]  # fmt: skip
    for row in rows:
        assert set(row) == {
            "solver", "delta", "center", "width", "status", "intercept", "slope", "method",
        }  # fmt: skip
        assert type(row["solver"]) is str and type(row["delta"]) is float
        mask = (table["solver"] == row["solver"]) & (table["delta"] == row["delta"])
        fit = fit_transition(table["rho"][mask], table["successes"][mask], table["problems"][mask])
        assert row["center"] == fit.center and row["status"] == fit.status == "fitted"
    centers = {(r["solver"], r["delta"]): r["center"] for r in rows}
    assert centers["NIHT", 0.5] > centers["IHT", 0.5]


def test_fit_transitions_without_by_and_with_string_group():
    table = sweep_table()
    rows = fit_transitions(table, by=None, group="solver")
    assert [r["solver"] for r in rows] == ["IHT", "NIHT"]
    assert "delta" not in rows[0]
    rows = fit_transitions(table, by="solver", group=())
    assert [r["solver"] for r in rows] == ["IHT", "NIHT"]


def test_fit_transitions_reads_a_dataframe():
    pandas = pytest.importorskip("pandas")
    table = sweep_table()
    assert fit_transitions(pandas.DataFrame(table)) == fit_transitions(table)


def test_fit_transitions_rejects_missing_or_ragged_columns():
    table = sweep_table()
    with pytest.raises(ValueError, match="'problems'"):
        fit_transitions({k: v for k, v in table.items() if k != "problems"})
    with pytest.raises(ValueError, match="'k'"):
        fit_transitions(table, x="k")
    with pytest.raises(ValueError, match="differ in length"):
        fit_transitions(table | {"rho": table["rho"][:-1]})
