"""Max pooling with switches, unpooling, fixed switches and ``𝕄`` (eqs. 2–3).

References are plain NumPy loops over the pooling regions (partial border regions included) and
``flax.linen.max_pool`` for the ReLU + max pooling of a CNN.
"""

from __future__ import annotations

import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs
from jaxcs.models import keep_largest


# --------------------------------------------------------------------------- NumPy references
def region_slices(spatial, window):
    """Yield ``(pooled index, tuple of slices)`` for every (maybe partial) pooling region."""
    pooled = tuple(-(-n // w) for n, w in zip(spatial, window, strict=True))
    for p in itertools.product(*map(range, pooled)):
        yield (
            p,
            tuple(
                slice(q * w, min((q + 1) * w, n))
                for q, w, n in zip(p, window, spatial, strict=True)
            ),
        )


def numpy_max_pool(v, window, nonnegative):
    """Loop reference: per region and channel, the first entry of largest |v| (or v)."""
    v = np.asarray(v)
    spatial, K = v.shape[:-1], v.shape[-1]
    pooled = tuple(-(-n // w) for n, w in zip(spatial, window, strict=True))
    values = np.zeros(pooled + (K,), v.dtype)
    switches = np.zeros(pooled + (K,), np.int64)
    for p, sl in region_slices(spatial, window):
        for c in range(K):
            best, best_score, best_switch = None, -np.inf, None
            # C order over the (partial) region = increasing flat index of the code.
            for offset in itertools.product(*(range(s.stop - s.start) for s in sl)):
                x = v[tuple(s.start + o for s, o in zip(sl, offset, strict=True)) + (c,)]
                score = x if nonnegative else abs(x)
                if score > best_score:  # strict: ties keep the first (lowest) index
                    best, best_score = x, score
                    best_switch = np.ravel_multi_index(offset, window)
            values[p + (c,)] = max(best, 0) if nonnegative else best
            switches[p + (c,)] = best_switch
    return values, switches


def numpy_unpool(values, switches, window, spatial):
    values, switches = np.asarray(values), np.asarray(switches)
    K = values.shape[-1]
    out = np.zeros(tuple(spatial) + (K,), values.dtype)
    for p in itertools.product(*map(range, values.shape[:-1])):
        for c in range(K):
            offset = np.unravel_index(int(switches[p + (c,)]), window)
            pos = tuple(q * w + o for q, w, o in zip(p, window, offset, strict=True))
            assert all(x < n for x, n in zip(pos, spatial, strict=True)), "switch outside code"
            out[pos + (c,)] = values[p + (c,)]
    return out


def valid_random_switches(rng, spatial, window, K):
    """Random switches that point inside each (maybe partial) region."""
    pooled = tuple(-(-n // w) for n, w in zip(spatial, window, strict=True))
    switches = np.zeros(pooled + (K,), np.int32)
    for p, sl in region_slices(spatial, window):
        for c in range(K):
            offset = tuple(rng.integers(s.stop - s.start) for s in sl)
            switches[p + (c,)] = np.ravel_multi_index(offset, window)
    return switches


SHAPES = [
    # (code shape (*spatial, K), window)
    ((6, 2), (2,)),
    ((5, 2), (2,)),  # partial border region
    ((7, 1), (3,)),
    ((4, 6, 3), (2, 2)),
    ((3, 3, 2), (2, 2)),  # partial regions along both axes
    ((5, 4, 2), (2, 3)),
    ((2, 3, 2), (1, 1)),
]


# --------------------------------------------------------------------------- max_pool
def test_nonnegative_max_pool_equals_flax_relu_max_pool():
    v = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    values, switches = jaxcs.max_pool(v, (2, 2), nonnegative=True)
    expected = nn.max_pool(jax.nn.relu(v)[None], (2, 2), strides=(2, 2))[0]
    assert values.shape == switches.shape == (2, 3, 3)
    np.testing.assert_array_equal(values, expected)
    # Some regions are all negative: the ReLU (clip at 0) must be applied.
    v_neg = v.copy()
    v_neg[:2, :2, 0] = -np.abs(v[:2, :2, 0]) - 0.1
    values_neg, _ = jaxcs.max_pool(v_neg, (2, 2), nonnegative=True)
    assert values_neg[0, 0, 0] == 0
    np.testing.assert_array_equal(
        values_neg, nn.max_pool(jax.nn.relu(v_neg)[None], (2, 2), strides=(2, 2))[0]
    )


@pytest.mark.parametrize("nonnegative", [False, True], ids=["signed", "nonneg"])
@pytest.mark.parametrize(("shape", "window"), SHAPES, ids=str)
def test_max_pool_matches_numpy_loop(shape, window, nonnegative):
    v = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    values, switches = jaxcs.max_pool(v, window, nonnegative=nonnegative)
    ref_values, ref_switches = numpy_max_pool(v, window, nonnegative)
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(switches, ref_switches)


def test_signed_max_pool_keeps_sign_of_largest_magnitude():
    v = np.array([[1.0], [-3.0], [2.0], [0.5], [-0.125], [0.25]])
    values, switches = jaxcs.max_pool(v, (2,))
    np.testing.assert_array_equal(values[:, 0], [-3.0, 2.0, 0.25])
    np.testing.assert_array_equal(switches[:, 0], [1, 0, 1])
    values, switches = jaxcs.max_pool(v, (2,), nonnegative=True)
    np.testing.assert_array_equal(values[:, 0], [1.0, 2.0, 0.25])
    np.testing.assert_array_equal(switches[:, 0], [0, 0, 1])


def test_max_pool_ties_go_to_lowest_index():
    # signed: +a/-a and equal values -> the first cell of the region (C order in the window)
    v = np.array([[-2.0, 2.0], [1.0, 0.0], [2.0, -2.0], [0.0, 0.0]])[..., None]  # (4, 2, 1)
    values, switches = jaxcs.max_pool(v, (2, 2))
    assert values.shape == (2, 1, 1)
    assert values[0, 0, 0] == -2.0 and switches[0, 0, 0] == 0
    assert values[1, 0, 0] == 2.0 and switches[1, 0, 0] == 0
    v2 = np.array([[0.0, 1.0], [-1.0, 1.0]])[..., None]
    values, switches = jaxcs.max_pool(v2, (2, 2))
    assert values[0, 0, 0] == 1.0 and switches[0, 0, 0] == 1
    v3 = np.array([[0.0, -1.0], [1.0, 1.0]])[..., None]
    values, switches = jaxcs.max_pool(v3, (2, 2))
    assert values[0, 0, 0] == -1.0 and switches[0, 0, 0] == 1
    # non-negative: largest v (not |v|), first among equals; all-negative region -> 0
    v4 = np.array([[-5.0, 1.0], [3.0, 3.0]])[..., None]
    values, switches = jaxcs.max_pool(v4, (2, 2), nonnegative=True)
    assert values[0, 0, 0] == 3.0 and switches[0, 0, 0] == 2
    v5 = np.array([[-3.0, -1.0], [-1.0, -2.0]])[..., None]
    values, switches = jaxcs.max_pool(v5, (2, 2), nonnegative=True)
    assert values[0, 0, 0] == 0.0 and switches[0, 0, 0] == 1


def test_max_pool_partial_region_ignores_padding():
    # A partial region whose only real cell is negative: the padding must not win in either
    # mode (signed keeps -4, non-negative clips it to 0 but still switches to the real cell).
    v = np.array([1.0, 2.0, -4.0])[:, None]
    values, switches = jaxcs.max_pool(v, (2,))
    np.testing.assert_array_equal(values[:, 0], [2.0, -4.0])
    np.testing.assert_array_equal(switches[:, 0], [1, 0])
    values, switches = jaxcs.max_pool(v, (2,), nonnegative=True)
    np.testing.assert_array_equal(values[:, 0], [2.0, 0.0])
    np.testing.assert_array_equal(switches[:, 0], [1, 0])


def test_max_pool_and_pool_project_under_jit_match_eager():
    v = np.random.default_rng(6).standard_normal((3, 3, 2)).astype(np.float32)
    values, switches = jax.jit(jaxcs.max_pool, static_argnums=1)(v, (2, 2))
    ref_values, ref_switches = numpy_max_pool(v, (2, 2), nonnegative=False)
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(switches, ref_switches)
    project = jax.jit(jaxcs.models.pool_project, static_argnums=1)
    for k in [0, 2, 8]:  # a traced k
        np.testing.assert_array_equal(
            project(v, (2, 2), k), jaxcs.models.pool_project(v, (2, 2), k)
        )


# --------------------------------------------------------------------------- unpool
@pytest.mark.parametrize(("shape", "window"), SHAPES, ids=str)
def test_unpool_puts_values_at_switches(shape, window):
    rng = np.random.default_rng(2)
    spatial, K = shape[:-1], shape[-1]
    # switches from max_pool: values go back to the argmax positions
    v = rng.standard_normal(shape).astype(np.float32)
    values, switches = jaxcs.max_pool(v, window)
    out = jaxcs.unpool(values, switches, window, spatial)
    np.testing.assert_array_equal(out, numpy_unpool(values, switches, window, spatial))
    # with all-distinct magnitudes, unpool(maxpool(v)) keeps exactly v at each region's argmax
    kept = np.asarray(out) != 0
    np.testing.assert_array_equal(np.asarray(out)[kept], v[kept])
    # arbitrary (valid) switches
    pooled_values = rng.standard_normal(values.shape).astype(np.float32)
    sw = valid_random_switches(rng, spatial, window, K)
    out = jaxcs.unpool(pooled_values, sw, window, spatial)
    np.testing.assert_array_equal(out, numpy_unpool(pooled_values, sw, window, spatial))


# --------------------------------------------------------------------------- fixed switches
def test_fixed_switches_top_left_and_custom_position():
    np.testing.assert_array_equal(jaxcs.models.fixed_switches((4, 6), (2, 2)), np.zeros((2, 3, 1)))
    np.testing.assert_array_equal(
        jaxcs.models.fixed_switches((4, 6), (2, 2), (1, 0)), np.full((2, 3, 1), 2)
    )
    # 3x3 map, 2x2 window: the position (1, 1) is clamped in the partial regions
    got = jaxcs.models.fixed_switches((3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(got[..., 0], [[3, 2], [1, 0]])
    # 1-D, window 3 on 7: last region has one cell
    got = jaxcs.models.fixed_switches((7,), (3,), (2,))
    np.testing.assert_array_equal(got[..., 0], [2, 2, 0])
    with pytest.raises(ValueError, match="position"):
        jaxcs.models.fixed_switches((4, 4), (2, 2), (2, 0))
    with pytest.raises(ValueError, match="position"):
        jaxcs.models.fixed_switches((4, 4), (2, 2), (0,))


@pytest.mark.parametrize("position", [None, (1, 1), (0, 1)], ids=str)
@pytest.mark.parametrize(("shape", "window"), [((4, 6, 2), (2, 2)), ((3, 5, 2), (2, 2))], ids=str)
def test_pool_project_fixed_places_pooled_values_at_fixed_positions(shape, window, position):
    v = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    spatial = shape[:-1]
    got = jaxcs.models.pool_project(v, window, switches="fixed", position=position)
    ref_values, _ = numpy_max_pool(v, window, nonnegative=False)
    pos = (0,) * len(window) if position is None else position
    expected = np.zeros_like(v)
    for p, sl in region_slices(spatial, window):
        cell = tuple(s.start + min(o, s.stop - s.start - 1) for s, o in zip(sl, pos, strict=True))
        expected[cell] = ref_values[p]
    np.testing.assert_array_equal(got, expected)
    # the model method exposes the same (top-left) 𝕄_fixed
    if position is None:
        model = jaxcs.PoolingModel(window)
        np.testing.assert_array_equal(model.project(v, switches="fixed"), expected)


def test_pool_project_fixed_with_k_keeps_largest_regions():
    v = np.zeros((4, 4, 1), np.float32)
    v[1, 1, 0], v[0, 3, 0], v[3, 2, 0], v[2, 0, 0] = 5.0, -4.0, 3.0, 1.0
    got = np.asarray(jaxcs.models.pool_project(v, (2, 2), 2, switches="fixed"))
    expected = np.zeros_like(v)
    expected[0, 0, 0], expected[0, 2, 0] = 5.0, -4.0
    np.testing.assert_array_equal(got, expected)


def test_pool_project_known_is_block_sparsify_of_max_pool():
    v = np.random.default_rng(4).standard_normal((5, 5, 2)).astype(np.float32)
    for k in [None, 0, 3, 18]:
        values, switches = numpy_max_pool(np.asarray(v), (2, 2), False)
        if k is not None:
            order = np.argsort(-np.abs(values).ravel(), kind="stable")
            drop = np.ones(values.size, bool)
            drop[order[:k]] = False
            values = np.where(drop.reshape(values.shape), 0, values)
        expected = numpy_unpool(values, switches, (2, 2), (5, 5))
        np.testing.assert_array_equal(jaxcs.models.pool_project(v, (2, 2), k), expected)


# --------------------------------------------------------------------------- block_sparsify
def test_block_sparsify_keeps_k_largest_magnitudes():
    rng = np.random.default_rng(5)
    values = rng.standard_normal((3, 4, 2)).astype(np.float32)
    for k in [0, 1, 5, 24]:
        got = np.asarray(jaxcs.models.block_sparsify(values, k))
        order = np.argsort(-np.abs(values).ravel())
        expected = np.zeros(values.size, np.float32)
        expected[order[:k]] = values.ravel()[order[:k]]
        np.testing.assert_array_equal(got, expected.reshape(values.shape))
        assert np.count_nonzero(got) == k
    np.testing.assert_array_equal(jaxcs.models.block_sparsify(values, None), values)


def test_block_sparsify_ties_and_traced_k():
    values = jnp.array([1.0, -2.0, 2.0, -1.0, 2.0])
    np.testing.assert_array_equal(jaxcs.models.block_sparsify(values, 1), [0, -2, 0, 0, 0])
    np.testing.assert_array_equal(jaxcs.models.block_sparsify(values, 2), [0, -2, 2, 0, 0])
    np.testing.assert_array_equal(jaxcs.models.block_sparsify(values, 4), [1, -2, 2, 0, 2])
    f = jax.jit(jaxcs.models.block_sparsify)
    for k in range(6):
        np.testing.assert_array_equal(f(values, k), jaxcs.models.block_sparsify(values, k))
    np.testing.assert_array_equal(keep_largest(values, 3), [False, True, True, False, True])


# --------------------------------------------------------------------------- bad arguments
def test_bad_pool_size_raises():
    v = jnp.ones((4, 4, 2))
    for window in [(2,), (2, 2, 2), (0, 2), (2, -1)]:
        with pytest.raises(ValueError, match="pool_size"):
            jaxcs.max_pool(v, window)
        with pytest.raises(ValueError, match="pool_size"):
            jaxcs.models.pool_project(v, window)
        with pytest.raises(ValueError, match="pool_size"):
            jaxcs.unpool(jnp.ones((2, 2, 2)), jnp.zeros((2, 2, 2), int), window, (4, 4))
        with pytest.raises(ValueError, match="pool_size"):
            jaxcs.models.fixed_switches((4, 4), window)
    with pytest.raises(ValueError, match="pool_size"):
        jaxcs.PoolingModel((0, 2))
    with pytest.raises(ValueError, match="pool_size"):
        jaxcs.PoolingModel(())
    with pytest.raises(ValueError, match="pool_size"):
        jaxcs.PoolingModel((2,)).project(v)


def test_bad_switches_raises():
    v = jnp.ones((4, 4, 2))
    with pytest.raises(ValueError, match="switches"):
        jaxcs.models.pool_project(v, (2, 2), switches="argmax")
    with pytest.raises(ValueError, match="switches"):
        jaxcs.PoolingModel((2, 2)).project(v, switches="random")


def test_keep_largest_top_k_path_equals_sort_path_with_ties():
    """The static-capacity ranking (lax.top_k) keeps exactly what the stable sort keeps."""
    rng = np.random.default_rng(3)
    values = jnp.asarray(rng.integers(-3, 4, size=(40,)).astype(np.float32))  # many ties
    for k in range(0, 9):
        fast = jaxcs.models.keep_largest(values, k, capacity=8)
        slow = jaxcs.models.keep_largest(values, k)
        np.testing.assert_array_equal(fast, slow)
    model = jaxcs.TopKModel(5)  # capacity 8 < 40 entries: the top_k path
    np.testing.assert_array_equal(
        model.project(values[:, None]), jaxcs.models.block_sparsify(values, 5)[:, None]
    )
    too_many = jax.jit(lambda k, v: jaxcs.TopKModel(k, capacity=8).project(v))(9, values[:, None])
    assert np.isnan(np.asarray(too_many)).all()


def test_first_max_is_argmax_with_ties_infinities_and_nans():
    from jaxcs.models._regions import first_max

    rng = np.random.default_rng(40)
    score = rng.integers(0, 3, size=(5, 6, 4)).astype(np.float32)
    score[0, :, 0] = -np.inf
    score[1, 2, 1] = np.inf
    score[2, 3, 2] = np.nan
    score[2, 5, 2] = np.nan
    score[3, 1, 3] = np.nan
    for axis in (0, 1, -1):
        got = np.asarray(first_max(jnp.asarray(score), axis))
        np.testing.assert_array_equal(got, np.asarray(jnp.argmax(jnp.asarray(score), axis)))
        # NumPy's argmax: first maximum, first NaN
        np.testing.assert_array_equal(got, np.argmax(score, axis))
