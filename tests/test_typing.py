"""The package type-checks: pyright (basic mode, ``[tool.pyright]`` in pyproject.toml, the
version pinned in the ``test`` extra) reports no error on ``jaxcs/``."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_pyright_reports_no_error_on_the_package():
    pyright = Path(sys.executable).parent / "pyright"
    done = subprocess.run(
        [str(pyright), "--outputjson", "--pythonpath", sys.executable, "jaxcs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert report["summary"]["filesAnalyzed"] > 50
    assert not errors, "\n".join(errors[:20])


def test_the_package_is_marked_typed():
    """PEP 561: a ``py.typed`` marker, shipped as package data."""
    from importlib.resources import files

    assert files("jaxcs").joinpath("py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()
