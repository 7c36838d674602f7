"""The sparsity-model protocol: :class:`AbstractSparsityModel`.

A model ``𝕄`` is a set of structured-sparse codes ``(*spatial, K)`` with a budget ``k`` and an
exact (Euclidean) projection onto the set. The solvers (:func:`jaxcs.recover`), the model-RIP
estimators (:func:`jaxcs.estimate_model_rip`) and the sweeps use a model only through the
methods below, so a model of one's own works with all of them: subclass, declare the fields
``k`` (a leaf: a sweep over ``k`` does not recompile), ``capacity`` and ``nonnegative``
(static), and define the abstract methods. Every method acts on **one** code; batches go
through ``jax.vmap``, except :meth:`~AbstractSparsityModel.sample_sparse`, which draws a whole
batch from one key.

Codes in index form (:class:`~jaxcs.SparseCode`) have a static number of slots,
:meth:`~AbstractSparsityModel.num_slots`, fixed by the static ``capacity`` (so that it also
holds inside ``jit``, where ``k`` is traced): every ``k`` within the capacity shares one
compiled program.

Shipped models: the region models (:class:`~jaxcs.BlockModel`, :class:`~jaxcs.PoolingModel`,
:class:`~jaxcs.TopKModel`: at most one non-zero per region), :class:`~jaxcs.PerChannelModel`
(``k`` non-zeros in each channel) and :class:`~jaxcs.JointModel` (``k`` spatial positions, all
channels active at each).
"""

import abc
from collections.abc import Iterator, Sequence

import jax
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from jaxcs._pytree import Pytree
from jaxcs._validate import (
    check_choice,
    check_k,
    check_key,
    float_dtype,
    is_traced,
    positive_int,
    positive_ints,
)
from jaxcs.models._sampling import DISTRIBUTIONS
from jaxcs.models.sparse_code import SparseCode

CAPACITY_QUANTUM = 8


def default_capacity(k: int) -> int:
    """The capacity a budget ``k`` gets by default: ``k`` rounded up to a multiple of 8, at
    least 8 (budgets that round alike share one compiled program)."""
    return max(CAPACITY_QUANTUM, -(-int(k) // CAPACITY_QUANTUM) * CAPACITY_QUANTUM)


def code_shape_of(code_shape: Sequence[int], name: str = "code_shape") -> tuple[int, ...]:
    """``code_shape`` as a tuple ``(*spatial, K)`` of positive ints, else a ValueError naming
    ``name`` (what every model's :meth:`~AbstractSparsityModel.check_code_shape` starts
    with)."""
    code_shape = positive_ints(code_shape, name)
    if len(code_shape) < 1:
        raise ValueError(f"{name} must be (*spatial, K) with positive sizes; got {code_shape}")
    return code_shape


def budget_and_capacity(k, capacity: int | None):
    """``(k, capacity)`` checked: a budget (an int, an integer array, traced or ``None``) and
    the static capacity, by default :func:`default_capacity` of ``k`` (for an array of ``k``,
    of its largest entry); ``None`` for a traced ``k`` without one."""
    k = check_k(k)
    kc = None if k is None or is_traced(k) else int(np.max(np.asarray(k)))
    if capacity is not None:
        capacity = positive_int(capacity, "capacity")
        if kc is not None and kc > capacity:
            raise ValueError(f"k={kc} exceeds capacity={capacity}")
    elif kc is not None:
        capacity = default_capacity(kc)
    return k, capacity


class AbstractSparsityModel(Pytree):
    """A structured sparsity model (module docstring): what the solvers and the RIP tools need.

    Attributes:
        k: the budget, in the model's own unit (regions, non-zeros per channel, positions);
            ``None`` where the model allows no budget.
        capacity: static bound on ``k`` that sizes index-form codes (``None``: the largest
            budget, :meth:`max_budget`).
        nonnegative: whether the codes are non-negative.
    """

    k: AbstractVar[jax.Array | int | None]
    capacity: AbstractVar[int | None]
    nonnegative: AbstractVar[bool]

    # ------------------------------------------------------------------ geometry
    @abc.abstractmethod
    def check_code_shape(
        self, code_shape: Sequence[int], name: str = "code_shape"
    ) -> tuple[int, ...]:
        """Validate a code shape ``(*spatial, K)`` for this model (and a concrete ``k``
        against it); return it as a tuple of ints. Raises a ValueError naming ``name``."""

    def check_budget(self, code_shape: Sequence[int], unit: str) -> None:
        """A concrete ``k`` (or its largest entry) within :meth:`max_budget`, else a ValueError
        that counts the ``unit`` (``"regions"``, ``"positions"``) of ``code_shape``."""
        if self.k is None or is_traced(self.k):
            return
        k_max, largest = int(np.max(np.asarray(self.k))), self.max_budget(code_shape)
        if k_max > largest:
            raise ValueError(
                f"k={k_max} is out of range for {type(self).__name__} on a code of shape "
                f"{tuple(code_shape)}: at most {largest} {unit}"
            )

    @abc.abstractmethod
    def max_budget(self, code_shape: Sequence[int]) -> int:
        """The largest meaningful ``k`` on codes of shape ``code_shape`` (every region, every
        position, …)."""

    @abc.abstractmethod
    def num_slots(self, code_shape: Sequence[int]) -> int:
        """Static number of slots of this model's index-form codes of shape ``code_shape``: the
        most non-zeros a code may have when ``k ≤ capacity``."""

    def sampling_cost(self, code_shape: Sequence[int]) -> int:
        """Array elements of the temporaries of one :meth:`sample_sparse` code (callers size
        their chunks from it). Default: the slots."""
        return self.num_slots(code_shape)

    def with_budget(
        self, k: int | Int[ArrayLike, "*batch"] | None, capacity: int | None
    ) -> "AbstractSparsityModel":
        """The same model with another budget and capacity (CoSaMP merges supports of the
        model with ``2k``). Default: the fields ``k`` and ``capacity`` replaced."""
        return self.replace(k=k, capacity=capacity)

    # ------------------------------------------------------------------ enumeration (optional)
    def support_size(self, code_shape: Sequence[int]) -> int:
        """Non-zeros of a support with a full budget (for :func:`jaxcs.exact_model_rip`).
        Optional: by default the model does not enumerate its supports."""
        raise NotImplementedError(f"{type(self).__name__} does not enumerate its supports")

    def support_count(self, code_shape: Sequence[int]) -> int:
        """Number of supports with a full budget (a Python int, maybe huge). Optional."""
        raise NotImplementedError(f"{type(self).__name__} does not enumerate its supports")

    def iter_supports(
        self, code_shape: Sequence[int], chunk_size: int
    ) -> Iterator[Int[np.ndarray, "B support_size"]]:
        """Every support with a full budget once, as ``(B ≤ chunk_size, support_size)`` int64
        flat code indices, host-side. Optional. For a signed model these are all the supports
        :func:`jaxcs.exact_model_rip` needs: a smaller support's Gram is a principal submatrix
        of a full one's, whose eigenvalues lie between (Cauchy interlacing)."""
        raise NotImplementedError(f"{type(self).__name__} does not enumerate its supports")

    # ------------------------------------------------------------------ projection
    @abc.abstractmethod
    def project_sparse(self, v: Float[ArrayLike, "*spatial K"]) -> SparseCode:
        """The closest model code to ``v`` ``(*spatial, K)`` (Euclidean), in index form with
        :meth:`num_slots` slots. A NaN in ``v`` makes every value NaN."""

    def project(self, v: Float[ArrayLike, "*spatial K"]) -> Float[Array, "*spatial K"]:
        """:meth:`project_sparse` as a dense code ``(*spatial, K)``."""
        return self.project_sparse(v).to_dense()

    def support(self, v: Float[ArrayLike, "*spatial K"]) -> Bool[Array, "*spatial K"]:
        """Boolean mask ``(*spatial, K)`` of the non-zeros of :meth:`project`."""
        return self.project(v) != 0

    @abc.abstractmethod
    def contains(self, v: Float[ArrayLike, "*spatial K"]) -> Bool[Array, ""]:
        """Whether ``v`` ``(*spatial, K)`` lies in the model (a boolean scalar)."""

    # ------------------------------------------------------------------ sampling
    def sample_sparse(
        self,
        key: PRNGKeyArray,
        code_shape: Sequence[int],
        batch_shape: Sequence[int] = (),
        *,
        distribution: str = "uniform",
        dtype=None,
    ) -> SparseCode:
        """Random model codes with a full budget, in index form ``(*batch_shape, slots)``:
        supports uniform over the model's supports of that size, values from ``distribution``
        (``"uniform"`` U[−1, 1], ``"normal"``, ``"rademacher"``; absolute values when
        non-negative). A traced ``k`` beyond the capacity gives NaN values.

        Checks its arguments, then calls :meth:`draw_sparse`.
        """
        check_key(key)
        code_shape = self.check_code_shape(code_shape)
        check_choice(distribution, DISTRIBUTIONS, "distribution")
        batch_shape = positive_ints(batch_shape, "batch_shape", minimum=0)
        return self.draw_sparse(key, code_shape, batch_shape, distribution, float_dtype(dtype))

    @abc.abstractmethod
    def draw_sparse(
        self,
        key: PRNGKeyArray,
        code_shape: tuple[int, ...],
        batch_shape: tuple[int, ...],
        distribution,
        dtype,
    ) -> SparseCode:
        """:meth:`sample_sparse` once its arguments are checked: ``code_shape`` validated by
        :meth:`check_code_shape`, ``batch_shape`` a tuple, ``distribution`` one of
        ``"uniform"``, ``"normal"``, ``"rademacher"``, ``dtype`` a floating dtype."""

    def sample(
        self,
        key: PRNGKeyArray,
        code_shape: Sequence[int],
        batch_shape: Sequence[int] = (),
        *,
        distribution: str = "uniform",
        dtype=None,
    ) -> Float[Array, "*batch_code"]:
        """Random model codes ``(*batch_shape, *code_shape)``; see :meth:`sample_sparse`."""
        return self.sample_sparse(
            key, code_shape, batch_shape, distribution=distribution, dtype=dtype
        ).to_dense()


def check_model(model, name: str = "model") -> "AbstractSparsityModel":
    """``model`` if it is a sparsity model, else a TypeError naming the protocol."""
    if not isinstance(model, AbstractSparsityModel):
        raise TypeError(
            f"{name} must be a sparsity model (a jaxcs.AbstractSparsityModel: BlockModel, "
            f"PoolingModel, TopKModel, PerChannelModel, JointModel or your own); got "
            f"{type(model).__name__}"
        )
    return model


__all__ = ["AbstractSparsityModel", "budget_and_capacity", "check_model", "default_capacity"]
