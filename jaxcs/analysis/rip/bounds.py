"""Closed forms of the model-RIP: the δ that extreme quotients imply, and Theorem 3.3's bound on
the one-step reconstruction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxcs._validate import is_traced


def delta_lower_bound_from(
    eig_min: Float[ArrayLike, "*#shape"], eig_max: Float[ArrayLike, "*#shape"]
) -> Float[Array | np.ndarray, "*shape"]:
    """``max(1 − eig_min, eig_max − 1)``: the δ that extreme quotients ``‖Φz‖²/‖z‖²`` imply.

    The one formula behind every δ of jaxcs (:attr:`RIPEstimate.delta_lower_bound`, its
    random-code variant from the squared ratios ``‖Wᵀz‖²/‖z‖²``, and the Fig. 2 report). A
    quotient observed on a code of the model gives a lower bound on that model's ``δ``.

    Args:
        eig_min, eig_max: smallest and largest observed quotient, broadcastable arrays or
            Python/NumPy numbers. A non-finite entry (NaN, or the ``+inf``/``−inf`` of
            :class:`Statistics` without any finite sample) means "unknown".

    Returns:
        The bound, of the broadcast shape: NaN where either input is not finite. A JAX array
        when either input is one (jit-able), else a NumPy float64 array (so that Python floats
        are not rounded to float32).
    """
    xp = jnp if isinstance(eig_min, jax.Array) or isinstance(eig_max, jax.Array) else np
    lo, hi = xp.asarray(eig_min), xp.asarray(eig_max)
    bound = xp.maximum(1 - lo, hi - 1)
    return xp.where(xp.isfinite(lo) & xp.isfinite(hi), bound, xp.nan)


def theorem_3_3_bound(
    delta_k: Float[ArrayLike, "*#shape"], delta_2k: Float[ArrayLike, "*#shape"]
) -> Float[Array, "*shape"]:
    """Theorem 3.3: ``‖x̂ − x‖ / ‖x‖ ≤ 5 δ_2k/(1 − δ_k) · sqrt(1 + δ_2k)/sqrt(1 − δ_2k)``.

    The bound on the one-step reconstruction ``x̂ = Wᵀ 𝕄(W x, k)`` when ``Wᵀ`` has the
    𝓜_k²-RIP with ``0 ≤ δ_k ≤ δ_2k < 1``. Outside that range the theorem says nothing and the
    result is ``inf`` (traced inputs) or a ``ValueError`` (concrete inputs).
    """
    dk, d2k = jnp.asarray(delta_k), jnp.asarray(delta_2k)
    if not is_traced(dk) and not is_traced(d2k):
        a, b = np.asarray(dk), np.asarray(d2k)
        if (
            np.isnan(a).any()
            or np.isnan(b).any()
            or (a < 0).any()
            or (a > b).any()
            or (b >= 1).any()
        ):
            raise ValueError(
                f"theorem_3_3_bound needs 0 <= delta_k <= delta_2k < 1; got delta_k={delta_k}, "
                f"delta_2k={delta_2k}"
            )
    valid = (dk >= 0) & (dk <= d2k) & (d2k < 1)
    bound = 5 * d2k / (1 - dk) * jnp.sqrt((1 + d2k) / (1 - d2k))
    unknown = jnp.isnan(dk) | jnp.isnan(d2k)
    return jnp.where(unknown, jnp.nan, jnp.where(valid, bound, jnp.inf))
