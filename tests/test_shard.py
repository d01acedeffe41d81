"""``--shard I/N``: shards are disjoint, cover the run, ignore the walk's order, and work end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from facerestore.cli import cli
from facerestore.discovery import Job, Plan, Rejected, Skipped
from facerestore.errors import UsageError
from facerestore.sharding import Shard, parse_shard, shard_of, shard_plan

_names = st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
                          min_size=1, max_size=12).filter(lambda part: part not in (".", "..")),
                 min_size=1, max_size=3)


def _plan(rels: list[str]) -> Plan:
    jobs = [Job(Path("in") / rel, Path(rel), Path("out") / rel) for rel in rels]
    return Plan(jobs=jobs, rejected=[Rejected(Path(f"gone{i}.jpg"), "no such file or folder") for i in range(20)],
                skipped=[Skipped(Path("in/loop"), "symbolic link loop")], unread={".heic": 3, ".nef": 1})


@settings(max_examples=60, deadline=None)
@given(rels=st.lists(_names.map(lambda parts: "/".join(parts)), unique=True, max_size=60),
       count=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_shards_are_disjoint_cover_everything_and_ignore_order(rels, count, seed):
    plan = _plan(rels)
    parts = [shard_plan(plan, Shard(i, count)) for i in range(1, count + 1)]
    jobs = [job for part in parts for job in part.jobs]
    assert sorted(map(str, jobs)) == sorted(map(str, plan.jobs))  # every job exactly once
    assert len(set(jobs)) == len(jobs)
    rejected = [r for part in parts for r in part.rejected]
    assert sorted(map(str, rejected)) == sorted(map(str, plan.rejected))
    assert [p.skipped for p in parts] == [plan.skipped] + [[]] * (count - 1)
    assert [p.unread for p in parts] == [plan.unread] + [{}] * (count - 1)  # the one note: said by shard 1
    for part in parts:  # each shard keeps the plan's order
        assert part.jobs == [job for job in plan.jobs if job in part.jobs]

    shuffled = list(plan.jobs)
    random.Random(seed).shuffle(shuffled)
    reordered = Plan(jobs=shuffled, rejected=plan.rejected)
    for i, part in enumerate(parts, start=1):
        assert set(shard_plan(reordered, Shard(i, count)).jobs) == set(part.jobs)


def test_assignment_depends_on_the_relative_path_only():
    rel = PurePosixPath("2019/summer/face 01.jpg")
    assert shard_of(rel, 7) == shard_of("2019/summer/face 01.jpg", 7) == shard_of("2019\\summer\\face 01.jpg", 7)
    a = Job(Path("/mnt/a/photos/2019/summer/face 01.jpg"), Path(rel), Path("/x/2019/summer/face 01.jpg"))
    b = Job(Path("/data/photos/2019/summer/face 01.jpg"), Path(rel), Path("/y/2019/summer/face 01.jpg"))
    plan_a, plan_b = Plan(jobs=[a]), Plan(jobs=[b])
    for i in range(1, 8):
        assert bool(shard_plan(plan_a, Shard(i, 7)).jobs) == bool(shard_plan(plan_b, Shard(i, 7)).jobs)


def test_shards_are_balanced_on_a_realistic_tree():
    rels = [f"{year}/{month:02d}/IMG_{n:04d}.jpg" for year in range(2000, 2010) for month in range(1, 13)
            for n in range(25)]
    sizes = [len(shard_plan(_plan(rels), Shard(i, 8)).jobs) for i in range(1, 9)]
    assert sum(sizes) == len(rels) == 3000
    assert min(sizes) > 0.85 * len(rels) / 8 and max(sizes) < 1.15 * len(rels) / 8


@pytest.mark.parametrize("text, expected", [("1/1", Shard(1, 1)), ("3/8", Shard(3, 8)), (" 8 / 8 ", Shard(8, 8))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected
    assert str(parse_shard(text)) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize("text, hint", [("0/4", "counted from 1"), ("5/4", "does not exist"), ("1/0", "does not exist"),
                                        ("2", "I/N"), ("a/b", "I/N"), ("-1/4", "I/N"), ("", "I/N")])
def test_parse_shard_rejects_nonsense(text, hint):
    with pytest.raises(UsageError, match=hint):
        parse_shard(text)


@pytest.fixture
def tree(tmp_path, hopper_path, astronaut_path) -> Path:
    root = tmp_path / "photos"
    sources = []
    for path in (hopper_path, astronaut_path):
        with Image.open(path) as im:
            sources.append(im.convert("RGB").resize((48, 48)))
    for i in range(12):
        folder = root / f"roll{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        sources[i % 2].rotate(i * 7).save(folder / f"frame{i:02d}.png")
    return root


def test_cli_shards_split_a_tree_into_disjoint_runs(tree, tiny_rgb_model):
    runner = CliRunner()
    base = ["enhance", str(tree), "--model", str(tiny_rgb_model), "--json", "--no-report"]
    seen: list[str] = []
    for i in (1, 2, 3):
        result = runner.invoke(cli, [*base, "--shard", f"{i}/3"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert {r["status"] for r in records} <= {"restored", "unchanged"}
        seen += [Path(r["input"]).relative_to(tree).as_posix() for r in records]
    every = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.png"))
    assert sorted(seen) == every and len(set(seen)) == len(seen)
    out = tree.parent / "photos-restored"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == every

    again = runner.invoke(cli, [*base, "--shard", "2/3"], catch_exceptions=False)  # a rerun resumes: all skipped
    assert again.exit_code == 0
    assert {json.loads(line)["status"] for line in again.stdout.splitlines()} == {"skipped"}


def test_shards_run_at_once_into_one_folder_all_reach_the_report(tree, tiny_rgb_model, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "restored"
    runs = [subprocess.Popen([sys.executable, "-m", "facerestore", "enhance", str(tree), "-o", str(out), "--model",
                              str(tiny_rgb_model), "--shard", f"{i}/3", "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in (1, 2, 3)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    summary = json.loads((out / "summary.json").read_text())
    every = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.png"))
    assert sorted(Path(r["input"]).relative_to(tree).as_posix() for r in summary["images"]) == every
    assert summary["counts"]["restored"] + summary["counts"]["unchanged"] == len(every)


def test_cli_rejects_a_bad_shard(tree, tiny_rgb_model):
    result = CliRunner().invoke(cli, ["enhance", str(tree), "--model", str(tiny_rgb_model), "--shard", "4/3"])
    assert result.exit_code == 2
    assert "4/3" in result.stderr and result.stdout == ""
