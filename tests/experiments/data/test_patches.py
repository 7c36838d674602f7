"""Patch classification tasks (jaxcs.experiments.data.patches): determinism, balance, disjoint
regions."""

import dataclasses
import math

import jax
import numpy as np
import pytest

from jaxcs.experiments.data import PatchTask, digits_task, patch_task, standardize

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

KW = dict(patch_size=12, train_per_class=40, test_per_class=15)


@pytest.fixture(scope="module")
def images():
    from jaxcs.experiments.data import load_bundled_images

    return load_bundled_images(["astronaut", "camera", "coins", "china"], short_side=64)


@pytest.fixture(scope="module")
def task(images):
    return patch_task(jax.random.key(0), images, **KW)


def test_shapes_dtypes_and_summary(task, images):
    assert isinstance(task, PatchTask)
    assert task.x_train.shape == (160, 12, 12, 3) and task.x_train.dtype == np.float32
    assert task.x_test.shape == (60, 12, 12, 3) and task.x_test.dtype == np.float32
    assert task.y_train.dtype == task.y_test.dtype == np.int32
    assert task.shape == (12, 12, 3) and task.num_classes == 4
    assert task.class_names == tuple(images) and task.split == 0.7 and task.patch_size == 12
    summary = task.summary()
    assert summary["train"]["total"] == 160 and summary["test"]["total"] == 60
    assert summary["train"]["per_class"] == {name: 40 for name in images}
    assert summary["test"]["per_class"] == {name: 15 for name in images}
    assert summary["classes"] == list(images) and summary["shape"] == [12, 12, 3]
    assert summary["standardized"] is False


def test_labels_are_balanced_and_shuffled(task):
    assert np.bincount(task.y_train).tolist() == [40] * 4
    assert np.bincount(task.y_test).tolist() == [15] * 4
    assert not np.all(np.diff(task.y_train) >= 0)  # not left ordered class by class


def test_same_key_same_task_other_key_other_task(task, images):
    again = patch_task(jax.random.key(0), images, **KW)
    for field in ("x_train", "y_train", "x_test", "y_test", "positions_train", "positions_test"):
        np.testing.assert_array_equal(getattr(again, field), getattr(task, field), err_msg=field)
    other = patch_task(jax.random.key(1), images, **KW)
    assert not np.array_equal(other.positions_train, task.positions_train)
    assert not np.array_equal(other.x_test, task.x_test)
    raw = patch_task(jax.random.PRNGKey(0), images, **KW)  # a raw uint32 key works too
    assert raw.x_train.shape == task.x_train.shape


@pytest.mark.parametrize("gap", [None, 0, 5])
def test_train_and_test_rows_are_disjoint(images, gap):
    task = patch_task(jax.random.key(2), images, **KW, gap=gap)
    for index, image in enumerate(images.values()):
        height, width = image.shape[:2]
        boundary = math.floor(0.7 * height)
        train = task.positions_train[task.positions_train[:, 0] == index]
        test = task.positions_test[task.positions_test[:, 0] == index]
        assert len(train) == 40 and len(test) == 15
        assert np.all(train[:, 1] >= 0) and np.all(train[:, 1] + 12 <= boundary)
        assert np.all(test[:, 1] >= boundary + (gap or 0)) and np.all(test[:, 1] + 12 <= height)
        assert np.all(np.concatenate([train, test])[:, 2] + 12 <= width)
        # pixel by pixel: no pixel of a test patch is in any training patch of the same image
        seen = np.zeros((height, width), bool)
        for _, r, c in train:
            seen[r : r + 12, c : c + 12] = True
        for _, r, c in test:
            assert not seen[r : r + 12, c : c + 12].any()


def test_patches_are_the_image_slices_at_their_positions(task, images):
    sources = list(images.values())
    for x, y, positions in [
        (task.x_train, task.y_train, task.positions_train),
        (task.x_test, task.y_test, task.positions_test),
    ]:
        np.testing.assert_array_equal(positions[:, 0], y)
        for patch, (index, r, c) in zip(x, positions, strict=True):
            np.testing.assert_array_equal(patch, sources[index][r : r + 12, c : c + 12])


def test_positions_cover_the_regions(images):
    # with many draws, corners reach both ends of each region (uniform, not stuck at one spot)
    task = patch_task(jax.random.key(3), images, patch_size=12, train_per_class=400)
    rows = task.positions_train[task.positions_train[:, 0] == 0, 1]
    assert rows.min() == 0 and rows.max() == math.floor(0.7 * 64) - 12


def test_default_images_are_the_bundled_ones():
    task = patch_task(jax.random.key(0), patch_size=8, train_per_class=2, test_per_class=1)
    assert task.num_classes == 18 and task.class_names[0] == "astronaut"
    assert task.x_train.shape == (36, 8, 8, 3)


def test_standardize(task):
    standard = standardize(task)
    np.testing.assert_allclose(standard.x_train.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(standard.x_train.std(axis=(0, 1, 2)), 1, atol=1e-4)
    assert standard.mean.shape == standard.std.shape == (3,)
    np.testing.assert_allclose(standard.mean, task.x_train.mean(axis=(0, 1, 2)), rtol=1e-5)
    # test uses the training statistics
    np.testing.assert_allclose(
        standard.x_test, (task.x_test - standard.mean) / standard.std, rtol=1e-4, atol=1e-5
    )
    assert standard.x_train.dtype == np.float32 and standard.summary()["standardized"] is True
    assert task.mean is None  # the original is untouched
    np.testing.assert_array_equal(standard.y_train, task.y_train)
    with pytest.raises(ValueError, match="already standardized"):
        standardize(standard)
    flat = dataclasses.replace(task, x_train=np.ones_like(task.x_train))
    with pytest.raises(ValueError, match=r"channel\(s\) \[0, 1, 2\] are constant"):
        standardize(flat)


def test_digits_task():
    task = digits_task(jax.random.key(0))
    assert task.shape == (8, 8, 1) and task.num_classes == 10 and task.split == 0.75
    assert task.x_train.shape[0] + task.x_test.shape[0] == 1797
    train, test = np.bincount(task.y_train), np.bincount(task.y_test)
    np.testing.assert_allclose(test / (train + test), 0.25, atol=0.01)  # stratified
    assert task.x_train.max() <= 1 and task.x_train.min() >= 0
    # no digit image is in both splits
    train_rows = {row.tobytes() for row in task.x_train.reshape(len(task.x_train), -1)}
    overlap = sum(row.tobytes() in train_rows for row in task.x_test.reshape(len(task.x_test), -1))
    assert overlap <= 5  # sklearn's digits hold a few exact duplicates, no more
    again = digits_task(jax.random.key(0))
    np.testing.assert_array_equal(again.x_test, task.x_test)
    other = digits_task(jax.random.key(1))
    assert not np.array_equal(other.y_test, task.y_test)
    assert standardize(task).mean.shape == (1,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key": 0}, "key must be a jax.random key"),
        ({"key": np.zeros(2, np.int32)}, "key must be a jax.random key"),
        ({"key": jax.random.split(jax.random.key(0))}, "key must be a jax.random key"),
        ({"patch_size": 0}, "patch_size must be a positive int"),
        ({"patch_size": 4.0}, "patch_size must be a positive int"),
        ({"train_per_class": 0}, "train_per_class must be a positive int"),
        ({"split": 1.0}, r"split must be in \(0, 1\)"),
        ({"split": "0.5"}, r"split must be a number in \(0, 1\)"),
        ({"gap": -1}, "gap must be None or an int >= 0"),
        ({"patch_size": 20}, r"image 'a' \(40×50\): its test region \(rows \[28, 40\)\) is 12"),
        ({"split": 0.1}, r"image 'a' \(40×50\): its training region \(rows \[0, 4\)\) is 4"),
        ({"gap": 10}, r"test region \(rows \[38, 40\)\) is 2 pixels, smaller than patch_size=8"),
        ({"images": {"a": np.zeros((40, 50, 3))}}, "at least 2 images"),
        ({"images": {"a": np.zeros((40, 50)), "b": np.zeros((40, 50))}}, r"images\['a'\]"),
        ({"images": {"a": np.zeros((40, 50, 3)), "b": np.zeros((40, 50, 1))}}, "same channel"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    images = {"a": np.zeros((40, 50, 3)), "b": np.zeros((60, 60, 3))}
    arguments = {"key": jax.random.key(0), "images": images, "patch_size": 8} | kwargs
    with pytest.raises(ValueError, match=match):
        patch_task(**arguments)


def test_narrow_image_is_refused():
    images = {"a": np.zeros((40, 50, 3)), "b": np.zeros((40, 6, 3))}
    with pytest.raises(ValueError, match=r"image 'b' \(40×6\): its width is 6 pixels"):
        patch_task(jax.random.key(0), images, patch_size=8)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.001, 0.999])
def test_digits_task_refuses_bad_fractions(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        digits_task(jax.random.key(0), test_fraction=fraction)


def test_patch_task_validates_its_arrays():
    x = np.zeros((4, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match=r"x_train must be \(N, P, P, C\) and y_train \(N,\)"):
        PatchTask(x, np.zeros(3, np.int32), x, np.zeros(4, np.int32), ("a",), 2, 0.5)
    with pytest.raises(ValueError, match="x_test samples must have x_train's shape"):
        PatchTask(x, np.zeros(4, np.int32), x[:, :1], np.zeros(4, np.int32), ("a",), 2, 0.5)
