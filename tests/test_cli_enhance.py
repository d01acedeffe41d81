"""``facerestore enhance`` end to end: real image files, outputs, metadata, exit codes and the JSON stream."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.cli import cli

ORIENTATION = 0x0112


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path, hopper_path, astronaut_path) -> Path:
    """A small archive: nested same-named files, EXIF-rotated JPEG, 16-bit PNG, RGBA, grayscale, a corrupt file."""
    root = tmp_path / "photos"
    (root / "2019").mkdir(parents=True)
    (root / "2020" / "trip").mkdir(parents=True)
    with Image.open(hopper_path) as im:
        hopper = im.convert("RGB").resize((96, 112))  # w x h: portrait
    with Image.open(astronaut_path) as im:
        astronaut = im.convert("RGB").resize((80, 80))
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # displayed rotated by 90 degrees: 112 wide, 96 high
    hopper.save(root / "2019" / "face.jpg", quality=92, exif=exif)
    astronaut.save(root / "2020" / "trip" / "face.jpg", quality=92)
    gray16 = (np.asarray(hopper.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(root / "deep16.png")
    rgba = astronaut.copy()
    alpha = np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (80, 1))
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(root / "cutout.png")
    hopper.convert("L").save(root / "gray.jpg", quality=90)
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (root / ".DS_Store").write_bytes(b"junk")
    return root


def _run(args: list[str], **kwargs):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kwargs)


def _records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


GOOD = ["2019/face.jpg", "2020/trip/face.jpg", "cutout.png", "deep16.png", "gray.jpg"]


def test_full_run_restores_everything_but_the_corrupt_file(photos, tiny_rgb_model):
    before = _digests(photos)
    # --strength 1: every image through the model, whatever its damage (the clean ones would be left unchanged)
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--json", "--no-report", "--strength", "1"])

    assert result.exit_code == 1, result.stderr
    records = _records(result.stdout)
    by_input = {Path(r["input"]).relative_to(photos).as_posix(): r for r in records}
    assert sorted(by_input) == sorted(GOOD + ["corrupt.jpg"])
    for rel in GOOD:
        rec = by_input[rel]
        assert rec["status"] == "restored" and rec["error"] is None
        assert rec["provider"] == "CPUExecutionProvider" and rec["model"] == tiny_rgb_model.name
        assert rec["seconds"] >= 0 and rec["width"] > 0
    failed = by_input["corrupt.jpg"]
    assert failed["status"] == "failed" and failed["output"] is None and failed["error"]
    error_lines = [line for line in result.stderr.splitlines() if "corrupt.jpg" in line]
    assert len(error_lines) == 1 and failed["error"] in error_lines[0]
    assert "1 failed" in result.stderr and "5 restored" in result.stderr and "CPUExecutionProvider" in result.stderr

    out = photos.parent / "photos-restored"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(GOOD)
    assert _digests(photos) == before  # originals byte-identical

    with Image.open(out / "2019" / "face.jpg") as im:
        assert im.size == (112, 96)  # pixels transposed per EXIF
        assert im.getexif().get(ORIENTATION, 1) == 1
        assert by_input["2019/face.jpg"]["width"] == 112 and by_input["2019/face.jpg"]["height"] == 96
    with Image.open(out / "2020" / "trip" / "face.jpg") as im:
        assert im.size == (80, 80)  # the same-named file in another folder is its own output
    with Image.open(out / "deep16.png") as im:
        assert im.mode in ("I;16", "I") and np.asarray(im).max() > 255
    with Image.open(out / "cutout.png") as im, Image.open(photos / "cutout.png") as src:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im)[..., 3], np.asarray(src)[..., 3])
        assert not np.array_equal(np.asarray(im)[..., :3], np.asarray(src)[..., :3])  # the colour was restored
    with Image.open(out / "gray.jpg") as im:
        assert im.mode == "L"
    assert os.stat(out / "gray.jpg").st_mtime == pytest.approx(os.stat(photos / "gray.jpg").st_mtime, abs=1e-3)


def test_stdout_stays_empty_without_json(photos, tiny_rgb_model):
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--no-report"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "corrupt.jpg" in result.stderr


def test_rerun_skips_and_overwrite_redoes(photos, tiny_rgb_model):
    (photos / "corrupt.jpg").unlink()
    args = ["enhance", str(photos), "--model", str(tiny_rgb_model), "--json", "--no-report", "--strength", "1"]
    first = _run(args)
    assert first.exit_code == 0 and {r["status"] for r in _records(first.stdout)} == {"restored"}
    target = photos.parent / "photos-restored" / "gray.jpg"
    target.write_bytes(b"stale")

    second = _run(args)
    assert second.exit_code == 0
    assert {r["status"] for r in _records(second.stdout)} == {"skipped"}
    assert target.read_bytes() == b"stale" and "5 skipped" in second.stderr

    third = _run(args + ["--overwrite"])
    assert third.exit_code == 0 and {r["status"] for r in _records(third.stdout)} == {"restored"}
    with Image.open(target) as im:
        assert im.mode == "L"


def test_dry_run_prints_the_plan_and_writes_nothing(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    result = _run(["enhance", str(photos), "-o", str(out), "--dry-run", "--model", str(tiny_rgb_model)])
    assert result.exit_code == 0, result.stderr  # the corrupt file starts like a JPEG: found out when decoding
    plan = [line.split("\t") for line in result.stdout.splitlines()]
    assert [Path(src).relative_to(photos).as_posix() for src, _, _ in plan] == sorted(GOOD + ["corrupt.jpg"])
    assert all(Path(dst) == out / Path(src).relative_to(photos) and todo == "run" for src, dst, todo in plan)
    assert not out.exists()
    assert _run(["enhance", str(photos), "--dry-run", "--model", "no-such-model"]).exit_code == 2

    as_json = _run(["enhance", str(photos), "-o", str(out), "--dry-run", "--json", "--model", str(tiny_rgb_model)])
    assert [r["status"] for r in _records(as_json.stdout)] == ["planned"] * 6
    assert not out.exists()


def test_dry_run_marks_existing_outputs_and_lists_only_images(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    earlier = out / "photos" / "2019" / "face.jpg"  # two inputs: each folder under -o by its name
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an earlier output")
    (photos / "scan.png").write_text("a text file with an image name")
    notes = tmp_path / "notes.txt"  # named on the command line: always tried, so sniffed
    notes.write_text("not an image")
    args = ["enhance", str(photos), str(notes), "-o", str(out), "--dry-run", "--model", str(tiny_rgb_model)]

    result = _run(args)
    assert result.exit_code == 1  # the run would fail on the two files that are not images
    todo = {Path(src).name if src == str(notes) else Path(src).relative_to(photos).as_posix(): column
            for src, _, column in (line.split("\t") for line in result.stdout.splitlines())}
    assert todo == {**{rel: "run" for rel in GOOD + ["corrupt.jpg"]}, "2019/face.jpg": "skip"}
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 2 and all("not a supported image" in line for line in errors)
    assert any("scan.png" in line for line in errors) and any("notes.txt" in line for line in errors)
    assert earlier.read_bytes() == b"an earlier output"

    redo = _run(args + ["--overwrite", "--json"])
    statuses = {Path(r["input"]).name: r["status"] for r in _records(redo.stdout)}
    assert set(statuses.values()) == {"planned", "failed"} and statuses["notes.txt"] == "failed"


def test_dry_run_gives_one_line_per_image_whatever_its_name(photos, tiny_rgb_model, tmp_path):
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("a\nb.jpg", "t\tab.jpg"):
        (odd / name).write_bytes((photos / "gray.jpg").read_bytes())
    result = _run(["enhance", str(odd), "--dry-run", "--model", str(tiny_rgb_model)])
    assert result.exit_code == 0, result.stderr
    assert [line.split("\t") for line in result.stdout.splitlines()] == [
        [f"{odd}/a\\nb.jpg", f"{odd}-restored/a\\nb.jpg", "run"],  # escaped as analyze's table escapes them
        [f"{odd}/t\\tab.jpg", f"{odd}-restored/t\\tab.jpg", "run"]]
    as_json = _run(["enhance", str(odd), "--dry-run", "--json", "--model", str(tiny_rgb_model)])
    assert [Path(r["input"]).name for r in _records(as_json.stdout)] == ["a\nb.jpg", "t\tab.jpg"]  # exact


def test_relative_and_absolute_inputs_mix(photos, tiny_rgb_model, monkeypatch):
    monkeypatch.chdir(photos)  # a bare name goes beside `.` (an absolute folder), a relative path beside its own
    result = _run(["enhance", "gray.jpg", "2019/face.jpg", "--model", str(tiny_rgb_model), "--strength", "1"])
    assert result.exit_code == 0, result.stderr
    assert (photos.parent / "photos-restored" / "gray.jpg").is_file()
    assert (photos / "2019-restored" / "face.jpg").is_file()
    assert (photos.parent / "report.html").is_file()  # the folder both outputs lie under

    monkeypatch.chdir(photos.parent)
    result = _run(["enhance", "photos/cutout.png", str(photos / "deep16.png"), "--model", str(tiny_rgb_model),
                   "--strength", "1"])
    assert result.exit_code == 0, result.stderr
    assert f"report: {photos.parent / 'photos-restored' / 'report.html'}" in result.stderr.splitlines()
    assert (photos.parent / "photos-restored" / "cutout.png").is_file()


def test_a_text_file_does_not_cost_an_image_its_output(photos, tiny_rgb_model):
    (photos / "cutout.gif").write_text("hello")  # sorted before cutout.png; a GIF's output is a PNG
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--json", "--no-report",
                   "--include", "cutout.*", "--strength", "1"])
    assert result.exit_code == 1
    statuses = {Path(r["input"]).name: r["status"] for r in _records(result.stdout)}
    assert statuses == {"cutout.gif": "failed", "cutout.png": "restored"}
    assert (photos.parent / "photos-restored" / "cutout.png").is_file()
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        f"error: {photos / 'cutout.gif'}: not a supported image (JPEG, PNG, WebP, AVIF, TIFF, BMP or GIF)"]


@pytest.fixture
def avif_photo(tmp_path, hopper_path) -> Path:
    """A real photo saved as a lossy AVIF."""
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    path = tmp_path / "phone" / "face.avif"
    path.parent.mkdir()
    with Image.open(hopper_path) as im:
        im.convert("RGB").resize((96, 112)).save(path, quality=40)
    return path


def test_an_avif_photo_is_restored_into_a_png_and_left_as_it_was(avif_photo, tiny_rgb_model, tmp_path):
    before = avif_photo.read_bytes()
    with Image.open(avif_photo) as im:
        decoded = im.convert("RGB")
    folder = avif_photo.parent
    args = [str(folder), "--model", str(tiny_rgb_model)]
    plan = _run(["enhance", *args, "--dry-run"])
    assert plan.exit_code == 0, plan.stderr
    assert plan.stdout.splitlines() == [f"{avif_photo}\t{folder}-restored/face.png\trun"]

    result = _run(["enhance", *args, "--json", "--strength", "1"])
    assert result.exit_code == 0, result.stderr
    (record,) = _records(result.stdout)
    out = folder.parent / "phone-restored" / "face.png"
    assert record["status"] == "restored" and record["output"] == str(out)
    # Restored as its decoded pixels are: the same pixels in a PNG give the same output.
    (tmp_path / "as_png").mkdir()
    decoded.save(tmp_path / "as_png" / "face.png")
    same = _run(["enhance", str(tmp_path / "as_png"), "--model", str(tiny_rgb_model), "--strength", "1"])
    assert same.exit_code == 0, same.stderr
    with Image.open(out) as im, Image.open(tmp_path / "as_png-restored" / "face.png") as expected:
        assert im.format == "PNG" and im.size == (96, 112)
        restored = np.asarray(im.convert("RGB"))
        np.testing.assert_array_equal(restored, np.asarray(expected.convert("RGB")))
    assert np.corrcoef(restored.ravel(), np.asarray(decoded).ravel())[0, 1] > 0.95  # the photo, near identity
    assert avif_photo.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["face.avif"]


@pytest.mark.filterwarnings("ignore:image file could not be identified")  # Pillow's; a run's filter drops it
def test_an_avif_that_pillow_cannot_decode_is_one_error_line(avif_photo, tiny_rgb_model, monkeypatch):
    from PIL import AvifImagePlugin

    monkeypatch.setattr(AvifImagePlugin, "SUPPORTED", False)  # as in a Pillow built without libavif
    result = _run(["enhance", str(avif_photo.parent), "--model", str(tiny_rgb_model), "--no-report"])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        f"error: {avif_photo}: AVIF image: this installation's Pillow cannot decode AVIF (Pillow 11.3 or later "
        "from PyPI can)"]


def test_photos_in_formats_not_read_are_noted_once(photos, tiny_rgb_model):
    (photos / "IMG_1.HEIC").write_bytes(b"not decoded")
    (photos / "2019" / "IMG_2.heic").write_bytes(b"not decoded")
    (photos / "2019" / "DSC_1.NEF").write_bytes(b"not decoded")
    args = ["enhance", str(photos), "--model", str(tiny_rgb_model), "--exclude", "corrupt.jpg", "--strength", "1"]
    note = "note: 3 files in formats facerestore does not read were left alone: 2 .heic, 1 .nef"
    for extra in (["--dry-run"], ["--json", "--no-report"]):
        result = _run(args + extra)
        assert result.exit_code == 0, result.stderr  # not a failure
        assert [line for line in result.stderr.splitlines() if "left alone" in line] == [note]
        assert "IMG_" not in result.stdout and "DSC_" not in result.stdout  # nothing of them on stdout
    records = _records(result.stdout)
    assert len(records) == 5 and {r["status"] for r in records} == {"restored"}  # none failed, none added
    quiet = _run(args + ["--quiet", "--overwrite", "--no-report"])
    assert quiet.exit_code == 0 and "left alone" not in quiet.stderr


def test_a_folder_skipped_on_purpose_is_noted_unless_quiet(photos, tiny_rgb_model):
    os.symlink("..", photos / "2019" / "up")  # a loop: said once, not walked, not a failure
    args = ["enhance", str(photos), "--model", str(tiny_rgb_model), "--exclude", "corrupt.jpg", "--no-report"]
    loud = _run(args)
    assert loud.exit_code == 0, loud.stderr
    assert [line for line in loud.stderr.splitlines() if line.startswith("note")] == [
        f"note: {photos / '2019' / 'up'}: symbolic link to a folder inside the same tree: walked at its real place"]
    quiet = _run(args + ["--quiet", "--overwrite"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_an_empty_folder_is_nothing_to_do_and_opens_no_model(tmp_path, tiny_rgb_model, monkeypatch):
    from facerestore.model_choice import ModelRequest

    def refuse(self):
        raise AssertionError("a model was opened for no images")

    monkeypatch.setattr(ModelRequest, "open", refuse)
    (tmp_path / "empty").mkdir()
    result = _run(["enhance", str(tmp_path / "empty"), "--model", str(tiny_rgb_model), "-o", str(tmp_path / "o")])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.splitlines() == ["no images found in the given inputs"]
    assert not (tmp_path / "o").exists()  # nothing written, not even a report
    assert _run(["enhance", str(tmp_path / "empty"), "--model", str(tiny_rgb_model), "-q"]).stderr == ""
    unknown = _run(["enhance", str(tmp_path / "empty"), "--model", "nosuch"])
    assert unknown.exit_code == 2 and "unknown model 'nosuch'" in unknown.stderr  # still checked


def test_no_note_for_files_that_are_no_photos(photos, tiny_rgb_model):
    for name in ("IMG_1.xmp", "clip.mov", "notes.txt", "dump.raw", "._IMG_1.heic"):
        (photos / name).write_bytes(b"not decoded")
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--dry-run"])
    assert "note:" not in result.stderr and "left alone" not in result.stderr


def test_a_heic_saved_as_jpg_fails_as_heic_and_the_run_goes_on(photos, tiny_rgb_model):
    phone = photos / "IMG_0001.jpg"
    phone.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64))  # a HEIC's first box
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--exclude", "corrupt.jpg",
                   "--strength", "1", "--no-report", "--json"])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        f"error: {phone}: HEIC/HEIF photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)"]
    assert sorted(r["status"] for r in _records(result.stdout)) == ["failed"] + ["restored"] * 5


def test_a_named_file_is_said_as_the_format_its_bytes_hold(photos, tiny_rgb_model):
    jxl = photos / "IMG_1.heic"
    jxl.write_bytes(b"\0\0\0\x0cJXL \r\n\x87\n" + bytes(64))  # a JPEG XL container
    result = _run(["enhance", str(jxl), "--model", str(tiny_rgb_model), "--dry-run"])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith(("error", "note"))] == [
        f"error: {jxl}: JPEG XL photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)"]


def test_a_named_heic_is_one_error_line(photos, tiny_rgb_model):
    heic = photos / "IMG_1.HEIC"
    heic.write_bytes(b"x\n")
    result = _run(["enhance", str(heic), "--model", str(tiny_rgb_model), "--no-report"])
    assert result.exit_code == 1  # as for any input that is no image
    assert [line for line in result.stderr.splitlines() if line.startswith(("error", "note"))] == [
        f"error: {heic}: HEIC/HEIF photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)"]
    assert heic.read_bytes() == b"x\n"


def test_a_folder_at_an_output_path_fails_that_image(photos, tiny_rgb_model, tmp_path):
    out = tmp_path / "out"
    (out / "gray.jpg").mkdir(parents=True)
    args = ["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--include", "gray.jpg"]
    for extra in (["--dry-run"], ["--json", "--no-report"], ["--json", "--no-report", "--overwrite"]):
        result = _run(args + extra)
        assert result.exit_code == 1, extra
        assert f"error: {photos / 'gray.jpg'}: output {out / 'gray.jpg'} is a folder, not an image file" \
            in result.stderr.splitlines()
        assert "skip" not in result.stdout
    assert (out / "gray.jpg").is_dir() and not any((out / "gray.jpg").iterdir())


def test_an_output_folder_holding_a_named_file_is_refused(photos, tiny_rgb_model):
    """`enhance photos/gray.jpg -o photos --format png` put gray.png beside the originals, took an original
    gray.png there for its output (skipped; replaced under --overwrite) and wrote the report into photos/."""
    Image.open(photos / "cutout.png").convert("L").save(photos / "gray.png")  # an original, not an output
    before = _digests(photos)
    for extra in ([], ["--overwrite"], ["--dry-run"]):
        result = _run(["enhance", str(photos / "gray.jpg"), "-o", str(photos), "--format", "png",
                       "--model", str(tiny_rgb_model), *extra])
        assert result.exit_code == 2, (extra, result.stderr)
        assert f"the input {photos / 'gray.jpg'} is inside the output folder {photos}" in result.stderr
        assert result.stdout == ""
    assert _digests(photos) == before and not (photos / "summary.json").exists()


def test_input_folders_inside_the_output_folder_are_refused(photos, tiny_rgb_model):
    """`enhance photos/2019 photos/2020 -o photos --format png` gave each folder its outputs under
    photos/<folder name>/: inside the input folders themselves, beside the originals."""
    before = _digests(photos)
    result = _run(["enhance", str(photos / "2019"), str(photos / "2020"), "-o", str(photos), "--format", "png",
                   "--model", str(tiny_rgb_model), "--strength", "1"])
    assert result.exit_code == 2, result.stderr
    assert f"the input {photos / '2019'} is inside the output folder {photos}" in result.stderr
    assert _digests(photos) == before and not (photos / "_facerestore_report").exists()


@pytest.mark.parametrize("extra", [[], ["--no-report"], ["--dry-run"]])
def test_a_named_file_whose_output_folder_lies_in_an_input_folder_is_refused(photos, tiny_rgb_model, extra):
    """`enhance photos/2019/face.jpg photos` sent the named file to photos/2019-restored/: a folder created inside
    the input folder photos, beside the originals (which a later walk of photos, with --no-report, restored
    again as originals)."""
    before = _digests(photos)
    result = _run(["enhance", str(photos / "2019" / "face.jpg"), str(photos), "--model", str(tiny_rgb_model),
                   "--strength", "1", *extra])
    assert result.exit_code == 2, result.stderr
    assert f"the output folder {photos / '2019-restored'} is inside the input folder {photos}" in result.stderr
    assert result.stdout == ""
    assert _digests(photos) == before and not (photos / "2019-restored").exists()
    assert not (photos.parent / "photos-restored").exists()
    # Beside the folder it lies in, the named file's output folder is that folder's own: nothing refused.
    result = _run(["enhance", str(photos / "gray.jpg"), str(photos), "--model", str(tiny_rgb_model),
                   "--strength", "1", "--no-report"])
    assert result.exit_code == 1, result.stderr  # corrupt.jpg, as ever
    assert (photos.parent / "photos-restored" / "gray.jpg").is_file() and _digests(photos) == before


@pytest.mark.parametrize("name, value, expected", [
    ("FACERESTORE_ENHANCE_JSON", "1", '{"input": '),        # stored as json_lines
    ("FACERESTORE_ENHANCE_FORMAT", "png", "gray.png\trun"),  # stored as fmt
    ("FACERESTORE_ENHANCE_JSON_LINES", "1", '{"input": '),  # the name click derived before still works
])
def test_environment_variables_follow_the_long_option_names(photos, tiny_rgb_model, name, value, expected):
    result = _run(["enhance", str(photos / "gray.jpg"), "--dry-run", "--model", str(tiny_rgb_model)],
                  env={name: value})
    assert result.exit_code == 0, result.stderr
    assert expected in result.stdout


@pytest.mark.parametrize("name, option, value", [
    ("FACERESTORE_ENHANCE_STRENGTH", "--strength", "abc"),
    ("FACERESTORE_ENHANCE_JSON", "--json", "maybe"),
    ("FACERESTORE_ENHANCE_JSON_LINES", "--json", "maybe"),  # the name click derived before
])
def test_a_bad_value_from_the_environment_names_its_variable(photos, tiny_rgb_model, name, option, value):
    before = _digests(photos)
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model)], env={name: value})
    assert result.exit_code == 2 and result.stdout == ""
    assert f"Invalid value for '{option}' (from {name}): " in result.stderr.splitlines()[-1]
    assert _digests(photos) == before and not (photos.parent / "photos-restored").exists()


def test_a_bad_value_on_the_command_line_is_named_as_the_options_though_a_variable_is_set(photos, tiny_rgb_model):
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--strength", "2"],
                  env={"FACERESTORE_ENHANCE_STRENGTH": "abc"})
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("Error: Invalid value for '--strength': ")
    assert "not '2'" in result.stderr


def test_every_option_of_every_command_reads_its_long_name_from_the_environment(monkeypatch):
    group_ctx = cli.make_context("facerestore", ["models"])
    checked = 0
    for command_name in cli.list_commands(group_ctx):
        command = cli.get_command(group_ctx, command_name)
        ctx = click.Context(command, parent=group_ctx, info_name=command_name)
        for param in command.params:
            longs = [opt for opt in param.opts if opt.startswith("--")]
            if not isinstance(param, click.Option) or not longs:
                continue
            variable = f"FACERESTORE_{command_name.upper()}_{longs[0][2:].upper().replace('-', '_')}"
            monkeypatch.setenv(variable, "from-env")
            assert param.resolve_envvar_value(ctx) == "from-env", variable
            monkeypatch.delenv(variable)
            checked += 1
    assert checked > 40  # every command took part


def test_no_named_input_exists_is_a_usage_error(tmp_path, tiny_rgb_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run(["enhance", "photos", "scan.jpg", "--model", str(tiny_rgb_model)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["error: photos: no such file or folder",
                                          "error: scan.jpg: no such file or folder"]
    assert not any(tmp_path.iterdir())


def test_a_missing_input_beside_real_ones_fails_like_an_image(photos, tiny_rgb_model, tmp_path):
    result = _run(["enhance", str(photos / "gray.jpg"), str(tmp_path / "gone.jpg"), "-o", str(tmp_path / "out"),
                   "--model", str(tiny_rgb_model), "--json", "--no-report", "--strength", "1"])
    assert result.exit_code == 1
    assert {Path(r["input"]).name: r["status"] for r in _records(result.stdout)} == {"gray.jpg": "restored",
                                                                                     "gone.jpg": "failed"}
    assert "gone.jpg: no such file or folder" in result.stderr


def test_the_summary_says_where_outputs_and_report_went(photos, tiny_rgb_model):
    (photos / "corrupt.jpg").unlink()
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--include", "gray.jpg"])
    assert result.exit_code == 0, result.stderr
    out = photos.parent / "photos-restored"
    lines = result.stderr.splitlines()
    assert f"outputs: {out}" in lines and f"report: {out / 'report.html'}" in lines
    assert (out / "report.html").is_file() and result.stdout == ""

    no_report = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--include", "gray.jpg", "--no-report"])
    assert f"outputs: {out}" in no_report.stderr.splitlines() and "report:" not in no_report.stderr


def test_quality_help_names_the_default_the_encoder_uses():
    from facerestore.imageio import DEFAULT_QUALITY

    result = _run(["enhance", "--help"])
    assert DEFAULT_QUALITY["JPEG"] == DEFAULT_QUALITY["WEBP"]
    assert f"(default: {DEFAULT_QUALITY['JPEG']})" in " ".join(result.stdout.split())


def test_files_from_stdin_nul_separated(photos, tiny_rgb_model, tmp_path, monkeypatch):
    monkeypatch.chdir(photos)
    listing = b"\0".join([b"2019/face.jpg", b"gray.jpg"]) + b"\0"
    result = _run(["enhance", "--files-from", "-", "-0", "-o", str(tmp_path / "out"), "--model",
                   str(tiny_rgb_model), "--json", "--no-report", "--strength", "1"], input=listing)
    assert result.exit_code == 0, result.stderr
    assert [r["status"] for r in _records(result.stdout)] == ["restored", "restored"]
    assert (tmp_path / "out" / "2019" / "face.jpg").is_file() and (tmp_path / "out" / "gray.jpg").is_file()


def test_fail_fast_stops_taking_files(photos, tiny_rgb_model):
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--json", "--no-report",
                   "--fail-fast", "--include", "c*"])  # corrupt.jpg comes before cutout.png
    assert result.exit_code == 1
    statuses = [r["status"] for r in _records(result.stdout)]
    assert statuses[0] == "failed" and len(statuses) <= 2


def test_cuda_request_on_a_cpu_machine_exits_3(photos, tiny_rgb_model):
    result = _run(["enhance", str(photos), "--model", str(tiny_rgb_model), "--device", "cuda"])
    if result.exit_code == 3:
        assert "CUDA" in result.stderr and result.stdout == ""
        assert not (photos.parent / "photos-restored").exists()
    else:  # a machine with a working GPU
        assert "CUDAExecutionProvider" in result.stderr


@pytest.mark.parametrize("args, words", [
    (["enhance"], "give at least one file"),
    (["enhance", ".", "--model", "nope"], "unknown model"),
    (["enhance", ".", "--tile", "3"], "--tile"),
    (["enhance", ".", "-0"], "--files-from"),
])
def test_usage_errors_exit_2(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.png").write_bytes(b"")
    result = _run(args)
    assert result.exit_code == 2 and words in result.stderr and result.stdout == ""


def test_reports_are_written_when_the_report_package_is_present(photos, tiny_rgb_model, tmp_path):
    pytest.importorskip("facerestore.report.image")
    (photos / "corrupt.jpg").unlink()
    out = tmp_path / "out"
    result = _run(["enhance", str(photos), "-o", str(out), "--model", str(tiny_rgb_model), "--json",
                   "--include", "*face.jpg", "--reference", str(photos)])
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert len(records) == 2 and all(r["metrics"] for r in records)
    assert (out / "_facerestore_report").is_dir()


def test_subprocess_pipeline_run(photos, tiny_gray_model, tmp_path):
    """The real entry point: ``python -m facerestore`` with a gray model on colour photos, JSON on stdout."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "facerestore", "enhance", str(photos), "-o", str(out),
                           "--model", str(tiny_gray_model), "--json", "--no-report", "--threads", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    records = _records(proc.stdout)  # every stdout line is JSON
    assert len(records) == 6 and sum(r["status"] == "failed" for r in records) == 1
    with Image.open(out / "2020" / "trip" / "face.jpg") as im:
        rgb = np.asarray(im, np.float32)
    assert im.mode == "RGB" and np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 5  # colour kept by the gray model
    assert "onnxruntime" not in proc.stderr.lower()


def test_subprocess_device_cuda_exit_code(photos, tiny_rgb_model):
    proc = subprocess.run([sys.executable, "-m", "facerestore", "enhance", str(photos), "--model",
                           str(tiny_rgb_model), "--device", "cuda"], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (3, 1)  # 1 only where CUDA really works (the corrupt file fails)
    if proc.returncode == 3:
        assert proc.stdout == "" and "CUDA" in proc.stderr


def test_ctrl_c_finishes_written_files_and_exits_130(tmp_path, hopper_path):
    """SIGINT mid-run: exit 130, summary printed, no temporary or half-written file left behind."""
    import signal

    from conftest import build_tiny_onnx, start_interruptible

    pytest.importorskip("onnx")
    model = build_tiny_onnx(tmp_path / "slow.onnx", layers=6)
    src = tmp_path / "many"
    src.mkdir()
    with Image.open(hopper_path) as im:
        # Large enough that the run cannot finish all 40 while this process is descheduled after the first one.
        big = im.resize((im.width * 2, im.height * 2))
        for i in range(40):
            big.save(src / f"img{i:02d}.jpg", quality=60)  # damaged enough to be restored as a JPEG again
    out = tmp_path / "out"
    proc = start_interruptible([sys.executable, "-m", "facerestore", "enhance", str(src), "-o", str(out),
                                "--model", str(model), "--json", "--no-report", "--threads", "1"])
    first = proc.stdout.readline()  # one image done: the run is in full swing
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    records = _records(first + rest)
    statuses = sorted(r["status"] for r in records)
    assert 1 <= len(records) < 40 and set(statuses) == {"restored"}, (statuses, err)
    assert "Interrupted" in err
    written = sorted(p.name for p in out.iterdir())
    reported = sorted(Path(r["output"]).name for r in records)
    assert written == reported, (written, reported, err)  # no .tmp, nothing unreported
    for name in written:
        with Image.open(out / name) as im:
            im.load()  # complete files only


def test_the_progress_bar_shows_a_hostile_file_name_as_plain_text():
    """On a terminal the bar shows the current file: its name is neither markup (``[/]`` made rich raise in its
    refresh thread) nor terminal control (an OSC title or a clear-screen would reach the terminal)."""
    import io

    from rich.console import Console

    from facerestore.console import progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=240)
    name = "x[/]y \x1b]0;PWNED\x07\x1b[2J [bold red]z.jpg"
    with progress(console, 2, True) as bar:
        bar.current(name)
        bar.advance(0.1, "1 restored")
    shown = out.getvalue()
    assert "x[/]y" in shown and "[bold red]z.jpg" in shown
    assert "\x1b]0;" not in shown and "\x1b[2J" not in shown and "\\x1b]0;PWNED" in shown


def test_a_link_to_the_output_folder_inside_the_inputs_does_not_stop_a_rerun(tmp_path, hopper_rgb,
                                                                              tiny_rgb_model):
    # photos/restored -> ../photos-restored (a shortcut to the results): the rerun that resumes walked the
    # outputs as inputs and exited 2 ("would overwrite an input file") without restoring anything.
    root = tmp_path / "photos"
    root.mkdir()
    Image.fromarray(hopper_rgb[:96, :96]).save(root / "a.jpg", quality=30)
    Image.fromarray(hopper_rgb[96:192, :96]).save(root / "b.jpg", quality=30)
    os.symlink("../photos-restored", root / "restored")
    args = ["enhance", str(root), "--model", str(tiny_rgb_model), "--json", "--no-report"]
    first = _run(args)
    assert first.exit_code == 0, first.stderr
    assert [r["status"] for r in _records(first.stdout)] == ["restored", "restored"]
    (tmp_path / "photos-restored" / "b.jpg").unlink()  # as if the first run had been cut short
    again = _run(args)
    assert again.exit_code == 0, again.stderr
    assert [(Path(r["input"]).name, r["status"]) for r in _records(again.stdout)] == [
        ("a.jpg", "skipped"), ("b.jpg", "restored")]
    assert "restored: leads into the output folder" not in again.stderr  # a folder: said as such
    assert f"note: {root / 'restored'}: the output folder" in again.stderr
    assert sorted(p.name for p in (tmp_path / "photos-restored").iterdir()) == ["a.jpg", "b.jpg"]


def test_an_unchanged_input_rewritten_while_it_was_restored_is_not_copied(tmp_path, astronaut_path,
                                                                          tiny_rgb_model, monkeypatch):
    # A clean photo is left unchanged: its bytes are copied after it was decoded. A file truncated in between
    # (a sync client still writing it) came out as a truncated "unchanged" output, exit 0, skipped by reruns.
    from facerestore import pipeline

    root = tmp_path / "photos"
    root.mkdir()
    with Image.open(astronaut_path) as im:
        im.convert("RGB").crop((100, 50, 228, 178)).save(root / "clean.png")
    size = (root / "clean.png").stat().st_size
    real_load = pipeline._load

    def load_then_truncate(item, ctx):
        real_load(item, ctx)
        os.truncate(item.job.src, 100)

    monkeypatch.setattr(pipeline, "_load", load_then_truncate)
    result = _run(["enhance", str(root), "--model", str(tiny_rgb_model), "--json", "--no-report"])
    assert result.exit_code == 1
    (record,) = _records(result.stdout)
    assert record["status"] == "failed" and record["output"] is None
    assert f"changed from {size} to 100 bytes since it was read" in record["error"]
    assert f"error: {root / 'clean.png'}: the file changed" in result.stderr
    assert not (tmp_path / "photos-restored" / "clean.png").exists()


def _outcomes(records: list[dict]) -> list[tuple[str, str | None, str]]:
    """(input name, output name, status) of each record, sorted."""
    return sorted(((Path(r["input"]).name, r["output"] and Path(r["output"]).name, r["status"]) for r in records),
                  key=str)


def _summary(out: Path) -> list[tuple[str, str | None, str]]:
    return _outcomes(json.loads((out / "summary.json").read_text())["images"])


def test_switching_format_never_takes_another_inputs_output_for_its_own(tmp_path, hopper_path, astronaut_path,
                                                                      tiny_rgb_model):
    """A run into a folder an earlier run wrote with another --format may map an input to the name of another
    input's output. It was skipped as done, its record naming that output as its own (and the report then showed
    the other input's record for it), and the input it really came from was refused as a duplicate of it."""
    root, out = tmp_path / "photos", tmp_path / "out"
    root.mkdir()
    with Image.open(hopper_path) as im:
        im.convert("RGB").resize((96, 112)).save(root / "a.PNG", format="PNG")  # a PNG with a capital suffix
    with Image.open(astronaut_path) as im:
        im.convert("RGB").resize((80, 80)).save(root / "a.png")
    args = ["enhance", str(root), "-o", str(out), "--model", str(tiny_rgb_model), "--strength", "1", "--json"]
    assert _run(args).exit_code == 0
    written = (out / "a.png").read_bytes()

    # --format png maps both to a.png, which holds what a.png was restored to.
    result = _run([*args, "--format", "png"])
    assert result.exit_code == 1
    assert _outcomes(_records(result.stdout)) == [("a.PNG", None, "failed"), ("a.png", "a.png", "skipped")]
    assert (f"error: {root / 'a.PNG'}: output {out / 'a.png'} is already the output of {root / 'a.png'}, "
            "written by an earlier run") in result.stderr
    assert (out / "a.png").read_bytes() == written
    # a.PNG's latest outcome is the failure, beside the output an earlier run wrote from it, left as it was.
    assert _summary(out) == sorted([("a.PNG", "a.PNG", "failed"), ("a.png", "a.png", "restored")], key=str)
    # The dry run plans the same.
    dry = _run([*args, "--format", "png", "--dry-run"])
    assert [(Path(r["input"]).name, r["status"]) for r in _records(dry.stdout)] == [
        ("a.png", "skipped"), ("a.PNG", "failed")]


def test_a_copy_of_the_input_folder_run_into_the_same_output_skips_what_is_done(tmp_path, hopper_path,
                                                                                tiny_rgb_model):
    """Outputs made from byte-identical files are done: a copied folder run into the same output skips them (the
    ownership check refused every one of them, exit 1), while a changed photo of the same name is still refused."""
    root, out = tmp_path / "photos", tmp_path / "out"
    root.mkdir()
    with Image.open(hopper_path) as im:
        small = im.convert("RGB").resize((96, 112))
    small.save(root / "a.jpg", quality=30)
    small.rotate(90).save(root / "b.jpg", quality=30)
    args = ["-o", str(out), "--model", str(tiny_rgb_model), "--strength", "1", "--json", "--format", "png"]
    assert _run(["enhance", str(root), *args]).exit_code == 0
    copy = tmp_path / "copy" / "photos"
    shutil.copytree(root, copy)
    small.rotate(180).save(copy / "b.jpg", quality=30)  # another photo under b.jpg's name
    result = _run(["enhance", str(copy), *args])
    assert result.exit_code == 1, result.output
    by_input = {Path(r["input"]).name: r["status"] for r in _records(result.stdout)}
    assert by_input == {"a.jpg": "skipped", "b.jpg": "failed"}, by_input
    assert f"is already the output of {root / 'b.jpg'}" in result.stderr


def test_an_input_whose_output_name_holds_another_inputs_output_is_not_skipped(tmp_path, hopper_path, astronaut_path,
                                                                              tiny_rgb_model):
    root, out = tmp_path / "photos", tmp_path / "out"
    root.mkdir()
    with Image.open(hopper_path) as im:
        im.convert("RGB").resize((96, 112)).save(root / "a.jpg", quality=30)
    args = ["enhance", str(root), "-o", str(out), "--model", str(tiny_rgb_model), "--strength", "1", "--json"]
    assert _run([*args, "--format", "png"]).exit_code == 0  # a.jpg -> a.png
    written = (out / "a.png").read_bytes()
    with Image.open(astronaut_path) as im:
        im.convert("RGB").resize((80, 80)).save(root / "a.png")  # a new input, whose output name that is

    # The summary says who wrote a.png; so does the journal of a run killed before it wrote one.
    summary = out / "summary.json"
    for source in ("summary", "journal"):
        if source == "journal":
            records = json.loads(summary.read_text())["images"]
            summary.unlink()
            (out / "_facerestore_report" / "journal-1-dead.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in records if Path(r["input"]).name == "a.jpg"))
        result = _run(args)
        assert result.exit_code == 1, source
        by_input = {Path(r["input"]).name: r for r in _records(result.stdout)}
        assert by_input["a.png"]["status"] == "failed" and by_input["a.png"]["output"] is None, source
        assert (f"error: {root / 'a.png'}: output {out / 'a.png'} is already the output of {root / 'a.jpg'}"
                in result.stderr), source
        assert by_input["a.jpg"]["output"] == str(out / "a.jpg"), source
        assert (out / "a.png").read_bytes() == written
        assert ("a.jpg", "a.png", "restored") in _summary(out), source

    # --overwrite replaces it with a.png's own restoration, and the report says so.
    result = _run([*args, "--overwrite"])
    assert result.exit_code == 0
    assert (out / "a.png").read_bytes() != written
    assert ("a.png", "a.png", "restored") in _summary(out)


@pytest.mark.parametrize("change", ["touched", "rewritten"])
def test_an_unchanged_input_only_touched_meanwhile_is_still_copied(tmp_path, astronaut_path, tiny_rgb_model,
                                                                   monkeypatch, change):
    # Its modification time changed between decoding and copying (`touch`, a sync client setting it again), its
    # bytes did not: the image failed ("the file was rewritten since it was read"). Bytes of the same length
    # rewritten, with the old time set back, are still refused.
    from facerestore import pipeline

    root = tmp_path / "photos"
    root.mkdir()
    with Image.open(astronaut_path) as im:
        im.convert("RGB").crop((100, 50, 228, 178)).save(root / "clean.png")
    original = (root / "clean.png").read_bytes()
    real_load = pipeline._load

    def load_then_change(item, ctx):
        real_load(item, ctx)
        st = os.stat(item.job.src)
        if change == "rewritten":
            with open(item.job.src, "r+b") as fh:  # one byte of the image data, in place: same size
                fh.seek(len(original) // 2)
                fh.write(bytes([original[len(original) // 2] ^ 0xFF]))
            os.utime(item.job.src, ns=(st.st_atime_ns, st.st_mtime_ns))  # within one timestamp tick
        else:
            os.utime(item.job.src, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))

    monkeypatch.setattr(pipeline, "_load", load_then_change)
    result = _run(["enhance", str(root), "--model", str(tiny_rgb_model), "--json"])
    (record,) = _records(result.stdout)
    out = tmp_path / "photos-restored" / "clean.png"
    if change == "touched":
        assert result.exit_code == 0, result.stderr
        assert record["status"] == "unchanged" and record["output"] == str(out)
        assert out.read_bytes() == original
        assert out.stat().st_mtime == pytest.approx((root / "clean.png").stat().st_mtime, abs=1e-3)  # as touched
        before = out.parent / "_facerestore_report" / "clean.png.in.png"  # the report's copy too
        assert before.read_bytes() == original
    else:
        assert result.exit_code == 1
        assert record["status"] == "failed" and "the file was rewritten since it was read" in record["error"]
        assert not out.exists()


def test_a_link_to_another_runs_output_folder_is_not_restored_again(tmp_path, hopper_rgb, tiny_rgb_model):
    # photos2/old -> ../photos-restored (the results of an earlier run, linked for convenience): a run over
    # photos2 restored those outputs again, into photos2-restored/old/.
    first, second = tmp_path / "photos", tmp_path / "photos2"
    first.mkdir()
    second.mkdir()
    Image.fromarray(hopper_rgb[:96, :96]).save(first / "a.jpg", quality=30)
    Image.fromarray(hopper_rgb[96:192, :96]).save(second / "b.jpg", quality=30)
    assert _run(["enhance", str(first), "--model", str(tiny_rgb_model), "--quiet"]).exit_code == 0
    os.symlink("../photos-restored", second / "old")

    result = _run(["enhance", str(second), "--model", str(tiny_rgb_model), "--json"])
    assert result.exit_code == 0, result.stderr
    assert [Path(r["input"]).name for r in _records(result.stdout)] == ["b.jpg"]  # no record for what was left
    notes = [line for line in result.stderr.splitlines() if "old" in line]
    assert notes == [f"note: {second / 'old'}: the output folder of another facerestore run: not restored "
                     "again (name it as an input to restore it)"]
    assert not (tmp_path / "photos2-restored" / "old").exists()

    # Named as an input, it is restored as asked.
    again = _run(["enhance", str(second / "old"), "-o", str(tmp_path / "twice"), "--model", str(tiny_rgb_model),
                  "--json", "--strength", "1"])
    assert again.exit_code == 0, again.stderr
    assert [(Path(r["input"]).name, r["status"]) for r in _records(again.stdout)] == [("a.jpg", "restored")]


def test_the_folder_a_run_over_several_folders_reported_in_is_walked_but_its_outputs_are_not(
        tmp_path, hopper_rgb, tiny_rgb_model):
    # `enhance P/a P/b` writes P/a-restored, P/b-restored and its report in P, beside the inputs: P is no output
    # folder (walking it, or the folder above, restores a and b), but a-restored and b-restored are.
    top = tmp_path / "top"
    for name, rows in (("a", slice(0, 96)), ("b", slice(96, 192))):
        (top / "P" / name).mkdir(parents=True)
        Image.fromarray(hopper_rgb[rows, :96]).save(top / "P" / name / f"{name}.jpg", quality=30)
    assert _run(["enhance", str(top / "P" / "a"), str(top / "P" / "b"), "--model", str(tiny_rgb_model),
                 "--quiet"]).exit_code == 0
    assert (top / "P" / "summary.json").is_file() and (top / "P" / "a-restored" / "a.jpg").is_file()
    for walked in (top / "P", top):
        result = _run(["enhance", str(walked), "-o", str(tmp_path / f"out-{walked.name}"), "--model",
                       str(tiny_rgb_model), "--dry-run", "--json"])
        assert result.exit_code == 0, result.stderr
        assert sorted(Path(r["input"]).relative_to(top / "P").as_posix() for r in _records(result.stdout)) == [
            "a/a.jpg", "b/b.jpg"]
        assert sorted(line.split(": ")[1] for line in result.stderr.splitlines() if line.startswith("note:")) == [
            str(top / "P" / "a-restored"), str(top / "P" / "b-restored")]
