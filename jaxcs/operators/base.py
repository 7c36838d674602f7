"""The operator protocol: :class:`AbstractOperator` and its correct dense defaults.

An operator is the layer ``W``: ``mv(x) = W x`` maps a signal of shape
``in_shape`` to a code of shape ``out_shape``, ``rmv(z) = Wᵀ z`` maps back (the paper's synthesis
operator ``Φ = Wᵀ``). Both accept any number of leading batch axes. A subclass defines ``mv``,
``rmv``, ``in_shape``, ``out_shape`` and ``dtype`` (as methods, properties or fields) and is a
pytree by the rules of :mod:`jaxcs._pytree`: array fields are leaves (so ``jax.vmap`` over a
stack of operators works), fields declared ``= static_field()`` are static::

    class Circulant(jaxcs.AbstractOperator):
        kernel: jax.Array
        in_shape: tuple = jaxcs.static_field()
        ...

Everything else has a default here that is correct for any operator, if slow:
``T``, ``as_matrix``, ``rmv_sparse``, ``residual``, ``normal_sparse``, ``gram_table``,
``restricted_gram``, ``restricted_gram_pairs``, ``is_finite``, ``normalized``, the cost estimates
``mv_cost`` and ``normal_sparse_cost`` that solvers choose their paths by, and
``expected_leaf_shapes`` / ``check_unbatched``, by which :func:`check_operator` refuses a
stacked batch of operators passed without ``jax.vmap`` (nothing is declared by default: an
operator of your own declares the shapes of its array fields to get that check).
:class:`~jaxcs.ConvOperator` and :class:`~jaxcs.MatrixOperator` override them with their fast
forms (lineax's pattern).
"""

import abc
import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from jaxcs._pytree import Pytree
from jaxcs._validate import check_trailing

DENSE_GRAM_MAX_ENTRIES = 2**24  # 64 MiB of float32: beyond this, Grams come from columns

# The restricted-Gram signatures, shared by every operator's overrides: a batch of supports of
# ``k`` flat code indices, their masks, and the ``k × k`` Grams (or their distinct entries).
Support = Int[Array, "*batch k"]
SupportMask = Bool[ArrayLike, "*batch k"]
SupportGram = Float[Array, "*batch k k"]
SupportGramPairs = tuple[Float[Array, "*batch k"], Float[Array, "*batch k*(k-1)//2"]]


class DenseGram(Pytree):
    """The whole Gram ``W Wᵀ`` (``prod(out_shape)²``): the "table" of a dense operator."""

    values: Float[Array, "m m"]


class AbstractOperator(Pytree):
    """Base of every operator (module docstring). Subclasses define ``mv`` and ``rmv``
    (abstract methods) and ``in_shape``, ``out_shape`` and ``dtype`` (abstract attributes:
    fields, properties or class attributes); a class that leaves any of them undefined cannot
    be instantiated, and the error names what is missing."""

    in_shape: AbstractVar[tuple[int, ...]]
    out_shape: AbstractVar[tuple[int, ...]]
    dtype: AbstractVar[Any]

    @abc.abstractmethod
    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        """``W x``: ``(*batch, *in_shape) -> (*batch, *out_shape)``."""

    @abc.abstractmethod
    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        """``Wᵀ z``: ``(*batch, *out_shape) -> (*batch, *in_shape)``."""

    # ------------------------------------------------------------------ derived operators
    @property
    def T(self) -> "AbstractOperator":
        """The transposed operator (``mv`` and ``rmv`` swapped)."""
        return TransposedOperator(self)

    def __matmul__(self, other: "AbstractOperator") -> "AbstractOperator":
        """``self @ other``: the composition ``W_self W_other`` (:mod:`jaxcs.operators.algebra`)."""
        from jaxcs.operators.algebra import Composed

        return Composed(self, other)

    def __add__(self, other: "AbstractOperator") -> "AbstractOperator":
        from jaxcs.operators.algebra import Sum

        return Sum(self, other)

    def __sub__(self, other: "AbstractOperator") -> "AbstractOperator":
        from jaxcs.operators.algebra import Scaled, Sum

        return Sum(self, Scaled(other, -1.0))

    def __mul__(self, scale: Float[ArrayLike, ""]) -> "AbstractOperator":
        """``c * W`` or ``W * c``: the scalar multiple."""
        from jaxcs.operators.algebra import Scaled

        return Scaled(self, scale)

    __rmul__ = __mul__

    def __neg__(self) -> "AbstractOperator":
        return self * -1.0

    def as_matrix(self) -> Float[Array, "m N"]:
        """The dense ``(prod(out_shape), prod(in_shape))`` matrix of ``W`` (tests, tiny sizes).

        Rows are the C-order flattening of ``out_shape``, columns of ``in_shape``. Default:
        ``W`` applied to every basis vector (one batched ``mv``).
        """
        n_in = math.prod(self.in_shape)
        basis = jnp.eye(n_in, dtype=self.dtype).reshape((n_in,) + tuple(self.in_shape))
        return self.mv(basis).reshape(n_in, -1).T

    def is_finite(self) -> Bool[Array, ""]:
        """Whether every floating leaf of the operator is finite (a boolean scalar)."""
        leaves = [
            leaf
            for leaf in jax.tree.leaves(self)
            if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact)
        ]
        return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(leaf)) for leaf in leaves], bool))

    def normalized(self) -> tuple["AbstractOperator", Float[Array, ""]]:
        """``(W / c, c)``: the operator divided by a positive scale ``c`` of its entries' size.

        The solver driver solves ``x / s = (W / c)ᵀ (z c / s)`` instead of ``x = Wᵀ z`` so that
        float32 neither overflows nor underflows for filters of any magnitude (see
        :func:`jaxcs.solve`). ``c`` should be a power of two (exact: the scaled operator's
        iterates are the unscaled ones times a power of two) and cheap to compute.
        Default: ``(self, 1)``, the operator used at its own scale (correct, not protected):
        an operator whose floating leaves are its linear coefficients overrides it, as
        :class:`~jaxcs.ConvOperator` and :class:`~jaxcs.MatrixOperator` do.

        Returns:
            ``(operator, c)``, ``c`` a positive scalar of ``dtype``.
        """
        return self, jnp.ones((), self.dtype)

    # ------------------------------------------------------------------ stacked batches
    def expected_leaf_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of each array field of *one* operator, by field name, as the operator's
        static configuration implies it (``in_shape``, ``out_shape``, the number of spatial
        axes, …).

        A field whose array has extra leading axes makes the operator a stacked batch of
        operators (``jax.vmap`` of a constructor, or ``jnp.stack`` of several operators'
        leaves), which only works under ``jax.vmap`` (where every leaf has the unbatched
        shape); :meth:`check_unbatched` (hence :func:`check_operator`) refuses it elsewhere.
        Default: ``{}`` (nothing declared, nothing checked); :class:`~jaxcs.ConvOperator` and
        :class:`~jaxcs.MatrixOperator` declare theirs. Fields that hold operators need no entry:
        :meth:`check_unbatched` checks them by their own declarations.
        """
        return {}

    def check_unbatched(self, name: str = "op", call: str | None = None) -> None:
        """Raise a ValueError when this operator is a stacked batch of operators.

        Compares every field declared by :meth:`expected_leaf_shapes` with the shape it has
        (and checks every field that holds an operator, e.g. the ``operator`` of a
        :class:`TransposedOperator`, the same way). Under ``jax.vmap`` the leaves have their
        unbatched shapes, so this passes; under ``jax.jit`` the shapes are known, so it checks.

        Args:
            name: how the operator is called in the message (``"op"``).
            call: the call to put in the message's ``jax.vmap(lambda op: <call>)(ops)`` hint.

        Raises:
            ValueError: naming the field, its shape and the shape one operator has.
        """
        expected = self.expected_leaf_shapes()
        for field in self.leaf_fields():
            value = getattr(self, field)
            if isinstance(value, AbstractOperator):
                value.check_unbatched(f"{name}.{field}", call)
            elif field in expected and value is not None:
                want, found = tuple(expected[field]), tuple(jnp.shape(value))
                if found != want:
                    raise ValueError(
                        stacked_message(name, type(self).__name__, field, found, want, call)
                    )

    # ------------------------------------------------------------------ sparse codes
    def rmv_sparse(self, code) -> Float[Array, "*batch_in_shape"]:
        """``Wᵀ z`` for a code in index form (:class:`~jaxcs.SparseCode` of shape
        ``out_shape``). Default: ``rmv`` of the dense code. A NaN value makes the result NaN.

        Returns:
            ``(*batch, *in_shape)``.
        """
        check_code(code, self.out_shape)
        return self.rmv(code.to_dense())

    def residual(
        self, x: Float[ArrayLike, "*batch_in_shape"], code, *, sign: int = -1
    ) -> Float[Array, "*batch_in_shape"]:
        """``x − Wᵀ z`` (``sign=-1``) or ``x + Wᵀ z`` for a code in index form.

        Args:
            x: ``(*batch, *in_shape)``, the batch of ``code``.
            code: a :class:`~jaxcs.SparseCode` of shape ``out_shape``.
            sign: ``-1`` or ``1``.

        Returns:
            ``(*batch, *in_shape)``; NaN throughout where a value of the code is NaN.
        """
        x, _ = check_residual(self, x, code, sign)
        return x + sign * self.rmv_sparse(code)

    def normal_sparse(
        self,
        code,
        table=None,
        *,
        scale: float | Float[Array, ""] = 1.0,
        onto: Float[Array, "*batch_out_shape"] | None = None,
        add_code: bool = False,
    ) -> Float[Array, "*batch_out_shape"]:
        """``onto + scale · W Wᵀ z (+ z)``: the normal operator ``W Wᵀ`` applied to a code in
        index form (:class:`~jaxcs.SparseCode` of shape ``out_shape``, ``s`` slots).

        IHT's gradient is ``W r = W x − W Wᵀ z`` with ``W x`` fixed per problem, so a solver
        that has this cheaply needs no ``mv`` per step: its step ``z + μ W r`` is
        ``normal_sparse(code, table, scale=−μ, onto=μ W x, add_code=True)``. Default:
        ``Σ_s z_s · G[:, i_s]`` from a :class:`DenseGram` ``table`` (``G = W Wᵀ`` symmetric: a
        gather of ``s`` rows, ``O(s · m)``), else ``mv(rmv_sparse(code))``. A NaN value makes
        the result NaN.

        Args:
            code: a :class:`~jaxcs.SparseCode` of shape ``out_shape``, any batch axes.
            table: this operator's :meth:`gram_table` (``None``: not used by the default).
            scale: a scalar factor of ``W Wᵀ z``.
            onto: ``(*batch, *out_shape)`` to add the result to (``None``: zeros).
            add_code: also add ``z`` itself (``(scale · W Wᵀ + I) z``).

        Returns:
            ``(*batch, *out_shape)``.
        """
        check_code(code, self.out_shape)
        if isinstance(table, DenseGram):
            dtype = jnp.result_type(table.values.dtype, code.values.dtype)
            rows = table.values[code.indices].astype(dtype)  # (*batch, s, m): G[i_s, :]
            dense = jnp.einsum("...s,...sm->...m", code.used_values().astype(dtype), rows)
            dense = dense.reshape(code.indices.shape[:-1] + tuple(self.out_shape))
        else:
            dense = self.mv(self.rmv_sparse(code))
        out = scale * dense if onto is None else onto + scale * dense
        return code.add_to(out) if add_code else out

    def mv_cost(self) -> int:
        """Multiply-adds of one :meth:`mv` of one signal (default: the dense ``m · N``)."""
        return math.prod(self.out_shape) * math.prod(self.in_shape)

    def normal_sparse_cost(self, slots: int) -> int | None:
        """Multiply-adds (and writes) of one :meth:`normal_sparse` of a ``slots``-slot code from
        the operator's :meth:`gram_table`, or ``None`` when the operator has no table form
        cheaper than its ``mv`` (the default: solvers then use :meth:`mv`)."""
        return None

    # ------------------------------------------------------------------ restricted Grams
    def gram_table(self):
        """What :meth:`restricted_gram` gathers ``G_S`` from, computed once per operator.

        Default: the whole Gram ``W Wᵀ`` (:class:`DenseGram`) while it has at most
        ``DENSE_GRAM_MAX_ENTRIES`` entries, else ``None`` (Grams then come from the columns).
        """
        m = math.prod(self.out_shape)
        if m * m > DENSE_GRAM_MAX_ENTRIES:
            return None
        w = self.as_matrix()
        return DenseGram(w @ w.T)

    def restricted_gram_cost(self, k: int) -> int:
        """Array elements of the temporaries of one ``k``-support's :meth:`restricted_gram`
        (callers size their chunks from it)."""
        return k * k + k * math.prod(self.in_shape)

    def restricted_gram(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGram:
        """``G_S = (Wᵀ)_Sᵀ (Wᵀ)_S`` for a batch of supports.

        Args:
            support: ``(*batch, k)`` integer flat indices into a code of shape ``out_shape``
                (C order), in range.
            mask: optional ``(*batch, k)`` booleans; masked-out entries get zero rows and
                columns (the Gram of zero columns), so a fixed-size support can hold any ``k``.
            table: a precomputed :meth:`gram_table` (``None``: use the columns).

        Returns:
            ``(*batch, k, k)`` symmetric Grams. Default: a gather from a :class:`DenseGram`
            table, else the ``k`` columns ``Wᵀ e_s`` (one batched ``rmv``) and their products.
        """
        if isinstance(table, DenseGram):
            gram = table.values[support[..., :, None], support[..., None, :]]
        else:
            size = math.prod(self.out_shape)
            basis = jax.nn.one_hot(support, size, dtype=self.dtype)
            columns = self.rmv(basis.reshape(support.shape + tuple(self.out_shape)))
            columns = columns.reshape(support.shape + (-1,))
            gram = jnp.einsum("...an,...bn->...ab", columns, columns)
        return mask_gram(gram, mask)

    def restricted_gram_pairs(
        self, support: Support, mask: SupportMask | None = None, *, table=None
    ) -> SupportGramPairs:
        """The diagonal and the strict upper triangle of :meth:`restricted_gram`.

        Returns:
            ``(diagonal, upper)``: ``(*batch, k)`` and ``(*batch, k(k − 1)/2)``, the latter in
            the order of ``numpy.triu_indices(k, 1)``.
        """
        gram = self.restricted_gram(support, mask, table=table)
        rows, cols = np.triu_indices(support.shape[-1], 1)
        return jnp.diagonal(gram, axis1=-2, axis2=-1), gram[..., rows, cols]


def mask_gram(gram: jax.Array, mask) -> jax.Array:
    """Zero the rows and columns of ``gram`` whose ``mask`` entry is ``False``."""
    if mask is None:
        return gram
    mask = jnp.asarray(mask, bool)
    return jnp.where(mask[..., :, None] & mask[..., None, :], gram, 0)


def check_code(code, out_shape) -> None:
    """A code in index form must be for the operator's code shape."""
    if tuple(getattr(code, "shape", ())) != tuple(out_shape):
        raise ValueError(
            f"code must be a SparseCode of shape {tuple(out_shape)} (op.out_shape); got "
            f"{getattr(code, 'shape', type(code).__name__)}"
        )


def check_residual(op, x, code, sign) -> tuple[jax.Array, tuple[int, ...]]:
    """Arguments of ``op.residual``: ``(x as an array, batch shape)``, or a ValueError."""
    check_code(code, op.out_shape)
    if sign not in (-1, 1):
        raise ValueError(f"sign must be -1 (x − Wᵀz) or 1 (x + Wᵀz); got {sign!r}")
    x = jnp.asarray(x)
    batch = check_trailing(x, tuple(op.in_shape), "x")
    if batch != code.indices.shape[:-1]:
        raise ValueError(
            f"x has batch shape {batch} but code has {code.indices.shape[:-1]}; they must match"
        )
    return x, batch


def check_operator(op, name: str = "op", *, call: str | None = None) -> None:
    """``op`` must be one operator: an instance of :class:`AbstractOperator` whose array
    leaves have the shapes of one operator (:meth:`AbstractOperator.check_unbatched`), not a
    stacked batch of operators passed without ``jax.vmap``.

    Args:
        op: the argument.
        name: its name in the messages.
        call: the caller's call for the ``jax.vmap(lambda op: <call>)(ops)`` hint of the
            stacked-batch message (e.g. ``"estimate_model_rip(key, op, model, n)"``).

    Raises:
        TypeError: ``op`` is not an operator.
        ValueError: ``op`` is a stacked batch of operators (outside ``vmap``).
    """
    if not isinstance(op, AbstractOperator):
        raise TypeError(
            f"{name} must be a jaxcs operator (a subclass of jaxcs.AbstractOperator, e.g. "
            f"ConvOperator or MatrixOperator); got {type(op).__name__}"
        )
    op.check_unbatched(name, call)


def stacked_message(name: str, kind: str, field: str, found, expected, call=None) -> str:
    """The message of :meth:`AbstractOperator.check_unbatched` for a leaf of the wrong shape."""
    found, expected = tuple(found), tuple(expected)
    text = (
        f"{name}.{field} has shape {found}, but one {kind} as configured has {field} of "
        f"shape {expected}"
    )
    extra = len(found) - len(expected)
    if extra > 0 and found[extra:] == expected:
        call = call or "the_function(..., op, ...)"
        return (
            f"{text} ({name} has extra leading axes {found[:extra]}): this looks like a "
            f"stacked batch of operators: map over it with jax.vmap(lambda op: {call})(ops)"
        )
    return f"{text}: {name} is inconsistent (its leaves do not match its static shapes)"


class TransposedOperator(AbstractOperator):
    """``Wᵀ`` as an operator in its own right: ``mv`` and ``rmv`` of ``operator`` swapped.

    Everything else comes from the dense defaults of :class:`AbstractOperator` (correct for
    any operator). ``MatrixOperator.T`` is a :class:`~jaxcs.MatrixOperator` of the transposed
    matrix instead, with all of its fast forms.
    """

    operator: AbstractOperator

    if TYPE_CHECKING:  # the generated __init__: the abstract vars below are properties, not fields

        def __init__(self, operator: AbstractOperator) -> None: ...

    @property
    def in_shape(self):
        return tuple(self.operator.out_shape)

    @property
    def out_shape(self):
        return tuple(self.operator.in_shape)

    @property
    def dtype(self):
        return self.operator.dtype

    @property
    def T(self) -> "AbstractOperator":
        return self.operator

    def mv(self, x: Float[ArrayLike, "*batch_in_shape"]) -> Float[Array, "*batch_out_shape"]:
        return self.operator.rmv(x)

    def rmv(self, z: Float[ArrayLike, "*batch_out_shape"]) -> Float[Array, "*batch_in_shape"]:
        return self.operator.mv(z)

    def as_matrix(self) -> Float[Array, "m N"]:
        return self.operator.as_matrix().T

    def normalized(self) -> tuple["TransposedOperator", Float[Array, ""]]:
        """The transposed operator's :meth:`~AbstractOperator.normalized`, transposed."""
        operator, scale = self.operator.normalized()
        return TransposedOperator(operator), scale


__all__ = ["AbstractOperator", "DenseGram", "TransposedOperator"]
