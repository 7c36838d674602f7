"""References and fixtures-as-functions shared by the tests of :mod:`jaxcs.layers`.

Not a test module (pytest collects ``test_*.py`` only); ``tests/`` is on pytest's
``pythonpath``, so the test files ``import layer_reference``.

References are independent of the code under test: Flax's own ``nn.Conv`` and ``nn.max_pool``
for the encoder, the VJP of Flax's conv for ``Wᵀ`` (the adjoint of a linear map), NumPy loops
for pooling with switches, the budget and unpooling, and the conftest's dense NumPy ``W``.
Paddings are written in jaxcs's lower case; only the Flax references spell them Flax's way.
"""

from __future__ import annotations

import itertools
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcs.layers import IHTLayer

# (kernel_size, in_spatial, stride, padding, pool_size): the pool size divides the conv map.
GEOMETRIES = {
    "1d-valid-t1": ((3,), (10,), 1, "valid", (2,)),
    "1d-valid-t2": ((3,), (13,), 2, "valid", (3,)),
    "1d-same-t1": ((3,), (8,), 1, "same", (4,)),
    "1d-same-t2": ((4,), (16,), 2, "same", (2,)),
    "2d-valid-t1": ((3, 3), (8, 10), 1, "valid", (2, 2)),
    "2d-valid-t2": ((3, 2), (9, 12), 2, "valid", (2, 3)),
    "2d-same-t1": ((3, 3), (6, 8), 1, "same", (2, 2)),
    "2d-same-t2": ((3, 3), (8, 12), 2, "same", (2, 2)),
}
M, K = 2, 3


# --------------------------------------------------------------------------- references
# Reference computations and the code under test are jitted: run eagerly, every small op
# compiles on its own, which dominates the runtime of a CPU test suite.
@partial(jax.jit, static_argnames=("stride", "padding"))
def flax_conv(kernel, x, stride, padding):
    """``W x`` with Flax's own ``nn.Conv`` holding ``kernel`` (``padding`` in any case)."""
    d = kernel.ndim - 2
    conv = nn.Conv(
        kernel.shape[-1], kernel.shape[:d], strides=stride, padding=padding.upper(), use_bias=False
    )
    return conv.apply({"params": {"kernel": kernel}}, x)


@partial(jax.jit, static_argnames=("pool_size",))
def flax_relu_max_pool(h, pool_size):
    return nn.max_pool(nn.relu(h), pool_size, strides=pool_size)


@partial(jax.jit, static_argnames=("x_shape", "stride", "padding"))
def flax_adjoint(kernel, code, x_shape, stride, padding):
    """``Wᵀ code`` as the VJP of Flax's conv (independent of ``ConvOperator.rmv``)."""
    zeros = jnp.zeros(x_shape, jnp.result_type(kernel, code))
    _, vjp = jax.vjp(lambda x: flax_conv(kernel, x, stride, padding), zeros)
    return vjp(code)[0]


def run(fn, *args):
    """``fn(*args)`` jitted, with NumPy outputs."""
    return jax.tree.map(np.asarray, jax.jit(fn)(*args))


def normal(seed, shape, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def gaussian_kernel(seed, kernel_size, m, k, dtype=np.float32):
    """N(0, 1/(M·l)) filters (Theorem 3.1), drawn with NumPy."""
    shape = tuple(kernel_size) + (m, k)
    return normal(seed, shape, dtype) / np.sqrt(np.prod(shape[:-1])).astype(dtype)


def numpy_pool(h, pool_size, relu=True, k=None):
    """Pooling with switches, the budget and unpooling of one code ``(*spatial, K)``, by loops.

    Per region and channel: the first entry (C order in the region) of largest ``h`` (ReLU:
    the pre-ReLU argmax, then the value clipped at 0) or largest ``|h|`` (signed); then the
    ``k`` pooled values of largest magnitude (stable: lowest flat index first); partial border
    regions pool the cells they have.
    """
    h = np.asarray(h, np.float64)
    spatial, channels = h.shape[:-1], h.shape[-1]
    pooled = tuple(-(-n // w) for n, w in zip(spatial, pool_size, strict=True))
    values = np.zeros(pooled + (channels,))
    switches = np.zeros(pooled + (channels,), np.int64)
    where = {}
    for p in itertools.product(*map(range, pooled)):
        for c in range(channels):
            best = None
            for off in itertools.product(*map(range, pool_size)):
                pos = tuple(pi * w + o for pi, w, o in zip(p, pool_size, off, strict=True))
                if any(q >= n for q, n in zip(pos, spatial, strict=True)):
                    continue
                score = h[pos + (c,)] if relu else abs(h[pos + (c,)])
                if best is None or score > best[0]:
                    best = (score, off, pos)
            value = h[best[2] + (c,)]
            values[p + (c,)] = max(value, 0.0) if relu else value
            switches[p + (c,)] = np.ravel_multi_index(best[1], pool_size)
            where[p + (c,)] = best[2]
    if k is not None:
        order = np.argsort(-np.abs(values).ravel(), kind="stable")
        keep = np.zeros(values.size, bool)
        keep[order[:k]] = True
        values = np.where(keep.reshape(values.shape), values, 0.0)
    code = np.zeros_like(h)
    for idx, pos in where.items():
        code[pos + (idx[-1],)] = values[idx]
    return values, switches, code


def numpy_pool_batch(h, pool_size, relu=True, k=None):
    h = np.asarray(h, np.float64)
    d = len(pool_size)
    batch = h.shape[: h.ndim - d - 1]
    flat = h.reshape((-1,) + h.shape[h.ndim - d - 1 :])
    outs = [numpy_pool(v, pool_size, relu, k) for v in flat]
    return tuple(np.stack(o).reshape(batch + o[0].shape) for o in zip(*outs, strict=True))


def numpy_unpool(values, switches, pool_size, spatial):
    """Each pooled value back at its switch, for ``(B, *pooled, K)`` arrays, by loops."""
    values, switches = np.asarray(values, np.float64), np.asarray(switches)
    out = np.zeros((values.shape[0],) + tuple(spatial) + (values.shape[-1],))
    for idx in np.ndindex(values.shape):
        b, p, c = idx[0], idx[1:-1], idx[-1]
        off = np.unravel_index(switches[idx], pool_size)
        pos = tuple(pi * w + o for pi, w, o in zip(p, pool_size, off, strict=True))
        out[(b,) + pos + (c,)] = values[idx]
    return out


# --------------------------------------------------------------------------- configurations
def make_layer(name, **kwargs):
    """The :class:`IHTLayer` of ``GEOMETRIES[name]`` (``K`` filters) and its ``in_spatial``."""
    ks, spatial, stride, padding, pool_size = GEOMETRIES[name]
    layer = IHTLayer(
        features=K, kernel_size=ks, stride=stride, padding=padding, pool_size=pool_size, **kwargs
    )
    return layer, spatial


def init(layer, spatial, batch=(2,), seed=0, dtype=np.float32):
    """A batch ``x`` and Gaussian variables in the layer's params layout."""
    x = normal(seed, batch + tuple(spatial) + (M,), dtype)
    kernel = gaussian_kernel(seed + 1, layer.kernel_size, M, layer.features, dtype)
    return x, {"params": {"conv": {"kernel": kernel}}}


def stack_variables(layers, in_channels, seed, dtype=np.float32):
    """Gaussian variables in an encoder's params layout (``layers_i/conv/kernel``)."""
    params, m = {}, in_channels
    for i, layer in enumerate(layers):
        kernel = gaussian_kernel(seed + i, layer.kernel_size, m, layer.features, dtype)
        params[f"layers_{i}"] = {"conv": {"kernel": kernel}}
        m = layer.features
    return {"params": params}


def kernel_of(variables):
    return variables["params"]["conv"]["kernel"]
