"""The one pytree mechanism of jaxcs: annotated fields, ``static_field()``, ``replace()``.

A subclass of :class:`Pytree` declares each field once, as an annotated class attribute::

    class Circulant(Pytree):
        kernel: jax.Array                      # a leaf (arrays, nested pytrees, None)
        size: int = static_field()             # static: part of the treedef (hashable)

and is then, without any decorator or registration of its own, a frozen dataclass (its
``__init__`` generated from the fields unless the class writes one) and a JAX pytree whose
leaves are the non-static fields. A class may write its own ``__init__`` (to validate and
convert arguments) and assign ``self.name = value`` in it; ``__post_init__`` runs after a
generated ``__init__``. Outside ``__init__`` instances are immutable: :meth:`Pytree.replace`
makes a changed copy.

JAX rebuilds pytrees from their leaves many times inside ``jit``/``vmap``, often with tracers or
placeholder objects as leaves, so unflattening must *not* validate again: it bypasses
``__init__`` (``jax.tree_util.register_dataclass`` and ``flax.struct`` call the constructor).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax

_INITIALIZING = "_pytree_initializing"
_STATIC = "jaxcs_static"


def static_field(**kwargs: Any) -> Any:
    """Mark a :class:`Pytree` field as static (not a leaf): shapes, flags, names, configs.

    Static values must be hashable: they are part of the treedef, hence of ``jit``'s cache key.
    Keyword arguments (``default``, ``default_factory``, ``kw_only``, …) go to
    :func:`dataclasses.field`.
    """
    metadata = dict(kwargs.pop("metadata", None) or {}) | {_STATIC: True}
    return dataclasses.field(metadata=metadata, **kwargs)


class _Unset:
    """Class attribute of a field without a default: a non-data descriptor, so the instance's
    value wins over it (and over a base class's property of the same name)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raise AttributeError(f"{type(obj).__name__}.{self.name} is not set")


def _initializer(init):
    """Wrap an ``__init__`` so that it may assign fields (instances are frozen otherwise)."""

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        depth = self.__dict__.get(_INITIALIZING, 0)
        object.__setattr__(self, _INITIALIZING, depth + 1)
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                object.__setattr__(self, _INITIALIZING, depth)
            else:
                object.__delattr__(self, _INITIALIZING)
        if not depth:
            missing = [name for name in type(self)._fields if not hasattr(self, name)]
            if missing:
                raise TypeError(f"{type(self).__name__}.__init__ did not set {missing}")

    __init__._pytree_wrapped = True
    return __init__


class Pytree:
    """Base class: annotated fields are leaves, fields declared ``= static_field()`` static.

    See the module docstring. Subclasses get ``_leaves`` and ``_static`` (field names, in
    declaration order, base classes first) and ``_fields`` (both).
    """

    _leaves: ClassVar[tuple[str, ...]] = ()
    _static: ClassVar[tuple[str, ...]] = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _custom_init: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a class that writes its own __init__ passes it on to subclasses that write none
        cls._custom_init = "__init__" in cls.__dict__ or any(
            getattr(base, "_custom_init", False) for base in cls.__mro__[1:]
        )
        annotations = cls.__dict__.get("__annotations__", {})
        for name in annotations:
            # an inherited attribute (a property of the base, say) must not become a default
            if name not in cls.__dict__:
                setattr(cls, name, dataclasses.field())
        dataclasses.dataclass(cls, init=not cls._custom_init, repr=False, eq=False)
        fields = dataclasses.fields(cls)
        for name in annotations:
            if name not in cls.__dict__:  # no default: let the instance's value shadow a
                setattr(cls, name, _Unset(name))  # property of the same name on a base
        cls._leaves = tuple(f.name for f in fields if not f.metadata.get(_STATIC, False))
        cls._static = tuple(f.name for f in fields if f.metadata.get(_STATIC, False))
        cls._fields = tuple(f.name for f in fields)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_pytree_wrapped", False):
            cls.__init__ = _initializer(init)
        jax.tree_util.register_pytree_with_keys(
            cls, cls._flatten_with_keys, cls._unflatten, cls._flatten
        )

    def _flatten_with_keys(self):
        children = tuple(
            (jax.tree_util.GetAttrKey(name), getattr(self, name)) for name in self._leaves
        )
        return children, tuple(getattr(self, name) for name in self._static)

    def _flatten(self):
        leaves = tuple(getattr(self, name) for name in self._leaves)
        return leaves, tuple(getattr(self, name) for name in self._static)

    @classmethod
    def _unflatten(cls, static, leaves):
        obj = object.__new__(cls)
        for name, value in zip(cls._leaves, leaves, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(cls._static, static, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get(_INITIALIZING):
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def replace(self, **changes: Any):
        """A copy with some fields changed (no validation: the caller keeps shapes consistent)."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        values = {name: getattr(self, name) for name in self._fields} | changes
        return self._unflatten(
            tuple(values[n] for n in self._static), tuple(values[n] for n in self._leaves)
        )

    def __repr__(self) -> str:
        parts = []
        for name in self._leaves:
            value = getattr(self, name)
            shape = getattr(value, "shape", None)
            dtype = getattr(value, "dtype", None)
            parts.append(f"{name}={value!r}" if shape is None else f"{name}={dtype}{list(shape)}")
        parts += [f"{name}={getattr(self, name)!r}" for name in self._static]
        return f"{type(self).__name__}({', '.join(parts)})"


__all__ = ["Pytree", "static_field"]
