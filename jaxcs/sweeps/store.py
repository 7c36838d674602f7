"""Completed work on disk: one file per finished block of problems, written atomically.

``DIR/blocks/g<group>-<solver>/<block>.npz`` holds the per-problem records of one block (its
cells, problem numbers, errors, statuses, ...). A file exists only once its block is complete
(it is written to a temporary name and renamed), so a run killed at any moment, even by
``SIGKILL``, leaves only whole blocks, and the next run computes exactly the blocks that are
missing. Without a directory the blocks stay in memory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np


class BlockStore:
    """The finished blocks of a sweep, in ``directory`` (or in memory when ``None``)."""

    def __init__(self, directory: str | Path | None):
        self.directory = None if directory is None else Path(directory) / "blocks"
        self._memory: dict[tuple[int, int], dict] = {}

    def _folder(self, group) -> Path:
        assert self.directory is not None  # callers handle the in-memory store first
        return self.directory / f"g{group.index:03d}-{group.spec.solver}"

    def _path(self, group, block: int) -> Path:
        return self._folder(group) / f"{block:06d}.npz"

    def done(self, group) -> set[int]:
        """The blocks of ``group`` already written."""
        if self.directory is None:
            return {b for (g, b) in self._memory if g == group.index}
        folder = self._folder(group)
        if not folder.is_dir():
            return set()
        return {int(p.stem) for p in folder.glob("*.npz") if p.stem.isdigit()}

    def remove_partial(self) -> None:
        """Delete the temporary files of blocks that a killed run was writing (never read:
        only whole ``<block>.npz`` files count as done)."""
        if self.directory is not None and self.directory.is_dir():
            for path in self.directory.glob("*/.*.tmp.npz"):
                path.unlink(missing_ok=True)

    def write(self, group, block: int, records: dict[str, np.ndarray]) -> None:
        """Store one finished block (atomically: a temporary file, then a rename)."""
        if self.directory is None:
            self._memory[(group.index, block)] = records
            return
        path = self._path(group, block)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **cast(dict[str, Any], records))  # array names, never allow_pickle
        os.replace(tmp, path)

    def read(self, group, block: int) -> dict[str, np.ndarray]:
        """The records of one block."""
        if self.directory is None:
            return self._memory[(group.index, block)]
        with np.load(self._path(group, block), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def clear(self) -> None:
        """Remove every stored block (``--overwrite``)."""
        self._memory.clear()
        if self.directory is not None and self.directory.is_dir():
            shutil.rmtree(self.directory)


__all__ = ["BlockStore"]
