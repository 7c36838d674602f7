"""The paper's Fig. 3 layer: the model-RIP of a VGG-16 conv(5,2)-sized layer, bracketed.

Setup (the paper's Fig. 3): 3 × 3 filters, ``M = K = 512``, normalised; 15 × 15 maps (``"same"``
padding, so codes are ``15 × 15 × 512``); 2 × 2 pooling regions; codes of the pooling model with
23.9 % non-zeros (conv(5,1)'s sparsity: ``k = 27 532`` of the 32 768 regions), Uniform[−1, 1]
values. Random Gaussian filters by default, or a user's kernel (:func:`jaxcs.io.load_kernel`).
Reported:

- the histogram of ``‖Wᵀz‖/‖z‖`` over ``num_samples`` codes (the paper's Fig. 3);
- for ``eigen_supports`` of those supports, the extreme eigenvalues of ``G_S`` by Lanczos on the
  masked operator (no dense ``G_S``: ``k`` is 27 532) with their residuals;
- the δ bracket: the lower end from both, the certified upper end where one exists (the Babel
  bound, which at this ``k`` is vacuous and says so).

Results come back in stages (ratios, then each chunk of eigenvalues), each handed to
``on_stage`` so that the CLI can keep the JSON of every finished stage.
"""

from __future__ import annotations

import dataclasses
import math
import resource
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from jaxcs._progress import advance_progress, progress_bar
from jaxcs.analysis import (
    delta_lower_bound_from,
    estimate_model_rip,
    masked_extremes,
    model_rip_upper_bound,
    summarize_samples,
)
from jaxcs.experiments._setup import check_int_fields, refuse_renamed, shape_field
from jaxcs.models import PoolingModel
from jaxcs.operators import ConvOperator, gaussian_filters, normalize_filters

EIGEN_CHUNK = 4  # supports per Lanczos call (its basis is steps × chunk × k floats)


@refuse_renamed(filter_size="filter_shape", map_size="in_spatial")
@dataclasses.dataclass(frozen=True)
class Fig3Setup:
    """The Fig. 3 setup (2-D: ``filter_shape``, ``in_spatial``; an int ``n`` is read as
    ``(n, n)``); ``quick()`` is a CI-sized version."""

    filter_shape: tuple[int, int] = (3, 3)
    in_channels: int = 512
    out_channels: int = 512
    in_spatial: tuple[int, int] = (15, 15)
    pool_size: int = 2
    nonzero_fraction: float = 0.239
    num_samples: int = 1000
    eigen_supports: int = 16
    lanczos_steps: int = 24
    seed: int = 0

    def __post_init__(self):
        shape_field(self, "filter_shape", 2)
        shape_field(self, "in_spatial", 2)
        check_int_fields(
            self,
            zero_allowed=("seed", "eigen_supports"),
            skip=("nonzero_fraction", "filter_shape", "in_spatial"),
        )
        value = self.nonzero_fraction
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"nonzero_fraction must be a number; got {value!r}")
        regions = math.prod(math.ceil(d / self.pool_size) for d in self.in_spatial) / math.prod(
            self.in_spatial
        )
        if not 0 < self.nonzero_fraction <= regions:
            raise ValueError(
                f"nonzero_fraction must be in (0, {regions:.4f}] (at most one non-zero per "
                f"{self.pool_size}×{self.pool_size} region); got {self.nonzero_fraction}"
            )

    @classmethod
    def quick(cls, **changes) -> Fig3Setup:
        """A CI-sized version: 16 → 16 channels, 8 × 8 maps, 100 codes, 4 Lanczos supports."""
        base: dict[str, Any] = dict(in_channels=16, out_channels=16, in_spatial=(8, 8))
        base |= dict(num_samples=100, eigen_supports=4, lanczos_steps=16)
        return cls(**(base | changes))

    @property
    def k(self) -> int:
        """Non-zeros per code: the fraction of the code's ``prod(in_spatial) · K`` entries."""
        return max(1, round(self.nonzero_fraction * math.prod(self.in_spatial) * self.out_channels))

    def model(self) -> PoolingModel:
        return PoolingModel((self.pool_size,) * 2, self.k)

    def operator(
        self, key: PRNGKeyArray, kernel: Float[ArrayLike, "*filter_shape M K"] | None = None
    ) -> ConvOperator:
        """``W`` with normalised filters: Gaussian from ``key``, or ``kernel``
        ``(*filter_shape, M, K)``."""
        shape = (*self.filter_shape, self.in_channels, self.out_channels)
        if kernel is None:
            kernel = gaussian_filters(key, shape[:2], self.in_channels, self.out_channels)
        kernel = jnp.asarray(kernel)
        if kernel.shape != shape:
            raise ValueError(
                f"filters must have shape {shape} (*filter_shape, M, K) for this setup; got "
                f"{kernel.shape}"
            )
        return ConvOperator(normalize_filters(kernel), self.in_spatial, stride=1, padding="same")


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_fig3(
    setup: Fig3Setup = Fig3Setup(),
    *,
    kernel: Float[ArrayLike, "f f M K"] | None = None,
    filters_name: str = "gaussian",
    progress: bool = False,
    on_stage: Callable[[dict], None] | None = None,
) -> dict:
    """Run the Fig. 3 experiment; return a JSON-ready dict (see the module docstring).

    Args:
        setup: the experiment's parameters.
        kernel: the filters ``(f, f, M, K)`` (``None``: Gaussian from the seed).
        filters_name: what the filters are, for the report.
        progress: tqdm progress bars (``progress`` extra).
        on_stage: called with the results so far after each stage.

    Returns:
        ``{"setup", "ratio_wt": {summary, "histogram"}, "supports": [{eig_min, eig_max,
        residual_min, residual_max}], "delta_bracket": {...}, "timings", "peak_memory_mib"}``.
    """
    key_op, key_codes, key_eigen = jr.split(jr.key(setup.seed), 3)
    op = setup.operator(key_op, kernel)
    model = setup.model()
    result: dict = {
        "experiment": "fig3",
        "setup": dataclasses.asdict(setup)
        | {"k": setup.k, "padding": "same", "filters": filters_name, "normalized": True},
        "timings": {},
    }

    def stage(name: str, started: float):
        result["timings"][name] = time.perf_counter() - started
        result["peak_memory_mib"] = _peak_memory_mib()
        if on_stage is not None:
            on_stage(result)

    started = time.perf_counter()
    estimate = estimate_model_rip(
        key_codes, op, model, setup.num_samples, method="conv", eigenvalues=False,
        keep_samples=True, progress=progress,
    )  # fmt: skip
    assert estimate.samples is not None  # keep_samples=True keeps them
    ratios = np.asarray(estimate.samples["ratio_wt"], np.float64)
    finite = ratios[np.isfinite(ratios)]
    lo, hi = (min(finite.min(), 1.0), max(finite.max(), 1.0)) if finite.size else (0.0, 2.0)
    pad = 0.02 * (hi - lo) + 1e-6
    edges = np.linspace(lo - pad, hi + pad, 121)  # the codes' range and 1, finely
    result["ratio_wt"] = summarize_samples(ratios) | {
        "histogram": {
            "edges": edges.tolist(),
            "counts": np.histogram(finite, edges)[0].tolist(),
        }
    }
    result["delta_lower_bound_random_z"] = float(estimate.delta_lower_bound_random_z)
    stage("ratios", started)

    started = time.perf_counter()
    result["supports"] = []
    extremes = jax.jit(lambda op, code: masked_extremes(op, code, steps=setup.lanczos_steps))
    with progress_bar(setup.eigen_supports, "Lanczos", enabled=progress) as bar_id:
        for c in range(math.ceil(setup.eigen_supports / EIGEN_CHUNK)):
            code = model.sample_sparse(
                jr.fold_in(key_eigen, c), op.out_shape, (EIGEN_CHUNK,), dtype=op.dtype
            )
            found = extremes(op, code)
            count = min(EIGEN_CHUNK, setup.eigen_supports - c * EIGEN_CHUNK)
            for i in range(count):
                result["supports"].append(
                    {
                        name: float(getattr(found, name)[i])
                        for name in ("eig_min", "eig_max", "residual_min", "residual_max")
                    }
                )
            advance_progress(bar_id, count)
            result["timings"]["lanczos_per_support"] = (time.perf_counter() - started) / len(
                result["supports"]
            )
            stage("lanczos", started)

    started = time.perf_counter()
    result["delta_bracket"] = _bracket(op, model, result)
    stage("upper_bound", started)
    return result


def _bracket(op, model, result: dict) -> dict:
    supports = result["supports"]
    lanczos = math.nan
    if supports:
        lanczos = float(
            delta_lower_bound_from(
                min(s["eig_min"] for s in supports), max(s["eig_max"] for s in supports)
            )
        )
    random_z = result["delta_lower_bound_random_z"]
    candidates = [v for v in (lanczos, random_z) if math.isfinite(v)]
    lower = max(candidates) if candidates else math.nan
    try:
        upper = model_rip_upper_bound(op, model)
        upper_value, method, sides = upper.delta, upper.method, upper.summary()
    except ValueError as err:  # no certified bound at this size
        upper_value, method, sides = None, f"none ({err})", None
    return {
        "lower": lower,
        "lower_method": "lanczos" if lower == lanczos else "random codes",
        "lanczos": lanczos,
        "random_codes": random_z,
        "upper": upper_value,
        "upper_method": method,
        "upper_vacuous": upper_value is None or not upper_value < 1,
        "upper_sides": sides,
    }


def format_fig3(result: dict) -> str:
    """A Fig. 3 result as text: the ``‖Wᵀz‖/‖z‖`` statistics and the δ_k bracket, each end
    with the method that gave it."""
    ratio, bracket = result["ratio_wt"], result["delta_bracket"]
    lines = [
        f"‖Wᵀz‖/‖z‖ over {ratio['count']} codes: mean {ratio['mean']:.4f}, std "
        f"{ratio['std']:.4f}, range [{ratio['min']:.4f}, {ratio['max']:.4f}]"
    ]
    upper = "none" if bracket["upper"] is None else f"{bracket['upper']:.3f}"
    how = bracket["upper_method"].split(" (")[0] + (", vacuous" if bracket["upper_vacuous"] else "")
    lines.append(
        f"delta_k bracket: [{bracket['lower']:.3f} ({bracket['lower_method']}), {upper} ({how})]"
    )
    return "\n".join(lines)
