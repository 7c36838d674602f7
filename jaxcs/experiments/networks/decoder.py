"""Decoders from a block's pooled activations back to pixels.

- :func:`tied_decode`: the network's own weights read backwards (the paper's tied-weight
  decoder, :func:`jaxcs.layers.decode_backwards`): for each block, from the top down, undo
  batch norm (a per-channel affine map), unpool at the block's max-pooling switches, and apply
  ``Wᵀ`` (the transposed convolution with the block's raw filters; no bias, no ReLU), as
  :func:`jaxcs.layers.decode_stack` does for an :class:`~jaxcs.layers.IHTEncoder`.
- :class:`PixelDecoder` / :func:`train_decoder`: a small convolutional decoder trained for the
  job with Optax (mean squared error), for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from jaxcs._validate import check_key, positive_int
from jaxcs.experiments.networks.cnn import POOL, block_operator
from jaxcs.experiments.networks.training import run_epochs
from jaxcs.layers import decode_backwards
from jaxcs.models import max_pool, unpool

BATCH_NORM_EPSILON = 1e-5  # flax.linen.BatchNorm's default


def pooling_switches(normalized: Float[Array, "B H W K"]) -> Int[Array, "B H//2 W//2 K"]:
    """The switches of ``nn.max_pool``'s 2 × 2 regions of ``(B, H, W, K)`` maps: the argmax
    of each region (lowest index on ties), ``(B, ⌊H/2⌋, ⌊W/2⌋, K)``."""
    h, w = normalized.shape[1] // 2 * 2, normalized.shape[2] // 2 * 2
    cropped = normalized[:, :h, :w]
    return jax.vmap(lambda v: max_pool(v, POOL, nonnegative=True)[1])(cropped)


def batch_norm_affine(
    variables, index: int, config
) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
    """``(a, c)`` with ``BN(v) = a v + c`` per channel, batch norm of block ``index`` in
    inference mode."""
    stats = variables["batch_stats"][f"norm_{index}"]
    a = 1.0 / jnp.sqrt(stats["var"] + BATCH_NORM_EPSILON)
    c = -stats["mean"] * a
    if not config.frozen_filters:
        norm = variables["params"][f"norm_{index}"]
        a, c = a * norm["scale"], c * norm["scale"] + norm["bias"]
    return a, c


def tied_decode(
    config,
    variables,
    blocks: Sequence[dict],
    level: int,
    pooled: Float[ArrayLike, " B *pooled_shape"],
) -> Float[Array, "B H W C"]:
    """Decode an estimate of block ``level − 1``'s pooled map (block ``level``'s input) to
    pixels with the network's own weights.

    Args:
        config: the network's :class:`~jaxcs.experiments.networks.NetworkConfig`.
        variables: its variables.
        blocks: :meth:`SmallCNN.activations` of the inputs being decoded (for the switches).
        level: ``1 ≤ level ≤ depth``; the estimate has block ``level − 1``'s pooled shape.
        pooled: ``(B, *pooled shape)``.

    Returns:
        ``(B, H, W, C)``, in the input's (standardised) pixel space.
    """
    level = positive_int(level, "level")
    if level > len(blocks):
        raise ValueError(f"level must be in [1, {len(blocks)}]; got {level}")

    def transpose(b: int):  # block b's code -> its input
        return lambda code: block_operator(variables, b, blocks[b]["input"].shape[1:3]).rmv(code)

    def unpool_at_switches(b: int):  # block b's pooled map -> its code
        def unpool_block(u):
            a, c = batch_norm_affine(variables, b, config)
            relu = (u - c) / jnp.where(a == 0, 1.0, a)
            normalized = blocks[b]["normalized"]
            switches = pooling_switches(normalized)
            # nn.max_pool ("VALID") drops an odd last row/column: unpool onto the even part,
            # then zero-pad back to the block's full map
            (height, width) = normalized.shape[1:3]
            even = tuple(2 * n for n in switches.shape[1:3])
            code = jax.vmap(lambda v, s, even=even: unpool(v, s, POOL, even))(relu, switches)
            return jnp.pad(code, ((0, 0), (0, height - even[0]), (0, width - even[1]), (0, 0)))

        return unpool_block

    unpools = [unpool_at_switches(b) for b in range(level)]
    top = unpools[-1](jnp.asarray(pooled))
    return decode_backwards(top, [transpose(b) for b in range(level)], unpools[:-1])


class PixelDecoder(nn.Module):
    """``levels`` × (nearest ×2 upsampling → 3 × 3 conv → ReLU), then a 3 × 3 conv to
    ``out_channels``: from ``(B, H/2^levels, W/2^levels, C)`` to ``(B, H, W, out_channels)``."""

    levels: int
    width: int = 32
    out_channels: int = 3

    @nn.compact
    def __call__(self, h: Float[Array, "B h w C"]) -> Float[Array, "B H W out_channels"]:
        for _ in range(int(self.levels)):
            b, hh, ww, c = h.shape
            h = jax.image.resize(h, (b, 2 * hh, 2 * ww, c), "nearest")
            h = nn.relu(nn.Conv(int(self.width), (3, 3), padding="SAME")(h))
        return nn.Conv(int(self.out_channels), (3, 3), padding="SAME")(h)


def train_decoder(
    key: PRNGKeyArray,
    inputs: Float[ArrayLike, "N h w C"],
    targets: Float[ArrayLike, "N H W c"],
    *,
    levels: int,
    width: int = 32,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    progress: bool = False,
) -> tuple[PixelDecoder, dict, list[float], float]:
    """Fit a :class:`PixelDecoder` mapping ``inputs (N, h, w, C)`` to ``targets (N, H, W, c)``
    by Adam on the mean squared error; deterministic for ``key``. Host-driven (not jit-able).

    Returns:
        ``(decoder, variables, losses per epoch, seconds)``.
    """
    check_key(key)
    inputs, targets = np.asarray(inputs, np.float32), np.asarray(targets, np.float32)
    if len(inputs) != len(targets):
        raise ValueError(
            f"inputs and targets must have the same length; got {len(inputs)}, {len(targets)}"
        )
    decoder = PixelDecoder(positive_int(levels, "levels"), width, targets.shape[-1])
    key_init, key_shuffle = jr.split(key)
    variables = decoder.init(key_init, inputs[:1])
    optimizer = optax.adam(learning_rate)

    @jax.jit
    def step(variables, opt_state, x, y):
        def loss_fn(v):
            return jnp.mean((decoder.apply(v, x) - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(variables)
        updates, opt_state = optimizer.update(grads, opt_state, variables)
        return optax.apply_updates(variables, updates), opt_state, loss

    started = time.perf_counter()
    (variables, _), losses = run_epochs(
        key_shuffle,
        step,
        (variables, optimizer.init(variables)),
        (inputs, targets),
        epochs=positive_int(epochs, "epochs"),
        batch_size=min(positive_int(batch_size, "batch_size"), len(inputs)),
        label=f"decoder from level {levels}",
        progress=progress,
    )
    return decoder, variables, losses, time.perf_counter() - started
