"""A researcher's own operator, sparsity model and solver, written here against the public API
only (as a user would, outside the package), together through ``recover``, the sampled
model-RIP and the exact one (the model enumerates its supports), against NumPy brute force."""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxcs
from jaxcs.solvers import SparseIterate


class Sensing(jaxcs.AbstractOperator):
    """``W = Aᵀ`` for a sensing matrix ``A`` ``(m, n)``: codes ``(n, 1)``, signals ``(m,)``."""

    matrix: jax.Array

    @property
    def in_shape(self):
        return (self.matrix.shape[0],)

    @property
    def out_shape(self):
        return (self.matrix.shape[1], 1)

    @property
    def dtype(self):
        return self.matrix.dtype

    def mv(self, x):
        return (x @ self.matrix)[..., None]

    def rmv(self, z):
        return z[..., 0] @ self.matrix.T


class EvenPositions(jaxcs.AbstractSparsityModel):
    """The ``k`` entries of largest magnitude among the even positions of a code ``(n, 1)``."""

    k: jax.Array | int
    capacity: int = jaxcs.static_field()
    nonnegative: bool = jaxcs.static_field(default=False)

    def check_code_shape(self, code_shape, name="code_shape"):
        if len(code_shape) != 2 or code_shape[-1] != 1:
            raise ValueError(f"{name} must be (n, 1); got {tuple(code_shape)}")
        return tuple(code_shape)

    def max_budget(self, code_shape):
        return (code_shape[0] + 1) // 2

    def num_slots(self, code_shape):
        return min(self.capacity, self.max_budget(code_shape))

    def _code(self, half, values, code_shape):  # half: positions among the even ones
        used = jnp.broadcast_to(jnp.arange(half.shape[-1]) < self.k, half.shape)
        return jaxcs.SparseCode(2 * half, jnp.where(used, values, 0), used, tuple(code_shape))

    def project_sparse(self, v):
        even = v[::2, 0]
        half = jax.lax.top_k(jnp.abs(even), self.num_slots(v.shape))[1]
        return self._code(half, even[half], v.shape)

    def contains(self, v):
        return ~jnp.any(v[1::2] != 0) & (jnp.sum(v != 0) <= self.k)

    def draw_sparse(self, key, code_shape, batch_shape, distribution, dtype):
        scores = jr.uniform(key, (*batch_shape, self.max_budget(code_shape)))
        half = jax.lax.top_k(scores, self.num_slots(code_shape))[1]
        values = jr.normal(jr.fold_in(key, 1), half.shape, dtype)
        return self._code(half, values, code_shape)

    def support_size(self, code_shape):
        return int(self.k)

    def support_count(self, code_shape):
        return math.comb(self.max_budget(code_shape), int(self.k))

    def iter_supports(self, code_shape, chunk_size):
        rows = itertools.combinations(range(self.max_budget(code_shape)), int(self.k))
        while block := list(itertools.islice(rows, chunk_size)):
            yield 2 * np.asarray(block, np.int64)


class GradientState(SparseIterate):
    """The iterate, its residual and the fixed step."""

    step: jax.Array


class ProjectedGradient(jaxcs.AbstractSolver):
    """``z ← 𝕄(z + μ W r)`` with ``μ = 1 / ‖W‖²``: IHT, written from the protocol."""

    def init(self, op, x, model, aux):
        zero = model.project_sparse(jnp.zeros(op.out_shape, x.dtype))
        step = 1 / jaxcs.operator_norm(op) ** 2
        return GradientState(zero, x, jnp.linalg.norm(x), step.astype(x.dtype))

    def step(self, op, x, model, state, aux):
        code = model.project_sparse(state.code.add_to(state.step * op.mv(state.residual)))
        residual = op.residual(x, code)
        return GradientState(code, residual, jnp.linalg.norm(residual), state.step)


M, N, K = 20, 32, 3
OP = Sensing(jr.normal(jr.key(0), (M, N)) / np.sqrt(M))
MODEL = EvenPositions(k=K, capacity=8)


def test_own_operator_model_and_solver_recover_planted_codes():
    assert jaxcs.check_adjoint(OP, jr.key(1))
    z = MODEL.sample(jr.key(2), OP.out_shape, (6,))
    assert all(bool(MODEL.contains(c)) for c in z)
    np.testing.assert_array_equal(np.asarray(z)[:, 1::2], 0)
    for solver in (ProjectedGradient(), jaxcs.NIHT(), jaxcs.SubspacePursuit()):
        solution = jaxcs.recover(OP, OP.rmv(z), MODEL, solver, max_steps=500, tol=1e-6)
        errors = np.linalg.norm(np.asarray(solution.z - z)[..., 0], axis=1)
        assert np.all(errors <= 1e-3 * np.linalg.norm(np.asarray(z)[..., 0], axis=1)), (
            type(solver).__name__,
            errors,
        )


def test_own_model_exact_rip_is_brute_force_and_bounds_the_samples():
    """δ_3 over the C(16, 3) = 560 supports on even positions, by NumPy, equals
    ``exact_model_rip`` with the model's own enumeration, and bounds the sampled estimate."""
    phi = np.asarray(OP.as_matrix(), np.float64).T  # columns: code entries
    eigs = [
        np.linalg.eigvalsh(phi[:, list(s)].T @ phi[:, list(s)])
        for s in itertools.combinations(range(0, N, 2), K)
    ]
    delta = max(max(1 - e[0], e[-1] - 1) for e in eigs)
    exact = jaxcs.exact_model_rip(OP, MODEL)
    assert exact.num_supports == len(eigs) == 560
    assert exact.delta == pytest.approx(delta, rel=1e-4)
    estimate = jaxcs.estimate_model_rip(jr.key(3), OP, MODEL, 256)
    assert 0 < float(estimate.delta_lower_bound) <= exact.delta + 1e-5


# ---------------------------------------------------------------------------- sweeps
def sensing_family(key, m, n, dtype=jnp.float32):
    """A fresh Gaussian sensing matrix per problem, ``N(0, 1/m)`` entries."""
    return Sensing(jr.normal(key, (m, n), dtype) / np.sqrt(m))


def even_positions(k, *, capacity, nonnegative):
    return EvenPositions(k, capacity, nonnegative)


def projected_gradient(param, *, operator, signal, model):
    return ProjectedGradient()


# A TOML grid names them; `jaxcs sweep --import test_user_protocols` registers them in a child.
jaxcs.sweeps.register_operator("sensing", sensing_family)
jaxcs.sweeps.register_model("even-positions", even_positions)
jaxcs.sweeps.register_solver("projected-gradient", projected_gradient)

GRID = """
[operator]
family = "sensing"
m = 20
n = [32, 40]
[model]
kind = "even-positions"
k = [2, 3]
[solver]
name = ["projected-gradient", "NIHT", "sp"]
max_steps = 300
[run]
seeds = 6
batch = 4
per_problem = true
"""


def _untimed(rows):
    from jaxcs.sweeps.table import TIMING

    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.fixture(scope="module")
def user_sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("user-sweep")
    return jaxcs.sweep(GRID, directory, progress=False), directory


def test_own_objects_sweep_from_toml_against_recover(user_sweep):
    """Every cell's problems, rebuilt from ``(seed, cell, problem)`` with the user's own
    factory and model and solved by ``recover``, give the sweep's per-problem errors."""
    result, directory = user_sweep
    config = jaxcs.load_config(GRID)
    assert len(jaxcs.sweeps.plan(config)) == 2 * 3  # two n's (static) × three solvers
    assert len(result.rows) == 2 * 2 * 3
    assert {row["solver"] for row in result.rows} == {"projected-gradient", "NIHT", "SP"}
    assert {row["model"] for row in result.rows} == {"even-positions"}
    header = json.loads((directory / "sweep.json").read_text())
    assert header["config"]["plugins"]["operator"] == {"sensing": f"{__name__}.sensing_family"}
    with open(directory / "problems.csv", newline="") as f:
        problems = list(csv.DictReader(f))
    solvers = {"projected-gradient": ProjectedGradient(), "NIHT": jaxcs.NIHT()}
    for cell in config.cells:
        m, n, k = cell.params["m"], cell.params["n"], cell.k
        for problem in range(6):
            key = jr.fold_in(jr.fold_in(jr.key(0), cell.problem_key()), problem)
            key_op, key_code = jr.split(key)
            op = sensing_family(key_op, m, n)
            z = EvenPositions(k, 8).sample(key_code, (n, 1))
            for name, solver in solvers.items():
                solution = jaxcs.recover(op, op.rmv(z), EvenPositions(k, 8), solver, max_steps=300)
                error = float(jnp.linalg.norm(solution.z - z) / jnp.linalg.norm(z))
                (row,) = [
                    p
                    for p in problems
                    if (int(p["cell"]), int(p["problem"]), p["solver"])
                    == (cell.index, problem, name)
                ]
                assert float(row["error"]) == pytest.approx(error, rel=1e-3, abs=1e-6)
    # NIHT and Subspace Pursuit recover every code; the user's fixed-step IHT stalls on some
    # (its errors above are recover's all the same)
    solved = [row for row in result.rows if row["solver"] != "projected-gradient"]
    assert all(row["success_rate"] == 1.0 for row in solved), _untimed(solved)


def test_own_objects_sweep_from_python_compiles_once_per_shape_and_resumes(
    user_sweep, tmp_path, compile_messages
):
    """The Python API takes the factory, a model instance and a solver instance; a second sweep
    of the same families and shapes compiles nothing; a deleted block is the only one
    recomputed, with the same table."""
    grid = {
        "operator": {"family": sensing_family, "m": 20, "n": 24},
        "model": {"kind": EvenPositions(1, 8), "k": [2, 3, 4]},
        "solver": {"name": {"pg": ProjectedGradient(), "niht": jaxcs.NIHT()}, "max_steps": 200},
        "run": {"seeds": 6, "batch": 4},
    }
    with compile_messages() as messages:
        first = jaxcs.sweep(grid, tmp_path, progress=False)
    assert len(messages) == 2, messages  # one program per solver: k is an input
    assert [row["solver"] for row in first.rows] == ["pg", "niht"] * 3
    assert [row["model"] for row in first.rows] == ["EvenPositions"] * 6
    assert [row["k"] for row in first.rows] == [2, 2, 3, 3, 4, 4]
    again = dict(grid, model=dict(grid["model"], kind=EvenPositions(1, 8)))  # equal instance
    with compile_messages() as messages:
        second = jaxcs.sweep(again, progress=False)
    assert messages == []
    assert _untimed(second.rows) == _untimed(first.rows)
    blocks = sorted((tmp_path / "blocks").rglob("*.npz"))
    assert len(blocks) == 2 * 5  # 18 problems per group in blocks of 4
    blocks[2].unlink()
    resumed = jaxcs.sweep(grid, tmp_path, progress=False)
    assert resumed.header["last_run"]["computed_blocks"] == 1
    assert _untimed(resumed.rows) == _untimed(first.rows)


def test_own_operator_family_shards_over_two_devices(user_sweep, tmp_path):
    """``jaxcs sweep --import`` in a fresh process with two simulated devices gives the
    one-device table."""
    result, _ = user_sweep
    (tmp_path / "grid.toml").write_text(GRID)
    here = Path(__file__).parent
    env = dict(os.environ, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(here), env.get("PYTHONPATH")]))
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
    env["XLA_FLAGS"] = flags.strip()
    command = [sys.executable, "-m", "jaxcs.cli", "sweep", str(tmp_path / "grid.toml")]
    command += ["--output", str(tmp_path / "out"), "--no-progress"]
    done = subprocess.run(
        command + ["--import", Path(__file__).stem], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(header["devices"]) == 2
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.rows)
    for got, want in zip(rows, result.rows, strict=True):
        assert got["solver"] == want["solver"] and int(got["cell"]) == want["cell"]
        assert float(got["success_rate"]) == want["success_rate"]
        assert float(got["error_median"]) == pytest.approx(want["error_median"], abs=1e-6)
    missing = subprocess.run(
        command + ["--import", "no_such_module_here"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "--import no_such_module_here" in missing.stderr


def test_own_objects_in_grids_are_checked_before_anything_runs():
    def grid(**edits):
        config = {
            "operator": {"family": "sensing", "m": 20, "n": 32},
            "model": {"kind": "even-positions", "k": 2},
            "solver": {"name": "NIHT"},
            "run": {"seeds": 2},
        }
        for section, table in edits.items():
            config[section] = dict(config[section], **table)
        return config

    cases = [
        ({"operator": {"family": "sensin"}}, "did you mean 'sensing'"),
        ({"operator": {"n": None}}, "operator.n must be a number"),
        ({"operator": {"n": "wide"}}, "'sensing' cannot build this cell's operator: TypeError"),
        ({"operator": {"n": -1}}, r"whose out_shape is \(-1, 1\); sizes must be positive"),
        ({"operator": {"family": lambda key, m, n: jnp.zeros(n)}}, "must build a jaxcs.Abstract"),
        ({"operator": {"size": 3}}, "unknown key operator.size"),
        ({"model": {"k": 17}}, "k=17 is out of range: at most 16"),  # not checked by the model
        ({"model": {"kind": EvenPositions(1, 8), "nonnegative": True}}, "keeps its own"),
        ({"solver": {"name": ["NIHT", jaxcs.NIHT()]}}, "repeats a solver name"),
        ({"solver": {"name": "projected-gradien"}}, "did you mean 'projected-gradient'"),
        ({"solver": {"step_size": 0.5}}, "solver.step_size applies to IHT(, | and )HTP.* only"),
    ]
    for edits, message in cases:
        with pytest.raises(jaxcs.sweeps.ConfigError, match=message):
            jaxcs.load_config(grid(**edits))
    with pytest.raises(jaxcs.sweeps.RegistryError, match="already registered"):
        jaxcs.sweeps.register_operator("sensing", lambda key, m: None)
    with pytest.raises(jaxcs.sweeps.RegistryError, match="already registered"):
        jaxcs.sweeps.register_solver("NIHT", projected_gradient)
    with pytest.raises(TypeError, match="must name its grid parameters"):
        jaxcs.sweeps.register_operator("loose", lambda key, **params: None)
    jaxcs.sweeps.register_operator("sensing", sensing_family)  # the same again: no error
    with pytest.raises(jaxcs.sweeps.RegistryError, match="a key of every solver"):
        jaxcs.sweeps.register_solver("mine", projected_gradient, parameter="max_steps")
    with pytest.raises(jaxcs.sweeps.RegistryError, match="an identifier"):
        jaxcs.sweeps.register_solver("mine", projected_gradient, parameter="step size")
    with pytest.raises(jaxcs.sweeps.RegistryError, match="non-empty string"):
        jaxcs.sweeps.register_model("", even_positions)
    with pytest.raises(jaxcs.sweeps.RegistryError, match="only in case"):
        jaxcs.sweeps.register_operator("Sensing", sensing_family)
    with pytest.raises(TypeError, match="positional argument"):
        jaxcs.sweeps.register_model("keyword-only", lambda *, k: None)
