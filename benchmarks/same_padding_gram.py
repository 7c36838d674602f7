"""Model-RIP Monte Carlo with ``"same"`` padding at table speed: the border table against
``"valid"`` padding and against the former per-pair overlap sums.

The layer: 2-D, 3×3 filters, 16 → 32 channels, 16×16 input, stride 1; the model 2×2 pooling
with k = 128; :func:`jaxcs.estimate_model_rip` with ``method="gram"``, ``eigenvalues=False``
on 400 codes per call. Three paths, measured side by side, interleaved round by round after a
warm-up call that compiles each (machines are shared and noisy; each figure is the median over
rounds, the ratios are of those medians):

- ``same``: ``padding="same"``, restricted Grams gathered from the border correlation table;
- ``valid``: ``padding="valid"`` (14×14 codes), from the correlation table;
- ``same_overlap_sums``: ``padding="same"`` by the former path (jaxcs up to commit 0e3de70):
  exact per-pair overlap sums, ``O(k² · l · M)`` per support, no table. It is kept here only
  as the "before" figure.

Target: ``same`` within 1.5× of ``valid``.

Usage: ``python benchmarks/same_padding_gram.py [--rounds 5] [--output benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from harness import interleaved, medians, save, timed

import jaxcs
from jaxcs.operators.base import AbstractOperator, mask_gram
from jaxcs.operators.correlation import decode_support

LAYER = dict(filter_shape=(3, 3), in_channels=16, out_channels=32, input_size=(16, 16))
MODEL = dict(pool_size=(2, 2), k=128)
NUM_SAMPLES = 400


def overlap_sum_gram(op, i, j):
    """The former exact Gram of zero-padding-truncated columns: overlap sums over the
    in-bounds taps, ``(..., k, k)`` (tap ``s`` of column ``(j, i)`` sits at ``t·j − lo + s``)."""
    w = jnp.moveaxis(op.filters, -1, 0)  # (K, *l, M)
    d = op.ndim
    in_bounds_a = True
    partner_index = []
    partner_ok = True
    for axis in range(d):
        t, (lo, _), D = op.stride[axis], op.pads[axis], op.in_spatial[axis]
        shape = [1] * d
        shape[axis] = -1
        s = jnp.arange(op.filter_shape[axis]).reshape(shape)
        pos = (t * j[..., axis] - lo)[(Ellipsis,) + (None,) * d] + s  # (..., k, *l)
        in_bounds_a = in_bounds_a & (pos >= 0) & (pos < D)
        big = t * (j[..., :, None, axis] - j[..., None, :, axis])  # (..., k, k)
        s_b = big[(Ellipsis,) + (None,) * d] + s  # (..., k, k, *l)
        partner_ok = partner_ok & (s_b >= 0) & (s_b < op.filter_shape[axis])
        partner_index.append(jnp.clip(s_b, 0, op.filter_shape[axis] - 1))
    w_a = w[i] * in_bounds_a[..., None]  # (..., k, *l, M)
    i_b = jnp.broadcast_to(i[..., None, :], partner_index[0].shape[: i.ndim + 1])
    i_b = i_b[(Ellipsis,) + (None,) * d]
    w_b = w[(i_b, *partner_index)] * partner_ok[..., None]  # (..., k, k, *l, M)
    spatial = "".join(chr(ord("p") + a) for a in range(d))
    return jnp.einsum(f"...a{spatial}m,...ab{spatial}m->...ab", w_a, w_b)


class OverlapSumOperator(jaxcs.ConvOperator):
    """A ``"same"`` layer whose restricted Grams take the former overlap-sum path."""

    def gram_table(self):
        return None

    def restricted_gram_cost(self, k: int) -> int:
        return k * k * (1 + math.prod(self.filter_shape) * self.in_channels)

    def restricted_gram(self, support, mask=None, *, table=None):
        i, j = decode_support(self, support)
        return mask_gram(overlap_sum_gram(self, i, j), mask)

    def restricted_gram_pairs(self, support, mask=None, *, table=None):
        return AbstractOperator.restricted_gram_pairs(self, support, mask, table=table)


def operators() -> dict:
    w = jaxcs.gaussian_filters(
        jr.key(0), LAYER["filter_shape"], LAYER["in_channels"], LAYER["out_channels"]
    )
    size = LAYER["input_size"]
    return {
        "same": jaxcs.ConvOperator(w, size, padding="same"),
        "valid": jaxcs.ConvOperator(w, size, padding="valid"),
        "same_overlap_sums": OverlapSumOperator(w, size, padding="same"),
    }


def bench(rounds: int) -> dict:
    ops = operators()
    model = jaxcs.PoolingModel(MODEL["pool_size"], MODEL["k"])

    def run(name, seed):
        est = jaxcs.estimate_model_rip(
            jr.key(seed), ops[name], model, NUM_SAMPLES, method="gram", eigenvalues=False
        )
        return est

    warm, first = {}, {}
    for name in ops:
        first[name], warm[name] = timed(lambda name=name: run(name, 0))
    # the two "same" paths give the same Grams (each run above uses its own automatic chunk
    # size, hence its own codes)
    code = model.sample_sparse(jr.key(1), ops["same"].out_shape, (8,))
    np.testing.assert_allclose(
        jax.jit(lambda op: op.restricted_gram(code.indices, code.mask))(ops["same"]),
        jax.jit(lambda op: op.restricted_gram(code.indices, code.mask))(ops["same_overlap_sums"]),
        rtol=1e-4,
        atol=1e-5,
    )
    times = interleaved({name: lambda seed, name=name: run(name, seed) for name in ops}, rounds)
    median = {name: entry["median"] for name, entry in medians(times).items()}
    return {
        "setup": LAYER
        | MODEL
        | {"num_samples": NUM_SAMPLES, "method": "gram", "eigenvalues": False, "rounds": rounds},
        "seconds_per_call": medians(times),
        "first_call_seconds": first,
        "ratio_same_vs_valid": median["same"] / median["valid"],
        "ratio_overlap_sums_vs_valid": median["same_overlap_sums"] / median["valid"],
        "speedup_same_vs_overlap_sums": median["same_overlap_sums"] / median["same"],
        "target_max_ratio_same_vs_valid": 1.5,
        "mean_ratio_wt": {name: float(warm[name].ratio_wt.mean) for name in ops},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    result = {"benchmark": "same_padding_gram", "gram": bench(args.rounds)}
    path = save(Path(args.output) / f"same_padding_gram_{jax.default_backend()}.json", result)
    gram = result["gram"]
    print(json.dumps({k: v for k, v in gram.items() if k.startswith(("ratio", "speed"))}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
