"""Training the small CNNs with Optax: seeded, deterministic for a key, with progress.

One Adam optimiser on the softmax cross-entropy. A frozen-filter network has no trainable
parameter but its classifier (its convolutions read their kernels through ``stop_gradient`` and
its batch norm has no scale or shift), so the same step trains both kinds. Shuffling, the
initialisation and every other random choice come from the one key.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, Shaped

from jaxcs._progress import advance_progress, progress_bar
from jaxcs._pytree import Pytree, static_field
from jaxcs._validate import check_key, positive_int
from jaxcs.experiments.networks.cnn import NetworkConfig


class TrainedNetwork(Pytree):
    """A trained :class:`~jaxcs.experiments.networks.SmallCNN`.

    Attributes:
        variables: ``{"params", "batch_stats"}``.
        train_loss: ``(epochs,)`` mean training loss per epoch.
        train_accuracy, test_accuracy: fractions in [0, 1] (batch norm in inference mode).
        config: the :class:`NetworkConfig` (static).
        seconds: wall time of the training (static).
    """

    variables: Any
    train_loss: Float[Array, " epochs"]
    train_accuracy: Float[Array, ""]
    test_accuracy: Float[Array, ""]
    config: NetworkConfig = static_field()
    seconds: float = static_field(default=0.0)

    def summary(self) -> dict:
        return {
            "network": self.config.name,
            "depth": self.config.depth,
            "filter_size": self.config.filter_size,
            "widths": list(self.config.widths),
            "filters": "random" if self.config.frozen_filters else "learned",
            "train_accuracy": float(self.train_accuracy),
            "test_accuracy": float(self.test_accuracy),
            "final_loss": float(self.train_loss[-1]),
            "seconds": self.seconds,
        }


def initialize(key: PRNGKeyArray, config: NetworkConfig, shape) -> dict:
    """The network's variables for inputs ``(B, *shape)``, from ``key``."""
    check_key(key)
    x = jnp.zeros((1,) + tuple(shape), jnp.float32)
    return dict(config.module().init(key, x, train=False))


def _optimizer(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


def make_train_step(config: NetworkConfig, learning_rate: float):
    """``step(variables, opt_state, x, y) -> (variables, opt_state, loss)``, jitted, and the
    Optax optimiser; see :func:`classifier_train_step`."""
    return classifier_train_step(config.module(), learning_rate)


def classifier_train_step(module, learning_rate: float):
    """One Adam step on the softmax cross-entropy of any Flax classifier with batch norm
    (``module.apply(variables, x, train=True)``, ``batch_stats`` mutable).

    Returns:
        ``(step, optimizer)``: ``step(variables, opt_state, x, y) -> (variables, opt_state,
        loss)`` (jitted) and the ``optax`` transformation to ``init`` its state.
    """
    optimizer = _optimizer(learning_rate)

    def loss_fn(params, batch_stats, x, y):
        logits, updates = module.apply(
            {"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"]
        )
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, updates["batch_stats"]

    @jax.jit
    def step(variables, opt_state, x, y):
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            variables["params"], variables["batch_stats"], x, y
        )
        updates, opt_state = optimizer.update(grads, opt_state, variables["params"])
        params = optax.apply_updates(variables["params"], updates)
        return {"params": params, "batch_stats": stats}, opt_state, loss

    return step, optimizer


def predict(
    config: NetworkConfig, variables, x: Float[ArrayLike, "N H W C"], batch_size: int = 512
) -> Int[np.ndarray, " N"]:
    """Class predictions ``(N,)`` (batch norm in inference mode), in batches."""
    # without ``mutable``, flax's ``apply`` returns the output alone (its stub says maybe a pair)
    apply = jax.jit(
        lambda v, xb: jnp.argmax(cast(jax.Array, config.module().apply(v, xb, train=False)), -1)
    )
    x = np.asarray(x)
    return np.concatenate(
        [np.asarray(apply(variables, x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    )


def accuracy(
    config: NetworkConfig,
    variables,
    x: Float[ArrayLike, "N H W C"],
    y: Int[ArrayLike, " N"],
) -> float:
    """Fraction of ``x`` classified as ``y``."""
    return float(np.mean(predict(config, variables, x) == np.asarray(y)))


def run_epochs(
    key: PRNGKeyArray,
    step,
    state,
    arrays: tuple[Shaped[np.ndarray, "N ..."], ...],
    *,
    epochs: int,
    batch_size: int,
    label: str,
    progress: bool = False,
):
    """The epoch loop of every training in jaxcs: ``state, loss = step(*state, *batch)``
    over shuffled mini-batches of ``arrays`` (host NumPy, sliced on the host).

    Each epoch's order is ``jax.random.permutation(fold_in(key, epoch), N)``; the last
    incomplete batch is dropped, so every step has one shape (one compiled program).

    Returns:
        ``(state, losses)`` with ``losses`` the mean step loss of each epoch.
    """
    n = len(arrays[0])
    steps = n // batch_size
    losses = []
    with progress_bar(epochs * steps, label, enabled=progress, unit="step") as bar:
        for epoch in range(epochs):
            order = np.asarray(jr.permutation(jr.fold_in(key, epoch), n))
            total = 0.0
            for s in range(steps):
                idx = order[s * batch_size : (s + 1) * batch_size]
                *state, loss = step(*state, *(a[idx] for a in arrays))
                total += float(loss)
                advance_progress(bar, 1)
            losses.append(total / steps)
    return tuple(state), losses


def train_network(
    key: PRNGKeyArray,
    config: NetworkConfig,
    task,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    progress: bool = False,
) -> TrainedNetwork:
    """Train ``config`` on ``task`` (a :class:`~jaxcs.experiments.data.PatchTask`) with Adam.

    Deterministic for ``key``: it seeds the initialisation and each epoch's shuffle (the last
    incomplete batch of an epoch is dropped, so every step has one shape and one program).

    Host-driven (a Python loop over epochs and steps, each step jitted), so not jit-able.

    Args:
        key: ``jax.random`` key.
        config: the network.
        task: training and test arrays ``x_* (N, H, W, C)``, labels ``y_* (N,)``.
        epochs, batch_size, learning_rate: Adam's schedule (constant rate).
        progress: a tqdm bar over steps (``progress`` extra).

    Returns:
        A :class:`TrainedNetwork`.
    """
    check_key(key)
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    if not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}")
    x_train, y_train = np.asarray(task.x_train, np.float32), np.asarray(task.y_train, np.int32)
    if len(x_train) < batch_size:
        raise ValueError(
            f"batch_size must be <= the number of training examples ({len(x_train)}); got "
            f"{batch_size}"
        )
    if y_train.min() < 0 or y_train.max() >= config.num_classes:
        raise ValueError(
            f"task labels must be in [0, {config.num_classes}) for num_classes="
            f"{config.num_classes}; got [{y_train.min()}, {y_train.max()}]"
        )
    if not np.isfinite(x_train).all():
        raise ValueError("task.x_train holds non-finite values")
    key_init, key_shuffle = jr.split(key)
    variables = initialize(key_init, config, x_train.shape[1:])
    step, optimizer = make_train_step(config, float(learning_rate))
    started = time.perf_counter()
    (variables, _), losses = run_epochs(
        key_shuffle,
        step,
        (variables, optimizer.init(variables["params"])),
        (x_train, y_train),
        epochs=epochs,
        batch_size=batch_size,
        label=f"train {config.name}",
        progress=progress,
    )
    seconds = time.perf_counter() - started
    return TrainedNetwork(
        variables,
        jnp.asarray(losses),
        jnp.asarray(accuracy(config, variables, x_train, y_train)),
        jnp.asarray(accuracy(config, variables, task.x_test, task.y_test)),
        config=config,
        seconds=seconds,
    )


__all__ = [
    "TrainedNetwork",
    "accuracy",
    "classifier_train_step",
    "initialize",
    "make_train_step",
    "predict",
    "run_epochs",
    "train_network",
]
