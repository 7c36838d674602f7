"""Sweeps in fresh processes: every solver on 1, 2 and 4 simulated CPU devices and on two
processes on localhost (JAX's CPU collectives) finishes within a time limit (CoSaMP sweeps
deadlocked on 2 devices when its least squares called LAPACK: issue 19, item 6) and gives the
same table: every problem, status, step count and success identical, errors and residuals
(relative quantities) within a few float32 roundings (the one-device program is compiled apart
from the sharded one, and XLA may order a least-squares solve's sums differently). A run killed
by SIGKILL resumes without recomputing a finished block and ends with the uninterrupted run's
table."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from jaxcs.sweeps.table import TIMING

GRID = """
[matrix]
n = 48
delta = 0.5
rho = [0.1, 0.3]
[solver]
name = ["IHT", "NIHT", "HTP", "CoSaMP", "FISTA"]
max_steps = 80
[run]
seeds = 10
batch = 4
rip = "ratios"
per_problem = true
"""
# Slow enough per block that a kill lands mid-run: IHT's safe step converges slowly, tol = 0.
SLOW = """
[matrix]
n = 256
delta = 0.5
rho = [0.05, 0.1]
[solver]
name = "IHT"
max_steps = 400
tol = 0.0
[run]
seeds = 24
batch = 2
"""


LIMIT = 480  # seconds per sweep process: about a minute on 2 busy cores; a deadlock never ends


def _run(config, output, *args, devices=1, wait=True):
    env = dict(os.environ, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    # XLA flags set for the suite (tests/conftest.py) stay: they change compile time only
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
    env["XLA_FLAGS"] = flags.strip()
    command = [
        sys.executable,
        "-m",
        "jaxcs.cli",
        "sweep",
        str(config),
        "--output",
        str(output),
        "--no-progress",
        *args,
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if not wait:
        return process
    return _finish(process)


def _finish(process, limit=LIMIT):
    """Wait for a sweep process; a deadlock (no exit within ``limit`` seconds) fails."""
    try:
        out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the sweep did not finish within {limit} s (deadlock?)")
    assert process.returncode == 0, err[-3000:]
    return out


def _table(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


ROUNDING = 1e-6  # a few float32 roundings of a relative error or residual


def assert_same_table(path, reference):
    """Every column identical except the relative errors and residuals, which agree to
    ``ROUNDING`` (module docstring)."""
    got, want = _table(path), _table(reference)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if key.startswith(("error", "residual")) and a[key] != b[key]:
                assert abs(float(a[key]) - float(b[key])) <= ROUNDING, (key, a, b)
            else:
                assert a[key] == b[key], (key, a, b)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    (root / "grid.toml").write_text(GRID)
    return root


@pytest.fixture(scope="module")
def reference(grid):
    _run(grid / "grid.toml", grid / "one")
    return grid / "one"


@pytest.mark.parametrize("devices", [2, 4])
def test_same_table_on_more_devices(grid, reference, devices):
    out = grid / f"devices{devices}"
    _run(grid / "grid.toml", out, devices=devices)
    header = json.loads((out / "sweep.json").read_text())
    assert len(header["devices"]) == devices
    assert_same_table(out / "results.csv", reference / "results.csv")
    assert_same_table(out / "problems.csv", reference / "problems.csv")


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_same_table_from_two_processes(grid, reference):
    out = grid / "two_processes"
    address = f"localhost:{_free_port()}"
    processes = [
        _run(
            grid / "grid.toml",
            out,
            "--coordinator",
            address,
            "--num-processes",
            "2",
            "--process-id",
            str(i),
            wait=False,
        )
        for i in range(2)
    ]
    for process in processes:
        _finish(process)
    header = json.loads((out / "sweep.json").read_text())
    assert header["process_count"] == 2 and len(header["devices"]) == 2
    assert_same_table(out / "results.csv", reference / "results.csv")
    assert_same_table(out / "problems.csv", reference / "problems.csv")


def test_resume_after_sigkill(tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text(SLOW)
    killed = tmp_path / "killed"
    # one persistent compilation cache for the three runs: the second and third load the program
    cache = ("--compile-cache", str(tmp_path / "cache"))
    process = _run(config, killed, *cache, wait=False)
    blocks = killed / "blocks"
    deadline = time.monotonic() + 240
    while len(list(blocks.rglob("[0-9]*.npz"))) < 3:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no block finished in time"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    finished = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in blocks.rglob("[0-9]*.npz")}
    total = 24  # 2 cells × 24 problems in blocks of 2
    assert 3 <= len(finished) < total, "the run ended before it was killed"
    assert not (killed / "results.csv").exists()
    _run(config, killed, *cache)
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in blocks.rglob("[0-9]*.npz")}
    assert len(after) == total
    assert not list(blocks.rglob(".*.tmp.npz")), "a killed write's temporary file was left"
    assert all(after[p] == finished[p] for p in finished), "a finished block was rewritten"
    header = json.loads((killed / "sweep.json").read_text())
    assert header["last_run"]["computed_blocks"] == total - len(finished)
    assert header["resumed"] == 1
    _run(config, tmp_path / "whole", *cache)
    assert _table(killed / "results.csv") == _table(tmp_path / "whole" / "results.csv")
    assert any((tmp_path / "cache").iterdir()), "the persistent compilation cache is empty"
