"""Every support of a structured sparsity model, counted and listed in chunks.

A support of size ``s`` of a :class:`~jaxcs.models.RegionModel` picks ``s`` distinct regions and one
cell in each, so there are ``e_s(c_1, …, c_R)`` of them: the elementary symmetric polynomial of
the regions' cell counts (``C(R, s) · c^s`` when every region has ``c`` cells: the block model's
``n^k · C(K, k)``). The lists feed the exact model-RIP constant
(:func:`jaxcs.exact_model_rip`), so they are host-side NumPy: a count is a Python integer that
may be astronomically large, and listing stops at the caller's budget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
from jaxtyping import Bool, Int

from jaxcs.models._regions import pooled_shape, region_cells
from jaxcs.models.region_model import RegionModel


def model_regions(
    model: RegionModel, code_shape: Sequence[int]
) -> tuple[Int[np.ndarray, "R c"], Bool[np.ndarray, "R c"]]:
    """The cells of every region: ``(cells, inside)``, each ``(R, c)``.

    ``cells[r]`` are the flat code indices (C order over ``code_shape``) of region ``r``'s cells
    (regions numbered in C order over ``(*pooled, K)``), ``inside[r]`` marks the cells that exist
    (a partial border region has fewer than ``c = prod(window)``; its missing cells repeat a
    border cell and are masked). NumPy, static.
    """
    code_shape = model.check_code_shape(code_shape)
    spatial, K = code_shape[:-1], code_shape[-1]
    window = model.region_shape(code_shape)
    regions = np.arange(math.prod(pooled_shape(spatial, window)) * K)
    cells, inside = region_cells(regions, spatial, window, K)  # (c, R)
    return np.asarray(cells).T.astype(np.int64), np.asarray(inside).T


def support_sizes(model: RegionModel, code_shape: Sequence[int], *, all_sizes: bool) -> range:
    """The support sizes of the model: ``k`` alone (``all_sizes=False``; every region when
    ``k`` is ``None``), or ``1 … k`` (``all_sizes=True``)."""
    regions = model.num_regions(code_shape)
    k = regions if model.k is None else int(np.max(np.asarray(model.k)))
    k = min(k, regions)
    return range(1, k + 1) if all_sizes else range(k, k + 1)


def log_count_lower_bound(model: RegionModel, code_shape: Sequence[int], size: int) -> float:
    """A lower bound on ``log count_supports(...)``, cheap at any size: with ``R`` regions of
    which ``F`` have the most cells ``c``, ``e_s ≥ C(R, s)`` and ``e_s ≥ C(F, s') · c^{s'}``,
    ``s' = min(s, F)``."""
    _, inside = model_regions(model, code_shape)
    counts = inside.sum(axis=1)
    regions, c = len(counts), int(counts.max())
    if size > regions:
        return -math.inf  # no support at all
    full = int(np.sum(counts == c))

    def log_comb(n, r):
        return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)

    part = min(size, full)
    return max(log_comb(regions, size), log_comb(full, part) + part * math.log(c))


def count_supports(model: RegionModel, code_shape: Sequence[int], size: int) -> int:
    """Number of supports of exactly ``size`` non-zeros: ``e_size(c_1, …, c_R)`` (exact)."""
    _, inside = model_regions(model, code_shape)
    counts = inside.sum(axis=1)
    # e_s by the recurrence e_s ← e_s + c · e_{s−1}, over distinct cell counts with multiplicity
    e = [1] + [0] * size
    for count in counts.tolist():
        for s in range(size, 0, -1):
            e[s] += count * e[s - 1]
    return e[size]


def iter_supports(
    model: RegionModel, code_shape: Sequence[int], size: int, chunk_size: int
) -> Iterator[Int[np.ndarray, "B size"]]:
    """Every support of ``size`` non-zeros, in chunks of at most ``chunk_size`` rows.

    Yields ``(B, size)`` int64 arrays of flat code indices, regions in increasing order within
    a row; over all chunks each support appears exactly once (``count_supports`` rows). Memory
    is ``O(chunk_size · size)``: the cell choices of a set of regions are enumerated by rank
    (mixed radix), a chunk at a time.
    """
    cells, inside = model_regions(model, code_shape)
    width = cells.shape[1]
    total = width**size  # cell choices per set of regions (masked where a region is partial)
    per_block = min(total, chunk_size)
    place = width ** np.arange(size - 1, -1, -1, dtype=np.int64)
    combos = itertools.combinations(range(len(cells)), size)
    per_combo = max(1, chunk_size // per_block)
    pending: list[np.ndarray] = []
    pending_rows = 0
    while True:
        block = np.array(list(itertools.islice(combos, per_combo)), np.int64).reshape(-1, size)
        for first in range(0, total if len(block) else 0, per_block):
            ranks = np.arange(first, min(first + per_block, total), dtype=np.int64)
            choices = (ranks[:, None] // place) % width  # (c, size)
            picked = cells[block[:, None, :], choices[None]]  # (b, c, size)
            ok = inside[block[:, None, :], choices[None]].all(axis=-1)
            rows = picked[ok]
            pending.append(rows)
            pending_rows += len(rows)
            while pending_rows >= chunk_size:
                rows = np.concatenate(pending)
                yield rows[:chunk_size]
                rest = rows[chunk_size:]
                pending, pending_rows = ([rest], len(rest)) if len(rest) else ([], 0)
        if not len(block):
            if pending_rows:
                yield np.concatenate(pending)
            return
