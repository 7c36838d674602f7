"""Optional dependencies of :mod:`jaxcs.experiments.data`, imported only when a loader needs
them."""

from __future__ import annotations

import importlib

# import name -> the name pip knows it by
_PACKAGES = {"skimage": "scikit-image", "sklearn": "scikit-learn"}


def require(module: str):
    """Import ``module`` (e.g. ``"skimage.transform"``), or an ImportError saying how to install
    the package it belongs to."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.partition(".")[0]
        package = _PACKAGES.get(top, top)
        raise ImportError(
            f"jaxcs.experiments.data needs {package} for this loader ({module} could not be "
            f"imported); "
            f'install it with: pip install "jaxcs[reproduce]"'
        ) from err
