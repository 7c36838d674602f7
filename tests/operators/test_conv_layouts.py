"""Kernels in other layouts: PyTorch's ``(K, M, *filter)`` through ``from_torch`` against the
definition of PyTorch's ``conv2d`` (a cross-correlation, written out in NumPy); Keras's
``(*filter, M, K)`` through ``from_keras``; a kernel read in the wrong layout refused."""

from __future__ import annotations

import jax.random as jr
import numpy as np
import pytest

import jaxcs


def torch_conv2d(x, weight, stride):
    """PyTorch's ``conv2d`` without padding, by its definition: ``out[k, i, j] =
    Σ_m Σ_u Σ_v weight[k, m, u, v] · x[m, s·i + u, s·j + v]`` (channels first)."""
    K, M, U, V = weight.shape
    _, H, W = x.shape
    out = np.zeros((K, (H - U) // stride + 1, (W - V) // stride + 1))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            patch = x[:, stride * i : stride * i + U, stride * j : stride * j + V]
            out[:, i, j] = np.einsum("kmuv,muv->k", weight, patch)
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_from_torch_is_pytorch_conv2d(stride):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(3, 2, 3, 2)).astype(np.float32)  # (K, M, H, W), not square
    x = rng.normal(size=(2, 7, 6)).astype(np.float32)  # (M, H, W)
    op = jaxcs.ConvOperator.from_torch(weight, (7, 6), stride)
    assert op.in_shape == (7, 6, 2) and op.out_channels == 3
    got = np.asarray(op.mv(np.moveaxis(x, 0, -1)))  # channels last in, channels last out
    np.testing.assert_allclose(got, np.moveaxis(torch_conv2d(x, weight, stride), 0, -1), rtol=1e-5)
    assert jaxcs.check_adjoint(op, jr.key(0))


def test_from_keras_reads_its_own_layout():
    kernel = np.random.default_rng(1).normal(size=(3, 3, 4, 5)).astype(np.float32)
    op = jaxcs.ConvOperator.from_keras(kernel, (8, 8), padding="same")
    np.testing.assert_array_equal(np.asarray(op.filters), kernel)
    assert op.in_shape == (8, 8, 4) and op.out_shape == (8, 8, 5)


def test_a_kernel_in_another_layout_is_refused():
    """A PyTorch ``(64, 16, 3, 3)`` weight given to the constructor is a 64 × 16 filter over 3
    channels: larger than a 28 × 28 input, refused with a pointer to ``from_torch``."""
    weight = np.zeros((64, 16, 3, 3), np.float32)
    for padding in ("same", "circular", "valid"):
        with pytest.raises(ValueError, match="from_torch"):
            jaxcs.ConvOperator(weight, (28, 28), 1, padding)
    op = jaxcs.ConvOperator.from_torch(weight, (28, 28), padding="same")
    assert op.in_shape == (28, 28, 16) and op.out_shape == (28, 28, 64)
    wide = jaxcs.ConvOperator(np.ones((5, 1, 1), np.float32), (3,), 1, "same", large_filters=True)
    assert wide.out_shape == (3, 1)
    with pytest.raises(ValueError, match="rank >= 3"):
        jaxcs.ConvOperator.from_torch(np.zeros((3, 3)), (8,))
