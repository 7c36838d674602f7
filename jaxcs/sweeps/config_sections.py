"""The tables of a sweep grid, checked: each section's keys and defaults (``[operator]``,
``[matrix]``, ``[model]``, ``[solver]`` and ``[solver.NAME]``, ``[run]``), the listed solvers
and models resolved to their families, and the checks that need a whole section.
"""

from __future__ import annotations

from collections.abc import Mapping

from jaxcs.analysis import SUCCESS_TOLERANCE
from jaxcs.sweeps.config_values import (
    ConfigError,
    check_config_choice,
    check_int,
    check_number,
    check_scalar,
    check_value,
)
from jaxcs.sweeps.registry import (
    REQUIRED,
    ModelFamily,
    RegistryError,
    SolverFamily,
    registered,
    resolve_solver,
)
from jaxcs.sweeps.registry import families as registered_families

RIP_KINDS = (False, "ratios", "eigenvalues")
DTYPES = ("float32", "float64")


# section -> key -> default (``REQUIRED``: no default). Keys in this table are grid parameters
# (swept or fixed); their result-table column names are in COLUMN. A registered operator family
# or model adds its own keys (its build function's parameters; jaxcs.sweeps.registry).
OPERATOR_KEYS = {
    "filter_shape": REQUIRED,
    "in_channels": REQUIRED,
    "out_channels": REQUIRED,
    "in_spatial": REQUIRED,
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


def resolve_family(resolve, value, key: str):
    try:
        return resolve(value, key)
    except (RegistryError, TypeError) as err:
        raise ConfigError(str(err)) from None


# Keys renamed to follow the README's glossary: the old name is refused with the new one.
RENAMED = {"operator": {"input_shape": "in_spatial"}}


def check_section(name: str, table: Mapping, keys: dict, solvers: dict | None = None) -> dict:
    renamed = sorted(k for k, new in RENAMED.get(name, {}).items() if k in table and new in keys)
    if renamed:
        old, new = renamed[0], RENAMED[name][renamed[0]]
        raise ConfigError(f"{name}.{old} is now {name}.{new} (the README's glossary)")
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


def model_section_keys(families: list[ModelFamily], table: Mapping) -> dict:
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


def check_budget_keys(kind: str, model: dict) -> None:
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


def check_run(run: dict) -> dict:
    why = (
        " (2**24 problems per cell: a cell's problems are summarized in memory at once and "
        "take hours per cell at that count; for more, run sweeps with other run.seed values)"
    )
    run["seeds"] = check_int("run", "seeds", run["seeds"], maximum=MAX_SEEDS, why=why)
    run["seed"] = check_int("run", "seed", run["seed"], minimum=0)
    if run["seed"] >= 2**32:
        raise ConfigError(f"run.seed must be < 2**32; got {run['seed']}")
    run["success_tolerance"] = check_number("run", "success_tolerance", run["success_tolerance"])
    if run["rip"] is True:
        run["rip"] = "ratios"
    check_config_choice("run", "rip", run["rip"], RIP_KINDS)  # False is a choice here
    if not isinstance(run["per_problem"], bool):
        raise ConfigError(f"run.per_problem must be true or false; got {run['per_problem']!r}")
    run["batch"] = check_int("run", "batch", run["batch"], minimum=0)
    check_config_choice("run", "dtype", run["dtype"], DTYPES)
    return run


def check_solvers(names) -> list[tuple[str, SolverFamily]]:
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


def check_solver_keys(table: Mapping, solvers: dict) -> None:
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


def check_solver_options(options: dict, solvers: dict) -> dict:
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
            out.setdefault(name, {})[key] = check_value(
                "solver", key, check_scalar("solver", key, value)
            )
    return out
