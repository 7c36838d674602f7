"""The model-RIP Monte Carlo kernel :func:`sample_model_rip`: draws codes of the model chunk by
chunk and streams their per-code quantities into :class:`~jaxcs.analysis.Statistics` (no checks;
jit/vmap/shard-able)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from jaxcs._validate import concrete_int
from jaxcs.analysis.rip.quantities import code_quantities
from jaxcs.analysis.rip.result import QUANTITIES, RIPEstimate
from jaxcs.analysis.rip.spectrum.masked import DEFAULT_STEPS, masked_extremes
from jaxcs.analysis.statistics import DEFAULT_BINS, DEFAULT_RANGE, monte_carlo
from jaxcs.models import AbstractSparsityModel, SparseCode


def sample_model_rip(
    key: PRNGKeyArray,
    op,
    model: AbstractSparsityModel,
    num_samples: int | Int[ArrayLike, ""],
    *,
    method: str = "gram",
    eigenvalues: bool = False,
    full_ratio: bool = False,
    chunk_size: int = 1024,
    distribution: str = "uniform",
    histogram_range: tuple[float, float] = DEFAULT_RANGE,
    bins: int = DEFAULT_BINS,
    keep_samples: bool | int = False,
    extra: Callable[[SparseCode], dict[str, Float[Array, " B"]]] | None = None,
    progress_id: Int[ArrayLike, ""] | None = None,
    eigen_method: str = "dense",
    lanczos_steps: int = DEFAULT_STEPS,
) -> RIPEstimate:
    """The model-RIP Monte Carlo kernel behind :func:`estimate_model_rip`, without any checks.

    Draws ``num_samples`` codes from ``model`` on ``op.out_shape`` in chunks of ``chunk_size``
    (chunk ``c`` is ``model.sample_sparse(fold_in(key, c), op.out_shape, (chunk_size,),
    distribution=distribution, dtype=op.dtype)``), evaluates :func:`code_ratios` on each chunk
    (and ``extra``, when given) and streams every per-code quantity into :class:`Statistics`
    (:func:`~jaxcs.analysis.monte_carlo`).

    A pure function of its array arguments: every keyword except ``progress_id`` is static
    configuration given as a Python value, so it runs inside the caller's ``jit``, ``vmap``
    (over keys, operators, models with an array ``k``) or sharded computation, or is jitted
    on its own, e.g. ``jax.jit(partial(sample_model_rip, method="gram", eigenvalues=True,
    ...))``. A new key, ``k``, operator of the same shapes or (traced) ``num_samples``
    compiles nothing.

    The arguments are assumed valid (as :func:`estimate_model_rip` checks them): ``op`` an
    operator, ``model`` a sparsity model whose ``k`` (≥ 1) fits ``op.out_shape``,
    ``method`` resolved to ``"gram"`` or ``"conv"``, eigenvalues only for at most
    ``MAX_EXACT_EIGEN_K`` slots, ``1 ≤ num_samples < 2**31``.

    Args:
        key: PRNG key (a scalar key array).
        op: the layer ``W`` (any operator); codes have shape ``op.out_shape``.
        model: the model ``𝓜`` the codes are drawn from (its ``nonnegative`` flag selects the
            orthant extremes for ``eig_min``/``eig_max``, see :mod:`jaxcs.analysis.rip`).
        num_samples: number of codes, a Python int or a traced ``int32`` scalar; the last
            chunk is masked.
        method: ``"gram"`` (the default: ratios from the restricted Gram, ``O(k²)`` per code)
            or ``"conv"`` (two convolutions per code).
        eigenvalues: also compute ``eig_min``, ``eig_max`` per support (default: no).
        eigen_method: ``"dense"`` (``G_S`` and ``eigvalsh``, or the orthant ascent of a
            non-negative model) or ``"lanczos"`` (:func:`masked_extremes`, ``lanczos_steps``
            steps; adds ``eig_residual``).
        full_ratio: also compute the unrestricted ``‖WWᵀz‖/‖z‖``.
        chunk_size: codes per chunk ``B`` (default 1024; memory is ``O(B)``; the codes drawn
            depend on it).
        distribution: ``"uniform"`` (default), ``"normal"`` or ``"rademacher"`` values.
        histogram_range: ``(lo, hi)`` of every histogram (default: that of
            :func:`estimate_model_rip`).
        bins: histogram bins (default: as :func:`estimate_model_rip`).
        keep_samples: ``False`` (default): keep no samples; ``True``: keep all ``num_samples`` (then
            ``num_samples`` must be a Python int); an int ``N``: keep the first ``N`` (``NaN``
            beyond ``num_samples``), for a traced ``num_samples``.
        extra: optional ``SparseCode -> {name: (B,) array}``: additional per-code scalars of
            each chunk's codes (``(B, slots)`` index-form arrays, one code per row), streamed
            like the built-in quantities into ``RIPEstimate.extra`` and, when kept, into
            ``RIPEstimate.samples``. Names must differ from :data:`QUANTITIES`.
        progress_id: a traced int from :class:`~jaxcs.analysis.progress_bar` (``None``: no
            progress callbacks).

    Returns:
        A :class:`RIPEstimate`: every ``Statistics`` leaf a scalar (``histogram``: ``(bins,)``),
        ``status`` and ``num_samples`` ``int32`` scalars, ``samples`` ``{name: (N,)}`` or
        ``None``, ``extra`` ``{name: Statistics}`` or ``None`` (a leading axis on every leaf
        under ``vmap``).

    Raises:
        ValueError: (at trace time) ``keep_samples=True`` with a traced ``num_samples``, or an
            ``extra`` that returns a built-in name or not one ``(B,)`` array per name.
    """
    code_shape = tuple(op.out_shape)
    keep = _kept_count(keep_samples, num_samples)
    lanczos = eigenvalues and eigen_method == "lanczos"
    dense_eigen = eigenvalues and not lanczos
    table = op.gram_table() if (method == "gram" or dense_eigen) else None

    def chunk_fn(chunk_key):
        code = model.sample_sparse(
            chunk_key, code_shape, (chunk_size,), distribution=distribution, dtype=op.dtype
        )
        out = code_quantities(
            op,
            code,
            method=method,
            eigenvalues=dense_eigen,
            full_ratio=full_ratio,
            table=table,
            nonnegative=model.nonnegative,
        )
        if lanczos:
            found = masked_extremes(op, code, steps=lanczos_steps, nonnegative=model.nonnegative)
            out |= {"eig_min": found.eig_min, "eig_max": found.eig_max}
            if not model.nonnegative:  # the orthant ascent makes no accuracy statement
                out["eig_residual"] = jnp.maximum(found.residual_min, found.residual_max)
        if extra is not None:
            out |= _check_extra(extra(code), chunk_size)
        return out

    stats, kept = monte_carlo(
        key,
        chunk_fn,
        num_samples,
        chunk_size,
        histogram_range=tuple(float(r) for r in histogram_range),
        bins=int(bins),
        keep_samples=keep,
        progress_id=progress_id,
    )
    return RIPEstimate.of(
        stats,
        op.is_finite(),
        num_samples,
        kept,
        extra=extra is not None,
        eigen_method=("lanczos" if lanczos else "dense") if eigenvalues else None,
        method=method,
    )


def _kept_count(keep_samples, num_samples) -> int | None:
    if keep_samples is None or keep_samples is False:
        return None
    if keep_samples is True:
        n = concrete_int(num_samples)
        if n is None:
            raise ValueError(
                "keep_samples=True needs a concrete num_samples (a Python int); pass "
                "keep_samples=N to keep the first N samples of a traced num_samples"
            )
        return n
    return int(keep_samples)


def _check_extra(values, chunk_size: int) -> dict:
    if not isinstance(values, dict):
        raise ValueError(f"extra must return a dict {{name: (B,) array}}; got {type(values)}")
    clash = sorted(set(values) & set(QUANTITIES))
    if clash:
        raise ValueError(f"extra quantities must not reuse the built-in names {clash}")
    out = {}
    for name, value in values.items():
        value = jnp.asarray(value)
        if value.shape != (chunk_size,):
            raise ValueError(
                f"extra quantity {name!r} must have shape ({chunk_size},) (one scalar per code "
                f"of the chunk); got {value.shape}"
            )
        out[name] = value
    return out
