"""Model-RIP of random convolutional layers across draws and sparsity levels, in one program.

Operators are pytrees and ``k`` is an array leaf, so a sweep over filter draws × k is two nested
``jax.vmap`` calls: one compilation, no Python loop over experiments.

    python examples/rip_sweep.py [--draws 8] [--samples 20000]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import jax.random as jr

import jaxcs


def sweep(key, draws: int, ks, num_samples: int, filter_shape=(5,), M=32, K=96, D=32):
    """δ lower bounds, shape ``(draws, len(ks))``, for Gaussian filters (Theorem 3.1 scaling)."""
    k_filters, k_codes = jr.split(key)

    def make_op(k):
        return jaxcs.ConvOperator(jaxcs.gaussian_filters(k, filter_shape, M, K), (D,))

    ops = jax.vmap(make_op)(jr.split(k_filters, draws))
    models = jaxcs.BlockModel(jnp.asarray(ks), capacity=max(ks))

    def one(op, model):
        est = jaxcs.estimate_model_rip(k_codes, op, model, num_samples)
        return est.delta_lower_bound, est.ratio_wt.mean

    return jax.vmap(lambda op: jax.vmap(lambda m: one(op, m))(models))(ops)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    args = parser.parse_args(argv)
    delta, mean_ratio = sweep(jr.key(0), args.draws, args.ks, args.samples)
    print(f"{'k':>4} {'δ_k lower bound (mean ± std over draws)':>42} {'mean ‖Wᵀz‖/‖z‖':>16}")
    for j, k in enumerate(args.ks):
        d, r = delta[:, j], mean_ratio[:, j]
        print(f"{k:>4} {float(d.mean()):>33.3f} ± {float(d.std()):.3f} {float(r.mean()):>16.3f}")
    return delta


if __name__ == "__main__":
    main()
