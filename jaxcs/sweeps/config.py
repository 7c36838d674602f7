"""Sweep grids: a TOML file or a Python dict, checked in full before anything runs.

A grid has one problem table, ``[operator]`` (convolutional layers ``x = Wᵀ z``) or ``[matrix]``
(classical compressive sensing ``y = Φ z``), and the tables ``[model]``, ``[solver]`` and
``[run]``. In the problem, model and solver tables a **list is a swept axis** and a scalar is
fixed; the grid's cells are the product of the axes, in the order they are written. Shapes
follow the same rule: ``filter_shape = 5`` is the 1-D shape ``(5,)``, ``filter_shape = [3, 5]``
sweeps the 1-D shapes ``(3,)`` and ``(5,)``, ``filter_shape = [[3, 3]]`` is one 2-D shape.

``[solver] name`` lists the solvers; every solver runs on every cell (one result row per cell
and solver) and on the *same* problems. ``[solver.NAME]`` tables set scalars for one solver.

Every error names the key (``section.key``) and what it allows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

from jaxcs.sweeps.cells import Cell, derive_cell
from jaxcs.sweeps.config_sections import (
    COLUMN,
    MATRIX_KEYS,
    OPERATOR_KEYS,
    RUN_KEYS,
    SOLVER_KEYS,
    check_budget_keys,
    check_run,
    check_section,
    check_solver_keys,
    check_solver_options,
    check_solvers,
    model_section_keys,
    resolve_family,
)
from jaxcs.sweeps.config_values import (
    ConfigError,
    as_axis,
    check_free_value,
    check_scalar,
    check_value,
    hashable,
    jsonable,
)
from jaxcs.sweeps.filters_file import filters_files
from jaxcs.sweeps.registry import describe, is_builtin, resolve_model, resolve_operator


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A checked grid (build it with :func:`load_config`).

    Attributes:
        problem: ``"conv"`` (``[operator]``, a layer), ``"matrix"`` or ``"family"``
            (``[operator] family = …``, a registered or given operator family).
        solvers: the solver names, in order.
        solver_options: ``{solver: {key: value}}`` from the ``[solver.NAME]`` tables.
        axes: ``{column: values}`` of the swept parameters, in order.
        cells: every :class:`Cell`.
        run: the ``[run]`` settings.
        source: the configuration as given, normalized (JSON-able; written to the header).
        filters: ``{path: FiltersFile}`` for every ``operator.filters`` file, loaded and
            checked once (the arrays the problems use).
        families: what the names stand for (:mod:`jaxcs.sweeps.registry`): ``"solver"``
            ``{name: SolverFamily}``, ``"model"`` ``{name: ModelFamily}`` and, for
            ``"family"`` problems, ``"operator"`` ``{name: OperatorFamily}``.
    """

    problem: str
    solvers: tuple[str, ...]
    solver_options: dict
    axes: dict
    cells: tuple[Cell, ...]
    run: dict
    source: dict
    filters: dict = dataclasses.field(default_factory=dict)
    families: dict = dataclasses.field(default_factory=dict)

    @property
    def solver_columns(self) -> tuple[str, ...]:
        """The table's columns of solver settings: ``max_steps``, ``tol`` and every listed
        solver's parameter (``step_size``, ``lam``, a registered solver's own)."""
        return self.cells[0].solver_columns

    @property
    def problems_per_cell(self) -> int:
        return self.run["seeds"]

    def fingerprint(self) -> str:
        """A hash of everything that decides the results (a resumed run must match it): the
        grid, and the *contents* of its filters files (a path alone would let an edited file
        pass for the one earlier results were computed with)."""
        text = json.dumps(self.source, sort_keys=True)
        if self.filters:  # absent for random filters: their grids keep their fingerprints
            text += json.dumps({p: f.sha256 for p, f in self.filters.items()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_config(config) -> SweepConfig:
    """Parse and check a sweep grid.

    Args:
        config: a path to a TOML file, a TOML string, a mapping (the TOML's tables as dicts),
            or a :class:`SweepConfig` (returned as is).

    Raises:
        ConfigError: naming the key and what it allows, for an unknown table or key, a value of
            the wrong type or range, or a cell that cannot be built (e.g. ``k`` beyond the
            number of regions).
    """
    if isinstance(config, SweepConfig):
        return config
    if isinstance(config, Path) or (isinstance(config, str) and "\n" not in config):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        with open(path, "rb") as f:
            try:
                config = tomllib.load(f)
            except tomllib.TOMLDecodeError as err:
                raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    elif isinstance(config, str):
        try:
            config = tomllib.loads(config)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config is not valid TOML: {err}") from None
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a TOML path, a TOML string or a dict; got {config!r}")
    return _parse(dict(config))


def _parse(config: dict) -> SweepConfig:
    tables = set(config)
    problems = sorted(tables & {"operator", "matrix"})
    if len(problems) != 1:
        raise ConfigError(
            "config needs exactly one problem table, [operator] (convolutional layers, or "
            "family = NAME: an operator family of your own) or [matrix] (classical compressive "
            f"sensing); got {problems or 'neither'}"
        )
    problem_table = problems[0]
    allowed = {problem_table, "model", "solver", "run"}
    unknown = sorted(tables - allowed)
    if unknown:
        raise ConfigError(f"unknown table [{unknown[0]}]; allowed: {sorted(allowed)}")
    for name in allowed:
        if name in config and not isinstance(config[name], Mapping):
            raise ConfigError(f"[{name}] must be a table; got {config[name]!r}")
    families = {"solver": {}, "model": {}}
    problem = dict(config[problem_table])
    kind, keys = ("matrix", MATRIX_KEYS) if problem_table == "matrix" else ("conv", OPERATOR_KEYS)
    if problem.get("family", "conv") != "conv":
        operator = resolve_family(resolve_operator, problem.pop("family"), "operator.family")
        families["operator"] = {operator.name: operator}
        kind, keys = "family", operator.parameters
    else:
        problem.pop("family", None)

    solver_table = dict(config.get("solver", {}))
    # [solver.NAME] tables: the dict-valued keys of [solver]
    solver_options = {
        name: solver_table.pop(name)
        for name in list(solver_table)
        if name != "name" and isinstance(solver_table[name], Mapping)
    }
    names = solver_table.pop("name", SOLVER_KEYS["name"])
    solvers = check_solvers(names)
    families["solver"] = dict(solvers)
    solver_keys = dict(SOLVER_KEYS)
    solver_keys.pop("name")
    for family in families["solver"].values():
        if family.parameter is not None:
            solver_keys.setdefault(family.parameter, None)
    model_table = dict(config.get("model", {}))
    kinds = model_table.get("kind")
    if kinds is None:
        kinds = "block" if kind == "conv" else "topk"
    model_families = [
        resolve_family(resolve_model, value, "model.kind")
        for value in (kinds if isinstance(kinds, list) else [kinds])
    ]
    families["model"] = {family.name: family for family in model_families}
    model_keys = model_section_keys(model_families, model_table)
    sections = {
        problem_table: check_section(problem_table, problem, keys),
        "model": check_section("model", model_table, model_keys),
        "solver": check_section("solver", solver_table, solver_keys, solvers=families["solver"]),
    }
    run = check_section("run", config.get("run", {}), RUN_KEYS)
    run = {key: check_scalar("run", key, value) for key, value in run.items()}
    run = check_run(run)
    solver_options = check_solver_options(solver_options, families["solver"])
    check_solver_keys(sections["solver"], families["solver"])

    model = sections["model"]
    names = [f.name for f in model_families]
    model["kind"] = names if isinstance(kinds, list) else names[0]
    if model["distribution"] is None:
        model["distribution"] = "uniform" if kind == "conv" else "normal"
    check_budget_keys(kind, model)
    for key in ("k", "fraction"):
        if model[key] is None:
            model.pop(key)

    axes, fixed, order = _axes(sections, problem_table, kind)
    cells = _cells(axes, fixed, order, kind, families, run["dtype"], tuple(sections["solver"]))
    source = {
        "problem": kind,
        problem_table: jsonable(sections[problem_table]),
        "model": jsonable(model),
        "solver": jsonable(sections["solver"]) | {"name": list(families["solver"])},
        "solver_options": solver_options,
        "run": run,
    }
    plugins = _plugins(families)
    if plugins:  # absent for built-in names: their grids keep their fingerprints
        source["plugins"] = plugins
    filters = filters_files(cells, run["dtype"]) if kind == "conv" else {}
    return SweepConfig(
        kind,
        tuple(families["solver"]),
        solver_options,
        axes,
        tuple(cells),
        run,
        source,
        filters,
        families,
    )


def _axes(sections: dict, problem_table: str, kind: str) -> tuple[dict, dict, list]:
    """Every grid parameter's values checked: ``(axes, fixed, order)``, the swept ones
    ``{column: values}``, the fixed ones ``{column: value}`` and every column in order."""
    axes, fixed, order = {}, {}, []
    for section, values in sections.items():
        for key, value in values.items():
            column = COLUMN.get((section, key), key)
            order.append(column)
            family_key = section == problem_table and kind == "family"
            check = check_free_value if family_key else check_value
            checked = [check(section, key, v) for v in as_axis(section, key, value)]
            if isinstance(value, list):
                if len(checked) == 0:
                    raise ConfigError(
                        f"{section}.{key} is an empty list (a swept axis needs values)"
                    )
                if len(set(map(hashable, checked))) != len(checked):
                    raise ConfigError(f"{section}.{key} repeats a value: {value!r}")
                axes[column] = checked
            else:
                fixed[column] = checked[0]
    return axes, fixed, order


def _cells(axes, fixed, order, kind, families, dtype, solver_columns) -> list[Cell]:
    """The product of the axes, in the order they are written, each cell derived and checked."""
    cells = []
    for index, combo in enumerate(itertools.product(*axes.values())):
        params = dict(fixed)
        params.update(zip(axes, combo, strict=True))
        params = {column: params[column] for column in order}
        derived = derive_cell(kind, params, index, families, dtype)
        cells.append(Cell(index, params, derived, solver_columns))
    return cells


def _plugins(named: dict) -> dict:
    """``{"operator"/"model"/"solver": {name: what it is}}`` for the families that are not
    built in (recorded in the header, and so in the fingerprint)."""
    out = {}
    for what, families in named.items():
        for name, family in families.items():
            if not is_builtin(family):
                out.setdefault(what, {})[name] = describe(family)
    return out
