"""The cost model of a model-RIP estimate: modelled multiply-adds per sampled code, the ratio
method and eigenvalue path that ``"auto"`` resolves to, and the automatic chunk size."""

from __future__ import annotations

import math

from jaxcs.analysis.rip.spectrum.masked import DEFAULT_STEPS

MAX_EXACT_EIGEN_K = 1024  # the dense path's k × k Gram per sample; beyond this, Lanczos only
EIGH_COST_FACTOR = 4  # multiply-adds of a k × k eigvalsh, in units of k³
AUTO_PROGRESS_COST = 10**10  # estimated multiply-adds beyond which progress="auto" shows a bar
CHUNK_BUDGET = 2**23  # array elements of per-chunk temporaries (32 MiB in float32)
MAX_CHUNK = 8192
# The Lanczos path's convolutions run once per step on the whole chunk, and batches of a few
# hundred codes fall out of cache: on 2 CPU cores, for the 3×3 16→32 16×16 layer with k = 512
# and 32 steps, method="conv" took 5.2 ms per code at the 367-code chunk of CHUNK_BUDGET and
# 3.1 ms at 29 or 64 codes (method="gram", whose chunk was 29, 4.0 ms). So its automatic
# chunks hold at most this many codes (the Lanczos cases of
# benchmarks/results/rip_method_choice_cpu.json ran with this cap).
LANCZOS_MAX_CHUNK = 64
# Calibration of method="auto" (choose_method), from benchmarks/rip_method_choice.py and its
# results, benchmarks/results/rip_method_choice_cpu.json (2 CPU cores; the Fig. 2 layer, 3×3
# 16→32 on 16×16 and 3×3 64→64 on 32×32, k = 10 … 512): one gathered entry of a restricted Gram
# takes as long as this many multiply-adds of the layer's two convolutions, by padding. Each is
# inside the interval that makes auto pick, on every measured case, the faster method or one
# within 10 % of it ("valid" 93–110, "same" 107–240, "circular" 9–144; near the ends the
# measurements of one case differ by ±30 % between runs on a shared machine): XLA's CPU convolutions
# are 2–3× faster with "same" padding than with "valid" or "circular" (wrap and fold), and a
# "same" entry also gathers its border box.
GRAM_ENTRY_COST = {"valid": 100, "same": 160, "circular": 20}
DEFAULT_GRAM_ENTRY_COST = 100  # other operators: a plain gather, as "valid" (not measured)


def auto_chunk(op, model, use_gram: bool, use_conv: bool, lanczos: bool = False) -> int:
    """Codes per chunk whose temporaries fit :data:`CHUNK_BUDGET` elements (sampling, and the
    restricted Gram and the two convolutions where they run), at most :data:`MAX_CHUNK`, and
    :data:`LANCZOS_MAX_CHUNK` on the Lanczos path."""
    code_shape = tuple(op.out_shape)
    per_sample = model.sampling_cost(code_shape)
    if use_gram:
        per_sample += op.restricted_gram_cost(model.num_slots(code_shape))
    if use_conv:
        per_sample += 2 * (math.prod(op.out_shape) + math.prod(op.in_shape))
    chunk = int(max(1, min(MAX_CHUNK, CHUNK_BUDGET // per_sample)))
    return min(chunk, LANCZOS_MAX_CHUNK) if lanczos else chunk


def chunk_bucket(num_samples: int) -> int:
    """The chunk that ``num_samples`` codes need at most: the power of two ``≥ num_samples``.

    The default chunk is ``min(automatic chunk, chunk_bucket(num_samples))``: a run smaller
    than one automatic chunk masks the tail of one power-of-two chunk, so the ``num_samples``
    of a sweep fall in a few buckets (one compiled program each) instead of compiling a
    program per value.
    """
    return 1 << (int(num_samples) - 1).bit_length()


def gram_entry_cost(op) -> int:
    """Multiply-adds of ``op``'s convolutions that take as long as one element of its
    :meth:`~jaxcs.AbstractOperator.restricted_gram_cost` (a gathered Gram entry):
    :data:`GRAM_ENTRY_COST` by ``op.padding``, else :data:`DEFAULT_GRAM_ENTRY_COST`."""
    padding = getattr(op, "padding", None)
    if not isinstance(padding, str):
        return DEFAULT_GRAM_ENTRY_COST
    return GRAM_ENTRY_COST.get(padding, DEFAULT_GRAM_ENTRY_COST)


def sample_cost(
    op, capacity: int, method: str, eigen_method, lanczos_steps: int, full_ratio: bool = False
) -> int:
    """Modelled cost per sampled code of :func:`estimate_model_rip`, in multiply-adds of the
    operator's convolutions: ``2 · mv_cost`` for the two convolutions (``method="conv"`` or
    ``full_ratio``), ``gram_entry_cost(op) · restricted_gram_cost(capacity)`` for the
    restricted Gram (``method="gram"`` or the dense eigenvalue path; gathered once for
    both), plus the eigenvalues (``EIGH_COST_FACTOR · k³`` dense; ``lanczos_steps`` steps of
    two convolutions each on the Lanczos path)."""
    conv = 2 * op.mv_cost()
    cost = 0
    if method == "gram" or eigen_method == "dense":
        cost += gram_entry_cost(op) * op.restricted_gram_cost(capacity)
    if method == "conv" or full_ratio:
        cost += conv
    if eigen_method == "dense":
        cost += EIGH_COST_FACTOR * capacity**3
    elif eigen_method == "lanczos":
        cost += lanczos_steps * (conv + 4 * lanczos_steps * capacity)
    return cost


def choose_method(
    op,
    capacity: int,
    eigen_method=None,
    *,
    full_ratio: bool = False,
    lanczos_steps: int = DEFAULT_STEPS,
) -> str:
    """What ``method="auto"`` resolves to: ``"gram"`` or ``"conv"``, whichever has the lower
    :func:`sample_cost` for this operator, capacity, eigenvalue path (``"dense"``,
    ``"lanczos"`` or ``None`` without eigenvalues) and ``full_ratio`` (ties: ``"gram"``).

    The two convolutions cost ``2 · mv_cost`` (nothing more when ``full_ratio`` needs them
    anyway), the restricted Gram ``gram_entry_cost(op) · restricted_gram_cost(k)`` (nothing
    more on the dense eigenvalue path, which gathers it anyway): so ``"gram"`` wins at small
    ``k`` and ``"conv"`` beyond ``k ≈ sqrt(2 · mv_cost / gram_entry_cost)`` (on CPU, for a
    3×3 16→32 16×16 layer: about ``k = 120`` with ``"same"`` padding, ``135`` with
    ``"valid"``, ``340`` with ``"circular"``; ``k = 690`` for a 3×3 64→64 32×32 ``"same"``
    one).
    """
    costs = {
        method: sample_cost(op, capacity, method, eigen_method, lanczos_steps, full_ratio)
        for method in ("gram", "conv")
    }
    return "gram" if costs["gram"] <= costs["conv"] else "conv"


def choose_eigen_method(op, capacity: int, lanczos_steps: int) -> str:
    """``"dense"`` or ``"lanczos"``, whichever costs fewer estimated multiply-adds per support
    (the dense path only up to ``MAX_EXACT_EIGEN_K`` slots)."""
    if capacity > MAX_EXACT_EIGEN_K:
        return "lanczos"
    dense = op.restricted_gram_cost(capacity) + EIGH_COST_FACTOR * capacity**3
    lanczos = lanczos_steps * (2 * op.mv_cost() + 4 * lanczos_steps * capacity)
    return "dense" if dense <= lanczos else "lanczos"
