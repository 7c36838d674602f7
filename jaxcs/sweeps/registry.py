"""What a sweep grid can name: operator families, sparsity models and solvers, the built-in ones
and a user's own.

A grid names its objects; this module turns the names into *families*, one per kind, that build
the object of one problem inside the compiled program:

- :class:`OperatorFamily` — ``build(key, **params) -> operator`` (the analysis operator ``W``:
  signals to codes, ``x = Wᵀ z``), a fresh operator per problem from its key. Its keyword
  parameters are the grid keys of ``[operator]`` (``family = "NAME"``); every one is static (it
  may set shapes): one compiled program per distinct value. A ``dtype`` parameter, if the
  function has one, receives ``run.dtype``.
- :class:`ModelFamily` — ``build(k, *, capacity, nonnegative, **params) -> model``; ``k`` is
  traced (a sweep over ``k`` compiles once), ``capacity`` static. Its other keyword parameters
  are ``[model]`` keys (static); a ``code_shape`` parameter receives the cell's code shape.
- :class:`SolverFamily` — ``build(param, *, operator, signal, model) -> solver``, with at most
  one swept parameter (``param``: its ``[solver]`` key and default; a number is a dynamic input,
  a string such as ``"auto"`` static).

Names resolve through the registries (:func:`register_operator`, :func:`register_model`,
:func:`register_solver`: a TOML grid then uses the name, and ``jaxcs sweep --import MODULE``
imports the module that registers them); the Python API also takes the objects themselves: an
operator factory, a model instance (swept over ``k`` by its ``with_budget``) or a solver
instance. Families are equal when they build with the same function or instance, so a second
sweep of the same families and shapes compiles nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable
from typing import cast

import jax
import jax.numpy as jnp
import jax.random as jr

from jaxcs.models import (
    AbstractSparsityModel,
    BlockModel,
    JointModel,
    PerChannelModel,
    PoolingModel,
    TopKModel,
)
from jaxcs.solvers import FISTA, HTP, IHT, NIHT, AbstractSolver, CoSaMP, SubspacePursuit

REQUIRED = inspect.Parameter.empty  # a family parameter without a default


class RegistryError(ValueError):
    """A name that resolves to nothing, or a second registration of a name."""


def _identity(obj):
    """``obj`` if it can key a cache by value, else its ``id`` (an array-holding instance)."""
    try:
        hash(obj)
    except TypeError:
        return ("id", id(obj))
    return obj


@dataclasses.dataclass(frozen=True, eq=False)
class _Family:
    name: str
    build: Callable
    parameters: dict  # name -> default (REQUIRED: none)
    takes_optional: bool = False  # build takes the optional argument (dtype, code_shape)

    def _token(self):
        return (type(self), self.name, _identity(self.build))

    def __eq__(self, other) -> bool:
        return isinstance(other, _Family) and self._token() == other._token()

    def __hash__(self) -> int:
        return hash(self._token())

    @property
    def origin(self) -> str:
        """Where the family comes from (``module.qualname``, recorded in ``sweep.json``)."""
        target = getattr(self.build, "instance", self.build)
        target = target if callable(target) and hasattr(target, "__qualname__") else type(target)
        return f"{target.__module__}.{target.__qualname__}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.origin})"


def _keyword_parameters(build, skip: int, special: tuple[str, ...], what: str) -> dict:
    """The grid parameters of ``build``: its parameters after the first ``skip`` positional
    ones, less the ``special`` ones the engine passes itself."""
    try:
        signature = inspect.signature(build)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a function with a signature; got {build!r}") from None
    params = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) < skip or any(p.kind not in positional for p in params[:skip]):
        raise TypeError(f"{what} must take {skip} positional argument(s) first; got {signature}")
    out = {}
    for p in params[skip:]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(
                f"{what} must name its grid parameters (no *args/**kwargs): {signature}"
            )
        if p.name not in special:
            out[p.name] = p.default
    return out


def _accepts(build, name: str) -> bool:
    return name in inspect.signature(build).parameters


class OperatorFamily(_Family):
    """Operators of one kind, built per problem: ``build(key, **params)`` (module docstring)."""

    def __init__(self, name: str, build: Callable):
        params = _keyword_parameters(build, 1, ("dtype",), f"operator family {name!r}")
        super().__init__(name, build, params, _accepts(build, "dtype"))

    def __call__(self, key, dtype, **params):
        if self.takes_optional:
            params["dtype"] = dtype
        return self.build(key, **params)

    def abstract(self, params: tuple, dtype: str):
        """The operator for ``params`` (``((name, value), …)``) with shapes in place of arrays
        (:func:`jax.eval_shape`: nothing is computed)."""
        return _abstract_operator(self, params, dtype)


@functools.lru_cache(maxsize=256)
def _abstract_operator(family: OperatorFamily, params: tuple, dtype: str):
    return jax.eval_shape(lambda key: family(key, jnp.dtype(dtype), **dict(params)), jr.key(0))


class ModelFamily(_Family):
    """Sparsity models of one kind: ``build(k, *, capacity, nonnegative, **params)``."""

    def __init__(self, name: str, build: Callable):
        special = ("capacity", "nonnegative", "code_shape")
        params = _keyword_parameters(build, 1, special, f"model {name!r}")
        super().__init__(name, build, params, _accepts(build, "code_shape"))

    @property
    def fixed_sign(self) -> bool | None:
        """A model instance's own ``nonnegative`` (the grid cannot change it), else ``None``."""
        instance = getattr(self.build, "instance", None)
        return None if instance is None else instance.nonnegative

    def __call__(self, k, *, capacity, nonnegative, code_shape, **params):
        if self.takes_optional:
            params["code_shape"] = code_shape
        return self.build(k, capacity=capacity, nonnegative=nonnegative, **params)


class SolverFamily(_Family):
    """Solvers of one kind: ``build(param, *, operator, signal, model)``, whose ``param`` is the
    grid key ``parameter`` (default ``default``), or no parameter at all."""

    parameter: str | None
    default: object

    def __init__(self, name: str, build: Callable, parameter=None, default=None):
        _keyword_parameters(build, 1, ("operator", "signal", "model"), f"solver {name!r}")
        super().__init__(name, build, {})
        object.__setattr__(self, "parameter", parameter)
        object.__setattr__(self, "default", default)

    def _token(self):
        return super()._token() + (self.parameter, self.default)

    def __call__(self, param, *, operator, signal, model) -> AbstractSolver:
        return self.build(param, operator=operator, signal=signal, model=model)


@dataclasses.dataclass(frozen=True, eq=False)
class _Instance:
    """A model or solver instance as a family's build function (keyed by the instance)."""

    instance: object

    def __eq__(self, other) -> bool:
        if not isinstance(other, _Instance) or type(other.instance) is not type(self.instance):
            return False
        if _identity(self.instance) != self.instance:  # unhashable: by identity
            return self.instance is other.instance
        return self.instance == other.instance

    def __hash__(self) -> int:
        return hash(_identity(self.instance))


class _ModelInstance(_Instance):
    def __call__(self, k, *, capacity, nonnegative):
        model = cast(AbstractSparsityModel, self.instance)  # resolve_model wraps only models
        return model.with_budget(k, capacity)


class _SolverInstance(_Instance):
    def __call__(self, param, *, operator, signal, model):
        return self.instance


# ---------------------------------------------------------------------------- the registries
_OPERATORS: dict[str, OperatorFamily] = {}
_MODELS: dict[str, ModelFamily] = {}
_SOLVERS: dict[str, SolverFamily] = {}
# The grid's own problem tables: [operator] without a family, and [matrix].
BUILTIN_OPERATORS = ("conv",)


def _register(registry: dict, family, builtin: tuple, replace: bool):
    name = family.name
    if not isinstance(name, str) or not name:
        raise RegistryError(f"a registered name must be a non-empty string; got {name!r}")
    clash = [n for n in registry if n.lower() == name.lower() and n != name]
    if name in builtin or (name in registry and registry[name] != family and not replace):
        raise RegistryError(
            f"{name!r} is already registered ({registry.get(name, 'built in')!r}); choose "
            "another name" + ("" if name in builtin else ", or pass replace=True")
        )
    if clash:  # names are matched case-insensitively
        raise RegistryError(f"{name!r} differs from the registered {clash[0]!r} only in case")
    registry[name] = family
    return family.build


def register_operator(name: str, build: Callable, *, replace: bool = False) -> Callable:
    """Register an operator family for ``[operator] family = "NAME"``: ``build(key,
    **params)`` returns the operator ``W`` of one problem (a :class:`jaxcs.AbstractOperator`,
    signals to codes), fresh from ``key``; its keyword parameters are the grid keys (defaults
    where the function has them; ``dtype``, if it takes one, gets ``run.dtype``).

    Returns ``build`` (usable as a decorator through ``functools.partial``).

    Raises:
        RegistryError: the name is taken (unless ``replace``) or built in.
        TypeError: ``build`` takes ``*args``/``**kwargs`` (the grid keys must be named).
    """
    return _register(_OPERATORS, OperatorFamily(name, build), BUILTIN_OPERATORS, replace)


def register_model(name: str, build: Callable, *, replace: bool = False) -> Callable:
    """Register a sparsity model for ``[model] kind = "NAME"``: ``build(k, *, capacity,
    nonnegative, **params)`` returns a :class:`jaxcs.AbstractSparsityModel` with budget ``k``
    (traced) and the static ``capacity``; its other keyword parameters are ``[model]`` keys, and
    a ``code_shape`` parameter gets the cell's code shape. Returns ``build``.

    Raises:
        RegistryError: the name is taken (unless ``replace``) or built in.
    """
    return _register(_MODELS, ModelFamily(name, build), BUILTIN_MODELS, replace)


def register_solver(
    name: str,
    build: Callable,
    *,
    parameter: str | None = None,
    default=None,
    replace: bool = False,
) -> Callable:
    """Register a solver for ``[solver] name = "NAME"``: ``build(param, *, operator, signal,
    model)`` returns a :class:`jaxcs.AbstractSolver` for one problem (``signal`` is ``x``).

    Args:
        name: the grid's name (matched case-insensitively).
        build: the solver's factory.
        parameter: the grid key of its swept parameter (``"step_size"``, ``"lam"`` or a key of
            its own, then a column of the table), or ``None``.
        default: the parameter's value when the grid sets none (a number: a dynamic input;
            a string: static).
        replace: replace an earlier registration of ``name``.

    Returns ``build``.
    """
    if parameter is not None and (not isinstance(parameter, str) or not parameter.isidentifier()):
        raise RegistryError(f"parameter must be a key name (an identifier); got {parameter!r}")
    if parameter in ("name", "max_steps", "tol"):
        raise RegistryError(f"parameter {parameter!r} is a key of every solver; choose another")
    family = SolverFamily(name, build, parameter, default)
    return _register(_SOLVERS, family, BUILTIN_SOLVERS, replace)


def _lookup(registry: dict, name, what: str, key: str, *, fold_case: bool = False):
    names = list(registry)
    found = registry.get(name) if isinstance(name, str) else None
    if found is None and fold_case and isinstance(name, str):
        found = {n.lower(): f for n, f in registry.items()}.get(name.lower())
    if found is None:
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RegistryError(
            f"{key} must be among {names} or a {what} registered with "
            f"jaxcs.sweeps.register_{what}; got {name!r}{hint}"
        )
    return found


def resolve_operator(value, key: str = "operator.family") -> OperatorFamily:
    """An operator family from a registered name, a family or a factory function."""
    if isinstance(value, OperatorFamily):
        return value
    if callable(value) and not isinstance(value, str):
        name = getattr(value, "__name__", type(value).__name__)
        return OperatorFamily(name, value)
    return _lookup(_OPERATORS, value, "operator", key)


def resolve_model(value, key: str = "model.kind") -> ModelFamily:
    """A model family from a registered name or a model instance (swept over ``k``)."""
    if isinstance(value, ModelFamily):
        return value
    if isinstance(value, AbstractSparsityModel):
        return ModelFamily(type(value).__name__, _ModelInstance(value))
    return _lookup(_MODELS, value, "model", key)


def resolve_solver(value, key: str = "solver.name", label: str | None = None) -> SolverFamily:
    """A solver family from a registered name (any case) or a solver instance."""
    if isinstance(value, SolverFamily):
        return value
    if isinstance(value, AbstractSolver):
        return SolverFamily(label or type(value).__name__, _SolverInstance(value))
    return _lookup(_SOLVERS, value, "solver", key, fold_case=True)


def registered() -> dict[str, tuple[str, ...]]:
    """The registered names: ``{"operator": …, "model": …, "solver": …}``."""
    return {
        "operator": BUILTIN_OPERATORS + tuple(_OPERATORS),
        "model": tuple(_MODELS),
        "solver": tuple(_SOLVERS),
    }


def families(what: str) -> dict:
    """The registered families of one kind (``"operator"``, ``"model"``, ``"solver"``)."""
    return dict({"operator": _OPERATORS, "model": _MODELS, "solver": _SOLVERS}[what])


def is_builtin(family: _Family) -> bool:
    """Whether ``family`` is one that jaxcs ships (not registered or given by a user)."""
    registry = {OperatorFamily: {}, ModelFamily: _MODELS, SolverFamily: _SOLVERS}[type(family)]
    builtin = {ModelFamily: BUILTIN_MODELS, SolverFamily: BUILTIN_SOLVERS}.get(type(family), ())
    return family.name in builtin and registry.get(family.name) == family


def describe(family: _Family) -> str:
    """What a family is, for a record: its build function (``module.qualname``), or the repr
    of the model or solver instance it stands for."""
    if isinstance(family.build, _Instance):
        return repr(family.build.instance)
    return family.origin


# ---------------------------------------------------------------------------- built-ins
def _pooling(k, *, capacity, nonnegative, code_shape, pool_size=2):
    pool = (pool_size,) if isinstance(pool_size, int) else tuple(pool_size)
    spatial = len(code_shape) - 1
    pool = pool * spatial if len(pool) == 1 else pool  # one size: every spatial axis
    return PoolingModel(pool, k, capacity=capacity, nonnegative=nonnegative)


def _region(model_type):
    def build(k, *, capacity, nonnegative):
        return model_type(k, capacity=capacity, nonnegative=nonnegative)

    build.__qualname__ = build.__name__ = model_type.__name__
    return build


def _step_solver(solver_type):
    def build(step_size, *, operator, signal, model):
        return solver_type(step_size)

    build.__qualname__ = build.__name__ = solver_type.__name__
    return build


def _plain_solver(solver_type):
    def build(param, *, operator, signal, model):
        return solver_type()

    build.__qualname__ = build.__name__ = solver_type.__name__
    return build


def _fista(lam, *, operator, signal, model):
    """FISTA with ``λ`` a fraction of ``λ_max = 2‖W x‖_∞``, the smallest ``λ`` whose solution
    is 0."""
    return FISTA(lam * 2 * jnp.max(jnp.abs(operator.mv(signal))), nonnegative=model.nonnegative)


for _name, _build in {
    "block": _region(BlockModel),
    "pooling": _pooling,
    "topk": _region(TopKModel),
    "per-channel": _region(PerChannelModel),
    "joint": _region(JointModel),
}.items():
    _MODELS[_name] = ModelFamily(_name, _build)
# Each solver's parameter when the grid sets none: IHT's safe step 1/‖Φ‖₂² (power iteration),
# HTP's unit step (Foucart 2011), FISTA's λ = 10⁻³ λ_max.
for _family in (
    SolverFamily("IHT", _step_solver(IHT), "step_size", "auto"),
    SolverFamily("NIHT", _plain_solver(NIHT)),
    SolverFamily("HTP", _step_solver(HTP), "step_size", 1.0),
    SolverFamily("CoSaMP", _plain_solver(CoSaMP)),
    SolverFamily("SP", _plain_solver(SubspacePursuit)),
    SolverFamily("FISTA", _fista, "lam", 1e-3),
):
    _SOLVERS[_family.name] = _family
BUILTIN_MODELS = tuple(_MODELS)
BUILTIN_SOLVERS = tuple(_SOLVERS)


__all__ = [
    "ModelFamily",
    "OperatorFamily",
    "RegistryError",
    "SolverFamily",
    "describe",
    "families",
    "is_builtin",
    "register_model",
    "register_operator",
    "register_solver",
    "registered",
    "resolve_model",
    "resolve_operator",
    "resolve_solver",
]
