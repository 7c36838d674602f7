"""Why a computation stopped: one enum, :class:`Status`, whose members carry their messages
(the base layer: solvers, estimates and sweeps all report it).

Every result of jaxcs that can fail per problem reports a ``status`` array of these codes
(``int32``, one per problem, also under ``vmap``): :class:`~jaxcs.Solution` and the lasso /
Algorithm 2 results (solvers), :class:`~jaxcs.RIPEstimate` (a Monte Carlo run). Sweeps never
raise on a failed member: they count it. ``Status(int(code)).message`` says what a code means.
"""

from __future__ import annotations

import enum

import jax.numpy as jnp


class Status(enum.IntEnum):
    """Status codes; ``Status.X.message`` is the explanation of ``X``. ``RUNNING`` is what a
    solver's ``terminate`` returns to go on; it never appears in a returned result."""

    RUNNING = -1
    CONVERGED = 0
    MAX_STEPS = 1
    NONFINITE = 2
    DIVERGED = 3
    STALLED = 4
    COMPLETED = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @classmethod
    def describe(cls, codes) -> list[str]:
        """The names of an array of codes, flattened (for reports): ``["CONVERGED", ...]``."""
        return [cls(int(c)).name for c in jnp.ravel(jnp.asarray(codes))]

    @classmethod
    def counts(cls, codes) -> dict[str, int]:
        """``{name: number of problems}`` over an array of codes: every member a result of
        that kind can hold, zeros included (a solver's: ``CONVERGED`` … ``STALLED``; a Monte
        Carlo estimate's, recognised by a ``COMPLETED`` code: ``COMPLETED``, ``NONFINITE``),
        and any other code that occurs."""
        flat = jnp.ravel(jnp.asarray(codes))
        found = {m.name: int(jnp.sum(flat == m)) for m in cls if m is not cls.RUNNING}
        kind = MONTE_CARLO if found["COMPLETED"] else SOLVER
        return {name: n for name, n in found.items() if n or name in kind}


SOLVER = ("CONVERGED", "MAX_STEPS", "NONFINITE", "DIVERGED", "STALLED")
MONTE_CARLO = ("COMPLETED", "NONFINITE")

_MESSAGES = {
    Status.RUNNING: "running: still iterating (a solver's terminate says go on; never returned)",
    Status.CONVERGED: "converged: the relative residual ‖x − Φz‖/‖x‖ (or, for FISTA, the "
    "relative optimality measure) reached tol",
    Status.MAX_STEPS: "max_steps reached before convergence",
    Status.NONFINITE: "non-finite value (NaN/Inf) in the data, the operator or the iterates",
    Status.DIVERGED: "diverged: residual norm grew past divergence_factor × ‖x‖",
    Status.STALLED: "stalled: no progress (relative step and relative residual decrease both "
    "≤ tol) for stall_window steps in a row, or a step that left the solver's state exactly "
    "unchanged, while the residual did not reach tol (a fixed point on a wrong support, or "
    "noisy data)",
    Status.COMPLETED: "completed: every sample was finite (Monte Carlo estimates)",
}
