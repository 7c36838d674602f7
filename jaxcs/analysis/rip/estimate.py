"""The checked entry point of the Monte Carlo model-RIP estimate: :func:`estimate_model_rip`
checks its arguments, resolves ``"auto"`` by the cost model and runs :func:`sample_model_rip`
under ``jax.jit``."""

from __future__ import annotations

import jax
from jaxtyping import PRNGKeyArray

from jaxcs._progress import progress_bar
from jaxcs._validate import check_choice, check_key, concrete_int, is_traced, positive_int
from jaxcs.analysis.rip.cost import (
    AUTO_PROGRESS_COST,
    MAX_EXACT_EIGEN_K,
    auto_chunk,
    choose_eigen_method,
    choose_method,
    chunk_bucket,
    sample_cost,
)
from jaxcs.analysis.rip.result import RIPEstimate
from jaxcs.analysis.rip.sample import sample_model_rip
from jaxcs.analysis.rip.spectrum.masked import DEFAULT_STEPS
from jaxcs.analysis.statistics import DEFAULT_BINS, DEFAULT_RANGE
from jaxcs.models import AbstractSparsityModel, check_model
from jaxcs.operators import check_operator

METHODS = ("auto", "gram", "conv")
EIGEN_METHODS = ("auto", "dense", "lanczos")


def _check_num_samples(num_samples) -> int:
    num_samples = positive_int(num_samples, "num_samples")
    if num_samples >= 2**31:
        raise ValueError(f"num_samples must be in [1, 2**31 - 1]; got {num_samples}")
    return num_samples


def estimate_model_rip(
    key: PRNGKeyArray,
    op,
    model: AbstractSparsityModel,
    num_samples: int,
    *,
    method: str = "auto",
    eigenvalues: bool = True,
    eigen_method: str = "auto",
    lanczos_steps: int = DEFAULT_STEPS,
    full_ratio: bool = False,
    chunk_size: int | None = None,
    distribution: str = "uniform",
    histogram_range: tuple[float, float] = DEFAULT_RANGE,
    bins: int = DEFAULT_BINS,
    keep_samples: bool = False,
    progress: bool | None = None,
) -> RIPEstimate:
    """Estimate the model-RIP of ``Φ = Wᵀ`` on random model-sparse codes (eq. 1).

    Draws ``num_samples`` codes ``z`` from ``model`` (on ``op.out_shape``) and reduces, in
    chunks of bounded memory, the ratios ``‖Wᵀz‖/‖z‖`` (Fig. 2a), ``‖(WWᵀz)_S‖/‖z‖`` (Fig. 2b,
    restricted to the support) and optionally the full ``‖WWᵀz‖/‖z‖``, and the extreme
    Rayleigh quotients of every sampled support's restricted Gram ``G_S``: its exact extreme
    eigenvalues for a signed model, the extremes over non-negative codes (a projected ascent,
    see :mod:`jaxcs.analysis.rip`) for a non-negative one. The estimate of ``δ_k`` is a **lower
    bound** (see :class:`RIPEstimate`).

    This is the argument checks plus :func:`sample_model_rip` under ``jax.jit``. It is also
    jit-able and vmap-able itself:
    ``jax.vmap(lambda op: estimate_model_rip(key, op, model, n))(ops)`` estimates many random
    filter draws in one call; ``k`` is a traced leaf of ``model``, so a new key, ``k`` (within
    the model's capacity) or operator of the same shapes compiles nothing, nor does a new
    ``num_samples`` with the same chunk (always, for ``num_samples`` at or above the automatic
    chunk; below it, the default chunk is a power of two: one program per power of two).
    Deterministic for a given key, ``num_samples`` and ``chunk_size``.

    Args:
        key: PRNG key.
        op: any operator (``W``; codes have ``op.out_shape``).
        model: a sparsity model (:class:`~jaxcs.AbstractSparsityModel`: ``BlockModel``,
            ``PoolingModel``, ``TopKModel``, ``PerChannelModel``, ``JointModel`` or one's own).
        num_samples: number of random codes (any size: memory stays bounded).
        method: how the ratios are computed: ``"gram"`` (``O(k²)`` per code from the
            correlation table), ``"conv"`` (two convolutions per code) or ``"auto"``: the one
            with the lower modelled cost per code (:func:`choose_method`), i.e.
            ``gram_entry_cost(op) · op.restricted_gram_cost(k)`` (a calibrated cost per
            gathered Gram entry, by padding: :data:`GRAM_ENTRY_COST`) against
            ``2 · op.mv_cost()``; the dense eigenvalue path gathers ``G_S`` anyway (so
            ``"gram"``), ``full_ratio`` convolves anyway (so ``"conv"``). Small ``k`` gives
            ``"gram"``, large ``k`` ``"conv"``; the result's ``method`` says which ran.
        eigenvalues: also compute the extreme quotients ``eig_min``, ``eig_max`` of each
            ``G_S``.
        eigen_method: how: ``"dense"`` (gather ``G_S``, then ``eigvalsh``: exact, ``O(k³)``
            per support; capacity ≤ 1024), ``"lanczos"`` (``lanczos_steps`` steps of two
            convolutions on the masked operator, no dense ``G_S``:
            :func:`~jaxcs.analysis.rip.spectrum.masked.masked_extremes`) or ``"auto"`` (the cheaper
            by estimated multiply-adds; the result's ``eigen_method`` says which ran).
        lanczos_steps: Lanczos steps per support on that path.
        full_ratio: also compute the unrestricted ``‖WWᵀz‖/‖z‖`` (two convolutions per code).
        chunk_size: codes per chunk (default: from a 32 MiB budget for temporaries,
            at most ``LANCZOS_MAX_CHUNK`` on the Lanczos path, and at most the power of two
            ``≥ num_samples``, :func:`chunk_bucket`, so that a new ``num_samples`` compiles
            nothing, or once per power of two below the automatic chunk).
        distribution: non-zero values, ``"uniform"`` (U[−1, 1], the paper), ``"normal"`` or
            ``"rademacher"``.
        histogram_range, bins: the fixed histogram of every quantity.
        keep_samples: also return every sample (memory grows with ``num_samples``).
        progress: show a tqdm progress bar (needs the ``progress`` extra; not under ``vmap``);
            ``None``: when the estimated work exceeds ``AUTO_PROGRESS_COST`` multiply-adds
            (outside ``jit``/``vmap`` only).

    Returns:
        A :class:`RIPEstimate`.

    Raises:
        ValueError: ``num_samples`` not positive, ``k`` out of range (or 0) for the operator's
            code shape, an unknown ``method`` or ``eigen_method``, or the dense eigenvalue path
            asked for a capacity beyond 1024.
    """
    check_key(key)
    check_operator(op, call="estimate_model_rip(key, op, model, n)")
    check_model(model)
    code_shape = model.check_code_shape(op.out_shape, "op.out_shape")
    k = concrete_int(model.k)
    if k == 0:
        raise ValueError("model.k must be >= 1 for a RIP estimate (k = 0 has no ratios)")
    num_samples = _check_num_samples(num_samples)
    check_choice(method, METHODS, "method")
    capacity = model.num_slots(code_shape)
    check_choice(eigen_method, EIGEN_METHODS, "eigen_method")
    lanczos_steps = positive_int(lanczos_steps, "lanczos_steps")
    if eigenvalues and eigen_method == "dense" and capacity > MAX_EXACT_EIGEN_K:
        raise ValueError(
            f"eigen_method='dense' needs the model's capacity (k slots) <= {MAX_EXACT_EIGEN_K}; "
            f"got {capacity}: use eigen_method='lanczos' (or 'auto')"
        )
    if eigen_method == "auto":
        eigen_method = choose_eigen_method(op, capacity, lanczos_steps)
    eigen_path = eigen_method if eigenvalues else None  # the eigenvalue path that runs, if any
    if method == "auto":
        method = choose_method(
            op, capacity, eigen_path, full_ratio=bool(full_ratio), lanczos_steps=lanczos_steps
        )
    try:
        lo, hi = (float(r) for r in histogram_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"histogram_range must be two numbers (lo, hi); got {histogram_range!r}"
        ) from None
    if not hi > lo or isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(
            f"histogram_range must be (lo, hi) with hi > lo and bins >= 1; got "
            f"{histogram_range}, bins={bins}"
        )
    use_gram = method == "gram" or eigen_path == "dense"
    use_conv = method == "conv" or full_ratio or eigen_path == "lanczos"
    if chunk_size is None:
        chunk_size = min(
            auto_chunk(op, model, use_gram, use_conv, lanczos=eigen_path == "lanczos"),
            chunk_bucket(num_samples),
        )
    else:
        chunk_size = positive_int(chunk_size, "chunk_size")
    config = dict(
        method=method,
        eigenvalues=bool(eigenvalues),
        eigen_method=eigen_path or "dense",
        lanczos_steps=lanczos_steps,
        full_ratio=bool(full_ratio),
        chunk_size=int(chunk_size),
        distribution=distribution,
        histogram_range=(lo, hi),
        bins=int(bins),
        # a count, so that num_samples stays traced (one compilation for any num_samples)
        keep_samples=num_samples if keep_samples else False,
    )
    if progress is None:
        cost = num_samples * sample_cost(
            op, capacity, method, eigen_path, lanczos_steps, bool(full_ratio)
        )
        traced = any(is_traced(leaf) for leaf in jax.tree.leaves(op))
        progress = cost > AUTO_PROGRESS_COST and not traced
    with progress_bar(num_samples, "model-RIP", enabled=bool(progress)) as bar_id:
        return _estimate(key, op, model, num_samples, progress_id=bar_id or None, **config)


_estimate = jax.jit(
    sample_model_rip,
    static_argnames=(
        "method",
        "eigenvalues",
        "full_ratio",
        "chunk_size",
        "distribution",
        "histogram_range",
        "bins",
        "keep_samples",
        "extra",
        "eigen_method",
        "lanczos_steps",
    ),
)
