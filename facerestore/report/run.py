"""The per-run report: ``report.html`` (one self-contained page), ``summary.csv`` and ``summary.json``.

The HTML page embeds every number as one JSON blob and renders the table in pages from it, so it stays fast
with thousands of images; images are only referenced by relative links (thumbnails lazy-loaded, previews and
charts fetched when an image is opened), so the output folder can be copied or zipped as a whole.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from facerestore.errors import OutputError

from . import REPORT_DIR_NAME, as_float, json_number, report_files

REPORT_HTML, SUMMARY_CSV, SUMMARY_JSON = "report.html", "summary.csv", "summary.json"
# Held while a run reads, merges and rewrites the summary: --shard jobs writing into one folder finish close
# together, and without it each would read the summary before the others wrote theirs, and the last to
# write would drop their images from the report.
# Kept in the per-image report folder, out of the way of the outputs; never deleted (a lock file removed
# while another run waits on it would let two runs in at once).
SUMMARY_LOCK = ".summary.lock"
LOCK_TIMEOUT_S = 300.0
SUMMARY_FORMAT = 1
RECORD_FIELDS = ("input", "output", "status", "error", "width", "height", "seconds", "provider", "model")


@dataclass(frozen=True)
class MetricColumn:
    key: str  # base name: the record holds key + "_in" and key + "_out"
    label: str
    better: str  # "higher" or "lower"
    digits: int
    in_table: bool = True


METRIC_COLUMNS = (
    MetricColumn("psnr", "PSNR (dB)", "higher", 2),
    MetricColumn("ssim", "SSIM", "higher", 4),
    MetricColumn("w1", "hist. distance", "lower", 2),
    MetricColumn("gaps", "gaps", "lower", 1),
    MetricColumn("levels", "levels", "higher", 1),
    MetricColumn("spikiness", "spikiness", "lower", 3),
    MetricColumn("peak_ratio", "peak ratio", "lower", 2, in_table=False),
    MetricColumn("entropy", "entropy (bits)", "higher", 3),
)


def record_dict(record: Any) -> dict[str, Any]:
    """A record (``facerestore.summary.Record`` or its dict) as a plain dict with JSON-safe metrics."""
    if isinstance(record, Mapping):
        data = dict(record)
    else:
        data = {name: getattr(record, name, None) for name in RECORD_FIELDS}
        data["metrics"] = dict(getattr(record, "metrics", {}) or {})
    data.setdefault("metrics", {})
    data["metrics"] = {k: _json_value(v) for k, v in (data.get("metrics") or {}).items()}
    return data


def _json_value(value: Any) -> Any:
    number = as_float(value)
    return None if number is None else json_number(number)


def _finite(value: Any) -> float | None:
    number = as_float(value)
    return number if number is not None and math.isfinite(number) else None


def counts(records: list[dict[str, Any]]) -> dict[str, int]:
    result = {"total": len(records), "restored": 0, "skipped": 0, "failed": 0}
    for r in records:
        status = r.get("status")
        if status in result:
            result[status] += 1
    return result


def metric_means(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per metric: mean input and output value and the change, over restored images that have both finite."""
    rows = []
    for col in METRIC_COLUMNS:
        pairs = []
        for r in records:
            if r.get("status") != "restored":
                continue
            a, b = _finite(r["metrics"].get(col.key + "_in")), _finite(r["metrics"].get(col.key + "_out"))
            if a is not None and b is not None:
                pairs.append((a, b))
        if not pairs:
            continue
        mean_in = sum(a for a, _ in pairs) / len(pairs)
        mean_out = sum(b for _, b in pairs) / len(pairs)
        rows.append({"key": col.key, "label": col.label, "better": col.better, "digits": col.digits,
                     "input": mean_in, "output": mean_out, "change": mean_out - mean_in, "images": len(pairs)})
    return rows


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _metric_keys(records: list[dict[str, Any]]) -> list[str]:
    """Every metric key present, the known ones in a fixed order, then any others sorted."""
    present = {k for r in records for k in r["metrics"]}
    known = [f"{c.key}_{t}" for c in METRIC_COLUMNS for t in ("in", "out")]
    return [k for k in known if k in present] + sorted(present.difference(known))


def summary_payload(records: list[dict[str, Any]], run_info: Mapping[str, Any],
                    output_dir: Path | None = None) -> dict[str, Any]:
    return {
        "facerestore_summary": SUMMARY_FORMAT,
        # Where the outputs were: lets `facerestore report` find them again after the folder moved.
        "output_dir": os.path.abspath(output_dir) if output_dir is not None else None,
        "run": {k: _jsonable(v) for k, v in run_info.items()},
        "counts": counts(records),
        "means": metric_means(records),
        "images": records,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return json_number(value) if math.isfinite(value) or math.isinf(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)  # paths and the like


def write_summary_files(output_dir: Path, records: Iterable[Any], run_info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Write ``summary.json`` and ``summary.csv`` (every per-image number); returns the record dicts."""
    output_dir = Path(output_dir)
    rows = [record_dict(r) for r in records]
    try:
        _atomic_write(output_dir / SUMMARY_JSON,
                      json.dumps(summary_payload(rows, run_info, output_dir), indent=1, ensure_ascii=False, allow_nan=False))
        keys = _metric_keys(rows)
        with tempfile.SpooledTemporaryFile(mode="w+", newline="") as buf:
            writer = csv.writer(buf)
            writer.writerow(list(RECORD_FIELDS) + keys)
            for r in rows:
                writer.writerow([_csv_cell(r.get(f)) for f in RECORD_FIELDS] + [_csv_cell(r["metrics"].get(k)) for k in keys])
            buf.seek(0)
            _atomic_write(output_dir / SUMMARY_CSV, buf.read())
    except OSError as exc:
        raise OutputError(f"cannot write the run summary in {output_dir}: {exc}") from exc
    return rows


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else json_number(value)
    return value


def _link(rel: str) -> str:
    return quote(rel.replace(os.sep, "/"), safe="/")


def _html_image(record: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """One image's entry in the page's data: numbers plus relative links to the files that exist."""
    output = record.get("output")
    name = record.get("input") or output or "?"
    entry: dict[str, Any] = {
        "status": record.get("status") or "?", "error": record.get("error"), "seconds": _finite(record.get("seconds")),
        "width": record.get("width"), "height": record.get("height"), "metrics": record["metrics"], "files": {},
    }
    if output:
        files = report_files(output, output_dir)
        name = str(files.key)
        for kind in ("thumbnail", "before", "after", "comparison", "histogram"):
            rel = str(getattr(files, kind))
            if (output_dir / rel).is_file():  # link only what exists: no broken images in the page
                entry["files"][kind] = _link(rel)
        if os.path.isfile(output):
            entry["output_link"] = _link(os.path.relpath(os.path.abspath(output), os.path.abspath(output_dir)))
    entry["name"] = name
    return entry


def render_html(records: list[dict[str, Any]], run_info: Mapping[str, Any], output_dir: Path) -> str:
    """The self-contained report page (inline CSS and JS, data embedded as JSON)."""
    present = {k for r in records for k in r["metrics"]}
    columns = [{"key": f"{c.key}_{t}", "label": f"{c.label} {t}", "digits": c.digits}
               for c in METRIC_COLUMNS if c.in_table for t in ("in", "out") if f"{c.key}_{t}" in present]
    seconds = [s for r in records if r.get("status") == "restored" and (s := _finite(r.get("seconds"))) is not None]
    run = {k: _jsonable(v) for k, v in run_info.items()}
    if isinstance(run.get("started"), (int, float)):  # a time.time() stamp: show local time
        run["started"] = datetime.fromtimestamp(run["started"]).isoformat(sep=" ", timespec="seconds")
    data = {
        "run": run,
        "counts": counts(records),
        "means": metric_means(records),
        "mean_seconds": sum(seconds) / len(seconds) if seconds else None,
        "metrics": columns,
        "images": [_html_image(r, output_dir) for r in records],
    }
    # "<" escaped so no file name can close the <script> element that carries the data.
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    template = resources.files("facerestore.report").joinpath("assets/report.html").read_text(encoding="utf-8")
    return template.replace("__FACERESTORE_DATA__", blob)


def write_run_report(output_dir: Path, records: Iterable[Any], run_info: Mapping[str, Any]) -> Path:
    """Write ``report.html``, ``summary.csv`` and ``summary.json`` at the top of ``output_dir``.

    ``records`` are ``facerestore.summary.Record`` objects or their dicts; ``run_info`` carries what the page
    shows about the run, all optional: ``model``, ``provider``, ``seconds`` (wall time), ``started``,
    ``version``, ``reference``, plus anything else (kept in summary.json). Returns the path of report.html.
    """
    output_dir = Path(output_dir)
    rows = write_summary_files(output_dir, records, run_info)
    path = output_dir / REPORT_HTML
    try:
        _atomic_write(path, render_html(rows, run_info, output_dir))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc
    return path


def update_run_report(output_dir: Path, records: Iterable[Any], run_info: Mapping[str, Any],
                      replacing: Iterable[str] | None = None) -> Path:
    """Merge ``records`` into the folder's summary and rewrite the run report, one run at a time.

    ``replacing`` (a rebuild): the keys of the summary records that ``records`` were re-derived from; those are
    replaced whatever their paths are now, and only records written since by another run are kept beside them.
    The lock is an OS file lock (released if its holder dies) on a file beside the summary.
    """
    from filelock import FileLock, Timeout

    output_dir = Path(output_dir)
    lock_path = summary_lock_path(output_dir)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock_path, timeout=LOCK_TIMEOUT_S):
            if replacing is None:
                rows = merge_with_earlier(output_dir, records)
            else:
                rows = [record_dict(r) for r in records] + _written_since(output_dir, set(replacing))
            return write_run_report(output_dir, rows, run_info)
    except Timeout as exc:
        raise OutputError(f"{lock_path}: another run held it for {LOCK_TIMEOUT_S:.0f} s; "
                          f"rebuild the report later with 'facerestore report {output_dir}'") from exc
    except OSError as exc:
        raise OutputError(f"cannot lock {lock_path}: {exc}") from exc


def summary_lock_path(output_dir: Path) -> Path:
    return Path(output_dir) / REPORT_DIR_NAME / SUMMARY_LOCK


def record_key(record: Mapping[str, Any]) -> str:
    """What identifies an image's record across runs: its output path, else (failed before writing) its input."""
    return str(record.get("output") or record.get("input"))


def _written_since(output_dir: Path, known: set[str]) -> list[dict[str, Any]]:
    return [r for r in _earlier_records(output_dir) if record_key(r) not in known]


def _earlier_records(output_dir: Path) -> list[dict[str, Any]]:
    """The records of the summary already in ``output_dir``; none when it is missing or not a summary."""
    try:
        return read_summary(output_dir).records
    except (OSError, ValueError):
        return []


def merge_with_earlier(output_dir: Path, records: Iterable[Any]) -> list[dict[str, Any]]:
    """This run's records merged with the ``summary.json`` already in ``output_dir``.

    A resumed run skips what an earlier run restored, and a later ``--shard`` writes into the same folder:
    the report should still show every image. An image this run skipped keeps the earlier record (with its
    metrics) while its output still exists; any other record of this run replaces the earlier one for the
    same output; earlier records of images this run did not touch are kept. Keyed by output path.
    """
    current = [record_dict(r) for r in records]
    earlier = _earlier_records(output_dir)
    merged: dict[str, dict[str, Any]] = {}
    for record in earlier:
        key = record_key(record)
        if record.get("status") == "restored" and not Path(key).exists():
            continue  # its output is gone: nothing to show
        merged[key] = record
    for record in current:
        key = record_key(record)
        if record.get("status") == "skipped" and merged.get(key, {}).get("status") == "restored":
            continue
        merged[key] = record
    return list(merged.values())


@dataclass
class EarlierRun:
    records: list[dict[str, Any]]
    run_info: dict[str, Any]
    output_dir: Path | None  # where the outputs were when summary.json was written


def read_summary(output_dir: Path) -> EarlierRun:
    """Records and run information of an earlier run, from its ``summary.json``.

    Raises OSError when the file cannot be read and ValueError when it is not a facerestore summary.
    """
    path = Path(output_dir) / SUMMARY_JSON
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path} is not a facerestore summary")
    then = data.get("output_dir")
    return EarlierRun([record_dict(r) for r in data["images"] if isinstance(r, dict)], dict(data.get("run") or {}),
                      Path(then) if isinstance(then, str) else None)
