"""Model-based iterative hard thresholding: IHT (Algorithm 1) and normalized IHT.

States hold the iterate in index form (:class:`~jaxcs.SparseCode`): a step costs one ``W r``,
one projection of ``z + μ W r`` (the slots of ``z`` scattered onto ``μ W r``) and one scatter
for ``x − Φ z``; the driver measures ``‖z‖`` and ``‖z⁺ − z‖`` from the slots.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcs._pytree import static_field
from jaxcs.models import project_ray
from jaxcs.operators import operator_norm
from jaxcs.solvers.base import AbstractSolver, SparseIterate


class IHTState(SparseIterate):
    """IHT's state: the iterate, its residual and the step size ``μ`` (fixed; ``"auto"``
    computes it once in ``init``)."""

    step_size: jax.Array


class NIHTState(SparseIterate):
    """NIHT's state: the iterate, its residual and the step size ``μ`` of the last step."""

    step_size: jax.Array


def check_step_size(step_size) -> tuple[float | None, bool]:
    """``(value, auto)`` for a step size that is a positive number, an array, or ``"auto"``."""
    if isinstance(step_size, str):
        if step_size != "auto":
            raise ValueError(f"step_size must be a positive number or 'auto'; got {step_size!r}")
        return None, True
    if hasattr(step_size, "dtype"):  # arrays (sweeps, traced values) are not checked
        return step_size, False
    if isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or not step_size > 0:
        raise ValueError(f"step_size must be a positive number or 'auto'; got {step_size!r}")
    return step_size, False


def initial_step_size(op, step_size, auto: bool):
    """The step size itself, or ``1 / ‖Φ‖₂²`` by power iteration when ``auto``."""
    return 1 / operator_norm(op) ** 2 if auto else step_size


def gradient_projection(op, model, state):
    """``𝕄(z + μ Φᵀ r)`` in index form: the slots of ``z`` scattered onto ``W(μ r)``, then
    projected (the step of IHT, the support proxy of HTP)."""
    return model.project_sparse(state.code.add_to(op.mv(state.step_size * state.residual)))


def zero_code(op, x, model):
    """``z = 0`` in index form (no used slot), in the dtype of the iterates."""
    return model.project_sparse(jnp.zeros(tuple(op.out_shape), jnp.result_type(op.dtype, x)))


def measured(state_type, code, residual, **fields):
    """A state of ``state_type`` with ``residual_norm = ‖residual‖`` filled in."""
    return state_type(code, residual, jnp.linalg.norm(residual), **fields)


class IHT(AbstractSolver):
    """Model-based IHT (the paper's Algorithm 1; Blumensath & Davies 2009; Baraniuk et al. 2010).

    ``z ← 𝕄(z + μ Φᵀ (x − Φ z))``. From ``z = 0`` the first step is one CNN layer.

    Args:
        step_size: ``μ``; ``1.0`` as the paper (filters of unit norm), or ``"auto"``:
            ``1 / ‖Φ‖₂²`` from :func:`jaxcs.operator_norm` (power iteration), which keeps the
            gradient step non-expansive for any operator scale.
    """

    step_size: jax.Array | float | None
    auto: bool = static_field()

    def __init__(self, step_size: float | str = 1.0):
        self.step_size, self.auto = check_step_size(step_size)

    def init(self, op, x, model, aux=None) -> IHTState:
        code = zero_code(op, x, model)
        step = jnp.asarray(initial_step_size(op, self.step_size, self.auto), code.values.dtype)
        return measured(IHTState, code, x, step_size=step)

    def step(self, op, x, model, state: IHTState, aux=None) -> IHTState:
        code = gradient_projection(op, model, state)
        return measured(IHTState, code, op.residual(x, code), step_size=state.step_size)


class NIHT(AbstractSolver):
    """Normalized IHT with the step-size safeguard of Blumensath & Davies (2010), model-based.

    Each step: ``g = Φᵀ r``; ``Γ`` = support of ``z`` (at ``z = 0``: the support of
    ``𝕄(Φᵀ x)``); ``μ = ‖g_Γ‖² / ‖Φ g_Γ‖²``; ``z⁺ = 𝕄(z + μ g)``. If the support changes and
    ``μ > ω = (1 − c) ‖z⁺ − z‖² / ‖Φ (z⁺ − z)‖²``, shrink ``μ ← μ / (κ (1 − c))`` and recompute
    (at most ``max_backtracks`` times).

    Departures from the published rule: the support and the thresholding use the model's
    projection ``𝕄`` (model-based IHT), and backtracking stops after ``max_backtracks``
    shrinkings (the published loop is unbounded; with ``κ(1 − c) > 1`` it ends in practice).

    Args:
        c: the safeguard's ``c`` in ``(0, 1)`` (paper: small, e.g. 0.01).
        kappa: shrink factor ``κ > 1/(1 − c)`` (paper: 2).
        max_backtracks: bound on step-size shrinkings per step.
    """

    c: jax.Array | float
    kappa: jax.Array | float
    max_backtracks: int = static_field()

    def __init__(self, c: float = 0.01, kappa: float = 2.0, max_backtracks: int = 30):
        if not 0 < c < 1:
            raise ValueError(f"c must be in (0, 1); got {c!r}")
        if not kappa > 1 / (1 - c):
            raise ValueError(f"kappa must exceed 1/(1 - c) = {1 / (1 - c):.4g}; got {kappa!r}")
        if int(max_backtracks) != max_backtracks or max_backtracks < 0:
            raise ValueError(f"max_backtracks must be a non-negative int; got {max_backtracks!r}")
        self.c, self.kappa, self.max_backtracks = c, kappa, int(max_backtracks)

    def init(self, op, x, model, aux=None) -> NIHTState:
        # the support Γ of the first step: supp 𝕄(Φᵀ x), since z = 0 has none
        first = model.project_sparse(op.mv(x))
        # z = 0 exactly (also for non-finite data, which stops before the first step)
        code = first.replace(values=jnp.zeros_like(first.values))
        return measured(NIHTState, code, x, step_size=jnp.asarray(1.0, code.values.dtype))

    def step(self, op, x, model, state: NIHTState, aux=None) -> NIHTState:
        support, r = state.code, state.residual  # Γ in index form, with the values of z
        g = op.mv(r)
        g_support = support.replace(
            values=jnp.where(support.mask, g.reshape(-1)[support.indices], 0)
        )
        mu = _safe_ratio(jnp.sum(g_support.values**2), jnp.sum(op.rmv_sparse(g_support) ** 2))
        project = along(model, support, g)

        def attempt(mu):
            code = project(mu)
            return code, op.residual(x, code)

        def needs_shrink(carry):
            mu, code, r_new, count = carry
            changed = ~code.same_support(support)
            # Φ (z⁺ − z) = r − r⁺, both at hand: no extra application of Φ
            dz = code.distance(support)
            omega = (1 - self.c) * _safe_ratio(dz**2, jnp.sum((r - r_new) ** 2))
            return changed & (mu > omega) & (count < self.max_backtracks)

        def shrink(carry):
            mu, _, _, count = carry
            mu = mu / (self.kappa * (1 - self.c))
            return (mu, *attempt(mu), count + 1)

        mu, code, r_new, _ = jax.lax.while_loop(needs_shrink, shrink, (mu, *attempt(mu), 0))
        return measured(NIHTState, code, r_new, step_size=mu)


def along(model, z, g):
    """``μ ↦ model.project_sparse(z + μ g)`` for ``μ ≥ 0``, ``z`` a code in index form.

    With a budget ``k`` below the number of regions this is the ray projection
    (:func:`jaxcs.models.project_ray`): ``z + μ g`` is never formed, one pass over
    ``g``, then ``O(capacity · window)`` per ``μ`` (exact up to ties that only the rounding of
    ``μ g`` creates, see there); otherwise the projection of the dense sum. NIHT's step-size
    search uses it; a single step (IHT, HTP) projects the dense sum, exactly the reference.
    """
    shape = tuple(g.shape)
    if model.k is not None and model.num_slots(shape) < model.num_regions(shape):
        return project_ray(model, z, g).at
    return lambda mu: model.project_sparse(z.add_to(mu * g))


def _safe_ratio(num, den):
    """``num / den``, and 0 where ``den`` is 0 (a zero gradient: nothing to step along)."""
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0)
