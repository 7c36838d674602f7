"""Model-based HTP and CoSaMP: support selection by the model, then least squares on it.

Both solve ``min ‖x − Φ b‖`` over codes ``b`` supported on a set ``T`` of at most ``s`` slots
(``s`` = the model's capacity for HTP, ``3 ×`` for CoSaMP). Two ways, chosen per solver by
``least_squares``:

- ``"direct"``: the normal equations ``G_T b_T = (W x)_T`` from the restricted Gram
  (:func:`jaxcs.restricted_gram`, a gather from :func:`jaxcs.correlation.gram_table`, computed
  once per operator), by Cholesky. A jitter ``s · ε · max diag(G_T)`` keeps the factorisation
  defined when the columns of ``T`` are linearly dependent, and one step of iterative
  refinement removes its bias when they are not.
- ``"cg"``: conjugate gradients on ``P_T W Wᵀ P_T b = P_T W x`` (two operator applications per
  iteration, warm-started from the current iterate), :func:`jax.scipy.sparse.linalg.cg`.

``"auto"`` (default) is direct when ``s ≤ DIRECT_MAX_SLOTS`` (a bounded model), else CG.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import cho_solve
from jax.scipy.sparse.linalg import cg

from jaxcs.arguments import positive_int
from jaxcs.correlation import gram_table, restricted_gram
from jaxcs.solvers.iht import (
    IterateState,
    Solver,
    check_step_size,
    gradient_projection,
    initial_step_size,
    zero_state,
)

DIRECT_MAX_SLOTS = 512
LEAST_SQUARES = ("auto", "direct", "cg")


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


def support_least_squares(op, wx, code, table=None):
    """``argmin ‖x − Wᵀ b‖`` over ``b`` supported on the used slots of ``code``, exactly.

    Args:
        op: the layer ``W``.
        wx: ``W x`` (``op.out_shape``), the right-hand side of the normal equations.
        code: a one-problem :class:`~jaxcs.SparseCode`; its used slots are the support
            (distinct indices), its values are ignored.
        table: :func:`jaxcs.correlation.gram_table` of ``op`` (``None``: computed per call).

    Returns:
        ``code`` with the least-squares values in its used slots (0 elsewhere).
    """
    mask = code.mask
    gram = restricted_gram(op, code.indices, mask, table=table)
    slots = mask.shape[-1]
    eps = jnp.finfo(gram.dtype).eps
    jitter = slots * eps * jnp.max(jnp.diagonal(gram))
    # unused slots: a unit diagonal and a zero right-hand side, so they solve to 0
    factor = jnp.linalg.cholesky(gram + jnp.diag(jnp.where(mask, jitter, 1)))
    rhs = jnp.where(mask, wx.reshape(-1)[code.indices], 0)
    b = cho_solve((factor, True), rhs)
    b = b + cho_solve((factor, True), rhs - gram @ b)  # iterative refinement
    return code.replace(values=jnp.where(mask, b, 0))


def _least_squares(op, x, state, code, aux, cg_iterations):
    """Least squares on the support of ``code``: direct when ``aux`` says so, else CG."""
    if aux is not None:
        return support_least_squares(op, state.wx, code, aux["table"])
    b = restricted_least_squares(op, x, code.support(), state.z, max_iterations=cg_iterations)
    return code.replace(values=jnp.where(code.mask, b.reshape(-1)[code.indices], 0))


def _right_side(op, x, aux):
    """``W x`` for the direct solve (fixed per problem, so computed once); CG needs none."""
    return None if aux is None else op.mv(x)


def _check_least_squares(value):
    if value not in LEAST_SQUARES:
        raise ValueError(f"least_squares must be one of {LEAST_SQUARES}; got {value!r}")
    return value


def _prepare(least_squares: str, op, slots: int):
    """``{"table": gram_table(op)}`` for the direct solve, ``None`` for CG."""
    direct = least_squares == "direct" or (least_squares == "auto" and slots <= DIRECT_MAX_SLOTS)
    return {"table": gram_table(op)} if direct else None


def _doubled(model, code_shape):
    """The model with its region budget doubled (``k → min(2k, regions)``), capacity too."""
    if model.k is None:
        return model
    regions = model.num_regions(code_shape)
    max_k = None if model.max_k is None else min(2 * model.max_k, regions)
    return model.replace(k=jnp.minimum(2 * jnp.asarray(model.k), regions), max_k=max_k)


class HTP(Solver):
    """Model-based hard thresholding pursuit (Foucart 2011).

    ``Γ = supp 𝕄(z + μ Φᵀ r)``, then ``z = argmin_{supp b ⊆ Γ} ‖x − Φ b‖``.

    Departures from the published rule: the support comes from the model's projection; the
    least squares is solved directly from the restricted Gram or by at most
    ``cg_iterations`` CG iterations (module docstring); for a non-negative model the
    least-squares solution is projected back onto the model (clipping negative entries),
    since the published HTP has no sign constraint.

    Args:
        step_size: ``μ`` of the support-selection step, or ``"auto"`` (``1/‖Φ‖₂²``, as IHT).
        cg_iterations: CG iterations per least-squares solve (CG path only).
        least_squares: ``"auto"``, ``"direct"`` or ``"cg"`` (module docstring).
    """

    _leaves = ("step_size",)
    _static = ("cg_iterations", "auto", "least_squares")

    def __init__(
        self,
        step_size: float | str = 1.0,
        cg_iterations: int = 50,
        least_squares: str = "auto",
    ):
        step_size, auto = check_step_size(step_size)
        self._set(
            step_size=step_size,
            cg_iterations=positive_int(cg_iterations, "cg_iterations"),
            auto=auto,
            least_squares=_check_least_squares(least_squares),
        )

    def prepare(self, op, model):
        return _prepare(self.least_squares, op, model.capacity(op.out_shape))

    def init(self, op, x, model, aux=None) -> IterateState:
        step = initial_step_size(op, self.step_size, self.auto)
        return zero_state(op, x, model, step, wx=_right_side(op, x, aux))

    def step(self, op, x, model, state: IterateState, aux=None) -> IterateState:
        proxy = gradient_projection(op, model, state)
        code = _least_squares(op, x, state, proxy, aux, self.cg_iterations)
        if model.nonnegative:
            code = code.replace(values=jnp.maximum(code.values, 0))
        return IterateState(code, op.residual(x, code), state.step_size, state.wx)


class CoSaMP(Solver):
    """Model-based CoSaMP (Needell & Tropp 2009; Baraniuk, Cevher, Duarte, Hegde 2010).

    ``Ω = supp 𝕄_{2k}(Φᵀ r)``, ``T = Ω ∪ supp z``, ``b = argmin_{supp b ⊆ T} ‖x − Φ b‖``,
    ``z = 𝕄(b)``.

    Departure: the proxy uses the model's own projection with the region budget doubled
    (``k → 2k``, still one non-zero per region; ``k = None`` stays ``None``), not the projection
    onto the enlarged union ``𝓜_k²`` (up to two non-zeros per region); Baraniuk et al. allow any
    approximation of that projection, and this one keeps every solver on the same ``𝕄``.

    Args:
        cg_iterations: CG iterations per least-squares solve (CG path only).
        least_squares: ``"auto"``, ``"direct"`` or ``"cg"`` (module docstring).
    """

    _static = ("cg_iterations", "least_squares")

    def __init__(self, cg_iterations: int = 50, least_squares: str = "auto"):
        self._set(
            cg_iterations=positive_int(cg_iterations, "cg_iterations"),
            least_squares=_check_least_squares(least_squares),
        )

    def prepare(self, op, model):
        shape = op.out_shape
        slots = _doubled(model, shape).capacity(shape) + model.capacity(shape)
        return _prepare(self.least_squares, op, slots)

    def init(self, op, x, model, aux=None) -> IterateState:
        return zero_state(op, x, model, 1.0, wx=_right_side(op, x, aux))

    def step(self, op, x, model, state: IterateState, aux=None) -> IterateState:
        omega = _doubled(model, tuple(op.out_shape)).project_sparse(op.mv(state.residual))
        held = state.code  # supp z
        # T = Ω ∪ supp z as Ω's slots then z's, a z index already in Ω left unused
        seen = jnp.any(
            (held.indices[:, None] == omega.indices[None, :]) & omega.mask[None, :], axis=1
        )
        merged = omega.replace(
            indices=jnp.concatenate([omega.indices, held.indices]),
            values=jnp.concatenate([omega.values, held.values]),
            mask=jnp.concatenate([omega.mask, held.mask & ~seen]),
        )
        b = _least_squares(op, x, state, merged, aux, self.cg_iterations)
        code = model.project_sparse(b.to_dense())
        return IterateState(code, op.residual(x, code), state.step_size, state.wx)
