"""Training: config -> device -> data -> model -> loop -> checkpoint, top to bottom.

One "epoch" is a fixed number of random patch batches (the data are degraded on the fly, so there is
no natural epoch); after each, the model is evaluated whole on the validation faces and checkpointed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import time
from time import perf_counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facerestore.degrade import parse_chain
from facerestore.errors import DegradationSpecError
from facerestore.metrics import channel_histograms, mean_wasserstein, psnr

from . import archs, checkpoint, qat
from .data import (CONDITIONED_EVAL_DEGRADATIONS, EVAL_DEGRADATIONS, BatchStream, EvalPair, PairPatchSampler,
                   PatchSampler, eval_pairs, is_pairs_folder, list_images, load_pair, load_rgb, pair_eval_pairs,
                   split_faces, split_pairs, to_gray, to_nchw)

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    arch: str = "big"
    data: str = "../shared/data/faces"
    extra: list[str] = field(default_factory=list)  # extra HQ folders for training only (natural photos)
    out: str = "runs/big"
    chain: str = "random"  # "random" = blind mixture, else a fixed chain or preset
    epochs: int = 40
    steps_per_epoch: int = 200
    batch: int = 16
    patch: int = 64
    lr: float = 5e-4
    lr_min: float = 2e-5
    seed: int = 0
    threads: int = 0  # 0 = torch default
    content_weight: float = 1000.0  # GAN only: generator loss = BCE(adv) + content_weight * MSE
    max_val: int = 20
    workers: int = 0  # processes that cut and degrade batches ahead of the model (0 = in the training loop)
    init: str = ""  # start from this checkpoint's weights (a fresh optimiser and schedule), e.g. runs/big/best
    minutes: float = 0.0  # > 0: set the epoch count after the first epoch so the run lasts about this long
    hist_weight: float = 0.0  # > 0: add this x the 1-D Wasserstein distance of each patch's channel values
    keep_epochs: bool = False  # also keep every epoch's checkpoint in OUT/epochs/ (for selection rules beyond PSNR)
    # On CUDA, float32 (TF32 convs) instead of bfloat16 autocast: a bf16 output is rounded to about one grey
    # level, the very scale the histogram term measures.
    fp32: bool = False
    # > 0: also keep an exponential moving average of the weights (this decay per step). Validation, best,
    # the kept epochs and export then use the average: late in a run single steps jitter the validation PSNR
    # by a few hundredths of a dB, and the average sits nearer the centre of that jitter.
    ema: float = 0.0
    # "mse" (the report's loss) or "l1"; l1 is the usual choice for restoration networks trained on PSNR.
    loss: str = "mse"
    # Damage-conditioned models: a further share of patches banded only (the intensity collapse alone), on top of
    # the mixture's own, for a model that restores banding less well than the rest.
    banding_only: float = 0.0
    # Damage-conditioned models: a further share of patches served as lossy WebP (degrade.random_damage), which the
    # mixture has none of.
    webp_share: float = 0.0
    # Damage-conditioned models: a share of patches made grayscale before their damage (1-channel JPEGs) and served in
    # three equal channels, as the runtime feeds a colour model a black-and-white scan; the others stay colour.
    gray_share: float = 0.0
    # Damage-conditioned models: train with the int8 build's rounding in the forward pass (export.qat), so that
    # build keeps the accuracy; validation then scores the rounded model too.
    qat: bool = False


def _load_init(path: Path, arch: str, modules: dict[str, torch.nn.Module]) -> None:
    """Start from a checkpoint's weights: the same architecture as is, or a shallower DARN deepened into ours."""
    try:
        init_arch = checkpoint.arch_of(checkpoint.load_meta(path))
        if init_arch == arch:
            checkpoint.load(path, modules)
            return
        if init_arch not in archs.TRAINABLE:
            raise ConfigError(f"names no known architecture ({init_arch!r})")
        if not (archs.is_conditioned(init_arch) and archs.is_conditioned(arch)):
            raise ConfigError(f"a checkpoint of --arch {init_arch}, which --arch {arch} cannot start from")
        shallow = archs.build(init_arch)
        checkpoint.load(path, {"model": shallow})
        archs.deepen(shallow, modules["model"])
    except checkpoint.CheckpointError as exc:  # its message names the file
        raise ConfigError(f"--init: {exc}") from None
    except ValueError as exc:  # the refusals above, or deepen's
        raise ConfigError(f"--init {path}: {exc}") from None


class ConfigError(ValueError):
    """The training options ask for something impossible (the CLI says so and exits 2)."""


def _check(cfg: TrainConfig) -> None:
    if cfg.arch not in archs.TRAINABLE:
        raise ConfigError(f"--arch must be one of {', '.join(archs.TRAINABLE)}, got {cfg.arch!r}")
    for flag, value in (("--epochs", cfg.epochs), ("--steps-per-epoch", cfg.steps_per_epoch), ("--batch", cfg.batch),
                        ("--patch", cfg.patch), ("--max-val", cfg.max_val)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    # A negative rate climbs the loss (Adam refuses one only at the start, not from the schedule).
    for flag, amount in (("--lr", cfg.lr), ("--lr-min", cfg.lr_min), ("--threads", cfg.threads),
                         ("--workers", cfg.workers), ("--minutes", cfg.minutes), ("--hist-weight", cfg.hist_weight),
                         ("--content-weight", cfg.content_weight)):
        if not amount >= 0:  # NaN too
            raise ConfigError(f"{flag} must be 0 or more, got {amount:g}")
    if cfg.chain != "random":
        try:
            parse_chain(cfg.chain)
        except DegradationSpecError as exc:  # before the photos are read, not after
            raise ConfigError(f"--chain: {exc}") from None
    if cfg.loss not in ("mse", "l1"):
        raise ConfigError(f"--loss must be mse or l1, got {cfg.loss!r}")
    if archs.is_conditioned(cfg.arch) and (cfg.chain != "random" or is_pairs_folder(Path(cfg.data))):
        raise ConfigError(f"--arch {cfg.arch} is told each patch's damage level, so it trains on clean photos "
                          "degraded on the fly by the random mixture (--chain random, no pairs folder)")
    for flag, share in (("--banding-only", cfg.banding_only), ("--webp-share", cfg.webp_share),
                        ("--gray-share", cfg.gray_share)):
        if not 0.0 <= share < 1.0:  # --gray-share 1 would leave a colour model no colour patches
            raise ConfigError(f"{flag} must be a share in [0, 1), got {share:g}")
        if share and not archs.is_conditioned(cfg.arch):
            raise ConfigError(f"{flag} changes the damage mixture, which --arch {cfg.arch} does not train on")
    # --gray-share is not in this sum: gray patches are damaged by the same mixture, banded-only and WebP included.
    if cfg.banding_only + cfg.webp_share >= 1.0:
        raise ConfigError(f"--banding-only and --webp-share take {cfg.banding_only + cfg.webp_share:g} of the "
                          "patches together, leaving the mixture none")
    if cfg.qat and not archs.is_conditioned(cfg.arch):
        raise ConfigError(f"--qat simulates the int8 build of a DARN's inner convs; --arch {cfg.arch} has none")
    if cfg.qat and not cfg.init:
        # A fresh DARN's zero convs give zero ranges, whose rounding passes no gradient: nothing would train.
        raise ConfigError("--qat fine-tunes trained weights for their int8 build: give them with --init")
    if cfg.lr_min > cfg.lr:  # the cosine "decay" would climb to lr_min
        raise ConfigError(f"--lr-min {cfg.lr_min:g} is above --lr {cfg.lr:g}: the rate decays from --lr to "
                          "--lr-min, so give a --lr-min at most --lr")
    if not 0.0 <= cfg.ema < 1.0:
        raise ConfigError(f"--ema must be a decay in [0, 1), got {cfg.ema:g}")
    multiple = archs.DARN_SIZES[cfg.arch].multiple if archs.is_conditioned(cfg.arch) else 1
    if cfg.patch % multiple:
        raise ConfigError(f"--arch {cfg.arch} folds pixels into channels: --patch must be a multiple "
                          f"of {multiple}, got {cfg.patch}")


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _lr_at(cfg: TrainConfig, step: int) -> float:
    """Cosine decay from lr to lr_min over the planned run, after a short warm-up."""
    total = cfg.epochs * cfg.steps_per_epoch
    warm = min(200, total // 20)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def ema_update(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, parameter by parameter (buffers copied)."""
    for a, p in zip(average.parameters(), model.parameters()):
        a.lerp_(p, 1.0 - decay)
    for a, b in zip(average.buffers(), model.buffers()):
        a.copy_(b)


@torch.no_grad()
def run_model(model: torch.nn.Module, lq: np.ndarray, device: torch.device, level: float | None = None) -> np.ndarray:
    """Restore one uint8 image (HxWx3, or HxW for a gray model) whole; returns uint8 of the same shape.

    A damage-conditioned model is given ``level``; its input is edge-padded to the multiple it needs first."""
    x = torch.from_numpy(to_nchw(lq))[None].to(device)
    if isinstance(model, archs.Darn):
        h, w = x.shape[2:]
        multiple = model.spec.multiple
        x = F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")
        y = model(x, torch.tensor([[level]], dtype=torch.float32, device=device))[..., :h, :w]
    else:
        y = model(x)
    y = y.clamp_(0, 1).mul_(255).round_().to(torch.uint8)[0].cpu().numpy()
    return y[0] if lq.ndim == 2 else y.transpose(1, 2, 0)


def evaluate(model: torch.nn.Module, pairs: list[EvalPair], device: torch.device, gray: bool) -> dict[str, float]:
    """Mean MSE (on [0,1] floats), PSNR and histogram distance (W, grey levels) of the model and of the degraded
    input, whole images."""
    model.eval()
    losses, gains, psnrs, in_psnrs, dists, in_dists, clean = [], [], [], [], [], [], []
    for p in pairs:
        lq, hq = (to_gray(p.lq), to_gray(p.hq)) if gray else (p.lq, p.hq)
        out = run_model(model, lq, device, p.level)
        if p.degradation == "clean":
            # What a clean photo keeps (PSNR of the output to it, capped: identical is infinite).
            clean.append(min(psnr(out, hq), 99.0))
            continue
        losses.append(float(np.mean(((out.astype(np.float32) - hq) / 255.0) ** 2)))
        psnrs.append(psnr(out, hq))
        in_psnrs.append(psnr(lq, hq))
        gains.append(psnrs[-1] - in_psnrs[-1])
        target = channel_histograms(hq)
        dists.append(mean_wasserstein(channel_histograms(out), target))
        in_dists.append(mean_wasserstein(channel_histograms(lq), target))
    model.train()
    metrics = {"val_loss": float(np.mean(losses)), "val_psnr": float(np.mean(psnrs)),
               "val_input_psnr": float(np.mean(in_psnrs)), "val_gain_db": float(np.mean(gains)),
               "val_w": float(np.mean(dists)), "val_input_w": float(np.mean(in_dists))}
    if clean:
        metrics["val_clean_psnr"] = float(np.mean(clean))
    return metrics


def sorted_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The 1-D Wasserstein distance between each patch's channel values and the target's (mean over patches and
    channels): the histogram distance the research judged restorations by, in a differentiable form. It only
    compares the values' distributions, not where they are, so it pulls back the spread MSE smooths away."""
    return (pred.flatten(2).sort(dim=-1).values - target.flatten(2).sort(dim=-1).values).abs().mean()


def _load_training_images(cfg: TrainConfig, train_paths: tuple[Path, ...]) -> list[np.ndarray]:
    paths = list(train_paths)
    for folder in cfg.extra:
        paths += list_images(Path(folder))
    return [load_rgb(p, max_side=1024) for p in paths]


def _check_run_folder(cfg: TrainConfig, resume: bool) -> None:
    """Before anything is read or written: never train over a run's checkpoints unless continuing it, and
    continue only a run that is there, of the same model."""
    out = Path(cfg.out)
    last = out / "last"
    held = [p for p in (out / f"{n}{s}" for n in ("last", "best") for s in (".safetensors", ".json")) if p.exists()]
    if not resume:
        if held:
            raise ConfigError(f"{out} already holds a run ({held[0].name}): continue it with --resume, or give "
                              "another --out")
        return
    if not any(last.with_suffix(s).exists() for s in (".safetensors", ".json")):
        raise ConfigError(f"--resume: {out} holds no run to continue (no {last.name}.safetensors)")
    try:
        meta = checkpoint.load_meta(last)
    except checkpoint.CheckpointError as exc:
        raise ConfigError(f"--resume: {exc}") from None
    was = meta.get("config", {})
    if checkpoint.arch_of(meta) != cfg.arch:
        raise ConfigError(f"--resume: {last} is a run of --arch {checkpoint.arch_of(meta)}, not --arch {cfg.arch}")
    # These change what the checkpoint holds (the average beside the weights; the int8 ranges).
    for flag, now, then in (("--ema", cfg.ema > 0, was.get("ema", 0.0) > 0), ("--qat", cfg.qat, bool(was.get("qat")))):
        if now != then:
            raise ConfigError(f"--resume: {last} was trained {'with' if then else 'without'} {flag}; resume it "
                              f"{'with' if then else 'without'} {flag} too")
    # Every other option is kept (_RESUME_MAY_CHANGE names the exceptions): another value would go on training
    # the run's weights, optimiser state and schedule on other photos, patches, damage or seed (or score it on
    # another validation split), towards another loss, at other rates or steps an epoch, without a word. A run
    # recorded before an option existed trained as its default does.
    folders = meta.get("folders") or {}  # as resolved when the run started; older runs keep only the spelling
    for name, now in asdict(cfg).items():
        if name in _RESUME_MAY_CHANGE:
            continue
        then = was.get(name, getattr(TrainConfig(), name))
        if name in ("data", "extra"):
            now = _resolved(now)
            then = folders.get(name, _resolved(then))
        if now != then:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"--resume: {last} was trained with {_spelled(flag, then)}, not {_spelled(flag, now)}; "
                              "resume it with the options it started with")


# What a resumed run may change; it keeps every other option as its checkpoint records it.
# - out: the folder the run is found in, however it is spelled.
# - epochs, minutes: the run's length. The cosine schedule is stretched to the new total from the step the run is
#   at, which is how runs are extended on purpose (runs/README.txt: "--epochs 20 --minutes 0 --resume"; BigCNN's
#   stage 1 resumed from 15 epochs to 35). With --minutes the resumed run keeps the count the budget resolved to.
# - threads, workers: how fast batches are made and the model runs; the workers draw exactly the batches the
#   training loop would.
# - keep_epochs: only whether every epoch's checkpoint is also kept.
# - init: read only when a run starts; a resumed run continues from its own weights (a --qat run names its
#   --init again only because --qat asks for one).
# --fp32 is kept with the rest: on a card it is the arithmetic the loss is computed in (bfloat16 rounds at the
# scale the histogram term measures); on a CPU it changes nothing, so giving it again there costs nothing.
_RESUME_MAY_CHANGE = ("out", "epochs", "minutes", "threads", "workers", "keep_epochs", "init")


def _resolved(folders: str | list[str]) -> str | list[str]:
    """A --data folder (or the --extra list) as one spelling: absolute, links resolved."""
    if isinstance(folders, list):
        return [str(Path(f).resolve()) for f in folders]
    return str(Path(folders).resolve())


def _spelled(flag: str, value: object) -> str:
    if isinstance(value, bool):  # a switch
        return flag if value else f"no {flag}"
    if isinstance(value, list):
        return " ".join(f"{flag} {v}" for v in value) if value else f"no {flag}"
    return f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, float]:
    _check(cfg)
    _check_run_folder(cfg, resume)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = _device()
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    gray = cfg.arch == "gan"

    # Model(s) and optimiser(s), and the checkpoint they start from: before the data, so a checkpoint that
    # does not fit fails at once, not after minutes of reading photos.
    model = archs.build(cfg.arch).to(device)
    if isinstance(model, archs.ConvStack):
        archs.identity_init(model)
    modules: dict[str, torch.nn.Module] = {"model": model}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    optimizers: dict[str, torch.optim.Optimizer] = {"model": opt}
    if gray:
        disc = archs.build("disc").to(device)
        modules["disc"] = disc
        optimizers["disc"] = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))

    # With an average, checkpoints hold it as "model" (what evaluate, export and --init read) and the
    # trained weights as "raw" (what the optimiser state belongs to, for --resume).
    average = archs.build(cfg.arch).to(device) if cfg.ema > 0 else None
    saved = modules if average is None else {**modules, "model": average, "raw": model}
    # With --qat both round as the int8 build does; their ranges travel in the checkpoint's metadata.
    rounded = [m for m in (model, average) if m is not None] if cfg.qat else []
    for m in rounded:
        qat.enable(m)

    step, epoch, history, best = 0, 0, [], -float("inf")
    last = out / "last"
    if resume:
        try:
            meta = checkpoint.load(last, saved, optimizers)
        except checkpoint.CheckpointError as exc:
            raise ConfigError(f"--resume: {exc}") from None
        step, epoch, history = meta["step"], meta["epoch"], meta["history"]
        for m in rounded:
            qat.set_ranges(m, meta["qat_ranges"])
        best = max((h["val_psnr"] for h in history), default=-float("inf"))
        if cfg.minutes > 0:  # the length a wall-clock budget resolved to, not the placeholder on the command line
            cfg.epochs = meta["config"]["epochs"]
        torch.manual_seed(cfg.seed + step)
        log.info("resumed %s at epoch %d, step %d", out, epoch, step)
    elif cfg.init:
        _load_init(Path(cfg.init), cfg.arch, modules)
        log.info("started from the weights of %s", cfg.init)
    if average is not None and not resume:
        average.load_state_dict(model.state_dict())
    scored = average if average is not None else model

    # Data: honest split, training images held in memory, eval pairs fixed. Either clean photos degraded on
    # the fly, or the hq/ + lq/ pairs a `facerestore degrade` run wrote.
    data = Path(cfg.data)
    sampler: PatchSampler
    if is_pairs_folder(data):
        split = split_pairs(data, n_val=cfg.max_val)
        sampler = PairPatchSampler([load_pair(p) for p in split.train], cfg.patch, gray=gray)
        val = pair_eval_pairs(split.val)
    else:
        split = split_faces(data, n_val=cfg.max_val)
        images = _load_training_images(cfg, split.train)
        chain = None if cfg.chain == "random" else parse_chain(cfg.chain)
        conditioned = archs.is_conditioned(cfg.arch)
        sampler = PatchSampler(images, cfg.patch, chain=chain, gray=gray, conditioned=conditioned,
                               banding_only=cfg.banding_only, webp_share=cfg.webp_share, gray_share=cfg.gray_share)
        val = eval_pairs(split.val, CONDITIONED_EVAL_DEGRADATIONS if conditioned else EVAL_DEGRADATIONS)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad data leaves no empty run folder behind
    (out / "split.json").write_text(
        json.dumps({k: [p.name for p in getattr(split, k)] for k in ("train", "val", "test")}, indent=1))

    on_cuda = device.type == "cuda"
    use_amp, amp_dtype = on_cuda and not cfg.fp32, torch.bfloat16
    layout = torch.channels_last if on_cuda else torch.contiguous_format  # cuDNN's fast conv layout
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        for m in saved.values():
            m.to(memory_format=layout)
    bce = torch.nn.BCEWithLogitsLoss()

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not progress,
            redirect_stdout=False, redirect_stderr=False))
        task = bar.add_task(f"train {cfg.arch}", total=cfg.epochs * cfg.steps_per_epoch, completed=step, info="")
        stream = stack.enter_context(BatchStream(sampler, cfg.batch, cfg.seed, cfg.workers))
        while epoch < cfg.epochs:
            t0, run_loss = time.time(), 0.0
            # Time spent waiting for batches: the per-step loss read below syncs the device, so what is left
            # between steps is the degrading processes falling behind (a GPU run's pace, measured).
            waited, ready = 0.0, perf_counter()
            for lq_np, hq_np, *level_np in stream.steps(step, (epoch + 1) * cfg.steps_per_epoch):
                waited += perf_counter() - ready
                lr = _lr_at(cfg, step)
                for o in optimizers.values():
                    for g in o.param_groups:
                        g["lr"] = lr
                lq = torch.from_numpy(lq_np).to(device, non_blocking=True).contiguous(memory_format=layout)
                hq = torch.from_numpy(hq_np).to(device, non_blocking=True).contiguous(memory_format=layout)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    if level_np:
                        pred = model(lq, torch.from_numpy(level_np[0]).to(device))
                    else:
                        pred = model(lq)
                    content = F.mse_loss(pred.float(), hq)
                    if gray:
                        # Discriminator step on detached fakes, then the generator's adversarial + content loss.
                        d_opt = optimizers["disc"]
                        d_real, d_fake = disc(hq), disc(pred.detach())
                        d_loss = bce(d_real.float(), torch.ones_like(d_real, dtype=torch.float32)) + \
                            bce(d_fake.float(), torch.zeros_like(d_fake, dtype=torch.float32))
                        d_opt.zero_grad(set_to_none=True)
                        d_loss.backward()
                        d_opt.step()
                        g_fake = disc(pred)
                        adv = bce(g_fake.float(), torch.ones_like(g_fake, dtype=torch.float32))
                        loss = adv + cfg.content_weight * content
                    else:
                        loss = content if cfg.loss == "mse" else F.l1_loss(pred.float(), hq)
                    if cfg.hist_weight > 0:
                        loss = loss + cfg.hist_weight * sorted_l1(pred.float(), hq)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if average is not None:
                    ema_update(average, model, cfg.ema)
                run_loss += float(content.detach())
                step += 1
                bar.update(task, advance=1, info=f"epoch {epoch + 1} mse {run_loss / (step - epoch * cfg.steps_per_epoch):.5f}")
                ready = perf_counter()
            epoch += 1
            metrics = evaluate(scored, val, device, gray)
            if cfg.minutes > 0 and epoch == 1 and not resume:
                # A wall-clock budget: size the run from the first epoch (data start-up and cuDNN tuning
                # included, so it errs short); the resolved count is what the checkpoint records.
                cfg.epochs = max(1, int(cfg.minutes * 60 / (time.time() - t0)))
                bar.update(task, total=cfg.epochs * cfg.steps_per_epoch)
                log.info("%.1f minutes allow %d epochs of %d steps", cfg.minutes, cfg.epochs, cfg.steps_per_epoch)
            row = {"epoch": epoch, "step": step, "train_loss": run_loss / cfg.steps_per_epoch, **metrics,
                   "lr": lr, "seconds": time.time() - t0, "data_wait_seconds": waited}
            history.append(row)
            log.info("epoch %d: train %.5f val %.5f psnr %.2f (input %.2f, gain %+.2f dB) W %.3f (input %.3f); "
                     "%.0f s, %.0f of them waiting for batches", epoch, row["train_loss"], metrics["val_loss"],
                     metrics["val_psnr"], metrics["val_input_psnr"], metrics["val_gain_db"], metrics["val_w"],
                     metrics["val_input_w"], row["seconds"], waited)
            meta = {"config": asdict(cfg), "arch": cfg.arch, "step": step, "epoch": epoch, "history": history,
                    "folders": {"data": _resolved(cfg.data), "extra": _resolved(cfg.extra)},  # for --resume's check
                    "params": archs.count_params(model),
                    "split": {k: [p.name for p in getattr(split, k)] for k in ("train", "val", "test")}}
            if cfg.qat:
                meta["qat_ranges"] = qat.ranges(model)
            checkpoint.save(last, saved, optimizers, meta)
            if cfg.keep_epochs:
                checkpoint.save(out / "epochs" / f"{epoch:03d}", saved, {}, meta)
            if metrics["val_psnr"] > best:
                best = metrics["val_psnr"]
                checkpoint.save(out / "best", saved, optimizers, meta)
            write_curves(out, history)
    return history[-1] if history else {}


def write_curves(out: Path, history: list[dict[str, float]]) -> None:
    """Learning curves as CSV and as a PNG chart like the report's figure."""
    if not history:
        return
    # Columns from every row, first seen first: a resumed run's older rows may lack a newer column.
    fields = list(dict.fromkeys(key for row in history for key in row))
    with (out / "curves.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(history)
    try:
        from facerestore.charts import learning_curves_png
    except ImportError:  # charts module not available in this checkout
        return
    learning_curves_png(history, out / "curves.png")
