"""A checked grid resolved once into what runs: groups of cells that share one compiled program,
each with its static spec and its cells' dynamic inputs, and the block size.

Cells that share their static shapes (layer or matrix sizes, model and solver) form a group, one
per solver; a group is one compiled program, ``vmap``-ed over its problems, whose dynamic inputs
are the cell (its problem key), the problem number, ``k``, the step budget ``max_steps``,
``tol`` and the solver's parameter (step size or ``λ``). Each cell's solver parameter is resolved
here, once (``[solver.NAME]``, else ``[solver]``, else the solver's default); the run and the
table read it from the group.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from jaxcs.models import default_capacity
from jaxcs.sweeps.cells import Cell
from jaxcs.sweeps.config import SweepConfig
from jaxcs.sweeps.filters_file import FiltersFile
from jaxcs.sweeps.problems import ProgramSpec, problem_elements

# Block sizing per backend: on CPU small blocks were fastest (a vmapped while loop runs until
# its slowest problem, and small blocks stay in cache: 615 / 483 / 384 problems/s for blocks
# of 8 / 32 / 128 on a Gaussian grid, 2 cores); accelerators want wide batches.
BLOCK_BUDGET = {"cpu": 2**24}  # array elements alive per block (64 MiB in float32)
MAX_BLOCK = {"cpu": 32}
ACCELERATOR_BUDGET, ACCELERATOR_MAX_BLOCK = 2**27, 1024
MIN_BLOCKS = 8  # blocks of the largest group: up to this many devices stay busy


@dataclasses.dataclass(frozen=True)
class Group:
    """Cells that run as one compiled program (one solver, one static shape).

    Attributes:
        index: position among the groups.
        solver: the solver's name in the grid (``solver.name``).
        spec: the static configuration of the program (operator and model families with their
            parameters, capacity, the solver's family, seed, dtype).
        cells: the group's cells, in grid order.
        inputs: per cell, the dynamic inputs ``cell_key``, ``k``, ``max_steps``, ``tol``,
            ``param``.
        filters: the fixed filters of an ``operator.filters`` file
            (:class:`~jaxcs.sweeps.filters_file.FiltersFile`, read when the grid was checked),
            or ``None``.
        parameters: per cell, the value of the solver's parameter
            (``spec.solver.parameter``) it runs with, as the grid gives it (``None`` for a
            solver without one).
    """

    index: int
    solver: str
    spec: ProgramSpec
    cells: tuple
    inputs: dict
    filters: FiltersFile | None
    parameters: tuple

    @property
    def parameter(self) -> str | None:
        """The name of the solver's parameter (``step_size``, ``lam``, …), or ``None``."""
        return self.spec.solver.parameter

    def num_problems(self, per_cell: int) -> int:
        return len(self.cells) * per_cell


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """Everything a run reads, computed once from a checked grid (:func:`plan_sweep`).

    Attributes:
        config: the checked grid (its record, cells and ``[run]`` settings).
        groups: its :class:`Group` s, in order.
        batch: problems per block (:func:`block_size`).
        fingerprint: :meth:`SweepConfig.fingerprint <jaxcs.sweeps.SweepConfig.fingerprint>`.
        per_cell: problems per cell (``run.seeds``).
        solver_columns: the table's columns of solver settings
            (:attr:`SweepConfig.solver_columns <jaxcs.sweeps.SweepConfig.solver_columns>`).
    """

    config: SweepConfig
    groups: tuple[Group, ...]
    batch: int
    fingerprint: str
    per_cell: int
    solver_columns: tuple[str, ...]

    def num_blocks(self, group: Group) -> int:
        return -(-group.num_problems(self.per_cell) // self.batch)


def plan_sweep(config: SweepConfig) -> SweepPlan:
    """The grid's groups, block size and fingerprint."""
    groups = plan(config)
    return SweepPlan(
        config,
        tuple(groups),
        block_size(config, groups),
        config.fingerprint(),
        config.problems_per_cell,
        config.solver_columns,
    )


def plan(config: SweepConfig) -> list[Group]:
    """Split the grid into groups of cells that share one compiled program."""
    members: dict[tuple, list[tuple[Cell, object]]] = {}
    for cell in config.cells:
        shape, model = _shape(config, cell), _model(config, cell)
        for solver in config.solvers:
            param = _solver_parameter(config, cell, solver)
            static = param if isinstance(param, str) else None  # a string (IHT's "auto")
            members.setdefault((solver, shape, model, static), []).append((cell, param))
    groups = []
    for index, ((solver, shape, model, static), pairs) in enumerate(members.items()):
        cells = tuple(cell for cell, _ in pairs)
        params = tuple(param for _, param in pairs)
        spec = ProgramSpec(
            problem=config.problem,
            shape=shape,
            model=model,
            capacity=default_capacity(max(c.k for c in cells)),
            solver=config.families["solver"][solver],
            static_param=static,
            rip=config.run["rip"],
            seed=config.run["seed"],
            dtype=config.run["dtype"],
        )
        inputs = {
            "cell_key": np.array([c.problem_key() for c in cells], np.uint32),
            "k": np.array([c.k for c in cells], np.int32),
            "max_steps": np.array([c.params["max_steps"] for c in cells], np.int32),
            "tol": np.array([c.params["tol"] for c in cells], np.float64),
            "param": np.array([_dynamic(p) for p in params], np.float64),
        }
        filters = config.filters.get(cells[0].params.get("filters"))
        groups.append(Group(index, solver, spec, cells, inputs, filters, params))
    return groups


def _solver_parameter(config: SweepConfig, cell: Cell, solver: str):
    """The parameter ``solver`` runs with in ``cell`` (``step_size`` of IHT/HTP, ``lam`` of
    FISTA, a registered solver's own; ``None`` for a solver without one): ``[solver.NAME]``,
    else ``[solver]``, else the solver's default."""
    family = config.families["solver"][solver]
    key = family.parameter
    if key is None:
        return None
    value = config.solver_options.get(solver, {}).get(key, cell.params.get(key))
    return family.default if value is None else value


def _dynamic(param) -> float:
    """A solver parameter as the program's input (a static one, or none: 0)."""
    return 0.0 if param is None or isinstance(param, str) else float(param)


def _shape(config, cell) -> tuple:
    p = cell.params
    if config.problem == "matrix":
        return (p["matrix"], cell.derived["m"], p["n"])
    if config.problem == "family":
        (family,) = config.families["operator"].values()
        return (family, tuple((name, p[name]) for name in family.parameters))
    return (
        p["filter_shape"],
        p["in_channels"],
        p["out_channels"],
        p["in_spatial"],
        cell.derived["stride"],
        p["padding"],
        p["filters"],
    )


def _model(config, cell) -> tuple:
    p, d = cell.params, cell.derived
    family = config.families["model"][p["model"]]
    return (family, d["model_params"], d["nonnegative"], p["distribution"])


def block_size(config: SweepConfig, groups: list[Group]) -> int:
    """Problems per block: ``run.batch``, else the largest power of two (≤ 32 on CPU, ≤ 1024 on
    GPU/TPU) whose arrays fit the block budget and that cuts the largest group into at least 8
    blocks (so that up to 8 devices share it; for more, set ``run.batch``). A function of the
    grid and the backend, never of the device count: that is what makes tables identical
    across device and process counts."""
    if config.run["batch"]:
        return config.run["batch"]
    backend = jax.default_backend()
    budget = BLOCK_BUDGET.get(backend, ACCELERATOR_BUDGET)
    cap = MAX_BLOCK.get(backend, ACCELERATOR_MAX_BLOCK)
    elements = max(problem_elements(g.spec) for g in groups)
    largest = max(g.num_problems(config.problems_per_cell) for g in groups)
    size = max(1, min(cap, budget // elements, -(-largest // MIN_BLOCKS)))
    return 1 << (size.bit_length() - 1)


__all__ = ["Group", "SweepPlan", "plan", "plan_sweep"]
