"""Shared fixtures: x64 scoping, float32/float64 parametrization, a no-compile guard, and the
plain-NumPy reference matrix of the convolutional layer ``W``.

x64 is never switched on globally: float64 tests enter ``jax.enable_x64(True)`` for their own
duration only, so float32 tests see JAX's default behavior.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from compile_profile import (  # noqa: F401 (pytest hooks)
    memory_maps,
    pytest_addoption,
)
from compile_profile import pytest_configure as _profile_configure
from hypothesis import settings


def _xla_knows(flag: str) -> bool:
    """Whether this jaxlib defines the XLA flag ``flag`` (XLA aborts on an unknown one)."""
    import mmap

    import jaxlib

    library = os.path.join(os.path.dirname(jaxlib.__file__), "libjax_common.so")
    try:
        with open(library, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(flag.encode()) >= 0
    except (OSError, ValueError):
        return False


# Compilation is most of the suite's time. Two settings make it about twice as fast without
# changing what a program computes (IEEE arithmetic either way: XLA enables no fast-math here):
# - XLA's older CPU loop emitters in place of its fusion emitters: 2-2.5x less compile time
#   for a solver program, in this process and in every child process (the CLI, the examples,
#   multi-process sweeps), which inherit XLA_FLAGS;
# - XLA's expensive LLVM optimisations off, in this process only: 30-40 % less compile time,
#   at a longer run time, which the few long-running tests avoid (the optimized fixture).
# Measured with benchmarks/suite_profile.py (README, Development).
# JAXCS_TEST_XLA_DEFAULTS=1 compiles as users do, to measure what these settings save.
FAST_COMPILE_FLAG = "xla_cpu_use_fusion_emitters"
if os.environ.get("JAXCS_TEST_XLA_DEFAULTS") != "1":
    xla_flags = os.environ.get("XLA_FLAGS", "")
    if FAST_COMPILE_FLAG not in xla_flags and _xla_knows(FAST_COMPILE_FLAG):
        os.environ["XLA_FLAGS"] = f"{xla_flags} --{FAST_COMPILE_FLAG}=false".strip()
    jax.config.update("jax_disable_most_optimizations", True)

# --------------------------------------------------------------------------- file order
FILE_SECONDS = Path(__file__).with_name("file_seconds.json")


def pytest_configure(config):
    _profile_configure(config)
    if hasattr(config.option, "loadscopereorder"):
        # pytest-xdist hands out whole files (--dist loadfile), by default the files with the
        # most tests first; pytest_collection_modifyitems's order (longest first) is kept instead
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """Files in decreasing order of their measured seconds (``file_seconds.json``, written by
    ``benchmarks/suite_profile.py --save-file-seconds``), tests within a file in their order.

    Two workers that take the longest remaining file each time finish within about one short
    file of each other; in pytest-xdist's default order a 150-s file handed out late kept one
    worker busy for minutes after the other had finished. A file not measured yet counts as
    the median file.
    """
    try:
        seconds = json.loads(FILE_SECONDS.read_text())
    except (OSError, ValueError):
        return
    root = Path(str(config.rootpath))
    default = float(np.median(list(seconds.values()))) if seconds else 0.0

    def weight(item) -> float:
        try:
            name = Path(str(item.path)).relative_to(root).as_posix()
        except ValueError:
            return default
        return seconds.get(name, default)

    items.sort(key=lambda item: -weight(item))  # stable: a file's tests keep their order


# CI draws the same hypothesis examples on every run (a red CI must be reproducible)
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


# --------------------------------------------------------------------------- precision
@pytest.fixture
def x64():
    """Run the test with 64-bit types enabled (scoped to this test only)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    """float32, then float64 with x64 enabled for the test's duration."""
    if request.param == np.float64:
        with jax.enable_x64(True):
            yield np.dtype(np.float64)
    else:
        yield np.dtype(np.float32)


@pytest.fixture
def optimized():
    """XLA's optimisations back on for one test: for the few tests whose programs run long
    enough (many problems, hundreds of steps) that the run time saved outweighs the compile
    time (the suite compiles with most optimisations off, above)."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


# --------------------------------------------------------------------------- compile guard
class _CompileRecords(logging.Handler):
    """Collects the "Compiling ..." records that ``jax.log_compiles`` emits."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Compiling"):
            self.messages.append(message)


@contextlib.contextmanager
def compile_log():
    """Yield the list of compile messages logged inside the block."""
    handler = _CompileRecords()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield handler.messages
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def _no_compiles_block():
    with compile_log() as messages:
        yield
    if messages:
        pytest.fail(
            f"expected no compilation, but JAX compiled {len(messages)} time(s):\n"
            + "\n".join(m[:300] for m in messages)
        )


def _assert_no_compiles(fn=None, *args, **kwargs):
    """``assert_no_compiles(fn, *args)`` calls ``fn`` and fails if JAX compiled anything;
    ``with assert_no_compiles():`` does the same for a block. Build every input array *before*
    the block: creating arrays eagerly compiles small XLA programs too."""
    if fn is None:
        return _no_compiles_block()
    with _no_compiles_block():
        return jax.block_until_ready(fn(*args, **kwargs))


@pytest.fixture
def assert_no_compiles():
    return _assert_no_compiles


@pytest.fixture
def compile_messages():
    """The context manager :func:`compile_log` (for testing the guard itself)."""
    return compile_log


# --------------------------------------------------------------------------- NumPy reference
def reference_geometry(in_spatial, filter_shape, stride, padding):
    """``(out_spatial, pad_lo)`` per axis, from the definition of ``W`` and Flax/lax ``"SAME"``."""
    out, lo = [], []
    for D, L, t in zip(in_spatial, filter_shape, stride, strict=True):
        if padding == "valid":
            assert D >= L  # floor: the last (D - L) mod t inputs are seen by no row
            out.append((D - L) // t + 1)
            lo.append(0)
        elif padding == "circular":
            assert D % t == 0
            out.append(D // t)
            lo.append(0)
        elif padding == "same":
            n = -(-D // t)
            total = max((n - 1) * t + L - D, 0)
            out.append(n)
            lo.append(total // 2)
        else:
            raise AssertionError(padding)
    return tuple(out), tuple(lo)


def numpy_conv_matrix(filters, in_spatial, stride, padding):
    """Dense float64 ``W`` (``prod(out_spatial)·K × prod(in_spatial)·M``) built by loops.

    Row ``(j, i)`` is filter ``i`` placed at input position ``t·j + s − pad_lo``: wrapped mod
    ``D`` for ``"circular"`` (aliased taps add up), dropped when out of range for zero padding.
    Rows and columns are C-order over ``(*out_spatial, K)`` and ``(*in_spatial, M)``.
    """
    w = np.asarray(filters, dtype=np.float64)
    d = len(in_spatial)
    fshape, (M, K) = w.shape[:d], w.shape[d:]
    if isinstance(stride, int):
        stride = (stride,) * d
    out, lo = reference_geometry(in_spatial, fshape, stride, padding)
    W = np.zeros((math.prod(out) * K, math.prod(in_spatial) * M))
    for j in itertools.product(*map(range, out)):
        for i in range(K):
            row = np.ravel_multi_index(j + (i,), out + (K,))
            for s in itertools.product(*map(range, fshape)):
                pos = [t * jj + ss - p for t, jj, ss, p in zip(stride, j, s, lo, strict=True)]
                if padding == "circular":
                    pos = [q % D for q, D in zip(pos, in_spatial, strict=True)]
                elif any(q < 0 or q >= D for q, D in zip(pos, in_spatial, strict=True)):
                    assert padding == "same", "a valid row never leaves the input"
                    continue
                # Columns (pos, m) for m = 0..M-1 are contiguous in C order.
                col = np.ravel_multi_index(tuple(pos), tuple(in_spatial)) * M
                W[row, col : col + M] += w[s + (slice(None), i)]
    return W


@pytest.fixture(scope="session")
def dense_reference():
    """The NumPy reference builder :func:`numpy_conv_matrix`."""
    return numpy_conv_matrix


# --------------------------------------------------------------------------- compiled programs
def _map_limit() -> int | None:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


MAP_LIMIT = _map_limit()
BETWEEN_FILES_MAPS = int(os.environ.get("JAXCS_TEST_CLEAR_MAPS", "4096"))


def pytest_runtest_teardown(item, nextitem):
    """Drop JAX's compiled programs between test files, and before the process runs out of
    memory mappings.

    Every program XLA compiles for the CPU keeps its code in memory mappings of its own (about
    130-220 for a solver program with the loop emitters above, 210-420 with XLA's fusion
    emitters; 3 for one operation). Kept programs cost twice: a process that reaches
    ``vm.max_map_count`` (65,530 by default) crashes inside XLA's compiler (a pytest process that
    kept every program crashed after about 150 solver programs), and every compilation gets
    slower as the process holds more of them (one small program: 20 ms with 1,400 mappings,
    35 ms with 11,000; back to 20 ms after ``jax.clear_caches()``). A file's tests share the
    most programs, so they are dropped between files once the process holds
    ``BETWEEN_FILES_MAPS`` mappings (``JAXCS_TEST_CLEAR_MAPS``), and within a file only above
    three quarters of the limit.
    """
    maps = memory_maps() if MAP_LIMIT else None
    if maps is None:
        return
    same_file = nextitem is not None and nextitem.path == item.path
    if maps > (MAP_LIMIT * 3 // 4 if same_file else BETWEEN_FILES_MAPS):
        jax.clear_caches()
        from jaxcs.sweeps import execute

        execute._compile.cache_clear()  # the sweep engine's own compiled programs
