"""One CNN layer as one IHT step, and the paper's reconstruction ``x̂ = Wᵀ 𝕄(W x, k)`` (§7).

Model-based IHT (Algorithm 1) with ``Φ = Wᵀ`` and step size ``μ``::

    z_0 = 0;   z_i = 𝕄(z_{i−1} + μ W (x − Wᵀ z_{i−1}), k)

From ``z_0 = 0`` the first step is ``z_1 = 𝕄(μ W x, k)``: convolution, (ReLU,) max pooling and
unpooling — one CNN layer. The paper's reconstruction is that single step decoded with the tied
weights, ``x̂ = Wᵀ z_1``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcs.arguments import positive_int
from jaxcs.models import RegionModel


def map_codes(fn: Callable[[jax.Array], jax.Array], v: jax.Array, code_ndim: int) -> jax.Array:
    """Apply ``fn`` (acting on one code of ``code_ndim`` axes) over ``v``'s leading batch axes."""
    v = jnp.asarray(v)
    batch, core = v.shape[: v.ndim - code_ndim], v.shape[v.ndim - code_ndim :]
    out = jax.vmap(fn)(v.reshape((-1,) + core))
    return out.reshape(batch + out.shape[1:])


def iht_codes(
    op,
    x: jax.Array,
    model: RegionModel,
    num_steps: int = 1,
    *,
    step_size=1.0,
    switches: str = "known",
) -> jax.Array:
    """``num_steps`` steps of model-based IHT from ``z_0 = 0`` (Algorithm 1), step size 1 as
    in the paper. ``num_steps=1`` is one CNN layer, ``𝕄(W x, k)``.

    Args:
        op: the layer ``W`` (``ConvOperator`` or any operator with ``mv``/``rmv``).
        x: ``(*batch, *op.in_shape)`` signals.
        model: the sparsity model of the codes (its ``project`` is ``𝕄``).
        num_steps: static number of steps (``≥ 1``).
        step_size: ``μ``.
        switches: ``"known"`` or ``"fixed"`` (model.md §5).

    Returns:
        ``(*batch, *op.out_shape)`` codes.
    """
    num_steps = positive_int(num_steps, "num_steps")
    x = jnp.asarray(x)
    code_ndim = len(op.out_shape)

    def project(v):
        return map_codes(lambda c: model.project(c, switches=switches), v, code_ndim)

    z = project(step_size * op.mv(x))

    def step(_, z):
        return project(z + step_size * op.mv(x - op.rmv(z)))

    return jax.lax.fori_loop(1, int(num_steps), step, z)


def one_step_reconstruction(
    op, x: jax.Array, model: RegionModel, *, switches: str = "known"
) -> jax.Array:
    """``x̂ = Wᵀ 𝕄(W x, k)``: encode with one CNN layer, decode with the tied weights (§7).

    Args:
        op: the layer ``W``.
        x: ``(*batch, *op.in_shape)``.
        model: sparsity model (``BlockModel(k)`` for Fig. 2, ``PoolingModel`` for real layers).
        switches: ``"known"`` (the argmax positions, ``𝕄_known``) or ``"fixed"``.

    Returns:
        ``x̂`` with the shape of ``x``.
    """
    return op.rmv(iht_codes(op, x, model, 1, switches=switches))


def relative_error(x: jax.Array, x_hat: jax.Array, signal_ndim: int) -> jax.Array:
    """``‖x − x̂‖₂ / ‖x‖₂`` over the trailing ``signal_ndim`` axes (NaN where ``x`` is 0 or
    either input is non-finite: it is reported, not hidden)."""
    axes = tuple(range(-signal_ndim, 0))
    diff = jnp.sqrt(jnp.sum((x - x_hat) ** 2, axis=axes))
    norm = jnp.sqrt(jnp.sum(x**2, axis=axes))
    return diff / jnp.where(norm > 0, norm, jnp.nan)
