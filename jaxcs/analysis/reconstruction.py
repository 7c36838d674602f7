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

from jaxcs._validate import is_int, positive_int
from jaxcs.models import RegionModel
from jaxcs.solvers import IHT, recover


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

    A thin call of the driver: :func:`jaxcs.recover` with :class:`~jaxcs.IHT` for exactly
    ``num_steps`` steps (``tol=0``, no divergence stop: an exact fixed point stays put, which
    is what further steps would give). ``switches="fixed"`` (``𝕄_fixed``, not a projection,
    model.md §5) is defined for the single step only: ``𝕄_fixed(μ W x, k)``.

    Args:
        op: the layer ``W`` (any operator).
        x: ``(*batch, *op.in_shape)`` signals.
        model: the sparsity model of the codes (its ``project`` is ``𝕄``).
        num_steps: static number of steps (``≥ 1``).
        step_size: ``μ``.
        switches: ``"known"`` or ``"fixed"`` (``num_steps=1`` only).

    Returns:
        ``(*batch, *op.out_shape)`` codes.
    """
    num_steps = positive_int(num_steps, "num_steps")
    if switches == "fixed":
        if num_steps != 1:
            raise ValueError(
                f"switches='fixed' is defined for one step (num_steps=1); got {num_steps}"
            )
        x = jnp.asarray(x)

        def project(v):
            return model.project(v, switches="fixed")

        return map_codes(project, step_size * op.mv(x), len(op.out_shape))
    if switches != "known":
        raise ValueError(f"switches must be 'known' or 'fixed'; got {switches!r}")
    # one step from z = 0 needs W x only: no correlation table to build for it
    gradient = "conv" if num_steps == 1 else "auto"
    solution = recover(
        op,
        x,
        model,
        IHT(step_size, gradient=gradient),
        max_steps=num_steps,
        tol=0.0,
        mode="scan",
        divergence_factor=float("inf"),
    )
    return solution.z


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
    either input is non-finite: it is reported, not hidden).

    Raises:
        ValueError: ``x`` and ``x_hat`` of different shapes, or ``signal_ndim`` not an int in
            ``[1, x.ndim]`` (checked on the static shapes, so also under ``jit``).
    """
    x, x_hat = jnp.asarray(x), jnp.asarray(x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape; got x {x.shape} and x_hat {x_hat.shape}"
        )
    if isinstance(signal_ndim, bool) or not is_int(signal_ndim) or not 1 <= signal_ndim <= x.ndim:
        raise ValueError(
            f"signal_ndim must be an int in [1, x.ndim = {x.ndim}] (the trailing axes of one "
            f"signal); got {signal_ndim!r}"
        )
    signal_ndim = int(signal_ndim)
    axes = tuple(range(-signal_ndim, 0))
    diff = jnp.sqrt(jnp.sum((x - x_hat) ** 2, axis=axes))
    norm = jnp.sqrt(jnp.sum(x**2, axis=axes))
    return diff / jnp.where(norm > 0, norm, jnp.nan)
