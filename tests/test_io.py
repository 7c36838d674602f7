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


def test_load_kernel_from_user_files(tmp_path):
    import flax.serialization
    import numpy as np
    import pytest

    from jaxcs.io import load_kernel

    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4)
    np.save(tmp_path / "k.npy", kernel)
    np.savez(tmp_path / "named.npz", kernel=kernel, other=kernel[0])
    np.savez(tmp_path / "single.npz", w=kernel)
    np.savez(tmp_path / "two.npz", a=kernel, b=kernel)
    variables = {"params": {"Conv_0": {"kernel": kernel, "bias": np.zeros(4, np.float32)}}}
    (tmp_path / "layer.msgpack").write_bytes(flax.serialization.to_bytes(variables))
    two = {"params": {"Conv_0": {"kernel": kernel}, "Conv_1": {"kernel": kernel}}}
    (tmp_path / "two.msgpack").write_bytes(flax.serialization.to_bytes(two))
    for name in ("k.npy", "named.npz", "single.npz", "layer.msgpack"):
        np.testing.assert_array_equal(load_kernel(tmp_path / name), kernel)
    with pytest.raises(ValueError, match="single array"):
        load_kernel(tmp_path / "two.npz")
    with pytest.raises(ValueError, match="exactly one 'kernel'"):
        load_kernel(tmp_path / "two.msgpack")
    with pytest.raises(ValueError, match=".npy, .npz or .msgpack"):
        load_kernel(tmp_path / "k.txt")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"objects\.npy: holds Python objects"):  # not unpickled
        load_kernel(tmp_path / "objects.npy")


def test_load_kernel_names_the_file_and_what_it_is(tmp_path):
    """A text file is called what it is, with its path (it was called "pickled", without a
    path); a pickle is refused without unpickling, and so is a broken msgpack."""
    import pickle

    import pytest

    from jaxcs.io import load_kernel

    for name in ("text.npy", "text.npz", "text.msgpack"):
        (tmp_path / name).write_text("0.1 0.2 0.3\n")
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps({"kernel": [1.0]}))
    cases = {
        "text.npy": "not a NumPy .npy file",
        "text.npz": "not an .npz file",
        "text.msgpack": "not Flax msgpack variables",
        "pickled.npy": "not a NumPy .npy file",
    }
    for name, what in cases.items():
        path = tmp_path / name
        with pytest.raises(ValueError, match=f"^{path}: {what}") as info:
            load_kernel(path)
        if name.startswith("text"):
            assert "pickled data" not in str(info.value) and "(object)" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_kernel(tmp_path / "missing.npy")


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
