"""The CNN layer as one IHT step, in Flax (model.md §5 and §7; Gilbert et al. 2017, §2–3).

One layer of a CNN without bias — convolution, ReLU, max pooling — followed by unpooling with
the recorded switches computes

    ``z = 𝕄_known(ReLU(W x), k) = unpool(block_sparsify(maxpool(ReLU(W x)), k), switches)``,

which is exactly the first step of model-based IHT (Algorithm 1) from ``z_0 = 0`` with step
size 1 and the non-negative pooling model (model.md §7). Decoding with the tied weights,
``x̂ = Wᵀ z``, is the paper's one-step reconstruction (Theorem 3.3, Fig. 2(c), Table 3).

- :class:`IHTLayer` is a Flax linen module holding an ``nn.Conv`` (no bias); calling it returns
  a :class:`LayerOutput` with the linear response ``W x``, the pooled values, the switches and
  the unpooled model-sparse code.
- :class:`IHTEncoder` stacks layers; each layer's input is the previous layer's *pooled* map.
- :func:`layer_operator` turns a layer's params into the :class:`~jaxcs.operators.ConvOperator`
  ``W``; :func:`decode_layer` and :func:`decode_stack` are the tied-weight decoders.
- :func:`plus_minus_filters` builds the ± filter pairs of Proposition 1 (model.md §5): with
  ``Ψ = [Wᵀ, −Wᵀ]``, ``Ψ · ReLU(Ψᵀ x) = Wᵀ W x``, so a ReLU layer with ± filters carries the
  same information as the signed layer that the theory analyses.

Layout (model.md §1): channels last, ``x`` is ``(*batch, *spatial, M)``, the kernel is Flax's
``(*kernel_size, M, K)``, codes are ``(*batch, *out_spatial, K)``, pooled maps
``(*batch, *pooled, K)`` with ``pooled = ceil(out_spatial / pool_window)``. Every function
accepts any number of leading batch axes and works under ``jax.jit`` and ``jax.vmap``.

Pooling follows :mod:`jaxcs.pooling`: non-overlapping windows (stride = window); a window that
does not divide the map leaves a *partial* region at the far border, which is pooled like the
others (ceil mode). Flax's ``nn.max_pool(..., padding="VALID")`` drops such a region instead,
so the two agree exactly when ``pool_window`` divides the conv output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxcs.operators import ConvOperator, conv_output_shape
from jaxcs.pooling import block_sparsify, max_pool, unpool

PADDINGS = ("VALID", "SAME")


@flax.struct.dataclass
class LayerOutput:
    """What one :class:`IHTLayer` computes for a batch of inputs (all arrays are leaves).

    Attributes:
        response: ``(*batch, *out_spatial, K)``, the linear response ``W x`` (before ReLU).
        pooled: ``(*batch, *pooled, K)``, the pooled values after ReLU, max pooling and the
            ``k`` budget (regions outside the budget hold 0); the input of the next layer.
        switches: ``(*batch, *pooled, K)`` int32, the position of each region's kept entry, as a
            C-order index into ``pool_window`` (ties: the lowest index). Recorded for every
            region, including those that the budget zeroed.
        code: ``(*batch, *out_spatial, K)``, the unpooled model-sparse code
            ``𝕄_known(ReLU(W x), k)`` (one IHT step from zero, model.md §7).
    """

    response: jax.Array
    pooled: jax.Array
    switches: jax.Array
    code: jax.Array


# --------------------------------------------------------------------------- validation
def _positive_ints(value: Any, name: str, length: int | None = None) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints (a sequence, not a bare int), or a ValueError."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of positive ints; got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a sequence of positive ints; got {value!r}")
        out.append(int(v))
    if not out or (length is not None and len(out) != length):
        want = "at least one entry" if length is None else f"{length} entries"
        raise ValueError(f"{name} must have {want} (one per spatial axis); got {value!r}")
    return tuple(out)


def _strides(value: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"strides must be positive; got {value!r}")
        return (int(value),) * ndim
    return _positive_ints(value, "strides", ndim)


def _padding(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in PADDINGS:
        raise ValueError(
            f"padding must be 'VALID' or 'SAME' (the paddings that ConvOperator shares with "
            f"nn.Conv); got {value!r}"
        )
    return value.upper()


def _check_budget(k: Any) -> None:
    """``k`` is ``None``, a non-negative integer, or traced (checked where it is concrete)."""
    if k is None or isinstance(k, jax.core.Tracer):
        return
    array = np.asarray(k)
    if array.ndim != 0 or not (
        np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_)
    ):
        raise ValueError(f"k must be None or a non-negative integer scalar; got {k!r}")
    if array < 0:
        raise ValueError(f"k must be >= 0; got {k!r}")


def _conv_config(layer: IHTLayer) -> dict[str, Any]:
    """The keyword arguments of the layer's ``nn.Conv`` (shared by the module and the
    operator, so both describe the same ``W``)."""
    ndim = len(layer.kernel_size)
    return dict(
        features=int(layer.features),
        kernel_size=tuple(int(s) for s in layer.kernel_size),
        strides=_strides(layer.strides, ndim),
        padding=_padding(layer.padding),
        use_bias=False,
        kernel_init=layer.kernel_init,
        dtype=layer.dtype,
        param_dtype=layer.param_dtype,
        precision=layer.precision,
    )


def _over_batch(fn: Callable, arrays: Sequence[jax.Array], core_ndim: int):
    """Apply ``fn`` (on single examples with ``core_ndim`` axes each) over the shared leading
    batch axes of ``arrays``: flatten them into one, ``vmap``, restore them."""
    batch = arrays[0].shape[: arrays[0].ndim - core_ndim]
    flat = [a.reshape((-1,) + a.shape[a.ndim - core_ndim :]) for a in arrays]
    out = jax.vmap(fn)(*flat)
    return jax.tree.map(lambda o: o.reshape(batch + o.shape[1:]), out)


def _pool_unpool(response: jax.Array, window: tuple[int, ...], k, relu: bool):
    """ReLU (or signed max-|·|) pooling, the ``k`` budget, and unpooling, per example."""

    def one(v):
        values, switches = max_pool(v, window, nonnegative=relu)
        values = block_sparsify(values, k)
        return values, switches, unpool(values, switches, window, v.shape[:-1])

    return _over_batch(one, [response], len(window) + 1)


# --------------------------------------------------------------------------- the layer
class IHTLayer(nn.Module):
    """conv → ReLU → max pool (with switches) → unpool: one CNN layer as one IHT step.

    ``__call__(x)`` computes ``W x`` with an ``nn.Conv`` (no bias), then per example and
    channel keeps the largest entry of every pooling window (clipped at 0: ReLU then max
    pooling), keeps the ``k`` largest pooled values (``block_sparsify``), and unpools them at
    their switches. The code is ``𝕄_known(ReLU(W x), k)`` (model.md §5, eqs. 2–3), which equals
    ``jaxcs.iht_codes(W, x, PoolingModel(pool_window, k, nonnegative=True), 1)``, the first
    step of Algorithm 1 from ``z_0 = 0`` (model.md §7). The pooled values equal Flax's
    ``nn.max_pool(nn.relu(conv(x)), pool_window, strides=pool_window)`` when ``k`` is ``None``
    and ``pool_window`` divides the conv output (see the module docstring for partial windows).

    Attributes:
        features: ``K``, the number of filters.
        kernel_size: ``filter_spatial``, one size per spatial axis (a sequence, as ``nn.Conv``).
        strides: ``t``, an int or one int per spatial axis.
        padding: ``"VALID"`` (the paper; ``(D − l)`` must be a multiple of the stride, as for
            :class:`~jaxcs.operators.ConvOperator`) or ``"SAME"`` (Flax's zero padding).
        pool_window: pooling region shape, one size per spatial axis (stride = window);
            all ones gives no pooling.
        k: the budget (model.md §4–5): keep the ``k`` largest pooled values per example and
            zero the rest; ``None`` keeps all. May be a traced integer (build the module inside
            the jitted function), so a sweep over ``k`` does not recompile.
        relu: ``True``: ReLU then max pooling (the CNN; the non-negative pooling model).
            ``False``: signed max-|·| pooling, the entry of largest ``|W x|`` with its sign (the
            theory's signed model, which ± filter pairs reduce a ReLU layer to, Proposition 1);
            this is *not* Flax's ``max_pool`` of ``W x``.
        kernel_init: initialiser of the kernel (Flax's default LeCun normal has variance
            ``1/(M·l)``, the scaling of Theorem 3.1).
        dtype: computation dtype of the conv (``None``: promoted from inputs and params).
        param_dtype: dtype of the kernel.
        precision: ``lax`` precision of the conv.

    Raises:
        ValueError: at construction, naming the field: ``features`` not a positive int,
            ``kernel_size``/``pool_window``/``strides`` not positive sizes with one per spatial
            axis, ``padding`` not ``"VALID"``/``"SAME"``, ``k`` negative or not an integer, ``relu``
            not a bool. At
            call time, naming ``x``: too few axes, a channel count that differs from the kernel's
            ``M``, or a ``"VALID"`` spatial size that leaves a non-integer number of shifts.
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: str = "VALID"
    pool_window: Sequence[int] = (2, 2)
    k: Any = None
    relu: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    def __post_init__(self):
        if (
            isinstance(self.features, bool)
            or not isinstance(self.features, (int, np.integer))
            or self.features < 1
        ):
            raise ValueError(f"features must be a positive int; got {self.features!r}")
        ndim = len(_positive_ints(self.kernel_size, "kernel_size"))
        _strides(self.strides, ndim)
        _padding(self.padding)
        _positive_ints(self.pool_window, "pool_window", ndim)
        _check_budget(self.k)
        if not isinstance(self.relu, (bool, np.bool_)):
            raise ValueError(f"relu must be a bool; got {self.relu!r}")
        super().__post_init__()

    def setup(self):
        self.conv = nn.Conv(**_conv_config(self))

    @property
    def ndim(self) -> int:
        """Number of spatial axes ``d`` (``len(kernel_size)``)."""
        return len(self.kernel_size)

    def __call__(self, x: jax.Array) -> LayerOutput:
        """Encode ``x``: one IHT step from zero (model.md §7).

        Args:
            x: ``(*batch, *spatial, M)``, any number of leading batch axes (none included).

        Returns:
            A :class:`LayerOutput`: ``response`` and ``code`` ``(*batch, *out_spatial, K)``,
            ``pooled`` and ``switches`` ``(*batch, *pooled, K)``.

        Raises:
            ValueError: naming ``x`` (see the class docstring).
        """
        x = jnp.asarray(x)
        self._check_input(x.shape)
        response = self.conv(x)
        pooled, switches, code = _pool_unpool(
            response, tuple(self.pool_window), self.k, bool(self.relu)
        )
        return LayerOutput(response=response, pooled=pooled, switches=switches, code=code)

    def _check_input(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """Validate an input shape ``(*batch, *spatial, M)``; return ``spatial``.

        The channel count is checked against the kernel when the module is bound to params.
        """
        shape = tuple(int(s) for s in shape)
        d = self.ndim
        if len(shape) < d + 1:
            raise ValueError(
                f"{name} must have shape (*batch, *spatial, M) with {d} spatial axes "
                f"(kernel_size={tuple(self.kernel_size)}); got shape {shape}"
            )
        spatial = shape[-d - 1 : -1]
        cfg = _conv_config(self)
        try:
            conv_output_shape(spatial, cfg["kernel_size"], cfg["strides"], cfg["padding"].lower())
        except ValueError as err:
            raise ValueError(
                f"{name} has spatial shape {spatial} that this layer rejects: {err}"
            ) from None
        if self.scope is not None:
            kernel = self.variables.get("params", {}).get("conv", {}).get("kernel")
            if kernel is not None:
                if (
                    kernel.shape[-1] != cfg["features"]
                    or tuple(kernel.shape[:-2]) != cfg["kernel_size"]
                ):
                    raise ValueError(
                        f"params hold a kernel of shape {kernel.shape}, but this layer has "
                        f"kernel_size={cfg['kernel_size']} and features={cfg['features']}"
                    )
                if kernel.shape[-2] != shape[-1]:
                    raise ValueError(
                        f"{name} has {shape[-1]} channels (last axis of shape {shape}), but the "
                        f"layer's kernel {kernel.shape} expects M={kernel.shape[-2]}"
                    )
        return spatial

    def decode(self, code: jax.Array, input_shape: Sequence[int]) -> jax.Array:
        """``Wᵀ code`` with this layer's kernel: call as
        ``layer.apply(variables, code, input_shape, method=IHTLayer.decode)``.

        See :func:`decode_layer`.
        """
        return decode_layer(self, self.variables, code, input_shape)


def layer_operator(layer: IHTLayer, params: Any, input_shape: Sequence[int]) -> ConvOperator:
    """The layer's linear part ``W`` as a :class:`~jaxcs.operators.ConvOperator` (model.md §2).

    Built with :meth:`ConvOperator.from_flax` from the layer's ``nn.Conv`` configuration, so
    ``layer_operator(...).mv(x)`` equals the layer's ``response``.

    Args:
        layer: the (unbound) :class:`IHTLayer`, read for its stride and padding.
        params: the layer's variables, ``variables['params']``, its ``conv`` subtree, or the
            kernel ``(*kernel_size, M, K)`` itself (one kernel; for an encoder, pass one layer's
            subtree, e.g. ``variables['params']['layers_1']``).
        input_shape: the spatial shape ``(*spatial,)`` of the layer's input, without ``M``.

    Returns:
        ``W`` with ``in_shape = (*input_shape, M)`` and ``out_shape = (*out_spatial, K)``.

    Raises:
        ValueError: naming ``input_shape`` (wrong number of axes) or ``params`` (no single
            kernel, or one that does not match the layer's ``kernel_size``/``features``).
    """
    if isinstance(input_shape, (int, np.integer)):
        input_shape = (int(input_shape),)
    input_shape = tuple(int(s) for s in input_shape)
    cfg = _conv_config(layer)
    if len(input_shape) != len(cfg["kernel_size"]):
        raise ValueError(
            f"input_shape must have {len(cfg['kernel_size'])} spatial sizes (one per axis of "
            f"kernel_size={cfg['kernel_size']}), without the channel axis; got {input_shape}"
        )
    op = ConvOperator.from_flax(params, input_shape, module=nn.Conv(**cfg, parent=None))
    if op.filter_shape != cfg["kernel_size"] or op.out_channels != cfg["features"]:
        raise ValueError(
            f"params hold a kernel of shape {op.filters.shape}, but the layer has "
            f"kernel_size={cfg['kernel_size']} and features={cfg['features']}"
        )
    return op


def decode_layer(
    layer: IHTLayer, params: Any, code: jax.Array, input_shape: Sequence[int]
) -> jax.Array:
    """The tied-weight decoder ``x̂ = Wᵀ code`` (model.md §7).

    For ``code = layer.apply(variables, x).code`` this is the paper's one-step reconstruction
    ``Wᵀ 𝕄(W x, k)`` (with the ReLU's non-negative model), i.e.
    ``jaxcs.one_step_reconstruction(W, x, PoolingModel(pool_window, k, nonnegative=True))``.

    Args:
        layer: the :class:`IHTLayer`.
        params: the layer's params (see :func:`layer_operator`).
        code: ``(*batch, *out_spatial, K)``.
        input_shape: the spatial shape of the layer's input.

    Returns:
        ``(*batch, *input_shape, M)``.

    Raises:
        ValueError: naming ``code`` when its trailing axes are not ``(*out_spatial, K)``.
    """
    op = layer_operator(layer, params, input_shape)
    code = jnp.asarray(code)
    n = len(op.out_shape)
    if code.ndim < n or tuple(code.shape[code.ndim - n :]) != op.out_shape:
        raise ValueError(
            f"code must have shape (*batch, {', '.join(map(str, op.out_shape))}) for a layer "
            f"input of spatial shape {tuple(input_shape)}; got {code.shape}"
        )
    return op.rmv(code)


# --------------------------------------------------------------------------- the stack
class IHTEncoder(nn.Module):
    """A stack of :class:`IHTLayer` s: each layer encodes the previous layer's pooled map.

    ``__call__(x)`` runs ``r_1 = layer_1(x)``, ``r_2 = layer_2(r_1.pooled)``, … and returns
    the tuple ``(r_1, …, r_L)`` of :class:`LayerOutput`. Flax names the layers' params
    ``layers_0``, ``layers_1``, … (``variables['params']['layers_i']['conv']['kernel']``).
    The tied-weight decoder is :func:`decode_stack` (or the method :meth:`decode`).

    Attributes:
        layers: the layer configurations, unbound :class:`IHTLayer` instances, all with the
            same number of spatial axes. Layer ``i`` takes ``M`` = layer ``i−1``'s ``features``
            (set by ``init``).

    Raises:
        ValueError: naming ``layers`` when it is empty, holds something that is not an
            :class:`IHTLayer`, or mixes numbers of spatial axes.
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

    def __call__(self, x: jax.Array) -> tuple[LayerOutput, ...]:
        """Encode ``x`` layer by layer.

        Args:
            x: ``(*batch, *spatial, M)``.

        Returns:
            One :class:`LayerOutput` per layer; layer ``i``'s arrays are
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
        input_shape: Sequence[int],
        code: jax.Array | None = None,
    ) -> jax.Array:
        """The tied-weight decoder as a method: call as
        ``encoder.apply(variables, results, input_shape, method=IHTEncoder.decode)``.

        See :func:`decode_stack`.
        """
        return decode_stack(self, self.variables, results, input_shape, code=code)


def _layer_params(params: Any, index: int) -> Any:
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
    input_shape: Sequence[int],
    *,
    code: jax.Array | None = None,
) -> jax.Array:
    """The tied-weight decoder of a stack: ``x̂ = W_1ᵀ unpool_1(… W_{L−1}ᵀ unpool_{L−1}(W_Lᵀ h_L))``.

    Exactly what is done (no ReLU and no bias anywhere; the decoder is linear given the
    switches, as the paper's ``x̂ = Wᵀ 𝕄(W x, k)``, model.md §7):

    1. ``u = h_L``, the last layer's code (``results[-1].code``, or ``code`` if given), shape
       ``(*batch, *out_spatial_L, K_L)``.
    2. For ``i = L, …, 1``: ``y = W_iᵀ u`` (:func:`decode_layer`), shape
       ``(*batch, *in_spatial_i, M_i)``. For ``i > 1``, ``y`` has the shape of layer ``i−1``'s
       pooled map and stands in for it: ``u = unpool(y, results[i−2].switches)`` puts each
       value back at the position that layer ``i−1``'s max pooling recorded (every region,
       including regions that layer ``i−1``'s budget ``k`` zeroed: the budget acted on the
       encoder's values, not on these). For ``i = 1``, ``x̂ = y``.

    For one layer this is :func:`decode_layer` of the code, the one-step reconstruction.

    Args:
        encoder: the :class:`IHTEncoder` (or its sequence of layers), read for the layers'
            configurations.
        params: the encoder's variables or ``variables['params']`` (subtrees ``layers_i``).
        results: the encoder's output for the input being decoded, one :class:`LayerOutput` per
            layer (only ``switches`` and the shapes of ``pooled``/``code`` are used below the
            top layer).
        input_shape: the spatial shape of the encoder's input ``x`` (needed because ``"SAME"``
            padding with stride > 1 maps several input sizes to one output size).
        code: optional replacement for the top layer's code ``h_L`` (e.g. a code recovered by
            another solver), ``(*batch, *out_spatial_L, K_L)``.

    Returns:
        ``x̂``, ``(*batch, *input_shape, M_1)``.

    Raises:
        ValueError: naming ``results`` (wrong number of layers), ``params`` (a layer's subtree
            is missing) or ``code``/``input_shape`` (shapes that do not fit the layers).
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
    u = results[-1].code if code is None else jnp.asarray(code)
    y = u
    for i in reversed(range(len(layers))):
        if i == 0:
            in_spatial = input_shape
        else:
            in_spatial = tuple(results[i - 1].pooled.shape[-d - 1 : -1])
        y = decode_layer(layers[i], _layer_params(params, i), u, in_spatial)
        if i > 0:
            switches = jnp.asarray(results[i - 1].switches)
            if y.shape != switches.shape:
                raise ValueError(
                    f"results[{i - 1}].switches has shape {switches.shape}, but layer {i}'s "
                    f"decoded map has shape {y.shape} (batch axes of code and results differ?)"
                )
            window = tuple(layers[i - 1].pool_window)
            out_spatial = tuple(results[i - 1].code.shape[-d - 1 : -1])
            u = _over_batch(
                lambda v, s, w=window, n=out_spatial: unpool(v, s, w, n), [y, switches], d + 1
            )
    return y


# --------------------------------------------------------------------------- Proposition 1
def plus_minus_filters(filters: jax.Array) -> jax.Array:
    """The ± filter pairs of Proposition 1 (model.md §5): ``concat([w, −w], axis=-1)``.

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


__all__ = [
    "IHTEncoder",
    "IHTLayer",
    "LayerOutput",
    "decode_layer",
    "decode_stack",
    "layer_operator",
    "plus_minus_filters",
]
