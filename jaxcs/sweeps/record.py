"""The run's record, ``sweep.json``: a new one for a fresh directory, or the earlier run's when
the directory holds an unfinished run of the same grid (same fingerprint: resumed); a directory
of another grid is refused unless overwritten. It records the grid, versions, devices, seed,
block size, the groups and their timings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax

from jaxcs.io import environment, write_json
from jaxcs.sweeps.planning import SweepPlan
from jaxcs.sweeps.store import BlockStore

OUTPUT_FILES = ("results.csv", "results.parquet", "problems.csv", "problems.parquet")


class SweepError(RuntimeError):
    """A sweep that cannot start (e.g. a directory holding another grid's results)."""


def start_record(plan: SweepPlan, directory: Path | None, overwrite: bool, lead: bool) -> dict:
    """The run's header: a new one, or the earlier run's when resuming the same grid."""
    config, fingerprint = plan.config, plan.fingerprint
    if directory is not None and (path := directory / "sweep.json").exists():
        try:
            earlier = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            if not overwrite:
                raise SweepError(
                    f"{path} is not a sweep record (not valid JSON: {err}); choose another "
                    "output directory or pass overwrite=True (--overwrite)"
                ) from None
            earlier = {}
        if not isinstance(earlier, dict):
            earlier = {}
        if overwrite:
            if lead:
                BlockStore(directory).clear()
                for name in OUTPUT_FILES:
                    (directory / name).unlink(missing_ok=True)
        elif earlier.get("fingerprint") != fingerprint:
            raise SweepError(
                f"{directory} holds the results of another grid{_changed_files(config, earlier)} "
                f"(fingerprint {earlier.get('fingerprint')}, this grid {fingerprint}); choose "
                "another output directory or pass overwrite=True (--overwrite)"
            )
        else:
            earlier["resumed"] = earlier.get("resumed", 0) + 1
            earlier["complete"] = False
            earlier["environment"] = environment()  # this run's machine (timings are its own)
            earlier["devices"] = [str(d) for d in jax.devices()]
            earlier["process_count"] = jax.process_count()
            return earlier
    elif directory is not None and (directory / "blocks").exists():
        if not overwrite:
            raise SweepError(
                f"{directory} holds blocks but no sweep.json (not a jaxcs sweep directory?); "
                "choose another output directory or pass overwrite=True (--overwrite)"
            )
        if lead:
            shutil.rmtree(directory / "blocks")
    per_cell = plan.per_cell
    header = {
        "fingerprint": fingerprint,
        "config": config.source,
        "environment": environment(),
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
        "seed": config.run["seed"],
        "randomness": "key = fold_in(fold_in(PRNGKey(seed), cell_key), problem)",
        "problems_per_cell": per_cell,
        "cells": len(config.cells),
        "axes": list(config.axes),
        "solvers": list(config.solvers),
        "batch": plan.batch,
        "groups": [],
        "complete": False,
        "resumed": 0,
    }
    if config.filters:  # what the fingerprint covers, by file (to say which one changed)
        header["filters_sha256"] = {path: f.sha256 for path, f in config.filters.items()}
    for g in plan.groups:
        header["groups"].append(
            {
                "index": g.index,
                "solver": g.solver,
                "static": g.spec.describe(),
                "cells": [c.index for c in g.cells],
                "problems": g.num_problems(per_cell),
                "blocks": plan.num_blocks(g),
            }
        )
    if directory is not None and lead:
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "sweep.json", header)
    return header


def _changed_files(config, earlier: dict) -> str:
    """Why a directory of the same grid is another grid's: its filters files' contents."""
    same = json.dumps(earlier.get("config"), sort_keys=True) == json.dumps(
        config.source, sort_keys=True
    )
    if not same or not config.filters:
        return ""
    if "filters_sha256" not in earlier:
        return ": the same grid, from a jaxcs that did not record its filters files' contents"
    then = earlier["filters_sha256"]
    changed = [path for path, f in config.filters.items() if then.get(path) != f.sha256]
    return (
        f": the same grid, but {', '.join(changed)} no longer holds the filters its results "
        "were computed with (edited since)"
    )
