"""Typed results of the recovery driver: per-problem status, step count and residuals."""

from __future__ import annotations

import enum

from jaxcs.pytree import PytreeNode


class Status(enum.IntEnum):
    """Why a solve stopped (one code per problem, also under ``vmap``)."""

    CONVERGED = 0
    MAX_STEPS = 1
    NONFINITE = 2
    DIVERGED = 3


RUNNING = -1  # internal: still iterating

STATUS: dict[int, str] = {
    Status.CONVERGED: "converged: relative residual or relative step at most tol",
    Status.MAX_STEPS: "max_steps reached before convergence",
    Status.NONFINITE: "non-finite value (NaN/Inf) in the data, the operator or the iterates",
    Status.DIVERGED: "diverged: residual norm grew past divergence_factor × ‖x‖",
}
"""The status codes and their messages: ``STATUS[int(solution.status)]``."""


class Solution(PytreeNode):
    """Result of :func:`jaxcs.recover` for one problem or, with leading axes, a batch.

    Attributes:
        z: ``(*batch, *op.out_shape)`` recovered codes (as they were when the solve stopped).
        status: ``(*batch,)`` int32 :class:`Status` codes.
        num_steps: ``(*batch,)`` int32 steps taken by each problem.
        residual_norm: ``(*batch,)`` ``‖x − Wᵀ z‖``.
        support: ``(*batch, *op.out_shape)`` bool, the non-zeros of ``z``.
        residual_history: ``(*batch, max_steps)`` residual norms after each step (``mode="scan"``
            only; frozen at the final value once a problem stops), else ``None``.
    """

    _leaves = ("z", "status", "num_steps", "residual_norm", "support", "residual_history")

    def __init__(self, z, status, num_steps, residual_norm, support, residual_history=None):
        self._set(
            z=z,
            status=status,
            num_steps=num_steps,
            residual_norm=residual_norm,
            support=support,
            residual_history=residual_history,
        )

    @property
    def converged(self):
        return self.status == Status.CONVERGED
