"""Small CNNs of the paper's Table 1: ``L`` blocks of conv → ReLU → batch norm → 2 × 2 max
pool, then a linear classifier (Flax).

Each block's convolution is a :class:`~jaxcs.operators.ConvOperator` with ``"same"`` padding
(plus a bias), so a trained block's filters *are* the ``W`` that the rest of jaxcs studies:
``block_operator(variables, i, in_spatial)`` returns it. With ``frozen_filters=True`` the
filters keep their random Gaussian initialisation (LeCun normal: variance ``1/(l M)``, the
scaling of Theorem 3.1), the bias stays 0 and batch norm has no trainable scale or shift, so only
the classifier learns: the paper's "random filters" networks.

Parameter layout (``variables['params']``): ``block_{i}`` with ``kernel (l, l, M, K)`` and
``bias (K,)``; ``norm_{i}`` with ``scale``/``bias`` (learned networks only); ``classifier``
(``nn.Dense``). Batch statistics: ``variables['batch_stats']['norm_{i}']``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from jaxcs._validate import positive_int
from jaxcs.operators import ConvOperator

POOL = (2, 2)


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """What a :class:`SmallCNN` is: its widths (one per block), filter size and classes.

    Attributes:
        widths: ``K`` of each block (1–3 blocks in the paper's Table 1; any number ≥ 1 here).
        filter_size: ``l`` (square ``l × l`` filters).
        num_classes: outputs of the classifier.
        frozen_filters: random filters, only the classifier trained.
    """

    widths: tuple[int, ...]
    filter_size: int = 3
    num_classes: int = 10
    frozen_filters: bool = False

    def __post_init__(self):
        widths = self.widths
        if isinstance(widths, int) or not isinstance(widths, Sequence) or not widths:
            raise ValueError(f"widths must be a non-empty sequence of ints >= 1; got {widths!r}")
        object.__setattr__(self, "widths", tuple(positive_int(w, "widths") for w in widths))
        positive_int(self.filter_size, "filter_size")
        if positive_int(self.num_classes, "num_classes") < 2:
            raise ValueError(f"num_classes must be >= 2; got {self.num_classes}")
        if not isinstance(self.frozen_filters, bool):
            raise ValueError(f"frozen_filters must be a bool; got {self.frozen_filters!r}")

    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def name(self) -> str:
        kind = "random" if self.frozen_filters else "learned"
        return f"{kind}-L{self.depth}-f{self.filter_size}-w{'x'.join(map(str, self.widths))}"

    def module(self) -> SmallCNN:
        return SmallCNN(self.widths, self.filter_size, self.num_classes, self.frozen_filters)


class SameConv(nn.Module):
    """``W x + b`` with ``"same"`` padding: a :class:`~jaxcs.operators.ConvOperator` and a bias.

    Params ``kernel (l, l, M, K)`` (LeCun normal) and ``bias (K,)``; ``frozen``: both held at
    their initial values (the kernel by ``stop_gradient``, the bias at 0).
    """

    features: int
    filter_size: int
    frozen: bool = False

    @nn.compact
    def __call__(self, h: Float[Array, "B H W M"]) -> Float[Array, "B H W K"]:
        l = int(self.filter_size)
        shape = (l, l, h.shape[-1], int(self.features))
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        bias = self.param("bias", nn.initializers.zeros, (int(self.features),))
        if self.frozen:
            kernel, bias = jax.lax.stop_gradient(kernel), jnp.zeros_like(bias)
        return ConvOperator(kernel, h.shape[1:3], padding="same").mv(h) + bias


class SmallCNN(nn.Module):
    """``L`` blocks of conv (``"same"``) → ReLU → batch norm → 2 × 2 max pool, then
    ``nn.Dense(num_classes)`` on the flattened last pooled map.

    ``__call__(x, train=False)`` returns the logits ``(B, num_classes)`` for ``x``
    ``(B, H, W, C)``; ``activations(x)`` returns every block's intermediate arrays.
    In training mode batch norm uses the batch's statistics (and updates ``batch_stats``).
    """

    widths: Sequence[int]
    filter_size: int = 3
    num_classes: int = 10
    frozen_filters: bool = False

    def _block(self, i: int, h: jax.Array, train: bool) -> dict:
        response = SameConv(
            int(self.widths[i]), int(self.filter_size), bool(self.frozen_filters), name=f"block_{i}"
        )(h)
        relu = nn.relu(response)
        normalized = nn.BatchNorm(
            use_running_average=not train,
            momentum=0.9,
            use_scale=not self.frozen_filters,
            use_bias=not self.frozen_filters,
            name=f"norm_{i}",
        )(relu)
        pooled = nn.max_pool(normalized, POOL, strides=POOL, padding="VALID")
        return {
            "input": h,
            "response": response,
            "relu": relu,
            "normalized": normalized,
            "pooled": pooled,
        }

    @nn.compact
    def activations(
        self, x: Float[ArrayLike, "B H W C"], train: bool = False
    ) -> tuple[list[dict], Float[Array, "B num_classes"]]:
        """Every block's arrays and the logits.

        Returns:
            ``(blocks, logits)``; ``blocks[i]`` has ``input`` (what block ``i``'s convolution
            sees), ``response`` (``W x + b``), ``relu``, ``normalized`` (after batch norm) and
            ``pooled`` (block ``i + 1``'s input).
        """
        h = jnp.asarray(x)
        if h.ndim != 4:
            raise ValueError(f"x must have shape (batch, height, width, channels); got {h.shape}")
        blocks = []
        for i in range(len(self.widths)):
            out = self._block(i, h, train)
            blocks.append(out)
            h = out["pooled"]
        logits = nn.Dense(int(self.num_classes), name="classifier")(h.reshape(h.shape[0], -1))
        return blocks, logits

    def __call__(
        self, x: Float[ArrayLike, "B H W C"], train: bool = False
    ) -> Float[Array, "B num_classes"]:
        return self.activations(x, train)[1]


def block_kernel(variables: Any, index: int) -> Float[Array, "l l M K"]:
    """Block ``index``'s filters ``(l, l, M, K)`` from a :class:`SmallCNN`'s variables."""
    params = variables["params"] if "params" in variables else variables
    name = f"block_{index}"
    if name not in params:
        raise ValueError(f"variables hold no {name!r}; they hold {sorted(params)}")
    return params[name]["kernel"]


def block_operator(variables: Any, index: int, in_spatial: Sequence[int]) -> ConvOperator:
    """Block ``index``'s ``W`` (``"same"`` padding, stride 1, no bias) on ``in_spatial`` maps."""
    return ConvOperator(block_kernel(variables, index), tuple(in_spatial), padding="same")
