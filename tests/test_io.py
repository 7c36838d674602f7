"""Run provenance and atomic result files (jaxcs.io)."""

import json

import jax

import jaxcs
from jaxcs.io import environment, package_version, write_json


def test_environment_names_the_machine_and_versions():
    env = environment()
    assert env["jaxcs"] == jaxcs.__version__ and env["jax"] == jax.__version__
    assert env["backend"] == jax.default_backend() and env["devices"]
    assert env["x64"] is False
    assert package_version("numpy") == env["numpy"]
    assert package_version("no-such-package-here") is None


def test_write_json_is_atomic(tmp_path):
    path = write_json(tmp_path / "result.json", {"a": 1, "δ": 0.5})
    assert json.loads(path.read_text()) == {"a": 1, "δ": 0.5}
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no .tmp left
