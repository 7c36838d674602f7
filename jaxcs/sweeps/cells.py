"""The cells of a sweep grid: one point of the product of its axes, with the values derived from
it (the code shape, ``k``, the model's own parameters) and the checks that need the whole cell
(a model that cannot take the cell's ``k`` on its code shape, a geometry that does not fit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np

from jaxcs.models import AbstractSparsityModel, default_capacity
from jaxcs.operators import AbstractOperator, conv_output_shape
from jaxcs.sweeps.config_values import ConfigError, describe_params


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


def derive_cell(kind: str, params: dict, index: int, families: dict, dtype: str) -> dict:
    """A cell's derived values, and the checks that need the whole cell: its code shape (from
    the layer's geometry, ``n``, or the operator family built abstractly) and its model with
    the cell's ``k`` on that shape."""
    where = f"cell {index} ({describe_params(params)})"
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
    fs, D, stride = params["filter_shape"], params["in_spatial"], params["stride"]
    if len(D) != len(fs):
        raise ConfigError(
            f"{where}: operator.in_spatial {D} and operator.filter_shape {fs} must have the "
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
