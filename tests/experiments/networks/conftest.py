"""Fixtures of the network tests: random network variables built without running Flax's
initialisers (abstract ``init`` for the tree, NumPy for the values: compiling the
initialisers eagerly costs seconds on a small CPU)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcs.experiments.networks.training import initialize


def _random_variables(config, shape, seed: int):
    """Variables of ``config`` on inputs ``shape``: Gaussian kernels (variance 1 / fan-in), and
    random block biases, classifier, batch statistics and batch-norm scales/shifts (a fresh
    network's mean 0, var 1, scale 1, bias 0 would hide mistakes); each layer's last batch-norm
    scale is negative."""
    tree = jax.eval_shape(lambda: initialize(jax.random.PRNGKey(0), config, tuple(shape)))
    rng = np.random.default_rng(seed)
    params = {}
    for name, leaves in tree["params"].items():
        if name.startswith("block_") or name == "classifier":
            kshape = leaves["kernel"].shape
            fan_in = int(np.prod(kshape[:-1]))
            params[name] = {
                "kernel": rng.normal(size=kshape) / np.sqrt(fan_in),
                "bias": rng.normal(size=leaves["bias"].shape),
            }
        else:  # norm_i
            k = leaves["scale"].shape[0]
            scale = rng.uniform(0.5, 1.5, size=k)
            scale[-1] *= -1
            params[name] = {"scale": scale, "bias": rng.normal(size=k)}
    stats = {
        name: {
            "mean": rng.normal(size=leaves["mean"].shape),
            "var": rng.uniform(0.3, 2.0, size=leaves["var"].shape),
        }
        for name, leaves in tree["batch_stats"].items()
    }
    out = {"params": params, "batch_stats": stats}
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), out)


@pytest.fixture(scope="session")
def random_variables():
    """``random_variables(config, shape, seed)``: see :func:`_random_variables`."""
    return _random_variables
