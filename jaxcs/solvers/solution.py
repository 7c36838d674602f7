"""Typed results of the solvers: per-problem status, step count and residuals."""

from __future__ import annotations

from jaxtyping import Array, Bool, Float, Int

from jaxcs._pytree import Pytree
from jaxcs.status import Status


class Solution(Pytree):
    """Result of :func:`jaxcs.recover` (or :func:`jaxcs.solve`) for one problem or, with
    leading axes, a batch.

    Attributes:
        z: ``(*batch, *op.out_shape)`` recovered codes (as they were when the solve stopped).
        status: ``(*batch,)`` int32 :class:`~jaxcs.Status` codes.
        num_steps: ``(*batch,)`` int32 steps taken by each problem.
        residual_norm: ``(*batch,)`` ``‖x − Wᵀ z‖``.
        residual_history: ``(*batch, max_steps)`` residual norms after each step (``mode="scan"``
            only; frozen at the final value once a problem stops), else ``None``.
        max_steps: ``(*batch,)`` int32: the step budget each problem had (``None`` only for
            a result built by hand without one).
    """

    z: Float[Array, "*batch_out_shape"]
    status: Int[Array, "*batch"]
    num_steps: Int[Array, "*batch"]
    residual_norm: Float[Array, "*batch"]
    residual_history: Float[Array, "*batch max_steps"] | None = None
    max_steps: Int[Array, "*batch"] | None = None

    @property
    def converged(self) -> Bool[Array, "*batch"]:
        """``status == CONVERGED`` per problem."""
        return self.status == Status.CONVERGED

    def support(self) -> Bool[Array, "*batch_out_shape"]:
        """``(*batch, *op.out_shape)`` booleans: the non-zeros of ``z`` (computed, not stored)."""
        return self.z != 0
