"""A Ctrl-C while a command starts (its module imports, its console and logging are set up, its model opens) ends
it as one mid-run does: "Interrupted" on stderr and exit 130, never click's "Aborted!" and exit 1, which reads as
"some files failed"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore import console as console_module
from facerestore.cli import COMMANDS, CONTEXT_SETTINGS, LazyGroup


def _group() -> LazyGroup:
    """A fresh group: the installed one keeps the commands an earlier test loaded."""
    return LazyGroup(name="facerestore", lazy_commands=COMMANDS, context_settings=CONTEXT_SETTINGS)


def _assert_interrupted(result) -> None:
    assert result.exit_code == 130, result.output
    assert "Interrupted" in result.stderr and "Aborted" not in result.output and result.stdout == ""


@pytest.fixture()
def image(tmp_path, hopper_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    with Image.open(hopper_path) as im:
        im.convert("RGB").resize((64, 64)).save(folder / "a.png")
    return folder / "a.png"


def _args(name: str, image: Path, model: Path) -> list[str]:
    """Arguments each command takes: enough to pass its options and reach its own code."""
    out = image.parent.parent / "out"
    return {"enhance": [str(image), "-o", str(out), "--model", str(model), "--device", "cpu"],
            "compare": [str(image), "--models", str(model), "-o", str(out), "--device", "cpu"],
            "analyze": [str(image)], "models": [], "report": [str(image.parent)],
            "degrade": [str(image.parent), "-o", str(out)]}[name]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_ctrl_c_while_a_command_loads_exits_130(name, image, tiny_rgb_model, monkeypatch):
    def interrupted(self, cmd_name):
        raise KeyboardInterrupt

    monkeypatch.setattr(LazyGroup, "_load", interrupted)
    _assert_interrupted(CliRunner().invoke(_group(), [name, *_args(name, image, tiny_rgb_model)]))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_ctrl_c_while_a_command_sets_up_its_console_exits_130(name, image, tiny_rgb_model, monkeypatch):
    """Every command makes its console before the block that reports errors and interrupts."""
    real = console_module.make_console
    calls = []

    def make_console():
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real()

    monkeypatch.setattr(console_module, "make_console", make_console)
    _assert_interrupted(CliRunner().invoke(_group(), [name, *_args(name, image, tiny_rgb_model)]))
    assert calls


@pytest.mark.parametrize("name", ["enhance", "compare"])
def test_ctrl_c_while_onnx_runtime_imports_exits_130(name, image, tiny_rgb_model, monkeypatch):
    """onnxruntime's extension (pybind11) turns a Ctrl-C during its import into ImportError("initialization
    failed") raised from the KeyboardInterrupt: a traceback and exit 1, seen as a Ctrl-C came while a model opened."""
    from facerestore import session

    def interrupted():
        raise ImportError("initialization failed") from KeyboardInterrupt()

    monkeypatch.setattr(session, "_onnxruntime", interrupted)
    _assert_interrupted(CliRunner().invoke(_group(), [name, *_args(name, image, tiny_rgb_model)]))


# A Ctrl-C landing while Python runs code from a string (exec of source: dataclasses and namedtuple build their
# methods so, as modules import), then handled like any other.
_CTRL_C_IN_A_STRING_EXEC = """
from facerestore import console
real = console.make_console
calls = []
def make_console():
    calls.append(1)
    if len(calls) == 1:
        exec("raise KeyboardInterrupt")
    return real()
console.make_console = make_console
from facerestore.cli import main
main()
"""


def test_ctrl_c_inside_code_run_from_a_string_still_exits_130(tmp_path):
    """CPython marks a KeyboardInterrupt that ends code run from a string as unhandled even once caught, and
    ``python -m`` then ends the process by SIGINT (returncode -2) instead of with the command's exit code."""
    (tmp_path / "ctrl_c_in_exec.py").write_text(_CTRL_C_IN_A_STRING_EXEC)
    run = subprocess.run([sys.executable, "-m", "ctrl_c_in_exec", "models"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 130, run.stderr
    assert "Interrupted" in run.stderr and "Aborted" not in run.stderr and run.stdout == ""


# A Ctrl-C arriving as the interpreter tears its modules down once the command has exited (ONNX Runtime's sessions
# are freed then, about 0.1 s): an object freed in that teardown sends it.
_CTRL_C_AT_TEARDOWN = """
import os, signal
class CtrlCAtTeardown:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
late = CtrlCAtTeardown()
from facerestore.cli import main
main()
"""


def test_a_late_ctrl_c_while_the_interpreter_tears_down_keeps_the_exit_code(tmp_path):
    """After the exit callbacks CPython gives SIGINT its default action back, and a second Ctrl-C then (4 of 60
    double Ctrl-Cs of an enhance run) ended the process by SIGINT instead of with the code the command returned."""
    (tmp_path / "ctrl_c_at_teardown.py").write_text(_CTRL_C_AT_TEARDOWN)
    run = subprocess.run([sys.executable, "-m", "ctrl_c_at_teardown", "--version"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("facerestore ")
