"""``python -m export train ...``, ``python -m export onnx ...`` and ``python -m export evaluate ...``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from dataclasses import fields
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from facerestore.errors import ModelError, UsageError


def _train_parser(sub: argparse._SubParsersAction) -> None:
    from .train import TrainConfig

    p = sub.add_parser("train", help="train one architecture")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, list):
            p.add_argument(flag, action="append", default=[])
        elif isinstance(default, bool):
            p.add_argument(flag, action="store_true")
        else:
            p.add_argument(flag, type=type(default), default=default)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--no-progress", action="store_true")


def _face_args(p: argparse.ArgumentParser, tables: bool) -> None:
    """The options of every command that scores models on the split faces."""
    p.add_argument("--data", default="../shared/data/faces", help="the face folder training was split from")
    p.add_argument("--eval-count", type=int, default=20, help="validation and test images (as in training)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    if tables:
        p.add_argument("--json", dest="json_path", help="write the full results as JSON here")
        p.add_argument("--markdown", dest="markdown_path", help="write the markdown tables here")


def _scored_on_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--on", dest="scored_on", choices=("test", "validation"), default="test",
                   help="score on the test faces (the model card) or on the validation faces (for selection rules)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _train_parser(sub)
    o = sub.add_parser("onnx", help="export a checkpoint to ONNX")
    o.add_argument("checkpoint")
    o.add_argument("-o", "--output", required=True)
    o.add_argument("--opset", type=int, default=17)
    o.add_argument("--check-image", action="append", default=[], help="real photo for the parity check")
    o.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    e = sub.add_parser("evaluate", help="the model card's table: input vs classical filters vs models")
    e.add_argument("models", nargs="*", metavar="MODEL.onnx", help="exported models (row name = file stem)")
    _face_args(e, tables=True)
    _scored_on_arg(e)
    f = sub.add_parser("fit-strength", help="fit each model's --strength auto curve on the validation faces")
    f.add_argument("models", nargs="+", metavar="NAME=MODEL.onnx", help="the registry name and the file to fit")
    f.add_argument("-o", "--output", default="facerestore/models/strength.json")
    f.add_argument("--gray", action="store_true",
                   help="fit each model's curves for grayscale photos, on the validation faces in grayscale")
    f.add_argument("--webp", action="store_true",
                   help="fit each model's curve for lossy WebP files into its curves in OUTPUT")
    f.add_argument("--sides", default="256", metavar="PX[,PX...]",
                   help="fit on the validation faces at each of these sizes (at most PX a side; colour or gray curves)")
    f.add_argument("--upscale", action="store_true",
                   help="bring faces smaller than a size of --sides up to it (LANCZOS): soft photos, as zoomed and "
                        "upscaled photos are")
    f.add_argument("--scores", metavar="DIR",
                   help="keep each model's scores here as they are made; a rerun with the same DIR resumes")
    _face_args(f, tables=False)
    a = sub.add_parser("archive-eval", help="the model card's archive table: gain per JPEG quality, clean photos")
    a.add_argument("models", nargs="+", metavar="NAME=MODEL.onnx", help="the registry name and the file to score")
    _face_args(a, tables=True)
    _scored_on_arg(a)
    a.add_argument("--no-filters", action="store_true", help="leave out the classical filters (their tuning is slow)")
    a.add_argument("--add-to", metavar="REPORT.json",
                   help="add these models' rows to an earlier report of the same faces (filters not re-tuned)")
    args = parser.parse_args(argv)
    # Logs go to stderr: stdout carries data (the evaluate table).
    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False)])

    from .data import DataError

    try:
        return _run(args)
    except KeyboardInterrupt:
        # A run's checkpoints are replaced whole, so the last finished epoch is intact for --resume.
        last = Path(args.out) / "last.safetensors" if args.cmd == "train" else None
        hint = f": {last} holds the last finished epoch; continue with --resume" if last and last.exists() else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return 130
    except (DataError, ModelError, UsageError) as exc:  # bad input or options; the message names the file
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _WriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


class _WriteError(Exception):
    """An output could not be written (exit 1, as the runtime's output failures)."""


def _check_output(path: str | None) -> Path | None:
    """Refuse, before the work, an output path that cannot take a file."""
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{out} is a folder: give a file name")
    folder = next(p for p in out.absolute().parents if p.exists())  # where the missing folders would be made
    if not folder.is_dir():
        raise UsageError(f"{out}: {folder} is not a folder")
    return out


def _check_folder(path: str | None, option: str) -> Path | None:
    """Refuse, before the work, a folder path (``option``'s) that cannot hold files: it, or a folder above it that
    exists, is no folder."""
    if not path:
        return None
    folder = Path(path)
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{option} {folder}: {existing} is not a folder")
    return folder


@contextlib.contextmanager
def _writing(path: Path | None):
    try:
        yield
    except OSError as exc:
        raise _WriteError(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from None


def _run(args: argparse.Namespace) -> int:
    if args.cmd == "train":
        from .train import ConfigError, TrainConfig, train

        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        try:
            train(cfg, resume=args.resume, progress=not args.no_progress and sys.stderr.isatty())
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        return 0
    if args.cmd == "evaluate":
        from .evaluate import evaluate, write_report

        json_path, markdown_path = _check_output(args.json_path), _check_output(args.markdown_path)
        report = evaluate(Path(args.data), {Path(m).stem: Path(m) for m in args.models},
                          n_eval=args.eval_count, threads=args.threads,
                          scored_on=args.scored_on)
        with _writing(json_path or markdown_path):
            text = write_report(report, json_path, markdown_path)
        sys.stdout.write(text)  # the table is the command's data
        return 0
    if args.cmd in ("fit-strength", "archive-eval"):
        pairs = [m.partition("=") for m in args.models]
        if any(not sep or not name for name, sep, _ in pairs):
            raise UsageError("give each model as NAME=MODEL.onnx")
        named = {name: path for name, _, path in pairs}
        from facerestore.session import read_metadata

        for path in named.values():  # a missing or broken model fails at once, not after the others are scored
            read_metadata(Path(path))
    if args.cmd == "archive-eval":
        from . import archive_eval

        json_path, markdown_path = _check_output(args.json_path), _check_output(args.markdown_path)
        report = archive_eval.evaluate(Path(args.data), {n: Path(p) for n, p in named.items()},
                                       n_eval=args.eval_count, threads=args.threads,
                                       filters=not (args.add_to or args.no_filters),
                                       scored_on=args.scored_on)
        if args.add_to:
            import json

            try:
                report = archive_eval.merge(json.loads(Path(args.add_to).read_text(encoding="utf-8")), report)
            except (OSError, ValueError, KeyError) as exc:
                raise UsageError(f"cannot add to {args.add_to}: {exc}") from None
        with _writing(json_path or markdown_path):
            text = archive_eval.write_report(report, json_path, markdown_path)
        sys.stdout.write(text)
        return 0
    if args.cmd == "fit-strength":
        from . import fit_strength

        output = _check_output(args.output)
        saved = _check_folder(args.scores, "--scores")
        try:
            # A size named twice would only score every one of its cases twice.
            sides = tuple(dict.fromkeys(int(side) for side in args.sides.split(",")))
        except ValueError:
            raise UsageError(f"--sides takes sizes in px separated by commas, not {args.sides!r}") from None
        if not sides or min(sides) < 32:
            raise UsageError(f"--sides takes sizes of 32 px or more, not {args.sides!r}")
        if (args.sides != "256" or args.upscale) and args.webp:
            raise UsageError("--sides and --upscale apply to the colour and gray curves, not to --webp")
        if args.webp and args.gray:
            raise UsageError("--webp fits colour curves: a WebP file decodes to colour, so --gray does not apply")
        models = {n: Path(p) for n, p in named.items()}
        try:
            base = fit_strength.merge_base(output)  # a broken file to merge into fails now, not after the fit
            if args.webp:
                fit_strength.check_webp_base(models, base)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.webp:
            result = fit_strength.fit_webp(Path(args.data), models, base, n_eval=args.eval_count, threads=args.threads,
                                           saved=saved)
        elif args.gray:
            result = fit_strength.fit_gray(Path(args.data), models, n_eval=args.eval_count, threads=args.threads,
                                           sides=sides, upscale=args.upscale, saved=saved)
        else:
            result = fit_strength.fit(Path(args.data), models, n_eval=args.eval_count, threads=args.threads,
                                      sides=sides, upscale=args.upscale, saved=saved)
        with _writing(output):
            fit_strength.write(result, output)
        return 0
    from .onnx_export import PACKAGE_MODELS, ExportError, InputError, export_checkpoint, write_checksums

    output = _check_output(args.output)
    if output.exists() and not args.overwrite:
        raise UsageError(f"{output} exists: give --overwrite to replace it")
    try:
        with _writing(output):
            out = export_checkpoint(args.checkpoint, output, opset=args.opset, check_images=args.check_image)
    except InputError as exc:  # the checkpoint or a check photo
        raise UsageError(str(exc)) from None
    except ExportError as exc:  # the export failed a check
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if out.resolve().parent == PACKAGE_MODELS:
        # The runtime refuses a shipped model whose digest is not recorded: keep the two in step.
        logging.getLogger("export").info("updated %s", write_checksums(PACKAGE_MODELS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
