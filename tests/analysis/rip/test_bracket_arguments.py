"""Bad arguments to the bracket's entry points get a clear error naming the argument, before
anything is compiled."""

import jax.random as jr
import pytest

import jaxcs

W = jaxcs.gaussian_filters(jr.key(0), (3,), 4, 8)
OP = jaxcs.ConvOperator(W, (10,), 1, "valid")
MODEL = jaxcs.BlockModel(3)
WIDE = jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(0), (3,), 4, 160), (10,), 1, "valid")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: jaxcs.exact_model_rip(OP, "block"), TypeError, "sparsity model"),
        (lambda: jaxcs.exact_model_rip("op", MODEL), TypeError, "operator"),
        (lambda: jaxcs.exact_model_rip(OP, jaxcs.BlockModel(0)), ValueError, "k must be >= 1"),
        (lambda: jaxcs.exact_model_rip(OP, jaxcs.BlockModel(9)), ValueError, "out of range"),
        (lambda: jaxcs.exact_model_rip(OP, MODEL, max_supports=0), ValueError, "max_supports"),
        (lambda: jaxcs.exact_model_rip(OP, MODEL, worst=0), ValueError, "worst"),
        (lambda: jaxcs.search_model_rip(jr.key(0), OP, MODEL, 0), ValueError, "budget"),
        (
            lambda: jaxcs.search_model_rip(jr.key(0), OP, MODEL, 64, restarts=3),
            ValueError,
            "restarts must be even",
        ),
        (
            lambda: jaxcs.search_model_rip(jr.key(0), OP, MODEL, 64, guided=0, explore=0),
            ValueError,
            "guided \\+ explore",
        ),
        (
            lambda: jaxcs.search_model_rip(jr.key(0), WIDE, jaxcs.TopKModel(1100), 64),
            ValueError,
            "capacity",
        ),
        (
            lambda: jaxcs.model_rip_bracket(jr.key(0), OP, MODEL, search_budget=-1),
            ValueError,
            "search_budget",
        ),
        (
            lambda: jaxcs.model_rip_bracket(jr.key(0), OP, MODEL, num_samples=0),
            ValueError,
            "num_samples",
        ),
        (lambda: jaxcs.model_rip_upper_bound(OP, "block"), TypeError, "sparsity model"),
        (
            lambda: jaxcs.analysis.masked_extremes(
                OP, MODEL.sample_sparse(jr.key(0), OP.out_shape)
            ),
            ValueError,
            "\\(B, s\\)",
        ),
        (
            lambda: jaxcs.analysis.masked_extremes(
                OP, MODEL.sample_sparse(jr.key(0), OP.out_shape, (2,)), steps=0
            ),
            ValueError,
            "steps",
        ),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
