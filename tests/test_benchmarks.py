"""The benchmark harness's own inputs: what it times must be the work it claims to time."""

from __future__ import annotations

import json

from click.testing import CliRunner

from benchmarks.endtoend import build_jpeg_folder
from facerestore.cli import cli


def test_end_to_end_jpegs_are_restored_not_copied(tmp_path):
    """The end-to-end folder's JPEGs must be restored by a default ``enhance`` (auto strength, JPEG kept as JPEG).

    At quality 90 every one was left unchanged (a good JPEG saved again as a JPEG: its bytes copied), so
    ``python -m benchmarks.run`` stopped with "enhance restored 0 of N images".
    """
    made = build_jpeg_folder(tmp_path / "in", 2, 96)
    result = CliRunner().invoke(cli, ["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                                      "basic", "--device", "cpu", "--json", "--quiet", "--no-report"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(records) == len(made)
    assert [r["status"] for r in records] == ["restored"] * len(made), [r["damage"] for r in records]
