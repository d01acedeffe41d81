"""``facerestore models``: the shipped models, their metadata and whether their files are intact."""

from __future__ import annotations

from typing import Any

import click

from facerestore.commands import exit_on_error


@click.command(short_help="List the shipped models with their metadata and file checks.")
@click.option("--json", "json_out", is_flag=True, help="A JSON array on stdout instead of the table.")
@click.pass_context
def models(ctx: click.Context, json_out: bool) -> None:
    """List the shipped models: architecture, parameters, channels, training data, degradation,
    validation PSNR/SSIM, and whether each file is installed and matches its recorded sha256.

    Exits 1 when a shipped model is missing or corrupt.
    """
    import json

    from facerestore.console import make_console

    console = make_console()
    with exit_on_error(console):
        entries = describe_models()
    if json_out:
        click.echo(json.dumps(entries, indent=2, ensure_ascii=False))
    else:
        _print_table(console, entries)
    ctx.exit(0 if all(e["status"] == "ok" for e in entries) else 1)


def describe_models() -> list[dict[str, Any]]:
    """One dict per shipped model: name, file, status (ok | not installed | corrupt | unverified), metadata."""
    from facerestore import registry
    from facerestore.errors import ModelError
    from facerestore.session import read_metadata

    entries = []
    for spec in registry.SHIPPED.values():
        entry: dict[str, Any] = {"name": spec.name, "default": spec.name == registry.DEFAULT_MODEL,
                                 "summary": spec.summary, "file": str(spec.path), "installed": spec.installed,
                                 "sha256": None, "status": "not installed", "error": None, "metadata": {}}
        if spec.installed:
            digest = registry.sha256_of(spec.path)
            entry["sha256"] = digest
            if spec.sha256 is None:
                entry["status"] = "unverified"
                entry["error"] = "no checksum recorded in checksums.json"
            elif digest != spec.sha256:
                entry["status"] = "corrupt"
                entry["error"] = f"sha256 mismatch (expected {spec.sha256})"
            else:
                entry["status"] = "ok"
            try:
                raw = read_metadata(spec.path)
                entry["metadata"] = {key.removeprefix("facerestore."): value for key, value in sorted(raw.items())}
            except ModelError as exc:
                entry["status"] = "corrupt"
                entry["error"] = str(exc)
        else:
            entry["error"] = f"file missing: {spec.path}"
        entries.append(entry)
    return entries


def _print_table(console: Any, entries: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Shipped models", title_justify="left", show_lines=True)
    for column, justify in (("model", "left"), ("status", "left"), ("architecture", "left"),
                            ("params", "right"), ("ch", "right"), ("PSNR", "right"), ("SSIM", "right")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for e in entries:
        meta = e["metadata"]
        name = e["name"] + (" *" if e["default"] else "")
        status = Text(e["status"], style="green" if e["status"] == "ok" else "bold red")
        table.add_row(name, status, meta.get("arch") or e["summary"], meta.get("params", "-"),
                      meta.get("channels", "-"), meta.get("val_psnr", "-"), meta.get("val_ssim", "-"))
    console.print(table)
    console.print("* default model", markup=False)
    for e in entries:
        meta = e["metadata"]
        details = [f"{key}: {meta[key]}" for key in ("training_data", "degradation", "epochs", "date") if key in meta]
        if details:
            console.print(f"{e['name']}: " + "; ".join(details), markup=False)
        if e["error"]:
            console.print(f"{e['name']}: {e['error']}", markup=False)
