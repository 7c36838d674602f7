"""Every public entry point that draws random numbers says what a key is when given an int (or
anything else), before tracing; typed and raw keys, vmapped ones included, are accepted."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs._validate import check_key
from jaxcs.experiments.networks import NetworkConfig, initialize


def _entry_points():
    op = jaxcs.ConvOperator(jaxcs.gaussian_filters(jr.key(0), (3,), 2, 4), (8,))
    model = jaxcs.BlockModel(2)
    return {
        "gaussian_filters": lambda key: jaxcs.gaussian_filters(key, (3,), 2, 4),
        "unit_norm_filters": lambda key: jaxcs.unit_norm_filters(key, (3,), 2, 4),
        "rademacher_filters": lambda key: jaxcs.operators.rademacher_filters(key, (3,), 2, 4),
        "sample": lambda key: model.sample(key, op.out_shape),
        "sample_sparse": lambda key: model.sample_sparse(key, op.out_shape),
        "estimate_model_rip": lambda key: jaxcs.estimate_model_rip(key, op, model, 8),
        "model_rip_bracket": lambda key: jaxcs.model_rip_bracket(key, op, model, num_samples=8),
        "search_model_rip": lambda key: jaxcs.search_model_rip(key, op, model, 8),
        "initialize": lambda key: initialize(key, NetworkConfig((2,), 3, 2), (4, 4, 1)),
    }


@pytest.mark.parametrize("name", sorted(_entry_points()))
@pytest.mark.parametrize("bad", [0, 7, 1.5, "key", np.zeros(3, np.uint32)])
def test_a_non_key_is_named(name, bad):
    with pytest.raises(ValueError, match=r"key must be a jax.random key"):
        _entry_points()[name](bad)


def test_an_int_gets_the_spelling_of_a_key():
    with pytest.raises(ValueError, match=r"use jax.random.key\(3\)"):
        jaxcs.gaussian_filters(3, (3,), 2, 4)


def test_typed_raw_and_vmapped_keys_are_keys():
    for key in (jr.key(1), jr.PRNGKey(1)):
        assert check_key(key) is key
        jaxcs.gaussian_filters(key, (3,), 2, 4)
    keys = jr.split(jr.key(2), 3)
    filters = jax.vmap(lambda k: jaxcs.gaussian_filters(k, (3,), 2, 4))(keys)
    assert filters.shape == (3, 3, 2, 4)
    raw = jax.vmap(lambda k: jaxcs.gaussian_filters(k, (3,), 2, 4))(jr.split(jr.PRNGKey(2), 3))
    assert jnp.isfinite(raw).all()
    with pytest.raises(ValueError, match="key"):
        check_key(keys)  # several keys at once are not one key
