"""Run provenance: the machine and the library versions of a run, for every JSON jaxcs writes."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

import jax
import numpy as np

from jaxcs._version import __version__


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
        "x64": bool(jax.config.read("jax_enable_x64")),
    }


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or ``None``."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None
