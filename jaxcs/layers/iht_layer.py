"""The CNN layer as one IHT step, in Flax (Gilbert et al. 2017: eqs. 2–3, Algorithm 1).

One layer of a CNN without bias (convolution, ReLU, max pooling) followed by unpooling with
the recorded switches computes

    ``z = 𝕄_known(ReLU(W x), k) = unpool(block_sparsify(maxpool(ReLU(W x)), k), switches)``,

which is exactly the first step of model-based IHT (Algorithm 1) from ``z_0 = 0`` with step
size 1 and the non-negative pooling model. Decoding with the tied weights,
``x̂ = Wᵀ z``, is the paper's one-step reconstruction (Theorem 3.3, Fig. 2(c), Table 3).

- :class:`IHTLayer` is a Flax linen module holding an ``nn.Conv`` (no bias); calling it returns
  a :class:`LayerOutput` with the linear response ``W x``, the pooled values, the switches and
  the unpooled model-sparse code.
- :func:`layer_operator` turns a layer's params into the :class:`~jaxcs.operators.ConvOperator`
  ``W``; :func:`decode_layer` is the tied-weight decoder ``Wᵀ``.

Stacks of layers and their decoder are in :mod:`jaxcs.layers.encoder`, the ± filter pairs of
Proposition 1 in :mod:`jaxcs.layers.plus_minus`.

Layout (as Flax): channels last, ``x`` is ``(*batch, *in_spatial, M)``, the kernel is
Flax's ``(*kernel_size, M, K)``, codes are ``(*batch, *out_spatial, K)``, pooled maps
``(*batch, *pooled, K)`` with ``pooled = ceil(out_spatial / pool_size)``. Every function
accepts any number of leading batch axes and works under ``jax.jit`` and ``jax.vmap``.

Vocabulary: ``stride``, ``padding`` (``"valid"`` or ``"same"``, lower case; Flax's upper-case
names are accepted and normalized), ``pool_size`` and ``in_spatial`` mean what they mean for
:class:`~jaxcs.operators.ConvOperator` and :class:`~jaxcs.models.PoolingModel`. Only the
``nn.Conv`` that the layer builds is configured in Flax's spelling (``strides``, ``"VALID"``).

Pooling follows :mod:`jaxcs.models.pooling`: non-overlapping regions (stride = pool size); a
``pool_size`` that does not divide the map leaves a *partial* region at the far border, which is
pooled like the others (ceil mode). Flax's ``nn.max_pool(..., padding="VALID")`` drops such a
region instead, so the two agree exactly when ``pool_size`` divides the conv output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from jaxcs._pytree import Pytree
from jaxcs._validate import (
    check_k,
    check_padding,
    check_stride,
    check_trailing,
    is_int,
    positive_int,
    positive_ints,
)
from jaxcs.models import block_sparsify, max_pool, unpool
from jaxcs.operators import ConvOperator, conv_output_shape

PADDINGS = ("valid", "same")
"""The paddings an :class:`IHTLayer` accepts: those that ``ConvOperator`` shares with
``nn.Conv`` (Flax's ``"CIRCULAR"`` is centered, the operator's ``"circular"`` is not)."""


class LayerOutput(Pytree):
    """What one :class:`IHTLayer` computes for a batch of inputs (a pytree; all fields leaves).

    Attributes:
        response: ``(*batch, *out_spatial, K)``, the linear response ``W x`` (before ReLU).
        pooled: ``(*batch, *pooled, K)``, the pooled values after ReLU, max pooling and the
            ``k`` budget (regions outside the budget hold 0); the input of the next layer.
        switches: ``(*batch, *pooled, K)`` int32, the position of each region's kept entry, as a
            C-order index into ``pool_size`` (ties: the lowest index). Recorded for every
            region, including those that the budget zeroed. With ``relu=True``, a region whose
            conv values are all ``≤ 0`` still has a switch: the argmax of the *pre-ReLU* values
            (the least negative entry, the lowest index on ties), while its pooled value is 0;
            :func:`~jaxcs.layers.decode_stack` unpools the next layer's decoded value there.
        code: ``(*batch, *out_spatial, K)``, the unpooled model-sparse code
            ``𝕄_known(ReLU(W x), k)`` (one IHT step from zero, Algorithm 1).
    """

    response: Float[Array, "*batch_out_spatial K"]
    pooled: Float[Array, "*batch_pooled K"]
    switches: Int[Array, "*batch_pooled K"]
    code: Float[Array, "*batch_out_spatial K"]


# --------------------------------------------------------------------------- configuration
def _geometry(layer: IHTLayer) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """``(kernel_size, stride, padding)`` of a layer, normalized (padding lower case)."""
    kernel_size = tuple(int(s) for s in layer.kernel_size)
    stride = check_stride(layer.stride, len(kernel_size))
    return kernel_size, stride, check_padding(layer.padding, PADDINGS)


def _pool_size(layer: IHTLayer) -> tuple[int, ...]:
    """The layer's ``pool_size``, one positive size per spatial axis."""
    return positive_ints(layer.pool_size, "pool_size", len(layer.kernel_size))


def _conv(layer: IHTLayer, **kwargs: Any) -> nn.Conv:
    """The layer's ``nn.Conv`` (no bias), shared by the module and :func:`layer_operator` so
    both describe the same ``W``. The one place that speaks Flax's ``strides``/``"VALID"``."""
    kernel_size, stride, padding = _geometry(layer)
    return nn.Conv(
        features=int(layer.features),
        kernel_size=kernel_size,
        strides=stride,
        padding=padding.upper(),
        use_bias=False,
        kernel_init=layer.kernel_init,
        dtype=layer.dtype,
        param_dtype=layer.param_dtype,
        precision=layer.precision,
        **kwargs,
    )


def _in_spatial(layer: IHTLayer, in_spatial: Any) -> tuple[int, ...]:
    """``in_spatial`` as one positive size per spatial axis of the layer (no channel axis)."""
    in_spatial = positive_ints(in_spatial, "in_spatial")
    kernel_size = tuple(layer.kernel_size)
    if len(in_spatial) != len(kernel_size):
        raise ValueError(
            f"in_spatial must have {len(kernel_size)} spatial sizes (one per axis of "
            f"kernel_size={kernel_size}), without the channel axis; got {in_spatial}"
        )
    return in_spatial


def _over_batch(fn: Callable, arrays: Sequence[jax.Array], core_ndim: int):
    """Apply ``fn`` (on single examples with ``core_ndim`` axes each) over the shared leading
    batch axes of ``arrays``: flatten them into one, ``vmap``, restore them."""
    batch = arrays[0].shape[: arrays[0].ndim - core_ndim]
    flat = [a.reshape((-1,) + a.shape[a.ndim - core_ndim :]) for a in arrays]
    out = jax.vmap(fn)(*flat)
    return jax.tree.map(lambda o: o.reshape(batch + o.shape[1:]), out)


def _pool_unpool(response: jax.Array, pool_size: tuple[int, ...], k, relu: bool):
    """ReLU (or signed max-|·|) pooling, the ``k`` budget, and unpooling, per example."""

    def one(v):
        values, switches = max_pool(v, pool_size, nonnegative=relu)
        values = block_sparsify(values, k)
        return values, switches, unpool(values, switches, pool_size, v.shape[:-1])

    return _over_batch(one, [response], len(pool_size) + 1)


# --------------------------------------------------------------------------- the layer
class IHTLayer(nn.Module):
    """conv → ReLU → max pool (with switches) → unpool: one CNN layer as one IHT step.

    ``__call__(x)`` computes ``W x`` with an ``nn.Conv`` (no bias), then per example and
    channel keeps the largest entry of every pooling region (clipped at 0: ReLU then max
    pooling), keeps the ``k`` largest pooled values (``block_sparsify``), and unpools them at
    their switches. The code is ``𝕄_known(ReLU(W x), k)`` (eqs. 2–3), which equals
    ``jaxcs.analysis.iht_codes(W, x, PoolingModel(pool_size, k, nonnegative=True), 1)``, the first
    step of Algorithm 1 from ``z_0 = 0``. The pooled values equal Flax's
    ``nn.max_pool(nn.relu(conv(x)), pool_size, strides=pool_size)`` when ``k`` is ``None``
    and ``pool_size`` divides the conv output (see the module docstring for partial regions).

    ReLU switch rule: with ``relu=True`` the switch of a region is the argmax of the
    *pre-ReLU* values ``W x`` (lowest index on ties), so a region whose values are all ``≤ 0``
    keeps the position of its least negative entry while its pooled value (and code) is 0.
    This is the switch that :func:`~jaxcs.layers.decode_stack` unpools the next layer's decoded
    value at (as :func:`~jaxcs.models.max_pool` with ``nonnegative=True``).

    Attributes:
        features: ``K``, the number of filters (a positive int).
        kernel_size: ``filter_spatial``, one positive size per spatial axis (a sequence, as
            ``nn.Conv``); its length is the number of spatial axes ``d``.
        stride: ``t``, a positive int or one per spatial axis.
        padding: ``"valid"`` (the paper; ``floor((D − l)/t) + 1`` shifts, as ``nn.Conv`` and
            :class:`~jaxcs.operators.ConvOperator`) or ``"same"`` (Flax's zero padding); the
            upper-case ``"VALID"``/``"SAME"`` are accepted and mean the same.
        pool_size: pooling region shape, a positive int or one per spatial axis (stride = pool
            size); all ones gives no pooling.
        k: the budget (𝓜_k, eqs. 2–3): keep the ``k`` largest pooled values per example and
            zero the rest; ``None`` keeps all. A non-negative integer scalar (not a float, even
            a whole one), or a traced integer (build the module inside the jitted function), so
            a sweep over ``k`` does not recompile.
        relu: ``True``: ReLU then max pooling (the CNN; the non-negative pooling model).
            ``False``: signed max-|·| pooling, the entry of largest ``|W x|`` with its sign (the
            theory's signed model, which ± filter pairs reduce a ReLU layer to, Proposition 1);
            this is *not* Flax's ``max_pool`` of ``W x``.
        kernel_init: initializer of the kernel (Flax's default LeCun normal has variance
            ``1/(M·l)``, the scaling of Theorem 3.1).
        dtype: computation dtype of the conv (``None``: promoted from inputs and params).
        param_dtype: dtype of the kernel.
        precision: ``lax`` precision of the conv.

    Raises:
        ValueError: at construction, naming the field and the expected values: ``features``
            not a positive int; ``kernel_size`` not a non-empty sequence of positive ints;
            ``stride``/``pool_size`` not positive ints, one per spatial axis; ``padding`` not
            ``"valid"``/``"same"``; ``k`` negative, a float or not a scalar; ``relu`` not a bool.
            At call time, naming ``x``: too few axes, a channel count that differs from the
            kernel's ``M``, or a ``"valid"`` spatial size that leaves a non-integer number of
            shifts.
    """

    features: int
    kernel_size: Sequence[int]
    stride: int | Sequence[int] = 1
    padding: str = "valid"
    pool_size: int | Sequence[int] = (2, 2)
    k: int | Int[ArrayLike, ""] | None = None
    relu: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    def __post_init__(self):
        positive_int(self.features, "features")
        if is_int(self.kernel_size) or len(positive_ints(self.kernel_size, "kernel_size")) < 1:
            raise ValueError(
                "kernel_size must be a non-empty sequence of ints >= 1 (one per spatial axis, "
                f"as nn.Conv); got {self.kernel_size!r}"
            )
        _geometry(self)  # stride, padding
        _pool_size(self)
        check_k(self.k, "k", scalar=True)
        if not isinstance(self.relu, (bool, np.bool_)):
            raise ValueError(f"relu must be a bool; got {self.relu!r}")
        super().__post_init__()

    def setup(self):
        self.conv = _conv(self)

    @property
    def ndim(self) -> int:
        """Number of spatial axes ``d`` (``len(kernel_size)``)."""
        return len(self.kernel_size)

    def __call__(self, x: Float[ArrayLike, "*batch_in_spatial M"]) -> LayerOutput:
        """Encode ``x``: one IHT step from zero (Algorithm 1).

        Args:
            x: ``(*batch, *in_spatial, M)``, any number of leading batch axes (none included).

        Returns:
            A :class:`LayerOutput`: ``response`` and ``code`` ``(*batch, *out_spatial, K)``,
            ``pooled`` and ``switches`` ``(*batch, *pooled, K)``.

        Raises:
            ValueError: naming ``x`` (see the class docstring).
        """
        x = jnp.asarray(x)
        self._check_input(x.shape)
        response = self.conv(x)
        pooled, switches, code = _pool_unpool(response, _pool_size(self), self.k, bool(self.relu))
        return LayerOutput(response=response, pooled=pooled, switches=switches, code=code)

    def _check_input(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """Validate an input shape ``(*batch, *in_spatial, M)``; return ``in_spatial``.

        The channel count is checked against the kernel when the module is bound to params.
        """
        shape = tuple(int(s) for s in shape)
        d = self.ndim
        kernel_size, stride, padding = _geometry(self)
        if len(shape) < d + 1:
            raise ValueError(
                f"{name} must have shape (*batch, *in_spatial, M) with {d} spatial axes "
                f"(kernel_size={kernel_size}); got shape {shape}"
            )
        in_spatial = shape[-d - 1 : -1]
        try:
            conv_output_shape(in_spatial, kernel_size, stride, padding)
        except ValueError as err:
            raise ValueError(
                f"{name} has spatial shape {in_spatial} that this layer rejects: {err}"
            ) from None
        if self.scope is not None:
            kernel = self.variables.get("params", {}).get("conv", {}).get("kernel")
            if kernel is not None:
                features = int(self.features)
                if kernel.shape[-1] != features or tuple(kernel.shape[:-2]) != kernel_size:
                    raise ValueError(
                        f"params hold a kernel of shape {kernel.shape}, but this layer has "
                        f"kernel_size={kernel_size} and features={features}"
                    )
                if kernel.shape[-2] != shape[-1]:
                    raise ValueError(
                        f"{name} has {shape[-1]} channels (last axis of shape {shape}), but the "
                        f"layer's kernel {kernel.shape} expects M={kernel.shape[-2]}"
                    )
        return in_spatial

    def decode(
        self, code: Float[ArrayLike, "*batch_out_spatial K"], in_spatial: Sequence[int]
    ) -> Float[Array, "*batch_in_spatial M"]:
        """``Wᵀ code`` with this layer's kernel: call as
        ``layer.apply(variables, code, in_spatial, method=IHTLayer.decode)``.

        Args:
            code: ``(*batch, *out_spatial, K)``.
            in_spatial: the spatial shape of the layer's input.

        Returns:
            ``(*batch, *in_spatial, M)``; see :func:`decode_layer`.
        """
        return decode_layer(self, self.variables, code, in_spatial)


def layer_operator(layer: IHTLayer, params: Any, in_spatial: Sequence[int]) -> ConvOperator:
    """The layer's linear part ``W`` as a :class:`~jaxcs.operators.ConvOperator`.

    Built with :meth:`ConvOperator.from_flax` from the layer's ``nn.Conv`` configuration, so
    ``layer_operator(...).mv(x)`` equals the layer's ``response``.

    Args:
        layer: the :class:`IHTLayer` (bound or not), read for its stride and padding.
        params: the layer's variables, ``variables['params']``, its ``conv`` subtree, or the
            kernel ``(*kernel_size, M, K)`` itself (one kernel; for an encoder, pass one layer's
            subtree, e.g. ``variables['params']['layers_1']``).
        in_spatial: the spatial shape ``(*in_spatial,)`` of the layer's input, without ``M``.

    Returns:
        ``W`` with ``in_shape = (*in_spatial, M)`` and ``out_shape = (*out_spatial, K)``.

    Raises:
        ValueError: naming ``in_spatial`` (not positive sizes, or the wrong number of axes) or
            ``params`` (no single kernel, or one that does not match the layer's
            ``kernel_size``/``features``).
    """
    in_spatial = _in_spatial(layer, in_spatial)
    kernel_size = tuple(int(s) for s in layer.kernel_size)
    op = ConvOperator.from_flax(params, in_spatial, module=_conv(layer, parent=None))
    if op.filter_shape != kernel_size or op.out_channels != int(layer.features):
        raise ValueError(
            f"params hold a kernel of shape {op.filters.shape}, but the layer has "
            f"kernel_size={kernel_size} and features={int(layer.features)}"
        )
    return op


def decode_layer(
    layer: IHTLayer,
    params: Any,
    code: Float[ArrayLike, "*batch_out_spatial K"],
    in_spatial: Sequence[int],
) -> Float[Array, "*batch_in_spatial M"]:
    """The tied-weight decoder ``x̂ = Wᵀ code`` (Algorithm 1).

    For ``code = layer.apply(variables, x).code`` this is the paper's one-step reconstruction
    ``Wᵀ 𝕄(W x, k)`` (with the ReLU's non-negative model), i.e.
    ``jaxcs.one_step_reconstruction(W, x, PoolingModel(pool_size, k, nonnegative=True))``.

    Args:
        layer: the :class:`IHTLayer`.
        params: the layer's params (see :func:`layer_operator`).
        code: ``(*batch, *out_spatial, K)``.
        in_spatial: the spatial shape of the layer's input (needed because ``"same"`` padding
            with stride > 1 maps several input sizes to one output size).

    Returns:
        ``(*batch, *in_spatial, M)``.

    Raises:
        ValueError: naming ``code`` when its trailing axes are not ``(*out_spatial, K)``, or
            as :func:`layer_operator`.
    """
    op = layer_operator(layer, params, in_spatial)
    code = jnp.asarray(code)
    check_trailing(code, op.out_shape, "code")
    return op.rmv(code)


__all__ = ["IHTLayer", "LayerOutput", "decode_layer", "layer_operator"]
