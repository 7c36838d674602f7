"""Run provenance and result files: the machine and versions of a run, atomic writes."""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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
        "x64": bool(jax.config.jax_enable_x64),
    }


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or ``None``."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: an interrupted run never leaves a
    half-written file (the text goes to ``path.tmp`` first, then replaces ``path``)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)
    return path
