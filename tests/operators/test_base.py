"""The operator protocol (jaxcs.AbstractOperator): a user's own operator, the transposed
operator and a classical sensing matrix go everywhere the built-in operators go, on the dense
defaults of the base class; ``check_adjoint`` catches a wrong adjoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs


class Circulant(jaxcs.AbstractOperator):
    """``(W x)[i] = Σ_j c[(j − i) mod n] x[j]`` by FFT (circular cross-correlation with ``c``);
    codes ``(n, 1)`` (one channel), signals ``(n,)``. Written the way a user would."""

    kernel: jax.Array
    in_shape: tuple = jaxcs.static_field()

    @property
    def out_shape(self):
        return self.in_shape + (1,)

    @property
    def dtype(self):
        return self.kernel.dtype

    def mv(self, x):
        spectrum = jnp.conj(jnp.fft.fft(self.kernel)) * jnp.fft.fft(x, axis=-1)
        return jnp.fft.ifft(spectrum, axis=-1).real.astype(self.dtype)[..., None]

    def rmv(self, z):
        spectrum = jnp.fft.fft(self.kernel) * jnp.fft.fft(z[..., 0], axis=-1)
        return jnp.fft.ifft(spectrum, axis=-1).real.astype(self.dtype)


class WrongAdjoint(Circulant):
    def rmv(self, z):  # the correlation again instead of the convolution
        return self.mv(z[..., 0])[..., 0]


def circulant_matrix(c):
    n = len(c)
    return np.array([[c[(j - i) % n] for j in range(n)] for i in range(n)], np.float64)


N = 32


@pytest.fixture(scope="module")
def circulant():
    c = np.asarray(jr.normal(jr.key(0), (N,))) / np.sqrt(N)
    return Circulant(jnp.asarray(c, jnp.float32), (N,)), circulant_matrix(c)


def test_user_operator_is_a_pytree_with_the_dense_defaults(circulant):
    op, W = circulant
    assert jax.tree.leaves(op)[0] is op.kernel and op.out_shape == (N, 1)
    np.testing.assert_allclose(op.as_matrix(), W, atol=1e-5)
    np.testing.assert_allclose(op.T.as_matrix(), W.T, atol=1e-5)
    assert bool(jaxcs.check_adjoint(op, jr.key(1)))
    assert bool(op.is_finite())
    ops = jax.vmap(lambda k: Circulant(jr.normal(k, (N,)), (N,)))(jr.split(jr.key(2), 3))
    assert ops.kernel.shape == (3, N)
    norms = jax.vmap(jaxcs.operator_norm)(ops)
    for b in range(3):
        expected = np.linalg.norm(circulant_matrix(np.asarray(ops.kernel[b])), 2)
        np.testing.assert_allclose(norms[b], expected, rtol=1e-3)


def test_user_operator_normal_sparse_default(circulant):
    """``W Wᵀ z`` of a code in index form on the dense defaults: ``mv(rmv_sparse(z))``
    without a table, a row gather from the dense Gram with one; ``onto``, ``scale`` and
    ``add_code``; no table form for the cost rule (solvers then use ``mv``)."""
    op, W = circulant
    code = jaxcs.TopKModel(3).project_sparse(jnp.sin(jnp.arange(N, dtype=jnp.float32))[:, None])
    z = np.asarray(code.to_dense(), np.float64).reshape(-1)
    expected = (W @ W.T @ z).reshape(N, 1)
    onto = jnp.ones((N, 1))
    for table in (None, jaxcs.operators.gram_table(op)):
        np.testing.assert_allclose(op.normal_sparse(code, table), expected, atol=1e-5)
        fused = op.normal_sparse(code, table, scale=-2.0, onto=onto, add_code=True)
        np.testing.assert_allclose(fused, 1 - 2 * expected + z.reshape(N, 1), atol=1e-5)
    assert op.normal_sparse_cost(3) is None and op.mv_cost() == N * N
    assert not jaxcs.IHT(gradient="auto").prepare(op, jaxcs.TopKModel(3)).from_table


def test_check_adjoint_catches_a_wrong_adjoint(circulant):
    op, _ = circulant
    wrong = WrongAdjoint(op.kernel, (N,))
    result = jaxcs.check_adjoint(wrong, jr.key(1))
    assert not bool(result) and float(result.error) > 1e-2
    exact = jaxcs.check_adjoint(op, jr.key(1))
    assert float(exact.error) < 1e-6 and float(exact.tolerance) > float(exact.error)
    # jit and vmap over operators
    ops = jax.tree.map(lambda a: jnp.stack([a, a]), op)
    assert jax.vmap(lambda o: jaxcs.check_adjoint(o, jr.key(0)).passed)(ops).all()
    with pytest.raises(TypeError, match="op"):
        jaxcs.check_adjoint(np.eye(3), jr.key(0))
    with pytest.raises(ValueError, match="num_probes"):
        jaxcs.check_adjoint(op, jr.key(0), num_probes=0)


def test_user_operator_restricted_gram_coherence_and_norm(circulant):
    op, W = circulant
    support = jnp.array([[0, 5, 9], [3, 4, 31]])
    mask = jnp.array([[True, True, False], [True, True, True]])
    gram = jaxcs.operators.restricted_gram(op, support, mask)
    for b in range(2):
        cols = W[np.asarray(support[b])]  # columns of Φ = Wᵀ are rows of W
        expected = cols @ cols.T * np.outer(mask[b], mask[b])
        np.testing.assert_allclose(gram[b], expected, atol=1e-5)
    table = jaxcs.operators.gram_table(op)
    assert isinstance(table, jaxcs.operators.DenseGram)
    np.testing.assert_allclose(
        jaxcs.operators.restricted_gram(op, support, mask, table=table), gram, atol=1e-5
    )
    normalized = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = np.abs(normalized @ normalized.T) - np.eye(N)
    np.testing.assert_allclose(jaxcs.coherence(op), cos.max(), rtol=1e-4)
    np.testing.assert_allclose(jaxcs.operator_norm(op), np.linalg.norm(W, 2), rtol=1e-3)


@pytest.mark.parametrize("solver", [jaxcs.NIHT(), jaxcs.HTP("auto"), jaxcs.CoSaMP()], ids=str)
def test_user_operator_through_recover(circulant, solver):
    op, W = circulant
    model = jaxcs.TopKModel(3)
    z = model.sample(jr.key(3), op.out_shape, (4,))
    sol = jaxcs.recover(op, op.rmv(z), model, solver, max_steps=200)
    assert np.all(np.asarray(sol.status) == jaxcs.Status.CONVERGED)
    np.testing.assert_allclose(sol.z, z, atol=1e-4)
    # the same problems through the explicit matrix
    dense = jaxcs.recover(
        jaxcs.MatrixOperator(W.astype(np.float32), out_shape=(N, 1)),
        op.rmv(z),
        model,
        solver,
        max_steps=200,
    )
    np.testing.assert_allclose(sol.z, dense.z, atol=1e-4)


def test_user_operator_through_estimate_model_rip(circulant):
    op, W = circulant
    model = jaxcs.TopKModel(4)
    est = jaxcs.estimate_model_rip(jr.key(4), op, model, 2000)
    ref = jaxcs.estimate_model_rip(
        jr.key(4), jaxcs.MatrixOperator(W.astype(np.float32), out_shape=(N, 1)), model, 2000
    )
    for name in ("ratio_wt", "ratio_wwt", "eig_min", "eig_max"):
        np.testing.assert_allclose(getattr(est, name).mean, getattr(ref, name).mean, rtol=1e-4)
    np.testing.assert_allclose(est.delta_lower_bound, ref.delta_lower_bound, rtol=1e-4)
    conv = jaxcs.estimate_model_rip(jr.key(4), op, model, 2000, method="conv")
    np.testing.assert_allclose(conv.ratio_wt.mean, est.ratio_wt.mean, rtol=1e-4)


def test_transposed_operator_works_everywhere():
    """``op.T`` (a TransposedOperator of a ConvOperator) in recover, the RIP estimate,
    coherence and restricted Grams, against the explicit matrix."""
    w = jaxcs.gaussian_filters(jr.key(5), (3,), 2, 8)
    conv = jaxcs.ConvOperator(w, (16,))
    op = conv.T  # W' = Wᵀ: signals are conv codes (14, 8), codes are conv signals (16, 2)
    assert isinstance(op, jaxcs.operators.TransposedOperator) and op.T is conv
    A = np.asarray(conv.as_matrix(), np.float64).T  # the matrix of op
    np.testing.assert_allclose(op.as_matrix(), A, atol=1e-6)
    assert bool(jaxcs.check_adjoint(op, jr.key(0)))
    model = jaxcs.TopKModel(4)
    z = model.sample(jr.key(6), op.out_shape, (3,))
    sol = jaxcs.recover(op, op.rmv(z), model, jaxcs.NIHT(), max_steps=200)
    assert np.all(np.asarray(sol.status) == jaxcs.Status.CONVERGED)
    np.testing.assert_allclose(sol.z, z, atol=1e-4)
    support = jnp.array([0, 7, 30])
    cols = A[np.asarray(support)]
    np.testing.assert_allclose(
        jaxcs.operators.restricted_gram(op, support), cols @ cols.T, atol=1e-5
    )
    normalized = A / np.linalg.norm(A, axis=1, keepdims=True)
    cos = np.abs(normalized @ normalized.T) - np.eye(len(A))
    np.testing.assert_allclose(jaxcs.coherence(op, shifts=True), cos.max(), rtol=1e-4)
    est = jaxcs.estimate_model_rip(jr.key(7), op, model, 500)
    assert int(est.ratio_wt.count) == 500 and np.isfinite(float(est.delta_lower_bound))


def test_classical_sensing_matrix_via_matrix_operator_T():
    """``y = Φ z`` with a sensing matrix Φ (m × n):
    ``recover(MatrixOperator(Φ).T, y, TopKModel(k))``."""
    m, n, k = 60, 100, 5
    phi = jr.normal(jr.key(8), (m, n)) / np.sqrt(m)
    op = jaxcs.MatrixOperator(phi).T
    assert isinstance(op, jaxcs.MatrixOperator)  # the transposed matrix, with every fast form
    assert op.in_shape == (m,) and op.out_shape == (n,)
    model = jaxcs.TopKModel(k)
    z = model.sample(jr.key(9), (n,), (8,))
    y = z @ phi.T  # y = Φ z
    np.testing.assert_allclose(op.rmv(z), y, atol=1e-5)
    sol = jaxcs.recover(op, y, model, jaxcs.NIHT(), max_steps=100)
    assert np.all(np.asarray(sol.status) == jaxcs.Status.CONVERGED)
    np.testing.assert_allclose(sol.z, z, atol=1e-4)


def test_an_incomplete_operator_class_is_rejected():
    """Abstract methods and attributes: the class cannot be instantiated, the error names
    what is missing."""

    class Half(jaxcs.AbstractOperator):
        matrix: jax.Array
        in_shape: tuple = jaxcs.static_field()
        out_shape: tuple = jaxcs.static_field()
        dtype = jnp.float32

        def mv(self, x):
            return x @ self.matrix.T

    with pytest.raises(TypeError, match="rmv"):
        Half(jnp.ones((2, 3)), (3,), (2,))

    class Shapeless(jaxcs.AbstractOperator):
        def mv(self, x):
            return x

        def rmv(self, z):
            return z

    with pytest.raises(TypeError, match="in_shape"):
        Shapeless()
