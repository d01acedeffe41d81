"""``python -m export train ...``, ``python -m export onnx ...`` and ``python -m export evaluate ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields

from rich.console import Console
from rich.logging import RichHandler


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
    e = sub.add_parser("evaluate", help="the model card's table: input vs classical filters vs models")
    e.add_argument("models", nargs="*", metavar="MODEL.onnx", help="exported models (row name = file stem)")
    _face_args(e, tables=True)
    _scored_on_arg(e)
    f = sub.add_parser("fit-strength", help="fit each model's --strength auto curve on the validation faces")
    f.add_argument("models", nargs="+", metavar="NAME=MODEL.onnx", help="the registry name and the file to fit")
    f.add_argument("-o", "--output", default="facerestore/models/strength.json")
    f.add_argument("--gray", action="store_true",
                   help="fit each model's one curve for grayscale photos, on the validation faces in grayscale")
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

    if args.cmd == "train":
        from .data import DataError
        from .train import ConfigError, TrainConfig, train

        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        try:
            train(cfg, resume=args.resume, progress=not args.no_progress and sys.stderr.isatty())
        except (DataError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.cmd == "evaluate":
        from pathlib import Path

        from .data import DataError
        from .evaluate import evaluate, write_report

        try:
            report = evaluate(Path(args.data), {Path(m).stem: Path(m) for m in args.models},
                              n_eval=args.eval_count, threads=args.threads,
                              scored_on=args.scored_on)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        text = write_report(report, Path(args.json_path) if args.json_path else None,
                            Path(args.markdown_path) if args.markdown_path else None)
        sys.stdout.write(text)  # the table is the command's data
        return 0
    if args.cmd in ("fit-strength", "archive-eval"):
        pairs = [m.partition("=") for m in args.models]
        if any(not sep or not name for name, sep, _ in pairs):
            print("error: give each model as NAME=MODEL.onnx", file=sys.stderr)
            return 2
        named = {name: path for name, _, path in pairs}
    if args.cmd == "archive-eval":
        from pathlib import Path

        from . import archive_eval

        report = archive_eval.evaluate(Path(args.data), {n: Path(p) for n, p in named.items()},
                                       n_eval=args.eval_count, threads=args.threads,
                                       filters=not (args.add_to or args.no_filters),
                                       scored_on=args.scored_on)
        if args.add_to:
            import json

            try:
                report = archive_eval.merge(json.loads(Path(args.add_to).read_text(encoding="utf-8")), report)
            except (OSError, ValueError, KeyError) as exc:
                print(f"error: cannot add to {args.add_to}: {exc}", file=sys.stderr)
                return 2
        sys.stdout.write(archive_eval.write_report(report, Path(args.json_path) if args.json_path else None,
                                                   Path(args.markdown_path) if args.markdown_path else None))
        return 0
    if args.cmd == "fit-strength":
        from pathlib import Path

        from . import fit_strength

        fitter = fit_strength.fit_gray if args.gray else fit_strength.fit
        result = fitter(Path(args.data), {n: Path(p) for n, p in named.items()},
                        n_eval=args.eval_count, threads=args.threads)
        fit_strength.write(result, Path(args.output))
        return 0
    from .onnx_export import PACKAGE_MODELS, ExportError, export_checkpoint, write_checksums

    try:
        out = export_checkpoint(args.checkpoint, args.output, opset=args.opset, check_images=args.check_image)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if out.resolve().parent == PACKAGE_MODELS:
        # The runtime refuses a shipped model whose digest is not recorded: keep the two in step.
        logging.getLogger("export").info("updated %s", write_checksums(PACKAGE_MODELS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
