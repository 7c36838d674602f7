"""The paper's evidence beyond Fig. 2 (Tables 1–4, Fig. 3, Theorem 3.3), one function per table.

Each function takes trained networks (:mod:`jaxcs.experiments.networks`) and arrays, and returns
a list of JSON-ready row objects; :mod:`jaxcs.experiments.reproduce` runs them as resumable
stages and writes the report. Conventions, for every layer-wise quantity:

- Block ``i``'s ``W`` is its filters with ``"same"`` padding on the block's input maps, each
  filter normalised to unit norm (the paper's step size 1, Theorem 3.1's normalisation).
  Its random counterpart: Gaussian filters of the same shape, normalised.
- ``k_i``: the mean number of non-zero pooled values of block ``i`` (after ReLU and 2 × 2 max
  pooling) on the analysis images: the layer's measured sparsity, as the paper's Fig. 3 takes
  conv(5,1)'s.
- The layer model is ``PoolingModel((2, 2), k_i)``: signed for the model-RIP (the theory's
  model, Proposition 1), non-negative (ReLU) for the one-step reconstruction of Table 3, which
  is what the layer computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from jaxcs.analysis import (
    coherence,
    estimate_model_rip,
    model_rip_bracket,
    model_rip_upper_bound,
    one_step_reconstruction,
    relative_error,
    summarize_samples,
    theorem_3_3_bound,
)
from jaxcs.experiments.networks import block_kernel, block_operator, tied_decode
from jaxcs.models import PoolingModel, TopKModel
from jaxcs.operators import ConvOperator, gaussian_filters, normalize_filters
from jaxcs.solvers import NIHT, algorithm2, recover

POOL = (2, 2)
LAYER_FILTERS = ("learned", "random")


# ------------------------------------------------------------------------ shared pieces
def layer_name(index: int) -> str:
    """``conv(i)`` as the paper names VGG's layers (1-based)."""
    return f"conv({index + 1})"


def input_name(index: int) -> str:
    """What block ``index`` reads: the image, or ``pool(index)``."""
    return "image" if index == 0 else f"pool({index})"


def layer_operators(key: PRNGKeyArray, variables, blocks: Sequence[dict]) -> list[dict]:
    """Per block: ``{"learned": W, "random": W_random}``, both normalised, on the block's
    input maps (``"same"`` padding)."""
    ops = []
    for i, block in enumerate(blocks):
        spatial = tuple(block["input"].shape[1:3])
        learned = block_operator(variables, i, spatial)
        kernel = learned.filters
        random = gaussian_filters(
            jr.fold_in(key, i), kernel.shape[:2], kernel.shape[2], kernel.shape[3]
        )
        ops.append(
            {
                "learned": ConvOperator(normalize_filters(kernel), spatial, padding="same"),
                "random": ConvOperator(normalize_filters(random), spatial, padding="same"),
            }
        )
    return ops


def pooled_relu(block: dict) -> Float[np.ndarray, "B H//2 W//2 K"]:
    """ReLU → 2 × 2 max pool of a block's map, ``(B, ⌊H/2⌋, ⌊W/2⌋, K)``: its non-zeros are
    those of the pooled map (batch norm, a per-channel monotone map, sits between them)."""
    relu = np.asarray(block["relu"])
    b, h, w, c = relu.shape
    return relu[:, : h // 2 * 2, : w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max((2, 4))


def measured_k(block: dict) -> int:
    """Mean number of non-zero pooled values per example of ReLU → 2 × 2 max pool."""
    return max(1, round(float((pooled_relu(block) > 0).sum((1, 2, 3)).mean())))


def gain_optimal_error(
    x: Float[Array, "*batch_signal"], x_hat: Float[Array, "*batch_signal"], signal_ndim: int
) -> Float[Array, "*batch"]:
    """``min_c ‖x − c x̂‖ / ‖x‖ = sqrt(1 − cos²(x, x̂))``: the error up to the best scalar gain
    (the tied decoder has no reason to keep the scale)."""
    axes = tuple(range(-signal_ndim, 0))
    cos = jnp.sum(x * x_hat, axes) / jnp.sqrt(jnp.sum(x**2, axes) * jnp.sum(x_hat**2, axes))
    return jnp.sqrt(jnp.clip(1 - cos**2, 0, None))


def _stats(values) -> dict:
    s = summarize_samples(np.asarray(values, np.float64).ravel())
    return {name: s[name] for name in ("mean", "std", "min", "max", "count", "nonfinite")}


def _histogram(series: dict[str, np.ndarray], bins: int = 60) -> dict:
    """Counts of every series on shared edges spanning them all and 1."""
    finite = [v[np.isfinite(v)] for v in series.values() if v.size]
    values = np.concatenate(finite) if finite else np.array([1.0])
    lo, hi = min(values.min(), 1.0), max(values.max(), 1.0)
    pad = 0.02 * (hi - lo) + 1e-6
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    return {"edges": edges.tolist()} | {
        name: np.histogram(v[np.isfinite(v)], edges)[0].tolist() for name, v in series.items()
    }


# ------------------------------------------------------------------------ Table 1
def table1_rows(summaries: Sequence[dict]) -> list[dict]:
    """Test accuracy, mean ± std over seeds, per (depth, filter size, width, filters)."""
    groups: dict[tuple, list[dict]] = {}
    for s in summaries:
        groups.setdefault((s["depth"], s["filter_size"], s["widths"][0], s["filters"]), []).append(
            s
        )
    rows = []
    for (depth, size, width, filters), items in sorted(groups.items()):
        acc = np.array([s["test_accuracy"] for s in items])
        rows.append(
            {
                "depth": depth,
                "filter_size": size,
                "width": width,
                "filters": filters,
                "seeds": len(items),
                "test_accuracy_mean": float(acc.mean()),
                "test_accuracy_std": float(acc.std()),
                "test_accuracy_min": float(acc.min()),
                "test_accuracy_max": float(acc.max()),
                "train_accuracy_mean": float(np.mean([s["train_accuracy"] for s in items])),
                "seconds_mean": float(np.mean([s["seconds"] for s in items])),
            }
        )
    return rows


# ------------------------------------------------------------------------ Table 2
def table2_rows(network: str, blocks: Sequence[dict]) -> list[dict]:
    """Percentage of non-zeros after ReLU and after 2 × 2 max pooling, per block."""
    rows = []
    for i, block in enumerate(blocks):
        relu, pooled = np.asarray(block["relu"]), pooled_relu(block)
        rows.append(
            {
                "network": network,
                "layer": layer_name(i),
                "relu_nonzero_pct": 100 * float((relu > 0).mean()),
                "pool_nonzero_pct": 100 * float((pooled > 0).mean()),
                "k": measured_k(block),
                "regions": int(pooled[0].size),
                "code_size": int(relu[0].size),
            }
        )
    return rows


# ------------------------------------------------------------------------ Table 4
def _coherence_row(source, layer, shape, learned, filt, shift) -> dict:
    return {
        "source": source,
        "layer": layer,
        "filter_size": int(shape[0]),
        "in_channels": int(shape[2]),
        "out_channels": int(shape[3]),
        "learned_filter_coherence": None if learned is None else learned[0],
        "learned_shift_coherence": None if learned is None else learned[1],
        "random_filter_coherence_mean": float(filt.mean()),
        "random_filter_coherence_std": float(filt.std()),
        "random_shift_coherence_mean": float(shift.mean()),
        "random_shift_coherence_std": float(shift.std()),
        "seeds": int(filt.size),
    }


def _random_coherences(key, shape, seeds: int, map_size: int) -> tuple[np.ndarray, np.ndarray]:
    filt, shift = [], []
    for s in range(seeds):
        kernel = gaussian_filters(jr.fold_in(key, s), shape[:2], shape[2], shape[3])
        op = ConvOperator(kernel, (map_size, map_size), padding="same")
        filt.append(float(coherence(kernel)))
        shift.append(float(coherence(op, shifts="interior")))
    return np.array(filt), np.array(shift)


def table4_rows(
    key: PRNGKeyArray, network: str, variables, blocks: Sequence[dict], *, seeds: int
) -> list[dict]:
    """Coherence of each trained block (filter-level and shift-aware over interior columns)
    against Gaussian filters of the same shape (mean ± std over ``seeds``)."""
    rows = []
    for i, block in enumerate(blocks):
        kernel = block_kernel(variables, i)
        size = int(block["input"].shape[1])
        op = ConvOperator(kernel, (size, size), padding="same")
        filt, shift = _random_coherences(jr.fold_in(key, i), kernel.shape, seeds, size)
        learned = (float(coherence(kernel)), float(coherence(op, shifts="interior")))
        rows.append(_coherence_row(network, layer_name(i), kernel.shape, learned, filt, shift))
    return rows


VGG16_LAYERS = ((3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512),
                (512, 512))  # fmt: skip


def vgg16_coherence_rows(
    key: PRNGKeyArray, *, seeds: int, map_size: int = 14, layers=VGG16_LAYERS
) -> list[dict]:
    """Gaussian-filter coherence at VGG-16's 3 × 3 layer sizes (M → K), mean over seeds."""
    rows = []
    for i, (m, k) in enumerate(layers):
        filt, shift = _random_coherences(jr.fold_in(key, i), (3, 3, m, k), seeds, map_size)
        rows.append(_coherence_row("vgg16 sizes", f"3x3 {m}->{k}", (3, 3, m, k), None, filt, shift))
    return rows


# ------------------------------------------------------------------------ Fig. 3
def _code_ratios(op, z: jax.Array) -> np.ndarray:
    axes = tuple(range(1, z.ndim))
    num = jnp.sqrt(jnp.sum(op.rmv(z) ** 2, axes))
    den = jnp.sqrt(jnp.sum(z**2, axes))
    return np.asarray(num / jnp.where(den > 0, den, jnp.nan))


def algorithm2_lambda(op, x: Float[Array, "*batch_in_shape"], fraction: float) -> float:
    """``λ = fraction · 2 max |W x|`` over the batch (``λ ≥ 2 max|W x|`` makes z = 0)."""
    return float(fraction * 2 * jnp.max(jnp.abs(op.mv(x))))


def bracket_summary(bracket) -> dict:
    """The JSON of a :class:`~jaxcs.analysis.RIPBracket`."""
    upper = float(bracket.upper)
    return {
        "lower": float(bracket.lower),
        "lower_method": bracket.lower_method,
        "sampled": float(bracket.sampled),
        "search": float(bracket.search),
        "upper": upper if math.isfinite(upper) else None,
        "upper_method": bracket.upper_method,
        "upper_vacuous": not upper < 1,
    }


def fig3_rows(
    key: PRNGKeyArray,
    ops: Sequence[dict],
    blocks: Sequence[dict],
    *,
    num_samples: int,
    bracket_samples: int,
    algorithm2_examples: int,
    algorithm2_fraction: float,
    algorithm2_steps: int,
) -> list[dict]:
    """Per block and filter kind: ``‖Wᵀz‖/‖z‖`` for (a) codes sampled from the pooling model
    at the block's measured sparsity and (b) codes recovered from the block's real inputs by
    Algorithm 2, signed (before ReLU) and non-negative (after ReLU); and the δ bracket."""
    rows = []
    for i, block in enumerate(blocks):
        k = measured_k(block)
        x = jnp.asarray(block["input"][:algorithm2_examples])
        for kind in LAYER_FILTERS:
            op = ops[i][kind]
            key_i = jr.fold_in(jr.fold_in(key, i), LAYER_FILTERS.index(kind))
            key_codes, key_bracket = jr.split(key_i)
            model = PoolingModel(POOL, k)
            estimate = estimate_model_rip(
                key_codes, op, model, num_samples, method="conv", eigenvalues=False,
                keep_samples=True,
            )  # fmt: skip
            assert estimate.samples is not None  # keep_samples=True keeps them
            sampled = np.asarray(estimate.samples["ratio_wt"], np.float64)
            lam = algorithm2_lambda(op, x, algorithm2_fraction)
            series = {"sampled": sampled}
            for name, nonnegative in (("alg2_signed", False), ("alg2_relu", True)):
                found = algorithm2(
                    op, x, PoolingModel(POOL, k, nonnegative=nonnegative), lam,
                    max_steps=algorithm2_steps,
                )  # fmt: skip
                series[name] = _code_ratios(op, found.z)
            bracket = model_rip_bracket(key_bracket, op, model, num_samples=bracket_samples)
            rows.append(
                {
                    "layer": layer_name(i),
                    "filters": kind,
                    "k": k,
                    "code_shape": list(op.out_shape),
                    "ratio_sampled": _stats(sampled),
                    "ratio_alg2_signed": _stats(series["alg2_signed"]),
                    "ratio_alg2_relu": _stats(series["alg2_relu"]),
                    "algorithm2_lambda": lam,
                    "delta_bracket": bracket_summary(bracket),
                    "histogram": _histogram(series),
                }
            )
    return rows


# ------------------------------------------------------------------------ Table 3
def table3_rows(
    key: PRNGKeyArray,
    config,
    variables,
    ops: Sequence[dict],
    blocks: Sequence[dict],
    *,
    niht_steps: int,
    decoders: dict | None = None,
) -> list[dict]:
    """Per block input (the image, pool(1), …): the one-step IHT error ``‖x − x̂‖/‖x‖`` with
    ``x̂ = Wᵀ 𝕄(W x, k)`` for the block's learned and random filters, the random-activation
    baseline, NIHT to convergence, and the image-space errors (tied decoder, trained decoder).

    Args:
        decoders: ``{level: callable(pooled) -> pixels}`` trained decoders (optional).
    """
    rows = []
    image = jnp.asarray(blocks[0]["input"])
    for i, block in enumerate(blocks):
        x = jnp.asarray(block["input"])
        k = measured_k(block)
        model = PoolingModel(POOL, k, nonnegative=True)
        row: dict = {"layer": input_name(i), "encoder": layer_name(i), "k": k}
        estimates = {}
        for kind in LAYER_FILTERS:
            op = ops[i][kind]
            x_hat = one_step_reconstruction(op, x, model)
            estimates[kind] = x_hat
            row[f"{kind}_filters"] = float(jnp.nanmean(relative_error(x, x_hat, 3)))
            row[f"{kind}_filters_std"] = float(jnp.nanstd(relative_error(x, x_hat, 3)))
            row[f"{kind}_filters_gain_optimal"] = float(jnp.mean(gain_optimal_error(x, x_hat, 3)))
            solution = recover(op, x, model, NIHT(), max_steps=niht_steps, tol=1e-5)
            niht = relative_error(x, op.rmv(solution.z), 3)
            row[f"{kind}_filters_niht"] = float(jnp.nanmean(niht))
            row[f"{kind}_niht_steps_mean"] = float(jnp.mean(solution.num_steps))
        noise = jr.normal(jr.fold_in(key, i), x.shape, x.dtype)
        axes = (1, 2, 3)
        noise = noise * jnp.sqrt(
            jnp.sum(x**2, axes, keepdims=True) / jnp.sum(noise**2, axes, keepdims=True)
        )
        row["random_activations"] = float(jnp.mean(relative_error(x, noise, 3)))
        if i == 0:
            row |= dict.fromkeys(
                ("image_tied", "image_tied_reference", "image_trained", "image_trained_reference"),
                row["learned_filters"],
            )
            row["image_space_note"] = "the input is the image: image space is activation space"
        else:
            tied = tied_decode(config, variables, blocks, i, estimates["learned"])
            tied_ref = tied_decode(config, variables, blocks, i, x)
            row["image_tied"] = float(jnp.mean(gain_optimal_error(image, tied, 3)))
            row["image_tied_reference"] = float(jnp.mean(gain_optimal_error(image, tied_ref, 3)))
            if decoders and i in decoders:
                decode = decoders[i]
                row["image_trained"] = float(
                    jnp.mean(relative_error(image, decode(estimates["learned"]), 3))
                )
                row["image_trained_reference"] = float(
                    jnp.mean(relative_error(image, decode(x), 3))
                )
        rows.append(row)
    return rows


# ------------------------------------------------------------------------ Theorem 3.3
def _bound(delta_k: float, delta_2k: float) -> float | None:
    if not (math.isfinite(delta_k) and math.isfinite(delta_2k)) or delta_2k >= 1:
        return None
    return float(theorem_3_3_bound(min(delta_k, delta_2k), delta_2k))


def _delta_2k_upper(op, k: int) -> float:
    """A certified upper bound on δ_2k: 𝓜_k² lies in the ``2k``-sparse vectors, so the Babel
    bound of ``TopKModel(2k)`` bounds it (``inf`` when none can be computed)."""
    try:
        return float(model_rip_upper_bound(op, TopKModel(2 * k)).delta)
    except ValueError:
        return math.inf


def theorem_rows(
    key: PRNGKeyArray,
    ops: Sequence[dict],
    blocks: Sequence[dict],
    *,
    k_fractions: Sequence[float],
    bracket_samples: int,
    delta_k_brackets: dict | None = None,
) -> list[dict]:
    """Theorem 3.3's bound with the δ_k and δ_2k brackets, beside the observed one-step error.

    For each block, filter kind and ``k = fraction · k_measured``: δ_k bracketed on
    ``PoolingModel(k)``; δ_2k's lower end on ``PoolingModel(min(2k, regions))`` (a subset of
    𝓜_k², so a valid lower bound), its upper end from ``TopKModel(2k)``'s Babel bound. The
    bound at the lower ends is the least the theorem could ever promise; it is certified only
    when the upper ends are below 1.

    Args:
        delta_k_brackets: ``{(layer, filters): bracket_summary}`` already measured at the
            layer's own k (Fig. 3's rows): used for ``fraction == 1`` instead of a new bracket,
            so that both tables report the same δ_k.
    """
    rows = []
    for i, block in enumerate(blocks):
        x = jnp.asarray(block["input"])
        k_measured = measured_k(block)
        for kind in LAYER_FILTERS:
            op = ops[i][kind]
            regions = PoolingModel(POOL).num_regions(op.out_shape)
            for f, fraction in enumerate(k_fractions):
                k = max(1, round(fraction * k_measured))
                key_f = jr.fold_in(jr.fold_in(jr.fold_in(key, i), LAYER_FILTERS.index(kind)), f)
                key_k, key_2k = jr.split(key_f)
                known = (delta_k_brackets or {}).get((layer_name(i), kind))
                if known is not None and k == k_measured:
                    lower_k = known["lower"]
                    upper_k = math.inf if known["upper"] is None else known["upper"]
                else:
                    b_k = model_rip_bracket(
                        key_k, op, PoolingModel(POOL, k), num_samples=bracket_samples
                    )
                    lower_k, upper_k = float(b_k.lower), float(b_k.upper)
                b_2k = model_rip_bracket(
                    key_2k, op, PoolingModel(POOL, min(2 * k, regions)),
                    num_samples=bracket_samples, search_budget=0,
                )  # fmt: skip
                lower_2k = max(float(b_2k.lower), lower_k)
                upper_2k = _delta_2k_upper(op, k)
                errors = relative_error(
                    x, one_step_reconstruction(op, x, PoolingModel(POOL, k, nonnegative=True)), 3
                )
                at_lower, at_upper = _bound(lower_k, lower_2k), _bound(upper_k, upper_2k)
                observed = float(jnp.nanmax(errors))
                if lower_2k >= 1:
                    verdict = f"vacuous: delta_2k >= {lower_2k:.3f} >= 1, the theorem says nothing"
                elif at_upper is not None:
                    holds = observed <= at_upper
                    verdict = f"certified bound {at_upper:.3f}: " + (
                        "holds" if holds else "VIOLATED"
                    )
                else:
                    verdict = (
                        "not certified (delta_2k's upper bound >= 1); at the lower ends the bound "
                        f"is >= {at_lower:.3f} against observed max {observed:.3f}"
                    )
                rows.append(
                    {
                        "layer": layer_name(i),
                        "input": input_name(i),
                        "filters": kind,
                        "k_fraction": fraction,
                        "k": k,
                        "delta_k_lower": lower_k,
                        "delta_k_upper": upper_k if math.isfinite(upper_k) else None,
                        "delta_2k_lower": lower_2k,
                        "delta_2k_upper": upper_2k if math.isfinite(upper_2k) else None,
                        "bound_at_lower": at_lower,
                        "bound_at_upper": at_upper,
                        "observed_error_mean": float(jnp.nanmean(errors)),
                        "observed_error_max": observed,
                        "verdict": verdict,
                    }
                )
    return rows
