"""The checks every experiment setup shares: integer fields with a lower bound, a 32-bit seed,
shapes as tuples, and the keywords renamed to follow the glossary refused by their new name."""

from __future__ import annotations

import dataclasses
import inspect

from jaxcs._validate import positive_ints


def check_int_fields(setup, *, zero_allowed: tuple[str, ...] = ("seed",), skip=()) -> None:
    """Every field of the dataclass ``setup`` (but ``skip``) is an int ``≥ 1`` (``≥ 0`` for
    ``zero_allowed``), and ``seed < 2**32``; else a ValueError naming the field."""
    for field in dataclasses.fields(setup):
        if field.name in skip:
            continue
        value = getattr(setup, field.name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{field.name} must be an int; got {value!r}")
        low = 0 if field.name in zero_allowed else 1
        if value < low:
            raise ValueError(f"{field.name} must be >= {low}; got {value}")
    if getattr(setup, "seed", 0) >= 2**32:
        raise ValueError(f"seed must be < 2**32; got {setup.seed}")


def shape_field(setup, name: str, ndim: int) -> None:
    """Normalise the shape field ``name`` of the frozen dataclass ``setup`` to a tuple of
    ``ndim`` ints ``≥ 1`` (an int ``n`` means ``(n,) * ndim``); else a ValueError naming it
    (:func:`jaxcs._validate.positive_ints`)."""
    object.__setattr__(setup, name, positive_ints(getattr(setup, name), name, ndim))


def refuse_renamed(**renamed: str):
    """A class decorator for a setup dataclass: a keyword renamed to follow the glossary
    (``old="new"``) is refused with a TypeError that names the new one."""

    def decorate(cls):
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            old = sorted(set(kwargs) & set(renamed))
            if old:
                names = ", ".join(f"{o} is now {renamed[o]}" for o in old)
                raise TypeError(f"{cls.__name__}: {names} (the README's glossary)")
            init(self, *args, **kwargs)

        __init__.__doc__ = init.__doc__
        __init__.__signature__ = inspect.signature(init)  # type: ignore[attr-defined]
        cls.__init__ = __init__
        return cls

    return decorate
