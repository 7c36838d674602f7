"""Atomic result files: an interrupted write never leaves a half-written file, and a write that
fails (a read-only or full disk) says which file and why."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path

# What to do about the causes a user can fix, by errno.
_HINTS = {
    errno.ENOSPC: "the disk is full: free space and run again (finished work is kept)",
    errno.EDQUOT: "the disk quota is exhausted: free space and run again",
    errno.EROFS: "the file system is read-only: choose a writable output directory",
    errno.EACCES: "no permission to write there: choose a writable output directory",
    errno.EPERM: "no permission to write there: choose a writable output directory",
}


class WriteError(OSError):
    """A result file that could not be written; the message names the file and the cause
    (``errno`` and ``filename`` are those of the underlying error)."""

    def __str__(self) -> str:  # the message, not OSError's "[Errno n] strerror: filename"
        return self.args[0]


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: an interrupted run never leaves a
    half-written file (the text goes to ``path.tmp`` first, then replaces ``path``).

    Raises:
        WriteError: the file could not be written (naming it and the cause).
    """
    return write_text(path, json.dumps(data, indent=1, ensure_ascii=False))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (as :func:`write_json`)."""
    return _atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (as :func:`write_json`)."""
    return _atomic(Path(path), lambda tmp: tmp.write_bytes(data))


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except OSError as err:
        try:
            tmp.unlink(missing_ok=True)  # a partial temporary file helps nobody
        except OSError:
            pass
        cause = err.strerror or str(err)
        hint = _HINTS.get(err.errno) if err.errno is not None else None
        error = WriteError(f"cannot write {path}: {cause}" + (f" ({hint})" if hint else ""))
        error.errno, error.filename = err.errno, str(path)
        raise error from err
    return path
