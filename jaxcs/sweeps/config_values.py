"""One value of a sweep grid, checked: integers, numbers, choices and shapes, each error naming
its key (``section.key``) and what it allows; and grid values written as JSON.

``ConfigError`` is the one error of a grid that cannot run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jaxcs._validate import PADDINGS, check_choice, check_padding
from jaxcs.models import DISTRIBUTIONS

FILTER_KINDS = ("gaussian", "rademacher", "unit-norm")
MATRIX_KINDS = ("gaussian", "rademacher")
# Step counters are int32 inside the compiled programs (status, num_steps), so a step budget
# must be an int32; beyond it JAX fails at run time with an OverflowError naming no key.
MAX_STEPS = 2**31 - 1
SWEEPABLE = {"operator", "matrix", "model", "solver"}
SHAPE_KEYS = ("filter_shape", "in_spatial", "stride", "pool_size")


class ConfigError(ValueError):
    """A sweep configuration that cannot run (the message names the key)."""


def as_axis(section, key, value) -> list:
    if isinstance(value, list):
        if section not in SWEEPABLE:
            raise ConfigError(f"{section}.{key} must be a scalar; got a list")
        return value
    return [value]


def hashable(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def check_scalar(section, key, value):
    if isinstance(value, list | dict):
        raise ConfigError(
            f"{section}.{key} must be a scalar (only [{'], ['.join(sorted(SWEEPABLE))}] "
            f"sweep lists); got {value!r}"
        )
    return value


def check_int(section, key, value, minimum=1, maximum=None, why="") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{section}.{key} must be an integer >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(
            f"{section}.{key} must be an integer in [{minimum}, {maximum}]{why}; got {value!r}"
        )
    return value


def check_number(section, key, value, *, low=0.0, high=math.inf, open_low=True) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(
            f"{section}.{key} must be a number in {bracket}{low:g}, {high:g}]; got {value!r}"
        )
    return float(value)


def check_config_choice(section, key, value, allowed):
    """``value`` if it is one of ``allowed`` (a boolean only if ``allowed`` holds it), else a
    ConfigError naming ``section.key``, the allowed values and the value given."""
    return check_choice(value, list(allowed), f"{section}.{key}", ConfigError)


def check_shape(section, key, value) -> tuple[int, ...]:
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{section}.{key}: a shape needs at least one size; got []")
        return tuple(check_int(section, key, v) for v in value)
    return (check_int(section, key, value),)


def check_value(section: str, key: str, value):
    """One value of a grid parameter, checked (shapes as tuples)."""
    where = (section, key)
    if key in SHAPE_KEYS:
        return check_shape(*where, value)
    if key == "max_steps":
        why = " (2**31 - 1: step counts are int32 in the compiled solvers)"
        return check_int(*where, value, maximum=MAX_STEPS, why=why)
    if key in ("in_channels", "out_channels", "n", "k"):
        return check_int(*where, value)
    if key == "padding":
        return check_padding(value, list(PADDINGS), f"{section}.{key}", ConfigError)
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
        return check_config_choice(*where, value, MATRIX_KINDS)
    if section == "model" and key == "kind":
        return value  # resolved already (a registered name)
    if key == "distribution":
        return check_config_choice(*where, value, DISTRIBUTIONS)
    if key == "nonnegative":
        if not isinstance(value, bool):
            raise ConfigError(f"model.nonnegative must be true or false; got {value!r}")
        return value
    if key in ("delta", "rho", "fraction"):
        return check_number(*where, value, high=1.0)
    if key == "tol":
        return check_number(*where, value, open_low=False)
    if key == "lam":
        return None if value is None else check_number(*where, value)
    if key == "step_size":
        if value is None or value == "auto":
            return value
        return check_number(*where, value)
    if section == "solver":  # a registered solver's own parameter
        if value is None or isinstance(value, str):
            return value
        return check_number(*where, value, low=-math.inf)
    return check_free_value(section, key, value)  # a registered model's own parameter


def check_free_value(section: str, key: str, value):
    """A value of a registered family's own parameter: a number, a string or a boolean, or a
    list of them (a shape: ``[[3, 3]]`` sweeps nothing, ``[3, 3]`` sweeps 3 and 3)."""
    if isinstance(value, list | tuple):
        return tuple(check_free_value(section, key, v) for v in value)
    if isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ConfigError(
        f"{section}.{key} must be a number, a string, a boolean or a list of them; got {value!r}"
    )


def describe_params(params: dict) -> str:
    return ", ".join(f"{k}={jsonable(v)}" for k, v in params.items())


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, recursively (for JSON headers)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value
