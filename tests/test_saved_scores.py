"""A fit's score table kept as it is made: a stopped fit resumes with the same scores and does not score a case
twice; rows from another model, another runtime or another case are never reused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from export import archive, fit_strength, saved_scores
from export.fit_strength import GRID, score_grid


@pytest.fixture(scope="module")
def cases(hopper_path):
    return archive.make_cases((hopper_path,), ("jpeg10", "jpeg50", "clean"), max_side=96)


def _counting(monkeypatch) -> list[str]:
    scored: list[str] = []
    real = fit_strength._score_case
    monkeypatch.setattr(fit_strength, "_score_case",
                        lambda model, case: scored.append(case.degradation) or real(model, case))
    return scored


def test_a_stopped_fit_resumes_with_the_same_scores_scoring_only_what_it_lacks(cases, tiny_rgb_model, tmp_path,
                                                                               monkeypatch):
    whole = score_grid(tiny_rgb_model, cases)
    saved = tmp_path / "scores" / "tiny-colour.jsonl"
    scored = _counting(monkeypatch)
    score_grid(tiny_rgb_model, cases[:2], saved=saved)  # stopped after two cases
    # ... and killed while writing the third row.
    with saved.open("a", encoding="utf-8") as f:
        f.write('{"key": "' + "0" * 20)
    assert scored == ["jpeg10", "jpeg50"]
    resumed = score_grid(tiny_rgb_model, cases, saved=saved)
    assert scored == ["jpeg10", "jpeg50", "clean"]  # only the missing case was scored
    np.testing.assert_array_equal(resumed.psnr, whole.psnr)
    np.testing.assert_array_equal(resumed.input_psnr, whole.input_psnr)
    assert resumed.psnr.shape == (3, len(GRID))
    again = score_grid(tiny_rgb_model, cases, saved=saved)
    assert scored == ["jpeg10", "jpeg50", "clean"]  # nothing scored twice
    np.testing.assert_array_equal(again.psnr, whole.psnr)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)  # the cut line is gone


def test_the_same_face_in_gray_or_at_another_size_is_another_case(cases, hopper_path, tiny_rgb_model, tmp_path,
                                                                    monkeypatch):
    saved = tmp_path / "scores.jsonl"
    score_grid(tiny_rgb_model, cases, saved=saved)
    scored = _counting(monkeypatch)
    gray = archive.make_cases((hopper_path,), ("jpeg10",), max_side=96, gray=True)
    larger = archive.make_cases((hopper_path,), ("jpeg10",), max_side=112)
    score_grid(tiny_rgb_model, gray + larger, saved=saved)
    assert scored == ["jpeg10", "jpeg10"]


@pytest.mark.parametrize("change", ["model", "runtime", "libraries"])
def test_scores_of_another_model_runtime_or_library_are_set_aside_not_reused(
        cases, tiny_rgb_model, tiny_conditioned_model, tmp_path, monkeypatch, change):
    saved = tmp_path / "scores.jsonl"
    score_grid(tiny_rgb_model, cases, saved=saved)
    model = tiny_rgb_model
    if change == "model":
        model = tiny_conditioned_model
    elif change == "runtime":  # another checkout's source, imported by a later fit
        monkeypatch.setattr(saved_scores, "runtime_digest", lambda: "another runtime's source")
        monkeypatch.setattr(fit_strength, "RUNTIME", "another runtime's source")
    else:
        monkeypatch.setattr(saved_scores, "libraries", lambda: {"onnxruntime": "another version"})
    scored = _counting(monkeypatch)
    table = score_grid(model, cases, saved=saved)
    assert scored == ["jpeg10", "jpeg50", "clean"]
    np.testing.assert_array_equal(table.psnr, score_grid(model, cases).psnr)
    assert len(saved.with_name(saved.name + ".old").read_text(encoding="utf-8").splitlines()) == 4  # kept aside
    # Set aside a second time, the first rows set aside are kept too.
    monkeypatch.setattr(saved_scores, "libraries", lambda: {"onnxruntime": "yet another version"})
    score_grid(model, cases, saved=saved)
    assert saved.with_name(saved.name + ".old").is_file() and saved.with_name(saved.name + ".1.old").is_file()


def test_source_changed_on_disk_during_a_fit_is_neither_reused_nor_saved(cases, tiny_rgb_model, tmp_path,
                                                                          monkeypatch):
    """A commit while a fit runs: the process scores with the code it loaded, which a digest read now would not
    name, so its rows would be saved under the new source's name."""
    saved = tmp_path / "scores.jsonl"
    score_grid(tiny_rgb_model, cases[:1], saved=saved)
    before = saved.read_text(encoding="utf-8")
    monkeypatch.setattr(saved_scores, "runtime_digest", lambda: "the source committed since")
    scored = _counting(monkeypatch)
    table = score_grid(tiny_rgb_model, cases, saved=saved)
    assert scored == ["jpeg10", "jpeg50", "clean"]  # the saved row not reused either
    np.testing.assert_array_equal(table.psnr, score_grid(tiny_rgb_model, cases).psnr)
    assert saved.read_text(encoding="utf-8") == before


def test_modules_imported_after_the_fit_started_do_not_stop_its_scores_being_saved(cases, tiny_rgb_model, tmp_path,
                                                                                   monkeypatch):
    """A process imports more of facerestore as it goes (a test run, every command): the check that the source
    is unchanged reads the modules the fit's digest covered, not those loaded since."""
    import sys
    import types

    later = tmp_path / "later.py"
    later.write_text("# a command imported after the fit's modules\n", encoding="utf-8")
    module = types.ModuleType("facerestore.imported_later")
    module.__file__ = str(later)
    monkeypatch.setitem(sys.modules, "facerestore.imported_later", module)
    saved = tmp_path / "scores.jsonl"
    score_grid(tiny_rgb_model, cases, saved=saved)
    assert len(saved.read_text(encoding="utf-8").splitlines()) == 1 + len(cases)


def test_the_runtime_digest_follows_the_source_that_scores_and_nothing_else(monkeypatch, tmp_path):
    """The modules the scoring source imports, read from their files: not what the process happens to have loaded
    (a script importing fit_strength itself took another digest than the CLI's and set its tables aside)."""
    package = tmp_path / "scorepkg"
    package.mkdir()
    files = {"__init__.py": "", "fit.py": "from . import reads\n\ndef later():\n    from scorepkg.sub import kept\n",
             "reads.py": "# how a file is read\n", "unrelated.py": "# a command\n", "sub/__init__.py": "",
             "sub/kept.py": "# imported inside a function\n"}
    for name, text in files.items():
        (package / name).parent.mkdir(exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert saved_scores.scoring_modules(("scorepkg.fit",), "scorepkg") == (
        "scorepkg", "scorepkg.fit", "scorepkg.reads", "scorepkg.sub", "scorepkg.sub.kept")

    def digest() -> str:
        return saved_scores.runtime_digest(("scorepkg.fit",), "scorepkg")

    before = digest()
    (package / "unrelated.py").write_text("# another command\n", encoding="utf-8")
    assert digest() == before  # not on the path that scores
    (package / "sub" / "kept.py").write_text("# read another way\n", encoding="utf-8")
    assert digest() != before  # a module imported inside a function changed
    (package / "sub" / "kept.py").write_text("# imported inside a function\n", encoding="utf-8")
    assert digest() == before
    (package / "reads.py").write_text("from scorepkg import unrelated\n", encoding="utf-8")
    assert digest() != before  # the path that scores now imports more source
