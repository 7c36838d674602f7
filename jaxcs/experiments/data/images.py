"""Natural test images bundled with scikit-image and scikit-learn (no network access), and
scikit-learn's 8×8 handwritten digits, as float32 arrays in ``[0, 1]``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from jaxtyping import Float, Int

from jaxcs._validate import check_choice, positive_int
from jaxcs.experiments.data._optional import require

_SKIMAGE = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "cell",
)
_SKLEARN = ("china", "flower")

BUNDLED_IMAGES: tuple[str, ...] = _SKIMAGE + _SKLEARN
"""The names :func:`load_bundled_image` knows: 16 from ``skimage.data``, then scikit-learn's
``china`` and ``flower`` sample images."""


def load_bundled_image(name: str, *, short_side: int | None = 256) -> Float[np.ndarray, "H W 3"]:
    """One bundled image as float32 ``(H, W, 3)`` in ``[0, 1]``.

    Grayscale images are replicated to 3 channels, an alpha channel is dropped, booleans become
    0.0 / 1.0. ``stereo_motorcycle`` is a stereo pair: its left image is returned.

    Args:
        name: one of :data:`BUNDLED_IMAGES`.
        short_side: when the image's shorter side is longer than this, the image is downscaled
            (anti-aliased) so that its shorter side is ``short_side`` pixels, keeping the aspect
            ratio. Images are never upscaled. ``None``: full size.

    Raises:
        ValueError: an unknown ``name``, or ``short_side`` not ``None`` or a positive int.
        ImportError: scikit-image (or scikit-learn, for ``china`` / ``flower``) is missing.
    """
    check_choice(name, BUNDLED_IMAGES, "name")
    if short_side is not None:
        short_side = positive_int(short_side, "short_side")
    image = _to_rgb(_raw_image(name))
    if short_side is not None and min(image.shape[:2]) > short_side:
        image = _downscale(image, short_side)
    return image


def load_bundled_images(
    names: Iterable[str] | None = None, *, short_side: int | None = 256
) -> dict[str, Float[np.ndarray, "H W 3"]]:
    """Several bundled images, ``name -> (H, W, 3)`` float32, in the order of ``names``.

    Args:
        names: image names (default: all of :data:`BUNDLED_IMAGES`, in that order).
        short_side: as in :func:`load_bundled_image`.

    Raises:
        ValueError: a bare string, an empty or repeated list of names, or an unknown name.
    """
    if names is None:
        names = BUNDLED_IMAGES
    if isinstance(names, str):
        raise ValueError(f"names must be a sequence of image names, not one str; got {names!r}")
    names = tuple(names)
    if not names:
        raise ValueError("names must name at least one image; got an empty sequence")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"names must not repeat a name; repeated: {repeated}")
    return {name: load_bundled_image(name, short_side=short_side) for name in names}


def load_digits() -> tuple[Float[np.ndarray, "1797 8 8 1"], Int[np.ndarray, " 1797"]]:
    """scikit-learn's handwritten digits (bundled, offline).

    Returns:
        ``(images, labels)``: float32 ``(1797, 8, 8, 1)`` in ``[0, 1]`` (the original 0..16
        intensities divided by 16) and int32 ``(1797,)`` digits 0..9.
    """
    datasets = require("sklearn.datasets")
    digits = datasets.load_digits()
    images = (np.asarray(digits.images, np.float32) / np.float32(16.0))[..., None]
    return images, np.asarray(digits.target, np.int32)


def _raw_image(name: str) -> np.ndarray:
    """The image as its library ships it (uint8 or bool, 2-D or 3-D)."""
    if name in _SKLEARN:
        return require("sklearn.datasets").load_sample_image(f"{name}.jpg")
    image = getattr(require("skimage.data"), name)()
    return image[0] if isinstance(image, tuple) else image  # stereo pair: the left image


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` → float32 ``(H, W, 3)``."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.float32)
    elif np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    else:
        image = image.astype(np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def _downscale(image: np.ndarray, short_side: int) -> np.ndarray:
    """Anti-aliased downscale of ``(H, W, 3)`` so that ``min(H, W)`` becomes ``short_side``."""
    transform = require("skimage.transform")
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)), image.shape[2])
    resized = transform.resize(image, shape, order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(resized, 0.0, 1.0).astype(np.float32)
