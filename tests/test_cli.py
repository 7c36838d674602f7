"""The console script as a new user meets it: ``--help`` and argument errors come before JAX is
imported, every option says what it is and its default, and no reStructuredText leaks out."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from jaxcs.cli import build_parser

COMMANDS = ["fig2", "fig3", "reproduce", "sweep", "plot", "bench"]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _run_without_jax(argv: list[str]) -> subprocess.CompletedProcess:
    """``main(argv)`` in a fresh interpreter, failing if JAX got imported on the way."""
    code = (
        "import sys\n"
        "from jaxcs.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "else:\n"
        "    code = 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax'))\n"
        "assert not loaded, loaded[:5]\n"
        "sys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_subcommands_are_the_documented_ones():
    assert sorted(_subparsers(build_parser())) == sorted(COMMANDS)


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--help"], 0, "COMMAND"),
        (["--version"], 0, "jaxcs "),
        *[([command, "--help"], 0, "usage: jaxcs " + command) for command in COMMANDS],
        (["fig2", "--k", "0"], 2, "--k: expected a positive integer; got '0'"),
        (["fig2", "--num-samples", "many"], 2, "--num-samples: expected a positive integer"),
        (["fig3", "--seed", "-1"], 2, "--seed: expected a non-negative integer; got '-1'"),
        (["fig3", "--filters", "no/such/kernel.npy"], 2, "no such file: 'no/such/kernel.npy'"),
        (["reproduce", "--epochs", "0"], 2, "--epochs: expected a positive integer"),
        (["reproduce", "--dataset", "cifar"], 2, "invalid choice: 'cifar'"),
        (["sweep", "no/such/grid.toml", "--output", "x"], 2, "no such file"),
        (["sweep", "--help", "--coordinator", "nohost"], 0, "host:port"),
        (["bench", "--problems", "1.5"], 2, "--problems: expected a positive integer"),
        ([], 2, "required: COMMAND"),
    ],
)
def test_help_and_argument_errors_come_before_jax(argv, code, message):
    done = _run_without_jax(argv)
    assert done.returncode == code, done.stderr
    assert message in done.stdout + done.stderr


def test_a_bad_coordinator_is_refused_early():
    done = _run_without_jax(["sweep", "pyproject.toml", "--output", "x", "--coordinator", "nohost"])
    assert done.returncode == 2
    assert "expected host:port" in done.stderr


def _help_texts():
    parser = build_parser()
    yield "jaxcs", parser
    yield from _subparsers(parser).items()


@pytest.mark.parametrize("name, parser", list(_help_texts()), ids=lambda v: str(v)[:12])
def test_every_option_has_help_and_shows_its_default(name, parser):
    text = parser.format_help()
    for markup in ("``", ":func:", ":class:", ":meth:", "model.md", "%%"):
        assert markup not in text, (name, markup)
    for action in parser._actions:
        if isinstance(
            action, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction)
        ):
            continue
        assert action.help, f"jaxcs {name} {action.option_strings or action.dest}: no help"
        shown = parser._get_formatter()._get_help_string(action)
        has_value = action.default not in (None, False) and action.option_strings
        if has_value:
            assert "default" in shown, (name, action.dest, shown)
        if action.default is None and action.option_strings and action.nargs != 0:
            # None means "the setup's own default": the help must then say what it is
            assert "default" in shown or action.required or action.dest in NO_DEFAULT, (
                name,
                action.dest,
            )


# options whose absence means "not used", not a hidden default
NO_DEFAULT = {"compile_cache", "coordinator", "num_processes", "process_id", "output"}


def test_a_full_disk_is_reported_without_a_traceback(tmp_path, monkeypatch, capsys):
    """The first result file a command writes fails (as on a full disk): the command prints
    which file and why, and exits 1 (it was a raw OSError traceback naming a .tmp file)."""
    import errno
    import os
    from pathlib import Path

    from jaxcs.cli import main

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    grid = tmp_path / "grid.toml"
    grid.write_bytes(b"[matrix]\nn = 16\ndelta = 0.5\nrho = 0.2\n[run]\nseeds = 2\n")
    runs = {
        "reproduce": ["reproduce", "--quick", "--output", str(tmp_path / "r"), "--no-progress"],
        "sweep": ["sweep", str(grid), "--output", str(tmp_path / "s"), "--no-progress"],
    }
    files = {"reproduce": tmp_path / "r" / "setup.json", "sweep": tmp_path / "s" / "sweep.json"}
    for command, argv in runs.items():
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"jaxcs {command}: cannot write {files[command]}: No space left")
        assert "Traceback" not in err and "(the disk is full" in err
