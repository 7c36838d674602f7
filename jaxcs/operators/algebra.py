"""Operators built from operators: composition, sum, scalar multiple, stacking of outputs
(vertical, ``[W₁; W₂]``) or inputs (horizontal, ``[W₁ W₂]``), and entry selection
(subsampling), each with its adjoint; ``.T`` transposes any of them.

``a @ b`` (composition ``W_a W_b``), ``a + b``, ``c * a`` and ``-a`` build them from any two
operators. A layer whose signal is only partly observed (``y = S x`` with ``x = Wᵀ z``) is
``W @ Selection(W.in_shape, rows).T``: codes as before, signals of ``len(rows)`` entries, no
subclass needed. The dense defaults of :class:`~jaxcs.AbstractOperator` (columns, Grams) apply,
except where a Gram follows from the parts: a scalar multiple keeps its operator's Gram table
(``G_S`` scaled by ``c²``), and a horizontal stack sums its parts' Grams (``G = Σ G_i``).
"""

import math
from collections.abc import Sequence
from typing import cast

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from jaxcs._pytree import static_field
from jaxcs._validate import positive_ints
from jaxcs.operators.base import (
    AbstractOperator,
    Support,
    SupportGram,
    SupportMask,
    check_operator,
)


def _batch(array, shape) -> tuple[int, ...]:
    return tuple(array.shape[: array.ndim - len(shape)])


class Composed(AbstractOperator):
    """``W = W_outer W_inner``: ``mv(x) = outer.mv(inner.mv(x))``, ``rmv(z) =
    inner.rmv(outer.rmv(z))``. ``inner.out_shape`` must be ``outer.in_shape``."""

    outer: AbstractOperator
    inner: AbstractOperator

    def __init__(self, outer: AbstractOperator, inner: AbstractOperator):
        check_operator(outer, "outer")
        check_operator(inner, "inner")
        if tuple(inner.out_shape) != tuple(outer.in_shape):
            raise ValueError(
                f"inner.out_shape {tuple(inner.out_shape)} must be outer.in_shape "
                f"{tuple(outer.in_shape)} to compose them"
            )
        self.outer, self.inner = outer, inner

    @property
    def in_shape(self):
        return tuple(self.inner.in_shape)

    @property
    def out_shape(self):
        return tuple(self.outer.out_shape)

    @property
    def dtype(self):
        return jnp.result_type(self.outer.dtype, self.inner.dtype)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        return self.outer.mv(self.inner.mv(x))

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        return self.inner.rmv(self.outer.rmv(z))

    def mv_cost(self) -> int:
        return self.outer.mv_cost() + self.inner.mv_cost()

    def normalized(self) -> tuple["Composed", Float[Array, ""]]:
        """Each factor normalised: ``(W_o / c_o)(W_i / c_i)`` and ``c_o c_i``."""
        outer, c_outer = self.outer.normalized()
        inner, c_inner = self.inner.normalized()
        return Composed(outer, inner), (c_outer * c_inner).astype(self.dtype)


class Sum(AbstractOperator):
    """``W = W_a + W_b`` (the same shapes)."""

    a: AbstractOperator
    b: AbstractOperator

    def __init__(self, a: AbstractOperator, b: AbstractOperator):
        check_operator(a, "a")
        check_operator(b, "b")
        if (tuple(a.in_shape), tuple(a.out_shape)) != (tuple(b.in_shape), tuple(b.out_shape)):
            raise ValueError(
                f"a and b must have the same shapes to be added; got in {tuple(a.in_shape)} / "
                f"{tuple(b.in_shape)}, out {tuple(a.out_shape)} / {tuple(b.out_shape)}"
            )
        self.a, self.b = a, b

    @property
    def in_shape(self):
        return tuple(self.a.in_shape)

    @property
    def out_shape(self):
        return tuple(self.a.out_shape)

    @property
    def dtype(self):
        return jnp.result_type(self.a.dtype, self.b.dtype)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        return self.a.mv(x) + self.b.mv(x)

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        return self.a.rmv(z) + self.b.rmv(z)

    def mv_cost(self) -> int:
        return self.a.mv_cost() + self.b.mv_cost()


class Scaled(AbstractOperator):
    """``W = c W_op`` for a scalar ``c`` (a leaf: ``jax.vmap`` over scales works)."""

    operator: AbstractOperator
    scale: Float[Array, ""]

    def __init__(self, operator: AbstractOperator, scale: Float[ArrayLike, ""]):
        check_operator(operator, "operator")
        scale = jnp.asarray(scale)
        if scale.shape != ():
            raise ValueError(f"scale must be a scalar; got shape {scale.shape}")
        self.operator, self.scale = operator, scale

    @property
    def in_shape(self):
        return tuple(self.operator.in_shape)

    @property
    def out_shape(self):
        return tuple(self.operator.out_shape)

    @property
    def dtype(self):
        return jnp.result_type(self.operator.dtype, self.scale.dtype)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        return self.scale * self.operator.mv(x)

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        return self.scale * self.operator.rmv(z)

    def mv_cost(self) -> int:
        return self.operator.mv_cost()

    def gram_table(self):
        """The operator's own table: ``G_S`` of ``c W`` is ``c² G_S`` of ``W``."""
        return self.operator.gram_table()

    def restricted_gram(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGram:
        gram = self.operator.restricted_gram(support, mask, table=table)
        return (self.scale * self.scale).astype(gram.dtype) * gram

    def restricted_gram_cost(self, k: int) -> int:
        return self.operator.restricted_gram_cost(k)


class _Stack(AbstractOperator):
    """Operators side by side along the channel (last) axis of their codes or signals."""

    operators: tuple[AbstractOperator, ...]
    sizes: tuple[int, ...] = static_field()

    def _split(self, array):
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        return jnp.split(array, bounds, axis=-1)

    @property
    def dtype(self):
        return jnp.result_type(*(op.dtype for op in self.operators))

    def mv_cost(self) -> int:
        return sum(op.mv_cost() for op in self.operators)


def _check_stack(operators, same: str, along: str) -> tuple[AbstractOperator, ...]:
    operators = tuple(operators)
    if len(operators) < 1:
        raise ValueError("operators must hold at least one operator")
    for i, op in enumerate(operators):
        check_operator(op, f"operators[{i}]")
    first = operators[0]
    for i, op in enumerate(operators[1:], 1):
        if tuple(getattr(op, same)) != tuple(getattr(first, same)):
            raise ValueError(
                f"operators[{i}].{same} {tuple(getattr(op, same))} differs from operators[0]'s "
                f"{tuple(getattr(first, same))}: stacked operators share their {same}"
            )
        if tuple(getattr(op, along))[:-1] != tuple(getattr(first, along))[:-1]:
            raise ValueError(
                f"operators[{i}].{along} {tuple(getattr(op, along))} must match operators[0]'s "
                f"{tuple(getattr(first, along))} on every axis but the last (channels)"
            )
    return operators


class VStack(_Stack):
    """``W = [W₁; W₂; …]``: the codes of operators with one input shape, concatenated along
    the channel axis (several filter banks on one signal): ``out_shape = (*spatial, ΣK_i)``."""

    def __init__(self, operators: Sequence[AbstractOperator]):
        self.operators = _check_stack(operators, "in_shape", "out_shape")
        self.sizes = tuple(int(op.out_shape[-1]) for op in self.operators)

    @property
    def in_shape(self):
        return tuple(self.operators[0].in_shape)

    @property
    def out_shape(self):
        return tuple(self.operators[0].out_shape)[:-1] + (sum(self.sizes),)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        return jnp.concatenate([op.mv(x) for op in self.operators], axis=-1)

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        parts = self._split(z)
        # a stack holds at least one operator: the sum is an array, never the start 0
        return cast(Array, sum(op.rmv(p) for op, p in zip(self.operators, parts, strict=True)))


class HStack(_Stack):
    """``W = [W₁ W₂ …]``: operators with one code shape applied to the parts of a signal
    concatenated along its channel axis: ``in_shape = (*spatial, ΣM_i)``, ``W x = Σ W_i x_i``."""

    def __init__(self, operators: Sequence[AbstractOperator]):
        self.operators = _check_stack(operators, "out_shape", "in_shape")
        self.sizes = tuple(int(op.in_shape[-1]) for op in self.operators)

    @property
    def in_shape(self):
        return tuple(self.operators[0].in_shape)[:-1] + (sum(self.sizes),)

    @property
    def out_shape(self):
        return tuple(self.operators[0].out_shape)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        parts = self._split(x)
        return cast(Array, sum(op.mv(p) for op, p in zip(self.operators, parts, strict=True)))

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        return jnp.concatenate([op.rmv(z) for op in self.operators], axis=-1)

    # ``Φ = Wᵀ`` stacks the parts' ``Φ_i`` by rows, so ``G = ΦᵀΦ = Σ_i G_i``: every part keeps
    # its own (fast) Gram, e.g. a layer's correlation table.
    def gram_table(self):
        """The parts' own :meth:`gram_table`, one per part (a tuple)."""
        return tuple(op.gram_table() for op in self.operators)

    def restricted_gram(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGram:
        """``G_S = Σ_i G_{i,S}`` from the parts (``table``: this operator's
        :meth:`gram_table`, or ``None``)."""
        tables = (None,) * len(self.operators) if table is None else table
        parts = zip(self.operators, tables, strict=True)
        return cast(Array, sum(op.restricted_gram(support, mask, table=t) for op, t in parts))

    def restricted_gram_cost(self, k: int) -> int:
        return sum(op.restricted_gram_cost(k) for op in self.operators)


class Selection(AbstractOperator):
    """``S``: the entries ``indices`` (flat, C order) of an array of shape ``in_shape``, as a
    vector ``(len(indices),)``; ``Sᵀ`` puts them back among zeros (``rmv``). Subsampling a
    layer's signal is ``W @ Selection(W.in_shape, rows).T``.

    Args:
        in_shape: the shape the entries are taken from.
        indices: distinct flat indices in ``[0, prod(in_shape))`` (a leaf: ``jax.vmap`` over
            index sets of one length works).
    """

    indices: Int[Array, " m"]
    shape: tuple[int, ...] = static_field()
    dtype: jnp.dtype = static_field()

    def __init__(self, in_shape: Sequence[int], indices: Int[ArrayLike, " m"], dtype=jnp.float32):
        shape = positive_ints(in_shape, "in_shape", minimum=1)
        values = np.asarray(indices)
        size = math.prod(shape)
        if values.ndim != 1 or values.size < 1 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"indices must be a non-empty 1-D integer array; got {indices!r:.80}")
        if values.min() < 0 or values.max() >= size or np.unique(values).size != values.size:
            raise ValueError(
                f"indices must be distinct flat indices in [0, {size}) for in_shape {shape}"
            )
        self.indices = jnp.asarray(values, jnp.int32)
        self.shape = shape
        self.dtype = jnp.dtype(dtype)

    @property
    def in_shape(self):
        return self.shape

    @property
    def out_shape(self):
        return (int(self.indices.shape[0]),)

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch m"]:
        x = jnp.asarray(x)
        return x.reshape(_batch(x, self.shape) + (-1,))[..., self.indices]

    def rmv(self, z: Float[ArrayLike, "*batch m"]) -> Float[Array, "*batch_in_shape"]:
        z = jnp.asarray(z)
        batch = _batch(z, self.out_shape)
        flat = jnp.zeros(batch + (math.prod(self.shape),), z.dtype)
        return flat.at[..., self.indices].set(z).reshape(batch + self.shape)

    def mv_cost(self) -> int:
        return int(self.indices.shape[0])


__all__ = ["Composed", "HStack", "Scaled", "Selection", "Sum", "VStack"]
