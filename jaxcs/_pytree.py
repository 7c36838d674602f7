"""The pytree base of jaxcs: :class:`equinox.Module`, with ``static_field()`` and ``replace()``.

A subclass declares each field once, as an annotated class attribute::

    class Circulant(Pytree):
        kernel: jax.Array                      # a leaf (arrays, nested pytrees, None)
        size: int = static_field()             # static: part of the treedef (hashable)

and is then an equinox Module: a frozen dataclass (its ``__init__`` generated from the fields
unless the class writes one, which assigns ``self.name = value``) and a JAX pytree whose leaves
are the non-static fields. Unflattening does not run ``__init__`` (JAX rebuilds pytrees from
tracers and placeholders inside ``jit``/``vmap``; a validating constructor must not see them).
Equinox brings abstract classes (``abc.abstractmethod``, :class:`equinox.AbstractVar`),
``__check_init__`` and interoperability with ``eqx.filter_jit``, lineax and optimistix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.core


def static_field(**kwargs: Any) -> Any:
    """Mark a :class:`Pytree` field as static (not a leaf): shapes, flags, names, configs.

    Static values must be hashable: they are part of the treedef, hence of ``jit``'s cache key.
    Keyword arguments (``default``, ``default_factory``, ``kw_only``, …) go to
    :func:`equinox.field`.
    """
    return eqx.field(static=True, **kwargs)


def _is_static(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get("static", False))


class Pytree(eqx.Module):
    """Base class: annotated fields are leaves, fields declared ``= static_field()`` static
    (see the module docstring)."""

    @classmethod
    def leaf_fields(cls) -> tuple[str, ...]:
        """Names of the fields that are leaves, in declaration order (base classes first)."""
        return tuple(f.name for f in dataclasses.fields(cls) if not _is_static(f))

    def replace(self, **changes: Any):
        """A copy with some fields changed (no validation: the caller keeps shapes consistent)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - fields
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        new = object.__new__(type(self))
        for name in fields:
            object.__setattr__(new, name, changes[name] if name in changes else getattr(self, name))
        return new

    def __repr__(self) -> str:
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            shape = None if _is_static(field) else getattr(value, "shape", None)
            if shape is None:
                parts.append(f"{field.name}={value!r}")
            elif shape == () and not isinstance(value, jax.core.Tracer):
                parts.append(f"{field.name}={value.item()!r}")  # a scalar shows its value
            else:
                parts.append(f"{field.name}={value.dtype}{list(shape)}")
        return f"{type(self).__name__}({', '.join(parts)})"


__all__ = ["Pytree", "static_field"]
