"""``facerestore models``: the shipped models, their metadata and whether their files are intact."""

from __future__ import annotations

from typing import Any

import click

from facerestore.commands import emit, exit_on_error


@click.command(short_help="List the shipped models with their metadata and file checks.")
@click.option("--json", "json_out", is_flag=True, help="A JSON array on stdout instead of the table.")
@click.pass_context
def models(ctx: click.Context, json_out: bool) -> None:
    """List the shipped models: architecture, parameters, input (RGB or luma), training data, degradation,
    validation PSNR/SSIM, and whether each file is installed and matches its recorded sha256.

    The table (or the JSON) goes to stdout; a problem with a model file is also said on stderr.
    Exits 1 when a shipped model is missing or corrupt.
    """
    import json

    from facerestore.console import make_console

    console = make_console()
    with exit_on_error(console):
        entries = describe_models()
        emit(json.dumps(entries, indent=2, ensure_ascii=False) if json_out else _table_text(entries))
    if not json_out:
        for e in entries:
            if e["error"]:
                console.print(f"error: {e['name']}: {e['error']}", markup=False, highlight=False)
    ctx.exit(0 if all(e["status"] == "ok" for e in entries) else 1)


def describe_models() -> list[dict[str, Any]]:
    """One dict per shipped model: name, file, status (ok | not installed | corrupt | unverified), metadata, and
    its builds (``big.fp16.onnx``: what ``--precision`` runs), each checked the same way. A model's status is
    that of its worst file."""
    from facerestore import registry
    from facerestore.errors import ModelError
    from facerestore.model_choice import PRECISIONS
    from facerestore.session import read_metadata

    entries = []
    for spec in registry.SHIPPED.values():
        entry: dict[str, Any] = {"name": spec.name, "default": spec.name == registry.DEFAULT_MODEL,
                                 "origin": spec.origin, "summary": spec.summary, "file": str(spec.path),
                                 "installed": spec.installed, "metadata": {}, **_file_check(spec)}
        if spec.installed:
            try:
                raw = read_metadata(spec.path)
                entry["metadata"] = {key.removeprefix("facerestore."): value for key, value in sorted(raw.items())}
            except ModelError as exc:
                entry["status"], entry["error"] = "corrupt", str(exc)
        entry["builds"] = []
        for precision in PRECISIONS:
            build = registry.build_of(spec, precision)
            if precision in ("fp32", "auto") or not build.installed:
                continue
            check = _file_check(build)
            entry["builds"].append({"precision": precision, "file": str(build.path), **check})
            if entry["status"] == "ok" and check["status"] != "ok":
                entry["status"], entry["error"] = check["status"], f"{build.path.name}: {check['error']}"
        entries.append(entry)
    return entries


def _file_check(spec: Any) -> dict[str, Any]:
    """sha256, status and error of one shipped file against checksums.json."""
    from facerestore import registry

    if not spec.installed:
        return {"sha256": None, "status": "not installed", "error": f"file missing: {spec.path}"}
    digest = registry.sha256_of(spec.path)
    if spec.sha256 is None:
        return {"sha256": digest, "status": "unverified", "error": "no checksum recorded in checksums.json"}
    if digest != spec.sha256:
        return {"sha256": digest, "status": "corrupt", "error": f"sha256 mismatch (expected {spec.sha256})"}
    return {"sha256": digest, "status": "ok", "error": None}


def _table_text(entries: list[dict[str, Any]]) -> str:
    """The table and its notes for stdout: sized for it, coloured where it is a terminal (rendered in memory, so
    that a stdout that cannot take it fails in ``emit``)."""
    import io

    from rich.console import Console

    stdout = Console()
    console = Console(file=io.StringIO(), width=stdout.width, force_terminal=stdout.is_terminal,
                      color_system=stdout.color_system, no_color=stdout.no_color, highlight=False, soft_wrap=True)
    _print_table(console, entries)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


def _print_table(console: Any, entries: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Shipped models (scores on the validation faces)", title_justify="left", show_lines=True)
    for column, justify in (("model", "left"), ("origin", "left"), ("status", "left"), ("architecture", "left"),
                            ("params", "right"),
                            ("input", "left"), ("val PSNR dB", "right"), ("val SSIM", "right")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for e in entries:
        meta = e["metadata"]
        name = e["name"] + (" *" if e["default"] else "")
        status = Text(e["status"], style="green" if e["status"] == "ok" else "bold red")
        space = _colour_space(meta.get("channels"))
        origin = "facerestore's own" if e["origin"] == "facerestore" else "research report"
        table.add_row(name, origin, status, meta.get("arch") or e["summary"], meta.get("params", "-"), space or "-",
                      _score(meta.get("val_psnr"), space), _score(meta.get("val_ssim"), space))
    console.print(table)
    console.print("* default model. A luma model restores luminance only and is scored on it: its scores are not "
                  "comparable with an RGB model's.", markup=False)
    shared = {key: _shared_clauses(entries, key) for key in ("training_data", "degradation")}
    for key, clauses in shared.items():
        if clauses:
            console.print(f"{key.replace('_', ' ')} (all models): " + "; ".join(clauses), markup=False)
    for e in entries:
        meta = e["metadata"]
        details = []
        for key in ("training_data", "degradation", "epochs", "date"):
            own = [c for c in _clauses(meta.get(key)) if c not in shared.get(key, ())]
            if own:
                details.append(f"{key.replace('_', ' ')}: " + "; ".join(own))
        if details:
            console.print(f"{e['name']}: " + "; ".join(details), markup=False)


def _colour_space(channels: str | None) -> str | None:
    """What a model takes and is scored on: its channel count in words."""
    return {"3": "RGB", "1": "luma"}.get(channels or "")


def _score(value: str | None, space: str | None) -> str:
    """A validation score with what it was measured on: an RGB and a luma PSNR are not comparable."""
    if not value or value == "unknown":
        return "-"
    return f"{value} {space}" if space else value


def _clauses(value: str | None) -> list[str]:
    """``value`` split at its top-level ``;`` (a semicolon inside parentheses belongs to its clause)."""
    text = value or ""
    clauses, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ";" and depth == 0:
            clauses.append(text[start:i])
            start = i + 1
    clauses.append(text[start:])
    return [c.strip() for c in clauses if c.strip()]


def _shared_clauses(entries: list[dict[str, Any]], key: str) -> list[str]:
    """The clauses of ``key`` that every model with metadata has: printed once, not once per model."""
    described = [_clauses(e["metadata"].get(key)) for e in entries if e["metadata"]]
    if len(described) < 2:
        return []
    return [c for c in described[0] if all(c in other for other in described[1:])]
