"""Immutable pytree nodes with array leaves and static metadata.

Operators and sparsity models validate their arguments in ``__init__`` (in Python, before any
tracing). JAX rebuilds pytrees from their leaves many times inside ``jit``/``vmap``, often with
tracers or placeholder objects as leaves, so rebuilding must *not* run that validation again:
``tree_unflatten`` here bypasses ``__init__``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax


class PytreeNode:
    """Base class: subclasses list their array fields in ``_leaves`` and the rest in ``_static``.

    Static fields must be hashable (they are part of the jit cache key); leaves may be arrays,
    Python scalars or ``None``. Instances are immutable; use :meth:`replace` for a changed copy.
    """

    _leaves: ClassVar[tuple[str, ...]] = ()
    _static: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
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

    def _set(self, **fields: Any) -> None:
        """Set fields during ``__init__`` (instances are otherwise frozen)."""
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def replace(self, **changes: Any):
        """A copy with some fields changed (no validation: the caller keeps shapes consistent)."""
        leaves, static = self._flatten()
        values = dict(zip(self._leaves, leaves, strict=True))
        values.update(zip(self._static, static, strict=True))
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        values.update(changes)
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
