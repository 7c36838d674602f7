"""The one pytree base (jaxcs._pytree, an equinox Module): annotated fields, static markers, no
re-validation, ``replace``."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcs
from jaxcs import Pytree, static_field


class Scaled(Pytree):
    weight: jax.Array
    name: str = static_field(default="w")


class Checked(Pytree):
    """Validates in its own ``__init__``: must not run again when JAX rebuilds it."""

    value: jax.Array
    size: int = static_field()

    def __init__(self, value, size):
        value = jnp.asarray(value)
        if isinstance(value, jax.core.Tracer) or value.shape != (size,):
            raise ValueError("value must be a concrete array of shape (size,)")
        self.value = value
        self.size = size


class CheckedChild(Checked):
    """Inherits the parent's own ``__init__`` (no generated one)."""


def test_fields_are_declared_once_leaves_and_static():
    s = Scaled(jnp.ones(3))
    assert Scaled.leaf_fields() == ("weight",)
    assert [f.name for f in dataclasses.fields(Scaled) if f.metadata.get("static")] == ["name"]
    leaves, treedef = jax.tree.flatten(s)
    assert len(leaves) == 1 and leaves[0].shape == (3,)
    assert Scaled(jnp.zeros(3), "v") is not s
    # static fields are part of the treedef (hence of jit's cache key)
    assert jax.tree.structure(Scaled(jnp.ones(3), "v")) != treedef
    assert jax.tree.structure(Scaled(jnp.zeros(3))) == treedef


def test_unflatten_does_not_validate_under_jit_and_vmap():
    c = Checked(np.arange(3.0), 3)
    doubled = jax.jit(lambda c: c.replace(value=2 * c.value))(c)
    np.testing.assert_array_equal(doubled.value, [0, 2, 4])
    stacked = jax.tree.map(lambda v: jnp.stack([v, v + 1]), c)
    np.testing.assert_array_equal(jax.vmap(lambda c: c.value.sum())(stacked), [3, 6])
    with pytest.raises(ValueError):
        Checked(np.arange(2.0), 3)
    child = CheckedChild(np.ones(2), 2)
    assert isinstance(jax.jit(lambda c: c)(child), CheckedChild)
    with pytest.raises(ValueError):
        CheckedChild(np.ones(2), 3)


def test_instances_are_immutable_and_replace_checks_names():
    s = Scaled(jnp.ones(2))
    with pytest.raises(AttributeError, match="cannot assign"):
        s.weight = jnp.zeros(2)
    with pytest.raises(TypeError, match="no field"):
        s.replace(bias=1)
    assert s.replace(name="u").name == "u" and s.name == "w"


def test_a_base_declares_what_its_subclasses_set():
    """Equinox's abstract attributes: the base names a field its concrete subclasses declare,
    and its methods may use it; the base itself has no such field to set."""

    class Base(Pytree):
        size: eqx.AbstractVar[int]

        def doubled(self):
            return 2 * self.size

    class Sized(Base):
        size: int = static_field()

    assert Sized(5).size == 5 and Sized(5).doubled() == 10
    assert jax.jit(lambda s: s)(Sized(7)).size == 7


def test_an_init_that_forgets_a_field_is_an_error():
    class Broken(Pytree):
        a: jax.Array
        b: jax.Array

        def __init__(self, a):
            self.a = a

    with pytest.raises(TypeError, match="'b' was not initialized"):
        Broken(1.0)


def test_every_jaxcs_type_uses_the_mechanism():
    for name in (
        "ConvOperator MatrixOperator TransposedOperator SparseCode BlockModel PoolingModel "
        "TopKModel Solution RIPEstimate Statistics CorrelationTable LayerOutput IHT NIHT HTP "
        "CoSaMP FISTA AdjointCheck DenseGram"
    ).split():
        home = next(
            sub
            for sub in (jaxcs, jaxcs.operators, jaxcs.models, jaxcs.analysis, jaxcs.layers)
            if hasattr(sub, name)
        )
        assert issubclass(getattr(home, name), Pytree), name
        assert issubclass(getattr(home, name), eqx.Module), name
