"""Where the suite's time goes: XLA compilation against everything else, per test.

A pytest plugin (registered by ``conftest.py``) that listens to JAX's compilation events
(:mod:`jax.monitoring`: tracing, lowering to MLIR, the backend compile) and, per test, records

- ``wall_s``: setup + call + teardown (module fixtures land in the first test that uses them);
- ``compile_s``: seconds spent tracing, lowering and compiling in this process;
- ``compiles``: backend compilations (each one a program XLA built);
- ``compiled_names``: how many of those compilations each jitted function's name had (the
  same name compiled again is a new shape, a new static argument, or a program compiled again
  after a cache clear), and ``name_seconds`` the lowering and compile seconds of each name
  (``jit(reshape)``, ``jit(where)``, ...: single operations run eagerly, outside any ``jit``);
- ``child_cpu_s``: CPU seconds of child processes that ended during the test (the CLI, the
  examples, multi-process sweeps: their compilations happen there);
- ``rss_bytes``, ``memory_maps``: the process's resident memory and memory mappings after the
  test (each compiled CPU program holds mappings: ``tests/conftest.py``).

``pytest --compile-profile=FILE`` writes the records as JSON (one file per pytest-xdist worker:
``FILE`` gets the worker's id); ``benchmarks/suite_profile.py`` runs the suite and turns them
into the per-file table. Without the option, the session's summary line still reports the
total compile time, so every CI log says where its time went.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections import Counter
from pathlib import Path

import pytest

_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_BACKEND = "/jax/core/compile/backend_compile_duration"
_EVENTS = (_TRACE, _LOWER, _BACKEND)


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def memory_maps() -> int | None:
    """How many memory mappings this process holds (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open("/proc/self/maps", "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CompileProfile:
    """Per-test compile and wall time; see the module docstring."""

    def __init__(self, output: str | None, worker: str | None):
        self.output = output
        self.worker = worker
        self.records: list[dict] = []
        self.seconds: Counter = Counter()
        self.names: Counter = Counter()  # backend compilations per function name
        self.name_seconds: Counter = Counter()
        self.session_compile_s = 0.0
        self.session_compiles = 0
        self.session_start = time.perf_counter()
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event: str, duration: float, **kwargs) -> None:
        if event not in _EVENTS:
            return
        self.seconds[event] += duration
        self.session_compile_s += duration
        if event == _TRACE:
            return
        name = str(kwargs.get("fun_name", "?"))
        if name.startswith("jit_"):  # lowering names the module jit_f, the backend jit(f)
            name = f"jit({name[4:]})"
        self.name_seconds[name] += duration
        if event == _BACKEND:
            self.session_compiles += 1
            self.names[name] += 1

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.seconds.clear()
        self.names.clear()
        self.name_seconds.clear()
        start, child = time.perf_counter(), _children_cpu()
        yield
        if not self.output:
            return  # the session's summary line needs no per-test record
        self.records.append(
            {
                "test": item.nodeid,
                "file": item.nodeid.split("::")[0],
                "wall_s": time.perf_counter() - start,
                "compile_s": sum(self.seconds.values()),
                "trace_s": self.seconds[_TRACE],
                "lower_s": self.seconds[_LOWER],
                "backend_s": self.seconds[_BACKEND],
                "compiles": self.names.total(),
                "compiled_names": dict(self.names),
                "name_seconds": {n: round(t, 4) for n, t in self.name_seconds.items()},
                "child_cpu_s": _children_cpu() - child,
                "rss_bytes": resident_bytes(),
                "memory_maps": memory_maps(),
            }
        )

    def summary(self) -> str:
        wall = time.perf_counter() - self.session_start
        return (
            f"compile profile{f' ({self.worker})' if self.worker else ''}: "
            f"{self.session_compiles} XLA compilations, {self.session_compile_s:.0f} s of "
            f"{wall:.0f} s tracing, lowering and compiling"
        )

    def pytest_terminal_summary(self, terminalreporter):
        if not self.worker:
            terminalreporter.write_line(self.summary())

    def pytest_sessionfinish(self, session):
        if self.worker:  # the controller prints it (a worker's terminal is not shown)
            session.config.workeroutput["compile_profile"] = self.summary()
        if not self.output:
            return
        path = Path(self.output)
        if self.worker:
            path = path.with_name(f"{path.stem}.{self.worker}{path.suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "worker": self.worker,
                    "session_wall_s": time.perf_counter() - self.session_start,
                    "records": self.records,
                }
            )
        )


def pytest_addoption(parser):
    parser.addoption(
        "--compile-profile",
        metavar="FILE",
        default=None,
        help="write per-test compile and wall times as JSON to FILE (benchmarks/suite_profile.py)",
    )


class WorkerSummaries:
    """The controller of a pytest-xdist run: prints each worker's compile summary."""

    def __init__(self):
        self.lines: list[str] = []

    def pytest_testnodedown(self, node, error):
        line = getattr(node, "workeroutput", {}).get("compile_profile")
        if line:
            self.lines.append(line)

    def pytest_terminal_summary(self, terminalreporter):
        for line in sorted(self.lines):
            terminalreporter.write_line(line)


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None and config.pluginmanager.hasplugin("xdist") and config.option.numprocesses:
        # the controller of an xdist run compiles nothing; its workers report
        config.pluginmanager.register(WorkerSummaries(), "jaxcs_compile_summaries")
        return
    config.pluginmanager.register(
        CompileProfile(config.getoption("--compile-profile"), worker), "jaxcs_compile_profile"
    )
