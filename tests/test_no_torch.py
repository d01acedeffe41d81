"""Import hygiene, checked in fresh interpreters: the runtime never imports torch, and --help/--version
never import onnxruntime (they must stay instant)."""

from __future__ import annotations

import subprocess
import sys

import pytest

RUNTIME_MODULES = ["facerestore.cli", "facerestore.commands.enhance", "facerestore.commands.models",
                   "facerestore.pipeline", "facerestore.session", "facerestore.restore", "facerestore.summary",
                   "facerestore.console", "facerestore.options", "facerestore.registry", "facerestore.model_choice",
                   "facerestore.engines", "facerestore.engines.local", "facerestore.engines.ray_engine"]


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('MODULES:', ' '.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.rsplit("MODULES:", 1)[1].split())


def test_runtime_modules_do_not_import_torch():
    loaded = _loaded_after("\n".join(f"import {m}" for m in RUNTIME_MODULES))
    assert "torch" not in loaded and "export" not in loaded
    assert "onnxruntime" not in loaded  # imported only when a session is built


def test_engines_and_the_model_choice_are_library_code_without_click():
    loaded = _loaded_after("import facerestore.engines.local, facerestore.engines.ray_engine, facerestore.model_choice")
    assert "click" not in loaded


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["enhance", "--help"], ["models", "--help"]])
def test_help_and_version_do_not_import_onnxruntime(argv):
    code = ("from facerestore.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n")
    loaded = _loaded_after(code)
    assert "onnxruntime" not in loaded and "torch" not in loaded


def test_a_real_run_does_not_import_torch(tmp_path, tiny_rgb_model, astronaut_path):
    code = ("from facerestore.cli import main\n"
            f"try:\n    main(['enhance', {str(astronaut_path)!r}, '-o', {str(tmp_path)!r}, '--model', "
            f"{str(tiny_rgb_model)!r}, '-q', '--no-report'])\n"
            "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n")
    loaded = _loaded_after(code)
    assert "onnxruntime" in loaded and "torch" not in loaded
    assert (tmp_path / "astronaut.png").is_file()
