"""Lazy re-exports for the package root (the pattern of Scientific Python's SPEC 1).

``import jaxcs`` loads no JAX: a public name imports its sub-package on first use, so the
console script parses its arguments (``--help``, argument errors) before JAX is imported. The
public names are written once, as ``from jaxcs.<sub> import name as name`` lines under
``if TYPE_CHECKING:`` in the package's ``__init__``; static tools read those lines, and
:func:`attach` reads them at run time.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def reexports(init_file: str | Path) -> dict[str, str]:
    """``{name: module}`` for every ``from module import name as name`` under an
    ``if TYPE_CHECKING:`` block of ``init_file``, in the file's order."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"), str(init_file))
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module
    return names


def public_submodules(init_file: str | Path) -> list[str]:
    """The package's sub-packages and modules whose names do not start with ``_``."""
    folder = Path(init_file).parent
    found = [p.stem for p in folder.glob("*.py")] + [
        p.parent.name for p in folder.glob("*/__init__.py")
    ]
    return sorted(n for n in set(found) if not n.startswith("_"))


def sub_package_of(name: str, init_file: str | Path, submodules: list[str]) -> str | None:
    """The public sub-package whose ``__init__`` exports ``name`` (read from its source, so
    nothing is imported), or None."""
    folder = Path(init_file).parent
    for sub in submodules:
        source = folder / sub / "__init__.py"
        if not source.is_file():
            continue
        for node in ast.parse(source.read_text(encoding="utf-8"), str(source)).body:
            if isinstance(node, ast.ImportFrom) and any(
                (alias.asname or alias.name) == name for alias in node.names
            ):
                return sub
    return None


def attach(package: str, init_file: str):
    """``(__getattr__, __dir__, __all__)`` for the module ``package`` (PEP 562).

    ``__all__`` is the re-exported names plus ``__version__``; ``dir(package)`` lists them and
    the public sub-packages, never an internal module. A name that only a sub-package exports is
    refused with the path where it lives (``jaxcs.orthant_extremes`` → ``jaxcs.analysis``).
    """
    origin = reexports(init_file)
    submodules = public_submodules(init_file)
    exported = [*origin, "__version__"]

    def __getattr__(name: str):
        if name in origin:
            value = getattr(importlib.import_module(origin[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            home = sub_package_of(name, init_file, submodules)
            where = f": it is {package}.{home}.{name}" if home else ""
            raise AttributeError(f"module {package!r} has no attribute {name!r}{where}")
        vars(sys.modules[package])[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*exported, *submodules})

    return __getattr__, __dir__, exported
