"""Arrays a user brings: image stacks and labels in ``.npy`` / ``.npz`` files, and Flax
variables in msgpack files. Pickled objects are never loaded."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from jaxtyping import Float, Int, Shaped

from jaxcs._files import write_bytes

_SHAPES = "(H, W), (H, W, C), (N, H, W) or (N, H, W, C)"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def load_image_array(path: str | Path) -> Float[np.ndarray, "N H W C"]:
    """Images from a ``.npy`` file (the array) or an ``.npz`` file (its array ``images``, else
    its only array), as float32 ``(N, H, W, C)``.

    Shapes: ``(H, W)`` and ``(H, W, C)`` are one image (``N = 1``); ``(N, H, W)`` is a stack of
    grayscale images (``C = 1``). A 3-D array is read as ``(H, W, C)`` when its last axis is 1, 3
    or 4, else as ``(N, H, W)``. Integer arrays hold 0..255 intensities and are divided by 255;
    booleans become 0.0 / 1.0; floating arrays keep their values.

    Raises:
        ValueError: an unknown suffix, a pickled (object) array, an ``.npz`` without ``images``
            and with several arrays, a shape other than those above, an empty or non-numeric
            array, integers outside 0..255, or non-finite values.
    """
    path = Path(path)
    if path.suffix.lower() not in (".npy", ".npz"):
        raise ValueError(
            f"{path}: image files are .npy or .npz holding {_SHAPES}; got {path.suffix.lower()!r}"
        )
    return _as_image_batch(read_array(path, "images"), str(path))


def load_labelled_arrays(
    path: str | Path,
) -> tuple[Float[np.ndarray, "N H W C"], Int[np.ndarray, " N"]]:
    """Images and their labels from an ``.npz`` file holding ``images`` and ``labels``.

    Returns:
        ``(images, labels)``: float32 ``(N, H, W, C)`` (``images`` read as in
        :func:`load_image_array`) and int32 ``(N,)`` labels ``≥ 0``.

    Raises:
        ValueError: not an ``.npz``, ``images`` or ``labels`` missing, labels not 1-D
            non-negative integers, or not one label per image.
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"{path}: labelled arrays are an .npz with 'images' and 'labels'")
    images = _as_image_batch(read_array(path, "images", only=False), str(path))
    labels = read_array(path, "labels", only=False)
    if labels.ndim != 1 or labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: labels must be a 1-D integer array (N,); got {labels.dtype} {labels.shape}"
        )
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{path}: labels must hold one label per image: {images.shape[0]} images "
            f"(images {images.shape}) but labels has shape {labels.shape}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"{path}: labels must be >= 0 (class indices); got min {labels.min()}")
    return images, labels.astype(np.int32)


def _as_image_batch(array, name: str) -> np.ndarray:
    """``array`` (one of the shapes of :func:`load_image_array`) as float32 ``(N, H, W, C)``.

    Raises:
        ValueError: as :func:`load_image_array`; messages name ``name``.
    """
    array = np.asarray(array)
    if array.dtype != bool and not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{name}: images must be a real numeric array; got dtype {array.dtype}")
    if array.ndim not in (2, 3, 4) or array.size == 0:
        raise ValueError(f"{name}: images must be a non-empty {_SHAPES}; got shape {array.shape}")
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        array = array[None] if array.shape[-1] in (1, 3, 4) else array[..., None]
    if array.dtype == bool:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"{name}: integer images must hold 0..255 intensities; got {low}..{high} "
                "(convert to floats to keep other ranges)"
            )
        return array.astype(np.float32) / np.float32(255.0)
    array = array.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{name}: images must be finite; got {bad} non-finite value(s)")
    return array


def save_flax_params(path: str | Path, variables: Mapping) -> Path:
    """Write Flax variables (``{'params': ..., 'batch_stats': ...}``, or any nested mapping of
    arrays) to ``path`` as msgpack, atomically (``path.tmp`` first, then replaced)."""
    if not isinstance(variables, Mapping):
        raise ValueError(
            f"variables must be a nested mapping of arrays; got {type(variables).__name__}"
        )
    from flax.serialization import to_bytes

    return write_bytes(path, to_bytes(variables))


def load_flax_params(path: str | Path, target=None):
    """Flax variables saved by :func:`save_flax_params` (or ``flax.serialization.to_bytes``).

    Args:
        path: the msgpack file.
        target: optional pytree of the expected structure (e.g. ``model.init(...)``); the file
            is then restored into it (``flax.serialization.from_bytes``).

    Returns:
        Nested dicts of NumPy arrays (with ``target``: ``target``'s structure).

    Raises:
        ValueError: the file is not Flax msgpack, or does not match ``target``.
    """
    from flax.serialization import from_bytes, msgpack_restore

    path = Path(path)
    data = path.read_bytes()
    try:
        return msgpack_restore(data) if target is None else from_bytes(target, data)
    except Exception as err:  # msgpack and flax raise assorted types for bad files
        what = "Flax msgpack variables" if target is None else "Flax variables matching target"
        raise ValueError(f"{path}: not {what} ({err})") from err


def load_kernel(path: str | Path) -> Shaped[np.ndarray, "*filter_spatial M K"]:
    """A convolution kernel ``(*filter_spatial, M, K)`` from a file a user brings.

    ``.npy``: the array itself. ``.npz``: its array named ``kernel``, else its only array.
    ``.msgpack``: Flax variables or params saved with ``flax.serialization.to_bytes`` (or
    ``msgpack_serialize``), holding exactly one ``kernel`` (pass a one-layer tree). Pickled
    objects are never loaded.

    Raises:
        ValueError: naming the file: an unknown suffix, a file that is not what its suffix
            says (e.g. text in a ``.npy``), an array of Python objects, or no (or several)
            kernels in the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return read_array(path, "kernel")
    if suffix == ".msgpack":
        kernels = _kernels(load_flax_params(path))
        if len(kernels) != 1:
            raise ValueError(
                f"{path}: expected Flax variables holding exactly one 'kernel'; found "
                f"{len(kernels)} (save the one layer's params)"
            )
        return np.asarray(kernels[0])
    raise ValueError(f"{path}: kernel files are .npy, .npz or .msgpack (Flax); got {suffix!r}")


def _kernels(tree) -> list:
    if isinstance(tree, dict):
        found = [tree["kernel"]] if "kernel" in tree else []
        for name, value in tree.items():
            if name != "kernel":
                found += _kernels(value)
        return found
    return []


def read_array(path: Path, preferred: str, *, only: bool = True) -> Shaped[np.ndarray, "*shape"]:
    """The array of a ``.npy`` file, or the array ``preferred`` of an ``.npz`` file (with
    ``only``: else its single array). A file that is not what its suffix says (a text file, a
    pickle) is named as such; arrays of Python objects are refused, never unpickled.

    Raises:
        ValueError: ``"PATH: what is wrong"`` for a file that is not a plain array file.
        OSError: a file that cannot be opened.
    """
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"{path}: array files are .npy or .npz; got {suffix!r}")
    magic = {".npy": NPY_MAGIC, ".npz": ZIP_MAGIC}[suffix]
    with path.open("rb") as file:
        if file.read(len(magic)) != magic:
            what = (
                "a NumPy .npy file (np.save writes one)"
                if suffix == ".npy"
                else "an .npz file (a zip archive of arrays, as np.savez writes)"
            )
            raise ValueError(f"{path}: not {what}; pickled or other files are never loaded")
    try:
        if suffix == ".npy":
            with path.open("rb") as file:
                return np.lib.format.read_array(file, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if preferred in names:
                return archive[preferred]
            if only and len(names) == 1:
                return archive[names[0]]
    except (ValueError, EOFError, zipfile.BadZipFile) as err:
        if "allow_pickle" in str(err):
            raise ValueError(
                f"{path}: holds Python objects (dtype object), which would need unpickling; "
                "pickled data is never loaded (save a numeric array)"
            ) from err
        raise ValueError(f"{path}: cannot read a plain (non-pickled) array: {err}") from err
    wanted = f"an array named {preferred!r}" + (" or a single array" if only else "")
    raise ValueError(f"{path}: the .npz must hold {wanted}; found {names}")
