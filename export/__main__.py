"""``python -m export train ...`` and ``python -m export onnx ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields

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
        else:
            p.add_argument(flag, type=type(default), default=default)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--no-progress", action="store_true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _train_parser(sub)
    o = sub.add_parser("onnx", help="export a checkpoint to ONNX")
    o.add_argument("checkpoint")
    o.add_argument("-o", "--output", required=True)
    o.add_argument("--opset", type=int, default=17)
    o.add_argument("--check-image", action="append", default=[], help="real photo for the parity check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=False)])

    if args.cmd == "train":
        from .data import DataError
        from .train import TrainConfig, train

        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        try:
            train(cfg, resume=args.resume, progress=not args.no_progress and sys.stderr.isatty())
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    from .onnx_export import export_checkpoint

    export_checkpoint(args.checkpoint, args.output, opset=args.opset, check_images=args.check_image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
