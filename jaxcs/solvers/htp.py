"""Model-based HTP and CoSaMP: support selection by the model, then least squares on it.

Both solve ``min ‖x − Φ b‖`` over codes ``b`` supported on a set ``T`` by conjugate gradients
on the restricted normal equations ``P_T W Wᵀ P_T b = P_T W x`` (two convolutions per
iteration, warm-started from the current iterate), :func:`jax.scipy.sparse.linalg.cg`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.sparse.linalg import cg

from jaxcs.arguments import positive_int
from jaxcs.pytree import PytreeNode
from jaxcs.solvers.iht import IterateState, check_step_size, initial_step_size, zero_state


def restricted_least_squares(op, x, mask, start, *, max_iterations: int, tol: float = 1e-7):
    """``argmin_b ‖x − Wᵀ b‖`` over ``b`` with ``b = 0`` outside ``mask`` (CG, warm start).

    Args:
        op: the layer ``W``; x: ``op.in_shape``; mask: ``op.out_shape`` booleans;
        start: initial ``b``; max_iterations: CG iterations at most; tol: CG's relative
        tolerance.
    """
    mask = mask.astype(x.dtype)

    def normal(b):
        return mask * op.mv(op.rmv(mask * b))

    b, _ = cg(normal, mask * op.mv(x), x0=mask * start, tol=tol, maxiter=max_iterations)
    return mask * b


class HTP(PytreeNode):
    """Model-based hard thresholding pursuit (Foucart 2011).

    ``Γ = supp 𝕄(z + μ Φᵀ r)``, then ``z = argmin_{supp b ⊆ Γ} ‖x − Φ b‖``.

    Departures from the published rule: the support comes from the model's projection; the
    least squares is solved by at most ``cg_iterations`` CG iterations (exact once they reach
    the support size); for a non-negative model the least-squares solution is projected back
    onto the model (clipping negative entries), since the published HTP has no sign
    constraint.

    Args:
        step_size: ``μ`` of the support-selection step, or ``"auto"`` (``1/‖Φ‖₂²``, as IHT).
        cg_iterations: CG iterations per least-squares solve.
    """

    _leaves = ("step_size",)
    _static = ("cg_iterations", "auto")

    def __init__(self, step_size: float | str = 1.0, cg_iterations: int = 50):
        step_size, auto = check_step_size(step_size)
        self._set(
            step_size=step_size,
            cg_iterations=positive_int(cg_iterations, "cg_iterations"),
            auto=auto,
        )

    def init(self, op, x, model) -> IterateState:
        return zero_state(op, x, initial_step_size(op, self.step_size, self.auto))

    def step(self, op, x, model, state: IterateState) -> IterateState:
        proxy = model.project(state.z + state.step_size * op.mv(state.residual))
        b = restricted_least_squares(op, x, proxy != 0, state.z, max_iterations=self.cg_iterations)
        z = model.project(b) if model.nonnegative else b
        return IterateState(z, x - op.rmv(z), state.step_size)


class CoSaMP(PytreeNode):
    """Model-based CoSaMP (Needell & Tropp 2009; Baraniuk, Cevher, Duarte, Hegde 2010).

    ``Ω = supp 𝕄_{2k}(Φᵀ r)``, ``T = Ω ∪ supp z``, ``b = argmin_{supp b ⊆ T} ‖x − Φ b‖``,
    ``z = 𝕄(b)``.

    Departure: the proxy uses the model's own projection with the region budget doubled
    (``k → 2k``, still one non-zero per region; ``k = None`` stays ``None``), not the projection
    onto the enlarged union ``𝓜_k²`` (up to two non-zeros per region); Baraniuk et al. allow any
    approximation of that projection, and this one keeps every solver on the same ``𝕄``.

    Args:
        cg_iterations: CG iterations per least-squares solve.
    """

    _static = ("cg_iterations",)

    def __init__(self, cg_iterations: int = 50):
        self._set(cg_iterations=positive_int(cg_iterations, "cg_iterations"))

    def init(self, op, x, model) -> IterateState:
        return zero_state(op, x, 1.0)

    def step(self, op, x, model, state: IterateState) -> IterateState:
        proxy_model = model
        if model.k is not None:
            regions = model.num_regions(state.z.shape)
            max_k = None if model.max_k is None else min(2 * model.max_k, regions)
            proxy_model = model.replace(
                k=jnp.minimum(2 * jnp.asarray(model.k), regions), max_k=max_k
            )
        omega = proxy_model.project(op.mv(state.residual)) != 0
        merged = omega | (state.z != 0)
        b = restricted_least_squares(op, x, merged, state.z, max_iterations=self.cg_iterations)
        z = model.project(b)
        return IterateState(z, x - op.rmv(z), state.step_size)
