"""Stacks of IHT layers and their tied-weight decoder, in Flax (eqs. 2–3, Algorithm 1).

:class:`IHTEncoder` runs :class:`~jaxcs.layers.IHTLayer` s one after the other, each on the
previous layer's *pooled* map; :func:`decode_stack` inverts the stack with the tied weights,
``x̂ = W_1ᵀ unpool_1(… W_{L−1}ᵀ unpool_{L−1}(W_Lᵀ h_L))``, using the switches the encoder
recorded. For one layer it is the one-step reconstruction ``Wᵀ 𝕄(W x, k)`` (Algorithm 1).

Layout as in :mod:`jaxcs.layers.iht_layer`: channels last, any number of leading batch axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from jaxcs.layers.iht_layer import IHTLayer, LayerOutput, _over_batch, _pool_size, decode_layer
from jaxcs.layers.tied_decoder import decode_backwards
from jaxcs.models import unpool


class IHTEncoder(nn.Module):
    """A stack of :class:`~jaxcs.layers.IHTLayer` s: each layer encodes the previous layer's
    pooled map.

    ``__call__(x)`` runs ``r_1 = layer_1(x)``, ``r_2 = layer_2(r_1.pooled)``, … and returns
    the tuple ``(r_1, …, r_L)`` of :class:`~jaxcs.layers.LayerOutput`. Flax names the layers'
    params ``layers_0``, ``layers_1``, … (``variables['params']['layers_i']['conv']['kernel']``).
    The tied-weight decoder is :func:`decode_stack` (or the method :meth:`decode`).

    Attributes:
        layers: the layer configurations, unbound :class:`~jaxcs.layers.IHTLayer` instances,
            all with the same number of spatial axes. Layer ``i`` takes ``M`` = layer ``i−1``'s
            ``features`` (set by ``init``).

    Raises:
        ValueError: naming ``layers`` when it is empty, holds something that is not an
            :class:`~jaxcs.layers.IHTLayer`, or mixes numbers of spatial axes.
    """

    layers: Sequence[IHTLayer]

    def __post_init__(self):
        layers = self.layers
        if isinstance(layers, IHTLayer) or not isinstance(layers, Sequence) or not layers:
            raise ValueError(
                f"layers must be a non-empty sequence of IHTLayer configurations; got {layers!r}"
            )
        for i, layer in enumerate(layers):
            if not isinstance(layer, IHTLayer):
                raise ValueError(f"layers[{i}] must be an IHTLayer; got {type(layer).__name__}")
        dims = {len(layer.kernel_size) for layer in layers}
        if len(dims) != 1:
            raise ValueError(
                "layers must all have the same number of spatial axes (len(kernel_size)); got "
                f"{[len(layer.kernel_size) for layer in layers]}"
            )
        super().__post_init__()

    def __call__(self, x: Float[ArrayLike, "*batch_in_spatial M"]) -> tuple[LayerOutput, ...]:
        """Encode ``x`` layer by layer.

        Args:
            x: ``(*batch, *in_spatial, M)``.

        Returns:
            One :class:`~jaxcs.layers.LayerOutput` per layer; layer ``i``'s arrays are
            ``(*batch, *out_spatial_i, K_i)`` and ``(*batch, *pooled_i, K_i)``.
        """
        results = []
        h = x
        for layer in self.layers:
            out = layer(h)
            results.append(out)
            h = out.pooled
        return tuple(results)

    def decode(
        self,
        results: Sequence[LayerOutput],
        in_spatial: Sequence[int],
        code: Float[ArrayLike, "*batch_out_spatial K"] | None = None,
    ) -> Float[Array, "*batch_in_spatial M"]:
        """The tied-weight decoder as a method: call as
        ``encoder.apply(variables, results, in_spatial, method=IHTEncoder.decode)``.

        Args:
            results: the encoder's output for the input being decoded.
            in_spatial: the spatial shape of the encoder's input.
            code: optional replacement for the top layer's code.

        Returns:
            ``x̂``, ``(*batch, *in_spatial, M_1)``; see :func:`decode_stack`.
        """
        return decode_stack(self, self.variables, results, in_spatial, code=code)


def _layer_params(params: Any, index: int) -> Any:
    """Layer ``index``'s subtree ``layers_{index}`` of an encoder's variables or params."""
    tree = params
    if isinstance(tree, Mapping) and "params" in tree:
        tree = tree["params"]
    name = f"layers_{index}"
    if not isinstance(tree, Mapping) or name not in tree:
        raise ValueError(
            f"params must be the encoder's variables (or variables['params']) with one subtree "
            f"per layer named 'layers_0', 'layers_1', ...; {name!r} is missing"
        )
    return tree[name]


def decode_stack(
    encoder: IHTEncoder | Sequence[IHTLayer],
    params: Any,
    results: Sequence[LayerOutput],
    in_spatial: Sequence[int],
    *,
    code: Float[ArrayLike, "*batch_out_spatial K"] | None = None,
) -> Float[Array, "*batch_in_spatial M"]:
    """The tied-weight decoder of a stack: ``x̂ = W_1ᵀ unpool_1(… W_{L−1}ᵀ unpool_{L−1}(W_Lᵀ h_L))``.

    Exactly what is done (no ReLU and no bias anywhere; the decoder is linear given the
    switches, as the paper's ``x̂ = Wᵀ 𝕄(W x, k)``, Algorithm 1):

    1. ``u = h_L``, the last layer's code (``results[-1].code``, or ``code`` if given), shape
       ``(*batch, *out_spatial_L, K_L)``.
    2. For ``i = L, …, 1`` (:func:`~jaxcs.layers.decode_backwards`): ``y = W_iᵀ u``
       (:func:`~jaxcs.layers.decode_layer`), shape ``(*batch, *in_spatial_i, M_i)``. For
       ``i > 1``, ``y`` has the shape of layer ``i−1``'s pooled map and stands in for it:
       ``u = unpool(y, results[i−2].switches)`` puts each value back at the position that
       layer ``i−1``'s max pooling recorded (every region, including regions that layer
       ``i−1``'s budget ``k`` zeroed: the budget acted on the encoder's values, not on these).
       For ``i = 1``, ``x̂ = y``.

    ReLU switch rule: a region of layer ``i−1`` whose conv values were all ``≤ 0`` (pooled
    value 0 under ``relu=True``) still has a switch, the argmax of its pre-ReLU values (the
    least negative entry, the lowest index on ties); ``y``'s value for that region is unpooled
    there, so it reaches ``x̂`` even though the encoder passed 0 up from that region.

    For one layer this is :func:`~jaxcs.layers.decode_layer` of the code, the one-step
    reconstruction.

    Args:
        encoder: the :class:`IHTEncoder` (or its sequence of layers), read for the layers'
            configurations.
        params: the encoder's variables or ``variables['params']`` (subtrees ``layers_i``).
        results: the encoder's output for the input being decoded, one
            :class:`~jaxcs.layers.LayerOutput` per layer (only ``switches`` and the shapes of
            ``pooled``/``code`` are used below the top layer).
        in_spatial: the spatial shape of the encoder's input ``x`` (needed because ``"same"``
            padding with stride > 1 maps several input sizes to one output size).
        code: optional replacement for the top layer's code ``h_L`` (e.g. a code recovered by
            another solver), ``(*batch, *out_spatial_L, K_L)``.

    Returns:
        ``x̂``, ``(*batch, *in_spatial, M_1)``.

    Raises:
        ValueError: naming ``results`` (wrong number of layers), ``params`` (a layer's subtree
            is missing) or ``code``/``in_spatial`` (shapes that do not fit the layers).
    """
    layers = tuple(encoder.layers if isinstance(encoder, IHTEncoder) else encoder)
    if not layers or not all(isinstance(layer, IHTLayer) for layer in layers):
        raise ValueError("encoder must be an IHTEncoder or a non-empty sequence of IHTLayer")
    results = tuple(results)
    if len(results) != len(layers):
        raise ValueError(
            f"results must hold one LayerOutput per layer ({len(layers)}); got {len(results)}"
        )
    d = len(layers[0].kernel_size)

    def transpose(i: int):  # layer i's code -> its input
        layer_in = in_spatial if i == 0 else tuple(results[i - 1].pooled.shape[-d - 1 : -1])
        return lambda u: decode_layer(layers[i], _layer_params(params, i), u, layer_in)

    def unpool_at_switches(i: int):  # layer i + 1's decoded input -> layer i's code
        def unpool_layer(y):
            switches = jnp.asarray(results[i].switches)
            if y.shape != switches.shape:
                raise ValueError(
                    f"results[{i}].switches has shape {switches.shape}, but layer {i + 1}'s "
                    f"decoded map has shape {y.shape} (batch axes of code and results differ?)"
                )
            pool_size = _pool_size(layers[i])
            out_spatial = tuple(results[i].code.shape[-d - 1 : -1])
            return _over_batch(
                lambda v, s, w=pool_size, n=out_spatial: unpool(v, s, w, n), [y, switches], d + 1
            )

        return unpool_layer

    return decode_backwards(
        results[-1].code if code is None else jnp.asarray(code),
        [transpose(i) for i in range(len(layers))],
        [unpool_at_switches(i) for i in range(len(layers) - 1)],
    )


__all__ = ["IHTEncoder", "decode_stack"]
