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
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxcs._validate import PADDINGS
from jaxcs.analysis import SUCCESS_TOLERANCE
from jaxcs.io import read_array
from jaxcs.models import DISTRIBUTIONS, AbstractSparsityModel, default_capacity
from jaxcs.operators import AbstractOperator, conv_output_shape
from jaxcs.sweeps.registry import (
    REQUIRED,
    ModelFamily,
    RegistryError,
    SolverFamily,
    describe,
    is_builtin,
    registered,
    resolve_model,
    resolve_operator,
    resolve_solver,
)
from jaxcs.sweeps.registry import families as registered_families

FILTER_KINDS = ("gaussian", "rademacher", "unit-norm")
MATRIX_KINDS = ("gaussian", "rademacher")
RIP_KINDS = (False, "ratios", "eigenvalues")
DTYPES = ("float32", "float64")

# section -> key -> default (``REQUIRED``: no default). Keys in this table are grid parameters
# (swept or fixed); their result-table column names are in COLUMN. A registered operator family
# or model adds its own keys (its build function's parameters; jaxcs.sweeps.registry).
OPERATOR_KEYS = {
    "filter_shape": REQUIRED,
    "in_channels": REQUIRED,
    "out_channels": REQUIRED,
    "input_shape": REQUIRED,
    "stride": 1,
    "padding": "valid",
    "filters": "gaussian",
}
MATRIX_KEYS = {"kind": "gaussian", "n": REQUIRED, "delta": REQUIRED, "rho": REQUIRED}
MODEL_KEYS = {
    "kind": None,  # "block" for layers, "topk" for matrices and operator families
    "k": None,
    "fraction": None,
    "nonnegative": False,
    "distribution": None,  # "uniform" (the paper) for layers, "normal" otherwise
}
# The keys of every solver, then the built-in solvers' parameters (a registered solver may add
# its own: its parameter's name).
SOLVER_KEYS = {"name": "NIHT", "max_steps": 300, "tol": 1e-6, "step_size": None, "lam": None}
RUN_KEYS = {
    "seeds": REQUIRED,
    "seed": 0,
    "success_tolerance": SUCCESS_TOLERANCE,
    "rip": False,
    "per_problem": False,
    "batch": 0,
    "dtype": "float32",
}
# Step counters are int32 inside the compiled programs (status, num_steps), so a step budget
# must be an int32; beyond it JAX fails at run time with an OverflowError naming no key.
MAX_STEPS = 2**31 - 1
# Problems per cell. The problem number is a 32-bit input of the problem's key, but the bound is
# set by cost: a cell's problems are summarized in host memory at once (and, with
# run.per_problem, written as one row each), 2**24 of them take hours per cell and solver at the
# hundreds to thousands of problems/s that one device solves, and a success rate from 2**24
# problems already has a standard error below 1.3e-4. More problems: several sweeps with
# different run.seed values.
MAX_SEEDS = 2**24
# Parameters that change the problems (keyed into the problems' randomness); solver
# parameters only change how they are solved, so every solver sees the same problems.
COLUMN = {("matrix", "kind"): "matrix", ("model", "kind"): "model"}
SWEEPABLE = {"operator", "matrix", "model", "solver"}


class ConfigError(ValueError):
    """A sweep configuration that cannot run (the message names the key)."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of the grid: every parameter's value, and the values derived from them.

    Attributes:
        index: position in the grid (row order of the result table).
        params: ``{column: value}`` for every grid parameter (swept and fixed), shapes as
            tuples.
        derived: ``k`` (always), ``m`` (matrices), ``out_shape`` (the code shape),
            ``stride`` (layers), ``model_params`` (the model's own parameters, resolved).
        solver_columns: the columns of ``params`` that only say how a problem is solved.
    """

    index: int
    params: dict
    derived: dict
    solver_columns: tuple[str, ...]

    @property
    def k(self) -> int:
        return self.derived["k"]

    def problem_key(self) -> int:
        """A 32-bit id of the problem parameters alone (not the solver's), hashed: a cell's
        problems depend on what it is, never on its position in the grid."""
        problem = {
            name: value for name, value in self.params.items() if name not in self.solver_columns
        }
        text = json.dumps(problem, sort_keys=True, default=list)
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


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


@dataclasses.dataclass(frozen=True, eq=False)
class FiltersFile:
    """Fixed filters from a ``.npy`` file (``operator.filters``), read once when the grid is
    checked: the array every problem of the grid uses (read-only), and the SHA-256 of its
    dtype, shape and bytes. Equal, and hashed, by content: fingerprints and the compiled
    programs' cache key on it, never on the path or its modification time.

    Attributes:
        path: the file, resolved.
        array: the filters ``(*filter_shape, in_channels, out_channels)``.
        sha256: the content hash (hex).
    """

    path: str
    array: np.ndarray
    sha256: str

    def __eq__(self, other) -> bool:
        return isinstance(other, FiltersFile) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)


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
        operator = _resolve(resolve_operator, problem.pop("family"), "operator.family")
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
    solvers = _check_solvers(names)
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
        _resolve(resolve_model, value, "model.kind")
        for value in (kinds if isinstance(kinds, list) else [kinds])
    ]
    families["model"] = {family.name: family for family in model_families}
    model_keys = _model_keys(model_families, model_table)
    sections = {
        problem_table: _section(problem_table, problem, keys),
        "model": _section("model", model_table, model_keys),
        "solver": _section("solver", solver_table, solver_keys, solvers=families["solver"]),
    }
    run = _section("run", config.get("run", {}), RUN_KEYS)
    run = {key: _scalar("run", key, value) for key, value in run.items()}
    run = _check_run(run)
    solver_options = _check_solver_options(solver_options, families["solver"])
    _check_solver_keys(sections["solver"], families["solver"])

    model = sections["model"]
    names = [f.name for f in model_families]
    model["kind"] = names if isinstance(kinds, list) else names[0]
    if model["distribution"] is None:
        model["distribution"] = "uniform" if kind == "conv" else "normal"
    _check_budget_keys(kind, model)
    for key in ("k", "fraction"):
        if model[key] is None:
            model.pop(key)

    axes, fixed, order = {}, {}, []
    for section, values in sections.items():
        for key, value in values.items():
            column = COLUMN.get((section, key), key)
            order.append(column)
            family_key = section == problem_table and kind == "family"
            check = _free_value if family_key else _value
            checked = [check(section, key, v) for v in _as_axis(section, key, value)]
            if isinstance(value, list):
                if len(checked) == 0:
                    raise ConfigError(
                        f"{section}.{key} is an empty list (a swept axis needs values)"
                    )
                if len(set(map(_hashable, checked))) != len(checked):
                    raise ConfigError(f"{section}.{key} repeats a value: {value!r}")
                axes[column] = checked
            else:
                fixed[column] = checked[0]
    solver_columns = tuple(sections["solver"])
    cells = []
    for index, combo in enumerate(itertools.product(*axes.values())):
        params = dict(fixed)
        params.update(zip(axes, combo, strict=True))
        params = {column: params[column] for column in order}
        derived = _derive(kind, params, index, families, run["dtype"])
        cells.append(Cell(index, params, derived, solver_columns))
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
    filters = _filters_files(cells, run["dtype"]) if kind == "conv" else {}
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


def _resolve(resolve, value, key: str):
    try:
        return resolve(value, key)
    except (RegistryError, TypeError) as err:
        raise ConfigError(str(err)) from None


def _model_keys(families: list[ModelFamily], table: Mapping) -> dict:
    """``[model]``'s keys: the common ones, and the parameters of the listed models (placed
    after ``fraction``); a parameter set for a model that no listed kind takes is refused."""
    keys = {}
    for key, default in MODEL_KEYS.items():
        keys[key] = default
        if key == "fraction":
            for family in families:
                for name, value in family.parameters.items():
                    keys.setdefault(name, value)
    for key in table:
        if key not in keys:
            takers = [
                family.name
                for family in registered_families("model").values()
                if key in family.parameters
            ]
            if takers:
                kinds = [f.name for f in families]
                raise ConfigError(
                    f"model.{key} applies to the {_listing(takers)} model only; model.kind "
                    f"is {kinds[0] if len(kinds) == 1 else kinds!r} (remove {key}, or set "
                    f'kind = "{takers[0]}")'
                )
    fixed_sign = {f.name for f in families if f.fixed_sign is not None}
    if fixed_sign and "nonnegative" in table:
        raise ConfigError(
            f"model.nonnegative cannot be set for the model instance(s) {sorted(fixed_sign)}: "
            "an instance keeps its own nonnegative"
        )
    return keys


def _check_budget_keys(kind: str, model: dict) -> None:
    if kind == "matrix":
        for key in ("k", "fraction"):
            if model[key] is not None:
                raise ConfigError(
                    f"[model] {key} is not used with [matrix]: the sparsity is matrix.rho = k/m"
                )
    elif (model["k"] is None) == (model["fraction"] is None):
        raise ConfigError(
            "[model] needs exactly one of k (non-zeros) or fraction; got both or none"
        )


def _plugins(named: dict) -> dict:
    """``{"operator"/"model"/"solver": {name: what it is}}`` for the families that are not
    built in (recorded in the header, and so in the fingerprint)."""
    out = {}
    for what, families in named.items():
        for name, family in families.items():
            if not is_builtin(family):
                out.setdefault(what, {})[name] = describe(family)
    return out


def _section(name: str, table: Mapping, keys: dict, solvers: dict | None = None) -> dict:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        extra = f" or a [solver.NAME] table for {list(solvers)}" if solvers else ""
        raise ConfigError(f"unknown key {name}.{unknown[0]}; allowed: {sorted(keys)}{extra}")
    out = {}
    for key, default in keys.items():
        if key in table:
            out[key] = table[key]
        elif default is REQUIRED:
            raise ConfigError(f"{name}.{key} is required")
        else:
            out[key] = default
    return out


SHAPE_KEYS = ("filter_shape", "input_shape", "stride", "pool_size")


def _as_axis(section, key, value) -> list:
    if isinstance(value, list):
        if section not in SWEEPABLE:
            raise ConfigError(f"{section}.{key} must be a scalar; got a list")
        return value
    return [value]


def _hashable(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def _scalar(section, key, value):
    if isinstance(value, list | dict):
        raise ConfigError(
            f"{section}.{key} must be a scalar (only [{'], ['.join(sorted(SWEEPABLE))}] "
            f"sweep lists); got {value!r}"
        )
    return value


def _int(section, key, value, minimum=1, maximum=None, why="") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{section}.{key} must be an integer >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(
            f"{section}.{key} must be an integer in [{minimum}, {maximum}]{why}; got {value!r}"
        )
    return value


def _number(section, key, value, *, low=0.0, high=math.inf, open_low=True) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(
            f"{section}.{key} must be a number in {bracket}{low:g}, {high:g}]; got {value!r}"
        )
    return float(value)


def _choice(section, key, value, allowed):
    if isinstance(value, bool) or value not in allowed:
        raise ConfigError(f"{section}.{key} must be one of {list(allowed)}; got {value!r}")
    return value


def _shape(section, key, value) -> tuple[int, ...]:
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{section}.{key}: a shape needs at least one size; got []")
        return tuple(_int(section, key, v) for v in value)
    return (_int(section, key, value),)


def _value(section: str, key: str, value):
    """One value of a grid parameter, checked (shapes as tuples)."""
    where = (section, key)
    if key in SHAPE_KEYS:
        return _shape(*where, value)
    if key == "max_steps":
        why = " (2**31 - 1: step counts are int32 in the compiled solvers)"
        return _int(*where, value, maximum=MAX_STEPS, why=why)
    if key in ("in_channels", "out_channels", "n", "k"):
        return _int(*where, value)
    if key == "padding":
        if not isinstance(value, str) or value.lower() not in PADDINGS:
            raise ConfigError(f"{section}.{key} must be one of {list(PADDINGS)}; got {value!r}")
        return value.lower()
    if key == "filters":
        if not isinstance(value, str):
            raise ConfigError(
                f"operator.filters must be one of {list(FILTER_KINDS)} or a .npy file; "
                f"got {value!r}"
            )
        if value in FILTER_KINDS:
            return value
        if not value.endswith(".npy") or not Path(value).is_file():
            raise ConfigError(
                f"operator.filters must be one of {list(FILTER_KINDS)} or an existing .npy file "
                f"of filters (*filter_shape, in_channels, out_channels); got {value!r}"
            )
        return str(Path(value).resolve())
    if section == "matrix" and key == "kind":
        return _choice(*where, value, MATRIX_KINDS)
    if section == "model" and key == "kind":
        return value  # resolved already (a registered name)
    if key == "distribution":
        return _choice(*where, value, DISTRIBUTIONS)
    if key == "nonnegative":
        if not isinstance(value, bool):
            raise ConfigError(f"model.nonnegative must be true or false; got {value!r}")
        return value
    if key in ("delta", "rho", "fraction"):
        return _number(*where, value, high=1.0)
    if key == "tol":
        return _number(*where, value, open_low=False)
    if key == "lam":
        return None if value is None else _number(*where, value)
    if key == "step_size":
        if value is None or value == "auto":
            return value
        return _number(*where, value)
    if section == "solver":  # a registered solver's own parameter
        if value is None or isinstance(value, str):
            return value
        return _number(*where, value, low=-math.inf)
    return _free_value(section, key, value)  # a registered model's own parameter


def _free_value(section: str, key: str, value):
    """A value of a registered family's own parameter: a number, a string or a boolean, or a
    list of them (a shape: ``[[3, 3]]`` sweeps nothing, ``[3, 3]`` sweeps 3 and 3)."""
    if isinstance(value, list | tuple):
        return tuple(_free_value(section, key, v) for v in value)
    if isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ConfigError(
        f"{section}.{key} must be a number, a string, a boolean or a list of them; got {value!r}"
    )


def _check_run(run: dict) -> dict:
    why = (
        " (2**24 problems per cell: a cell's problems are summarized in memory at once and "
        "take hours per cell at that count; for more, run sweeps with other run.seed values)"
    )
    run["seeds"] = _int("run", "seeds", run["seeds"], maximum=MAX_SEEDS, why=why)
    run["seed"] = _int("run", "seed", run["seed"], minimum=0)
    if run["seed"] >= 2**32:
        raise ConfigError(f"run.seed must be < 2**32; got {run['seed']}")
    run["success_tolerance"] = _number("run", "success_tolerance", run["success_tolerance"])
    if run["rip"] is True:
        run["rip"] = "ratios"
    if run["rip"] not in RIP_KINDS:  # False is a choice here: not _choice
        raise ConfigError(f"run.rip must be one of {list(RIP_KINDS)}; got {run['rip']!r}")
    if not isinstance(run["per_problem"], bool):
        raise ConfigError(f"run.per_problem must be true or false; got {run['per_problem']!r}")
    run["batch"] = _int("run", "batch", run["batch"], minimum=0)
    _choice("run", "dtype", run["dtype"], DTYPES)
    return run


def _check_solvers(names) -> list[tuple[str, SolverFamily]]:
    """``(name, family)`` per listed solver: registered names (any case), solver instances
    (named by their class) or a mapping ``{name: instance or registered name}``."""
    if isinstance(names, Mapping):
        items = [(label, value) for label, value in names.items()]
    else:
        items = [(None, value) for value in (names if isinstance(names, list) else [names])]
    if not items:
        raise ConfigError(f"solver.name needs at least one of {list(registered()['solver'])}")
    resolved = []
    for label, value in items:
        try:
            family = resolve_solver(value, "solver.name", label)
        except RegistryError as err:
            raise ConfigError(str(err)) from None
        name = label or family.name
        if not isinstance(name, str) or not name:
            raise ConfigError(f"solver.name: a solver's name must be a string; got {name!r}")
        resolved.append((name, family))
    labels = [name.lower() for name, _ in resolved]
    if len(set(labels)) != len(labels):
        raise ConfigError(
            f"solver.name repeats a solver name: {[name for name, _ in resolved]} (name them "
            "apart: solver.name = {'label': solver, ...})"
        )
    return resolved


def _check_solver_keys(table: Mapping, solvers: dict) -> None:
    """A solver parameter set in ``[solver]`` must apply to one of the listed solvers (NIHT and
    CoSaMP choose their own steps; only FISTA has a ``lam``)."""
    for key, value in table.items():
        if key in ("max_steps", "tol") or value is None:
            continue
        users = [name for name, family in solvers.items() if family.parameter == key]
        if not users:
            takers = [f.name for f in registered_families("solver").values() if f.parameter == key]
            raise ConfigError(
                f"solver.{key} applies to {_listing(takers) or 'no listed solver'} only; "
                f"solver.name is {list(solvers)}, which do not use it (remove solver.{key})"
            )


def _listing(names: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]])) if names else ""


def _check_solver_options(options: dict, solvers: dict) -> dict:
    out = {}
    by_case = {name.lower(): name for name in solvers}
    for given, table in options.items():
        name = by_case.get(given.lower())
        if name is None:
            raise ConfigError(f"[solver.{given}] is given but solver.name does not list {given!r}")
        parameter = solvers[name].parameter
        allowed = [] if parameter is None else [parameter]
        for key, value in table.items():
            if key not in allowed:
                raise ConfigError(
                    f"unknown key solver.{given}.{key}; {name} takes {allowed or 'none'}"
                )
            out.setdefault(name, {})[key] = _value("solver", key, _scalar("solver", key, value))
    return out


def _derive(kind: str, params: dict, index: int, families: dict, dtype: str) -> dict:
    """A cell's derived values, and the checks that need the whole cell: its code shape (from
    the layer's geometry, ``n``, or the operator family built abstractly) and its model with
    the cell's ``k`` on that shape."""
    where = f"cell {index} ({_describe(params)})"
    derived = {}
    if kind == "matrix":
        n = params["n"]
        m = max(1, round(params["delta"] * n))
        k = max(1, round(params["rho"] * m))
        if k > n:
            raise ConfigError(f"{where}: k = rho·m = {k} exceeds n = {n}")
        code_shape = (n,)
        derived["m"] = m
    else:
        if kind == "conv":
            code_shape, derived["stride"] = _layer_code_shape(params, where)
        else:
            code_shape = _family_code_shape(families["operator"], params, dtype, where)
        if "k" in params:
            k = params["k"]
        else:
            k = max(1, round(params["fraction"] * math.prod(code_shape)))
    family = families["model"][params["model"]]
    own = tuple((name, params[name]) for name in family.parameters)
    try:
        model = family(
            k,
            capacity=default_capacity(k),
            nonnegative=params["nonnegative"],
            code_shape=code_shape,
            **dict(own),
        )
        if not isinstance(model, AbstractSparsityModel):
            raise TypeError(
                f"model {family.name!r} must build a jaxcs.AbstractSparsityModel; got "
                f"{type(model).__name__}"
            )
        model.check_code_shape(code_shape)
        largest = model.max_budget(code_shape)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: model.kind = {family.name!r}: {err}") from None
    if k > largest:  # a model of one's own may not check its budget itself
        raise ConfigError(
            f"{where}: model.kind = {family.name!r}: k={k} is out of range: at most {largest} on "
            f"codes of shape {code_shape}"
        )
    derived.update(k=k, out_shape=code_shape, model_params=own, nonnegative=model.nonnegative)
    return derived


def _layer_code_shape(params: dict, where: str):
    """A layer cell's code shape ``(*spatial, K)`` and its stride (one entry per axis)."""
    fs, D, stride = params["filter_shape"], params["input_shape"], params["stride"]
    if len(D) != len(fs):
        raise ConfigError(
            f"{where}: operator.input_shape {D} and operator.filter_shape {fs} must have the "
            "same number of axes"
        )
    if len(stride) == 1:
        stride = stride * len(D)
    if len(stride) != len(D):
        raise ConfigError(f"{where}: operator.stride {stride} must have 1 or {len(D)} entries")
    try:
        spatial = conv_output_shape(D, fs, stride, params["padding"])
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    return tuple(spatial) + (params["out_channels"],), stride


def _family_code_shape(named: dict, params: dict, dtype: str, where: str) -> tuple[int, ...]:
    """The code shape of an operator family's cell, from its operator built abstractly
    (:func:`jax.eval_shape`: nothing is computed)."""
    (family,) = named.values()
    own = tuple((name, params[name]) for name in family.parameters)
    try:
        op = family.abstract(own, dtype)
    except Exception as err:  # the user's factory: any error, named with the cell
        raise ConfigError(
            f"{where}: operator family {family.name!r} cannot build this cell's operator: "
            f"{type(err).__name__}: {err}"
        ) from None
    if not isinstance(op, AbstractOperator):
        raise ConfigError(
            f"{where}: operator family {family.name!r} must build a jaxcs.AbstractOperator; "
            f"got {type(op).__name__}"
        )
    shapes = {"in_shape": tuple(op.in_shape), "out_shape": tuple(op.out_shape)}
    for name, shape in shapes.items():
        if not shape or any(not isinstance(n, int | np.integer) or n < 1 for n in shape):
            raise ConfigError(
                f"{where}: operator family {family.name!r} builds an operator whose {name} is "
                f"{shape}; sizes must be positive integers"
            )
    return shapes["out_shape"]


def _filters_files(cells, dtype: str) -> dict:
    """Read every ``operator.filters`` file once and check it against each cell that uses it:
    shape ``(*filter_shape, in_channels, out_channels)``, floating point, finite in
    ``run.dtype``. Before anything runs: a file of the wrong shape would otherwise run, and
    the table report the config's shapes and check ``k`` against the config's K."""
    files = {}
    for cell in cells:
        path = cell.params["filters"]
        if path in FILTER_KINDS:
            continue
        if path not in files:
            files[path] = _read_filters(path, dtype)
        p = cell.params
        expected = (*p["filter_shape"], p["in_channels"], p["out_channels"])
        actual = files[path].array.shape
        if actual != expected:
            raise ConfigError(
                f"operator.filters file {path!r} holds filters of shape {actual}; cell "
                f"{cell.index} needs (*filter_shape, in_channels, out_channels) = {expected} "
                f"(operator.filter_shape = {list(p['filter_shape'])}, operator.in_channels = "
                f"{p['in_channels']}, operator.out_channels = {p['out_channels']})"
            )
    return files


def _read_filters(path: str, dtype: str) -> FiltersFile:
    where = f"operator.filters file {path!r}"
    try:  # the user-file reader of jaxcs.data: never unpickles, names what a file is not
        array = read_array(Path(path), "filters")
    except OSError as err:
        raise ConfigError(f"{where} cannot be read: {err}") from None
    except ValueError as err:  # "PATH: what is wrong"
        reason = str(err).removeprefix(f"{Path(path)}: ")
        raise ConfigError(f"{where}: {reason}") from None
    if not np.issubdtype(array.dtype, np.floating):
        raise ConfigError(
            f"{where} holds {array.dtype} values; filters must be floating point (float32 or "
            "float64)"
        )
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ConfigError(f"{where} holds {bad} non-finite values (NaN or ±inf)")
    largest = float(np.max(np.abs(array))) if array.size else 0.0
    if largest > float(np.finfo(dtype).max):
        raise ConfigError(
            f"{where} holds values up to {largest:.3g}, beyond run.dtype = {dtype!r} (they "
            "would be ±inf there)"
        )
    array = np.ascontiguousarray(array)
    array.flags.writeable = False  # the array the fingerprint describes stays that array
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return FiltersFile(path, array, digest.hexdigest())


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={jsonable(v)}" for k, v in params.items())


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, recursively (for JSON headers)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value


def solver_parameter(config: SweepConfig, cell: Cell, solver: str):
    """The parameter ``solver`` runs with in ``cell`` (``step_size`` of IHT/HTP, ``lam`` of
    FISTA, a registered solver's own; ``None`` for a solver without one): ``[solver.NAME]``,
    else ``[solver]``, else the solver's default."""
    family = config.families["solver"][solver]
    key = family.parameter
    if key is None:
        return None
    value = config.solver_options.get(solver, {}).get(key, cell.params.get(key))
    return family.default if value is None else value


__all__ = ["Cell", "ConfigError", "SweepConfig", "load_config"]
