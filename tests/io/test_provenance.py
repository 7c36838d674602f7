"""Run provenance and atomic result files (jaxcs.io)."""

import errno
import json
import os
import re
from pathlib import Path

import jax
import pytest

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


@pytest.mark.parametrize(
    "code, cause",
    [
        (errno.ENOSPC, "No space left on device (the disk is full"),
        (errno.EROFS, "Read-only file system (the file system is read-only"),
    ],
)
def test_a_failed_write_names_the_file_and_the_cause(tmp_path, monkeypatch, code, cause):
    """A full or read-only disk: a WriteError (an OSError) naming the file and why, and no
    temporary file left behind (it was a bare OSError naming only the .tmp file)."""
    from jaxcs._files import WriteError, write_text

    real = Path.write_text

    def fail(self, text, *args, **kwargs):
        real(self, text[:3], *args, **kwargs)  # a partial temporary file, then the failure
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "write_text", fail)
    target = tmp_path / "stages" / "table1.json"
    target.parent.mkdir()
    with pytest.raises(WriteError, match=f"^cannot write {target}: {re.escape(cause)}") as info:
        write_json(target, {"rows": []})
    assert info.value.errno == code and info.value.filename == str(target)
    assert list(target.parent.iterdir()) == []
    with pytest.raises(OSError, match="cannot write"):
        write_text(target, "x")
