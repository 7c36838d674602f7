"""Fixed filters from ``.npy`` files (``operator.filters``): read once when the grid is checked,
checked against every cell that uses them, and known by their content hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from jaxcs.io import read_array
from jaxcs.sweeps.config_values import FILTER_KINDS, ConfigError


@dataclasses.dataclass(frozen=True, eq=False)
class FiltersFile:
    """Fixed filters from a ``.npy`` file (``operator.filters``), read once when the grid is
    checked: the array every problem of the grid uses (read-only), and the SHA-256 of its
    dtype, shape and bytes. Equal, and hashed, by content: fingerprints and the compiled
    programs' cache key on it, never on the path or its modification time.

    Attributes:
        path: the file, resolved.
        array: the filters ``(*filter_shape, in_channels, out_channels)``.
        sha256: the content hash (hex).
    """

    path: str
    array: np.ndarray
    sha256: str

    def __eq__(self, other) -> bool:
        return isinstance(other, FiltersFile) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)


def filters_files(cells, dtype: str) -> dict:
    """Read every ``operator.filters`` file once and check it against each cell that uses it:
    shape ``(*filter_shape, in_channels, out_channels)``, floating point, finite in
    ``run.dtype``. Before anything runs: a file of the wrong shape would otherwise run, and
    the table report the config's shapes and check ``k`` against the config's K."""
    files = {}
    for cell in cells:
        path = cell.params["filters"]
        if path in FILTER_KINDS:
            continue
        if path not in files:
            files[path] = _read_filters(path, dtype)
        p = cell.params
        expected = (*p["filter_shape"], p["in_channels"], p["out_channels"])
        actual = files[path].array.shape
        if actual != expected:
            raise ConfigError(
                f"operator.filters file {path!r} holds filters of shape {actual}; cell "
                f"{cell.index} needs (*filter_shape, in_channels, out_channels) = {expected} "
                f"(operator.filter_shape = {list(p['filter_shape'])}, operator.in_channels = "
                f"{p['in_channels']}, operator.out_channels = {p['out_channels']})"
            )
    return files


def _read_filters(path: str, dtype: str) -> FiltersFile:
    where = f"operator.filters file {path!r}"
    try:  # the user-file reader of jaxcs.io: never unpickles, names what a file is not
        array = read_array(Path(path), "filters")
    except OSError as err:
        raise ConfigError(f"{where} cannot be read: {err}") from None
    except ValueError as err:  # "PATH: what is wrong"
        reason = str(err).removeprefix(f"{Path(path)}: ")
        raise ConfigError(f"{where}: {reason}") from None
    if not np.issubdtype(array.dtype, np.floating):
        raise ConfigError(
            f"{where} holds {array.dtype} values; filters must be floating point (float32 or "
            "float64)"
        )
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ConfigError(f"{where} holds {bad} non-finite values (NaN or ±inf)")
    largest = float(np.max(np.abs(array))) if array.size else 0.0
    if largest > float(np.finfo(dtype).max):
        raise ConfigError(
            f"{where} holds values up to {largest:.3g}, beyond run.dtype = {dtype!r} (they "
            "would be ±inf there)"
        )
    array = np.ascontiguousarray(array)
    array.flags.writeable = False  # the array the fingerprint describes stays that array
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return FiltersFile(path, array, digest.hexdigest())
