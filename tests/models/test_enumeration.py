"""Every support of a region model, counted and listed (jaxcs.models.enumeration).

The reference is brute force: every combination of code indices whose regions are distinct,
with a region read off the flat index by hand (block: the channel ``index % K``; pooling: the
window of each spatial coordinate and the channel; top-k: the index itself).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from jaxcs import BlockModel, PoolingModel, TopKModel
from jaxcs.models.enumeration import (
    count_supports,
    iter_supports,
    log_count_lower_bound,
    model_regions,
    support_sizes,
)


def region_of(model, code_shape, index: int) -> tuple:
    """The region of a flat code index, from the model's rule (independent of jaxcs)."""
    *position, channel = np.unravel_index(index, code_shape)
    if isinstance(model, BlockModel):
        return (channel,)
    if isinstance(model, TopKModel):
        return (*position, channel)
    window = model.pool_size
    return (*(p // w for p, w in zip(position, window, strict=True)), channel)


def brute_supports(model, code_shape, size: int) -> set[frozenset]:
    N = math.prod(code_shape)
    return {
        frozenset(S)
        for S in itertools.combinations(range(N), size)
        if len({region_of(model, code_shape, i) for i in S}) == size
    }


CASES = [
    pytest.param(BlockModel(2), (4, 3), id="block-1d"),
    pytest.param(PoolingModel((3,), 2), (5, 2), id="pool-1d-partial"),  # regions of 3 and 2
    pytest.param(TopKModel(3), (3, 2), id="topk-1d"),
    pytest.param(BlockModel(2), (2, 3, 2), id="block-2d"),
    pytest.param(PoolingModel((2, 2), 3), (3, 3, 2), id="pool-2d-partial"),  # 4, 2, 2, 1 cells
    pytest.param(TopKModel(2), (2, 2, 2), id="topk-2d"),
]


@pytest.mark.parametrize(("model", "code_shape"), CASES)
def test_count_and_list_match_brute_force(model, code_shape):
    for size in range(1, int(model.k) + 1):
        expected = brute_supports(model, code_shape, size)
        count = count_supports(model, code_shape, size)
        assert isinstance(count, int) and count == len(expected)
        assert log_count_lower_bound(model, code_shape, size) <= math.log(count) + 1e-9
        for chunk_size in (1, 5, 64, 10**6):
            chunks = list(iter_supports(model, code_shape, size, chunk_size))
            assert all(c.dtype == np.int64 and c.shape[1] == size for c in chunks)
            # every chunk full but the last
            assert all(len(c) == chunk_size for c in chunks[:-1])
            assert 1 <= len(chunks[-1]) <= chunk_size
            rows = [frozenset(r) for c in chunks for r in c.tolist()]
            assert len(rows) == count  # no duplicates ...
            assert set(rows) == expected  # ... and every support
        # regions in increasing order within a row (regions numbered in C order over
        # (*pooled, K), i.e. in the lexicographic order of the region tuples)
        for row in np.concatenate(chunks).tolist():
            regions = [region_of(model, code_shape, i) for i in row]
            assert regions == sorted(regions)


@pytest.mark.parametrize(("model", "code_shape"), CASES)
def test_model_regions_partition_the_code(model, code_shape):
    cells, inside = model_regions(model, code_shape)
    assert cells.shape == inside.shape and cells.shape[0] == model.num_regions(code_shape)
    used = cells[inside]
    # every code index lies in exactly one region, and in the region of the model's rule
    np.testing.assert_array_equal(np.sort(used), np.arange(math.prod(code_shape)))
    for r in range(len(cells)):
        assert len({region_of(model, code_shape, i) for i in cells[r][inside[r]]}) == 1


def test_closed_form_counts():
    # the block model's n^k · C(K, k) at the Fig. 2 size (astronomical, exact Python int)
    assert count_supports(BlockModel(10), (28, 96), 10) == 28**10 * math.comb(96, 10)
    assert math.isclose(
        log_count_lower_bound(BlockModel(10), (28, 96), 10),
        math.log(28**10 * math.comb(96, 10)),
        rel_tol=1e-12,
    )
    # top-k: C(N, k); pooling with partial regions: e_2(3, 3, 3, 1, 1, 1) = 27 + 27 + 3
    assert count_supports(TopKModel(4), (5, 3), 4) == math.comb(15, 4)
    assert count_supports(PoolingModel((3,), 2), (4, 3), 2) == 57
    # more non-zeros than regions: no support
    assert count_supports(BlockModel(2), (4, 3), 4) == 0


def test_support_sizes():
    assert support_sizes(BlockModel(3), (4, 5), all_sizes=False) == range(3, 4)
    assert support_sizes(BlockModel(3), (4, 5), all_sizes=True) == range(1, 4)
    # no budget: one non-zero in every region
    assert support_sizes(PoolingModel((2,)), (5, 2), all_sizes=False) == range(6, 7)


def test_log_count_lower_bound_of_no_support():
    """More non-zeros than regions: no support, log 0 = −inf is the only lower bound (the
    count itself is 0)."""
    assert count_supports(BlockModel(2), (4, 3), 4) == 0
    assert log_count_lower_bound(BlockModel(2), (4, 3), 4) == -math.inf
