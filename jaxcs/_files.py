"""Atomic result files: an interrupted write never leaves a half-written file."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: an interrupted run never leaves a
    half-written file (the text goes to ``path.tmp`` first, then replaces ``path``)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)
    return path
