"""Per-code model-RIP quantities of a batch of codes: the ratios ``‖Wᵀz‖/‖z‖`` and
``‖(WWᵀz)_S‖/‖z‖`` and the extreme quotients of each code's restricted Gram ``G_S``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxcs.analysis.rip.spectrum.eigenvalues import extreme_eigenvalues
from jaxcs.analysis.rip.spectrum.orthant import orthant_extremes
from jaxcs.models import SparseCode
from jaxcs.operators import restricted_gram


def code_quantities(
    op,
    code: SparseCode,
    *,
    method: str = "gram",
    eigenvalues: bool = False,
    full_ratio: bool = False,
    table=None,
    nonnegative: bool = False,
) -> dict[str, Float[Array, " B"]]:
    """Per-code RIP quantities for a batch of index-form codes.

    One compiled program per configuration and shape when called eagerly (``method``,
    ``eigenvalues``, ``full_ratio`` and ``nonnegative`` are static); inside a trace it is
    inlined like any jitted function.

    Args:
        op: the layer ``W``.
        code: a :class:`SparseCode` with ``(B, capacity)`` arrays.
        method: ``"gram"`` (from the restricted Gram) or ``"conv"`` (two convolutions).
        eigenvalues: add ``eig_min``/``eig_max``, the extreme Rayleigh quotients of each
            restricted Gram ``G_S`` over the model's codes on ``S``.
        full_ratio: add the unrestricted ``ratio_wwt_full``.
        table: a precomputed correlation table (optional).
        nonnegative: the codes' model is non-negative: ``eig_min``/``eig_max`` are then the
            extremes over ``z ≥ 0`` (:func:`orthant_extremes`, started from ``|code.values|``)
            instead of the eigenvalues of ``G_S``.

    Returns:
        ``{"ratio_wt", "ratio_wwt"[, "ratio_wwt_full"][, "eig_min", "eig_max"]}``, each ``(B,)``.
    """
    z = code.values
    batch = z.shape[0]
    znorm = jnp.linalg.norm(z, axis=-1)
    # A non-finite operator makes every quantity non-finite, whichever entries a code touches,
    # so that the gram and conv paths report the same thing.
    znorm = jnp.where(op.is_finite(), znorm, jnp.nan)
    out = {}
    gram = None
    if method == "gram" or eigenvalues:
        # The whole G_S in one gather: on CPU the gather of only its distinct entries (the
        # triangle) and their expansion cost more than the duplicate entries save.
        gram = restricted_gram(op, code.indices, code.mask, table=table)
    if method == "gram":
        gz = jnp.einsum("bij,bj->bi", gram, z)
        quadratic = jnp.einsum("bi,bi->b", z, gz)
        out["ratio_wt"] = jnp.sqrt(jnp.maximum(quadratic, 0)) / znorm
        out["ratio_wwt"] = jnp.linalg.norm(gz, axis=-1) / znorm
    elif method != "conv":
        raise ValueError(f"method must be 'gram' or 'conv'; got {method!r}")
    if method == "conv" or full_ratio:
        x = op.rmv(code.to_dense())
        y = op.mv(x).reshape(batch, -1)
        if method == "conv":
            out["ratio_wt"] = jnp.linalg.norm(x.reshape(batch, -1), axis=-1) / znorm
            on_support = jnp.where(code.mask, jnp.take_along_axis(y, code.indices, axis=-1), 0)
            out["ratio_wwt"] = jnp.linalg.norm(on_support, axis=-1) / znorm
        if full_ratio:
            out["ratio_wwt_full"] = jnp.linalg.norm(y, axis=-1) / znorm
    if eigenvalues:
        assert gram is not None  # gathered above whenever eigenvalues are asked for
        if nonnegative:  # only codes z >= 0 are in the model: the orthant's extremes
            eig_min, eig_max = orthant_extremes(gram, z, code.mask)
        else:  # the exact extremes of the used block of every G_S
            eig_min, eig_max = extreme_eigenvalues(gram, code.mask)
        # (the orthant ascent's eigh does not propagate NaN) a non-finite Gram, a non-finite
        # operator or an empty support gives non-finite extremes
        finite = jnp.all(jnp.isfinite(gram), axis=(-2, -1)) & jnp.isfinite(znorm)
        finite = finite & jnp.any(code.mask, axis=-1)  # an empty support (traced k = 0)
        out["eig_min"] = jnp.where(finite, eig_min, jnp.nan)
        out["eig_max"] = jnp.where(finite, eig_max, jnp.nan)
    return out


code_ratios = jax.jit(
    code_quantities, static_argnames=("method", "eigenvalues", "full_ratio", "nonnegative")
)
