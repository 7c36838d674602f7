"""Classification tasks cut from bundled images (the offline stand-in for CIFAR-10): each class
is one image, its samples are patches of it; train and test patches come from disjoint rows."""

from __future__ import annotations

import dataclasses
import math

import jax.random as jr
import numpy as np
from jaxtyping import Float, Int, PRNGKeyArray

from jaxcs._validate import check_key, is_int, positive_int


@dataclasses.dataclass(frozen=True, eq=False)
class PatchTask:
    """A small image classification task.

    Attributes:
        x_train: float32 ``(N, P, P, C)`` training images.
        y_train: int32 ``(N,)`` class indices into ``class_names``.
        x_test: float32 ``(M, P, P, C)``.
        y_test: int32 ``(M,)``.
        class_names: one name per class.
        patch_size: ``P``.
        split: the fraction of each image's rows (for :func:`digits_task`: of each class's
            samples) used for training.
        positions_train: int32 ``(N, 3)`` ``(class, row, col)`` of each training patch's top-left
            pixel in its source image, or ``None``.
        positions_test: int32 ``(M, 3)``, likewise, or ``None``.
        mean: float32 ``(C,)`` per-channel training mean removed by :func:`standardize`, or
            ``None``.
        std: float32 ``(C,)`` per-channel training std divided out by :func:`standardize`, or
            ``None``.
    """

    x_train: Float[np.ndarray, "N P P C"]
    y_train: Int[np.ndarray, " N"]
    x_test: Float[np.ndarray, "M P P C"]
    y_test: Int[np.ndarray, " M"]
    class_names: tuple[str, ...]
    patch_size: int
    split: float
    positions_train: Int[np.ndarray, "N 3"] | None = None
    positions_test: Int[np.ndarray, "M 3"] | None = None
    mean: Float[np.ndarray, " C"] | None = None
    std: Float[np.ndarray, " C"] | None = None

    def __post_init__(self):
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 4 or y.shape != x.shape[:1]:
                raise ValueError(
                    f"x_{part} must be (N, P, P, C) and y_{part} (N,); got {x.shape}, {y.shape}"
                )
            positions = getattr(self, f"positions_{part}")
            if positions is not None and positions.shape != (x.shape[0], 3):
                raise ValueError(
                    f"positions_{part} must be ({x.shape[0]}, 3); got {positions.shape}"
                )
        if self.x_test.shape[1:] != self.x_train.shape[1:]:
            raise ValueError(
                f"x_test samples must have x_train's shape {self.x_train.shape[1:]}; "
                f"got {self.x_test.shape[1:]}"
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std must both be given or both be None")

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape ``(P, P, C)``."""
        return tuple(self.x_train.shape[1:])

    def summary(self) -> dict:
        """Sizes and classes, JSON-friendly: ``{"train": {"total", "per_class"}, "test": ...,
        "classes", "num_classes", "shape", "patch_size", "split", "standardized"}``."""

        def counts(y: np.ndarray) -> dict:
            per_class = np.bincount(y, minlength=self.num_classes)
            return {
                "total": int(y.shape[0]),
                "per_class": {n: int(c) for n, c in zip(self.class_names, per_class, strict=True)},
            }

        return {
            "train": counts(self.y_train),
            "test": counts(self.y_test),
            "classes": list(self.class_names),
            "num_classes": self.num_classes,
            "shape": list(self.shape),
            "patch_size": self.patch_size,
            "split": self.split,
            "standardized": self.mean is not None,
        }


def patch_task(
    key: PRNGKeyArray,
    images: dict[str, Float[np.ndarray, "H W C"]] | None = None,
    *,
    patch_size: int = 32,
    train_per_class: int = 500,
    test_per_class: int = 100,
    split: float = 0.7,
    gap: int | None = None,
) -> PatchTask:
    """Classify which image a ``patch_size × patch_size`` patch was cut from.

    Class ``i`` is the ``i``-th image of ``images``. An image ``(H, W, C)`` is cut by rows at
    ``b = floor(split * H)``: training patches lie entirely in rows ``[0, b)``, test patches
    entirely in rows ``[b + gap, H)``, so no test pixel is in any training patch. Top-left corners
    are drawn uniformly (with replacement) with ``jax.random`` from ``fold_in(key, i)``; the
    patches are cut on the host. Each split is then shuffled with a key-derived permutation: the
    task is a deterministic function of ``key``.

    Args:
        key: a JAX PRNG key (``jax.random.key(s)`` or ``jax.random.PRNGKey(s)``).
        images: name → float ``(H, W, C)`` (same ``C`` for all); default
            :func:`~jaxcs.experiments.data.load_bundled_images` (18 images, short side 256).
        patch_size: ``P``.
        train_per_class, test_per_class: patches per class in each split.
        split: fraction of rows in the training region, in ``(0, 1)``.
        gap: rows left unused between the regions (default 0).

    Returns:
        A :class:`PatchTask` with ``positions_train`` / ``positions_test`` recorded.

    Raises:
        ValueError: a bad key or argument, fewer than 2 images, an image that is not
            ``(H, W, C)``, or a region (or width) narrower than ``patch_size``.
    """
    key = check_key(key)
    patch_size = positive_int(patch_size, "patch_size")
    train_per_class = positive_int(train_per_class, "train_per_class")
    test_per_class = positive_int(test_per_class, "test_per_class")
    split = _check_fraction(split, "split")
    gap = 0 if gap is None else gap
    if not is_int(gap) or gap < 0:
        raise ValueError(f"gap must be None or an int >= 0; got {gap!r}")
    if images is None:
        from jaxcs.experiments.data.images import load_bundled_images

        images = load_bundled_images()
    images = _check_images(images)
    for name, image in images.items():
        _check_regions(name, image.shape, patch_size, split, gap)

    class_key, shuffle_key = jr.split(key)
    parts = {"train": ([], []), "test": ([], [])}
    for index, image in enumerate(images.values()):
        height, width = image.shape[:2]
        boundary = math.floor(split * height)
        k_train, k_test = jr.split(jr.fold_in(class_key, index))
        regions = {
            "train": (k_train, 0, boundary, train_per_class),
            "test": (k_test, boundary + gap, height, test_per_class),
        }
        for part, (k, first, stop, count) in regions.items():
            rows, cols = _corners(k, count, first, stop - patch_size, width - patch_size)
            parts[part][0].append(_cut(image, rows, cols, patch_size))
            parts[part][1].append(np.stack([np.full(count, index), rows, cols], axis=1))

    arrays = {}
    for part, k in zip(("train", "test"), jr.split(shuffle_key), strict=True):
        x = np.concatenate(parts[part][0])
        positions = np.concatenate(parts[part][1]).astype(np.int32)
        order = np.asarray(jr.permutation(k, x.shape[0]))
        arrays[f"x_{part}"] = x[order]
        arrays[f"y_{part}"] = positions[order, 0].copy()
        arrays[f"positions_{part}"] = positions[order]
    return PatchTask(**arrays, class_names=tuple(images), patch_size=patch_size, split=split)


def digits_task(key: PRNGKeyArray, *, test_fraction: float = 0.25) -> PatchTask:
    """scikit-learn's 8×8 digits (:func:`~jaxcs.experiments.data.load_digits`) split into
    train / test, stratified: from each digit's samples, ``round(test_fraction * count)`` drawn with
    ``fold_in(key, digit)`` go to test. Samples are ``(8, 8, 1)``, ``split = 1 - test_fraction``.

    Raises:
        ValueError: a bad key, or ``test_fraction`` not in ``(0, 1)`` or leaving a class with
            no training or no test sample.
    """
    key = check_key(key)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    from jaxcs.experiments.data.images import load_digits

    images, labels = load_digits()
    class_key, shuffle_key = jr.split(key)
    train, test = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        members = members[np.asarray(jr.permutation(jr.fold_in(class_key, digit), members.size))]
        n_test = round(test_fraction * members.size)
        if not 0 < n_test < members.size:
            raise ValueError(
                f"test_fraction={test_fraction} puts {n_test} of digit {digit}'s "
                f"{members.size} samples in test; each split needs at least one"
            )
        test.append(members[:n_test])
        train.append(members[n_test:])
    k_train, k_test = jr.split(shuffle_key)
    train = np.concatenate(train)[np.asarray(jr.permutation(k_train, sum(map(len, train))))]
    test = np.concatenate(test)[np.asarray(jr.permutation(k_test, sum(map(len, test))))]
    return PatchTask(
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
        class_names=tuple(str(d) for d in range(10)),
        patch_size=8,
        split=1.0 - test_fraction,
    )


def standardize(task: PatchTask) -> PatchTask:
    """``task`` with both splits mapped to ``(x - mean) / std``, where ``mean`` and ``std`` are
    the per-channel ``(C,)`` statistics of ``x_train`` (so the test set sees the training
    statistics). They are stored in the returned task's ``mean`` and ``std``.

    Raises:
        ValueError: ``task`` is already standardized, or a channel of ``x_train`` is constant.
    """
    if task.mean is not None:
        raise ValueError("task is already standardized (its mean and std are set)")
    x = task.x_train.astype(np.float64)
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2))
    constant = np.flatnonzero(std == 0).tolist()
    if constant:
        raise ValueError(f"x_train channel(s) {constant} are constant: cannot divide by std 0")

    def apply(images: np.ndarray) -> np.ndarray:
        return ((images.astype(np.float64) - mean) / std).astype(np.float32)

    return dataclasses.replace(
        task,
        x_train=apply(task.x_train),
        x_test=apply(task.x_test),
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
    )


def _check_fraction(value, name: str) -> float:
    """A real number strictly between 0 and 1, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")
    return float(value)


def _check_images(images) -> dict[str, np.ndarray]:
    """name → float32 ``(H, W, C)``, at least two, all with the same ``C``."""
    if not isinstance(images, dict) or len(images) < 2:
        count = len(images) if isinstance(images, dict) else type(images).__name__
        raise ValueError(f"images must be a dict of at least 2 images (H, W, C); got {count}")
    checked = {str(name): np.asarray(image, np.float32) for name, image in images.items()}
    channels = set()
    for name, image in checked.items():
        if image.ndim != 3:
            raise ValueError(f"images[{name!r}] must be (H, W, C); got shape {image.shape}")
        channels.add(image.shape[2])
    if len(channels) > 1:
        raise ValueError(f"images must all have the same channel count; got {sorted(channels)}")
    return checked


def _check_regions(name: str, shape, patch_size: int, split: float, gap: int) -> None:
    """Both row regions of an ``(H, W, C)`` image, and its width, fit a patch."""
    height, width = shape[:2]
    boundary = math.floor(split * height)
    regions = (
        (f"training region (rows [0, {boundary}))", boundary),
        (f"test region (rows [{boundary + gap}, {height}))", height - boundary - gap),
        ("width", width),
    )
    for what, size in regions:
        if size < patch_size:
            raise ValueError(
                f"image {name!r} ({height}×{width}): its {what} is {max(size, 0)} pixels, "
                f"smaller than patch_size={patch_size} (split={split}, gap={gap})"
            )


def _corners(key, count: int, first_row: int, last_row: int, last_col: int):
    """``count`` top-left corners, rows in ``[first_row, last_row]``, cols in ``[0, last_col]``
    (both inclusive), as NumPy int arrays."""
    k_row, k_col = jr.split(key)
    rows = jr.randint(k_row, (count,), first_row, last_row + 1)
    cols = jr.randint(k_col, (count,), 0, last_col + 1)
    return np.asarray(rows), np.asarray(cols)


def _cut(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """The ``(count, size, size, C)`` patches of ``image`` at top-left corners ``(rows, cols)``."""
    offsets = np.arange(size)
    return image[(rows[:, None] + offsets)[:, :, None], (cols[:, None] + offsets)[:, None, :]]
