"""Bundled images and digits (jaxcs.experiments.data.images): shapes, dtypes, ranges, resizing."""

import numpy as np
import pytest

from jaxcs.experiments.data import (
    BUNDLED_IMAGES,
    load_bundled_image,
    load_bundled_images,
    load_digits,
)

pytest.importorskip("skimage")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def small_images():
    return load_bundled_images(short_side=64)


def test_bundled_names_in_order():
    assert BUNDLED_IMAGES[:3] == ("astronaut", "brick", "camera")
    assert BUNDLED_IMAGES[-3:] == ("cell", "china", "flower")
    assert len(BUNDLED_IMAGES) == len(set(BUNDLED_IMAGES)) == 18


def test_every_bundled_image_is_rgb_float_in_unit_range(small_images):
    assert list(small_images) == list(BUNDLED_IMAGES)
    for name, image in small_images.items():
        assert image.dtype == np.float32, name
        assert image.ndim == 3 and image.shape[2] == 3, (name, image.shape)
        assert min(image.shape[:2]) == 64, (name, image.shape)
        assert np.all(np.isfinite(image)) and image.min() >= 0 and image.max() <= 1, name
        assert image.max() > image.min(), name  # not blank


def test_grayscale_is_replicated_and_colour_is_not(small_images):
    camera = small_images["camera"]
    assert np.array_equal(camera[..., 0], camera[..., 1])
    assert np.array_equal(camera[..., 0], camera[..., 2])
    astronaut = small_images["astronaut"]
    assert not np.array_equal(astronaut[..., 0], astronaut[..., 2])


def test_full_size_matches_the_library_scaled_to_unit_range():
    import skimage.data

    full = load_bundled_image("coins", short_side=None)
    assert full.shape == (303, 384, 3)
    np.testing.assert_allclose(full[..., 1], skimage.data.coins() / 255.0, atol=1e-6)
    # stereo_motorcycle is a pair: the left image
    left = load_bundled_image("stereo_motorcycle", short_side=None)
    np.testing.assert_allclose(left, skimage.data.stereo_motorcycle()[0] / 255.0, atol=1e-6)


def test_downscale_keeps_aspect_and_averages_never_upscales():
    image = load_bundled_image("chelsea", short_side=100)  # 300 × 451
    assert image.shape == (100, 150, 3)
    full = load_bundled_image("chelsea", short_side=None)
    # anti-aliased: the mean intensity is kept, unlike plain subsampling would guarantee
    np.testing.assert_allclose(image.mean(), full.mean(), atol=5e-3)
    assert load_bundled_image("clock", short_side=1000).shape == (300, 400, 3)


def test_load_bundled_images_keeps_the_given_order():
    images = load_bundled_images(["moon", "china"], short_side=32)
    assert list(images) == ["moon", "china"]
    assert images["china"].shape == (32, 48, 3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: load_bundled_image("lena"), r"name must be one of \('astronaut'"),
        (lambda: load_bundled_image("moon", short_side=0), "short_side must be a positive int"),
        (lambda: load_bundled_image("moon", short_side=2.5), "short_side must be a positive int"),
        (lambda: load_bundled_images("moon"), "names must be a sequence"),
        (lambda: load_bundled_images([]), "at least one image"),
        (lambda: load_bundled_images(["moon", "moon"]), r"repeated: \['moon'\]"),
    ],
)
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_digits():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int32
    assert images.min() == 0 and images.max() == 1
    assert set(np.unique(labels).tolist()) == set(range(10))
    # values are the original 0..16 intensities over 16
    np.testing.assert_array_equal(images * 16, np.round(images * 16))


def test_missing_optional_dependency_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'scikit-learn .* pip install "jaxcs\[reproduce\]"'):
        load_digits()
    monkeypatch.setitem(__import__("sys").modules, "skimage.data", None)
    with pytest.raises(ImportError, match=r'scikit-image .* pip install "jaxcs\[reproduce\]"'):
        load_bundled_image("moon")
