"""Structured sparsity models: block 𝓜_k, pooling and top-k (eqs. 2–3).

The projection is checked against a brute force over every model-sparse support on tiny codes;
ties against the rule documented in :mod:`jaxcs.pooling`; sampling against the uniform laws it
promises. Region geometry is recomputed here in NumPy, independently of ``jaxcs``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcs import BlockModel, PoolingModel, SparseCode, TopKModel


# --------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def compile_log():
    """Collect the messages of the compilations ``jax.log_compiles`` reports in the block."""
    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if "Compiling" in message:
                messages.append(message)

    handler = Handler(level=logging.DEBUG)
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield messages
    finally:
        logger.removeHandler(handler)


def model_window(model, code_shape):
    """The region shape, from the model's definition, not from its code."""
    spatial = tuple(code_shape[:-1])
    if isinstance(model, BlockModel):
        return spatial
    if isinstance(model, TopKModel):
        return (1,) * len(spatial)
    return tuple(model.pool_size)


@functools.cache
def regions_of(code_shape, window):
    """Flat code indices of each region, regions in C order over ``(*pooled, K)``, cells in
    increasing flat index. Partial border regions have fewer cells."""
    spatial, K = code_shape[:-1], code_shape[-1]
    pooled = tuple(-(-n // w) for n, w in zip(spatial, window, strict=True))
    regions = []
    for p in itertools.product(*map(range, pooled)):
        for c in range(K):
            cells = []
            for offset in itertools.product(*map(range, window)):
                pos = tuple(q * w + o for q, w, o in zip(p, window, offset, strict=True))
                if all(x < n for x, n in zip(pos, spatial, strict=True)):
                    cells.append(int(np.ravel_multi_index(pos + (c,), code_shape)))
            regions.append(sorted(cells))
    return tuple(tuple(r) for r in regions)


@functools.cache
def all_supports(regions, k):
    """Every model-sparse support: per region no cell (-1) or one cell, at most k regions."""
    k = len(regions) if k is None else k
    combos = [
        c for c in itertools.product(*[(-1,) + r for r in regions]) if sum(x >= 0 for x in c) <= k
    ]
    return np.array(combos, dtype=np.int64).reshape(len(combos), len(regions))


def brute_force_projection(v, regions, k, nonnegative):
    """Closest model-sparse code by enumeration; returns ``(best squared distance, code)``."""
    flat = np.asarray(v).reshape(-1)
    kept = np.maximum(flat, 0) if nonnegative else flat
    gains = np.append(kept.astype(np.float64) ** 2, 0.0)  # index -1 -> "no cell", gain 0
    supports = all_supports(regions, k)
    total = gains[supports].sum(axis=1)
    best = int(np.argmax(total))
    dist = float(np.sum(flat.astype(np.float64) ** 2) - total[best])
    code = np.zeros_like(flat)
    cells = supports[best][supports[best] >= 0]
    code[cells] = kept[cells]
    return dist, code.reshape(np.shape(v))


def reference_projection(v, regions, k, nonnegative):
    """The documented rule, written directly: per region the first cell of largest score, then
    the k regions of largest kept magnitude, the lowest region index first among equals."""
    flat = np.asarray(v).reshape(-1)
    chosen = []
    for cells in regions:
        vals = flat[list(cells)]
        j = int(np.argmax(vals if nonnegative else np.abs(vals)))  # argmax: first maximum
        chosen.append((cells[j], max(vals[j], 0) if nonnegative else vals[j]))
    order = sorted(range(len(regions)), key=lambda r: (-abs(chosen[r][1]), r))
    out = np.zeros_like(flat)
    for r in order[: len(regions) if k is None else k]:
        out[chosen[r][0]] = chosen[r][1]
    return out.reshape(np.shape(v))


def region_counts(codes, regions):
    """Non-zeros per region for a batch of dense codes ``(B, *code_shape)`` -> ``(B, R)``."""
    flat = np.asarray(codes).reshape(len(codes), -1) != 0
    return np.stack([flat[:, list(r)].sum(axis=1) for r in regions], axis=1)


def chi_square(observed, expected):
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(np.sum((observed - expected) ** 2 / expected))


def generous_threshold(df):
    """Far in the tail of chi²(df): a false alarm is astronomically unlikely, a biased sampler
    (e.g. always the first cell or the first regions) exceeds it by orders of magnitude."""
    return df + 8 * math.sqrt(2 * df) + 10


def make_model(kind, k, nonnegative, window=None):
    if kind == "block":
        return BlockModel(k, nonnegative=nonnegative)
    if kind == "topk":
        return TopKModel(k, nonnegative=nonnegative)
    return PoolingModel(window, k, nonnegative=nonnegative)


# (id, kind, window, code shape); brute force stays below ~10^4 supports per case
CASES = [
    ("block-1d", "block", None, (4, 3)),
    ("block-2d", "block", None, (2, 3, 3)),
    ("pool-1d-divides", "pool", (2,), (4, 2)),
    ("pool-1d-partial", "pool", (2,), (5, 2)),
    ("pool-2d-divides", "pool", (2, 2), (4, 4, 1)),
    ("pool-2d-partial", "pool", (2, 2), (3, 3, 2)),
    ("pool-2d-partial-2x3", "pool", (2, 3), (3, 5, 1)),
    ("topk-1d", "topk", None, (6,)),
    ("topk-2d", "topk", None, (3, 2)),
]
CASE_PARAMS = pytest.mark.parametrize(
    ("kind", "window", "shape"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
SIGNS = pytest.mark.parametrize("nonnegative", [False, True], ids=["signed", "nonneg"])


def case_ks(kind, num_regions):
    ks = sorted({0, 1, 2, min(3, num_regions), num_regions})
    return ([None] if kind == "pool" else []) + ks


# --------------------------------------------------------------------------- projection
@SIGNS
@CASE_PARAMS
def test_project_is_optimal_by_brute_force(kind, window, shape, nonnegative):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{shape}{nonnegative}".encode()))
    probe = make_model(kind, 0, nonnegative, window)
    regions = regions_of(shape, model_window(probe, shape))
    assert probe.num_regions(shape) == len(regions)
    vs = rng.standard_normal((8,) + shape).astype(np.float32)
    for k in case_ks(kind, len(regions)):
        model = make_model(kind, k, nonnegative, window)
        for v in vs:
            p = np.asarray(model.project(v))
            dist, best = brute_force_projection(v, regions, k, nonnegative)
            np.testing.assert_allclose(np.sum((p.astype(np.float64) - v) ** 2), dist, rtol=1e-5)
            # continuous data: the closest code is unique
            np.testing.assert_array_equal(p, best)


@settings(max_examples=6, deadline=None, database=None)
@given(
    spatial=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    window_seed=st.integers(0, 2**16),
    K=st.integers(1, 2),
    nonnegative=st.booleans(),
    k_seed=st.integers(0, 2**16),
    seed=st.integers(0, 2**16),
)
def test_pooling_projection_brute_force_random_shapes(
    spatial, window_seed, K, nonnegative, k_seed, seed
):
    rng = np.random.default_rng(window_seed)
    # at most the map size: a larger window is an error (tests/models/test_pooling.py)
    window = tuple(min(int(rng.integers(1, 4)), n) for n in spatial)
    shape = tuple(spatial) + (K,)
    regions = regions_of(shape, window)
    if math.prod(len(r) + 1 for r in regions) > 20000:
        window = tuple(spatial)  # few regions: keep the enumeration small
        regions = regions_of(shape, window)
    choices = [None, *range(len(regions) + 1)]
    k = choices[k_seed % len(choices)]
    model = PoolingModel(window, k, nonnegative=nonnegative)
    assert model.num_regions(shape) == len(regions)
    v = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    p = np.asarray(model.project(v))
    dist, best = brute_force_projection(v, regions, k, nonnegative)
    np.testing.assert_allclose(np.sum((p.astype(np.float64) - v) ** 2), dist, rtol=1e-5)
    np.testing.assert_array_equal(p, best)


@SIGNS
@CASE_PARAMS
def test_project_follows_tie_rule_on_integer_data(kind, window, shape, nonnegative):
    """Values in {-2, ..., 2}: ties everywhere, within and across regions."""
    rng = np.random.default_rng(7)
    probe = make_model(kind, 0, nonnegative, window)
    regions = regions_of(shape, model_window(probe, shape))
    vs = rng.integers(-2, 3, size=(8,) + shape).astype(np.float32)
    for k in case_ks(kind, len(regions)):
        model = make_model(kind, k, nonnegative, window)
        for v in vs:
            p = np.asarray(model.project(v))
            np.testing.assert_array_equal(p, reference_projection(v, regions, k, nonnegative))
            dist, _ = brute_force_projection(v, regions, k, nonnegative)
            assert np.sum((p.astype(np.float64) - v) ** 2) == pytest.approx(dist)


def test_vmapped_project_equals_unbatched():
    model = PoolingModel((2, 2), 3)
    vs = np.random.default_rng(10).standard_normal((4, 3, 3, 2)).astype(np.float32)
    got = jax.vmap(model.project)(vs)
    for v, p in zip(vs, got, strict=True):
        np.testing.assert_array_equal(p, model.project(v))


def test_tie_rule_explicit_cases():
    # equal values in one block: the lowest flat index
    v = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(BlockModel(1).project(v), [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # +a / -a inside a block: the first one, whatever its sign
    v = np.array([[0.0, -2.0], [-2.0, 0.0], [2.0, 0.0]], np.float32)
    np.testing.assert_array_equal(BlockModel(1).project(v), [[0.0, 0.0], [-2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(BlockModel(2).project(v), [[0.0, -2.0], [-2.0, 0.0], [0.0, 0.0]])
    # equal kept magnitudes across blocks (-2 in block 0, +2 in block 1): block 0 wins
    v = np.array([[0.0, 2.0], [-2.0, 0.0]], np.float32)
    np.testing.assert_array_equal(BlockModel(1).project(v), [[0.0, 0.0], [-2.0, 0.0]])
    v = np.array([[0.0, -2.0], [2.0, 0.0]], np.float32)
    np.testing.assert_array_equal(BlockModel(1).project(v), [[0.0, 0.0], [2.0, 0.0]])
    # pooling: regions ordered C-order over (*pooled, K), channel fastest
    v = np.ones((2, 4, 2), np.float32)
    expected = np.zeros_like(v)
    expected[0, 0, 0] = expected[0, 0, 1] = 1.0
    np.testing.assert_array_equal(PoolingModel((2, 2), 2).project(v), expected)
    expected[0, 2, 0] = 1.0
    np.testing.assert_array_equal(PoolingModel((2, 2), 3).project(v), expected)
    v = np.ones((4, 4, 1), np.float32)
    expected = np.zeros_like(v)
    expected[0, 0, 0] = expected[0, 2, 0] = 1.0
    np.testing.assert_array_equal(PoolingModel((2, 2), 2).project(v), expected)
    # signed pooling +a/-a across regions: region 0 (-a) beats region 1 (+a)
    v = np.array([0.0, -3.0, 3.0, 0.0], np.float32)[:, None]
    np.testing.assert_array_equal(PoolingModel((2,), 1).project(v)[:, 0], [0, -3, 0, 0])
    # non-negative: largest v in each region (not |v|), first among equals
    v = np.array([-1.0, 3.0, 3.0, -5.0], np.float32)[:, None]
    np.testing.assert_array_equal(
        PoolingModel((2,), 1, nonnegative=True).project(v)[:, 0], [0, 3, 0, 0]
    )
    np.testing.assert_array_equal(PoolingModel((2,), 1).project(v)[:, 0], [0, 0, 0, -5])
    v = np.array([-1.0, -1.0, 3.0, -5.0], np.float32)[:, None]
    np.testing.assert_array_equal(
        PoolingModel((2,), None, nonnegative=True).project(v)[:, 0], [0, 0, 3, 0]
    )
    # top-k
    v = np.array([1.0, -1.0, 1.0, -1.0, 0.0], np.float32)
    np.testing.assert_array_equal(TopKModel(2).project(v), [1, -1, 0, 0, 0])
    np.testing.assert_array_equal(TopKModel(3).project(v), [1, -1, 1, 0, 0])
    np.testing.assert_array_equal(TopKModel(2, nonnegative=True).project(v), [1, 0, 1, 0, 0])


# shapes shared with CASES, so the eager op caches are reused
ALL_MODELS = [
    ("block-1d", BlockModel(2), (4, 3)),
    ("block-2d-nonneg", BlockModel(2, nonnegative=True), (2, 3, 3)),
    ("pool-1d-partial", PoolingModel((2,), 3), (5, 2)),
    ("pool-1d-partial-nonneg-none", PoolingModel((2,), nonnegative=True), (5, 2)),
    ("pool-2d-partial-none", PoolingModel((2, 2)), (3, 3, 2)),
    ("pool-2d-partial-nonneg", PoolingModel((2, 2), 3, nonnegative=True), (3, 3, 2)),
    ("pool-2d-2x3", PoolingModel((2, 3), 2), (3, 5, 1)),
    ("topk-1d", TopKModel(3), (6,)),
    ("topk-2d-nonneg", TopKModel(3, nonnegative=True), (3, 2)),
]
MODEL_PARAMS = pytest.mark.parametrize(
    ("model", "shape"), [m[1:] for m in ALL_MODELS], ids=[m[0] for m in ALL_MODELS]
)


@MODEL_PARAMS
def test_project_idempotent_contained_and_support(model, shape):
    vs = np.random.default_rng(11).standard_normal((6,) + shape).astype(np.float32)
    for v in vs:
        p = model.project(v)
        assert bool(model.contains(p))
        np.testing.assert_array_equal(model.project(p), p)
        np.testing.assert_array_equal(model.support(v), np.asarray(p) != 0)
        if model.nonnegative:
            assert np.all(np.asarray(p) >= 0)
    # the raw data is (generically) not in the model, so contains can say no
    assert not bool(model.contains(vs[0]))


def test_contains_rejects_each_violation():
    ok = np.zeros((4, 2), np.float32)
    ok[1, 0], ok[2, 1] = 0.5, -0.25
    assert bool(BlockModel(2).contains(ok))
    assert not bool(BlockModel(1).contains(ok))  # two non-zero blocks, k = 1
    two_in_block = ok.copy()
    two_in_block[3, 0] = 1.0
    assert not bool(BlockModel(2).contains(two_in_block))
    assert bool(PoolingModel((2,)).contains(two_in_block))  # different pooling regions
    same_region = ok.copy()
    same_region[0, 0] = 1.0  # (0,0) and (1,0) share region 0 of window 2
    assert not bool(PoolingModel((2,)).contains(same_region))
    assert bool(PoolingModel((2,)).contains(ok))
    assert not bool(PoolingModel((2,), nonnegative=True).contains(ok))  # -0.25
    assert bool(PoolingModel((2,), nonnegative=True).contains(np.abs(ok)))
    assert not bool(TopKModel(1).contains(ok))
    assert bool(TopKModel(2).contains(ok))


@MODEL_PARAMS
def test_k_zero_and_k_max(model, shape):
    v = np.random.default_rng(12).standard_normal(shape).astype(np.float32)
    regions = regions_of(shape, model_window(model, shape))
    R = len(regions)
    assert model.num_regions(shape) == R
    np.testing.assert_array_equal(model.replace(k=0).project(v), np.zeros(shape))
    full = np.asarray(model.replace(k=R).project(v)).reshape(-1)
    counts = region_counts(full[None], regions)[0]
    flat = np.asarray(v).reshape(-1)
    if model.nonnegative:
        # one non-zero per region that has a positive entry, at its largest entry
        for cells, n in zip(regions, counts, strict=True):
            vals = flat[list(cells)]
            assert n == (vals.max() > 0)
            if n:
                assert full[cells[int(np.argmax(vals))]] == vals.max()
    else:
        np.testing.assert_array_equal(counts, np.ones(R))
        for cells in regions:
            j = cells[int(np.argmax(np.abs(flat[list(cells)])))]
            assert full[j] == flat[j]
    with pytest.raises(ValueError, match="k"):
        model.replace(k=R + 1).project(v)


def test_k_validation():
    with pytest.raises(ValueError, match="k"):
        BlockModel(-1)
    with pytest.raises(ValueError, match="k"):
        PoolingModel((2,), -3)
    with pytest.raises(ValueError, match="k"):
        TopKModel(np.array([1, -1]))
    with pytest.raises(ValueError, match="k"):
        BlockModel(1.5)
    with pytest.raises(ValueError, match="k"):
        BlockModel(None)
    with pytest.raises(ValueError, match="k"):
        TopKModel(None)
    v = jnp.ones((5, 3))
    with pytest.raises(ValueError, match="k"):
        BlockModel(4).project(v)  # 3 blocks
    with pytest.raises(ValueError, match="k"):
        TopKModel(16).project(v)  # 15 entries
    assert PoolingModel((2,), 9).project(v).shape == (5, 3)  # 3 x 3 = 9 regions
    with pytest.raises(ValueError, match="k"):
        PoolingModel((2,), 10).project(v)
    with pytest.raises(ValueError, match="k"):
        BlockModel(4).sample(jax.random.key(0), (5, 3))


def test_topk_on_matrix_operator_style_1d_code():
    v = jnp.array([0.5, -3.0, 0.1, 2.0, -0.2, 0.0, 1.0, -2.5, 0.3, 0.05])
    p = TopKModel(3).project(v)
    assert p.shape == (10,)
    np.testing.assert_array_equal(p, [0, -3.0, 0, 2.0, 0, 0, 0, -2.5, 0, 0])
    np.testing.assert_array_equal(
        TopKModel(3, nonnegative=True).project(v), [0.5, 0, 0, 2.0, 0, 0, 1.0, 0, 0, 0]
    )
    assert bool(TopKModel(3).contains(p))
    assert TopKModel(3).num_regions((10,)) == 10


# --------------------------------------------------------------------------- traced k
def test_compile_log_detects_a_compilation():
    f = jax.jit(lambda x: x * 3 + 1)
    x = jnp.arange(5.0)
    with compile_log() as messages:
        f(x).block_until_ready()
    assert messages, "the compile counter saw nothing: the no-recompile tests would be vacuous"
    with compile_log() as messages:
        f(x).block_until_ready()
    assert not messages


def test_traced_k_does_not_recompile_and_matches_eager():
    f = jax.jit(lambda m, v: m.project(v))
    v = np.random.default_rng(13).standard_normal((5, 4)).astype(np.float32)
    m2, m3 = BlockModel(k=2), BlockModel(k=3)
    eager2, eager3 = m2.project(v), m3.project(v)
    with compile_log() as first:
        out2 = f(m2, v).block_until_ready()
    assert first  # the first call compiles ...
    with compile_log() as second:
        out3 = f(m3, v).block_until_ready()
    assert second == []  # ... the second, with another k, does not
    assert f._cache_size() == 1
    np.testing.assert_array_equal(out2, eager2)
    np.testing.assert_array_equal(out3, eager3)
    assert np.count_nonzero(out2) == 2 and np.count_nonzero(out3) == 3


def test_traced_k_pooling_projection_does_not_recompile():
    shape = (4, 6, 2)
    v = np.random.default_rng(14).standard_normal(shape).astype(np.float32)
    project = jax.jit(lambda m, v: m.project(v))
    ma, mb = PoolingModel((2, 2), 5), PoolingModel((2, 2), 1)
    project(ma, v).block_until_ready()
    with compile_log() as messages:
        out = project(mb, v).block_until_ready()
    assert messages == []
    np.testing.assert_array_equal(out, mb.project(v))


def test_traced_k_sampling_shares_compiled_code():
    # any k <= capacity shares the compiled code and matches eager sampling
    key = jax.random.key(15)
    sa, sb = BlockModel(1, capacity=2), BlockModel(2, capacity=2)
    shape = (4, 2)
    sample = jax.jit(lambda m, key: m.sample(key, shape, (3,)))
    sample(sa, key).block_until_ready()
    with compile_log() as messages:
        out = sample(sb, key).block_until_ready()
    assert messages == []
    np.testing.assert_array_equal(out, sb.sample(key, shape, (3,)))
    assert (np.count_nonzero(np.asarray(out).reshape(3, -1), axis=1) == 2).all()
    # default capacity: a sweep over small k under jit does not recompile either
    shape = (3, 10)
    sample = jax.jit(lambda m, key: m.sample(key, shape, (5,)))
    sample(BlockModel(2), key).block_until_ready()
    with compile_log() as messages:
        out = sample(BlockModel(3), key).block_until_ready()
    assert messages == []
    assert (np.count_nonzero(np.asarray(out).reshape(5, -1), axis=1) == 3).all()


def test_vmap_over_stacked_models_equals_separate_projections():
    ks = jnp.array([0, 1, 2, 3])
    stacked = BlockModel(k=ks)
    v = np.random.default_rng(16).standard_normal((5, 4)).astype(np.float32)
    got = jax.vmap(lambda m, v: m.project(v), in_axes=(0, None))(stacked, v)
    assert got.shape == (4, 5, 4)
    for i, k in enumerate([0, 1, 2, 3]):
        np.testing.assert_array_equal(got[i], BlockModel(k).project(v))
        assert np.count_nonzero(got[i]) == k
    # the same for a stack of pooling models (signed, partial regions)
    stacked = PoolingModel((2,), jnp.array([1, 4, 6]))
    v = np.random.default_rng(17).standard_normal((5, 2)).astype(np.float32)
    got = jax.vmap(lambda m, v: m.project(v), in_axes=(0, None))(stacked, v)
    for i, k in enumerate([1, 4, 6]):
        np.testing.assert_array_equal(got[i], PoolingModel((2,), k).project(v))


# --------------------------------------------------------------------------- sampling
N_SAMPLES = 2000  # one batch size everywhere: the eager op caches are shared
SAMPLE_MODELS = [
    ("block-1d", BlockModel(2), (3, 6)),
    ("block-2d", BlockModel(1), (3, 4, 2)),
    ("block-nonneg", BlockModel(2, nonnegative=True), (3, 6)),
    ("pool-1d-partial-k", PoolingModel((2,), 2), (5, 2)),
    ("pool-1d-partial-none", PoolingModel((2,)), (5, 2)),
    ("pool-2d-partial-none", PoolingModel((2, 2)), (3, 3, 1)),
    ("pool-2d-partial-k-nonneg", PoolingModel((2, 2), 3, nonnegative=True), (3, 3, 2)),
    # window 3 on 5: a partial region of 2 cells, smaller than the window but not a single cell
    ("pool-1d-window3-none", PoolingModel((3,)), (5, 1)),
    ("pool-2d-partial-2x3-k", PoolingModel((2, 3), 2), (3, 5, 1)),
    ("topk", TopKModel(4), (6, 3)),
    ("topk-1d-nonneg", TopKModel(4, nonnegative=True), (10,)),
    # capacity 72: the large-capacity path of the region sampler, partial regions of one cell
    ("pool-1d-partial-k65", PoolingModel((2,), 65), (3, 50)),
]


def check_cell_frequencies(model, shape, codes):
    """Chi-square-ish check that every region is picked with probability ``k / R`` and every
    cell of a picked region with probability ``1 / cells(region)`` (partial border regions
    have fewer cells). Returns the hit count of every cell of the code."""
    N = len(codes)
    codes = np.asarray(codes).reshape(N, -1)
    regions = regions_of(shape, model_window(model, shape))
    # every cell belongs to exactly one region, so no non-zero can sit outside the regions
    assert sorted(c for r in regions for c in r) == list(range(codes.shape[1]))
    R = len(regions)
    k = R if model.k is None else model.k
    hits = (codes != 0).sum(axis=0)
    region_hits = np.array([hits[list(r)].sum() for r in regions])
    if k < R:
        assert chi_square(region_hits, np.full(R, N * k / R)) < generous_threshold(R - 1)
    else:
        np.testing.assert_array_equal(region_hits, np.full(R, N))
    observed = np.concatenate([hits[list(r)] for r in regions])
    expected = np.concatenate(
        [np.full(len(r), h / len(r)) for r, h in zip(regions, region_hits, strict=True)]
    )
    df = sum(len(r) - 1 for r in regions)
    if df:
        assert chi_square(observed, expected) < generous_threshold(df)
    return hits


@pytest.mark.parametrize(
    ("model", "shape"), [m[1:] for m in SAMPLE_MODELS], ids=[m[0] for m in SAMPLE_MODELS]
)
def test_sample_codes_lie_in_model_and_are_uniform(model, shape):
    N = N_SAMPLES
    key = jax.random.key(20)
    codes = np.asarray(model.sample(key, shape, batch_shape=(N,)))
    assert codes.shape == (N,) + shape and codes.dtype == np.float32
    regions = regions_of(shape, model_window(model, shape))
    k = len(regions) if model.k is None else model.k
    assert region_counts(codes, regions).max() <= 1
    np.testing.assert_array_equal(np.count_nonzero(codes.reshape(N, -1), axis=1), np.full(N, k))
    nz = codes[codes != 0]
    if model.nonnegative:
        assert nz.min() > 0 and nz.max() <= 1
    else:
        assert nz.min() >= -1 and nz.max() <= 1 and nz.min() < 0 < nz.max()
    check_cell_frequencies(model, shape, codes)
    # same key -> identical; another key -> different
    np.testing.assert_array_equal(model.sample(key, shape, (N,)), codes)
    assert not np.array_equal(model.sample(jax.random.key(21), shape, (N,)), codes)
    # index form: the same draw, a static capacity, the first k slots used
    sparse = model.sample_sparse(key, shape, batch_shape=(N,))
    assert isinstance(sparse, SparseCode)
    cap = model.num_slots(shape)
    assert sparse.indices.shape == sparse.values.shape == sparse.mask.shape == (N, cap)
    np.testing.assert_array_equal(sparse.to_dense(), codes)
    mask = np.asarray(sparse.mask)
    assert mask[:, :k].all() and not mask[:, k:].any()
    idx = np.asarray(sparse.indices)
    assert idx.min() >= 0 and idx.max() < math.prod(shape)


def test_sample_positions_uniform_in_partial_regions():
    # k = None: every region once; a 3x3 map with 2x2 windows has regions of 4, 2, 2, 1 cells
    model, shape, N = PoolingModel((2, 2)), (3, 3, 1), N_SAMPLES
    grid = check_cell_frequencies(model, shape, model.sample(jax.random.key(20), shape, (N,)))
    grid = grid.reshape(3, 3)
    assert grid[2, 2] == N  # the one-cell corner region
    for i, j in [(0, 2), (1, 2), (2, 0), (2, 1)]:  # two-cell border regions
        assert abs(grid[i, j] - N / 2) < 6 * math.sqrt(N / 4)
    for i, j in itertools.product(range(2), range(2)):  # the full region
        assert abs(grid[i, j] - N / 4) < 6 * math.sqrt(N * 3 / 16)
    # 1-D, window 3 on 5: cells 0-2 w.p. 1/3, the two border cells w.p. 1/2
    model, shape = PoolingModel((3,)), (5, 1)
    hits = check_cell_frequencies(model, shape, model.sample(jax.random.key(20), shape, (N,)))
    for i in range(3):
        assert abs(hits[i] - N / 3) < 6 * math.sqrt(N * 2 / 9)
    for i in (3, 4):
        assert abs(hits[i] - N / 2) < 6 * math.sqrt(N / 4)
    # 1-D, window 2 on 5, k = 2 of 6 regions: the lone border cell gets all its region's hits
    model, shape = PoolingModel((2,), 2), (5, 2)
    hits = check_cell_frequencies(model, shape, model.sample(jax.random.key(20), shape, (N,)))
    hits = hits.reshape(5, 2)
    for c in range(2):
        assert abs(hits[4, c] - N / 3) < 6 * math.sqrt(N * 2 / 9)
        assert abs(hits[0, c] - N / 6) < 6 * math.sqrt(N / 6)


def test_sample_blocks_uniform():
    model, shape, N = BlockModel(2), (3, 6), N_SAMPLES
    hits = check_cell_frequencies(model, shape, model.sample(jax.random.key(20), shape, (N,)))
    per_block = hits.reshape(3, 6).sum(axis=0)  # each block is picked w.p. k / K = 1/3
    assert np.all(np.abs(per_block - N / 3) < 6 * math.sqrt(N * (1 / 3) * (2 / 3)))


def test_sample_block_subsets_uniform():
    """Not only each block but each *set* of k blocks is equally likely (15 pairs of 6)."""
    model, shape, N = BlockModel(2), (3, 6), N_SAMPLES
    codes = np.asarray(model.sample(jax.random.key(20), shape, (N,)))
    used = (codes != 0).any(axis=1)  # (N, K): which blocks are non-zero
    pairs = list(itertools.combinations(range(6), 2))
    counts = np.array([np.sum(used[:, i] & used[:, j]) for i, j in pairs])
    assert counts.sum() == N
    assert chi_square(counts, np.full(len(pairs), N / len(pairs))) < generous_threshold(14)
    # a sampler biased towards the last blocks, with the right marginals per slot, would fail:
    biased = np.zeros_like(counts)
    biased[-5:] = N // 5
    assert chi_square(biased, np.full(len(pairs), N / len(pairs))) > generous_threshold(14)


def test_uniformity_check_can_fail():
    """The frequency check rejects a sampler that always uses a region's first cell, and one
    that always picks the same blocks."""
    model, shape, N = PoolingModel((2, 2)), (3, 3, 1), 400
    first_cell = np.zeros((N,) + shape, np.float32)
    first_cell[:, ::2, ::2] = 1.0
    with pytest.raises(AssertionError):
        check_cell_frequencies(model, shape, first_cell)
    model, shape = BlockModel(2), (3, 6)
    same_blocks = np.zeros((N,) + shape, np.float32)
    rows = np.arange(N) % 3
    same_blocks[np.arange(N), rows, 0] = 1.0
    same_blocks[np.arange(N), rows, 1] = 1.0
    with pytest.raises(AssertionError):
        check_cell_frequencies(model, shape, same_blocks)


def test_sample_single_code():
    model, shape = PoolingModel((2, 2), 3, nonnegative=True), (3, 3, 2)
    one = model.sample(jax.random.key(0), shape)  # batch_shape=() by default
    assert one.shape == shape and np.count_nonzero(one) == 3 and np.min(one) >= 0
    sparse = model.sample_sparse(jax.random.key(0), shape)
    assert sparse.indices.shape == (model.num_slots(shape),) == (8,)
    np.testing.assert_array_equal(sparse.to_dense(), one)


def test_capacity_rule():
    shape = (2, 40)
    assert BlockModel(10).num_slots(shape) == 16
    assert BlockModel(16).num_slots(shape) == 16
    assert BlockModel(17).num_slots(shape) == 24
    assert BlockModel(1).num_slots(shape) == 8
    assert BlockModel(0).num_slots(shape) >= 1
    assert BlockModel(10).num_slots((2, 12)) == 12  # capped at the number of regions
    assert BlockModel(3, capacity=5).num_slots(shape) == 5  # capacity overrides the rounding
    assert BlockModel(3, capacity=50).num_slots((2, 12)) == 12
    assert PoolingModel((2, 2)).num_slots((4, 6, 2)) == 12
    assert PoolingModel((2, 2), 3).num_slots((4, 6, 2)) == 8
    with pytest.raises(ValueError, match="capacity"):
        BlockModel(5, capacity=4)
    with pytest.raises(ValueError, match="capacity"):
        BlockModel(1, capacity=0)
    # the sampled index form has that capacity, k slots used (k = 10 and 16 share it)
    for k in [10, 16]:
        sparse = BlockModel(k).sample_sparse(jax.random.key(k), shape, (7,))
        assert sparse.indices.shape == (7, 16)
        mask = np.asarray(sparse.mask)
        assert (mask.sum(axis=1) == k).all() and mask[:, :k].all()
        assert (np.count_nonzero(np.asarray(sparse.to_dense()).reshape(7, -1), axis=1) == k).all()


def test_pooling_k_none_with_small_capacity_raises():
    """k=None means one non-zero in every region: a smaller capacity is an error, not a cap."""
    model, shape = PoolingModel((2,), None, capacity=2), (5, 2)  # 6 regions
    with pytest.raises(ValueError, match="capacity"):
        model.sample(jax.random.key(0), shape, (3,))
    codes = PoolingModel((2,), None, capacity=6).sample(jax.random.key(0), shape, (3,))
    assert (np.count_nonzero(np.asarray(codes).reshape(3, -1), axis=1) == 6).all()


def test_sample_distributions():
    model, shape, N = BlockModel(2), (3, 6), N_SAMPLES
    normal = np.asarray(model.sample(jax.random.key(40), shape, (N,), distribution="normal"))
    nz = normal[normal != 0]
    assert nz.size == 2 * N
    assert np.abs(nz).max() > 1.5  # not U[-1, 1]
    assert abs(nz.mean()) < 0.1 and abs(nz.std() - 1) < 0.1
    rad = np.asarray(model.sample(jax.random.key(41), shape, (N,), distribution="rademacher"))
    nz = rad[rad != 0]
    assert nz.size == 2 * N and set(np.unique(nz)) == {-1.0, 1.0}
    assert abs(nz.mean()) < 0.1
    uni = np.asarray(model.sample(jax.random.key(42), shape, (N,), distribution="uniform"))
    nz = uni[uni != 0]
    assert abs(nz.mean()) < 0.05 and abs(nz.std() - 1 / math.sqrt(3)) < 0.05  # U[-1, 1]
    pos = BlockModel(2, nonnegative=True)
    rad = np.asarray(pos.sample(jax.random.key(43), shape, (N,), distribution="rademacher"))
    assert set(np.unique(rad[rad != 0])) == {1.0}
    normal = np.asarray(pos.sample(jax.random.key(44), shape, (N,), distribution="normal"))
    assert normal.min() == 0 and np.count_nonzero(normal) == 2 * N
    assert normal.max() > 1.5
    uni = np.asarray(pos.sample(jax.random.key(45), shape, (N,), distribution="uniform"))
    assert abs(uni[uni != 0].mean() - 0.5) < 0.05  # U[0, 1]
    with pytest.raises(ValueError, match="distribution"):
        model.sample(jax.random.key(0), shape, distribution="laplace")
    with pytest.raises(ValueError, match="distribution"):
        model.sample_sparse(jax.random.key(0), shape, distribution="Uniform")


def test_sample_rejects_bad_code_shape():
    with pytest.raises(ValueError, match="code_shape"):
        BlockModel(1).sample(jax.random.key(0), (4, 0))
    with pytest.raises(ValueError, match="pool_size"):
        PoolingModel((2, 2)).sample(jax.random.key(0), (4, 2))


# --------------------------------------------------------------------------- float64
def test_float64_project_and_sample():
    with jax.enable_x64(True):
        v = np.random.default_rng(50).standard_normal((3, 3, 2))
        model = PoolingModel((2, 2), 3)
        p = model.project(jnp.asarray(v, jnp.float64))
        assert p.dtype == jnp.float64
        regions = regions_of(v.shape, (2, 2))
        # float64 values kept bit for bit (a float32 round trip would change them)
        np.testing.assert_array_equal(p, reference_projection(v, regions, 3, False))
        sparse = BlockModel(2).sample_sparse(jax.random.key(0), (3, 6), (4,), dtype=jnp.float64)
        assert sparse.values.dtype == jnp.float64
        codes = sparse.to_dense()
        assert codes.dtype == jnp.float64
        assert (np.count_nonzero(np.asarray(codes).reshape(4, -1), axis=1) == 2).all()
        dense = BlockModel(2).sample(jax.random.key(0), (3, 6), (4,), dtype=jnp.float64)
        assert dense.dtype == jnp.float64
        np.testing.assert_array_equal(dense, codes)


# --------------------------------------------------------------------------- index form
@SIGNS
@CASE_PARAMS
def test_project_sparse_follows_tie_rule_with_tight_capacity(kind, window, shape, nonnegative):
    """``project_sparse`` against the documented rule, on tied integer data, with a capacity
    equal to ``k`` (the ``lax.top_k`` ranking) and with none (the sort): the used slots are the
    non-zeros of the projection, each once, and unused slots hold 0."""
    rng = np.random.default_rng(17)
    probe = make_model(kind, 0, nonnegative, window)
    regions = regions_of(shape, model_window(probe, shape))
    vs = rng.integers(-2, 3, size=(4,) + shape).astype(np.float32)
    for k in case_ks(kind, len(regions)):
        for capacity in sorted({max(k or len(regions), 1), len(regions)}):
            model = make_model(kind, k, nonnegative, window)
            model = model.replace(capacity=capacity) if k is not None else model
            for v in vs:
                code = model.project_sparse(v)
                expected = reference_projection(v, regions, k, nonnegative)
                np.testing.assert_array_equal(code.to_dense(), expected)
                indices, mask = np.asarray(code.indices), np.asarray(code.mask)
                values = np.asarray(code.values)
                assert indices.shape == (model.num_slots(shape),)
                np.testing.assert_array_equal(np.sort(indices[mask]), np.flatnonzero(expected))
                np.testing.assert_array_equal(values[mask], expected.reshape(-1)[indices[mask]])
                assert np.all(values[~mask] == 0)


def test_project_sparse_nan_and_capacity_overflow():
    v = np.random.default_rng(18).standard_normal((6, 4)).astype(np.float32)
    model = BlockModel(2, capacity=2)
    bad = v.copy()
    bad[3, 1] = np.nan
    assert np.all(np.isnan(model.project_sparse(bad).to_dense()))
    # a traced k beyond the static capacity cannot be honoured: NaN, as project does
    over = jax.jit(lambda k: model.replace(k=k).project_sparse(v).to_dense())(3)
    assert np.all(np.isnan(over))
    np.testing.assert_array_equal(
        jax.jit(lambda k: model.replace(k=k).project_sparse(v).to_dense())(1),
        model.replace(k=1).project(v),
    )


def test_project_sparse_vmaps_and_shares_code_across_k():
    model = PoolingModel((2, 2), 3, capacity=8)
    vs = np.random.default_rng(19).standard_normal((5, 4, 4, 3)).astype(np.float32)
    batched = jax.vmap(model.project_sparse)(vs)
    assert batched.indices.shape == (5, 8)
    np.testing.assert_array_equal(batched.to_dense(), jax.vmap(model.project)(vs))
    fn = jax.jit(lambda m, v: m.project_sparse(v).to_dense())
    fn(model, vs[0])
    wider = jax.block_until_ready(model.replace(k=jnp.asarray(5)))  # built before the guard
    with compile_log() as messages:
        out = fn(wider, vs[1])
    assert messages == []
    np.testing.assert_array_equal(out, model.replace(k=5).project(vs[1]))


@pytest.mark.parametrize("capacity", [4, 8], ids=["pairwise", "dense"])
def test_sparse_code_arithmetic_matches_dense(capacity):
    """``add_to``, ``support``, ``norm``, ``distance`` and ``same_support`` against the dense
    codes, on a batch of code pairs with overlapping supports; ``capacity = 4`` compares slots
    pairwise (4 · 4 ≤ 24 cells), ``capacity = 8`` goes through the dense codes."""
    rng = np.random.default_rng(23)
    model = TopKModel(3, capacity=capacity)
    a = rng.standard_normal((16, 6, 4)).astype(np.float32)
    b = a + rng.standard_normal(a.shape).astype(np.float32) * rng.choice([0, 0.3, 3], (16, 1, 1))
    b[-1] = a[-1] * 2  # the same support, other values
    ca, cb = jax.vmap(model.project_sparse)(a), jax.vmap(model.project_sparse)(b)
    da, db = np.asarray(ca.to_dense()), np.asarray(cb.to_dense())
    v = rng.standard_normal(a.shape).astype(np.float32)
    np.testing.assert_allclose(ca.add_to(v), v + da, rtol=1e-6)
    np.testing.assert_array_equal(ca.support(), da != 0)
    np.testing.assert_allclose(ca.norm(), np.linalg.norm(da.reshape(16, -1), axis=1), rtol=1e-6)
    expected = np.linalg.norm((da - db).reshape(16, -1), axis=1)
    np.testing.assert_allclose(ca.distance(cb), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        jax.vmap(SparseCode.distance)(ca, cb), expected, rtol=1e-5, atol=1e-6
    )
    same = np.all((da != 0) == (db != 0), axis=(1, 2))
    assert same.any() and not same.all()
    np.testing.assert_array_equal(ca.same_support(cb), same)
    np.testing.assert_array_equal(jax.jit(jax.vmap(SparseCode.same_support))(ca, cb), same)
    nan = ca.replace(values=ca.values.at[0, 1].set(jnp.nan))
    assert np.isnan(nan.norm()[0]) and np.isnan(nan.distance(cb)[0])
    assert np.isnan(cb.distance(nan)[0]) and np.isfinite(nan.distance(cb)[1:]).all()
    with pytest.raises(ValueError, match=r"\bv must have shape"):
        ca.add_to(v[0])
    with pytest.raises(ValueError, match="other must be a SparseCode"):
        ca.distance(jax.tree.map(lambda leaf: leaf[0], cb))
    with pytest.raises(ValueError, match="other must be a SparseCode"):
        ca.same_support(model.project_sparse(a[0].reshape(4, 6)))


def test_an_int_pool_size_applies_to_every_spatial_axis():
    """``PoolingModel(2)`` pools 2 × 2 on 2-D maps and 2 × 2 × 2 on 3-D ones, exactly as the
    explicit tuple does (it used to mean a 1-D window and fail on 2-D codes)."""
    rng = np.random.default_rng(7)
    for spatial in ((6,), (4, 6), (4, 2, 6)):
        v = jnp.asarray(rng.standard_normal(spatial + (3,)), jnp.float32)
        by_int = PoolingModel(2, 3)
        by_tuple = PoolingModel((2,) * len(spatial), 3)
        assert by_int.region_shape(v.shape) == by_tuple.region_shape(v.shape)
        np.testing.assert_array_equal(by_int.project(v), by_tuple.project(v))
        assert by_int.num_regions(v.shape) == by_tuple.num_regions(v.shape)
    with pytest.raises(ValueError, match="pool_size"):
        PoolingModel(0, 3)
