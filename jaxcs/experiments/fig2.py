"""The paper's Fig. 2 (1-D synthetic model-RIP and one-step reconstruction).

Setup: Gaussian filters ``l × M × K = 5 × 32 × 96`` scaled by ``1/sqrt(l·M)``, ``D = 32``,
stride 1, valid padding; ``z ∈ 𝓜_k`` (``BlockModel(k=10)``) with Uniform[−1, 1] non-zeros;
``x = Wᵀ z``. Reported per sample:

- (a) ``ratio_wt = ‖Wᵀz‖/‖z‖``;
- (b) ``ratio_wwt = ‖(WWᵀz)_S‖/‖z‖`` (restricted to the support, as eq. 1 bounds it) and, beside it,
  the unrestricted ``ratio_wwt_full = ‖WWᵀz‖/‖z‖``;
- (c) ``recon_error = ‖x̂ − x‖/‖x‖`` with ``x̂ = Wᵀ 𝕄_known(W x, k)`` (the caption's
  ``𝕄_fixed`` cannot work when a block spans all shifts: it is reported as a variant);
- the exact extreme eigenvalues of each sampled support's restricted Gram (δ lower bound),
  and the bracket of δ: that sampled bound, an adversarial search over supports at the same
  budget of Gram evaluations (:func:`~jaxcs.search_model_rip`) and the certified upper bound
  (:func:`~jaxcs.model_rip_upper_bound`), as ``delta_bracket``;
- variants of (c) that each change one unstated choice: fixed switches, ``2k`` blocks kept by
  ``𝕄``, unit-norm (row-normalized) filters, and more IHT steps.

The run goes in rounds of ``checkpoint_every`` samples (round ``r`` uses ``fold_in(key, r)``);
after each round the merged results are handed to ``on_round`` (the CLI writes its JSON there),
so an interrupted run keeps every completed round.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import partial

import jax
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from jaxcs._progress import progress_bar
from jaxcs._validate import positive_int
from jaxcs.analysis import (
    DEFAULT_BINS,
    DEFAULT_RANGE,
    delta_lower_bound_from,
    iht_codes,
    model_rip_upper_bound,
    one_step_reconstruction,
    relative_error,
    sample_model_rip,
    search_model_rip,
    summarize_samples,
)
from jaxcs.experiments._setup import check_int_fields, refuse_renamed, shape_field
from jaxcs.models import BlockModel, SparseCode
from jaxcs.operators import ConvOperator, gaussian_filters, normalize_filters

MAIN_QUANTITIES = ("ratio_wt", "ratio_wwt", "recon_error")


@refuse_renamed(filter_length="filter_shape", input_size="in_spatial")
@dataclasses.dataclass(frozen=True)
class Fig2Setup:
    """The paper's Fig. 2 setup (1-D: ``filter_shape = (l,)``, ``in_spatial = (D,)``; an int is
    read as a 1-tuple)."""

    filter_shape: tuple[int] = (5,)
    in_channels: int = 32
    out_channels: int = 96
    in_spatial: tuple[int] = (32,)
    stride: int = 1
    k: int = 10
    num_samples: int = 20_000
    iht_steps: int = 10
    seed: int = 0
    checkpoint_every: int = 5_000

    def __post_init__(self):
        shape_field(self, "filter_shape", 1)
        shape_field(self, "in_spatial", 1)
        check_int_fields(self, skip=("filter_shape", "in_spatial"))
        if self.k > self.out_channels:
            raise ValueError(
                f"k must be <= out_channels (one non-zero per filter block); got k={self.k}, "
                f"out_channels={self.out_channels}"
            )

    def operator(self, key: PRNGKeyArray) -> ConvOperator:
        """``W`` with Gaussian filters ``N(0, 1/(l·M))`` (Theorem 3.1), valid padding."""
        w = gaussian_filters(key, self.filter_shape, self.in_channels, self.out_channels)
        return ConvOperator(w, self.in_spatial, stride=self.stride, padding="valid")


def _variant_names(k: int, iht_steps: int, out_channels: int) -> dict[str, str]:
    names = {
        "recon_error_fixed_switches": "x̂ = Wᵀ 𝕄_fixed(Wx, k) (the caption's fixed switches)",
        "recon_error_unit_norm": "unit-norm (row-normalized) filters, 𝕄_known, k",
        f"recon_error_iht_{iht_steps}": f"{iht_steps} IHT steps (step 1) from z = 0",
    }
    if 2 * k <= out_channels:
        names["recon_error_2k"] = "𝕄 keeps 2k blocks"
    return names


@partial(jax.jit, static_argnames=("k", "iht_steps", "num_samples", "chunk_size"))
def _round(key, op, k: int, iht_steps: int, num_samples: int, chunk_size: int, progress_id):
    """One round: the model-RIP kernel with the reconstruction errors as extra quantities.

    Static only in what the program's shapes and loops depend on: another seed, sample budget
    or checkpoint interval with the same round size reuses the compiled program."""
    model = BlockModel(k)
    unit_op = ConvOperator(
        normalize_filters(op.filters), op.in_spatial, stride=op.stride, padding=op.padding
    )
    signal_ndim = len(op.in_shape)
    variants = _variant_names(k, iht_steps, op.out_channels)

    def reconstruction_errors(code: SparseCode) -> dict:
        z = code.to_dense()
        x = op.rmv(z)

        def error(x_hat, x=x):
            return relative_error(x, x_hat, signal_ndim)

        out = {
            "recon_error": error(one_step_reconstruction(op, x, model)),
            "recon_error_fixed_switches": error(
                one_step_reconstruction(op, x, model, switches="fixed")
            ),
        }
        x_unit = unit_op.rmv(z)
        out["recon_error_unit_norm"] = error(
            one_step_reconstruction(unit_op, x_unit, model), x_unit
        )
        out[f"recon_error_iht_{iht_steps}"] = error(op.rmv(iht_codes(op, x, model, iht_steps)))
        if "recon_error_2k" in variants:
            out["recon_error_2k"] = error(one_step_reconstruction(op, x, BlockModel(2 * k)))
        return out

    return sample_model_rip(
        key,
        op,
        model,
        num_samples,
        method="gram",
        eigenvalues=True,
        full_ratio=True,
        chunk_size=chunk_size,
        distribution="uniform",
        histogram_range=DEFAULT_RANGE,
        bins=DEFAULT_BINS,
        keep_samples=True,
        extra=reconstruction_errors,
        progress_id=progress_id,
    )


def run_fig2(
    setup: Fig2Setup = Fig2Setup(),
    *,
    chunk_size: int = 1000,
    progress: bool = False,
    on_round: Callable[[dict], None] | None = None,
) -> dict:
    """Run the Fig. 2 experiment; return a JSON-ready dict (see the module docstring).

    Args:
        setup: the experiment's parameters.
        chunk_size: samples per vectorized chunk.
        progress: show a tqdm progress bar (``progress`` extra).
        on_round: called with the results so far after every completed round.

    Returns:
        ``{"setup", "quantities": {name: {mean, std, min, max, q01, q50, q99, count,
        nonfinite}}, "histograms": {name: {"edges", "counts"}}, "delta_lower_bound", ...}``.
    """
    chunk_size = positive_int(chunk_size, "chunk_size")
    key = jr.key(setup.seed)
    key_op, key_data = jr.split(key)
    op = setup.operator(key_op)
    rounds = math.ceil(setup.num_samples / setup.checkpoint_every)
    samples: dict[str, list[np.ndarray]] = {}
    result: dict = {}
    bracket = delta_bracket(op, setup)
    with progress_bar(setup.num_samples, "Fig. 2", enabled=progress) as bar_id:
        for r in range(rounds):
            n = min(setup.checkpoint_every, setup.num_samples - r * setup.checkpoint_every)
            chunk = min(int(chunk_size), n)
            estimate = _round(
                jr.fold_in(key_data, r), op, setup.k, setup.iht_steps, n, chunk, bar_id or None
            )
            for name, values in estimate.samples.items():
                samples.setdefault(name, []).append(np.asarray(values))
            result = _summarize(setup, samples, completed=r * setup.checkpoint_every + n)
            result["delta_bracket"] = bracket | {
                "sampled": result["delta_lower_bound"],
                "lower": max(result["delta_lower_bound"], bracket["search"]),
            }
            if on_round is not None:
                on_round(result)
    return result


def delta_bracket(op: ConvOperator, setup: Fig2Setup) -> dict:
    """The search and upper ends of the bracket of δ_k (module docstring): the search spends as
    many Gram evaluations as the run samples supports."""
    model = BlockModel(setup.k)
    search = search_model_rip(jr.fold_in(jr.key(setup.seed), 2), op, model, setup.num_samples)
    upper = model_rip_upper_bound(op, model)
    return {
        "search": float(search.delta),
        "search_evaluations": int(search.evaluations[-1]),
        "upper": upper.delta,
        "upper_method": upper.method,
        "upper_vacuous": upper.vacuous,
    }


def _summarize(setup: Fig2Setup, samples: dict[str, list[np.ndarray]], completed: int) -> dict:
    edges = np.linspace(0.0, 3.0, 301)
    quantities, histograms = {}, {}
    for name, parts in samples.items():
        values = np.concatenate(parts)
        quantities[name] = summarize_samples(values)
        finite = values[np.isfinite(values)]
        counts, _ = np.histogram(finite, bins=edges)
        histograms[name] = {
            "edges": edges.tolist(),
            "counts": counts.tolist(),
            "below": int(np.sum(finite < edges[0])),
            "above": int(np.sum(finite > edges[-1])),
        }
    eig_min, eig_max = quantities["eig_min"]["min"], quantities["eig_max"]["max"]
    ratio = quantities["ratio_wt"]
    return {
        "experiment": "fig2",
        "setup": dataclasses.asdict(setup) | {"padding": "valid", "filters": "gaussian"},
        "completed_samples": completed,
        "quantities": quantities,
        "variants": _variant_names(setup.k, setup.iht_steps, setup.out_channels),
        "delta_lower_bound": float(delta_lower_bound_from(eig_min, eig_max)),
        "delta_lower_bound_random_z": float(
            delta_lower_bound_from(ratio["min"] ** 2, ratio["max"] ** 2)
        ),
        "histograms": histograms,
    }


def format_fig2(result: dict) -> str:
    """A Fig. 2 result as text: each quantity's statistics (the paper's three, the full
    ``‖WWᵀz‖/‖z‖``, the Gram eigenvalues, the variants), then the δ_k lower bound and bracket."""
    header = (
        f"{'quantity':<28}{'mean':>8}{'std':>8}{'min':>8}{'q01':>8}{'q50':>8}{'q99':>8}{'max':>8}"
    )
    lines = [header]
    names = list(MAIN_QUANTITIES) + ["ratio_wwt_full", "eig_min", "eig_max"]
    names += sorted(result["variants"])
    for name in names:
        s = result["quantities"][name]
        row = "".join(f"{s[c]:8.3f}" for c in ("mean", "std", "min", "q01", "q50", "q99", "max"))
        lines.append(f"{name:<28}{row}")
    lines.append(
        f"delta_k lower bound (exact eigenvalues of sampled supports): "
        f"{result['delta_lower_bound']:.3f}"
    )
    bracket = result["delta_bracket"]
    lines.append(
        f"delta_k bracket: [{bracket['lower']:.3f}, {bracket['upper']:.3f}] (sampled "
        f"{bracket['sampled']:.3f}, adversarial search {bracket['search']:.3f} at "
        f"{bracket['search_evaluations']} Gram evaluations; certified upper bound "
        f"{bracket['upper']:.3f}{', vacuous (>= 1)' if bracket['upper_vacuous'] else ''})"
    )
    return "\n".join(lines)
