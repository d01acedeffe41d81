"""formats: one table for --format, output suffixes and the encoder; one error for a format it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from facerestore.discovery import plan_jobs
from facerestore.errors import UsageError
from facerestore.formats import FORMAT_CHOICES, output_format
from facerestore.imageio import read_image, write_image


@pytest.fixture()
def photos(tmp_path, hopper_rgb) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(hopper_rgb[:64, :48]).save(folder / "face.png")
    return folder


def test_unknown_format_is_one_usage_error_everywhere(photos, tmp_path):
    loaded = read_image(photos / "face.png")
    messages = []
    for attempt in (lambda: output_format("heic"),
                    lambda: plan_jobs([photos], tmp_path / "out", "heic"),
                    lambda: write_image(tmp_path / "out" / "face.heic", loaded.pixels, loaded, fmt="heic")):
        with pytest.raises(UsageError) as info:
            attempt()
        messages.append(str(info.value))
    assert messages == ["unknown output format 'heic' (choose from png, jpeg, webp, tiff)"] * 3
    assert not (tmp_path / "out").exists()  # nothing written, not even a folder


def test_cli_rejects_an_unknown_format_as_a_usage_error(photos, tmp_path):
    from facerestore.cli import cli

    result = CliRunner().invoke(cli, ["enhance", str(photos), "-o", str(tmp_path / "out"), "--format", "heic"])
    assert result.exit_code == 2 and "heic" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", FORMAT_CHOICES + ("JPG", "tif"))
def test_each_format_name_plans_the_suffix_of_the_file_it_writes(photos, tmp_path, name):
    job = plan_jobs([photos], tmp_path / "out", name).jobs[0]
    loaded = read_image(job.src)
    write_image(job.dst, loaded.pixels, loaded, fmt=name)
    with Image.open(job.dst) as im:
        assert im.format == output_format(name).pillow
    assert job.dst.suffix == output_format(name).suffix
