"""Per-image and per-run reports on real photos: files, numbers, enhance integration and `facerestore report`."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore import degrade, metrics
from facerestore.discovery import Job
from facerestore.errors import OutputError
from facerestore.imageio import read_image, write_image
from facerestore.report import REPORT_DIR_NAME, as_float, report_files
from facerestore.report.image import (COMPARISON_SIDE, PREVIEW_SIDE, THUMB_SIDE, Reference, match_reference,
                                      state_metrics, write_image_report)
from facerestore.report.run import read_summary, write_run_report
from facerestore.summary import Record


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()  # decodes fully: a truncated file fails here
        return im.size


@pytest.fixture()
def banded(hopper_rgb) -> np.ndarray:
    return degrade.posterize(hopper_rgb, 12)


def test_image_report_files_and_metrics(tmp_path, hopper_rgb, banded):
    out = tmp_path / "out"
    job = Job(src=tmp_path / "in" / "a.jpg", rel=Path("sub/a.jpg"), dst=out / "sub" / "a.png")
    restored = degrade.blur(banded, 1.0)
    m = write_image_report(job, banded.astype(np.float32) / 255, restored.astype(np.float32) / 255, hopper_rgb,
                           out / REPORT_DIR_NAME)
    files = report_files(job.dst, out)
    assert str(files.key) == "sub/a.png"
    h, w = hopper_rgb.shape[:2]  # 600 x 512
    assert _size(out / files.histogram)[1] == 250 and _size(out / files.histogram)[0] == 3 * 380  # 3 states
    preview = (w, h) if max(w, h) <= PREVIEW_SIDE else (round(w * PREVIEW_SIDE / h), PREVIEW_SIDE)  # never upscaled
    assert _size(out / files.before) == preview and _size(out / files.after) == preview
    with Image.open(out / files.before) as before, Image.open(out / files.after) as after:
        assert before.format == after.format == "PNG"  # lossless: the compared pixels are the real ones
        assert np.array_equal(np.asarray(before), banded) and np.array_equal(np.asarray(after), restored)
    assert max(_size(out / files.thumbnail)) == THUMB_SIDE
    strip_w, strip_h = _size(out / files.comparison)
    assert strip_h == COMPARISON_SIDE + 26 and strip_w == 3 * round(w * COMPARISON_SIDE / h) + 2 * 6
    # Numbers equal the metrics functions on the same 8-bit arrays.
    assert m["gaps_in"] == 256 - 12 and m["levels_in"] == 12
    assert m["levels_out"] > 12 and m["gaps_out"] < m["gaps_in"]
    assert m["psnr_in"] == pytest.approx(metrics.psnr(banded, hopper_rgb))
    assert m["psnr_out"] == pytest.approx(metrics.psnr(restored, hopper_rgb))
    assert m["ssim_out"] == pytest.approx(metrics.ssim(restored, hopper_rgb), abs=1e-6)
    assert m["w1_out"] < m["w1_in"]  # blurring the bands spreads the levels back toward the original
    json.dumps(m, allow_nan=False)


def _report_of_files(tmp_path: Path, src: Path, out_name: str, restored: np.ndarray | None = None) -> tuple[Path, Job]:
    """Write ``src`` restored (or as decoded) to ``OUT/out_name`` and its report, as a run does; the output folder."""
    out = tmp_path / "out"
    loaded = read_image(src)
    pixels = loaded.pixels if restored is None else restored
    job = Job(src=src, rel=Path(src.name), dst=out / out_name)
    write_image(job.dst, pixels, loaded)
    write_image_report(job, loaded, pixels, None, out / REPORT_DIR_NAME)
    return out, job


def _page_files(out: Path, job: Job) -> dict[str, str]:
    record = Record(str(job.src), str(job.dst), "restored", None, 1, 1, 0.1, "CPUExecutionProvider", "big")
    return _page_data(write_run_report(out, [record], {"model": "big"}))["images"][0]["files"]


def test_a_browser_ready_jpeg_is_its_own_preview(tmp_path, hopper_path):
    # An 8-bit JPEG within the preview size: the slider shows the input file (copied byte for byte) and the output
    # file itself, so no lossless preview is encoded.
    restored = degrade.blur(np.asarray(Image.open(hopper_path).convert("RGB")), 1.0).astype(np.float32) / 255
    out, job = _report_of_files(tmp_path, hopper_path, "hopper.jpg", restored)
    files = report_files(job.dst, out)
    assert (out / files.input_copy(".jpg")).read_bytes() == hopper_path.read_bytes()
    assert not (out / files.before).exists() and not (out / files.after).exists()
    assert (out / files.thumbnail).is_file() and (out / files.comparison).is_file()
    linked = _page_files(out, job)
    assert linked["before"] == str(files.input_copy(".jpg")) and linked["after"] == "hopper.jpg"


@pytest.mark.parametrize("case", ["turned by EXIF", "larger than the preview", "TIFF output", "16-bit PNG"])
def test_files_that_a_browser_would_not_show_as_decoded_get_drawn_previews(tmp_path, hopper_rgb, case):
    src, out_name = tmp_path / "in.jpg", "in.jpg"
    image = Image.fromarray(hopper_rgb)
    if case == "turned by EXIF":
        exif = Image.Exif()
        exif[0x0112] = 6  # stored sideways: the decoded pixels are turned, a copy's stored ones are not
        image.save(src, exif=exif)
    elif case == "larger than the preview":
        image.resize((PREVIEW_SIDE + 8, PREVIEW_SIDE + 8)).save(src)
    elif case == "TIFF output":
        image.save(src)
        out_name = "in.tif"
    else:
        src, out_name = tmp_path / "in.png", "in.png"
        Image.fromarray(hopper_rgb[..., 1].astype(np.uint16) * 257).save(src)
    out, job = _report_of_files(tmp_path, src, out_name)
    files = report_files(job.dst, out)
    assert (out / files.before).is_file() and (out / files.after).is_file()
    assert not (out / files.input_copy(".jpg")).exists()
    assert {_page_files(out, job)[k] for k in ("before", "after")} == {str(files.before), str(files.after)}


def test_previews_of_an_earlier_run_of_the_other_kind_are_removed(tmp_path, hopper_path):
    out, job = _report_of_files(tmp_path, hopper_path, "hopper.jpg")
    files = report_files(job.dst, out)
    # The same output rebuilt from pixels alone (no input file to copy) draws its previews and drops the copy...
    write_image_report(job, read_image(job.dst).pixels, read_image(job.dst).pixels, None, out / REPORT_DIR_NAME)
    assert (out / files.before).is_file() and (out / files.after).is_file()
    assert not (out / files.input_copy(".jpg")).exists()
    # ...and back: the drawn previews go, so the page cannot link a stale one.
    write_image_report(job, read_image(hopper_path), read_image(job.dst).pixels, None, out / REPORT_DIR_NAME)
    assert not (out / files.before).exists() and not (out / files.after).exists()
    assert _page_files(out, job)["after"] == "hopper.jpg"


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_input_copy_cut_short_is_not_shown_as_the_input(tmp_path, hopper_path, suffix):
    """A copy an earlier run left truncated (a full disk, before copies went through a temporary) is not what a
    later page links as the slider's "before", and a PNG input's copy, named like a drawn preview, neither."""
    src = tmp_path / f"face{suffix}"
    with Image.open(hopper_path) as im:
        im.save(src)
    out, job = _report_of_files(tmp_path, src, src.name)
    copy = out / report_files(job.dst, out).input_copy(suffix)
    assert copy.read_bytes() == src.read_bytes()
    assert _page_files(out, job)["before"] == str(report_files(job.dst, out).input_copy(suffix))
    copy.write_bytes(src.read_bytes()[:16384])  # what the rerun found
    linked = _page_files(out, job)
    assert "before" not in linked and "after" not in linked
    assert {"thumbnail", "comparison", "histogram"} <= set(linked)


def test_names_that_are_not_utf8_are_shown_escaped_and_linked_by_their_bytes(tmp_path, hopper_path):
    from urllib.parse import unquote_to_bytes

    src = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    shutil.copyfile(hopper_path, src)
    out, job = _report_of_files(tmp_path, src, src.name)
    failed = tmp_path / os.fsdecode(b"bad\xff.jpg")
    records = [Record(str(job.src), str(job.dst), "restored", None, 1, 1, 0.1, None, None),
               Record(str(failed), None, "failed", f"cannot decode {failed.name}", None, None, 0.0, None, None)]
    page = write_run_report(out, records, {"command": f"facerestore enhance {src}"})
    page.read_bytes().decode("utf-8")  # valid UTF-8 throughout
    image, bad = _page_data(page)["images"]
    assert image["name"] == "caf\\xe9.jpg" and image["input"] == str(tmp_path / "caf\\xe9.jpg")
    assert bad["name"] == "bad\\xff.jpg" and bad["error"] == "cannot decode bad\\xff.jpg"  # under its input folder
    assert set(image["files"]) == {"thumbnail", "comparison", "histogram", "before", "after"}
    for link in image["files"].values():
        assert "%E9" in link and (out / os.fsdecode(unquote_to_bytes(link))).is_file(), link
    assert os.fsdecode(unquote_to_bytes(image["output_link"])) == job.dst.name


def test_identical_output_gives_inf_psnr_as_string(tmp_path, hopper_rgb):
    job = Job(src=tmp_path / "a.png", rel=Path("a.png"), dst=tmp_path / "out" / "a.png")
    m = write_image_report(job, hopper_rgb, hopper_rgb, hopper_rgb, tmp_path / "out" / REPORT_DIR_NAME)
    assert m["psnr_out"] == "inf" and float(m["psnr_out"]) == math.inf
    assert m["ssim_out"] == pytest.approx(1.0) and m["w1_out"] == 0.0
    assert as_float(m["psnr_out"]) == math.inf


def test_gray_input_without_reference(tmp_path, hopper_rgb):
    gray = metrics.luminance(hopper_rgb)[..., None]
    job = Job(src=tmp_path / "g.png", rel=Path("g.png"), dst=tmp_path / "out" / "g.png")
    m = write_image_report(job, gray, gray, None, tmp_path / "out" / REPORT_DIR_NAME)
    assert "psnr_in" not in m and m["levels_in"] == m["levels_out"]
    assert _size(tmp_path / "out" / report_files(job.dst, tmp_path / "out").histogram) == (2 * 380, 250)


def test_one_reference_scores_colour_and_gray_images_each_as_a_fresh_pair_would(hopper_rgb):
    # compare scores a colour input and a gray model's output against one colour original: the gray one on luma.
    ref = hopper_rgb[:96, :120]
    colour = degrade.posterize(ref, 12)
    gray = metrics.luminance(colour)[..., None]
    reference = Reference(ref)
    for _ in range(2):  # a second round reads the cached forms: scoring must not change them
        for image, paired_ref in ((colour, ref), (gray, metrics.luminance(ref)[..., None]), (ref, ref)):
            got = state_metrics(image, reference)
            assert got["psnr"] == metrics.psnr(image, paired_ref)
            assert got["ssim"] == pytest.approx(metrics.ssim(image, paired_ref), abs=1e-6)
            assert got["w1"] == pytest.approx(metrics.mean_wasserstein(metrics.channel_histograms(image),
                                                                       metrics.channel_histograms(paired_ref)))
    assert got["psnr"] == math.inf and got["ssim"] == pytest.approx(1.0) and got["w1"] == 0.0


def test_mismatched_reference_is_ignored(tmp_path, hopper_rgb, caplog):
    job = Job(src=tmp_path / "a.png", rel=Path("a.png"), dst=tmp_path / "out" / "a.png")
    m = write_image_report(job, hopper_rgb, hopper_rgb, hopper_rgb[:100], tmp_path / "out" / REPORT_DIR_NAME)
    assert "psnr_in" not in m
    assert "no reference metrics" in caplog.text


def test_match_reference_by_relative_path_any_suffix(tmp_path):
    ref = tmp_path / "ref"
    (ref / "sub").mkdir(parents=True)
    (ref / "sub" / "a.png").write_bytes(b"x")
    (ref / "b.JPG").write_bytes(b"x")
    assert match_reference(Job(Path("x"), Path("sub/a.jpg"), Path("y")), ref) == ref / "sub" / "a.png"
    assert match_reference(Job(Path("x"), Path("b.png"), Path("y")), ref) == ref / "b.JPG"
    assert match_reference(Job(Path("x"), Path("c.png"), Path("y")), ref) is None
    assert match_reference(Job(Path("x"), Path("a.png"), Path("y")), None) is None


def test_run_report_summary_files(tmp_path):
    out = tmp_path / "out"
    records = [
        Record("/in/a.jpg", str(out / "a.jpg"), "restored", None, 10, 8, 0.5, "CPUExecutionProvider", "big",
               {"psnr_in": 30.0, "psnr_out": float("inf"), "gaps_in": 200.0, "gaps_out": 10.0}),
        {"input": "/in/b.jpg", "output": str(out / "b.jpg"), "status": "restored", "error": None, "width": 10,
         "height": 8, "seconds": 0.7, "provider": "CPUExecutionProvider", "model": "big",
         "metrics": {"psnr_in": 28.0, "psnr_out": 31.0, "gaps_in": 100.0, "gaps_out": 0.0}},
        Record("/in/c.jpg", None, "failed", "cannot decode", None, None, 0.0, None, "big"),
    ]
    html = write_run_report(out, records, {"model": "big", "provider": "CPUExecutionProvider", "seconds": 1.5})
    assert html == out / "report.html" and html.is_file()
    data = json.loads((out / "summary.json").read_text())  # strict JSON: no Infinity literal
    assert data["counts"] == {"total": 3, "restored": 2, "unchanged": 0, "skipped": 0, "failed": 1}
    assert data["images"][0]["metrics"]["psnr_out"] == "inf"
    means = {m["key"]: m for m in data["means"]}
    assert means["psnr"]["output"] == pytest.approx(31.0)  # the infinite one is left out of the mean
    assert means["psnr"]["images"] == 1
    assert means["gaps"]["input"] == pytest.approx(150.0) and means["gaps"]["change"] == pytest.approx(-145.0)
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["restored", "restored", "failed"]
    assert rows[0]["psnr_out"] == "inf" and float(rows[1]["psnr_out"]) == 31.0 and rows[2]["psnr_out"] == ""
    assert rows[2]["error"] == "cannot decode"
    page = html.read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: no network
    assert read_summary(out).records[1]["metrics"]["gaps_in"] == 100.0


@pytest.mark.parametrize("blocked", ["summary.json", "summary.csv", "report.html"])
def test_a_run_report_that_cannot_be_written_says_why_in_one_line_naming_it(tmp_path, blocked):
    out = tmp_path / "out"
    (out / blocked).mkdir(parents=True)  # a folder where the file goes: the rename onto it fails
    record = Record("/in/a.jpg", str(out / "a.jpg"), "restored", None, 10, 8, 0.5, "CPUExecutionProvider", "big", {})
    with pytest.raises(OutputError) as info:
        write_run_report(out, [record], {"model": "big"})
    # Was the OSError's own text, naming the temporary file ('.summary.json.PID.TOKEN.tmp'), then the folder
    # ("cannot write the run summary in OUT") rather than the summary file that could not be written.
    assert str(info.value) == f"cannot write {out / blocked}: Is a directory"


def _restored(out: Path, name: str) -> Record:
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(b"")  # the output exists, so a later merge keeps its record
    return Record(f"/in/{name}", str(out / name), "restored", None, 8, 8, 0.1, "CPUExecutionProvider", "big", {})


def test_a_run_waits_for_the_summary_lock_and_keeps_what_the_holder_wrote(tmp_path):
    """Two --shard runs finishing together: the second merges into what the first wrote, it does not replace it."""
    import threading

    from filelock import FileLock

    from facerestore import pipeline
    from facerestore.report.run import summary_lock_path

    out = tmp_path / "out"
    out.mkdir()
    mine, theirs = _restored(out, "b.png"), _restored(out, "a.png")
    done: list[bool] = []
    with FileLock(summary_lock_path(out)):  # another shard is writing the summary
        writer = threading.Thread(target=lambda: done.append(pipeline.write_run_report(out, [mine], {})))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not (out / "summary.json").exists()
        write_run_report(out, [theirs], {})
    writer.join(10)
    assert done == [True]
    assert sorted(r["input"] for r in read_summary(out).records) == ["/in/a.png", "/in/b.png"]


def test_a_rebuild_replaces_what_it_read_and_keeps_what_was_written_since(tmp_path):
    from facerestore.report.run import record_key, update_run_report

    old, new = tmp_path / "old", tmp_path / "new"  # the rebuild found the output under a new path
    old.mkdir()
    read = [_restored(old, "a.png")]
    write_run_report(old, read, {})
    read_keys = [record_key(r) for r in read_summary(old).records]
    write_run_report(old, [*read, _restored(old, "b.png")], {})  # a shard added b.png meanwhile
    rebuilt = Record("/in/a.png", str(_restored(new, "a.png").output), "restored", None, 8, 8, 0.1, None, "big", {})
    update_run_report(old, [rebuilt], {}, replacing=read_keys)
    assert sorted(r["output"] for r in read_summary(old).records) == sorted([str(old / "b.png"), str(new / "a.png")])


def test_a_run_waiting_for_another_runs_report_says_so(tmp_path, degraded_set, tiny_rgb_model):
    """Another run holds the summary lock: the run says it waits (it seemed to hang, for up to 5 minutes), then
    merges its records once the lock is free."""
    import threading

    from filelock import FileLock

    from facerestore.report.run import summary_lock_path

    inputs, _ = degraded_set
    out = tmp_path / "restored"
    said = threading.Event()
    lines: list[str] = []

    def read(stream) -> None:
        for line in stream:
            lines.append(line)
            if "another run is writing the report" in line:
                said.set()

    summary_lock_path(out).parent.mkdir(parents=True)
    with FileLock(summary_lock_path(out)):
        run = subprocess.Popen([sys.executable, "-m", "facerestore", "enhance", str(inputs), "-o", str(out),
                                "--model", str(tiny_rgb_model), "--strength", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=read, args=(run.stderr,))
        reader.start()
        said.wait(60)  # the lock is released on leaving the block either way: the run goes on
    try:
        assert run.wait(60) == 0, "".join(lines)
    finally:
        run.kill()
        reader.join()
    assert [line for line in lines if "another run" in line] == [
        f"warning: another run is writing the report in {out}: waiting for it (at most 300 s)\n"]
    assert len(read_summary(out).records) == 2


def test_a_summary_lock_held_too_long_fails_the_report_only(tmp_path, monkeypatch, caplog):
    from filelock import FileLock

    from facerestore import pipeline
    from facerestore.report import run as report_run

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(report_run, "LOCK_TIMEOUT_S", 0.2)
    with FileLock(report_run.summary_lock_path(out)):
        assert pipeline.write_run_report(out, [_restored(out, "a.png")], {}) is False
    assert not (out / "summary.json").exists()
    assert "facerestore report" in caplog.text and report_run.SUMMARY_LOCK in caplog.text


def _page_data(html: Path) -> dict:
    """The JSON the report page renders from."""
    page = html.read_text(encoding="utf-8")
    start = page.index('<script type="application/json" id="data">') + len('<script type="application/json" id="data">')
    return json.loads(page[start:page.index("</script>", start)])


def test_failed_rows_are_named_like_the_others(tmp_path):
    """An output is named by its path under the output folder; a failed image by its path under its input."""
    out, photos = tmp_path / "out", tmp_path / "photos"
    records = [
        Record(str(photos / "2019" / "a.jpg"), str(out / "2019" / "a.png"), "restored", None, 8, 8, 0.1, None, None),
        Record(str(photos / "2019" / "bad.jpg"), None, "failed", "cannot decode", None, None, 0.0, None, None),
        Record(str(photos / "top.jpg"), None, "failed", "cannot decode", None, None, 0.0, None, None),
        Record(str(tmp_path / "elsewhere.jpg"), None, "failed", "no such file", None, None, 0.0, None, None),
    ]
    images = _page_data(write_run_report(out, records, {}))["images"]
    assert [i["name"] for i in images] == ["2019/a.png", "2019/bad.jpg", "top.jpg", str(tmp_path / "elsewhere.jpg")]
    assert images[1]["input"] == str(photos / "2019" / "bad.jpg")  # the full path stays in the data


def test_per_image_time_says_when_it_comes_from_earlier_runs(tmp_path):
    out = tmp_path / "out"
    records = [_restored(out, "a.png"), _restored(out, "b.png")]
    assert _page_data(write_run_report(out, records, {"seconds": 3.0, "restored": 2}))["mean_seconds_from"] is None
    rerun = _page_data(write_run_report(out, records, {"seconds": 0.2, "restored": 0}))
    assert rerun["mean_seconds_from"] == "earlier runs" and rerun["mean_seconds"] == pytest.approx(0.1)
    partly = _page_data(write_run_report(out, records, {"seconds": 0.2, "restored": 1}))
    assert partly["mean_seconds_from"] == "this and earlier runs"


def test_html_escapes_file_names(tmp_path):
    out = tmp_path / "out"
    evil = "</script><img src=x onerror=alert(1)>.jpg"
    write_run_report(out, [Record(evil, None, "failed", evil, None, None, 0.0, None, None)], {})
    page = (out / "report.html").read_text()
    assert "</script><img" not in page


def _enhance(args: list[str]):
    from facerestore.cli import cli

    return CliRunner().invoke(cli, ["enhance", *args], catch_exceptions=False)


@pytest.fixture()
def degraded_set(tmp_path, hopper_path, astronaut_path) -> tuple[Path, Path]:
    """Degraded inputs and their originals, mirrored by relative path (the research's evaluation set-up)."""
    inputs, originals = tmp_path / "inputs", tmp_path / "originals"
    for src, rel in ((hopper_path, "hopper.png"), (astronaut_path, "people/astronaut.png")):
        with Image.open(src) as im:
            rgb = np.asarray(im.convert("RGB"))[:160, :128]
        for folder, pixels in ((originals, rgb), (inputs, degrade.posterize(rgb, 16))):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / rel)
    return inputs, originals


def test_enhance_writes_report_and_report_command_rebuilds_it(tmp_path, degraded_set, tiny_rgb_model):
    inputs, originals = degraded_set
    out = tmp_path / "restored"
    result = _enhance([str(inputs), "-o", str(out), "--model", str(tiny_rgb_model), "--reference", str(originals),
                       "--quiet"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["restored"] == 2
    first = summary["images"][0]["metrics"]
    assert {"psnr_in", "psnr_out", "ssim_in", "ssim_out", "w1_in", "w1_out", "gaps_in", "gaps_out"} <= set(first)
    chart = out / report_files(summary["images"][0]["output"], out).histogram
    assert chart.is_file()

    # Rebuild from a copy of the folder (moved elsewhere), without the charts: same numbers, files back.
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    shutil.rmtree(moved / REPORT_DIR_NAME)
    (moved / "report.html").unlink()
    from facerestore.commands.report import report

    rebuilt = CliRunner().invoke(report, [str(moved), "--reference", str(originals), "-q"], catch_exceptions=False)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == str(moved / "report.html")
    again = json.loads((moved / "summary.json").read_text())
    for before, after in zip(summary["images"], again["images"]):
        for key in ("gaps_in", "levels_in", "psnr_in", "ssim_in", "w1_in"):
            assert after["metrics"][key] == pytest.approx(before["metrics"][key], abs=1e-6), key
        # The output was written to disk quantised; the in-memory numbers differ by rounding at most.
        assert after["metrics"]["psnr_out"] == pytest.approx(before["metrics"]["psnr_out"], abs=0.2)
    assert (moved / report_files(again["images"][0]["output"], moved).histogram).is_file()
    assert (moved / "report.html").is_file()


def test_the_report_command_names_a_folder_that_looks_like_markup_as_it_is(tmp_path, degraded_set, tiny_rgb_model):
    inputs, _ = degraded_set
    out = tmp_path / "rq[" / "]out [draft]"  # "[/]" closed rich's markup, which raised; "[draft]" vanished
    assert _enhance([str(inputs), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"]).exit_code == 0
    from facerestore.commands.report import report

    rebuilt = CliRunner().invoke(report, [str(out), "-q"], catch_exceptions=False)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert f"Report rebuilt: 2 of 2 images, {out / 'report.html'}" in rebuilt.stderr


def test_a_name_as_long_as_the_file_system_allows_is_restored_and_reported(tmp_path, degraded_set, tiny_rgb_model):
    """Its report files' names (and a reference's under a longer suffix) are past the limit: the image is still
    restored, not failed, and report.html still lists every image (Path.is_file raised ENAMETOOLONG on them)."""
    inputs, originals = degraded_set
    stem = "e" * 251  # + ".png": 255 bytes, the most a name may have; ".jfif" makes 256
    os.rename(inputs / "hopper.png", inputs / f"{stem}.png")
    with Image.open(originals / "hopper.png") as im:
        im.save(originals / f"{stem}.jpg", quality=95)
    (originals / "hopper.png").unlink()
    out = tmp_path / "restored"
    result = _enhance([str(inputs), "-o", str(out), "--model", str(tiny_rgb_model), "--reference", str(originals),
                       "--json"])
    assert result.exit_code == 0, result.stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records[f"{stem}.png"]["status"] == "restored", records[f"{stem}.png"]
    assert "psnr_in" in records[f"{stem}.png"]["metrics"]  # its reference was found
    assert (out / f"{stem}.png").is_file()
    names = [i["name"] for i in _page_data(out / "report.html")["images"]]
    assert sorted(names) == sorted([f"{stem}.png", "people/astronaut.png"])


def test_the_report_command_folds_in_the_journal_of_a_killed_run(tmp_path, degraded_set, tiny_rgb_model):
    """A run killed after the summary was written left a newer record in its journal: a rebuild shows it."""
    inputs, _ = degraded_set
    out = tmp_path / "restored"
    assert _enhance([str(inputs), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    newer = {**summary["images"][0], "seconds": 123.0}
    journal = out / REPORT_DIR_NAME / "journal-1-dead.jsonl"
    journal.write_text(json.dumps(newer) + "\n", encoding="utf-8")
    from facerestore.commands.report import report

    rebuilt = CliRunner().invoke(report, [str(out), "-q"], catch_exceptions=False)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    again = {r["output"]: r for r in json.loads((out / "summary.json").read_text())["images"]}
    assert len(again) == len(summary["images"]) and again[newer["output"]]["seconds"] == 123.0
    assert not journal.exists()


def test_report_command_without_summary_is_a_usage_error(tmp_path):
    from facerestore.commands.report import report

    result = CliRunner().invoke(report, [str(tmp_path)])
    assert result.exit_code == 2
    assert "summary.json" in result.stderr and result.stdout == ""


# `facerestore enhance`, killed with kill -9 by itself right after its journal took its first record: a real run
# killed outright at a known point (polling the journal from outside would race the run's end).
_KILLED_AFTER_FIRST_RECORD = """
import os, signal, sys
from facerestore.report.journal import Journal
append = Journal.append
def append_then_die(self, record):
    append(self, record)
    os.kill(os.getpid(), signal.SIGKILL)
Journal.append = append_then_die
from facerestore.cli import main
main(sys.argv[1:])
"""


def test_the_report_command_rebuilds_a_first_run_killed_before_any_summary(tmp_path, degraded_set, tiny_rgb_model):
    from facerestore.commands.report import report

    inputs, _ = degraded_set
    out = tmp_path / "restored"
    killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_FIRST_RECORD, "enhance", str(inputs), "-o", str(out),
                             "--model", str(tiny_rgb_model), "--strength", "1", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "summary.json").exists()
    journals = list((out / REPORT_DIR_NAME).glob("journal-*.jsonl"))
    journaled = [json.loads(line) for path in journals for line in path.read_text().splitlines()]
    assert len(journaled) == 1 and journaled[0]["status"] == "restored"

    rebuilt = CliRunner().invoke(report, [str(out), "-q"], catch_exceptions=False)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == str(out / "report.html")
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["input"], r["output"], r["status"]) for r in summary["images"]] == [
        (journaled[0]["input"], journaled[0]["output"], "restored")]
    assert "gaps_out" in summary["images"][0]["metrics"]
    assert summary["run"]["model"] == journaled[0]["model"]
    assert _page_data(out / "report.html")["counts"]["restored"] == 1
    assert not any(path.exists() for path in journals)  # its records are in the summary now


def test_the_report_command_names_the_output_that_cannot_be_read(tmp_path, degraded_set, tiny_rgb_model):
    from facerestore.commands.report import report

    inputs, _ = degraded_set
    out = tmp_path / "restored"
    assert _enhance([str(inputs), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"]).exit_code == 0
    before = {r["output"]: r for r in json.loads((out / "summary.json").read_text())["images"]}
    broken = out / "hopper.png"
    broken.write_text("junk\n")

    result = CliRunner().invoke(report, [str(out), "-q"], catch_exceptions=False)
    assert result.exit_code == 1
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr  # the output is named, not its input (which is fine)
    assert warnings[0].startswith(f"warning: {broken}: kept its earlier numbers: not a supported image")
    after = {r["output"]: r for r in json.loads((out / "summary.json").read_text())["images"]}
    assert after[str(broken)]["metrics"] == before[str(broken)]["metrics"]  # kept, not lost


@pytest.mark.parametrize("summary, problem", [
    ({"images": [], "run": 5}, 'its "run" is a number, not an object'),
    ({"images": {}}, "not a facerestore summary"),
    ([], "not a facerestore summary"),
])
def test_a_summary_that_is_not_one_is_a_usage_error_naming_it(tmp_path, summary, problem):
    from facerestore.commands.report import report

    (tmp_path / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(report, [str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: cannot read {tmp_path / 'summary.json'}: {problem}\n"
    assert json.loads((tmp_path / "summary.json").read_text()) == summary  # left as it was


def test_a_summary_nested_deeper_than_the_parser_goes_is_a_usage_error(tmp_path):
    from facerestore.commands.report import report

    (tmp_path / "summary.json").write_text("[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(report, [str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: cannot read {tmp_path / 'summary.json'}: not a facerestore summary")


def test_records_of_summary_json_the_report_cannot_use_are_left_out_each_named(tmp_path, degraded_set,
                                                                                tiny_rgb_model):
    """Hand-edited or damaged records: one warning each, exit 1, and every good record still rebuilt."""
    from facerestore.commands.report import report

    inputs, _ = degraded_set
    out = tmp_path / "restored"
    assert _enhance([str(inputs), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"]).exit_code == 0
    data = json.loads((out / "summary.json").read_text())
    good = data["images"]
    bad = [
        ({"status": "restored", "output": 5}, 'its "input" is null, not a string'),
        ({**good[0], "output": 5}, 'its "output" is a number, not a string or null'),
        ({**good[0], "status": ["restored"]}, 'its "status" is an array, not a string'),
        ({**good[0], "width": "wide"}, 'its "width" is a string, not a whole number or null'),
        ({**good[0], "seconds": True}, 'its "seconds" is a boolean, not a number or null'),
        ({**good[0], "metrics": [1]}, 'its "metrics" is an array, not an object or null'),
        ({**good[0], "metrics": {"psnr_in": "high"}}, 'its metric "psnr_in" is a string, not a number'),
        (7, "it is a number, not an object"),
    ]
    data["images"] = good + [record for record, _ in bad]
    (out / "summary.json").write_text(json.dumps(data))

    result = CliRunner().invoke(report, [str(out), "-q"], catch_exceptions=False)
    assert result.exit_code == 1 and result.stdout.strip() == str(out / "report.html")
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {out / 'summary.json'}: image {len(good) + n} left out of the report: {why}"
                        for n, (_, why) in enumerate(bad, 1)]
    again = json.loads((out / "summary.json").read_text())["images"]
    assert [r["output"] for r in again] == [r["output"] for r in good]


def test_journal_records_the_report_cannot_use_are_left_out(tmp_path, caplog):
    from facerestore.report.journal import orphaned

    good = Record(input="/in/a.jpg", output="/out/a.jpg", status="restored", error=None, width=8, height=8,
                  seconds=0.1, provider="CPUExecutionProvider", model="big").to_json()
    damaged = json.dumps({"input": "/in/b.jpg", "output": "/out/b.jpg", "status": ["restored"]})
    (tmp_path / "journal-1-dead.jsonl").write_text(damaged + "\n" + good + "\n", encoding="utf-8")
    records, _ = orphaned(tmp_path)
    assert [r["input"] for r in records] == ["/in/a.jpg"]
    assert 'line 1 left out of the report: its "status" is an array, not a string' in caplog.text


def test_resumed_and_sharded_runs_keep_every_image_in_the_report(tmp_path, degraded_set, tiny_rgb_model):
    """A rerun that skips finished files, and shards written one after another, still report every image."""
    inputs, originals = degraded_set
    out = tmp_path / "restored"
    common = ["-o", str(out), "--model", str(tiny_rgb_model), "--reference", str(originals), "--quiet"]
    assert _enhance([str(inputs), *common, "--shard", "1/2"]).exit_code == 0
    assert _enhance([str(inputs), *common, "--shard", "2/2"]).exit_code == 0
    assert _enhance([str(inputs), *common]).exit_code == 0  # everything exists now: all skipped
    assert _page_data(out / "report.html")["mean_seconds_from"] == "earlier runs"  # beside this run's time

    images = json.loads((out / "summary.json").read_text())["images"]
    assert sorted(Path(r["output"]).name for r in images) == ["astronaut.png", "hopper.png"]
    assert all(r["status"] == "restored" and "psnr_out" in r["metrics"] for r in images)

    # An output deleted by hand and redone by the next run replaces its old record, with no duplicate.
    Path(images[0]["output"]).unlink()
    assert _enhance([str(inputs), *common]).exit_code == 0
    again = json.loads((out / "summary.json").read_text())["images"]
    assert len(again) == 2 and all(r["status"] == "restored" for r in again)
    assert _page_data(out / "report.html")["mean_seconds_from"] == "this and earlier runs"  # one redone, one kept


def test_worker_parts_of_a_journal_go_with_their_run(tmp_path):
    """--engine ray's workers journal their images into parts of the run's journal: a living run's parts are no
    other run's to take; stopping the workers waits for the image being written and lets none start after; a
    dead run's parts (even with no journal of its own) reach the next report and go."""
    import threading
    import time

    from facerestore.report.journal import Journal, JournalPart, orphaned, remove

    def record(name: str) -> Record:
        return Record(input=f"/in/{name}", output=f"/out/{name}", status="restored", error=None, width=8, height=8,
                      seconds=0.1, provider="CPUExecutionProvider", model="big")

    run = Journal(tmp_path / "report")
    held = run.hold()
    part = JournalPart(held)  # as a worker makes it
    part.append(record("a.jpg"))
    assert orphaned(tmp_path / "report") == ([], [])
    writing = threading.Event()

    def worker() -> None:
        with part.writing() as allowed:
            assert allowed
            writing.set()
            time.sleep(0.3)  # the run stops its workers meanwhile: it waits for this image
            part.append(record("b.jpg"))

    thread = threading.Thread(target=worker)
    thread.start()
    assert writing.wait(10)
    run.stop_parts(timeout=30)
    assert [Path(r["output"]).name for r in run.records()] == ["a.jpg", "b.jpg"]
    with part.writing() as allowed:
        assert not allowed  # no image written once the run has read its journal
    thread.join()
    run.close()
    assert not (tmp_path / "report").exists()  # it made the folder and left nothing in it

    dead = JournalPart(tmp_path / "journal-1-dead.jsonl")  # its workers wrote every record
    dead.append(record("c.jpg"))
    records, paths = orphaned(tmp_path)
    assert [Path(r["output"]).name for r in records] == ["c.jpg"] and paths
    remove(paths)
    assert list(tmp_path.iterdir()) == []


def test_journals_of_living_runs_are_left_and_a_cut_line_is_dropped(tmp_path):
    """Only a journal no run holds is folded into a report; the line a kill cut short is not a record."""
    from facerestore.report.journal import Journal, orphaned, remove

    def record(name: str, status: str = "restored") -> Record:
        return Record(input=f"/in/{name}", output=f"/out/{name}", status=status, error=None, width=8, height=8,
                      seconds=0.1, provider="CPUExecutionProvider", model="big")

    living = Journal(tmp_path)
    living.append(record("busy.jpg"))  # another --shard still running: its journal is locked
    killed = tmp_path / "journal-1-dead.jsonl"
    killed.write_text(record("a.jpg").to_json() + "\n" + record("b.jpg").to_json() + "\n"
                      + record("c.jpg").to_json()[:40], encoding="utf-8")

    records, paths = orphaned(tmp_path)
    assert [Path(r["output"]).name for r in records] == ["a.jpg", "b.jpg"] and paths == [killed]
    remove(paths)
    living.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_report_shows_the_latest_outcome_of_each_input(tmp_path, hopper_path, tiny_rgb_model):
    """A corrupt file fails, is replaced by a good one and restored: the report showed the old failure beside the
    new success (failures were kept by input, successes by output). The other way round, a file restored, then
    unreadable and redone with --overwrite, fails: the report shows the failure, and that the output on disk is
    the earlier run's."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    with Image.open(hopper_path) as im:
        face = im.convert("RGB").resize((96, 112))
    face.save(photos / "a.jpg", quality=30)
    (photos / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    args = [str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--quiet"]
    assert _enhance(args).exit_code == 1

    def outcomes() -> list[tuple[str, str | None, str]]:
        images = json.loads((out / "summary.json").read_text())["images"]
        rows = list(csv.DictReader((out / "summary.csv").open()))
        page = _page_data(out / "report.html")["images"]
        assert [(r["input"], r["status"]) for r in rows] == [(r["input"], r["status"]) for r in images]
        assert [i["status"] for i in page] == [r["status"] for r in images]
        return sorted(((Path(r["input"]).name, r["output"] and Path(r["output"]).name, r["status"]) for r in images),
                      key=str)

    face.rotate(20).save(photos / "b.jpg", quality=30)  # the user puts a good file in its place
    assert _enhance(args).exit_code == 0
    assert outcomes() == [("a.jpg", "a.jpg", "restored"), ("b.jpg", "b.jpg", "restored")]
    assert json.loads((out / "summary.json").read_text())["counts"]["failed"] == 0
    restored = (out / "b.jpg").read_bytes()

    # Restored, then unreadable: the latest outcome is the failure, and the output left on disk is named.
    (photos / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 damaged since")
    assert _enhance([*args, "--overwrite"]).exit_code == 1
    assert (out / "b.jpg").read_bytes() == restored
    assert outcomes() == [("a.jpg", "a.jpg", "restored"), ("b.jpg", "b.jpg", "failed")]
    failed = next(r for r in json.loads((out / "summary.json").read_text())["images"] if r["status"] == "failed")
    assert failed["error"].startswith("cannot decode") and failed["error"].endswith(
        "; its output from an earlier run is left as it was")
    assert failed["output"] == str(out / "b.jpg") and failed["metrics"] == {}
    entry = next(i for i in _page_data(out / "report.html")["images"] if i["status"] == "failed")
    assert entry["output_link"] == "b.jpg" and entry["error"] == failed["error"]
    from facerestore.commands.report import report  # a rebuild keeps it so

    assert CliRunner().invoke(report, [str(out), "-q"], catch_exceptions=False).exit_code == 0
    assert outcomes() == [("a.jpg", "a.jpg", "restored"), ("b.jpg", "b.jpg", "failed")]
    # A rerun skips that output (an earlier run wrote it from b.jpg): the failure stays its record.
    assert _enhance(args).exit_code == 0
    assert outcomes() == [("a.jpg", "a.jpg", "restored"), ("b.jpg", "b.jpg", "failed")]
    # Once that output is gone, the failure is all there is.
    (out / "b.jpg").unlink()
    assert _enhance(args).exit_code == 1
    assert outcomes() == [("a.jpg", "a.jpg", "restored"), ("b.jpg", None, "failed")]
    assert "earlier run" not in json.loads((out / "summary.json").read_text())["images"][-1]["error"]


def test_a_rerun_clears_the_stale_failure_an_older_summary_kept_beside_the_success(tmp_path):
    """Summaries written before one outcome per input hold both; the rerun that skips the output keeps the success."""
    from facerestore.report.run import merge_records

    out = tmp_path / "out"
    restored = _restored(out, "b.png")
    failed = Record(restored.input, None, "failed", "cannot decode", None, None, 0.0, None, "big")
    skipped = Record(restored.input, restored.output, "skipped", None, None, None, 0.0, None, "big")
    merged = merge_records([failed, restored], [skipped])
    assert [(r["status"], r["output"]) for r in merged] == [("restored", restored.output)]
