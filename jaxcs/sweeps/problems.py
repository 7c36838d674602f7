"""One sweep problem, generated and solved inside the compiled program.

A problem is a pure function of ``(seed, cell, problem)``: its key is
``fold_in(fold_in(key(seed), cell_key), problem)`` where ``cell_key`` hashes the cell's problem
parameters (:meth:`~jaxcs.sweeps.cells.Cell.problem_key`). From it come a fresh operator
(random filters ``W``, or a fresh sensing matrix ``Φ``, per problem: the sweep averages over
operators as well as codes; filters from a file are the same for every problem), a code ``z``
drawn from the model, and the signal ``x = Wᵀ z``. The solver recovers ``ẑ`` from ``x``; the
problem reports ``‖ẑ − z‖ / ‖z‖``, the solver's status and step count, ``‖x − Wᵀẑ‖ / ‖x‖`` and,
where asked, the model-RIP ratio ``‖Wᵀz‖ / ‖z‖`` of the drawn code and the extreme eigenvalues
of its support's restricted Gram.

Nothing here depends on how problems are batched or placed on devices, so a table is the same
for any device or process count.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from jaxcs._scale import scaled_norm
from jaxcs.analysis import orthant_extremes
from jaxcs.operators import (
    ConvOperator,
    MatrixOperator,
    conv_output_shape,
    gaussian_filters,
    rademacher_filters,
    unit_norm_filters,
)
from jaxcs.solvers import solve
from jaxcs.status import Status
from jaxcs.sweeps.config_values import jsonable
from jaxcs.sweeps.registry import SolverFamily

FILTERS = {
    "gaussian": gaussian_filters,
    "rademacher": rademacher_filters,
    "unit-norm": unit_norm_filters,
}
# The per-problem inputs of a program (host arrays of one block), and their dtypes.
INPUTS = {
    "cell_key": np.uint32,
    "problem": np.uint32,
    "k": np.int32,
    "max_steps": np.int32,
    "tol": None,
    "param": None,
}


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """The static part of a group of cells: one compiled program per spec.

    Attributes:
        problem: ``"conv"``, ``"matrix"`` or ``"family"`` (an operator family).
        shape: conv: ``(filter_shape, in_channels, out_channels, in_spatial, stride, padding,
            filters)``; matrix: ``(kind, m, n)``; family: ``(OperatorFamily, ((name, value),
            …))``.
        model: ``(ModelFamily, ((name, value), …), nonnegative, distribution)``.
        capacity: the static bound on ``k`` of the group's models (from its largest ``k``).
        solver: the :class:`~jaxcs.sweeps.registry.SolverFamily`.
        static_param: the solver's parameter when it is static (a string such as IHT's
            ``"auto"``), else ``None`` (then it is an input).
        rip: ``False``, ``"ratios"`` or ``"eigenvalues"``.
        seed: the run's seed.
        dtype: ``"float32"`` or ``"float64"``.
    """

    problem: str
    shape: tuple
    model: tuple
    capacity: int
    solver: SolverFamily
    static_param: str | None
    rip: object
    seed: int
    dtype: str

    def outputs(self) -> tuple[str, ...]:
        names = ("error", "status", "num_steps", "residual")
        if self.rip:
            names += ("ratio",)
        if self.rip == "eigenvalues":
            names += ("eig_min", "eig_max")
        return names

    @property
    def nonnegative(self) -> bool:
        return self.model[2]

    def describe(self) -> dict:
        """The spec as JSON-able values (families by name)."""
        shape = self.shape
        if self.problem == "family":
            shape = [shape[0].name, dict(shape[1])]
        family, params, nonnegative, distribution = self.model
        return {
            "problem": self.problem,
            "shape": jsonable(shape),
            "model": [family.name, jsonable(dict(params)), nonnegative, distribution],
            "capacity": self.capacity,
            "solver": self.solver.name,
            "static_param": self.static_param,
            "rip": self.rip,
            "seed": self.seed,
            "dtype": self.dtype,
        }


def build_operator(spec: ProgramSpec, key, fixed_filters=None):
    """The operator ``W`` of one problem (``Φ = Wᵀ``)."""
    dtype = jnp.dtype(spec.dtype)
    if spec.problem == "family":
        family, params = spec.shape
        return family(key, dtype, **dict(params))
    if spec.problem == "matrix":
        kind, m, n = spec.shape
        if kind == "gaussian":
            phi = jr.normal(key, (m, n), dtype)
        else:
            phi = jr.rademacher(key, (m, n), dtype)
        return MatrixOperator(phi / jnp.sqrt(jnp.asarray(m, dtype))).T
    filter_shape, in_channels, out_channels, in_spatial, stride, padding, filters = spec.shape
    if fixed_filters is not None:
        w = jnp.asarray(fixed_filters, dtype)
    else:
        w = FILTERS[filters](key, filter_shape, in_channels, out_channels, dtype)
    return ConvOperator(w, in_spatial, stride, padding)


def build_model(spec: ProgramSpec, k, code_shape):
    """The model of one problem, with its budget ``k`` (traced) and the group's capacity."""
    family, params, nonnegative, _ = spec.model
    return family(
        k, capacity=spec.capacity, nonnegative=nonnegative, code_shape=code_shape, **dict(params)
    )


def solve_problem(spec: ProgramSpec, inputs: dict, fixed_filters=None) -> dict:
    """Generate and solve one problem; ``inputs`` holds scalars (see :data:`INPUTS`)."""
    key = jr.fold_in(jr.fold_in(jr.key(spec.seed), inputs["cell_key"]), inputs["problem"])
    key_operator, key_code = jr.split(key)
    op = build_operator(spec, key_operator, fixed_filters)
    model = build_model(spec, inputs["k"], op.out_shape)
    code = model.sample_sparse(
        key_code, op.out_shape, distribution=spec.model[3], dtype=jnp.dtype(spec.dtype)
    )
    z = code.to_dense()
    x = op.rmv(z)
    param = inputs["param"] if spec.static_param is None else spec.static_param
    solver = spec.solver(param, operator=op, signal=x, model=model)
    # solve prepares the solver itself, on the normalised operator (scale-invariant answers)
    solution = solve(op, x, model, solver, max_steps=inputs["max_steps"], tol=inputs["tol"])
    z_norm, x_norm = scaled_norm(z), scaled_norm(x)  # no underflow of the squares
    error = scaled_norm(solution.z - z) / z_norm
    out = {
        # A problem stopped by non-finite data has no meaningful error: NaN, never hidden.
        "error": jnp.where(solution.status == Status.NONFINITE, jnp.nan, error),
        "status": solution.status,
        "num_steps": solution.num_steps,
        "residual": solution.residual_norm / x_norm,
    }
    if spec.rip:
        out["ratio"] = x_norm / z_norm
    if spec.rip == "eigenvalues":  # G_S of the drawn support; its extremes: support_extremes
        out["gram"] = op.restricted_gram(code.indices, code.mask)
        out["values"], out["mask"] = code.values, code.mask
    return out


def support_extremes(out: dict, nonnegative: bool) -> dict:
    """Replace the restricted Grams of a block's outputs by their extreme Rayleigh quotients
    ``eig_min``, ``eig_max`` (over ``z ≥ 0`` for a non-negative model, as
    :func:`jaxcs.analysis.code_ratios`).

    Computed after the sharded program, on the host (NumPy's LAPACK) or, for a non-negative
    model, by :func:`jaxcs.analysis.orthant_extremes` on one device: XLA's CPU ``eigh`` deadlocked
    inside a program sharded over several simulated CPU devices.
    """
    out = dict(out)
    gram, values, mask = out.pop("gram"), out.pop("values"), out.pop("mask")
    finite = np.all(np.isfinite(gram), axis=(-2, -1)) & np.any(mask, axis=-1)
    gram = np.where(finite[:, None, None], gram, 0)
    if nonnegative:
        low, high = _orthant(gram, np.abs(values), mask)
        low, high = np.asarray(low), np.asarray(high)
    else:
        # Unused slots get a decoupled diagonal entry equal to a used one's: the extremes of
        # the used block are unchanged (as in code_ratios).
        first = np.take_along_axis(
            np.diagonal(gram, axis1=-2, axis2=-1), np.argmax(mask, axis=-1)[:, None], axis=-1
        )
        fill = np.where(mask, 0, first)
        evals = np.linalg.eigvalsh(gram + fill[:, :, None] * np.eye(gram.shape[-1]))
        low, high = evals[:, 0], evals[:, -1]
    out["eig_min"] = np.where(finite, low, np.nan).astype(gram.dtype)
    out["eig_max"] = np.where(finite, high, np.nan).astype(gram.dtype)
    return out


@jax.jit
def _orthant(gram, start, mask):
    return orthant_extremes(gram, start, mask)


def solve_block(spec: ProgramSpec, inputs: dict, fixed_filters=None) -> dict:
    """:func:`solve_problem` over a block of problems (``(B,)`` inputs, ``(B, ...)`` outputs;
    with ``rip="eigenvalues"``, finish with :func:`support_extremes`)."""
    return jax.vmap(lambda one: solve_problem(spec, one, fixed_filters))(inputs)


def problem_elements(spec: ProgramSpec) -> int:
    """A rough count of the array elements one problem keeps alive (to size blocks)."""
    if spec.problem == "matrix":
        _, m, n = spec.shape
        elements, code_shape = m * n + 8 * (m + n), (n,)
    elif spec.problem == "family":
        family, params = spec.shape
        op = family.abstract(params, spec.dtype)
        code_shape = tuple(op.out_shape)
        leaves = jax.tree_util.tree_leaves(op)
        elements = sum(math.prod(leaf.shape) for leaf in leaves if hasattr(leaf, "shape"))
        elements += 8 * (math.prod(op.in_shape) + math.prod(code_shape))
    else:
        filter_shape, in_channels, out_channels, in_spatial, stride, padding = spec.shape[:6]
        code_shape = (*conv_output_shape(in_spatial, filter_shape, stride, padding), out_channels)
        elements = math.prod(filter_shape) * in_channels * out_channels
        elements += 8 * math.prod(in_spatial) * out_channels
    if spec.solver.name in ("HTP", "CoSaMP", "SP") or spec.rip == "eigenvalues":
        slots = build_model(spec, spec.capacity, code_shape).num_slots(code_shape)
        elements += 4 * (2 * slots) ** 2
    return elements


__all__ = ["ProgramSpec", "solve_block", "solve_problem"]
