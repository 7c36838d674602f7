"""The ± filter pairs of Proposition 1 (jaxcs/layers/plus_minus.py).

References (tests/layer_reference.py): Flax's own ``nn.Conv`` for ``W x`` and its VJP for
``Wᵀ``, independent of the code under test.
"""

from __future__ import annotations

import jax.numpy as jnp
import layer_reference as ref  # tests/layer_reference.py (tests/ is on the pythonpath)
import numpy as np
import pytest

import jaxcs
from jaxcs.layers import IHTLayer, decode_layer, plus_minus_filters

GEOMETRIES, M, K = ref.GEOMETRIES, ref.M, ref.K
flax_conv, flax_adjoint = ref.flax_conv, ref.flax_adjoint
run, normal, gaussian_kernel = ref.run, ref.normal, ref.gaussian_kernel


def test_plus_minus_filters_layout():
    w = normal(0, (3, 2, M, K))
    pm = np.asarray(plus_minus_filters(w))
    assert pm.shape == (3, 2, M, 2 * K)
    np.testing.assert_array_equal(pm[..., :K], w)
    np.testing.assert_array_equal(pm[..., K:], -w)


@pytest.mark.parametrize("name", ["1d-valid-t2", "2d-same-t2"])
def test_proposition_1(name):
    """Ψ = [Wᵀ, −Wᵀ]: ReLU(Ψᵀ x) = (ReLU(W x), ReLU(−W x)) and Ψ · ReLU(Ψᵀ x) = Wᵀ W x."""
    ks, spatial, stride, padding, _ = GEOMETRIES[name]
    w = gaussian_kernel(5, ks, M, K)
    x = normal(6, (2,) + spatial + (M,))
    wx = np.asarray(flax_conv(w, x, stride, padding))
    wtwx = np.asarray(flax_adjoint(w, wx, x.shape, stride, padding))
    # Through the layer: ± filters, ReLU, no pooling (a pool size of ones), tied decoder.
    layer = IHTLayer(2 * K, ks, stride, padding, pool_size=(1,) * len(ks))

    def prop1(w, x):
        variables = {"params": {"conv": {"kernel": plus_minus_filters(w)}}}
        code = layer.apply(variables, x).code
        psi_t = jaxcs.ConvOperator(plus_minus_filters(w), spatial, stride, padding)
        return (
            code,
            decode_layer(layer, variables, code, spatial),
            psi_t.rmv(jnp.maximum(psi_t.mv(x), 0)),
        )

    code, x_hat, via_operator = run(prop1, w, x)
    np.testing.assert_allclose(code[..., :K], np.maximum(wx, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(code[..., K:], np.maximum(-wx, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x_hat, wtwx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(via_operator, wtwx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["1d-same-t1", "2d-valid-t1"])
def test_signed_pooling_is_the_larger_of_the_plus_minus_pair(name):
    """The theory's signed max-|·| pooling of W x (relu=False) is, per region, whichever of the
    ReLU'd ± pair's pooled values is larger, with its sign and its switch (Proposition 1)."""
    ks, spatial, stride, padding, pool_size = GEOMETRIES[name]
    w = gaussian_kernel(7, ks, M, K)
    x = normal(8, (2,) + spatial + (M,))
    signed = IHTLayer(K, ks, stride, padding, pool_size, relu=False)
    pair = IHTLayer(2 * K, ks, stride, padding, pool_size, relu=True)

    def both(w, x):
        s = signed.apply({"params": {"conv": {"kernel": w}}}, x)
        return s, pair.apply({"params": {"conv": {"kernel": plus_minus_filters(w)}}}, x)

    s, p = run(both, w, x)
    pos, neg = p.pooled[..., :K], p.pooled[..., K:]
    take_pos = pos >= neg
    np.testing.assert_allclose(s.pooled, np.where(take_pos, pos, -neg), rtol=1e-6)
    np.testing.assert_array_equal(
        s.switches, np.where(take_pos, p.switches[..., :K], p.switches[..., K:])
    )
    assert np.any(take_pos) and np.any(~take_pos)


def test_bad_filters_raise_naming_them():
    with pytest.raises(ValueError, match="filters"):
        plus_minus_filters(np.ones((3, 4)))
