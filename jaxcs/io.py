"""Run provenance and result files: the machine and versions of a run, atomic writes."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jax
import numpy as np

from jaxcs._files import write_json as write_json
from jaxcs._version import __version__
from jaxcs.data.arrays import _read_array, load_flax_params


def environment() -> dict:
    """Machine and library versions, for every JSON that jaxcs writes."""
    return {
        "jaxcs": __version__,
        "jax": jax.__version__,
        "jaxlib": getattr(jax.lib, "__version__", None) or package_version("jaxlib"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
    }


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or ``None``."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def load_kernel(path: str | Path) -> np.ndarray:
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
    if suffix in (".npy", ".npz"):  # the reader of jaxcs.data: files named, pickles refused
        return _read_array(path, "kernel")
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
