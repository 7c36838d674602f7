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
import difflib
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jaxcs._validate import PADDINGS, check_pool_size
from jaxcs.analysis import SUCCESS_TOLERANCE
from jaxcs.data import read_array
from jaxcs.models import DISTRIBUTIONS, BlockModel, PoolingModel, TopKModel
from jaxcs.operators import conv_output_shape

SOLVERS = ("IHT", "NIHT", "HTP", "CoSaMP", "FISTA")
FILTER_KINDS = ("gaussian", "rademacher", "unit-norm")
MATRIX_KINDS = ("gaussian", "rademacher")
MODEL_KINDS = ("block", "pooling", "topk")
RIP_KINDS = (False, "ratios", "eigenvalues")
DTYPES = ("float32", "float64")

# section -> key -> default (``REQUIRED``: no default). Keys in this table are grid parameters
# (swept or fixed); their result-table column names are in COLUMN.
REQUIRED = object()
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
    "kind": None,  # "block" for layers, "topk" for matrices
    "k": None,
    "fraction": None,
    "pool_size": 2,
    "nonnegative": False,
    "distribution": None,  # "uniform" (the paper) for layers, "normal" for matrices
}
SOLVER_KEYS = {"name": "NIHT", "max_steps": 300, "tol": 1e-6, "step_size": None, "lam": None}
# Each solver's parameter when neither [solver] nor [solver.NAME] sets it: IHT's safe step
# 1/‖Φ‖₂² (power iteration), HTP's unit step (Foucart 2011), FISTA's λ = 10⁻³ λ_max.
SOLVER_DEFAULTS = {"IHT": "auto", "HTP": 1.0, "FISTA": 1e-3}
RUN_KEYS = {
    "seeds": REQUIRED,
    "seed": 0,
    "success_tolerance": SUCCESS_TOLERANCE,
    "rip": False,
    "per_problem": False,
    "batch": 0,
    "dtype": "float32",
}
# The solver keys each solver takes (the others apply to none of them and are ignored for it).
SOLVER_PARAMETERS = {
    "IHT": ("step_size",),
    "NIHT": (),
    "HTP": ("step_size",),
    "CoSaMP": (),
    "FISTA": ("lam",),
}
# The solvers each solver-table key applies to (max_steps and tol apply to every solver). A key
# set in [solver] that no listed solver uses is refused rather than silently ignored.
SOLVER_KEY_USERS = {
    key: tuple(name for name, keys in SOLVER_PARAMETERS.items() if key in keys)
    for key in ("step_size", "lam")
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
        derived: ``k`` (always), ``m`` (matrices), ``out_shape`` (the code shape).
    """

    index: int
    params: dict
    derived: dict

    @property
    def k(self) -> int:
        return self.derived["k"]

    def problem_key(self) -> int:
        """A 32-bit id of the problem parameters alone (not the solver's), hashed: a cell's
        problems depend on what it is, never on its position in the grid."""
        problem = {name: value for name, value in self.params.items() if name not in SOLVER_COLUMNS}
        text = json.dumps(problem, sort_keys=True, default=list)
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


SOLVER_COLUMNS = ("max_steps", "tol", "step_size", "lam")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A checked grid (build it with :func:`load_config`).

    Attributes:
        problem: ``"conv"`` or ``"matrix"``.
        solvers: the solver names, in order.
        solver_options: ``{solver: {key: value}}`` from the ``[solver.NAME]`` tables.
        axes: ``{column: values}`` of the swept parameters, in order.
        cells: every :class:`Cell`.
        run: the ``[run]`` settings.
        source: the configuration as given, normalized (JSON-able; written to the header).
        filters: ``{path: FiltersFile}`` for every ``operator.filters`` file, loaded and
            checked once (the arrays the problems use).
    """

    problem: str
    solvers: tuple[str, ...]
    solver_options: dict
    axes: dict
    cells: tuple[Cell, ...]
    run: dict
    source: dict
    filters: dict = dataclasses.field(default_factory=dict)

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
            "config needs exactly one problem table, [operator] (convolutional layers) or "
            f"[matrix] (classical compressive sensing); got {problems or 'neither'}"
        )
    problem_table = problems[0]
    allowed = {problem_table, "model", "solver", "run"}
    unknown = sorted(tables - allowed)
    if unknown:
        raise ConfigError(f"unknown table [{unknown[0]}]; allowed: {sorted(allowed)}")
    for name in allowed:
        if name in config and not isinstance(config[name], Mapping):
            raise ConfigError(f"[{name}] must be a table; got {config[name]!r}")
    kind = "conv" if problem_table == "operator" else "matrix"
    solver_table = dict(config.get("solver", {}))
    solver_options = {
        name: solver_table.pop(name) for name in list(solver_table) if name in SOLVERS
    }
    keys = OPERATOR_KEYS if kind == "conv" else MATRIX_KEYS
    sections = {
        problem_table: _section(problem_table, config[problem_table], keys),
        "model": _section("model", config.get("model", {}), MODEL_KEYS),
        "solver": _section("solver", solver_table, SOLVER_KEYS),
    }
    run = _section("run", config.get("run", {}), RUN_KEYS)
    run = {key: _scalar("run", key, value) for key, value in run.items()}
    run = _check_run(run)
    names = sections["solver"].pop("name")
    solvers = _check_solvers(names)
    solver_options = _check_solver_options(solver_options, solvers)
    _check_solver_keys(solver_table, solvers)

    model = sections["model"]
    if model["kind"] is None:
        model["kind"] = "block" if kind == "conv" else "topk"
    if model["distribution"] is None:
        model["distribution"] = "uniform" if kind == "conv" else "normal"
    if (model["k"] is None) == (model["fraction"] is None) and kind == "conv":
        raise ConfigError(
            "[model] needs exactly one of k (non-zeros) or fraction; got both or none"
        )
    if kind == "matrix":
        for key in ("k", "fraction"):
            if model[key] is not None:
                raise ConfigError(
                    f"[model] {key} is not used with [matrix]: the sparsity is matrix.rho = k/m"
                )
        if model["kind"] != "topk":
            raise ConfigError(f"model.kind must be 'topk' with [matrix]; got {model['kind']!r}")
    kinds = model["kind"] if isinstance(model["kind"], list) else [model["kind"]]
    if "pooling" not in kinds:
        if "pool_size" in config.get("model", {}):
            raise ConfigError(
                f"model.pool_size applies to the pooling model only; model.kind is "
                f'{model["kind"]!r} (remove pool_size, or set kind = "pooling")'
            )
        model.pop("pool_size")
    for key in ("k", "fraction"):
        if model[key] is None:
            model.pop(key)

    axes, fixed, order = {}, {}, []
    for section, values in sections.items():
        for key, value in values.items():
            column = COLUMN.get((section, key), key)
            order.append(column)
            checked = [_value(section, key, v) for v in _as_axis(section, key, value)]
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
    cells = []
    for index, combo in enumerate(itertools.product(*axes.values())):
        params = dict(fixed)
        params.update(zip(axes, combo, strict=True))
        params = {column: params[column] for column in order}
        cells.append(Cell(index, params, _derive(kind, params, index)))
    source = {
        "problem": kind,
        problem_table: jsonable(sections[problem_table]),
        "model": jsonable(model),
        "solver": jsonable(sections["solver"]) | {"name": list(solvers)},
        "solver_options": solver_options,
        "run": run,
    }
    filters = _filters_files(cells, run["dtype"]) if kind == "conv" else {}
    return SweepConfig(kind, solvers, solver_options, axes, tuple(cells), run, source, filters)


def _section(name: str, table: Mapping, keys: dict) -> dict:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        extra = f" or a [solver.NAME] table for {list(SOLVERS)}" if name == "solver" else ""
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
        return _choice(*where, value, MODEL_KINDS)
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
    raise AssertionError(f"no check for {section}.{key}")  # pragma: no cover


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


def _check_solvers(names) -> tuple[str, ...]:
    names = names if isinstance(names, list) else [names]
    if not names:
        raise ConfigError(f"solver.name needs at least one of {list(SOLVERS)}")
    canonical = {name.lower(): name for name in SOLVERS}
    resolved = []
    for name in names:
        if not isinstance(name, str) or name.lower() not in canonical:
            close = difflib.get_close_matches(str(name), SOLVERS, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"solver.name must be among {list(SOLVERS)}; got {name!r}{hint}")
        resolved.append(canonical[name.lower()])  # names are case-insensitive: 'niht' is NIHT
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"solver.name repeats a solver: {names}")
    return tuple(resolved)


def _check_solver_keys(table: Mapping, solvers) -> None:
    """A solver parameter set in ``[solver]`` must apply to one of the listed solvers (NIHT and
    CoSaMP choose their own steps; only FISTA has a ``lam``)."""
    for key, users in SOLVER_KEY_USERS.items():
        if table.get(key) is not None and not set(users) & set(solvers):
            raise ConfigError(
                f"solver.{key} applies to {' and '.join(users)} only; solver.name is "
                f"{list(solvers)}, which do not use it (remove solver.{key})"
            )


def _check_solver_options(options: dict, solvers) -> dict:
    out = {}
    for name, table in options.items():
        if name not in solvers:
            raise ConfigError(f"[solver.{name}] is given but solver.name does not list {name!r}")
        if not isinstance(table, Mapping):
            raise ConfigError(f"[solver.{name}] must be a table; got {table!r}")
        allowed = SOLVER_PARAMETERS[name]
        for key, value in table.items():
            if key not in allowed:
                raise ConfigError(
                    f"unknown key solver.{name}.{key}; {name} takes {list(allowed) or 'none'}"
                )
            out.setdefault(name, {})[key] = _value("solver", key, _scalar("solver", key, value))
    return out


def _derive(kind: str, params: dict, index: int) -> dict:
    where = f"cell {index} ({_describe(params)})"
    if kind == "matrix":
        n = params["n"]
        m = max(1, round(params["delta"] * n))
        k = max(1, round(params["rho"] * m))
        if k > n:
            raise ConfigError(f"{where}: k = rho·m = {k} exceeds n = {n}")
        return {"m": m, "k": k, "out_shape": (n,)}
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
    code_shape = tuple(spatial) + (params["out_channels"],)
    model = params["model"]
    capacity = math.prod(code_shape)
    if model == "block":
        regions = params["out_channels"]
    elif model == "pooling":
        pool = params["pool_size"]
        pool = pool * len(spatial) if len(pool) == 1 else pool
        if len(pool) != len(spatial):
            raise ConfigError(
                f"{where}: model.pool_size {pool} must have 1 or {len(spatial)} entries"
            )
        try:
            check_pool_size(pool, spatial, "model.pool_size")
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        regions = math.prod(-(-s // p) for s, p in zip(spatial, pool, strict=True))
        regions *= params["out_channels"]
    else:
        regions = capacity
    if "k" in params:
        k = params["k"]
    else:
        k = max(1, round(params["fraction"] * capacity))
    if k > regions:
        raise ConfigError(
            f"{where}: k = {k} exceeds the {regions} regions of a {model} model on codes "
            f"{code_shape} (at most one non-zero per region)"
        )
    pool = pool if model == "pooling" else None
    return {"k": k, "out_shape": code_shape, "stride": stride, "pool_size": pool}


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


def jsonable(value):
    """``value`` with tuples as lists, recursively (for JSON headers)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value


def solver_parameter(config: SweepConfig, cell: Cell, solver: str):
    """The parameter ``solver`` runs with in ``cell`` (``step_size`` of IHT/HTP, ``lam`` of
    FISTA; ``None`` for the others): ``[solver.NAME]``, else ``[solver]``, else the default."""
    keys = SOLVER_PARAMETERS[solver]
    if not keys:
        return None
    value = config.solver_options.get(solver, {}).get(keys[0], cell.params.get(keys[0]))
    return SOLVER_DEFAULTS[solver] if value is None else value


def build_model(kind: str, k, *, capacity: int, nonnegative: bool, pool_size=None):
    """The model of a cell (``k`` may be traced; ``capacity`` is the group's static size)."""
    if kind == "block":
        return BlockModel(k, capacity=capacity, nonnegative=nonnegative)
    if kind == "pooling":
        return PoolingModel(pool_size, k, capacity=capacity, nonnegative=nonnegative)
    return TopKModel(k, capacity=capacity, nonnegative=nonnegative)


__all__ = ["Cell", "ConfigError", "SweepConfig", "load_config"]
