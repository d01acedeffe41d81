"""Shared click option bundles (decorators) and the frozen option dataclasses commands build from them.

``model_options`` (with ``--verbose``) becomes a :class:`facerestore.model_choice.ModelRequest`, plus ``--tile``.

Library modules take these dataclasses or plain values; they never see click.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from facerestore.formats import FORMAT_CHOICES
from facerestore.model_choice import DEFAULT_PRECISION, PRECISIONS
from facerestore.registry import DEFAULT_MODEL, SHIPPED

F = TypeVar("F", bound=Callable[..., Any])

DEVICE_CHOICES = ("auto", "cuda", "cpu")


def _apply(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


model_options = _apply([
    click.option("--model", "model", default=DEFAULT_MODEL, show_default=True, metavar="|".join([*SHIPPED, "PATH.onnx"]),
                 help="Shipped model name or path to an ONNX file that follows the model contract."),
    click.option("--device", type=click.Choice(DEVICE_CHOICES, case_sensitive=False), default="auto",
                 show_default=True, help="auto tries CUDA then CPU; cuda fails (exit 3) when CUDA is unusable."),
    click.option("--precision", type=click.Choice(PRECISIONS, case_sensitive=False),
                 default=DEFAULT_PRECISION, show_default=True,
                 help="auto: the fp16 files on a CUDA card (within 0.1 dB of fp32), fp32 elsewhere. "
                 "fp32/fp16 force that file."),
    click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
                 help="CPU threads for inference (default: every CPU this process may use); on the CPU "
                 "each thread runs its own tile of the image."),
    click.option("--tile", type=click.IntRange(min=16), default=None, metavar="SIZE",
                 help="Tile size in pixels (default: automatic, peak inference memory about 1 GiB)."),
])

stream_options = _apply([
    click.option("--json", "json_lines", is_flag=True, help="One JSON object per image on stdout."),
    click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary (errors still shown)."),
    click.option("-v", "--verbose", is_flag=True, help="Debug logging, including ONNX Runtime's own messages."),
])

engine_options = _apply([
    click.option("--engine", type=click.Choice(("local", "ray"), case_sensitive=False), default="local",
                 show_default=True, help="local: this machine's cores; ray: Ray Data workers "
                 "(needs pip install 'facerestore[ray]')."),
    click.option("--ray-address", default=None, metavar="ADDRESS",
                 help="With --engine ray: connect to this Ray cluster (e.g. 10.0.0.5:6379 or 'auto') instead "
                 "of starting a local Ray instance for the run."),
    click.option("--shard", default=None, metavar="I/N",
                 help="Only the I-th of N disjoint parts of the inputs (by hash of the relative path, counted "
                 "from 1), for array jobs that split one tree between machines."),
])

write_options = _apply([
    click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES, case_sensitive=False), default=None,
                 help="Output format (default: same as the input)."),
    click.option("--quality", type=click.IntRange(1, 100), default=None, metavar="1-100",
                 help="Quality for JPEG/WebP output (default: 95)."),
    click.option("--overwrite", is_flag=True, help="Redo outputs that already exist (default: skip them)."),
])



class FileList(click.File):
    """``--files-from FILE``, read as bytes; ``-`` is stdin, which must be open."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except RuntimeError:  # click cannot find a stdin to read ('-' with stdin closed: a daemon, `<&-`)
            if value != "-":
                raise
            self.fail("'-' is stdin, which is closed: pipe the list in or name a file", param, ctx)


def _parse_strength(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    from facerestore.damage.strength import parse_strength  # numpy: not for --help

    try:
        return parse_strength(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


strength_option = click.option(
    "--strength", default="auto", show_default=True, metavar="auto|0-1", callback=_parse_strength,
    help="auto: restore each image as much as its damage needs, leaving photos without any unchanged (their "
    "bytes copied); a number forces that strength on every image (1: the model's full output).")


@dataclass(frozen=True)
class StreamOptions:
    json_lines: bool = False
    quiet: bool = False
    verbose: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StreamOptions:
        return cls(json_lines=params["json_lines"], quiet=params["quiet"], verbose=params["verbose"])

    @property
    def show_progress(self) -> bool:
        return not (self.json_lines or self.quiet)


@dataclass(frozen=True)
class WriteOptions:
    fmt: str | None = None  # lower-case format name from FORMAT_CHOICES, None = same as the input
    quality: int | None = None
    overwrite: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> WriteOptions:
        fmt = params["fmt"]
        return cls(fmt=fmt.lower() if fmt else None, quality=params["quality"], overwrite=params["overwrite"])


@dataclass(frozen=True)
class EngineOptions:
    name: str = "local"  # "local" | "ray" (facerestore.engines.ENGINES)
    ray_address: str | None = None  # None: a private local Ray instance for the run
    shard: str | None = None  # "I/N" as given; facerestore.sharding.parse_shard validates it

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> EngineOptions:
        return cls(name=params.get("engine", "local").lower(), ray_address=params.get("ray_address"),
                   shard=params.get("shard"))
