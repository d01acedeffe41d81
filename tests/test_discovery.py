"""discovery: which files a run finds, which it rejects (and why), and where each output goes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from facerestore.discovery import Found, Job, Rejected, Skipped, iter_inputs, plan_jobs, read_files_from, unread_note
from facerestore.errors import UsageError


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded by discovery")


def _rels(plan) -> list[str]:
    return [job.rel.as_posix() for job in plan.jobs]


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """photos/ with nested same-named files, junk, hidden entries and non-images; cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "photos"
    _touch(root, "b.jpg", "A.PNG", "a/face.jpg", "b/face.jpg", "b/deep/z.TIFF", "c.webp", "d.bmp", "e.tif",
           "f.gif", "g.jpeg", "notes.txt", "raw.cr2", ".hidden.jpg", "._b.jpg", ".DS_Store", "Thumbs.db",
           "desktop.ini", ".git/x.jpg", "@eaDir/b.jpg/SYNOFILE_THUMB.jpg", "__MACOSX/a.jpg",
           "_facerestore_report/thumb.png")
    return root


def test_walk_is_sorted_recursive_and_skips_junk(tree):
    plan = plan_jobs([Path("photos")])
    assert _rels(plan) == ["A.PNG", "a/face.jpg", "b/deep/z.TIFF", "b/face.jpg", "b.jpg", "c.webp", "d.bmp",
                           "e.tif", "f.gif", "g.jpeg"]
    assert plan.rejected == [] and plan.skipped == []
    assert all(isinstance(job, Job) for job in plan.jobs)


def test_no_recursive(tree):
    plan = plan_jobs([Path("photos")], recursive=False)
    assert "a/face.jpg" not in _rels(plan) and "b.jpg" in _rels(plan)


def test_default_output_is_a_sibling_mirroring_the_tree(tree):
    plan = plan_jobs([Path("photos")])
    dst = {job.rel.as_posix(): job.dst for job in plan.jobs}
    assert dst["a/face.jpg"] == Path("photos-restored/a/face.jpg")
    assert dst["b/face.jpg"] == Path("photos-restored/b/face.jpg")  # same names never collide
    assert dst["f.gif"] == Path("photos-restored/f.png")  # no 256-colour palette for restored photos
    for job in plan.jobs:
        assert not os.path.realpath(job.dst).startswith(os.path.realpath("photos") + os.sep)


def test_single_file_input_goes_where_its_folder_would(tree):
    plan = plan_jobs([Path("photos/a/face.jpg")])
    assert plan.jobs == [Job(Path("photos/a/face.jpg"), Path("face.jpg"), Path("photos/a-restored/face.jpg"))]


def test_explicit_files_are_not_filtered(tree):
    plan = plan_jobs([Path("photos/notes.txt"), Path("photos/.hidden.jpg")], exclude=["*.jpg"])
    assert [job.src.name for job in plan.jobs] == ["notes.txt", ".hidden.jpg"]  # content decides later


def test_output_option_and_format(tree, tmp_path):
    plan = plan_jobs([Path("photos")], tmp_path / "out", "png")
    dst = {job.rel.as_posix(): job.dst for job in plan.jobs}
    assert dst["a/face.jpg"] == tmp_path / "out" / "a" / "face.png"
    assert dst["b/deep/z.TIFF"] == tmp_path / "out" / "b" / "deep" / "z.png"
    for fmt, suffix in (("jpeg", ".jpg"), ("webp", ".webp"), ("tiff", ".tif")):
        assert plan_jobs([Path("photos/b.jpg")], Path("o"), fmt).jobs[0].dst == Path("o") / f"b{suffix}"


def test_several_roots_get_their_own_folder_under_output(tree, tmp_path):
    _touch(tmp_path, "more/a/face.jpg")
    plan = plan_jobs([Path("photos"), Path("more"), Path("photos/b.jpg")], Path("out"))
    dst = [job.dst for job in plan.jobs]
    assert Path("out/photos/a/face.jpg") in dst and Path("out/more/a/face.jpg") in dst
    assert Path("out/b.jpg") in dst


def test_two_folders_with_the_same_name_under_one_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path, "x/photos/a.jpg", "y/photos/a.jpg")
    with pytest.raises(UsageError, match="would share"):
        plan_jobs([Path("x/photos"), Path("y/photos")], Path("out"))
    plan = plan_jobs([Path("x/photos"), Path("y/photos")])  # default outputs are per folder: fine
    assert [job.dst for job in plan.jobs] == [Path("x/photos-restored/a.jpg"), Path("y/photos-restored/a.jpg")]


def _image(path: Path) -> None:
    """A real (tiny) image file: what only a collision makes discovery look at."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 100, 50)).save(path)


def test_format_change_collision_rejects_the_second(tree):
    _image(tree / "dup" / "p.jpg")
    _image(tree / "dup" / "p.png")
    plan = plan_jobs([tree / "dup"], None, "png")
    assert [job.src.name for job in plan.jobs] == ["p.jpg"]
    assert len(plan.rejected) == 1 and plan.rejected[0].path.name == "p.png"
    assert "already the output of" in plan.rejected[0].reason


def test_a_file_that_is_no_image_claims_no_output(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.gif").write_text("hello")  # sorted first: it used to take b.png's output
    _image(tmp_path / "in" / "b.png")
    _image(tmp_path / "in" / "c.gif")
    (tmp_path / "in" / "c.png").write_text("hello")  # sorted second: refused for what it is, not a collision
    plan = plan_jobs([tmp_path / "in"])
    assert [(job.src.name, job.dst.name) for job in plan.jobs] == [("b.png", "b.png"), ("c.gif", "c.png")]
    assert [r.path.name for r in plan.rejected] == ["b.gif", "c.png"]
    assert all("not a supported image" in r.reason for r in plan.rejected)


def test_a_damaged_image_claims_no_output_from_a_readable_one(tmp_path):
    _image(tmp_path / "in" / "a.jpg")
    whole = (tmp_path / "in" / "a.jpg").read_bytes()
    (tmp_path / "in" / "a.jpg").write_bytes(whole[:len(whole) // 2])  # a JPEG's magic number, cut short
    _image(tmp_path / "in" / "a.png")
    plan = plan_jobs([tmp_path / "in"], None, "png")
    assert [(job.src.name, job.dst.name) for job in plan.jobs] == [("a.png", "a.png")]
    assert [r.path.name for r in plan.rejected] == ["a.jpg"] and "cannot decode" in plan.rejected[0].reason


def test_the_other_jpeg_suffixes_are_walked(tmp_path):
    _touch(tmp_path, "in/a.jfif", "in/b.JPE", "in/c.jif", "in/d.jfi", "in/e.txt")
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["a.jfif", "b.JPE", "c.jif", "d.jfi"]
    assert plan.jobs[0].dst == tmp_path / "in-restored" / "a.jfif"  # the suffix is kept, as for .jpeg


def test_avif_is_walked_and_its_output_is_a_png(tmp_path):
    _touch(tmp_path, "in/a.avif", "in/b.AVIF", "in/c.avifs")
    plan = plan_jobs([tmp_path / "in"])
    assert [(job.rel.as_posix(), job.dst.name) for job in plan.jobs] == [("a.avif", "a.png"), ("b.AVIF", "b.png")]
    assert [job.dst.name for job in plan_jobs([tmp_path / "in"], None, "jpeg").jobs] == ["a.jpg", "b.jpg"]


def test_photos_in_formats_not_read_are_counted_not_planned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path, "in/a.jpg", "in/IMG_1.HEIC", "in/IMG_2.heic", "in/2019/DSC_1.NEF", "in/2019/DSC_2.nef",
           "in/2019/x.cr3", "in/2019/y.dng", "in/z.jxl",
           # not photos, or not walked: no count
           "in/IMG_1.xmp", "in/clip.mov", "in/notes.txt", "in/dump.raw", "in/._IMG_3.heic", "in/.hidden/IMG_4.heic")
    (tmp_path / "in" / "folder.heic").mkdir()  # a folder, walked like any: not a photo
    os.symlink("missing.heic", tmp_path / "in" / "dangling.heic")
    plan = plan_jobs([Path("in")])
    assert _rels(plan) == ["a.jpg"] and plan.rejected == [] and plan.skipped == []
    assert plan.unread == {".heic": 2, ".nef": 2, ".cr3": 1, ".dng": 1, ".jxl": 1}
    assert unread_note(plan.unread) == ("7 files in formats facerestore does not read were left alone: "
                                        "2 .heic, 2 .nef, 1 .cr3, 1 .dng, 1 .jxl")
    assert unread_note({".nef": 1}) == "1 file in formats facerestore does not read was left alone: 1 .nef"
    assert unread_note({}) is None

    # Counted only where the filters would have picked the file; each file once, however often it is reached.
    excluded = plan_jobs([Path("in")], exclude=["*.nef", "z.*"]).unread  # globs are case-sensitive: DSC_1.NEF stays
    assert excluded == {".heic": 2, ".nef": 1, ".cr3": 1, ".dng": 1}
    assert plan_jobs([Path("in")], include=["*.jpg"]).unread == {}
    assert plan_jobs([Path("in"), Path("in/2019")], tmp_path / "out").unread == plan.unread
    assert plan_jobs([Path("in")], recursive=False).unread == {".heic": 2, ".jxl": 1}
    listed = plan_jobs([], files_from=io.StringIO("in/a.jpg\nin/IMG_1.HEIC\nin/IMG_1.xmp\nin/2019\n"))
    assert _rels(listed) == ["in/a.jpg"] and listed.unread == {".heic": 1, ".nef": 2, ".cr3": 1, ".dng": 1}


def test_a_named_photo_in_a_format_not_read_is_rejected_as_such(tmp_path):
    _touch(tmp_path, "IMG_1.HEIC", "DSC_1.nef")
    Image.new("RGB", (4, 4)).save(tmp_path / "png.heic", format="PNG")  # the content decides: a PNG misnamed
    plan = plan_jobs([tmp_path / "IMG_1.HEIC", tmp_path / "DSC_1.nef", tmp_path / "png.heic"])
    assert [job.src.name for job in plan.jobs] == ["png.heic"] and plan.unread == {}
    assert [(r.path.name, r.reason) for r in plan.rejected] == [
        ("IMG_1.HEIC", "HEIC/HEIF photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)"),
        ("DSC_1.nef", "camera raw photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)")]


def test_a_named_camera_raw_in_a_tiff_container_is_rejected_not_its_preview_restored(tmp_path):
    """NEF, DNG, CR2, ARW, PEF... start as TIFF files do; their first image is a small preview, which Pillow
    decodes: restored, it was written as a TIFF thumbnail under the raw's name."""
    thumbnail = Image.new("RGB", (160, 120), "gray")
    for name in ("DSC_1.NEF", "IMG_2.dng"):
        thumbnail.save(tmp_path / name, format="TIFF", tiffinfo={271: "NIKON CORPORATION"})
    thumbnail.save(tmp_path / "scan.tif", format="TIFF")
    thumbnail.save(tmp_path / "jpeg.nef", format="JPEG")  # the content decides: a JPEG misnamed
    plan = plan_jobs([tmp_path / name for name in ("DSC_1.NEF", "IMG_2.dng", "scan.tif", "jpeg.nef")])
    assert [job.src.name for job in plan.jobs] == ["scan.tif", "jpeg.nef"]
    assert [(r.path.name, r.reason) for r in plan.rejected] == [
        (name, "camera raw photo: a format facerestore does not read (convert it to JPEG, PNG or TIFF first)")
        for name in ("DSC_1.NEF", "IMG_2.dng")]


def test_a_folder_at_an_output_path_is_rejected_not_skipped(tmp_path):
    _touch(tmp_path, "in/a.jpg", "in/b.jpg")
    (tmp_path / "out" / "a.jpg").mkdir(parents=True)
    plan = plan_jobs([tmp_path / "in"], tmp_path / "out")
    assert _rels(plan) == ["b.jpg"]
    assert plan.rejected == [Rejected(tmp_path / "in" / "a.jpg",
                                      f"output {tmp_path / 'out' / 'a.jpg'} is a folder, not an image file")]


def test_output_inside_input_is_a_usage_error(tree):
    with pytest.raises(UsageError, match="inside the input folder"):
        plan_jobs([Path("photos")], Path("photos/out"))
    with pytest.raises(UsageError, match="inside the input folder"):
        plan_jobs([Path("photos")], Path("photos"))
    with pytest.raises(UsageError):  # the default sibling of photos/a lies inside photos
        plan_jobs([Path("photos"), Path("photos/a")])
    os.symlink(Path("photos").resolve(), "alias")
    with pytest.raises(UsageError):  # through a symbolic link too
        plan_jobs([Path("photos")], Path("alias/out"))


def test_output_may_not_overwrite_an_input(tree):
    (tree.parent / "out").mkdir()
    (tree.parent / "out" / "b.jpg").symlink_to(tree / "b.jpg")  # the output's name leads to the input itself
    with pytest.raises(UsageError, match="overwrite an input"):
        plan_jobs([Path("photos/b.jpg")], Path("out"))


@pytest.mark.parametrize("inputs, output", [
    (["photos/b.jpg"], "photos"), (["photos/b.jpg"], "."), (["photos/b.jpg"], "photos/a/.."),
    (["photos/a", "photos/b"], "photos"),  # each folder's outputs went into the folder itself: photos/a/...
    (["photos/a"], "photos"), (["photos/b/deep"], "."),
])
@pytest.mark.parametrize("fmt", [None, "png"])
def test_an_input_inside_the_output_folder_is_a_usage_error(tree, inputs, output, fmt):
    """Its outputs would lie among the originals (an original at an output's name skipped as that output, and
    replaced under --overwrite) and the report would mark the originals' folder as an output folder."""
    with pytest.raises(UsageError, match="inside the output folder"):
        plan_jobs([Path(p) for p in inputs], Path(output), fmt)
    plan = plan_jobs([Path("photos/b.jpg")], Path("photos/restored"), fmt)  # a folder beside the originals is fine
    assert [job.dst for job in plan.jobs] == [Path(f"photos/restored/b.{fmt or 'jpg'}")]


@pytest.mark.parametrize("inputs", [["photos/scans"], ["photos/scans", "photos/b.jpg"], ["photos/scans", "other"]])
def test_a_link_to_a_folder_named_inside_the_output_folder_is_refused(tree, inputs):
    """photos/scans -> ../scans with -o photos: the link lies in the output folder, as a named file there does, and
    with several inputs each folder's outputs went to photos/scans/, through the link, beside its originals."""
    _touch(tree.parent, "scans/s.jpg", "other/o.jpg")
    (tree / "scans").symlink_to(tree.parent / "scans")
    with pytest.raises(UsageError, match=f"the input {inputs[0]} is inside the output folder photos"):
        plan_jobs([Path(p) for p in inputs], Path("photos"), "png")


def test_include_and_exclude(tree):
    assert _rels(plan_jobs([Path("photos")], include=["*.jpg"])) == ["a/face.jpg", "b/face.jpg", "b.jpg"]
    assert _rels(plan_jobs([Path("photos")], include=["b/*"])) == ["b/deep/z.TIFF", "b/face.jpg"]
    excluded = _rels(plan_jobs([Path("photos")], exclude=["b", "*.gif"]))
    assert "b/face.jpg" not in excluded and "b/deep/z.TIFF" not in excluded and "f.gif" not in excluded
    assert "b.jpg" in excluded and "a/face.jpg" in excluded


def test_folder_named_like_an_image_is_walked(tmp_path):
    _touch(tmp_path, "in/photo.jpg/inner.png")
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["photo.jpg/inner.png"] and plan.rejected == []


def test_special_files_are_rejected_not_opened(tmp_path):
    _touch(tmp_path, "in/ok.jpg")
    os.mkfifo(tmp_path / "in" / "pipe.jpg")
    os.mkfifo(tmp_path / "in" / "other-pipe")  # no image suffix: not ours to mention
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["ok.jpg"]
    assert plan.rejected == [Rejected(tmp_path / "in" / "pipe.jpg", "not a regular file (FIFO)")]
    direct = plan_jobs([tmp_path / "in" / "pipe.jpg"])
    assert direct.jobs == [] and "FIFO" in direct.rejected[0].reason


def test_symlinks_followed_loops_walked_once_dangling_reported(tmp_path):
    root = tmp_path / "in"
    _touch(root, "sub/a.jpg")
    _touch(tmp_path, "elsewhere/out.jpg", "linked_dir/l.png")
    os.symlink(root, root / "sub" / "loop")                      # a loop back to the top
    os.symlink(tmp_path / "elsewhere" / "out.jpg", root / "link.jpg")   # a file link out of the tree
    os.symlink(tmp_path / "linked_dir", root / "dir_link")
    os.symlink(tmp_path / "missing.jpg", root / "dangling.jpg")
    os.symlink(tmp_path / "missing.txt", root / "dangling.txt")
    plan = plan_jobs([root])
    assert _rels(plan) == ["dir_link/l.png", "link.jpg", "sub/a.jpg"]
    assert plan.jobs[1].src == root / "link.jpg"  # the name as found, not the target
    assert [r.path.name for r in plan.rejected] == ["dangling.jpg"]
    assert "broken symbolic link" in plan.rejected[0].reason
    assert [s.path for s in plan.skipped] == [root / "sub" / "loop"] and isinstance(plan.skipped[0], Skipped)


def test_mutual_symlink_loop(tmp_path):
    _touch(tmp_path, "in/x/a.jpg", "in/y/b.jpg")
    os.symlink("../y", tmp_path / "in" / "x" / "to_y")
    os.symlink("../x", tmp_path / "in" / "y" / "to_x")
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["x/a.jpg", "y/b.jpg"]  # each folder once, under its real name
    assert [s.path.name for s in plan.skipped] == ["to_y", "to_x"]


def test_links_that_loop_on_themselves_are_skipped_or_named(tmp_path):
    _touch(tmp_path, "in/a.jpg")
    os.symlink("x", tmp_path / "in" / "y")  # no image suffix: neither image nor folder, so not our business
    os.symlink("y", tmp_path / "in" / "x")  # (stat-ing these raised ELOOP out of the walk)
    os.symlink("loop2.jpg", tmp_path / "in" / "loop1.jpg")
    os.symlink("loop1.jpg", tmp_path / "in" / "loop2.jpg")
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["a.jpg"]
    assert [(r.path.name, r.reason) for r in plan.rejected] == [("loop1.jpg", "symbolic link loop"),
                                                                ("loop2.jpg", "symbolic link loop")]


def test_link_out_of_the_tree_looping_back_is_walked_once(tmp_path):
    _touch(tmp_path, "in/a.jpg", "outside/o.jpg")
    os.symlink(tmp_path / "outside", tmp_path / "in" / "ext")
    os.symlink(tmp_path / "in", tmp_path / "outside" / "back")
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["a.jpg", "ext/o.jpg"]
    assert [s.path for s in plan.skipped] == [tmp_path / "in" / "ext" / "back"]


def test_missing_and_unreadable_inputs(tmp_path):
    plan = plan_jobs([tmp_path / "nope.jpg", tmp_path / "nope_dir"])
    assert [r.reason for r in plan.rejected] == ["no such file or folder"] * 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_folder_is_reported(tmp_path):
    _touch(tmp_path, "in/locked/a.jpg", "in/ok.jpg")
    (tmp_path / "in" / "locked").chmod(0)
    try:
        plan = plan_jobs([tmp_path / "in"])
    finally:
        (tmp_path / "in" / "locked").chmod(0o755)
    assert _rels(plan) == ["ok.jpg"] and "cannot read folder" in plan.rejected[0].reason


def test_files_from_newlines_mirrors_relative_paths(tree):
    listing = io.StringIO("photos/a/face.jpg\r\n./photos/b/face.jpg\n\nphotos/notes.txt\nphotos/.hidden.jpg\n")
    plan = plan_jobs([], files_from=listing)
    assert _rels(plan) == ["photos/a/face.jpg", "photos/b/face.jpg"]  # list entries are filtered like a walk
    cwd = Path.cwd()
    assert plan.jobs[0].dst == cwd.with_name(cwd.name + "-restored") / "photos" / "a" / "face.jpg"
    with_output = plan_jobs([], Path("out"), files_from=io.StringIO("photos/b/face.jpg\n"))
    assert with_output.jobs[0].dst == Path("out/photos/b/face.jpg")


def test_files_from_inside_a_folder_input_is_not_refused_for_the_current_folders_outputs(tree, monkeypatch):
    """Run from inside photos/a with photos as an input and a list: photos/a-restored would lie inside photos, but
    no listed file need go there, so the run is planned (it was refused as an output inside an input)."""
    _touch(tree.parent, "other/o.jpg")
    monkeypatch.chdir(tree / "a")
    plan = plan_jobs([tree], files_from=io.StringIO(str(tree.parent / "other" / "o.jpg") + "\n"))
    assert "b/face.jpg" in _rels(plan) and not plan.rejected
    assert tree.parent / "other-restored" / "o.jpg" in [job.dst for job in plan.jobs]


@pytest.mark.parametrize("named", ["photos/b/face.jpg", "listed", "listed-here"])
def test_a_named_files_output_folder_inside_an_input_folder_is_a_usage_error(tree, monkeypatch, named):
    """A named or listed file goes to its folder's sibling (photos/b/face.jpg -> photos/b-restored/face.jpg):
    with photos an input too, that folder lay inside it, among the originals, and was made there."""
    if named == "photos/b/face.jpg":
        inputs, files_from = [Path("photos"), Path(named)], None
    elif named == "listed":  # listed by a path outside the current folder: beside its own folder
        monkeypatch.chdir(tree / "a")
        inputs, files_from = [tree], io.StringIO(str(tree / "b" / "face.jpg") + "\n")
    else:  # listed from the current folder, photos/b: to photos/b-restored
        monkeypatch.chdir(tree / "b")
        inputs, files_from = [tree], io.StringIO("face.jpg\n")
    with pytest.raises(UsageError, match=r"the output folder \S*b-restored is inside the input folder"):
        plan_jobs(inputs, files_from=files_from)


def test_files_from_nul_separated_with_non_utf8_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir(b"in")
    odd_names = [b"caf\xe9.jpg", b"new\nline.jpg", b"$(touch X).png", b"-dash.jpg"]
    for name in odd_names:
        with open(b"in/" + name, "wb") as fh:
            fh.write(b"x")
    listing = io.BytesIO(b"\0".join(b"in/" + name for name in odd_names) + b"\0")
    plan = plan_jobs([], Path("out"), files_from=listing, null_separated=True)
    assert [os.fsencode(job.src) for job in plan.jobs] == [b"in/" + name for name in odd_names]
    assert all(os.path.exists(job.src) for job in plan.jobs)
    assert os.fsencode(plan.jobs[0].dst) == b"out/in/caf\xe9.jpg"
    assert not os.path.exists("X")


def test_files_from_skips_outputs_of_earlier_runs(tree):
    _touch(Path.cwd(), "out/photos/b.jpg")
    plan = plan_jobs([], Path("out"), files_from=io.StringIO("photos/b.jpg\nout/photos/b.jpg\n"))
    assert [job.src for job in plan.jobs] == [Path("photos/b.jpg")]
    assert [(s.path, s.reason.split(" ")[0]) for s in plan.skipped] == [(Path("out"), "1")]  # said, once


def test_files_from_with_the_output_folder_around_every_entry_says_so(tree):
    plan = plan_jobs([], Path("."), files_from=io.StringIO("photos/b.jpg\nphotos/A.PNG\n"))
    assert plan.jobs == [] and len(plan.skipped) == 1
    assert plan.skipped[0].reason.startswith("2 listed file(s) inside this output folder left out")


def test_files_from_folder_entries_and_missing_entries(tree):
    plan = plan_jobs([], Path("out"), files_from=io.StringIO("photos/b\nphotos/gone.jpg\n"))
    assert _rels(plan) == ["photos/b/deep/z.TIFF", "photos/b/face.jpg"]
    assert [r.path for r in plan.rejected] == [Path("photos/gone.jpg")]


def test_read_files_from_text_and_binary():
    assert read_files_from(io.StringIO("a.jpg\nb c.jpg\n")) == [Path("a.jpg"), Path("b c.jpg")]
    assert read_files_from(io.BytesIO(b"a\nb.jpg\0c.jpg"), null_separated=True) == [Path("a\nb.jpg"),
                                                                                     Path("c.jpg")]


def test_iter_inputs_yields_found_and_rejected(tree):
    items = list(iter_inputs([Path("photos/a"), Path("photos/missing.png")]))
    assert isinstance(items[0], Found)
    assert (items[0].path, items[0].root, items[0].rel) == (Path("photos/a/face.jpg"), Path("photos/a"),
                                                            Path("face.jpg"))
    assert items[0].inode == (os.stat(items[0].path).st_dev, os.stat(items[0].path).st_ino)
    assert isinstance(items[1], Rejected)


def test_same_input_twice_is_planned_once(tree):
    assert len(plan_jobs([Path("photos"), Path("photos/")]).jobs) == 10
    assert len(plan_jobs([Path("photos/b.jpg"), Path("photos/b.jpg")]).jobs) == 1


def test_unknown_format_is_a_usage_error(tree):
    with pytest.raises(UsageError, match="unknown output format"):
        plan_jobs([Path("photos")], None, "heic")


def test_folder_that_cannot_be_listed_is_reported_not_raised(tmp_path, monkeypatch):
    # Runs as root too: listing fails the way it does for a folder without read permission.
    _touch(tmp_path, "in/locked/a.jpg", "in/ok.jpg")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["ok.jpg"]
    assert plan.rejected == [Rejected(tmp_path / "in" / "locked", "cannot read folder: Permission denied")]


def test_a_link_to_the_output_folder_is_never_walked(tmp_path):
    # photos/outdir -> ../photos-restored: once the first run made the folder, a rerun walked the outputs as
    # inputs and refused to run at all ("would overwrite an input file"); with -o it restored them again.
    root = tmp_path / "photos"
    _touch(root, "a.jpg", "sub/b.jpg")
    _touch(tmp_path, "out/a.jpg")
    os.symlink("../photos-restored", root / "outdir")
    os.symlink("../photos-restored", root / "out.jpg")     # named like an image, dangling until the first run
    os.symlink("../out/a.jpg", root / "again.jpg")        # a file link into the -o folder
    for made in (False, True):
        if made:
            _touch(tmp_path, "photos-restored/a.jpg", "photos-restored/sub/b.jpg")
        plan = plan_jobs([root])
        assert _rels(plan) == ["a.jpg", "again.jpg", "sub/b.jpg"] and plan.rejected == []
        assert [s.path.name for s in plan.skipped] == (["out.jpg", "outdir"] if made else ["out.jpg"])
        assert all("output folder" in s.reason for s in plan.skipped)
    plan = plan_jobs([root], tmp_path / "out")
    assert _rels(plan) == ["a.jpg", "out.jpg/a.jpg", "out.jpg/sub/b.jpg", "sub/b.jpg"]  # not this run's output
    assert [(s.path.name, "output folder" in s.reason) for s in plan.skipped] == [
        ("again.jpg", True), ("outdir", False)]  # outdir: the same folder as out.jpg, walked once


def test_a_link_to_a_folder_holding_the_tree_is_a_loop_not_walked(tmp_path):
    # `up -> ..` or `root -> /` walked everything above the input folder (the whole disk for `/`).
    _touch(tmp_path, "top/photos/a.jpg", "top/other/o.jpg")
    root = tmp_path / "top" / "photos"
    os.symlink("..", root / "up")
    os.symlink("/", root / "root")
    os.symlink(tmp_path / "top" / "other", root / "side")   # a sibling, not an ancestor: walked as before
    plan = plan_jobs([root])
    assert _rels(plan) == ["a.jpg", "side/o.jpg"] and plan.rejected == []
    assert [s.path.name for s in plan.skipped] == ["root", "up"]
    assert all(s.reason.startswith("symbolic link loop") for s in plan.skipped)


def test_a_folder_past_the_path_length_limit_is_named_not_dropped(tmp_path):
    # A tree deeper than PATH_MAX (4096 bytes): its folders cannot be stat-ed by path; the walk left them out
    # without a word and exited 0.
    _touch(tmp_path, "in/top.jpg")
    fd = os.open(tmp_path / "in", os.O_RDONLY)
    length = len(os.fsencode(str(tmp_path / "in")))
    try:
        while length < 4200:
            os.mkdir("d" * 200, dir_fd=fd)
            deeper = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
            length += 201
        os.close(os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    plan = plan_jobs([tmp_path / "in"])
    assert _rels(plan) == ["top.jpg"]
    assert len(plan.rejected) == 1 and "path too long" in plan.rejected[0].reason
    assert len(os.fsencode(str(plan.rejected[0].path))) > 4096 - 200


def test_an_input_rejected_twice_is_named_once(tmp_path):
    _touch(tmp_path, "in/ok.jpg")
    os.mkfifo(tmp_path / "in" / "pipe.jpg")
    plan = plan_jobs([tmp_path / "in" / "pipe.jpg", tmp_path / "in", tmp_path / "nope.jpg", tmp_path / "nope.jpg"])
    assert _rels(plan) == ["ok.jpg"]
    assert [r.path.name for r in plan.rejected] == ["pipe.jpg", "nope.jpg"]


def _run_output(folder: Path, *rels: str, marker: str = "lock") -> Path:
    """A folder as a facerestore run leaves it: outputs, and its summary.json, the summary lock in its report
    folder (kept on purpose), or a killed first run's journal there."""
    _touch(folder, *rels)
    if marker == "summary":
        (folder / "summary.json").write_text('{\n "facerestore_summary": 1,\n "images": []\n}\n')
    else:
        _touch(folder / "_facerestore_report", ".summary.lock" if marker == "lock" else "journal-1-dead.jsonl")
    return folder


def test_the_marks_of_a_run_output_are_the_ones_the_report_writes():
    from facerestore import discovery
    from facerestore.report import journal, run

    assert run.summary_lock_path(Path("out")).name == discovery.SUMMARY_LOCK
    assert journal.Journal(Path("out")).path.name.startswith(discovery.JOURNAL_PREFIX)
    # The mark is read from the summary's first bytes: its key must come first.
    assert json.dumps(run.summary_payload([], {})).startswith('{"' + discovery.SUMMARY_KEY + '"')


@pytest.mark.parametrize("marker", ["lock", "journal", "summary"])
def test_another_runs_output_folder_is_not_walked_unless_named(tmp_path, marker):
    # A link inside the inputs to the outputs of an earlier run (photos/old -> ../photos-restored), or those
    # outputs kept inside the folder walked: each restored the outputs again, into the new output tree.
    _touch(tmp_path, "photos/a.jpg", "photos/keep/summary.json", "photos/keep/k.jpg")  # its own summary.json: walked
    done = _run_output(tmp_path / "photos-restored", "a.jpg", "sub/s.jpg", marker=marker)
    _run_output(tmp_path / "photos" / "kept-restored", "x.jpg", marker=marker)
    root = tmp_path / "photos"
    os.symlink("../photos-restored", root / "old")
    os.symlink("../photos-restored/sub", root / "part")  # a folder inside that output folder
    os.symlink("../photos-restored/a.jpg", root / "one.jpg")  # a file in it
    plan = plan_jobs([root], tmp_path / "out")
    assert _rels(plan) == ["a.jpg", "keep/k.jpg"] and plan.rejected == []
    assert [s.path.name for s in plan.skipped] == ["kept-restored", "old", "one.jpg", "part"]
    assert all("output folder of another facerestore run" in s.reason for s in plan.skipped)
    assert str(done) in next(s.reason for s in plan.skipped if s.path.name == "part")  # which run's, by a link

    # Named as an input (or a folder inside it), it is walked, links inside it too.
    assert _rels(plan_jobs([root / "old"], tmp_path / "again")) == ["a.jpg", "sub/s.jpg"]
    os.symlink("../sub", done / "sub" / "up")  # a loop: skipped as such
    os.symlink(str(tmp_path / "photos-restored" / "a.jpg"), done / "sub" / "link.jpg")
    plan = plan_jobs([done / "sub"], tmp_path / "again2")
    assert _rels(plan) == ["link.jpg", "s.jpg"]


def test_listed_files_inside_another_runs_output_folder_are_left_out(tmp_path, monkeypatch):
    # `find . -name '*.jpg' | facerestore enhance --files-from -` writes what `facerestore enhance .` would.
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path, "photos/a.jpg")
    _run_output(tmp_path / "photos-restored", "a.jpg", "b.jpg")
    listed = "photos/a.jpg\nphotos-restored/a.jpg\nphotos-restored/b.jpg\n"
    plan = plan_jobs([], tmp_path / "out", files_from=io.StringIO(listed))
    assert [job.src for job in plan.jobs] == [Path("photos/a.jpg")]
    assert [s.path.name for s in plan.skipped] == ["photos-restored"]  # said once
    assert plan.skipped[0].reason.startswith("the output folder of another facerestore run: 2 listed file(s)")
    assert _rels(plan_jobs([tmp_path], tmp_path.parent / "walked")) == ["photos/a.jpg"]  # the same as a walk

    monkeypatch.chdir(tmp_path / "photos-restored")  # listed from inside it: named as the input
    plan = plan_jobs([], tmp_path / "out2", files_from=io.StringIO("a.jpg\nb.jpg\n"))
    assert _rels(plan) == ["a.jpg", "b.jpg"] and plan.skipped == []


def test_readme_lists_the_suffixes_a_walk_picks_and_those_it_notes():
    """README's lists of suffixes are read by users deciding what to convert: they must be the walk's own."""
    import re

    from facerestore.discovery import IMAGE_SUFFIXES
    from facerestore.unread_formats import UNREAD_PHOTO_FORMATS

    text = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8").split())
    picked = re.search(r"A walk picks files by their suffix \(`([^`]+)`", text)
    assert picked and set(picked.group(1).split()) == set(IMAGE_SUFFIXES)
    noted = re.search(r"Photos in formats facerestore does not read are left alone, but not in silence: (.+?) that a "
                      r"walk or list would otherwise have picked", text)
    assert noted and set(re.findall(r"\.[0-9a-z]+", " ".join(re.findall(r"`([^`]+)`", noted.group(1))))) \
        == set(UNREAD_PHOTO_FORMATS)
