"""Scoring recovered codes: ``code_error``, ``support_recovered``, ``success_rate`` (issue 12).

References are NumPy computations on small hand-made arrays; the success criterion is the
sweeps' (``error < run.success_tolerance``, default 10⁻³).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcs.analysis import (
    SUCCESS_TOLERANCE,
    SuccessRate,
    code_error,
    is_success,
    relative_error,
    success_rate,
    support_recovered,
)
from jaxcs.models import BlockModel, PoolingModel
from jaxcs.sweeps.config_sections import RUN_KEYS
from jaxcs.sweeps.table import summarize


def np_error(z_hat, z, code_ndim):
    axes = tuple(range(z.ndim - code_ndim, z.ndim))
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.sqrt(np.sum((z_hat - z) ** 2, axis=axes)) / np.sqrt(np.sum(z**2, axis=axes))
    finite = np.all(np.isfinite(z_hat), axis=axes) & np.all(np.isfinite(z), axis=axes)
    zero = np.all(z == 0, axis=axes)
    return np.where(finite & ~zero, error, np.nan)


def batch():
    """Six (2, 2) codes in a (2, 3) batch: exact, tiny error, wrong cell; two zero true codes
    (recovered as 0, and with a spurious entry), a NaN estimate."""
    z = np.array(
        [
            [[[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [0.0, 4.0]], [[0.0, 1.0], [0.0, 0.0]]],
            [[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]],
        ]
    )
    z_hat = np.array(
        [
            [[[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [0.0, 4.0001]], [[0.0, 0.0], [1.0, 0.0]]],
            [[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.5], [0.0, 0.0]], [[1.0, np.nan], [1.0, 1.0]]],
        ]
    )
    return z_hat, z


def test_batch_fixture():
    z_hat, z = batch()
    assert z_hat.shape == z.shape == (2, 3, 2, 2)


def test_code_error_matches_numpy():
    z_hat, z = batch()
    err = np.asarray(code_error(z_hat, z, code_ndim=2))
    assert err.shape == (2, 3)
    # float32: 4.0001 − 4 keeps about 3 digits
    np.testing.assert_allclose(err, np_error(z_hat, z, 2), rtol=2e-3)
    np.testing.assert_allclose(err[0, :2], [0.0, 1e-4 / 5], rtol=2e-3, atol=0)
    np.testing.assert_allclose(err[0, 2], np.sqrt(2.0), rtol=1e-6)
    # z = 0 is undefined even for ẑ = 0 (relative_error's convention); NaN is reported
    assert np.isnan(err[1]).all()


def test_code_error_is_relative_error_with_the_arguments_named_for_codes():
    z_hat, z = batch()
    np.testing.assert_array_equal(
        np.asarray(code_error(z_hat, z, code_ndim=2)), np.asarray(relative_error(z, z_hat, 2))
    )


@pytest.mark.parametrize("code_ndim", [1, 2, 3, 4])
def test_code_error_batches_over_the_leading_axes(code_ndim):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2, 3, 4, 2))
    z_hat = z + 0.1 * rng.standard_normal(z.shape)
    err = np.asarray(code_error(z_hat, z, code_ndim=code_ndim))
    assert err.shape == z.shape[: 4 - code_ndim]
    np.testing.assert_allclose(err, np_error(z_hat, z, code_ndim), rtol=1e-5)


def test_infinite_estimate_is_nan_not_inf():
    z = np.array([[1.0, 0.0], [1.0, 0.0]])
    z_hat = np.array([[np.inf, 0.0], [1.0, -np.inf]])
    err = np.asarray(code_error(z_hat, z, code_ndim=1))
    assert np.isnan(err).all()
    assert np.isnan(np.asarray(relative_error(z, z_hat, 1))).all()


def test_success_rate_counts_and_reports():
    z_hat, z = batch()
    result = success_rate(z_hat, z, code_ndim=2)
    assert isinstance(result, SuccessRate)
    error = np_error(z_hat, z, 2)
    expected = int(np.sum(error < 1e-3))  # NaN compares False
    assert expected == 2  # the exact code and the 2e-5 one
    assert result.codes == 6
    assert int(result.successes) == expected
    np.testing.assert_allclose(float(result.rate), expected / 6)
    assert int(result.nonfinite) == 1  # the NaN code
    assert int(result.zero) == 2  # the two finite zero codes
    # a looser tolerance takes the large-error code in, never the NaN or zero ones
    loose = success_rate(z_hat, z, code_ndim=2, tol=10.0)
    assert int(loose.successes) == 3 and float(loose.rate) == pytest.approx(0.5)
    # by default, a batch along the first axis (what recover returns for a batch of signals)
    flat = success_rate(z_hat.reshape(6, 2, 2), z.reshape(6, 2, 2))
    assert flat == result
    assert success_rate(z_hat, z).codes == 2  # (2, 3) batch: give code_ndim
    one = success_rate(z[1:2].reshape(-1), z[1:2].reshape(-1))  # 1-D: one code
    assert one.codes == 1 and int(one.successes) == 1


def test_an_error_equal_to_tol_is_a_failure():
    # exact binary fractions: the error is exactly 2⁻¹⁰
    z = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    z_hat = np.array([[1.0 + 2.0**-10, 0.0], [1.0, 0.0]], np.float32)
    err = np.asarray(code_error(z_hat, z, code_ndim=1))
    assert err[0] == 2.0**-10
    result = success_rate(z_hat, z, code_ndim=1, tol=2.0**-10)
    assert int(result.successes) == 1  # only the exact one: error < tol, strictly
    assert int(success_rate(z_hat, z, code_ndim=1, tol=2.0**-9).successes) == 2


def test_the_criterion_and_default_are_the_sweeps():
    assert SUCCESS_TOLERANCE == RUN_KEYS["success_tolerance"] == 1e-3
    error = np.array([0.0, 5e-4, 1e-3, 2e-3, np.nan, np.inf])
    records = {
        "error": error,
        "status": np.zeros(6, int),
        "num_steps": np.ones(6),
        "residual": np.zeros(6),
    }
    row = summarize(records, SUCCESS_TOLERANCE, False)
    assert row["successes"] == int(np.sum(is_success(error)))
    np.testing.assert_array_equal(is_success(error), [True, True, False, False, False, False])
    assert isinstance(is_success(error), np.ndarray)  # NumPy in, NumPy out


def test_support_recovered_matches_numpy():
    z_hat, z = batch()
    got = np.asarray(support_recovered(z_hat, z, code_ndim=2))
    finite = np.all(np.isfinite(z_hat), axis=(2, 3))
    expected = np.all((z_hat != 0) == (z != 0), axis=(2, 3)) & finite
    np.testing.assert_array_equal(got, expected)
    # exact, tiny error (same support), wrong cell; zero = zero, a spurious entry, NaN
    np.testing.assert_array_equal(got, [[True, True, False], [True, False, False]])


def test_support_threshold_ignores_small_entries():
    z = np.array([[1.0, 0.0, 0.0]])
    z_hat = np.array([[0.9, 1e-7, -1e-7]])
    assert not bool(support_recovered(z_hat, z, code_ndim=1)[0])
    assert bool(support_recovered(z_hat, z, code_ndim=1, threshold=1e-6)[0])
    with pytest.raises(ValueError, match="threshold"):
        support_recovered(z_hat, z, code_ndim=1, threshold=-1.0)


def test_support_by_regions_of_a_model():
    # (4, 1) codes, pooling windows of 2: the switch moves inside its region
    z = np.array([[[1.0], [0.0], [0.0], [0.0]]])
    z_hat = np.array([[[0.0], [1.0], [0.0], [0.0]]])
    other = np.array([[[0.0], [0.0], [1.0], [0.0]]])
    model = PoolingModel((2,), 1)
    assert not bool(support_recovered(z_hat, z, code_ndim=2)[0])  # another switch
    assert bool(support_recovered(z_hat, z, code_ndim=2, model=model)[0])  # same region
    assert not bool(support_recovered(other, z, code_ndim=2, model=model)[0])
    # the block model: the channels that are active
    z = np.array([[1.0, 0.0], [0.0, 0.0]])
    z_hat = np.array([[0.0, 0.0], [2.0, 0.0]])
    assert bool(support_recovered(z_hat, z, code_ndim=2, model=BlockModel(1)))
    with pytest.raises(ValueError, match="pool_size"):
        support_recovered(z_hat, z, code_ndim=2, model=PoolingModel((3,)))


@pytest.mark.parametrize("fn", [code_error, support_recovered, success_rate])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"z_hat \(2, 3\) and z \(2, 4\)"):
        fn(np.ones((2, 3)), np.ones((2, 4)), code_ndim=1)
    with pytest.raises(ValueError, match="code_ndim"):
        fn(np.ones((2, 3)), np.ones((2, 3)), code_ndim=3)
    with pytest.raises(ValueError, match="code_ndim"):
        fn(np.ones((2, 3)), np.ones((2, 3)), code_ndim=True)


@pytest.mark.parametrize("tol", [0, -1e-3, float("nan"), True, "1e-3", [1e-3]])
def test_bad_tolerance(tol):
    with pytest.raises(ValueError, match="tol"):
        success_rate(np.ones((2, 3)), np.ones((2, 3)), code_ndim=1, tol=tol)


def test_jit_and_vmap():
    z_hat, z = batch()
    z_hat, z = jnp.asarray(z_hat), jnp.asarray(z)

    @jax.jit
    def score(z_hat, z, tol):
        return (
            code_error(z_hat, z, code_ndim=2),
            support_recovered(z_hat, z, code_ndim=2),
            success_rate(z_hat, z, code_ndim=2, tol=tol),
        )

    err, support, result = score(z_hat, z, 1e-3)
    np.testing.assert_allclose(np.asarray(err), np_error(np.asarray(z_hat), np.asarray(z), 2))
    assert int(result.successes) == 2 and result.codes == 6 and int(result.nonfinite) == 1
    # vmap over the first batch axis: one rate per row
    rows = jax.vmap(lambda a, b: success_rate(a, b, code_ndim=2))(z_hat, z)
    np.testing.assert_array_equal(np.asarray(rows.successes), [2, 0])
    np.testing.assert_array_equal(np.asarray(rows.nonfinite), [0, 1])
    np.testing.assert_array_equal(np.asarray(rows.zero), [0, 2])
    np.testing.assert_allclose(np.asarray(rows.rate), [2 / 3, 0.0])
    per_code = jax.vmap(lambda a, b: support_recovered(a, b, code_ndim=2))(z_hat, z)
    np.testing.assert_array_equal(np.asarray(per_code), np.asarray(support))
    # a traced tolerance
    tols = jnp.array([1e-6, 1e-3, 10.0])
    counts = jax.vmap(lambda t: success_rate(z_hat, z, code_ndim=2, tol=t).successes)(tols)
    np.testing.assert_array_equal(np.asarray(counts), [1, 2, 3])


def test_single_code_without_batch_axes():
    z = np.array([3.0, 4.0])
    result = success_rate(z, z, code_ndim=1)
    assert result.codes == 1 and float(result.rate) == 1.0
    assert np.asarray(code_error(z, z, code_ndim=1)).shape == ()
