"""The checks every experiment setup shares: integer fields with a lower bound, a 32-bit seed."""

from __future__ import annotations

import dataclasses


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
