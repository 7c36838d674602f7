"""The model-RIP constant bracketed: exact enumeration, certified upper bound, adversarial
search, Lanczos extremes and the bracket (eq. 1).

Every reference is independent of jaxcs: the dense float64 ``A`` of ``W`` built by the
conftest's NumPy loops (rows of ``W`` are the columns of ``Φ = Wᵀ``, so
``G_S = A[S] A[S]ᵀ``), supports by brute force over ``itertools.combinations`` filtered by the
model's rule (block: distinct channels; pooling: distinct (window, channel); top-k: any),
``numpy.linalg.eigh``, and for non-negative models the faces: the extremes of ``zᵀGz/‖z‖²``
over ``z ≥ 0`` on ``S`` are eigenvalues of some ``G_F``, ``F ⊆ S``, with a one-signed
eigenvector (the KKT points of the orthant lie in the relative interior of a face). Every
subset of a model support is itself a support of the model, so the faces of all supports are
the supports of every size ``1 … k``.
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs import BlockModel, ConvOperator, MatrixOperator, PoolingModel, TopKModel
from jaxcs.analysis.rip.cost import choose_eigen_method
from jaxcs.solvers import Status

TOL = 1e-5  # float32 Grams of norm ~1 against float64 references


# --------------------------------------------------------------------------- references
def region_of(model, code_shape, index: int) -> tuple:
    *position, channel = np.unravel_index(index, code_shape)
    if isinstance(model, BlockModel):
        return (channel,)
    if isinstance(model, TopKModel):
        return (*position, channel)
    return (*(p // w for p, w in zip(position, model.pool_size, strict=True)), channel)


def in_model(model, code_shape, support) -> bool:
    support = [int(i) for i in support]
    regions = {region_of(model, code_shape, i) for i in support}
    return (
        len(set(support)) == len(support) == len(regions)
        and 1 <= len(support) <= int(model.k)
        and all(0 <= i < math.prod(code_shape) for i in support)
    )


def brute_supports(model, code_shape, size: int):
    for S in itertools.combinations(range(math.prod(code_shape)), size):
        if len({region_of(model, code_shape, i) for i in S}) == size:
            yield S


@pytest.fixture(scope="module")
def gram(dense_reference):
    """``op -> W Wᵀ`` (float64) of a ConvOperator, from the conftest's loop-built NumPy ``W``."""

    def build(op) -> np.ndarray:
        A = dense_reference(op.filters, op.in_spatial, op.stride, op.padding)
        return A @ A.T

    return build


def one_signed_eigenvalues(G) -> np.ndarray:
    """The eigenvalues of ``G`` whose eigenvector is one-signed (quotients of codes ``≥ 0``)."""
    w, V = np.linalg.eigh(G)
    keep = np.all(V >= -1e-9, axis=0) | np.all(V <= 1e-9, axis=0)
    return w[keep]


def orthant_extremes_by_faces(G) -> tuple[float, float]:
    found = np.concatenate(
        [
            one_signed_eigenvalues(G[np.ix_(F, F)])
            for size in range(1, len(G) + 1)
            for F in itertools.combinations(range(len(G)), size)
        ]
    )
    return float(found.min()), float(found.max())


def brute_rip(G, model, code_shape) -> tuple[float, float, float, int]:
    """``(delta, eig_min, eig_max, number of supports)`` over every support of the model."""
    k = int(model.k)
    lo, hi, count = math.inf, -math.inf, 0
    sizes = range(1, k + 1) if model.nonnegative else [k]
    for size in sizes:
        for S in brute_supports(model, code_shape, size):
            count += 1
            if model.nonnegative:  # every face of S is a support of a smaller size
                w = one_signed_eigenvalues(G[np.ix_(S, S)])
            else:
                w = np.linalg.eigvalsh(G[np.ix_(S, S)])
            if len(w):
                lo, hi = min(lo, w.min()), max(hi, w.max())
    return max(1 - lo, hi - 1), lo, hi, count


def babel_reference(G, model, code_shape, k: int) -> tuple[float, float]:
    """``(upper_side, lower_side)`` of the Babel/Gershgorin bound, row by row from the dense
    Gram: per row, the ``k − 1`` largest per-region maxima over the other regions."""
    ids = {}
    regions = np.array(
        [ids.setdefault(region_of(model, code_shape, i), len(ids)) for i in range(len(G))]
    )
    upper, lower = -math.inf, -math.inf
    for p in range(len(G)):
        parts = (
            (np.maximum(G[p], 0), np.maximum(-G[p], 0)) if model.nonnegative else (abs(G[p]),) * 2
        )
        sums = []
        for part in parts:
            per_region = np.zeros(len(ids))
            np.maximum.at(per_region, regions, np.where(regions == regions[p], 0, part))
            sums.append(np.sort(per_region)[::-1][: k - 1].sum())
        upper = max(upper, G[p, p] - 1 + sums[0])
        lower = max(lower, 1 - G[p, p] + sums[1])
    return upper, min(lower, 1.0)


# --------------------------------------------------------------------------- tiny layers
LAYERS = {
    # name: (filter_shape, M, K, in_spatial, stride, padding)
    "1d-valid": ((3,), 2, 3, (6,), 1, "valid"),  # codes (4, 3)
    "1d-valid-s2": ((3,), 2, 3, (7,), 2, "valid"),  # (3, 3)
    "1d-circ-folded": ((5,), 1, 2, (6,), 1, "circular"),  # (6, 2), filter > half the period
    "1d-circ-s2": ((3,), 2, 2, (8,), 2, "circular"),  # (4, 2)
    "2d-valid": ((2, 2), 1, 2, (4, 4), 1, "valid"),  # (3, 3, 2)
    "2d-circ": ((2, 2), 1, 2, (3, 3), 1, "circular"),  # (3, 3, 2)
    "2d-circ-s2-folded": ((3, 3), 1, 2, (4, 4), 2, "circular"),  # (2, 2, 2)
}


def layer(name: str, filters=jaxcs.gaussian_filters, key=1) -> ConvOperator:
    filter_shape, M, K, in_spatial, stride, padding = LAYERS[name]
    return ConvOperator(filters(jr.key(key), filter_shape, M, K), in_spatial, stride, padding)


def as_dense_operator(op) -> MatrixOperator:
    """The same ``W`` with no correlation table: codes and signals of the same shapes."""
    return MatrixOperator(op.as_matrix(), op.in_shape, op.out_shape)


# every model kind; valid and circular (folded too); stride 1 and 2; 1-D and 2-D; z ≥ 0 too
EXACT_CASES = [
    pytest.param("1d-valid", BlockModel(2), id="1d-valid-block"),
    pytest.param("1d-valid-s2", TopKModel(2, nonnegative=True), id="1d-valid-s2-topk-nn"),
    pytest.param("1d-circ-folded", PoolingModel((4,), 2), id="1d-circ-folded-pool-partial"),
    pytest.param("1d-circ-s2", BlockModel(2, nonnegative=True), id="1d-circ-s2-block-nn"),
    pytest.param("2d-valid", PoolingModel((2, 2), 2), id="2d-valid-pool-partial"),
    pytest.param(
        "2d-circ-s2-folded",
        PoolingModel((2, 1), 2, nonnegative=True),
        id="2d-circ-s2-folded-pool-nn",
    ),
]
# the dense Babel path (a MatrixOperator of the same W) on some of them
DENSE_TOO = {"1d-valid-block", "2d-circ-s2-folded-pool-nn"}


def check_extreme_supports(G, model, code_shape, found, sign: int, best: float):
    """The returned supports are in the model, sorted most extreme first, and each reported
    quotient is that of its support (NumPy)."""
    q = np.asarray(found.quotients, np.float64)
    assert len(q) >= 1 and q[0] == pytest.approx(best, abs=TOL)
    assert np.all(sign * np.diff(q) <= 0)
    for support, mask, quotient in zip(
        np.asarray(found.supports), np.asarray(found.mask), q, strict=True
    ):
        S = support[mask]
        assert np.all(support[~mask] == -1)
        assert in_model(model, code_shape, S)
        w, V = np.linalg.eigh(G[np.ix_(S, S)])
        if model.nonnegative:  # the quotient of |v| for the extreme eigenvector v
            v = np.abs(V[:, 0] if sign < 0 else V[:, -1])
            expected = v @ G[np.ix_(S, S)] @ v
            lo, hi = orthant_extremes_by_faces(G[np.ix_(S, S)])
            assert lo - TOL <= quotient <= hi + TOL
        else:
            expected = w[0] if sign < 0 else w[-1]
        assert quotient == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize(("name", "model"), EXACT_CASES)
def test_exact_and_upper_bound_against_brute_force(request, gram, name, model):
    op = layer(name)
    G, code_shape = gram(op), op.out_shape
    delta, lo, hi, count = brute_rip(G, model, code_shape)
    exact = jaxcs.exact_model_rip(op, model, worst=3)
    assert exact.status == Status.COMPLETED and exact.nonnegative == model.nonnegative
    assert exact.num_supports == count
    assert exact.delta == pytest.approx(delta, abs=TOL)
    assert exact.eig_min == pytest.approx(lo, abs=TOL)
    assert exact.eig_max == pytest.approx(hi, abs=TOL)
    check_extreme_supports(G, model, code_shape, exact.smallest, -1, exact.eig_min)
    check_extreme_supports(G, model, code_shape, exact.largest, 1, exact.eig_max)
    assert exact.summary()["worst_largest_support"] == [
        int(i) for i in np.asarray(exact.largest.supports[0])[np.asarray(exact.largest.mask[0])]
    ]

    # the certified bound: >= δ, read off the table, equal to NumPy's row-by-row Babel sums
    bounds = [jaxcs.model_rip_upper_bound(op, model)]
    assert bounds[0].method == "babel-table"
    if request.node.callspec.id in DENSE_TOO:
        bounds.append(jaxcs.model_rip_upper_bound(as_dense_operator(op), model))
        assert bounds[1].method == "babel-dense"
    upper, lower = babel_reference(G, model, code_shape, int(model.k))
    for bound in bounds:
        assert bound.delta >= exact.delta - TOL
        assert bound.upper_side >= exact.eig_max - 1 - TOL
        assert bound.lower_side >= 1 - exact.eig_min - TOL
        assert bound.upper_side == pytest.approx(upper, abs=TOL)
        assert bound.lower_side == pytest.approx(lower, abs=TOL)
        assert bound.delta == max(bound.upper_side, bound.lower_side)
        assert bound.vacuous == (bound.delta >= 1)


def test_exact_against_brute_force_on_equal_entries_and_single_filters(gram):
    """Layers built to hit exact ties in the eigenvalue routine: constant filters (every
    pair's Gram ``[[a, b], [b, a]]``, a bisection midpoint landing on a diagonal entry; the
    reported case, δ₂ = 0.75 not 0.25) and six single-filter Gaussian layers (``l = 5``,
    ``D = 12``, top-k 2). The bracket labelled "exact" and the search agree with brute force."""
    constant = ConvOperator(jnp.full((3, 1, 1), 0.5), (8,), 1, "valid")
    delta, lo, hi, _ = brute_rip(gram(constant), TopKModel(2), constant.out_shape)
    assert delta == pytest.approx(0.75)
    exact = jaxcs.exact_model_rip(constant, TopKModel(2))
    assert (exact.delta, exact.eig_min, exact.eig_max) == pytest.approx((delta, lo, hi), abs=TOL)
    bracket = jaxcs.model_rip_bracket(jr.key(0), constant, TopKModel(2))
    assert bracket.lower_method == bracket.upper_method == "exact"
    assert (bracket.lower, bracket.upper) == pytest.approx((delta, delta), abs=TOL)
    search = jaxcs.search_model_rip(jr.key(0), constant, TopKModel(2), 256)
    assert float(search.delta) <= exact.delta + TOL
    for seed in range(6):
        op = ConvOperator(jaxcs.gaussian_filters(jr.key(seed), (5,), 1, 1), (12,), 1, "valid")
        delta, lo, hi, _ = brute_rip(gram(op), TopKModel(2), op.out_shape)
        exact = jaxcs.exact_model_rip(op, TopKModel(2))
        assert (exact.delta, exact.eig_min, exact.eig_max) == pytest.approx(
            (delta, lo, hi), abs=TOL
        )


def test_exact_chunking_and_padding_do_not_matter(gram):
    # 220 supports in chunks of 7: the last chunk (3 rows) is padded
    op, model = layer("1d-valid"), TopKModel(3)
    whole = jaxcs.exact_model_rip(op, model, worst=4)
    chunked = jaxcs.exact_model_rip(op, model, chunk_size=7, worst=4)
    assert chunked.num_supports == whole.num_supports == 220
    assert chunked.delta == whole.delta
    delta, lo, hi, _ = brute_rip(gram(op), model, op.out_shape)
    assert whole.delta == pytest.approx(delta, abs=TOL)
    assert (whole.eig_min, whole.eig_max) == pytest.approx((lo, hi), abs=TOL)
    for a, b in [(whole.smallest, chunked.smallest), (whole.largest, chunked.largest)]:
        np.testing.assert_array_equal(a.supports, b.supports)
        np.testing.assert_allclose(a.quotients, b.quotients, atol=1e-6)


def test_exact_refuses_past_the_budget():
    op = layer("1d-valid")
    # pooling on (4, 3) with regions of 3, 3, 3, 1, 1, 1 cells: e_2 = 57 supports
    model = PoolingModel((3,), 2)
    with pytest.raises(ValueError, match=r"enumerate 57 supports.*max_supports=56"):
        jaxcs.exact_model_rip(op, model, max_supports=56)
    # non-negative: sizes 1 and 2 (12 + 57)
    with pytest.raises(ValueError, match=r"enumerate 69 supports"):
        jaxcs.exact_model_rip(op, PoolingModel((3,), 2, nonnegative=True), max_supports=68)
    assert jaxcs.exact_model_rip(op, model, max_supports=57).num_supports == 57
    # astronomically many: refused from the cheap lower bound on the count, before counting
    big = ConvOperator(jnp.zeros((5, 32, 96)), (32,))
    with pytest.raises(ValueError, match=r"about 10\^27\.[0-9] or more supports"):
        jaxcs.exact_model_rip(big, BlockModel(10))


def test_nonfinite_operator_is_refused_before_any_work():
    """A NaN in the filters: every entry point of the bracket refuses it at once (before, each
    end came back NaN after the whole run, the bracket with no status)."""
    op = layer("1d-valid")
    bad = ConvOperator(op.filters.at[0, 0, 0].set(jnp.nan), op.in_spatial)
    for call in (
        lambda: jaxcs.exact_model_rip(bad, BlockModel(2)),
        lambda: jaxcs.model_rip_upper_bound(bad, BlockModel(2)),
        lambda: jaxcs.search_model_rip(jr.key(0), bad, BlockModel(2), 256),
        lambda: jaxcs.model_rip_bracket(jr.key(0), bad, BlockModel(2)),
    ):
        with pytest.raises(ValueError, match="non-finite"):
            call()


def test_exact_float64(gram):
    with jax.enable_x64(True):
        op = layer("1d-valid", lambda key, *a: jaxcs.gaussian_filters(key, *a, dtype=jnp.float64))
        assert op.dtype == jnp.float64
        model = PoolingModel((3,), 2)
        delta, lo, hi, _ = brute_rip(gram(op), model, op.out_shape)
        exact = jaxcs.exact_model_rip(op, model)
        assert exact.delta == pytest.approx(delta, abs=1e-12)
        assert exact.eig_min == pytest.approx(lo, abs=1e-12)
        assert exact.eig_max == pytest.approx(hi, abs=1e-12)
        assert exact.largest.quotients.dtype == np.float64


@pytest.mark.parametrize(
    ("name", "model"),
    [
        pytest.param("1d-valid", BlockModel(2), id="1d-valid-block"),
        pytest.param("1d-valid-s2", TopKModel(2), id="1d-valid-s2-topk"),
        pytest.param("2d-circ", PoolingModel((2, 2), 2, nonnegative=True), id="2d-circ-pool-nn"),
    ],
)
def test_upper_bound_exact_for_pairs_of_unit_columns(gram, name, model):
    """k = 2, unit-norm filters, no aliasing (valid, or circular with a filter no longer than
    half the period): every column of Φ has unit norm, so a pair's Gram ``[[1, g], [g, 1]]``
    has eigenvalues ``1 ± g`` (eigenvectors ``(1, ±1)``: one-signed for ``+``) and
    δ = max |g| (non-negative: max(g⁺) above, max(g⁻) below), which is the Babel bound."""
    op = layer(name, jaxcs.unit_norm_filters)
    np.testing.assert_allclose(np.diagonal(gram(op)), 1, atol=1e-6)
    exact = jaxcs.exact_model_rip(op, model)
    bound = jaxcs.model_rip_upper_bound(op, model)
    assert bound.delta == pytest.approx(exact.delta, abs=TOL)
    assert bound.upper_side == pytest.approx(exact.eig_max - 1, abs=TOL)
    if model.nonnegative:
        assert bound.lower_side == pytest.approx(1 - exact.eig_min, abs=TOL)
    # k overrides the model's budget: a larger support budget can only loosen the bound
    assert jaxcs.model_rip_upper_bound(op, model, k=3).delta >= bound.delta
    # not exact when every pair's diagonal entries differ (a block model's pairs come from two
    # channels: Gaussian filters of unequal norms)
    if isinstance(model, BlockModel):
        gaussian = layer(name)
        loose = jaxcs.model_rip_upper_bound(gaussian, model).delta
        assert loose > jaxcs.exact_model_rip(gaussian, model).delta + 1e-3


# --------------------------------------------------------------------------- search
@pytest.mark.parametrize(
    "model",
    [
        pytest.param(BlockModel(2), id="block"),
        pytest.param(PoolingModel((3,), 2, nonnegative=True), id="pool-nn"),
    ],
)
def test_search_below_exact_on_enumerable_layers(gram, model):
    op = layer("1d-valid")
    G = gram(op)
    exact = jaxcs.exact_model_rip(op, model)
    search = jaxcs.search_model_rip(jr.key(0), op, model, 256)
    assert search.nonnegative == model.nonnegative
    assert float(search.delta) <= exact.delta + TOL
    assert float(search.eig_min) >= exact.eig_min - TOL
    assert float(search.eig_max) <= exact.eig_max + TOL
    # on a layer this small the search finds the worst support
    assert float(search.delta) == pytest.approx(exact.delta, abs=TOL)
    history = np.asarray(search.history)
    assert np.all(np.diff(history) >= 0) and history[-1] == float(search.delta)
    assert float(search.seed_delta) == history[0]
    assert int(search.evaluations[-1]) <= 256
    check_extreme_supports(G, model, op.out_shape, search.smallest, -1, float(search.eig_min))
    check_extreme_supports(G, model, op.out_shape, search.largest, 1, float(search.eig_max))


# --------------------------------------------------------------------------- Fig. 2 setup
@pytest.fixture(scope="module")
def fig2():
    w = jaxcs.gaussian_filters(jr.key(0), (5,), 32, 96)
    return ConvOperator(w, (32,), 1, "valid"), BlockModel(10)


BUDGET = 1024


def test_search_beats_sampling_at_equal_budget(dense_reference, fig2):
    op, model = fig2
    A = dense_reference(op.filters, op.in_spatial, op.stride, op.padding)
    for seed in range(3):
        key = jr.key(seed)
        search = jaxcs.search_model_rip(key, op, model, BUDGET)
        sampled = jaxcs.estimate_model_rip(key, op, model, BUDGET)
        assert sampled.eigen_method == "dense"  # "auto" at k = 10
        assert sampled.delta_kind == "support extremes (dense)"
        assert int(search.evaluations[-1]) <= BUDGET
        assert float(search.delta) >= float(sampled.delta_lower_bound)
        for found, sign in [(search.smallest, -1), (search.largest, 1)]:
            rows = zip(found.supports, found.mask, found.quotients, strict=True)
            for support, mask, q in list(rows)[:2]:
                S = np.asarray(support)[np.asarray(mask)]
                assert len(S) == 10 and in_model(model, op.out_shape, S)
                w = np.linalg.eigvalsh(A[S] @ A[S].T)
                assert float(q) == pytest.approx(w[0] if sign < 0 else w[-1], abs=1e-4)
    again = jaxcs.search_model_rip(jr.key(2), op, model, BUDGET)  # deterministic for a key
    assert all(
        np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(search), strict=True)
    )


def test_bracket_fig2(fig2):
    op, model = fig2
    # num_samples = the search test's budget: the same compiled programs
    bracket = jaxcs.model_rip_bracket(jr.key(0), op, model, num_samples=BUDGET)
    assert bracket.num_supports is None  # far beyond exact_max_supports: never counted
    assert bracket.exact is None
    assert bracket.lower == max(bracket.sampled, bracket.search)
    assert bracket.lower_method == (
        "search" if bracket.search > bracket.sampled else "sampled (dense)"
    )
    assert bracket.lower <= bracket.upper
    assert bracket.upper_method == "babel-table"
    assert bracket.upper == jaxcs.model_rip_upper_bound(op, model).delta
    assert bracket.vacuous == (bracket.upper >= 1)
    summary = bracket.summary()
    assert summary["vacuous"] == bracket.vacuous and summary["exact"] is None


def test_bracket_closes_on_enumerable_model(gram):
    op, model = layer("1d-valid"), BlockModel(2)
    bracket = jaxcs.model_rip_bracket(jr.key(0), op, model, num_samples=16)
    delta, *_ = brute_rip(gram(op), model, op.out_shape)
    assert bracket.lower == bracket.upper == bracket.exact.delta
    assert bracket.lower == pytest.approx(delta, abs=TOL)
    assert bracket.lower_method == bracket.upper_method == "exact"
    assert bracket.num_supports == 48 and bracket.exact.num_supports == 48
    assert bracket.search_result is None and math.isnan(bracket.sampled)


# --------------------------------------------------------------------------- Lanczos
@pytest.fixture(scope="module")
def layer2d(gram):
    """A 2-D layer with codes (10, 10, 8) and its dense Gram."""
    op = ConvOperator(jaxcs.gaussian_filters(jr.key(3), (3, 3), 4, 8), (12, 12))
    return op, gram(op)


def support_spectra(code, G):
    """Per code of a batch: ``(S, G_S, eigenvalues of G_S)``."""
    out = []
    for indices, mask in zip(np.asarray(code.indices), np.asarray(code.mask), strict=True):
        S = indices[mask]
        G_S = G[np.ix_(S, S)]
        out.append((S, G_S, np.linalg.eigvalsh(G_S)))
    return out


SLOTS = 104  # every masked_extremes call below has (4, 104) codes: one compiled program each
masked_extremes = jax.jit(jaxcs.analysis.masked_extremes, static_argnames=("steps", "nonnegative"))


def random_pooling_codes(seed, code_shape, k: int, *, nonnegative=False, batch=4):
    """``batch`` codes of the 2 × 2 pooling model drawn in NumPy: k distinct windows (of one
    channel each), a random cell in each, Uniform[−1, 1] values (``|·|`` when non-negative),
    ``SLOTS − k`` unused slots."""
    rng = np.random.default_rng(seed)
    *spatial, K = code_shape
    pooled = (spatial[0] // 2, spatial[1] // 2, K)
    indices = np.zeros((batch, SLOTS), np.int32)
    for b in range(batch):
        for slot, region in enumerate(rng.choice(math.prod(pooled), k, replace=False)):
            p0, p1, channel = np.unravel_index(region, pooled)
            cell = (2 * p0 + rng.integers(2), 2 * p1 + rng.integers(2), channel)
            indices[b, slot] = np.ravel_multi_index(cell, code_shape)
    mask = np.arange(SLOTS) < k
    values = np.where(mask, rng.uniform(-1, 1, (batch, SLOTS)), 0)
    values = np.abs(values) if nonnegative else values
    mask = np.broadcast_to(mask, (batch, SLOTS))
    return jaxcs.SparseCode(
        jnp.asarray(indices), jnp.asarray(values, jnp.float32), jnp.asarray(mask), code_shape
    )


@pytest.mark.parametrize("k", [100, 6])
def test_masked_extremes_within_residual(layer2d, k):
    """Ritz values lie inside the spectrum and, within their residual, on its extremes (the
    generic case: a random start is not nearly orthogonal to the extreme eigenvectors); k = 6
    in 104 slots: the Krylov space is invariant after 6 steps, the Ritz values exact."""
    op, G = layer2d
    code = random_pooling_codes(k, op.out_shape, k)
    found = masked_extremes(op, code, steps=32)
    assert found.steps == 32
    slack = 2e-5  # float32 eigenvalues of norm ~3
    for b, (_, _, w) in enumerate(support_spectra(code, G)):
        theta_min, theta_max = float(found.eig_min[b]), float(found.eig_max[b])
        r_min, r_max = float(found.residual_min[b]), float(found.residual_max[b])
        assert w[0] - slack <= theta_min <= theta_max <= w[-1] + slack
        # the guarantee (Parlett 4.5.1): some eigenvalue within the residual of each Ritz value
        assert np.min(np.abs(w - theta_min)) <= r_min + slack
        assert np.min(np.abs(w - theta_max)) <= r_max + slack
        # on these draws (a generic start) that eigenvalue is the extreme one
        assert abs(theta_min - w[0]) <= r_min + slack
        assert abs(theta_max - w[-1]) <= r_max + slack
        if k == 6:
            assert abs(theta_min - w[0]) <= slack and abs(theta_max - w[-1]) <= slack


def test_lanczos_residual_certifies_an_eigenvalue_not_the_extreme():
    """What a residual does not say: a start with no weight on the extreme eigenvector never
    sees it. ``G_S = Q diag(0.1, 1, …, 1) Qᵀ`` from a start orthogonal to the 0.1 eigenvector:
    the Krylov space is invariant after one step, ``θ_min = 1`` with residual 0, and
    ``λ_min = 0.1`` lies outside ``[θ_min − r_min, θ_min]``. What holds: an eigenvalue (1) lies
    within the residual, and ``1 − θ_min ≤ 1 − λ_min`` (a valid lower bound on δ's side)."""
    s = 12
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((s, s)))
    eigenvalues = np.r_[0.1, np.ones(s - 1)]
    rows = q * np.sqrt(eigenvalues)  # rows @ rows.T = G_S
    op = MatrixOperator(jnp.asarray(rows, jnp.float32), (s,), (s,))
    start = q[:, 1:] @ np.random.default_rng(1).standard_normal(s - 1)  # ⟂ the 0.1 eigenvector
    code = jaxcs.SparseCode(
        jnp.arange(s)[None], jnp.asarray(start, jnp.float32)[None], jnp.ones((1, s), bool), (s,)
    )
    found = masked_extremes(op, code, steps=8)
    theta, residual = float(found.eig_min[0]), float(found.residual_min[0])
    assert theta == pytest.approx(1.0, abs=1e-4) and residual <= 1e-3
    assert not theta - residual <= 0.1  # the extreme is outside the residual interval
    assert np.min(np.abs(eigenvalues - theta)) <= residual + 1e-4
    assert 1 - theta <= 1 - 0.1


@pytest.mark.parametrize("k", [100, 6])
def test_masked_extremes_nonnegative(layer2d, k):
    """Over ``z ≥ 0`` every iterate is a non-negative code: ``λ_min ≤`` orthant min ``≤ q_min ≤
    Q(|start|) ≤ q_max ≤`` orthant max ``≤ λ_max`` (the ascent keeps its start's quotient);
    at k = 6 the orthant extremes are enumerated over the faces."""
    op, G = layer2d
    code = random_pooling_codes(k + 1, op.out_shape, k, nonnegative=True)
    found = masked_extremes(op, code, steps=32, nonnegative=True)
    assert np.all(np.isnan(found.residual_min)) and np.all(np.isnan(found.residual_max))
    values = np.asarray(code.values, np.float64)
    for b, (_, G_S, w) in enumerate(support_spectra(code, G)):
        q_min, q_max = float(found.eig_min[b]), float(found.eig_max[b])
        z = values[b][np.asarray(code.mask[b])]
        start = z @ G_S @ z / (z @ z)
        assert w[0] - TOL <= q_min <= start + TOL
        assert start - TOL <= q_max <= w[-1] + TOL
        if k == 6:
            lo, hi = orthant_extremes_by_faces(G_S)
            assert lo - TOL <= q_min and q_max <= hi + TOL


def test_masked_extremes_nonfinite(layer2d):
    op, _ = layer2d
    bad = ConvOperator(op.filters.at[0, 0, 0, 0].set(jnp.inf), op.in_spatial)
    found = masked_extremes(bad, random_pooling_codes(0, op.out_shape, 100), steps=32)
    assert np.all(np.isnan(found.eig_min)) and np.all(np.isnan(found.eig_max))


@partial(jax.jit, static_argnums=(2, 3))
def sample_chunk(model, key, code_shape, chunk_size):
    return model.sample_sparse(key, code_shape, (chunk_size,))


def sampled_codes(op, model, key, num_samples: int, chunk_size: int):
    """The codes that the estimator draws: chunk ``c`` from ``fold_in(key, c)``."""
    chunks = [
        sample_chunk(model, jr.fold_in(key, c), op.out_shape, chunk_size)
        for c in range(-(-num_samples // chunk_size))
    ]
    return jax.tree.map(lambda *a: jnp.concatenate(a)[:num_samples], *chunks)


def test_estimate_lanczos_against_dense(layer2d):
    """The supports that the estimator samples (the same key and chunk size draw the same
    ones) against their dense NumPy spectra: 12 Lanczos steps on supports of 24 give Ritz
    values inside the spectrum, each within its residual of an eigenvalue, in the generic case
    the extreme one. (Not always: a start nearly orthogonal to the extreme eigenvector
    converges first to the next eigenvalue, with a small residual: 3 of these 64 supports.)"""
    op, G = layer2d
    model = PoolingModel((2, 2), 24)
    key = jr.key(0)
    lanczos = jaxcs.estimate_model_rip(
        key,
        op,
        model,
        64,
        eigen_method="lanczos",
        lanczos_steps=12,
        chunk_size=32,
        keep_samples=True,
    )
    assert lanczos.eigen_method == "lanczos" and lanczos.summary()["eigen_method"] == "lanczos"
    assert lanczos.delta_kind == "support extremes (lanczos)"
    residual = np.asarray(lanczos.samples["eig_residual"])
    assert float(lanczos.eig_residual.max) == pytest.approx(residual.max())
    spectra = [w for _, _, w in support_spectra(sampled_codes(op, model, key, 64, 32), G)]
    lo, hi = np.array([w[0] for w in spectra]), np.array([w[-1] for w in spectra])
    theta_lo = np.asarray(lanczos.samples["eig_min"])
    theta_hi = np.asarray(lanczos.samples["eig_max"])
    slack = 2e-5
    assert np.all(theta_hi <= hi + slack) and np.all(theta_lo >= lo - slack)
    for w, t_lo, t_hi, r in zip(spectra, theta_lo, theta_hi, residual, strict=True):
        assert np.min(abs(w - t_lo)) <= r + slack and np.min(abs(w - t_hi)) <= r + slack
    extreme = (hi - theta_hi <= residual + slack) & (theta_lo - lo <= residual + slack)
    assert extreme.mean() >= 0.9, extreme.sum()
    dense_delta = max(1 - lo.min(), hi.max() - 1)
    assert float(lanczos.delta_lower_bound) <= dense_delta + slack


def test_auto_eigen_method_by_capacity(fig2):
    op, _ = fig2
    assert choose_eigen_method(op, 8, 32) == "dense"
    assert choose_eigen_method(op, 1100, 32) == "lanczos"  # beyond the dense path's 1024
    with pytest.raises(ValueError, match="1024"):
        jaxcs.estimate_model_rip(jr.key(0), op, TopKModel(1100), 4, eigen_method="dense")


# --------------------------------------------------------------------------- Marchenko–Pastur
def test_random_supports_approach_marchenko_pastur_edges(optimized, assert_no_compiles):
    """Φ (m × n) with i.i.d. N(0, 1/m) entries, supports of k = m/8 random columns: G_S is a
    k × k Wishart matrix, whose extreme eigenvalues tend to (1 ± √(k/m))² (Marchenko–Pastur
    edges). The mean's offset from an edge scales like the Tracy–Widom width, here
    ≈ 2.1 m^(-2/3) (times |E TW₁| ≈ 1.2); tol = 5 m^(-2/3) holds it with room (this draw:
    offsets ≈ 3.3, 3.2, 2.8 m^(-2/3) at the upper edge, 1.4, 1.1, 0.95 at the lower), and the
    offset must shrink as m grows.

    One compiled program for every m: Φ (m × 1024) is padded with zero rows to 1024 × 1024
    (G_S is unchanged; n does not enter the spectrum of random column subsets) and k is an
    array leaf of ``TopKModel(k, capacity=128)``."""
    ratio, m_max, n = 1 / 8, 1024, 1024
    sizes = (64, 256, 1024)
    edges = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
    cases = []
    for m in sizes:
        phi = np.zeros((m_max, n), np.float32)
        phi[:m] = np.random.default_rng(m).standard_normal((m, n)) / math.sqrt(m)
        op = MatrixOperator(phi).T  # W = Φᵀ: codes of n entries, Wᵀ z = Φ z
        cases.append((op, TopKModel(jnp.int32(m * ratio), capacity=128)))
    assert cases[0][0].out_shape == (n,)
    errors = []
    for i, (m, (op, model)) in enumerate(zip(sizes, cases, strict=True)):
        if i == 0:
            estimate = jaxcs.estimate_model_rip(jr.key(1), op, model, 256)
        else:
            estimate = assert_no_compiles(jaxcs.estimate_model_rip, jr.key(1), op, model, 256)
        error = (
            abs(float(estimate.eig_min.mean) - edges[0]),
            abs(float(estimate.eig_max.mean) - edges[1]),
        )
        assert max(error) <= 5 * m ** (-2 / 3), (m, error)
        errors.append(error)
    errors = np.array(errors)
    assert np.all(np.diff(errors, axis=0) < 0), errors
