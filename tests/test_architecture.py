"""The package tree is the architecture: imports point down the layer list only, and no private
name (or internal module) of one sub-package is imported by another.

Layers, bottom first (README, "Architecture"): the shared base (``_progress``, ``_pytree``,
``_scale``, ``_validate``, ``_version``, ``status``), ``operators``, ``models``, ``solvers``,
``analysis``, the Flax layers (``layers``), the machinery (``io``: provenance, result files, the
arrays a user brings), the sweep engine (``sweeps``), the paper's experiments with their
scaffolding (``experiments``: its data and networks below it), the figures (``plot``: it reads
the sweeps' tables), the console (``cli``). The package ``__init__`` re-exports and defines
nothing.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import jaxcs
from jaxcs import _lazy

PACKAGE = Path(jaxcs.__file__).parent
LAYERS = {
    "_files": 0,
    "_lazy": 0,
    "_progress": 0,
    "_pytree": 0,
    "_scale": 0,
    "_validate": 0,
    "_version": 0,
    "status": 0,
    "operators": 1,
    "models": 2,
    "solvers": 3,
    "analysis": 4,
    "layers": 5,
    "io": 6,
    "sweeps": 7,
    "experiments": 8,
    "plot": 9,
    "cli": 10,
}


def _modules(package: Path = PACKAGE):
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        yield path, ("jaxcs",) + tuple(p for p in parts if p != "__init__")


def _imports(path: Path, name: tuple[str, ...]):
    """``(module, imported names or None, line)`` for every import of a jaxcs module."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jaxcs":
                    yield tuple(alias.name.split(".")), None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name[:-1]
                base = base[: len(base) - node.level + 1]
                module = base + tuple((node.module or "").split(".") if node.module else ())
            else:
                module = tuple((node.module or "").split("."))
            if module[0] == "jaxcs":
                yield module, [alias.name for alias in node.names], node.lineno


def _top(module: tuple[str, ...]) -> str | None:
    return module[1] if len(module) > 1 else None


def test_every_module_is_in_a_layer():
    unknown = {name[1] for _, name in _modules() if len(name) > 1} - set(LAYERS)
    assert not unknown, f"modules outside the layer list of the README: {sorted(unknown)}"


def _violations(package: Path = PACKAGE):
    found = []
    for path, name in _modules(package):
        where = f"{path.relative_to(package.parent)}"
        if len(name) == 1:  # the package __init__: re-exports only
            continue
        own = name[1]
        for module, names, line in _imports(path, name):
            target = _top(module)
            if target is None:
                found.append(f"{where}:{line} imports the package root (use the sub-package)")
                continue
            if target == own:
                continue
            if LAYERS[target] >= LAYERS[own]:
                found.append(f"{where}:{line} imports {'.'.join(module)} (upward or sideways)")
            internal = [p for p in module[2:] if p.startswith("_")]
            if internal:
                found.append(f"{where}:{line} imports the internal module {'.'.join(module)}")
            elif len(module) > 2:  # public names come through the sub-package's __init__
                found.append(f"{where}:{line} imports {'.'.join(module)}, not jaxcs.{target}")
            for imported in names or ():
                if imported.startswith("_") and imported != "__version__":
                    found.append(f"{where}:{line} imports the private name {imported}")
    return found


def test_imports_point_down_and_private_names_stay_home():
    assert _violations() == []


def test_the_checker_catches_upward_and_private_imports(tmp_path):
    """The rule is not vacuous: a planted upward import and a private import are reported."""
    fake = tmp_path / "jaxcs"
    (fake / "operators").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "operators" / "__init__.py").write_text("")
    (fake / "operators" / "bad.py").write_text(
        "from jaxcs.solvers import recover\nfrom jaxcs.models.pooling import _secret\n"
        "from jaxcs.models._regions import first_max\nfrom jaxcs._validate import _hidden\n"
    )
    (fake / "analysis").mkdir()
    (fake / "analysis" / "deep.py").write_text("from jaxcs.solvers.status import Status\n")
    found = _violations(fake)
    assert any("upward" in f for f in found)
    assert any("private name _secret" in f for f in found)
    assert any("internal module jaxcs.models._regions" in f for f in found)
    assert any("private name _hidden" in f for f in found)
    assert any("jaxcs.solvers.status, not jaxcs.solvers" in f for f in found)


def test_package_init_defines_nothing():
    """The root ``__init__`` is its re-export lines (under ``TYPE_CHECKING``, loaded lazily by
    ``jaxcs._lazy.attach``) and the one line that attaches them."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    reexports = 0
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom):
            assert node.module in ("typing", "jaxcs._lazy", "jaxcs._version"), node.module
        elif isinstance(node, ast.Assign):
            assert ast.unparse(node) == "__getattr__, __dir__, __all__ = attach(__name__, __file__)"
        else:
            assert isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for line in node.body:
                assert isinstance(line, ast.ImportFrom), ast.dump(line)[:80]
                assert all(alias.asname == alias.name for alias in line.names)
                reexports += len(line.names)
    assert reexports == len(jaxcs.__all__) - 1  # and __version__


def test_importing_jaxcs_loads_no_jax():
    code = (
        "import sys, jaxcs\n"
        "assert 'jax' not in sys.modules, 'import jaxcs imported jax'\n"
        "jaxcs.ConvOperator\n"
        "assert 'jax' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("name", [n for n in jaxcs.__all__ if n != "__version__"])
def test_every_lazy_name_is_its_sub_package_object(name):
    origin = _lazy.reexports(PACKAGE / "__init__.py")[name]
    assert getattr(jaxcs, name) is getattr(importlib.import_module(origin), name)


def test_the_namespace_shows_no_internal_module():
    modules = {n for n in dir(jaxcs) if isinstance(getattr(jaxcs, n), types.ModuleType)}
    assert modules == set(_lazy.public_submodules(PACKAGE / "__init__.py"))
    assert not [n for n in dir(jaxcs) if n.startswith("_") and not n.startswith("__")]
    assert "montecarlo" not in dir(jaxcs) and "recover" in dir(jaxcs)
    with pytest.raises(AttributeError, match="module 'jaxcs' has no attribute 'montecarlo'$"):
        jaxcs.montecarlo  # noqa: B018
    namespace: dict = {}
    exec("from jaxcs import *", namespace)
    assert namespace["ConvOperator"] is jaxcs.ConvOperator


def test_the_top_level_is_the_tour():
    """About 40 names a researcher can hold in their head; the rest live in sub-packages."""
    assert 35 <= len(jaxcs.__all__) <= 45, len(jaxcs.__all__)


# the top-level names of the earlier flat layout that now live only in their sub-package
MOVED_BELOW = """
    AdjointCheck Algorithm2Solution BorderCorrelationTable CorrelationTable DenseGram ExactRIP
    ExtremeSupports IHTEncoder LassoSolution LayerOutput MaskedExtremes RIPBracket RIPSearch
    RIPUpperBound RegionModel SUCCESS_TOLERANCE Statistics SuccessRate SweepConfig SweepResult
    TransitionFit TransposedOperator algorithm2 block_sparsify code_error code_ratios
    conv_operator_from_flax conv_output_shape correlation_table decode_layer decode_stack
    delta_lower_bound_from fit_transition fit_transitions fixed_switches gram_table iht_codes
    is_success keep_largest l1_weak_threshold layer_operator map_codes masked_extremes
    monte_carlo normalize_filters orthant_extremes plus_minus_filters pool_project
    rademacher_filters relative_error restricted_gram sample_model_rip support_recovered
    theorem_3_3_bound
""".split()


@pytest.mark.parametrize("name", MOVED_BELOW)
def test_a_name_below_the_top_level_says_where_it_lives(name):
    init = PACKAGE / "__init__.py"
    home = _lazy.sub_package_of(name, init, _lazy.public_submodules(init))
    assert home is not None and name not in jaxcs.__all__
    assert hasattr(importlib.import_module(f"jaxcs.{home}"), name)
    with pytest.raises(
        AttributeError, match=rf"has no attribute '{name}': it is jaxcs\.{home}\.{name}$"
    ):
        getattr(jaxcs, name)


def _readme_tree() -> set[str]:
    """The paths of the README's "Architecture" tree (folders end in ``/``)."""
    text = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## Architecture") : text.index("## Glossary")].split("```")[1]
    paths, stack = set(), []
    for line in block.splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match or not match.group(2).endswith(("/", ".py")):
            continue  # a description's continuation line
        stack = stack[: len(match.group(1)) // 2] + [match.group(2)]
        paths.add("".join(stack))
    return paths


def test_the_readme_tree_lists_every_module_and_no_other():
    tree = _readme_tree()
    modules = {
        "jaxcs/" + str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent == PACKAGE
    }
    listed = {p for p in tree if p.startswith("jaxcs/") and p.endswith(".py")}
    assert modules - listed == set(), "modules without a line in the README's Architecture"
    every = {"jaxcs/" + str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}
    assert listed - every == set(), "README lines for modules that do not exist"
    folders = {
        "jaxcs/" + str(p.parent.relative_to(PACKAGE)) + "/" for p in PACKAGE.rglob("*/__init__.py")
    }
    assert folders <= tree
