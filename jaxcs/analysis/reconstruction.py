"""One CNN layer as one IHT step, and the paper's reconstruction ``x̂ = Wᵀ 𝕄(W x, k)`` (§7).

Model-based IHT (Algorithm 1) with ``Φ = Wᵀ`` and step size ``μ``::

    z_0 = 0;   z_i = 𝕄(z_{i−1} + μ W (x − Wᵀ z_{i−1}), k)

From ``z_0 = 0`` the first step is ``z_1 = 𝕄(μ W x, k)``: convolution, (ReLU,) max pooling and
unpooling — one CNN layer. The paper's reconstruction is that single step decoded with the tied
weights, ``x̂ = Wᵀ z_1``.

Recovery experiments score a recovered code ``ẑ`` against the true one ``z`` with
:func:`code_error` (``‖ẑ − z‖₂ / ‖z‖₂`` per code), :func:`support_recovered` (the exact support, or
the active regions of a model) and :func:`success_rate`. A code is a *success* when its relative
error is below :data:`SUCCESS_TOLERANCE` (``10⁻³``), :func:`is_success`: the phase-transition
criterion of the sweeps (``run.success_tolerance``, the ``successes`` column of their tables).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Shaped

from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import is_int, is_traced, positive_int
from jaxcs.models import RegionModel, check_switches, max_pool
from jaxcs.solvers import IHT, recover

SUCCESS_TOLERANCE = 1e-3
"""The default success tolerance of recovery: a relative error below it is a success (the sweeps'
``run.success_tolerance`` default)."""


def map_codes(
    fn: Callable[[Shaped[Array, "*code"]], Shaped[Array, "*out"]],
    v: Shaped[ArrayLike, "*batch_code"],
    code_ndim: int,
) -> Shaped[Array, "*batch_out"]:
    """Apply ``fn`` (acting on one code of ``code_ndim`` axes) over ``v``'s leading batch axes."""
    v = jnp.asarray(v)
    batch, core = v.shape[: v.ndim - code_ndim], v.shape[v.ndim - code_ndim :]
    out = jax.vmap(fn)(v.reshape((-1,) + core))
    return out.reshape(batch + out.shape[1:])


def iht_codes(
    op,
    x: Float[Array, "*batch_in_shape"],
    model: RegionModel,
    num_steps: int = 1,
    *,
    step_size=1.0,
    switches: str = "known",
) -> Float[Array, "*batch_out_shape"]:
    """``num_steps`` steps of model-based IHT from ``z_0 = 0`` (Algorithm 1), step size 1 as
    in the paper. ``num_steps=1`` is one CNN layer, ``𝕄(W x, k)``.

    A thin call of the driver: :func:`jaxcs.recover` with :class:`~jaxcs.IHT` for exactly
    ``num_steps`` steps (``tol=0``, no divergence stop: an exact fixed point stays put, which
    is what further steps would give). ``switches="fixed"`` (``𝕄_fixed``, not a projection,
    eqs. 2–3) is defined for the single step only: ``𝕄_fixed(μ W x, k)``.

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
    if check_switches(switches) == "fixed":
        if num_steps != 1:
            raise ValueError(
                f"switches='fixed' is defined for one step (num_steps=1); got {num_steps}"
            )
        x = jnp.asarray(x)

        def project(v):
            return model.project(v, switches="fixed")

        return map_codes(project, step_size * op.mv(x), len(op.out_shape))
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
    op, x: Float[Array, "*batch_in_shape"], model: RegionModel, *, switches: str = "known"
) -> Float[Array, "*batch_in_shape"]:
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


def _check_pair(a, b, names: tuple[str, str], ndim, ndim_name: str):
    """Same shapes, and ``ndim`` an int in ``[1, a.ndim]`` (static checks, so also under jit)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape; got {names[0]} {a.shape} and "
            f"{names[1]} {b.shape}"
        )
    if isinstance(ndim, bool) or not is_int(ndim) or not 1 <= ndim <= a.ndim:
        raise ValueError(
            f"{ndim_name} must be an int in [1, {names[0]}.ndim = {a.ndim}] (the trailing axes of "
            f"one {'signal' if ndim_name == 'signal_ndim' else 'code'}); got {ndim!r}"
        )
    return tuple(range(-int(ndim), 0))


def _check_number(value, name: str, *, strict: bool) -> None:
    """A concrete real scalar ``> 0`` (``strict``) or ``≥ 0``, else a ValueError; traced values
    pass unchecked."""
    if is_traced(value):
        return
    array = None if isinstance(value, bool) else np.asarray(value)
    ok = (
        array is not None
        and array.ndim == 0
        and (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer))
        and bool(array > 0 if strict else array >= 0)
    )
    if not ok:
        raise ValueError(f"{name} must be a number {'>' if strict else '>='} 0; got {value!r}")


def _all_finite(a, b, axes):
    return jnp.all(jnp.isfinite(a), axis=axes) & jnp.all(jnp.isfinite(b), axis=axes)


def _relative(x, x_hat, axes):
    diff = jnp.sqrt(jnp.sum((x - x_hat) ** 2, axis=axes))
    norm = jnp.sqrt(jnp.sum(x**2, axis=axes))
    error = diff / jnp.where(norm > 0, norm, jnp.nan)
    return jnp.where(_all_finite(x, x_hat, axes), error, jnp.nan)


def relative_error(
    x: Float[ArrayLike, "*batch_signal"], x_hat: Float[ArrayLike, "*batch_signal"], signal_ndim: int
) -> Float[Array, "*batch"]:
    """``‖x − x̂‖₂ / ‖x‖₂`` over the trailing ``signal_ndim`` axes (NaN where ``x`` is 0 or
    either input is non-finite: it is reported, not hidden).

    Raises:
        ValueError: ``x`` and ``x_hat`` of different shapes, or ``signal_ndim`` not an int in
            ``[1, x.ndim]`` (checked on the static shapes, so also under ``jit``).
    """
    x, x_hat = jnp.asarray(x), jnp.asarray(x_hat)
    axes = _check_pair(x, x_hat, ("x", "x_hat"), signal_ndim, "signal_ndim")
    return _relative(x, x_hat, axes)


def code_error(
    z_hat: Float[ArrayLike, "*batch_code"], z: Float[ArrayLike, "*batch_code"], *, code_ndim: int
) -> Float[Array, "*batch"]:
    """The relative error ``‖ẑ − z‖₂ / ‖z‖₂`` of each code: :func:`relative_error` of codes.

    Args:
        z_hat: ``(*batch, *code)`` recovered codes.
        z: the true codes, the same shape.
        code_ndim: the number of trailing axes of one code (3 for ``(H, W, K)`` codes).

    Returns:
        ``(*batch)`` errors. NaN for a code with a non-finite entry in ``z_hat`` or ``z``, and
        for a zero true code (``z = 0``: a relative error is undefined, even for ``ẑ = 0``;
        :func:`support_recovered` scores it), as :func:`relative_error`: reported, not hidden.

    Raises:
        ValueError: shapes that differ (the message names both) or ``code_ndim`` not an int in
            ``[1, z_hat.ndim]``; checked on the static shapes, so also under ``jit``.
    """
    z_hat, z = jnp.asarray(z_hat), jnp.asarray(z)
    axes = _check_pair(z_hat, z, ("z_hat", "z"), code_ndim, "code_ndim")
    return _relative(z, z_hat, axes)


def is_success(
    error: Float[Array | np.ndarray, "*shape"], tol: Float[ArrayLike, ""] = SUCCESS_TOLERANCE
) -> Bool[Array | np.ndarray, "*shape"]:
    """The success criterion of recovery: ``error < tol`` (strict; NaN is a failure).

    The one definition shared by :func:`success_rate` and the sweeps (their ``successes``):
    elementwise on a NumPy or JAX array of relative errors, NumPy in, NumPy out.

    Raises:
        ValueError: a concrete ``tol`` that is not a number ``> 0`` (traced ones pass).
    """
    _check_number(tol, "tol", strict=True)
    return error < tol


class SuccessRate(Pytree):
    """Result of :func:`success_rate`.

    Attributes:
        rate: ``successes / codes`` (NaN for no codes).
        successes: codes whose relative error is below ``tol`` (:func:`is_success`).
        nonfinite: codes with a NaN or infinite entry in ``z_hat`` or ``z``: failures, counted
            here so that a NaN never passes as a plain miss.
        zero: finite codes whose true code is 0: the relative error is undefined, so they are
            failures too (count them apart, or score them with :func:`support_recovered`).
        codes: the number of codes (static).
    """

    rate: Float[Array, ""]
    successes: Int[Array, ""]
    nonfinite: Int[Array, ""]
    zero: Int[Array, ""]
    codes: int = static_field()


def success_rate(
    z_hat: Float[ArrayLike, "*batch_code"],
    z: Float[ArrayLike, "*batch_code"],
    *,
    code_ndim: int | None = None,
    tol: Float[ArrayLike, ""] = SUCCESS_TOLERANCE,
) -> SuccessRate:
    """The fraction of codes recovered: relative error ``‖ẑ − z‖₂ / ‖z‖₂ < tol``.

    The phase-transition success criterion, as in the sweeps (:func:`is_success`, default
    ``tol =`` :data:`SUCCESS_TOLERANCE` ``= 10⁻³``; an error equal to ``tol`` is a failure).
    Codes with a non-finite entry and zero true codes are failures, each counted in the result.

    Args:
        z_hat: ``(*batch, *code)`` recovered codes.
        z: the true codes, the same shape.
        code_ndim: the number of trailing axes of one code. Default: every axis after the
            first (a batch of codes along axis 0, as ``recover`` returns for a batch of
            signals); a 1-D array is one code. Pass it for an unbatched code of several axes
            or several batch axes.
        tol: the success tolerance (``> 0``; may be traced).

    Returns:
        A :class:`SuccessRate` over all ``prod(batch)`` codes (``jax.vmap`` it to get one
        rate per slice of a batch axis).

    Raises:
        ValueError: as :func:`code_error`, or a bad ``tol``.
    """
    z_hat, z = jnp.asarray(z_hat), jnp.asarray(z)
    if code_ndim is None:
        code_ndim = max(z.ndim - 1, 1)
    axes = _check_pair(z_hat, z, ("z_hat", "z"), code_ndim, "code_ndim")
    success = is_success(_relative(z, z_hat, axes), tol)
    finite = _all_finite(z_hat, z, axes)
    zero = finite & jnp.all(z == 0, axis=axes)
    codes = math.prod(z.shape[: z.ndim - len(axes)])
    successes = jnp.sum(success, dtype=jnp.int32)
    return SuccessRate(
        rate=successes / jnp.where(codes > 0, codes, jnp.nan),
        successes=successes,
        nonfinite=jnp.sum(~finite, dtype=jnp.int32),
        zero=jnp.sum(zero, dtype=jnp.int32),
        codes=codes,
    )


def support_recovered(
    z_hat: Float[ArrayLike, "*batch_code"],
    z: Float[ArrayLike, "*batch_code"],
    *,
    code_ndim: int,
    model: RegionModel | None = None,
    threshold: Float[ArrayLike, ""] = 0.0,
) -> Bool[Array, "*batch"]:
    """Whether each recovered code has exactly the support of the true one.

    The support of a code is where ``|v| > threshold`` (``threshold = 0``: its non-zeros). With
    ``model``, the codes are compared by their *active regions* (a region is active when it
    holds a support entry) instead: the right regions, whichever cell (switch) of each. Without
    it, for codes of a pooling model (one non-zero per region) an exact match is the same
    active regions *and* the same switches.

    Args:
        z_hat: ``(*batch, *code)`` recovered codes.
        z: the true codes, the same shape.
        code_ndim: the number of trailing axes of one code (with ``model``: a code
            ``(*spatial, K)`` of the model).
        model: compare active regions of this model instead of entries.
        threshold: entries of magnitude at most this are zeros (``≥ 0``), for both codes.

    Returns:
        ``(*batch)`` booleans; ``False`` for a code with a non-finite entry in ``z_hat`` or
        ``z``. Two zero codes match (an empty support is recovered by ``ẑ = 0``).

    Raises:
        ValueError: as :func:`code_error`, a negative ``threshold``, or a code shape that
            ``model`` does not fit.
    """
    z_hat, z = jnp.asarray(z_hat), jnp.asarray(z)
    axes = _check_pair(z_hat, z, ("z_hat", "z"), code_ndim, "code_ndim")
    _check_number(threshold, "threshold", strict=False)
    finite = _all_finite(z_hat, z, axes)
    support_hat, support = jnp.abs(z_hat) > threshold, jnp.abs(z) > threshold
    if model is not None:
        window = model.region_shape(z.shape[z.ndim - len(axes) :])  # its k plays no part

        def active(s):
            return max_pool(s.astype(jnp.float32), window)[0] > 0

        support_hat = map_codes(active, support_hat, len(axes))
        support = map_codes(active, support, len(axes))
    match = jnp.all(support_hat == support, axis=axes)
    return match & finite
