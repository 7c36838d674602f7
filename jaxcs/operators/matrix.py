"""A dense operator: ``W`` given as an ``m × N`` matrix (classical compressive sensing, tests)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from jaxcs._pytree import static_field
from jaxcs._scale import power_of_two_scale
from jaxcs._validate import check_trailing
from jaxcs.operators.base import (
    DENSE_GRAM_MAX_ENTRIES,
    AbstractOperator,
    DenseGram,
    Support,
    SupportGram,
    SupportMask,
    check_residual,
    mask_gram,
)


class MatrixOperator(AbstractOperator):
    """A dense ``W`` (``m × N``) with the operator interface; for tests and tiny problems.

    Args:
        matrix: ``(m, N)`` floating array: ``mv(x) = matrix @ x``, ``rmv(z) = matrixᵀ @ z``.
        in_shape: shape of ``x`` (default ``(N,)``); ``prod(in_shape) == N``.
        out_shape: shape of ``z`` (default ``(m,)``); ``prod(out_shape) == m``.
    """

    matrix: Float[Array, "m N"]
    in_shape: tuple[int, ...] = static_field()
    out_shape: tuple[int, ...] = static_field()

    def __init__(self, matrix: Float[ArrayLike, "m N"], in_shape=None, out_shape=None):
        matrix = jnp.asarray(matrix)
        if matrix.ndim != 2 or not jnp.issubdtype(matrix.dtype, jnp.floating):
            raise ValueError(
                f"matrix must be a 2-D floating array; got shape {matrix.shape}, {matrix.dtype}"
            )
        m, n = matrix.shape
        in_shape = (n,) if in_shape is None else tuple(int(d) for d in in_shape)
        out_shape = (m,) if out_shape is None else tuple(int(d) for d in out_shape)
        if math.prod(in_shape) != n:
            raise ValueError(f"in_shape {in_shape} must have {n} entries (matrix columns)")
        if math.prod(out_shape) != m:
            raise ValueError(f"out_shape {out_shape} must have {m} entries (matrix rows)")
        self.matrix = matrix
        self.in_shape = in_shape
        self.out_shape = out_shape

    @property
    def dtype(self):
        return self.matrix.dtype

    @property
    def T(self) -> MatrixOperator:
        """``Wᵀ`` as a :class:`MatrixOperator` of the transposed matrix (every fast form kept):
        a classical sensing matrix ``Φ`` (``y = Φ z``) is ``MatrixOperator(Φ).T``."""
        return MatrixOperator(self.matrix.T, self.out_shape, self.in_shape)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        """``W x`` for ``x`` of shape ``(*batch, *in_shape)``."""
        x = jnp.asarray(x)
        batch = check_trailing(x, self.in_shape, "x")
        y = x.reshape(batch + (-1,)) @ self.matrix.T
        return y.reshape(batch + self.out_shape)

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        """``Wᵀ z`` for ``z`` of shape ``(*batch, *out_shape)``."""
        z = jnp.asarray(z)
        batch = check_trailing(z, self.out_shape, "z")
        y = z.reshape(batch + (-1,)) @ self.matrix
        return y.reshape(batch + self.in_shape)

    def rmv_sparse(self, code) -> Float[Array, "*batch_in_shape"]:
        """``Wᵀ z`` for a code in index form (:class:`~jaxcs.SparseCode`, ``s`` slots).

        Sums the ``s`` rows of ``W`` that the code uses: ``O(s · N)`` instead of the
        ``O(m · N)`` of :meth:`rmv`. Unused slots hold value 0; a NaN value makes the result NaN.

        Returns:
            ``(*batch, *in_shape)``.
        """
        batch = code.indices.shape[:-1]
        return self.residual(jnp.zeros(batch + self.in_shape, self.dtype), code, sign=1)

    def residual(
        self, x: Float[ArrayLike, "*batch_in_shape"], code, *, sign: int = -1
    ) -> Float[Array, "*batch_in_shape"]:
        """``x − Wᵀ z`` (``sign=-1``) or ``x + Wᵀ z`` for a code in index form, as
        :meth:`rmv_sparse` but accumulated onto ``x`` (``(*batch, *in_shape)``)."""
        x, batch = check_residual(self, x, code, sign)
        values = sign * code.used_values()
        indices, slots = code.indices, code.indices.shape[-1]
        dtype = jnp.result_type(values.dtype, self.matrix.dtype, x.dtype)

        def add_row(s, y):  # a fused gather-multiply-add per slot: no (s, N) intermediate
            return y + values[..., s, None] * self.matrix[indices[..., s]]

        y = x.reshape(batch + (-1,)).astype(dtype)
        y = jax.lax.fori_loop(0, slots, add_row, y, unroll=max(1, min(slots, 8)))
        return y.reshape(batch + self.in_shape)

    def as_matrix(self) -> Float[Array, "m N"]:
        return self.matrix

    def expected_leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        """``matrix``: ``(prod(out_shape), prod(in_shape))``."""
        return {"matrix": (math.prod(self.out_shape), math.prod(self.in_shape))}

    def is_finite(self) -> Bool[Array, ""]:
        return jnp.all(jnp.isfinite(self.matrix))

    def normalized(self) -> tuple[MatrixOperator, Float[Array, ""]]:
        """``(W / c, c)`` with ``c = 2^e`` and ``max|W / c|`` in ``[0.5, 1)`` (exact)."""
        scale = power_of_two_scale(self.matrix)
        return self.replace(matrix=self.matrix / scale), scale

    def gram_table(self) -> DenseGram | None:
        """The whole Gram ``W Wᵀ`` while it has at most ``DENSE_GRAM_MAX_ENTRIES`` entries."""
        m = self.matrix.shape[0]
        return DenseGram(self.matrix @ self.matrix.T) if m * m <= DENSE_GRAM_MAX_ENTRIES else None

    def restricted_gram_cost(self, k: int) -> int:
        return k * k + k * self.matrix.shape[1]

    def restricted_gram(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGram:
        """``G_S`` as a gather from a :class:`DenseGram`, else from the ``k`` rows of ``W``
        (the columns of ``Φ = Wᵀ``): ``O(k² · N)``."""
        if isinstance(table, DenseGram):
            return super().restricted_gram(support, mask, table=table)
        rows = self.matrix[support]
        return mask_gram(jnp.einsum("...an,...bn->...ab", rows, rows), mask)
