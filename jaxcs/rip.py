"""Monte Carlo model-RIP estimator (model.md §6, eq. 1) and the bound of Theorem 3.3.

``Φ = Wᵀ`` has the model-RIP with constant ``δ_k`` when
``(1 − δ_k)‖z‖² ≤ ‖Wᵀ z‖² ≤ (1 + δ_k)‖z‖²`` for every ``z`` in the model. Sampling supports
cannot certify ``δ_k`` (it is a maximum over all supports): every figure here is a **lower
bound** on it. Two lower bounds are reported:

- from random codes ``z`` (Uniform[−1, 1] non-zeros, as the paper's Fig. 2): the extremes of
  ``‖Wᵀz‖² / ‖z‖²`` — typical ratios, a weak bound;
- from the exact extreme eigenvalues of the restricted Gram ``G_S`` of every sampled support:
  ``δ_k ≥ max(1 − λ_min(G_S), λ_max(G_S) − 1)`` — the worst code on each sampled support.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxcs.arguments import positive_int
from jaxcs.correlation import (
    CorrelationTable,
    correlation_table,
    restricted_gram,
    restricted_gram_pairs,
)
from jaxcs.models import FLOYD_MAX_CAPACITY, RegionModel, SparseCode, concrete_int
from jaxcs.montecarlo import DEFAULT_BINS, DEFAULT_RANGE, monte_carlo, progress_bar
from jaxcs.operators import ConvOperator, MatrixOperator
from jaxcs.pytree import PytreeNode

METHODS = ("auto", "gram", "conv")
MAX_EXACT_EIGEN_K = 1024  # eigvalsh of a k×k Gram per sample; beyond this, use the conv path
CHUNK_BUDGET = 2**23  # array elements of per-chunk temporaries (32 MiB in float32)
MAX_CHUNK = 8192


class RIPEstimate(PytreeNode):
    """Result of :func:`estimate_model_rip` (a pytree: it comes out of ``jit``/``vmap``).

    Every field is a lower-bound-type estimate: δ is a maximum over *all* supports, and only
    ``num_samples`` random supports were looked at.

    Attributes:
        ratio_wt: :class:`Statistics` of ``‖Wᵀz‖ / ‖z‖`` (Fig. 2a).
        ratio_wwt: of ``‖(W Wᵀ z)_S‖ / ‖z‖ = ‖G_S z_S‖ / ‖z_S‖``, restricted to the support
            ``S`` of ``z`` (Fig. 2b; the quantity the RIP makes ≈ 1, model.md §6).
        ratio_wwt_full: of the unrestricted ``‖W Wᵀ z‖ / ‖z‖`` (``None`` unless requested).
        eig_min, eig_max: of ``λ_min(G_S)`` and ``λ_max(G_S)`` per sampled support (``None``
            unless eigenvalues were requested).
        filters_finite: whether the operator had only finite entries (a NaN/Inf operator gives
            non-finite ratios, counted in each ``Statistics.nonfinite``).
        num_samples: number of sampled codes.
        samples: ``{name: (num_samples,) array}`` when ``keep_samples=True``, else ``None``.
    """

    _leaves = (
        "ratio_wt",
        "ratio_wwt",
        "ratio_wwt_full",
        "eig_min",
        "eig_max",
        "filters_finite",
        "num_samples",
        "samples",
    )

    def __init__(self, stats, filters_finite, num_samples, samples):
        self._set(
            ratio_wt=stats["ratio_wt"],
            ratio_wwt=stats["ratio_wwt"],
            ratio_wwt_full=stats.get("ratio_wwt_full"),
            eig_min=stats.get("eig_min"),
            eig_max=stats.get("eig_max"),
            filters_finite=filters_finite,
            num_samples=num_samples,
            samples=samples,
        )

    @property
    def delta_lower_bound(self):
        """Lower bound on ``δ_k``: from the exact per-support eigenvalues when computed, else
        from the random-code ratios (see the module docstring)."""
        if self.eig_min is None:
            return self.delta_lower_bound_random_z
        bound = jnp.maximum(1 - self.eig_min.min, self.eig_max.max - 1)
        return jnp.where(self.eig_min.count > 0, bound, jnp.nan)  # no finite sample: unknown

    @property
    def delta_lower_bound_random_z(self):
        """Lower bound on ``δ_k`` from ``‖Wᵀz‖²/‖z‖²`` of the random codes alone."""
        bound = jnp.maximum(1 - self.ratio_wt.min**2, self.ratio_wt.max**2 - 1)
        return jnp.where(self.ratio_wt.count > 0, bound, jnp.nan)

    def summary(self) -> dict:
        """Python numbers for reports and JSON (not jit-able). Quantiles come from the kept
        samples when there are any (exact), else from the histograms (one bin width)."""
        from jaxcs.montecarlo import summarize_samples

        out = {"num_samples": int(self.num_samples), "filters_finite": bool(self.filters_finite)}
        for name in ("ratio_wt", "ratio_wwt", "ratio_wwt_full", "eig_min", "eig_max"):
            stats = getattr(self, name)
            if stats is None:
                continue
            if self.samples is not None and name in self.samples:
                out[name] = summarize_samples(self.samples[name])
            else:
                out[name] = stats.summary()
        out["delta_lower_bound"] = float(self.delta_lower_bound)
        out["delta_lower_bound_random_z"] = float(self.delta_lower_bound_random_z)
        return out


def operator_is_finite(op) -> jax.Array:
    """Whether every entry of the operator (filters or matrix) is finite (a boolean scalar)."""
    return jnp.all(jnp.isfinite(op.filters if isinstance(op, ConvOperator) else op.matrix))


def _check_operator(op):
    if not isinstance(op, (ConvOperator, MatrixOperator)):
        raise TypeError(f"op must be a ConvOperator or MatrixOperator; got {type(op).__name__}")


def _check_num_samples(num_samples) -> int:
    num_samples = positive_int(num_samples, "num_samples")
    if num_samples >= 2**31:
        raise ValueError(f"num_samples must be in [1, 2**31 - 1]; got {num_samples}")
    return num_samples


def _auto_chunk(op, capacity: int, regions: int, use_gram: bool, use_conv: bool) -> int:
    per_sample = 1
    if use_gram:
        per_sample += capacity**2
        if isinstance(op, ConvOperator) and op.padding == "same":
            per_sample += capacity**2 * math.prod(op.filter_shape) * op.in_channels
        if isinstance(op, MatrixOperator):
            per_sample += capacity * math.prod(op.in_shape)
    if use_conv:
        per_sample += 2 * (math.prod(op.out_shape) + math.prod(op.in_shape))
    if capacity > FLOYD_MAX_CAPACITY:  # region sampling draws one uniform per region
        per_sample += regions
    return int(max(1, min(MAX_CHUNK, CHUNK_BUDGET // per_sample)))


def estimate_model_rip(
    key: jax.Array,
    op,
    model: RegionModel,
    num_samples: int,
    *,
    method: str = "auto",
    eigenvalues: bool = True,
    full_ratio: bool = False,
    chunk_size: int | None = None,
    distribution: str = "uniform",
    histogram_range: tuple[float, float] = DEFAULT_RANGE,
    bins: int = DEFAULT_BINS,
    keep_samples: bool = False,
    progress: bool = False,
) -> RIPEstimate:
    """Estimate the model-RIP of ``Φ = Wᵀ`` on random model-sparse codes (model.md §6, eq. 1).

    Draws ``num_samples`` codes ``z`` from ``model`` (on ``op.out_shape``) and reduces, in
    chunks of bounded memory, the ratios ``‖Wᵀz‖/‖z‖`` (Fig. 2a), ``‖(WWᵀz)_S‖/‖z‖`` (Fig. 2b,
    restricted to the support) and optionally the full ``‖WWᵀz‖/‖z‖``, and the exact extreme
    eigenvalues of every sampled support's restricted Gram ``G_S``. The estimate of ``δ_k`` is a
    **lower bound** (see :class:`RIPEstimate`).

    jit-able and vmap-able: ``jax.vmap(lambda op: estimate_model_rip(key, op, model, n))(ops)``
    estimates many random filter draws in one call; ``k`` is a traced leaf of ``model``, so a
    new key, ``k`` (within the model's capacity) or operator of the same shapes compiles
    nothing. Deterministic for a given key and ``chunk_size``.

    Args:
        key: PRNG key.
        op: :class:`ConvOperator` or :class:`MatrixOperator` (``W``; codes have ``op.out_shape``).
        model: a :class:`RegionModel` (``BlockModel``, ``PoolingModel``, ``TopKModel``).
        num_samples: number of random codes (any size: memory stays bounded).
        method: how the ratios are computed: ``"gram"`` (``O(k²)`` per code from the
            correlation table), ``"conv"`` (two convolutions per code) or ``"auto"`` (``"gram"``
            while the model's capacity ``k ≤ 256``).
        eigenvalues: also compute ``λ_min, λ_max`` of each ``G_S`` (needs capacity ≤ 1024).
        full_ratio: also compute the unrestricted ``‖WWᵀz‖/‖z‖`` (two convolutions per code).
        chunk_size: codes per chunk (default: from a 32 MiB budget for temporaries).
        distribution: non-zero values, ``"uniform"`` (U[−1, 1], the paper), ``"normal"`` or
            ``"rademacher"``.
        histogram_range, bins: the fixed histogram of every quantity.
        keep_samples: also return every sample (memory grows with ``num_samples``).
        progress: show a tqdm progress bar (needs the ``progress`` extra; not under ``vmap``).

    Returns:
        A :class:`RIPEstimate`.

    Raises:
        ValueError: ``num_samples`` not positive, ``k`` out of range (or 0) for the operator's
            code shape, an unknown ``method``, or eigenvalues asked for too large a ``k``.
    """
    _check_operator(op)
    if not isinstance(model, RegionModel):
        raise TypeError(f"model must be a RegionModel; got {type(model).__name__}")
    code_shape = model.check_code_shape(op.out_shape, "op.out_shape")
    k = concrete_int(model.k)
    if k == 0:
        raise ValueError("model.k must be >= 1 for a RIP estimate (k = 0 has no ratios)")
    num_samples = _check_num_samples(num_samples)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    capacity = model.capacity(code_shape)
    if method == "auto":
        method = "gram" if capacity <= 256 else "conv"
    if eigenvalues and capacity > MAX_EXACT_EIGEN_K:
        raise ValueError(
            f"eigenvalues=True needs the model's capacity (k slots) <= {MAX_EXACT_EIGEN_K}; "
            f"got {capacity}: pass eigenvalues=False"
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
    use_gram = method == "gram" or eigenvalues
    use_conv = method == "conv" or full_ratio
    if chunk_size is None:
        chunk_size = min(
            _auto_chunk(op, capacity, model.num_regions(code_shape), use_gram, use_conv),
            num_samples,
        )
    else:
        chunk_size = positive_int(chunk_size, "chunk_size")
    config = dict(
        method=method,
        eigenvalues=bool(eigenvalues),
        full_ratio=bool(full_ratio),
        chunk_size=int(chunk_size),
        distribution=distribution,
        histogram_range=(lo, hi),
        bins=int(bins),
        keep=num_samples if keep_samples else None,
    )
    with progress_bar(num_samples, "model-RIP", enabled=bool(progress)) as bar_id:
        return _estimate(key, op, model, num_samples, bar_id if bar_id else None, **config)


@partial(
    jax.jit,
    static_argnames=(
        "method",
        "eigenvalues",
        "full_ratio",
        "chunk_size",
        "distribution",
        "histogram_range",
        "bins",
        "keep",
    ),
)
def _estimate(
    key,
    op,
    model,
    num_samples,
    progress_id,
    *,
    method,
    eigenvalues,
    full_ratio,
    chunk_size,
    distribution,
    histogram_range,
    bins,
    keep,
):
    code_shape = tuple(op.out_shape)
    table = None
    if isinstance(op, ConvOperator) and op.padding != "same" and (method == "gram" or eigenvalues):
        table = correlation_table(op)
    dtype = op.dtype

    def chunk_fn(chunk_key):
        code = model.sample_sparse(
            chunk_key, code_shape, (chunk_size,), distribution=distribution, dtype=dtype
        )
        return code_ratios(
            op, code, method=method, eigenvalues=eigenvalues, full_ratio=full_ratio, table=table
        )

    stats, kept = monte_carlo(
        key,
        chunk_fn,
        num_samples,
        chunk_size,
        histogram_range=histogram_range,
        bins=bins,
        keep_samples=keep,
        progress_id=progress_id,
    )
    return RIPEstimate(stats, operator_is_finite(op), num_samples, kept)


def code_ratios(
    op,
    code: SparseCode,
    *,
    method: str = "gram",
    eigenvalues: bool = False,
    full_ratio: bool = False,
    table: CorrelationTable | None = None,
) -> dict[str, jax.Array]:
    """Per-code RIP quantities for a batch of index-form codes (model.md §3, §6).

    Args:
        op: the layer ``W``.
        code: a :class:`SparseCode` with ``(B, capacity)`` arrays.
        method: ``"gram"`` (from the restricted Gram) or ``"conv"`` (two convolutions).
        eigenvalues: add ``eig_min``/``eig_max`` of each restricted Gram.
        full_ratio: add the unrestricted ``ratio_wwt_full``.
        table: a precomputed correlation table (optional).

    Returns:
        ``{"ratio_wt", "ratio_wwt"[, "ratio_wwt_full"][, "eig_min", "eig_max"]}``, each ``(B,)``.
    """
    z = code.values
    batch = z.shape[0]
    znorm = jnp.linalg.norm(z, axis=-1)
    # A non-finite operator makes every quantity non-finite, whichever entries a code touches,
    # so that the gram and conv paths report the same thing.
    znorm = jnp.where(operator_is_finite(op), znorm, jnp.nan)
    out = {}
    gram = restricted_gram(op, code.indices, code.mask, table=table) if eigenvalues else None
    if method == "gram":
        if gram is None:  # the ratios alone: gather only the distinct entries of G_S
            diagonal, upper = restricted_gram_pairs(op, code.indices, code.mask, table=table)
            quadratic, gz = _symmetric_forms(diagonal, upper, z)
        else:
            gz = jnp.einsum("bij,bj->bi", gram, z)
            quadratic = jnp.sum(z * gz, axis=-1)
        out["ratio_wt"] = jnp.sqrt(jnp.maximum(quadratic, 0)) / znorm
        out["ratio_wwt"] = jnp.linalg.norm(gz, axis=-1) / znorm
    elif method != "conv":
        raise ValueError(f"method must be 'gram' or 'conv'; got {method!r}")
    if method == "conv" or full_ratio:
        x = op.rmv(code.to_dense())
        y = op.mv(x).reshape(batch, -1)
        if method == "conv":
            out["ratio_wt"] = jnp.linalg.norm(x.reshape(batch, -1), axis=-1) / znorm
            on_support = jnp.where(code.mask, jnp.take_along_axis(y, code.indices, axis=-1), 0)
            out["ratio_wwt"] = jnp.linalg.norm(on_support, axis=-1) / znorm
        if full_ratio:
            out["ratio_wwt_full"] = jnp.linalg.norm(y, axis=-1) / znorm
    if eigenvalues:
        # Unused slots get a decoupled diagonal entry equal to a used one; a diagonal entry
        # lies within [λ_min, λ_max] of the used block, so the extremes are unchanged.
        fill = jnp.where(code.mask, 0, gram[:, :1, 0])
        evals = jnp.linalg.eigvalsh(
            gram + fill[:, :, None] * jnp.eye(gram.shape[-1], dtype=gram.dtype)
        )
        # eigvalsh does not propagate NaN: report a non-finite Gram as non-finite eigenvalues.
        finite = jnp.all(jnp.isfinite(gram), axis=(-2, -1)) & jnp.isfinite(znorm)
        finite = finite & jnp.any(code.mask, axis=-1)  # an empty support (traced k = 0)
        out["eig_min"] = jnp.where(finite, evals[:, 0], jnp.nan)
        out["eig_max"] = jnp.where(finite, evals[:, -1], jnp.nan)
    return out


def _symmetric_forms(diagonal, upper, z):
    """``zᵀ G z`` and ``G z`` for a symmetric ``G`` given as (diagonal, strict upper triangle).

    The triangle's scatter back to rows is a product with static one-hot matrices (a few
    thousand multiply-adds per code, far cheaper than gathering the full ``G``).
    """
    k = z.shape[-1]
    rows, cols = np.triu_indices(k, 1)
    eye = np.eye(k, dtype=z.dtype)
    z_rows, z_cols = z @ eye[:, rows], z @ eye[:, cols]
    quadratic = jnp.sum(diagonal * z * z, -1) + 2 * jnp.sum(upper * z_rows * z_cols, -1)
    gz = diagonal * z + (upper * z_cols) @ eye[rows] + (upper * z_rows) @ eye[cols]
    return quadratic, gz


def theorem_3_3_bound(delta_k, delta_2k):
    """Theorem 3.3: ``‖x̂ − x‖ / ‖x‖ ≤ 5 δ_2k/(1 − δ_k) · sqrt(1 + δ_2k)/sqrt(1 − δ_2k)``.

    The bound on the one-step reconstruction ``x̂ = Wᵀ 𝕄(W x, k)`` when ``Wᵀ`` has the
    𝓜_k²-RIP with ``0 ≤ δ_k ≤ δ_2k < 1``. Outside that range the theorem says nothing and the
    result is ``inf`` (traced inputs) or a ``ValueError`` (concrete inputs).
    """
    dk, d2k = jnp.asarray(delta_k), jnp.asarray(delta_2k)
    if not isinstance(dk, jax.core.Tracer) and not isinstance(d2k, jax.core.Tracer):
        a, b = np.asarray(dk), np.asarray(d2k)
        if (
            np.isnan(a).any()
            or np.isnan(b).any()
            or (a < 0).any()
            or (a > b).any()
            or (b >= 1).any()
        ):
            raise ValueError(
                f"theorem_3_3_bound needs 0 <= delta_k <= delta_2k < 1; got delta_k={delta_k}, "
                f"delta_2k={delta_2k}"
            )
    valid = (dk >= 0) & (dk <= d2k) & (d2k < 1)
    bound = 5 * d2k / (1 - dk) * jnp.sqrt((1 + d2k) / (1 - d2k))
    unknown = jnp.isnan(dk) | jnp.isnan(d2k)
    return jnp.where(unknown, jnp.nan, jnp.where(valid, bound, jnp.inf))
