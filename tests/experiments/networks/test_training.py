"""train_network and run_epochs: determinism for a key, frozen filters staying put, learning
an easy task, the epoch loop's batches, and argument errors."""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxcs.experiments.networks import (
    NetworkConfig,
    SmallCNN,
    initialize,
    run_epochs,
    train_network,
)

N = 32
SHAPE = (8, 8, 3)
LEARNED = NetworkConfig((4,), filter_size=3, num_classes=4)
FROZEN = NetworkConfig((4,), filter_size=3, num_classes=4, frozen_filters=True)
SCHEDULE = dict(epochs=3, batch_size=8, learning_rate=1e-2)


def _examples(rng, n):
    """Class = the sign pattern of the mean of colour channels 0 and 1 (4 classes)."""
    y = rng.integers(0, 4, n)
    x = rng.normal(size=(n, *SHAPE)) * 0.5
    x[..., 0] += np.where(y // 2 == 1, 1.0, -1.0)[:, None, None]
    x[..., 1] += np.where(y % 2 == 1, 1.0, -1.0)[:, None, None]
    return x.astype(np.float32), y.astype(np.int32)


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = _examples(rng, N), _examples(rng, N)
    return types.SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="module")
def runs(task):
    """Learned twice with key 0, once with key 1; frozen with key 0."""
    return {
        "learned": train_network(jr.PRNGKey(0), LEARNED, task, **SCHEDULE),
        "again": train_network(jr.PRNGKey(0), LEARNED, task, **SCHEDULE),
        "other": train_network(jr.PRNGKey(1), LEARNED, task, **SCHEDULE),
        "frozen": train_network(jr.PRNGKey(0), FROZEN, task, **SCHEDULE),
    }


@pytest.fixture(scope="module")
def initial():
    """What train_network starts from: ``initialize`` with the first half of the split key."""
    key_init = jr.split(jr.PRNGKey(0))[0]
    return {
        "learned": initialize(key_init, LEARNED, SHAPE),
        "frozen": initialize(key_init, FROZEN, SHAPE),
    }


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


# --------------------------------------------------------------------------- train_network
def test_deterministic_for_a_key(runs):
    a, b, c = runs["learned"], runs["again"], runs["other"]
    assert jax.tree.structure(a.variables) == jax.tree.structure(b.variables)
    for x, y in zip(_leaves(a.variables), _leaves(b.variables), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(np.asarray(a.train_loss), np.asarray(b.train_loss))
    assert float(a.test_accuracy) == float(b.test_accuracy)
    for name in ("block_0", "classifier"):
        assert not np.array_equal(
            np.asarray(a.variables["params"][name]["kernel"]),
            np.asarray(c.variables["params"][name]["kernel"]),
        )


def test_frozen_filters_stay_at_initialisation(runs, initial):
    trained, init = runs["frozen"].variables, initial["frozen"]
    assert "norm_0" not in trained["params"]
    np.testing.assert_array_equal(
        np.asarray(trained["params"]["block_0"]["kernel"]),
        np.asarray(init["params"]["block_0"]["kernel"]),
    )
    np.testing.assert_array_equal(np.asarray(trained["params"]["block_0"]["bias"]), 0.0)
    assert not np.allclose(
        np.asarray(trained["params"]["classifier"]["kernel"]),
        np.asarray(init["params"]["classifier"]["kernel"]),
    )
    # batch statistics are still collected in training
    assert not np.allclose(np.asarray(trained["batch_stats"]["norm_0"]["mean"]), 0.0)


def test_learned_filters_change(runs, initial):
    trained, init = runs["learned"].variables["params"], initial["learned"]["params"]
    kernel0 = np.asarray(init["block_0"]["kernel"])
    assert np.abs(np.asarray(trained["block_0"]["kernel"]) - kernel0).max() > 1e-3
    assert not np.allclose(np.asarray(trained["norm_0"]["scale"]), 1.0)
    # the same initialisation as the frozen network: the filters start equal
    np.testing.assert_array_equal(
        kernel0, np.asarray(initial["frozen"]["params"]["block_0"]["kernel"])
    )


@pytest.mark.parametrize("name", ["learned", "frozen"])
def test_learns_easy_task(runs, task, name):
    result = runs[name]
    loss = np.asarray(result.train_loss)
    assert loss.shape == (SCHEDULE["epochs"],) and np.all(np.isfinite(loss))
    assert loss[-1] < 0.5 * loss[0]
    assert float(result.train_accuracy) >= 0.8  # chance: 0.25
    assert float(result.test_accuracy) >= 0.6
    summary = result.summary()
    assert summary["network"] == result.config.name
    assert summary["filters"] == ("random" if name == "frozen" else "learned")
    assert summary["final_loss"] == pytest.approx(float(loss[-1]))


def test_accuracy_matches_inference_logits(runs, task):
    result = runs["learned"]
    logits = jax.jit(LEARNED.module().apply)(result.variables, jnp.asarray(task.x_test))
    expected = np.mean(np.argmax(np.asarray(logits), -1) == task.y_test)
    assert float(result.test_accuracy) == pytest.approx(expected)
    # and SmallCNN in inference mode uses the running statistics: apply twice, same logits
    again = jax.jit(lambda v, x: LEARNED.module().apply(v, x, method=SmallCNN.activations)[1])(
        result.variables, jnp.asarray(task.x_test)
    )
    np.testing.assert_allclose(np.asarray(again), np.asarray(logits), rtol=1e-6, atol=1e-6)


def _with(task, **changes):
    return types.SimpleNamespace(**{**vars(task), **changes})


@pytest.mark.parametrize(
    "change, kwargs, match",
    [
        (dict(), dict(batch_size=N + 1), "batch_size"),
        (dict(), dict(batch_size=0), "batch_size"),
        (dict(), dict(epochs=0), "epochs"),
        (dict(), dict(learning_rate=0.0), "learning_rate"),
        (dict(), dict(learning_rate=-1e-3), "learning_rate"),
        (dict(), dict(learning_rate=float("nan")), "learning_rate"),
        (dict(), dict(learning_rate=float("inf")), "learning_rate"),
        (dict(), dict(learning_rate="0.01"), "learning_rate"),
        ("label_high", dict(), "labels"),
        ("label_negative", dict(), "labels"),
        ("nan", dict(), "x_train"),
        ("inf", dict(), "x_train"),
    ],
)
def test_train_network_rejects(task, change, kwargs, match):
    if change == "label_high":
        y = task.y_train.copy()
        y[3] = LEARNED.num_classes
        task = _with(task, y_train=y)
    elif change == "label_negative":
        y = task.y_train.copy()
        y[0] = -1
        task = _with(task, y_train=y)
    elif change in ("nan", "inf"):
        x = task.x_train.copy()
        x[1, 2, 3, 0] = np.nan if change == "nan" else np.inf
        task = _with(task, x_train=x)
    with pytest.raises(ValueError, match=match):
        train_network(jr.PRNGKey(0), LEARNED, task, **{**SCHEDULE, **kwargs})


# --------------------------------------------------------------------------- run_epochs
def _record(key, n, batch_size, epochs):
    """run_epochs over ``arange(n)`` with a step that records each batch of indices."""
    seen = []

    def step(count, idx, other):
        np.testing.assert_array_equal(other, 10 * idx)  # arrays sliced together
        seen.append(np.asarray(idx))
        return count + 1, float(idx.sum())

    arrays = (np.arange(n), 10 * np.arange(n))
    (count,), losses = run_epochs(
        key, step, (0,), arrays, epochs=epochs, batch_size=batch_size, label="test"
    )
    return count, losses, seen


def test_run_epochs_visits_every_example_once_per_epoch():
    count, losses, seen = _record(jr.PRNGKey(3), 12, 4, 3)
    assert count == 9 and len(seen) == 9
    assert all(len(b) == 4 for b in seen)
    epochs = [np.concatenate(seen[3 * e : 3 * e + 3]) for e in range(3)]
    for e, order in enumerate(epochs):
        np.testing.assert_array_equal(np.sort(order), np.arange(12))
        np.testing.assert_array_equal(
            order, np.asarray(jr.permutation(jr.fold_in(jr.PRNGKey(3), e), 12))
        )
        assert losses[e] == pytest.approx(sum(float(b.sum()) for b in seen[3 * e : 3 * e + 3]) / 3)
    assert not all(np.array_equal(epochs[0], o) for o in epochs[1:])  # reshuffled each epoch


def test_run_epochs_drops_incomplete_batch():
    count, losses, seen = _record(jr.PRNGKey(4), 10, 4, 2)
    assert count == 4 and len(losses) == 2
    assert all(len(b) == 4 for b in seen)
    for e in range(2):
        order = np.concatenate(seen[2 * e : 2 * e + 2])
        assert len(np.unique(order)) == 8  # no example twice in an epoch
        full = np.asarray(jr.permutation(jr.fold_in(jr.PRNGKey(4), e), 10))
        np.testing.assert_array_equal(order, full[:8])


def test_run_epochs_order_deterministic_for_key():
    _, losses_a, a = _record(jr.PRNGKey(5), 12, 3, 2)
    _, losses_b, b = _record(jr.PRNGKey(5), 12, 3, 2)
    _, _, c = _record(jr.PRNGKey(6), 12, 3, 2)
    assert losses_a == losses_b
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
