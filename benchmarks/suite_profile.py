"""Run the test suite and report where its time goes: compilation against the rest, per file.

Runs ``pytest -q -p no:cacheprovider -n 2 --dist loadfile`` (the README's test command, as CI
runs it; ``--workers 0`` for one process) with the suite's compile profiler
(``tests/compile_profile.py``: JAX's compilation events per test), then prints, per test file,
the wall seconds, the seconds spent tracing/lowering/compiling, the XLA compilations and the
CPU seconds of child processes; the function names that cost most compile time; and the
slowest tests. Writes everything to a JSON file with the machine and versions.

Usage::

    python benchmarks/suite_profile.py [--label after] [--workers 2] [--budget 480]
        [--compare benchmarks/results/suite_profile_before.json] [-- extra pytest arguments]

``--compare`` prints the per-file table of an earlier run beside this one; ``--budget S`` exits
with status 1 when pytest took longer than ``S`` seconds (the README's Development section
states the budget); ``--save-file-seconds`` writes each file's seconds to
``tests/file_seconds.json``, the order in which ``tests/conftest.py`` hands files to the
workers (longest first); ``--records FILE`` keeps every test's record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from harness import save

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FILE_SECONDS = ROOT / "tests" / "file_seconds.json"


def run_suite(pytest_args: list[str]) -> tuple[float, int, list[dict], dict]:
    """Run pytest once; return its wall seconds, exit status, per-test records, worker walls."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "profile.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        cmd += [f"--compile-profile={out}", *pytest_args]
        start = time.perf_counter()
        status = subprocess.call(cmd, cwd=ROOT)
        wall = time.perf_counter() - start
        records, workers = [], {}
        for path in sorted(Path(scratch).glob("profile*.json")):
            data = json.loads(path.read_text())
            records += data["records"]
            workers[data["worker"] or "main"] = data["session_wall_s"]
    return wall, status, records, workers


def per_file(records: list[dict]) -> dict[str, dict]:
    files: dict[str, dict] = defaultdict(
        lambda: {"tests": 0, "wall_s": 0.0, "compile_s": 0.0, "compiles": 0, "child_cpu_s": 0.0}
    )
    for r in records:
        f = files[r["file"]]
        f["tests"] += 1
        for key in ("wall_s", "compile_s", "compiles", "child_cpu_s"):
            f[key] += r[key]
    return dict(files)


def eager(name: str) -> bool:
    """Whether a compiled name is one operation run outside ``jit`` (``jit(reshape)``): JAX
    compiles each operation of eager code as its own program, per shape."""
    inner = name[4:-1] if name.startswith("jit(") else name
    import jax.numpy as jnp
    from jax import lax

    return hasattr(lax, inner) or hasattr(jnp, inner) or hasattr(jnp, inner.lstrip("_"))


def by_name(records: list[dict]) -> dict[str, dict]:
    """Per compiled function name: compilations and lowering + compile seconds."""
    names: dict[str, dict] = defaultdict(lambda: {"compiles": 0, "seconds": 0.0})
    for r in records:
        for name, count in r["compiled_names"].items():
            names[name]["compiles"] += count
        for name, seconds in r.get("name_seconds", {}).items():
            names[name]["seconds"] += seconds
    return dict(names)


def totals(records: list[dict], named: dict[str, dict]) -> dict:
    """Suite totals; ``named`` is :func:`by_name` of the same records."""
    eager_names = [n for n in named if eager(n)]
    return {
        "eager_compiles": sum(named[n]["compiles"] for n in eager_names),
        "eager_seconds": sum(named[n]["seconds"] for n in eager_names),
        "tests": len(records),
        "wall_s": sum(r["wall_s"] for r in records),
        "compile_s": sum(r["compile_s"] for r in records),
        "backend_s": sum(r["backend_s"] for r in records),
        "compiles": sum(r["compiles"] for r in records),
        "distinct_names": sum(1 for entry in named.values() if entry["compiles"]),
        "child_cpu_s": sum(r["child_cpu_s"] for r in records),
    }


def print_files(files: dict, old: dict | None, limit: int) -> None:
    head = f"{'file':58s} {'tests':>5s} {'wall s':>7s} {'compile s':>9s} {'compiles':>8s}"
    head += f" {'child':>6s}"
    if old is not None:
        head += f"  {'before':>7s} {'compiles':>8s}"
    print(head)
    order = sorted(set(files) | set(old or {}), key=lambda f: -files.get(f, {}).get("wall_s", 0))
    for name in order[:limit]:
        f = files.get(name, {"tests": 0, "wall_s": 0, "compile_s": 0, "compiles": 0})
        line = (
            f"{name[-58:]:58s} {f['tests']:5d} {f['wall_s']:7.1f} {f['compile_s']:9.1f} "
            f"{f['compiles']:8d} {f.get('child_cpu_s', 0):6.1f}"
        )
        if old is not None:
            o = old.get(name)
            line += f"  {o['wall_s']:7.1f} {o['compiles']:8d}" if o else f"  {'-':>7s} {'-':>8s}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="latest", help="name of the JSON: suite_profile_LABEL")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder of the JSON")
    parser.add_argument("--compare", type=Path, help="an earlier suite_profile JSON")
    parser.add_argument("--budget", type=float, help="fail when pytest takes longer (seconds)")
    parser.add_argument("--top", type=int, default=25, help="rows of each table")
    parser.add_argument(
        "--workers", type=int, default=2, help="pytest-xdist workers, as CI runs (0: serial)"
    )
    parser.add_argument("--records", type=Path, help="also write every test's record here")
    parser.add_argument(
        "--save-file-seconds",
        action="store_true",
        help=f"write each file's wall seconds to {FILE_SECONDS.relative_to(ROOT)} (the order in "
        "which tests/conftest.py hands files to the workers: longest first)",
    )
    args = parser.parse_args(argv)

    selection = extra  # pytest arguments of the user's own (a part of the suite)
    if args.workers:
        extra = ["-n", str(args.workers), "--dist", "loadfile", *extra]
    wall, status, records, workers = run_suite(extra)
    import jax
    import numpy as np

    files = per_file(records)
    named = by_name(records)
    summary = totals(records, named)
    old = json.loads(args.compare.read_text()) if args.compare else None
    print(f"\npytest: {wall:.0f} s wall, exit status {status}; workers: {workers}")
    print(
        f"{summary['tests']} tests; {summary['compile_s']:.0f} s tracing/lowering/compiling "
        f"({summary['backend_s']:.0f} s in XLA), {summary['compiles']} compilations of "
        f"{summary['distinct_names']} distinct function names; "
        f"children {summary['child_cpu_s']:.0f} CPU s"
    )
    print(
        f"single operations run eagerly: {summary['eager_compiles']} compilations, "
        f"{summary['eager_seconds']:.0f} s lowering and compiling"
    )
    print("\nmost compile time by function name (lowering + XLA):")
    for name, entry in sorted(named.items(), key=lambda kv: -kv[1]["seconds"])[: args.top]:
        print(f"{entry['seconds']:7.1f} s {entry['compiles']:6d}x  {name[:100]}")
    if old:
        o = old["totals"]
        print(
            f"before: {old['pytest_wall_s']:.0f} s wall, {o['tests']} tests, "
            f"{o['compile_s']:.0f} s compiling, {o['compiles']} compilations"
        )
    print()
    print_files(files, old["files"] if old else None, args.top)
    print("\nslowest tests:")
    for r in sorted(records, key=lambda r: -r["wall_s"])[: args.top]:
        print(f"{r['wall_s']:7.1f} s {r['compile_s']:7.1f} s compiling  {r['test'][:110]}")

    out = save(
        args.output / f"suite_profile_{args.label}.json",
        {
            "pytest_wall_s": wall,
            "exit_status": status,
            "pytest_args": extra,
            "workers": workers,
            "totals": summary,
            "files": files,
            "names": named,
            "slowest": sorted(records, key=lambda r: -r["wall_s"])[:50],
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "jax": jax.__version__,
                "numpy": np.__version__,
                "ci": bool(os.environ.get("CI")),
            },
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        },
    )
    print(f"\nwrote {out}")
    if args.records:
        args.records.write_text(json.dumps(records))
        print(f"wrote {args.records}")
    if args.save_file_seconds:
        if status != 0 or selection:
            print("file seconds not saved: they come from a whole suite that passed")
            return 1
        ranked = sorted(files.items(), key=lambda kv: -kv[1]["wall_s"])
        seconds = {name: round(entry["wall_s"], 1) for name, entry in ranked}
        FILE_SECONDS.write_text(json.dumps(seconds, indent=1) + "\n")
        print(f"wrote {FILE_SECONDS}")
    if args.budget is not None and wall > args.budget:
        print(f"pytest took {wall:.0f} s, over the budget of {args.budget:.0f} s")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
