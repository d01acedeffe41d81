"""Short real training runs on crops of real photos: loss falls, checkpoints round-trip, resume, seeds, errors."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

from conftest import crop_folder, interrupt_after_first_epoch  # noqa: E402
from export import archs, checkpoint  # noqa: E402
from export.data import DataError, eval_pairs, split_faces  # noqa: E402
from export.train import TrainConfig, evaluate, train, write_curves  # noqa: E402

CROP = 48
N_IMAGES = 26  # the split holds out 20 test + VAL validation photos; the rest train
VAL = 2


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory, hopper_rgb, astronaut_path) -> Path:
    """A folder of small, distinct crops of two real photos, standing in for the face crops."""
    from PIL import Image

    with Image.open(astronaut_path) as im:
        astronaut = np.asarray(im.convert("RGB")).copy()
    return crop_folder(tmp_path_factory.mktemp("faces"), [hopper_rgb, astronaut], CROP, N_IMAGES, (60, 40), (70, 90))


def _config(faces_dir: Path, out: Path, **overrides) -> TrainConfig:
    # Training on noise: a tiny net learns to denoise within a few dozen steps, which moves the fixed
    # validation set (jpeg10, jpeg20, paper) clearly; the seed makes the run exactly repeatable.
    cfg = TrainConfig(arch="basic", data=str(faces_dir), out=str(out), chain="noise:12", epochs=2,
                      steps_per_epoch=10, batch=8, patch=24, lr=5e-4, lr_min=5e-5, seed=1, threads=1, max_val=VAL)
    return replace(cfg, **overrides)


def _weights(run: Path, name: str = "last") -> dict[str, torch.Tensor]:
    return load_file(str(run / f"{name}.safetensors"))


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_short_training_run_lowers_the_loss(faces_dir, tmp_path):
    cfg = _config(faces_dir, tmp_path / "run", epochs=3)
    # The identity-initialised starting point, built exactly as train() builds it.
    torch.manual_seed(cfg.seed)
    start = archs.build("basic")
    archs.identity_init(start)
    val = eval_pairs(split_faces(faces_dir, n_val=VAL).val)
    before = evaluate(start, val, torch.device("cpu"), gray=False)

    last = train(cfg, progress=False)
    assert last["val_loss"] < before["val_loss"]
    assert last["val_psnr"] > before["val_psnr"] + 0.2

    run = tmp_path / "run"
    with (run / "curves.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_psnr"} <= set(rows[0])
    # Batches are made in the training loop here (no worker processes), so every epoch waits for them.
    for r in rows:
        assert 0 < float(r["data_wait_seconds"]) < float(r["seconds"])
    meta = checkpoint.load_meta(run / "last")
    assert meta["step"] == 30 and meta["epoch"] == 3 and meta["params"] == 40_451
    assert set(json.loads((run / "split.json").read_text())) == {"train", "val", "test"}
    assert (run / "best.safetensors").is_file()


def test_curves_of_a_resumed_run_keep_a_column_its_older_epochs_lack(tmp_path):
    # A run resumed from a checkpoint written before a column existed: its old rows lack it.
    history = [{"epoch": 1, "val_psnr": 30.0}, {"epoch": 2, "val_psnr": 30.5, "data_wait_seconds": 4.0}]
    write_curves(tmp_path, history)
    with (tmp_path / "curves.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["epoch"], r["val_psnr"], r["data_wait_seconds"]) for r in rows] == [("1", "30.0", ""), ("2", "30.5", "4.0")]


def test_a_rate_floor_above_the_rate_is_refused_before_training(faces_dir, tmp_path):
    from export.train import ConfigError

    # --lr below the default --lr-min (2e-5): the schedule would rise to twice the rate asked for.
    with pytest.raises(ConfigError, match="--lr-min 2e-05 is above --lr 1e-05"):
        train(_config(faces_dir, tmp_path / "run", lr=1e-5, lr_min=2e-5), progress=False)
    assert not (tmp_path / "run").exists()
    train(_config(faces_dir, tmp_path / "run", epochs=1, lr=1e-5, lr_min=1e-5), progress=False)


def test_checkpoint_round_trip_restores_model_and_optimizer(tmp_path, hopper_rgb):
    torch.manual_seed(0)
    model = archs.build("big")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(hopper_rgb[:32, :32].astype(np.float32) / 255).permute(2, 0, 1)[None]
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), x).backward()
        opt.step()
    checkpoint.save(tmp_path / "ck", {"model": model}, {"model": opt}, {"step": 2, "note": "hello"})

    model2 = archs.build("big")
    opt2 = torch.optim.Adam(model2.parameters(), lr=5.0)
    meta = checkpoint.load(tmp_path / "ck", {"model": model2}, {"model": opt2})
    assert meta["step"] == 2 and meta["note"] == "hello"
    _assert_same(model.state_dict(), model2.state_dict())
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 1e-3
    for pid in s1["state"]:
        for k, v in s1["state"][pid].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(s2["state"][pid][k])), (pid, k)
    # One more identical step from both: the restored optimizer really carries the moments.
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        torch.nn.functional.mse_loss(m(x), x).backward()
        o.step()
    _assert_same(model.state_dict(), model2.state_dict())


def test_resume_continues_an_interrupted_run_exactly(faces_dir, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    train(_config(faces_dir, whole), progress=False)

    cut = tmp_path / "cut"
    interrupt_after_first_epoch(_config(faces_dir, cut), monkeypatch)
    assert checkpoint.load_meta(cut / "last")["step"] == 10

    train(_config(faces_dir, cut), resume=True, progress=False)
    meta = checkpoint.load_meta(cut / "last")
    assert (meta["epoch"], meta["step"]) == (2, 20)
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    _assert_same(_weights(cut), _weights(whole))


def test_seeded_runs_repeat(faces_dir, tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        train(_config(faces_dir, tmp_path / name, seed=seed, epochs=1), progress=False)
    _assert_same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    a, c = _weights(tmp_path / "a"), _weights(tmp_path / "c")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_gan_trains_generator_and_discriminator(faces_dir, tmp_path):
    train(_config(faces_dir, tmp_path / "gan", arch="gan", epochs=1, steps_per_epoch=3), progress=False)
    weights = _weights(tmp_path / "gan")
    gen = archs.build("gan")
    disc = archs.build("disc")
    checkpoint.load(tmp_path / "gan" / "last", {"model": gen, "disc": disc})
    assert gen.convs()[0].in_channels == 1 and archs.count_params(disc) == 38_145
    assert any(k.startswith("optim.disc.") for k in weights)


def test_empty_data_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        train(_config(tmp_path / "empty", tmp_path / "out"), progress=False)


def test_unreadable_images_are_a_clear_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(N_IMAGES):
        (bad / f"{i:03d}.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match="cannot read image"):
        train(_config(bad, tmp_path / "out"), progress=False)


def test_cli_reports_a_data_error_with_exit_2(tmp_path, capsys):
    from export.__main__ import main

    (tmp_path / "empty").mkdir()
    code = main(["train", "--arch", "basic", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "no images found" in err
    assert not (tmp_path / "o").exists()  # bad data leaves no empty run folder behind


def test_checkpoint_progress_travels_with_the_weights(tmp_path):
    """A run killed between writing the weights and the JSON copy must not pair new weights with old progress."""
    model = archs.build("basic")
    opt = torch.optim.Adam(model.parameters())
    checkpoint.save(tmp_path / "ck", {"model": model}, {"model": opt}, {"step": 1})
    stale = (tmp_path / "ck.json").read_text()
    with torch.no_grad():
        model.convs()[0].bias.add_(1.0)
    checkpoint.save(tmp_path / "ck", {"model": model}, {"model": opt}, {"step": 2})
    (tmp_path / "ck.json").write_text(stale)  # as if killed right after the weights were replaced

    restored = archs.build("basic")
    meta = checkpoint.load(tmp_path / "ck", {"model": restored})
    assert meta["step"] == 2
    _assert_same(model.state_dict(), restored.state_dict())


def test_trains_on_the_pairs_a_degrade_run_wrote(faces_dir, tmp_path):
    """`facerestore degrade` output (hq/ + lq/) is training data as it is: aligned pairs, whole-image eval."""
    from click.testing import CliRunner

    from export.data import is_pairs_folder, pair_eval_pairs, split_pairs
    from facerestore.commands.degrade import degrade

    pairs = tmp_path / "pairs"
    result = CliRunner().invoke(degrade, [str(faces_dir), "-o", str(pairs), "--chain", "noise:12", "--seed", "3"])
    assert result.exit_code == 0, result.stderr
    assert is_pairs_folder(pairs)
    split = split_pairs(pairs, n_val=VAL)
    assert not set(split.train) & set(split.val + split.test) and len(split.train) >= N_IMAGES // 2

    torch.manual_seed(1)
    start = archs.build("basic")
    archs.identity_init(start)
    val = pair_eval_pairs(split.val)
    assert all(p.degradation == "pairs" and p.lq.shape == p.hq.shape for p in val)
    before = evaluate(start, val, torch.device("cpu"), gray=False)

    last = train(_config(pairs, tmp_path / "run", epochs=3), progress=False)
    assert last["val_psnr"] > before["val_psnr"] + 0.2


def test_worker_processes_draw_exactly_the_in_loop_batches(faces_dir, tmp_path):
    from export.data import BatchStream, PatchSampler, load_rgb
    from facerestore.degrade import parse_chain

    images = [load_rgb(p) for p in sorted(faces_dir.glob("*.png"))[:6]]
    sampler = PatchSampler(images, 24, chain=parse_chain("jpeg:20"))
    with BatchStream(sampler, 4, seed=7) as inline, BatchStream(sampler, 4, seed=7, workers=2) as pooled:
        a, b = list(inline.steps(3, 9)), list(pooled.steps(3, 9))
    assert len(a) == len(b) == 6
    for (lq_a, hq_a), (lq_b, hq_b) in zip(a, b):
        assert np.array_equal(lq_a, lq_b) and np.array_equal(hq_a, hq_b)
    assert not np.array_equal(a[0][1], a[1][1])  # steps differ from each other
    # ... and a training run with workers ends on the same weights as one without.
    train(_config(faces_dir, tmp_path / "inline", epochs=1), progress=False)
    train(_config(faces_dir, tmp_path / "pooled", epochs=1, workers=2), progress=False)
    _assert_same(_weights(tmp_path / "inline"), _weights(tmp_path / "pooled"))


def test_init_starts_from_a_checkpoints_weights(faces_dir, tmp_path):
    train(_config(faces_dir, tmp_path / "first", epochs=1), progress=False)
    cfg = _config(faces_dir, tmp_path / "second", epochs=1, lr=0.0, lr_min=0.0, init=str(tmp_path / "first" / "last"))
    train(cfg, progress=False)
    first, second = _weights(tmp_path / "first"), _weights(tmp_path / "second")
    assert all(torch.equal(first[k], second[k]) for k in first if k.startswith("model."))
    assert checkpoint.load_meta(tmp_path / "second" / "last")["step"] == 10  # a fresh schedule


def test_a_minutes_budget_sets_the_epoch_count_and_resume_keeps_it(faces_dir, tmp_path, monkeypatch):
    import export.train as train_mod

    from types import SimpleNamespace

    clock = iter(range(0, 10_000, 30))  # each reading of the training clock is 30 s on: the first epoch "takes" 30 s
    monkeypatch.setattr(train_mod, "time", SimpleNamespace(time=lambda: next(clock)))
    run = tmp_path / "budget"
    train(_config(faces_dir, run, epochs=99, minutes=1.5), progress=False)
    meta = checkpoint.load_meta(run / "last")
    assert meta["config"]["epochs"] == 3 and meta["epoch"] == 3
    train(_config(faces_dir, run, epochs=99, minutes=1.5), resume=True, progress=False)
    assert checkpoint.load_meta(run / "last")["epoch"] == 3


def test_histogram_term_is_the_wasserstein_distance_and_trains(faces_dir, tmp_path):
    from export.train import sorted_l1

    x = torch.rand(2, 3, 8, 8)
    shuffled = x.flatten(2)[..., torch.randperm(64)].reshape(2, 3, 8, 8)
    assert float(sorted_l1(shuffled, x)) < 1e-7  # same values elsewhere: no distance, whatever MSE says
    assert abs(float(sorted_l1(x + 0.1, x)) - 0.1) < 1e-6  # a shift by d moves every value by d
    run = tmp_path / "hist"
    train(_config(faces_dir, run, epochs=2, hist_weight=0.05, keep_epochs=True), progress=False)
    meta = checkpoint.load_meta(run / "last")
    assert meta["history"][-1]["train_loss"] < meta["history"][0]["train_loss"] * 1.5
    assert {"val_w", "val_input_w"} <= set(meta["history"][0])
    assert sorted(p.name for p in (run / "epochs").glob("*.safetensors")) == ["001.safetensors", "002.safetensors"]


def test_ema_update_moves_the_average_a_fraction_towards_the_weights():
    from export.train import ema_update

    torch.manual_seed(0)
    average, model = archs.build("basic"), archs.build("basic")
    before = {k: v.clone() for k, v in average.state_dict().items()}
    ema_update(average, model, 0.75)
    for k, v in average.state_dict().items():
        torch.testing.assert_close(v, 0.75 * before[k] + 0.25 * model.state_dict()[k])


def test_an_ema_run_scores_checkpoints_and_exports_the_average(faces_dir, tmp_path, monkeypatch):
    from export.onnx_export import load_model

    run = tmp_path / "ema"
    train(_config(faces_dir, run, ema=0.9), progress=False)
    weights = _weights(run)
    shipped = {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}
    trained = {k[len("raw."):]: v for k, v in weights.items() if k.startswith("raw.")}
    assert shipped.keys() == trained.keys()
    assert any(not torch.equal(shipped[k], trained[k]) for k in shipped)  # the average lags the trained weights

    # The history scores the average (the weights export takes), not the trained weights.
    model, _ = load_model(run / "last")
    _assert_same(model.state_dict(), shipped)
    val = eval_pairs(split_faces(faces_dir, n_val=VAL).val)
    logged = checkpoint.load_meta(run / "last")["history"][-1]["val_psnr"]
    assert evaluate(model, val, torch.device("cpu"), gray=False)["val_psnr"] == pytest.approx(logged, abs=1e-9)
    raw = archs.build("basic")
    raw.load_state_dict(trained)
    assert evaluate(raw, val, torch.device("cpu"), gray=False)["val_psnr"] != pytest.approx(logged, abs=1e-6)

    # A run cut after its first epoch and resumed ends on the same average and trained weights.
    cut = tmp_path / "cut"
    interrupt_after_first_epoch(_config(faces_dir, cut, ema=0.9), monkeypatch)
    train(_config(faces_dir, cut, ema=0.9), resume=True, progress=False)
    _assert_same(_weights(cut), weights)


def test_impossible_options_are_one_line_errors_with_exit_2(faces_dir, tmp_path, capsys):
    from export.__main__ import main

    for flag, value in (("--ema", "1"), ("--ema", "-0.5"), ("--arch", "huge")):
        code = main(["train", "--data", str(faces_dir), "--out", str(tmp_path / "o"), flag, value, "--no-progress"])
        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and flag in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before anything was read or written


def test_cli_boolean_flags_are_switches(tmp_path):
    from export.__main__ import main

    with pytest.raises(SystemExit):  # "--keep-epochs False" is not a way to say no: the flag takes no value
        main(["train", "--data", str(tmp_path), "--keep-epochs", "False"])


def test_pack_keeps_the_split_and_the_pixels_and_leaves_the_test_faces_behind(faces_dir, tmp_path):
    from PIL import Image

    from export.data import load_rgb
    from export.pack import pack

    split = split_faces(faces_dir, n_val=VAL)
    out = pack(faces_dir, tmp_path / "packed", n_val=VAL)
    packed = split_faces(out / "faces", n_val=VAL)
    for part in ("train", "val", "test"):
        assert [p.stem for p in getattr(packed, part)] == [p.stem for p in getattr(split, part)], part
    for original, copy in zip(split.train + split.val, packed.train + packed.val):
        assert np.array_equal(load_rgb(original), load_rgb(copy))  # lossless
    for copy in packed.test:
        with Image.open(copy) as im:
            assert im.size == (1, 1)  # the test faces never travel


def _cli(faces_dir: Path, out: Path, *extra: str) -> list[str]:
    """A tiny ``python -m export train`` command line (one epoch of two steps)."""
    return ["train", "--arch", "basic", "--data", str(faces_dir), "--out", str(out), "--chain", "noise:12",
            "--epochs", "1", "--steps-per-epoch", "2", "--batch", "2", "--patch", "24", "--threads", "1",
            "--max-val", str(VAL), "--no-progress", *extra]


def _one_line_error(capsys, *words: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--epochs", "-1"), ("--steps-per-epoch", "0"),
                                         ("--batch", "0"), ("--patch", "0"), ("--patch", "-5"),
                                         ("--lr", "nan"), ("--lr-min", "-0.1"), ("--max-val", "0"),
                                         ("--workers", "-1"), ("--chain", "bogus:3")])
def test_impossible_numbers_and_chains_are_refused_before_anything_is_written(faces_dir, tmp_path, capsys, flag,
                                                                               value):
    from export.__main__ import main

    # Before: --epochs 0 "succeeded" having trained nothing, the others died in a traceback after reading the data.
    assert main([*_cli(faces_dir, tmp_path / "o"), flag, value]) == 2
    _one_line_error(capsys, flag)
    assert not (tmp_path / "o").exists()


def test_a_run_folder_is_never_trained_over_and_resume_needs_the_same_run(faces_dir, tmp_path, capsys):
    from export.__main__ import main

    run = tmp_path / "run"
    assert main(_cli(faces_dir, run)) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".safetensors", ".json")}
    capsys.readouterr()
    # Without --resume the run's checkpoints were silently replaced by a fresh run's.
    assert main(_cli(faces_dir, run)) == 2
    _one_line_error(capsys, str(run), "--resume")
    for extra, words in ((("--arch", "big"), ("--arch basic", "--arch big")),  # a traceback from load_state_dict
                         (("--ema", "0.9"), ("--ema",))):  # likewise: no "raw" weights to resume
        assert main([*_cli(faces_dir, run), "--resume", *extra]) == 2
        _one_line_error(capsys, "--resume", *words)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".safetensors", ".json")} == before

    # --resume of a run that is not there started a fresh one without a word.
    assert main([*_cli(faces_dir, tmp_path / "typo"), "--resume"]) == 2
    _one_line_error(capsys, "--resume", "typo")
    assert not (tmp_path / "typo").exists()
    # A run record whose weights were not kept (runs/MANIFEST.md): a traceback from safetensors.
    (run / "last.safetensors").unlink()
    assert main([*_cli(faces_dir, run), "--resume"]) == 2
    _one_line_error(capsys, "last.safetensors", "run record")


def test_resume_refuses_other_data_than_the_run_was_started_with(faces_dir, tmp_path, capsys, monkeypatch):
    from export.__main__ import main

    run = tmp_path / "run"
    assert main(_cli(faces_dir, run)) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".safetensors", ".json")}
    other = shutil.copytree(faces_dir, tmp_path / "other")  # the same photos, but another folder of them
    capsys.readouterr()
    # Each was accepted without a word: the run went on training on other photos, patches or damage.
    for flag, value, was in (("--data", str(other), str(faces_dir)), ("--patch", "16", "24"), ("--batch", "4", "2"),
                             ("--chain", "jpeg:20", "noise:12"), ("--max-val", "3", str(VAL)),
                             ("--extra", str(other), "no --extra")):
        assert main([*_cli(faces_dir, run), "--resume", flag, value]) == 2, flag
        _one_line_error(capsys, "--resume", flag, value, was)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".safetensors", ".json")} == before

    # The same folder spelled another way, from another working folder, is the same data; and what does not change
    # the data (a longer run, more threads) may change.
    monkeypatch.chdir(faces_dir.parent)
    assert main([*_cli(faces_dir, run), "--data", f"./{faces_dir.name}/", "--resume", "--epochs", "2",
                 "--threads", "2"]) == 0
    assert checkpoint.load_meta(run / "last")["epoch"] == 2


def test_resume_refuses_options_that_change_what_the_run_optimises(faces_dir, tmp_path, capsys):
    from export.__main__ import main

    run = tmp_path / "run"
    assert main([*_cli(faces_dir, run), "--ema", "0.9"]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".safetensors", ".json")}
    capsys.readouterr()
    # Each was accepted without a word: the run's weights, optimiser state and schedule went on under another
    # loss, rate, seed, epoch length, average or arithmetic.
    for now, was in ((("--lr", "0.001"), "--lr 0.0005"), (("--lr-min", "1e-05"), "--lr-min 2e-05"),
                     (("--loss", "l1"), "--loss mse"), (("--seed", "3"), "--seed 0"),
                     (("--hist-weight", "0.5"), "--hist-weight 0,"), (("--ema", "0.5"), "--ema 0.9"),
                     (("--steps-per-epoch", "3"), "--steps-per-epoch 2"),
                     (("--content-weight", "10"), "--content-weight 1000"), (("--fp32",), "no --fp32")):
        assert main([*_cli(faces_dir, run), "--ema", "0.9", "--resume", *now]) == 2, now
        _one_line_error(capsys, "--resume", f"with {was}", f"not {' '.join(now)}")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".safetensors", ".json")} == before

    # A longer run, more threads and every epoch kept change nothing the run optimises: the run goes on.
    assert main([*_cli(faces_dir, run), "--ema", "0.9", "--resume", "--epochs", "2", "--threads", "2",
                 "--keep-epochs"]) == 0
    assert checkpoint.load_meta(run / "last")["epoch"] == 2 and (run / "epochs" / "002.safetensors").exists()


def test_init_from_what_is_not_a_checkpoint_of_this_model_is_a_one_line_error(faces_dir, tmp_path, capsys,
                                                                              tiny_rgb_model):
    from export.__main__ import main

    first = tmp_path / "first"
    train(_config(faces_dir, first, epochs=1, steps_per_epoch=2), progress=False)
    (tmp_path / "noise.safetensors").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "record.json").write_text('{"note": "not a checkpoint"}')
    for init, words in ((tmp_path / "missing", ("missing.safetensors",)), (tmp_path / "noise", ("noise",)),
                        (tmp_path / "record.json", ("record.json",)), (tiny_rgb_model, (tiny_rgb_model.stem,)),
                        (first / "last", ("--arch basic", "--arch big"))):
        arch = "big" if init == first / "last" else "basic"
        assert main([*_cli(faces_dir, tmp_path / "o"), "--arch", arch, "--init", str(init)]) == 2, init
        _one_line_error(capsys, "--init", *words)
        assert not (tmp_path / "o").exists()


def test_ctrl_c_exits_130_leaving_a_checkpoint_that_resumes(faces_dir, tmp_path, capsys, monkeypatch):
    import export.train as train_mod
    from export.__main__ import main

    real_write_curves = train_mod.write_curves

    def interrupt(out, history):  # Ctrl-C right after the first epoch's checkpoint
        real_write_curves(out, history)
        raise KeyboardInterrupt

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(train_mod, "write_curves", interrupt)
        try:
            assert main([*_cli(faces_dir, run), "--epochs", "2"]) == 130
        except KeyboardInterrupt:  # what it did: a traceback (and it would stop pytest itself)
            pytest.fail("the Ctrl-C escaped main()")
    err = capsys.readouterr().err
    assert "Traceback" not in err and "last.safetensors" in err and "--resume" in err
    assert main([*_cli(faces_dir, run), "--epochs", "2", "--resume"]) == 0
    assert checkpoint.load_meta(run / "last")["epoch"] == 2
