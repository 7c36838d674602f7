"""The ± filter pairs of Proposition 1 of the paper: a ReLU layer loses nothing.

With ``Ψ = [Wᵀ, −Wᵀ]``, ``Ψ · ReLU(Ψᵀ x) = Wᵀ W x``, so a ReLU layer with paired filters
carries the same information as the signed layer that the theory analyses (and its
ReLU-then-max pooling, per region, is the signed max-|·| pooling of ``W x``: whichever of the
pair's pooled values is larger, with its sign).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def plus_minus_filters(
    filters: Float[ArrayLike, "*filter_shape M K"],
) -> Float[Array, "*filter_shape M 2*K"]:
    """The ± filter pairs of Proposition 1: ``concat([w, −w], axis=-1)``.

    With ``W`` the layer of ``filters`` and ``Ψ = [Wᵀ, −Wᵀ]`` the synthesis operator of the
    paired filters, ``Ψᵀ x = [W x, −W x]``, ``ReLU(Ψᵀ x) = [ReLU(W x), ReLU(−W x)]`` and

        ``Ψ · ReLU(Ψᵀ x) = Wᵀ ReLU(W x) − Wᵀ ReLU(−W x) = Wᵀ W x``,

    so a ReLU layer with paired filters loses nothing against the signed layer the theory
    analyses. Channel ``i`` of the result is filter ``i`` and channel ``K + i`` its negative.

    Args:
        filters: ``(*filter_spatial, M, K)`` (Flax ``nn.Conv`` kernel layout).

    Returns:
        ``(*filter_spatial, M, 2K)``.

    Raises:
        ValueError: naming ``filters`` when it has fewer than 3 axes.
    """
    filters = jnp.asarray(filters)
    if filters.ndim < 3:
        raise ValueError(
            f"filters must have shape (*filter_spatial, M, K) with at least one spatial axis; "
            f"got shape {filters.shape}"
        )
    return jnp.concatenate([filters, -filters], axis=-1)


__all__ = ["plus_minus_filters"]
