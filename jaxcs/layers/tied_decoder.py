"""The tied-weight decoder read backwards: a stack's own weights undo it from the top layer down.

``x̂ = W_1ᵀ U_1(W_2ᵀ U_2(… W_Lᵀ h_L))``: each layer's ``Wᵀ`` (the transposed convolution, no
bias, no ReLU) takes its code to its input, which is the layer below's pooled map; ``U_i`` puts
that map back at layer ``i``'s pooling switches (undoing whatever else the layer applied after
its convolution, e.g. a batch norm), giving layer ``i``'s code. :func:`~jaxcs.layers.decode_stack`
reads an :class:`~jaxcs.layers.IHTEncoder` so; the paper's trained networks are read the same
way (``jaxcs.experiments.networks.tied_decode``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
from jaxtyping import Array, Float

Step = Callable[[jax.Array], jax.Array]


def decode_backwards(
    code: Float[Array, "*batch_code"], transposes: Sequence[Step], unpools: Sequence[Step]
) -> Float[Array, "*batch_in_shape"]:
    """``x̂ = W_1ᵀ U_1(… W_{L−1}ᵀ U_{L−1}(W_Lᵀ h_L))`` from the top layer's code ``h_L``.

    Args:
        code: ``h_L``, the top layer's code.
        transposes: ``L`` maps ``u ↦ W_iᵀ u``, bottom layer first: layer ``i``'s code to its
            input.
        unpools: ``L − 1`` maps ``U_i``, bottom layer first: layer ``i``'s pooled map (the
            decoded input of layer ``i + 1``) to layer ``i``'s code, at its switches.

    Returns:
        ``x̂``, the bottom layer's input, as ``transposes[0]`` returns it.
    """
    if len(unpools) != len(transposes) - 1:
        raise ValueError(
            f"unpools must hold one map per layer below the top ({len(transposes) - 1}); got "
            f"{len(unpools)}"
        )
    u = y = code
    for i in reversed(range(len(transposes))):
        y = transposes[i](u)
        if i > 0:
            u = unpools[i - 1](y)
    return y


__all__ = ["decode_backwards"]
