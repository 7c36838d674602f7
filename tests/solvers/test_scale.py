"""Scale invariance in float32 (issue 19, item 4): the driver solves a normalised problem, so
statuses and relative answers do not depend on the magnitude of the filters (or of a sensing
matrix), and a zero iterate of a non-zero signal is never ``CONVERGED``.

Before: NIHT with filters × 1e-8 stalled on every problem, × 1e10 went non-finite, and at
× 1e-20 NIHT, HTP and CoSaMP reported ``CONVERGED`` with ``z = 0`` (``‖x‖²`` underflowed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs import Status
from jaxcs.solvers import SparseIterate

SCALES = (1e-20, 1e-8, 1.0, 1e10)
SOLVERS = {
    "IHT": lambda: jaxcs.IHT("auto"),
    "NIHT": jaxcs.NIHT,
    "HTP": lambda: jaxcs.HTP("auto"),
    "CoSaMP": jaxcs.CoSaMP,
}
PROBLEMS, MAX_STEPS = 8, 200


def _problem(kind, dtype=jnp.float32):
    """Well-posed problems: a conv layer (l = 5, M = 2, K = 4, D = 32, two blocks) or a
    Gaussian 32 × 64 matrix (top-4); drawn in float32, then cast to ``dtype`` (the same
    problems in both precisions)."""
    key_op, key_code = jr.split(jr.key(0))
    if kind == "conv":
        filters = jaxcs.gaussian_filters(key_op, (5,), 2, 4, jnp.float32).astype(dtype)
        make = lambda scale: jaxcs.ConvOperator(filters * scale, (32,), 1, "valid")  # noqa: E731
        model = jaxcs.BlockModel(2)
    else:
        phi = (jr.normal(key_op, (32, 64), jnp.float32) / np.sqrt(32)).astype(dtype)
        make = lambda scale: jaxcs.MatrixOperator(phi * scale).T  # noqa: E731
        model = jaxcs.TopKModel(4)
    shape = make(1.0).out_shape
    keys = jr.split(key_code, PROBLEMS)
    z = jax.vmap(lambda key: model.sample_sparse(key, shape).to_dense())(keys)
    return make, model, z.astype(dtype)


def _relative_errors(z_hat, z):
    flat = lambda a: np.asarray(a, np.float64).reshape(PROBLEMS, -1)  # noqa: E731
    return np.linalg.norm(flat(z_hat) - flat(z), axis=1) / np.linalg.norm(flat(z), axis=1)


def _run(make, model, z, solver, scale):
    op = make(scale)
    return jaxcs.recover(op, jax.vmap(op.rmv)(z), model, solver, max_steps=MAX_STEPS)


CASES = [(name, "conv") for name in SOLVERS] + [("NIHT", "matrix"), ("CoSaMP", "matrix")]


@pytest.mark.parametrize("name, kind", CASES)
def test_statuses_and_answers_do_not_depend_on_the_operator_scale(name, kind):
    """Filters (a matrix) × 1e-20, 1e-8, 1, 1e10 in float32: the statuses of × 1, the same
    codes to float32 rounding (the codes do not scale: ``x = Φ z`` does), non-zero codes where
    CONVERGED; float64 at × 1e-20 recovers as float32 at × 1 (NIHT, CoSaMP: the same problems,
    up to one whose fate a rounding decides, and the same codes where both converge)."""
    make, model, z = _problem(kind)
    solver = SOLVERS[name]()
    runs = {scale: _run(make, model, z, solver, scale) for scale in SCALES}  # one compile
    base = runs[1.0]
    base_errors = _relative_errors(base.z, z)
    assert np.mean(base_errors < 1e-3) >= 0.75  # well-posed: most are recovered
    for scale, run in runs.items():
        np.testing.assert_array_equal(run.status, base.status, err_msg=f"scale {scale}")
        np.testing.assert_allclose(
            _relative_errors(run.z, z), base_errors, atol=1e-4, err_msg=f"scale {scale}"
        )
        converged = np.asarray(run.status) == Status.CONVERGED
        assert np.all(np.any(np.asarray(run.z).reshape(PROBLEMS, -1) != 0, axis=1)[converged])
    if kind != "conv" or name not in ("NIHT", "CoSaMP"):  # float64: one of each family
        return
    with jax.enable_x64(True):
        make64, model64, z64 = _problem(kind, jnp.float64)
        wide = _run(make64, model64, z64, solver, 1e-20)
        assert wide.z.dtype == jnp.float64
    wide_errors = _relative_errors(wide.z, z64)
    assert abs(np.sum(wide_errors < 1e-3) - np.sum(base_errors < 1e-3)) <= 1
    both = (np.asarray(wide.status) == Status.CONVERGED) & (np.asarray(base.status) == 0)
    np.testing.assert_allclose(wide_errors[both], base_errors[both], atol=1e-4)


class _Idle(jaxcs.AbstractSolver):
    """A solver of one's own that never moves from ``z = 0`` (and does not take part in the
    driver's normalisation): its residual norm underflows for a tiny signal."""

    def init(self, op, x, model, aux):
        code = model.project_sparse(jnp.zeros(op.out_shape, x.dtype))
        return SparseIterate(code, x, jnp.linalg.norm(x))

    def step(self, op, x, model, state, aux):
        return state


def test_a_zero_iterate_of_a_nonzero_signal_is_never_converged():
    """Built-in solvers at × 1e-20 return non-zero codes (previous test); a solver of one's
    own whose ``‖r‖ = ‖x‖`` underflows to 0 still gets no ``CONVERGED`` for ``z = 0``
    (a stall), while a zero signal is solved by ``z = 0``."""
    make, model, z = _problem("conv")
    op = make(1.0)
    x = jax.vmap(op.rmv)(z) * 1e-20
    assert float(jnp.linalg.norm(x[0])) == 0  # the square underflows in float32
    run = jaxcs.recover(op, x, model, _Idle(), max_steps=5, tol=1e-3)
    assert np.all(np.asarray(run.status) == Status.STALLED)
    zero = jaxcs.recover(op, jnp.zeros_like(x), model, _Idle(), max_steps=5)
    assert np.all(np.asarray(zero.status) == Status.CONVERGED)
