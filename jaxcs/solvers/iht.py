"""Model-based iterative hard thresholding: IHT (Algorithm 1) and normalized IHT.

States hold the iterate in index form (:class:`~jaxcs.SparseCode`): a step costs one ``W r``,
one projection of ``z + μ W r`` (the slots of ``z`` scattered onto ``μ W r``) and one scatter
for ``x − Φ z``; the driver measures ``‖z‖`` and ``‖z⁺ − z‖`` from the slots.

The gradient ``W r`` (argument ``gradient`` of IHT, NIHT and HTP, chosen once in ``prepare``):

- ``"conv"``: ``op.mv(r)``, one application of ``W`` (a convolution) per step;
- ``"table"``: ``W r = W x − W Wᵀ z``, with ``W x`` computed once per problem (in ``init``,
  kept in the state as ``wx``) and ``W Wᵀ z`` by :meth:`~jaxcs.AbstractOperator.normal_sparse`
  from the operator's :meth:`~jaxcs.AbstractOperator.gram_table`: for a ``"valid"`` or
  ``"circular"`` :class:`~jaxcs.ConvOperator` a scatter of ``s`` windows of the correlation
  table, ``O(s · (2l − 1)^d · K)`` for ``s`` slots, against the ``O(n · l^d · M · K)`` of the
  convolution. The residual ``r = x − Φ z`` (stopping rule, NIHT's step size) is still formed
  from the slots, so convergence is judged on the true residual;
- ``"auto"`` (default): ``"table"`` when the operator has a table form
  (:meth:`~jaxcs.AbstractOperator.normal_sparse_cost` not ``None``) and
  ``TABLE_COST_FACTOR · normal_sparse_cost(slots) < mv_cost()``, else ``"conv"``. The factor
  weighs a window-cell update (a gather and a read-modify-write, memory-bound) against a
  multiply-add of the convolution (which XLA runs near the machine's peak). Measured on a
  2-core CPU, batches of 1024, whole IHT steps, Fig. 2's layer (``l = 5``, ``M = 32``,
  ``K = 96``): at a cost ratio ``mv_cost / normal_sparse_cost`` of 26 (``k = 10`` with 16
  slots) the table step is clearly slower, at 38 (``k = 10``, 10 slots, ``D = 32``) the two
  are within ±20 % (the sign depends on the machine's load), at 93 (``D = 128``) the table
  step is 1.5× faster. ``TABLE_COST_FACTOR = 40`` keeps the break-even cases on the
  convolution and takes the table where it clearly wins.

Both compute the same ``W r`` up to rounding.
"""

from __future__ import annotations

from typing import TypeGuard

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from jaxcs._pytree import Pytree, static_field
from jaxcs._scale import power_of_two_scale
from jaxcs._validate import check_choice
from jaxcs.models import RegionModel, project_ray
from jaxcs.operators import operator_norm
from jaxcs.solvers.base import AbstractSolver, SparseIterate

GRADIENTS = ("auto", "conv", "table")
TABLE_COST_FACTOR = 40  # multiply-adds of a convolution worth one table window cell (CPU)


class IHTState(SparseIterate):
    """IHT's state: the iterate, its residual, the step size ``μ`` (fixed; ``"auto"``
    computes it once in ``init``) and ``wx = W x`` (``op.out_shape``; the table gradient's,
    ``None`` for ``"conv"``)."""

    step_size: Float[Array, ""]
    wx: Float[Array, "*out_spatial K"] | None = None


NIHTState = IHTState
"""NIHT's state is IHT's: the step size ``μ`` is that of the last step."""


class GradientTable(Pytree):
    """How a solver computes ``W r`` (the ``prepare`` result of IHT and NIHT, part of HTP's).

    Attributes:
        table: the operator's :meth:`~jaxcs.AbstractOperator.gram_table`, which
            :meth:`~jaxcs.AbstractOperator.normal_sparse` reads (``None`` for ``"conv"``).
        from_table: ``W r = W x − W Wᵀ z`` from the table (``True``) or ``op.mv(r)`` (static).
    """

    table: object
    from_table: bool = static_field()


def check_gradient(value) -> str:
    return check_choice(value, GRADIENTS, "gradient")


def table_gradient_pays(op, slots: int) -> bool:
    """Whether ``W Wᵀ z`` from the table (codes of ``slots`` slots) is cheaper than one
    ``W r``: ``TABLE_COST_FACTOR · op.normal_sparse_cost(slots) < op.mv_cost()`` (module
    docstring; never without a table form)."""
    cost = op.normal_sparse_cost(slots)
    return cost is not None and TABLE_COST_FACTOR * cost < op.mv_cost()


def prepare_gradient(gradient: str, op, slots: int, table=None) -> GradientTable:
    """The gradient's data for codes of at most ``slots`` slots (module docstring); ``table``:
    an already computed ``op.gram_table()`` to share (``None``: computed here if needed)."""
    from_table = gradient == "table" or (gradient == "auto" and table_gradient_pays(op, slots))
    if not from_table:
        return GradientTable(None, False)
    return GradientTable(op.gram_table() if table is None else table, True)


def uses_table(aux: GradientTable | None) -> TypeGuard[GradientTable]:
    """Whether ``aux`` (``None``: not prepared, the ``"conv"`` path) asks for the table."""
    return aux is not None and aux.from_table


def initial_wx(op, x, aux: GradientTable | None):
    """``W x`` for the table gradient (fixed per problem, so computed once); else ``None``."""
    return op.mv(x) if uses_table(aux) else None


def gradient(op, code, residual, wx, aux: GradientTable | None) -> jax.Array:
    """``W r`` (``op.out_shape``): ``op.mv(r)``, or from the table ``W x − W Wᵀ z``
    (module docstring).

    Args:
        op: the layer ``W``; code: the iterate ``z`` in index form; residual: ``r = x − Φ z``;
        wx: ``W x`` (table path only); aux: the :class:`GradientTable` (``None``: ``"conv"``).
    """
    if uses_table(aux):
        return op.normal_sparse(code, aux.table, scale=-1, onto=wx)
    return op.mv(residual)


def gradient_projection(op, model, state, wx=None, aux: GradientTable | None = None):
    """``𝕄(z + μ Φᵀ r)`` in index form (the step of IHT, the support proxy of HTP): the slots
    of ``z`` scattered onto ``W(μ r)``, or from the table ``z + μ (W x − W Wᵀ z)`` in one
    :meth:`~jaxcs.AbstractOperator.normal_sparse` (``wx = W x``), then projected."""
    code, mu = state.code, state.step_size
    if uses_table(aux):
        v = op.normal_sparse(code, aux.table, scale=-mu, onto=mu * wx, add_code=True)
    else:
        v = code.add_to(op.mv(mu * state.residual))
    return model.project_sparse(v)


def check_step_size(step_size) -> tuple[float | None, bool]:
    """``(value, auto)`` for a step size that is a positive number, an array, ``"auto"`` or
    ``"paper"`` (``μ = 1``, the paper's Algorithm 1)."""
    if isinstance(step_size, str):
        if step_size == "paper":
            return 1.0, False
        if step_size != "auto":
            raise ValueError(
                f"step_size must be a positive number, 'auto' or 'paper'; got {step_size!r}"
            )
        return None, True
    if hasattr(step_size, "dtype"):  # arrays (sweeps, traced values) are not checked
        return step_size, False
    if isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or not step_size > 0:
        raise ValueError(
            f"step_size must be a positive number, 'auto' or 'paper'; got {step_size!r}"
        )
    return step_size, False


def rescaled_step(solver, operator_scale):
    """``solver`` for ``W / c``: its fixed step size times ``c²`` (``"auto"``: unchanged)."""
    if solver.auto:
        return solver
    return solver.replace(step_size=solver.step_size * operator_scale * operator_scale)


def initial_step_size(op, step_size, auto: bool):
    """The step size itself, or ``1 / ‖Φ‖₂²`` by power iteration when ``auto``."""
    return 1 / operator_norm(op) ** 2 if auto else step_size


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
        step_size: ``μ``: ``"auto"`` (the default, safe for any operator): ``1 / ‖Φ‖₂²`` from
            :func:`jaxcs.operator_norm` (power iteration), which keeps the gradient step
            non-expansive for any operator scale; ``"paper"``: ``μ = 1``, the paper's
            Algorithm 1 (filters of unit norm; it diverges where ``‖Φ‖₂ > √2``, e.g. on a
            Gaussian sensing matrix); or a positive number.
        gradient: how ``W r`` is computed: ``"auto"`` (default), ``"conv"`` (``op.mv(r)``) or
            ``"table"`` (``W x − W Wᵀ z`` from the operator's table, no convolution per step);
            see the module docstring. The iterates agree up to rounding.
    """

    step_size: jax.Array | float | None
    auto: bool = static_field()
    gradient: str = static_field()

    def __init__(self, step_size: Float[ArrayLike, ""] | str = "auto", gradient: str = "auto"):
        self.step_size, self.auto = check_step_size(step_size)
        self.gradient = check_gradient(gradient)

    def prepare(self, op, model) -> GradientTable:
        return prepare_gradient(self.gradient, op, model.num_slots(op.out_shape))

    def rescaled(
        self, signal_scale: Float[ArrayLike, ""], operator_scale: Float[ArrayLike, ""]
    ) -> IHT:
        """Homogeneous: a fixed ``μ`` on ``W`` is ``μ c²`` on ``W / c``; ``"auto"`` is
        computed on the operator it is given (:meth:`jaxcs.AbstractSolver.rescaled`)."""
        return rescaled_step(self, operator_scale)

    def init(
        self, op, x: Float[Array, "*in_spatial M"], model, aux: GradientTable | None = None
    ) -> IHTState:
        code = zero_code(op, x, model)
        step = jnp.asarray(initial_step_size(op, self.step_size, self.auto), code.values.dtype)
        return measured(IHTState, code, x, step_size=step, wx=initial_wx(op, x, aux))

    def step(
        self,
        op,
        x: Float[Array, "*in_spatial M"],
        model,
        state: IHTState,
        aux: GradientTable | None = None,
    ) -> IHTState:
        code = gradient_projection(op, model, state, state.wx, aux)
        residual = op.residual(x, code)
        return measured(IHTState, code, residual, step_size=state.step_size, wx=state.wx)


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
        gradient: how ``g = W r`` is computed: ``"auto"``, ``"conv"`` or ``"table"``, as
            :class:`IHT` (module docstring).
    """

    c: jax.Array | float
    kappa: jax.Array | float
    max_backtracks: int = static_field()
    gradient: str = static_field()

    def __init__(
        self,
        c: float = 0.01,
        kappa: float = 2.0,
        max_backtracks: int = 30,
        gradient: str = "auto",
    ):
        if not 0 < c < 1:
            raise ValueError(f"c must be in (0, 1); got {c!r}")
        if not kappa > 1 / (1 - c):
            raise ValueError(f"kappa must exceed 1/(1 - c) = {1 / (1 - c):.4g}; got {kappa!r}")
        if int(max_backtracks) != max_backtracks or max_backtracks < 0:
            raise ValueError(f"max_backtracks must be a non-negative int; got {max_backtracks!r}")
        self.c, self.kappa, self.max_backtracks = c, kappa, int(max_backtracks)
        self.gradient = check_gradient(gradient)

    def prepare(self, op, model) -> GradientTable:
        return prepare_gradient(self.gradient, op, model.num_slots(op.out_shape))

    def rescaled(
        self, signal_scale: Float[ArrayLike, ""], operator_scale: Float[ArrayLike, ""]
    ) -> NIHT:
        """Homogeneous, with scale-free parameters: itself (:meth:`AbstractSolver.rescaled`)."""
        return self

    def init(
        self, op, x: Float[Array, "*in_spatial M"], model, aux: GradientTable | None = None
    ) -> NIHTState:
        wx = op.mv(x)
        # the support Γ of the first step: supp 𝕄(Φᵀ x), since z = 0 has none
        first = model.project_sparse(wx)
        # z = 0 exactly (also for non-finite data, which stops before the first step)
        code = first.replace(values=jnp.zeros_like(first.values))
        step = jnp.asarray(1.0, code.values.dtype)
        return measured(NIHTState, code, x, step_size=step, wx=wx if uses_table(aux) else None)

    def step(
        self,
        op,
        x: Float[Array, "*in_spatial M"],
        model,
        state: NIHTState,
        aux: GradientTable | None = None,
    ) -> NIHTState:
        support, r = state.code, state.residual  # Γ in index form, with the values of z
        g = gradient(op, support, r, state.wx, aux)
        g_values = jnp.where(support.mask, g.reshape(-1)[support.indices], 0)
        # μ = ‖g_Γ‖² / ‖Φ g_Γ‖² from g_Γ / 2^e: the same ratio, with squares that can neither
        # overflow nor underflow while the residual shrinks
        g_support = support.replace(values=g_values / power_of_two_scale(g_values))
        mu = _safe_ratio(jnp.sum(g_support.values**2), jnp.sum(op.rmv_sparse(g_support) ** 2))
        project = along(model, support, g)

        def attempt(mu):
            code = project(mu)
            return code, op.residual(x, code)

        def needs_shrink(carry):
            mu, code, r_new, count = carry
            changed = ~code.same_support(support)
            # Φ (z⁺ − z) = r − r⁺, both at hand: no extra application of Φ; both divided by
            # one power of two, as μ
            phi_dz = r - r_new
            scale = power_of_two_scale(phi_dz)
            dz = code.distance(support) / scale
            omega = (1 - self.c) * _safe_ratio(dz**2, jnp.sum((phi_dz / scale) ** 2))
            return changed & (mu > omega) & (count < self.max_backtracks)

        def shrink(carry):
            mu, _, _, count = carry
            mu = mu / (self.kappa * (1 - self.c))
            return (mu, *attempt(mu), count + 1)

        mu, code, r_new, _ = jax.lax.while_loop(needs_shrink, shrink, (mu, *attempt(mu), 0))
        return measured(NIHTState, code, r_new, step_size=mu, wx=state.wx)


def along(model, z, g):
    """``μ ↦ model.project_sparse(z + μ g)`` for ``μ ≥ 0``, ``z`` a code in index form.

    For a region model with a budget ``k`` below the number of regions this is the ray
    projection (:func:`jaxcs.models.project_ray`): ``z + μ g`` is never formed, one pass over
    ``g``, then ``O(capacity · window)`` per ``μ`` (exact up to ties that only the rounding of
    ``μ g`` creates, see there); otherwise the projection of the dense sum. NIHT's step-size
    search uses it; a single step (IHT, HTP) projects the dense sum, exactly the reference.
    """
    shape = tuple(g.shape)
    if (
        isinstance(model, RegionModel)
        and model.k is not None
        and model.num_slots(shape) < model.num_regions(shape)
    ):
        return project_ray(model, z, g).at
    return lambda mu: model.project_sparse(z.add_to(mu * g))


def _safe_ratio(num, den):
    """``num / den``, and 0 where ``den`` is 0 (a zero gradient: nothing to step along)."""
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0)
