"""The per-run report: ``report.html`` (one self-contained page), ``summary.csv`` and ``summary.json``.

The HTML page embeds every number as one JSON blob and renders the table in pages from it, so it stays fast
with thousands of images; images are only referenced by relative links (thumbnails lazy-loaded, previews and
charts fetched when an image is opened), so the output folder can be copied or zipped as a whole.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path, PurePath
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from facerestore.atomic import write_atomic, write_csv, write_json
from facerestore.discovery import SUMMARY_JSON, SUMMARY_KEY, SUMMARY_LOCK, path_key, printable
from facerestore.errors import OutputError
from facerestore.imageio import output_error
from facerestore.summary import RECORD_FIELDS

from . import REPORT_DIR_NAME, ReportFiles, as_float, json_number, report_files

log = logging.getLogger(__name__)

REPORT_HTML, SUMMARY_CSV = "report.html", "summary.csv"
# Held while a run reads, merges and rewrites the summary: --shard jobs writing into one folder finish close
# together, and without it each would read the summary before the others wrote theirs, and the last to
# write would drop their images from the report.
# Kept in the per-image report folder (SUMMARY_LOCK), out of the way of the outputs; never deleted (a lock file
# removed while another run waits on it would let two runs in at once).
LOCK_TIMEOUT_S = 300.0
SUMMARY_FORMAT = 1


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

# summary.csv's flat columns for a record's ``damage`` dict: (column, key in the dict). Always present, empty where
# an image was not analysed (skipped, failed, or from a run before the analysis existed).
DAMAGE_CSV_COLUMNS = (
    ("damage_level", "level"), ("damage_kind", "kind"), ("jpeg_quality", "jpeg_quality"),
    ("jpeg_quality_source", "jpeg_quality_source"),
    ("table_quality", "table_quality"), ("chroma_quality", "chroma_quality"), ("subsampling", "subsampling"),
    ("double_compression", "double_compression"), ("pixel_quality", "pixel_quality"),
    ("blockiness", "blockiness"), ("effective_levels", "effective_levels"), ("banding", "banding"),
    ("pixelation", "pixelation"), ("strength", "strength"), ("unchanged_reason", "reason"),
    ("webp_index", "webp_index"), ("graphic", "graphic"), ("cost_quality", "cost_quality"),
)
# The damage column names banding and pixelation from these measures on (weaker ones are within what clean
# photos show).
BANDING_SHOWN = 0.05
PIXELATION_SHOWN = 1.5
# The images the report's metric means are over: every output written from its input.
WRITTEN = ("restored", "unchanged")


def record_dict(record: Any) -> dict[str, Any]:
    """A record (``facerestore.summary.Record`` or its dict) as a plain dict with JSON-safe metrics and its
    ``damage`` dict (None where the image was not analysed)."""
    if isinstance(record, Mapping):
        data = dict(record)
    else:
        data = {name: getattr(record, name, None) for name in RECORD_FIELDS}
        data["metrics"] = dict(getattr(record, "metrics", {}) or {})
        data["damage"] = getattr(record, "damage", None)
    data.setdefault("metrics", {})
    damage = data.get("damage")
    data["damage"] = dict(damage) if isinstance(damage, Mapping) else None
    data["metrics"] = {k: json_number(as_float(v)) for k, v in (data.get("metrics") or {}).items()}
    return data


def _finite(value: Any) -> float | None:
    number = as_float(value)
    return number if number is not None and math.isfinite(number) else None


def counts(records: list[dict[str, Any]]) -> dict[str, int]:
    result = {"total": len(records), "restored": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    for r in records:
        status = r.get("status")
        if status in result:
            result[status] += 1
    return result


def metric_means(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per metric: mean input and output value and the change, over written images (restored or unchanged: an
    unchanged image counts with no change) that have both finite."""
    rows = []
    for col in METRIC_COLUMNS:
        pairs = []
        for r in records:
            if r.get("status") not in WRITTEN:
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


def _metric_keys(records: list[dict[str, Any]]) -> list[str]:
    """Every metric key present, the known ones in a fixed order, then any others sorted."""
    present = {k for r in records for k in r["metrics"]}
    known = [f"{c.key}_{t}" for c in METRIC_COLUMNS for t in ("in", "out")]
    return [k for k in known if k in present] + sorted(present.difference(known))


def summary_payload(records: list[dict[str, Any]], run_info: Mapping[str, Any],
                    output_dir: Path | None = None) -> dict[str, Any]:
    return {
        SUMMARY_KEY: SUMMARY_FORMAT,
        # Where the outputs were: lets `facerestore report` find them again after the folder moved.
        "output_dir": os.path.abspath(output_dir) if output_dir is not None else None,
        "run": {k: _jsonable(v) for k, v in run_info.items()},
        "counts": counts(records),
        "means": metric_means(records),
        "images": records,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return json_number(value)
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
    path = output_dir / SUMMARY_JSON
    try:
        write_json(path, summary_payload(rows, run_info, output_dir))
        keys = _metric_keys(rows)
        damage_columns = [column for column, _ in DAMAGE_CSV_COLUMNS]
        path = output_dir / SUMMARY_CSV
        write_csv(path, list(RECORD_FIELDS) + damage_columns + keys,
                  ([_csv_cell(r.get(f)) for f in RECORD_FIELDS] + _damage_cells(r.get("damage"))
                   + [_csv_cell(r["metrics"].get(k)) for k in keys] for r in rows))
    except OSError as exc:  # the file and the reason in plain words, not the OS error's text
        raise output_error(f"cannot write {path}", exc) from None
    return rows


def _csv_cell(value: Any) -> Any:
    return json_number(value) if isinstance(value, float) else value


def _damage_cells(damage: Mapping[str, Any] | None) -> list[Any]:
    damage = damage or {}
    return [_csv_cell(damage.get(key)) for _, key in DAMAGE_CSV_COLUMNS]


def _link(rel: str) -> str:
    """A relative URL to a file: its name's own bytes percent-encoded, so a name that is not UTF-8 (kept by
    ``os.fsdecode`` as surrogates) still leads to its file."""
    return quote(os.fsencode(rel.replace(os.sep, "/")), safe="/")


def _input_roots(records: list[dict[str, Any]], output_dir: Path) -> list[PurePath]:
    """The input folders the outputs mirror, found from records that have both paths, deepest first.

    ``photos/2019/a.jpg`` written as ``OUTPUT/2019/a.jpg`` makes ``photos`` a root: a failed image under it is
    then named by its path there, the same form as the outputs' names.
    """
    roots: set[PurePath] = set()
    for record in records:
        if not (record.get("input") and record.get("output")):
            continue
        key = report_files(record["output"], output_dir).key
        folder = PurePath(os.path.abspath(record["input"])).parent
        depth = len(key.parts) - 1
        if key.parts[0] != "_external" and (depth == 0 or folder.parts[-depth:] == key.parts[:-1]):
            roots.add(folder.parents[depth - 1] if depth else folder)
    return sorted(roots, key=lambda root: len(root.parts), reverse=True)


def _name_under_roots(path: str, roots: list[PurePath]) -> str:
    absolute = PurePath(os.path.abspath(path))
    for root in roots:
        if absolute.is_relative_to(root):
            return absolute.relative_to(root).as_posix()
    return path


def _html_image(record: dict[str, Any], output_dir: Path, roots: list[PurePath]) -> dict[str, Any]:
    """One image's entry in the page's data: numbers plus relative links to the files that exist."""
    output = record.get("output")
    source = record.get("input")
    error = record.get("error")
    name = _name_under_roots(source, roots) if source else output or "?"
    entry: dict[str, Any] = {
        "status": record.get("status") or "?", "error": printable(error) if error else error,
        "seconds": _finite(record.get("seconds")),
        "width": record.get("width"), "height": record.get("height"), "metrics": record["metrics"], "files": {},
        "damage": record.get("damage"), "damage_label": damage_label(record.get("damage")),
    }
    if output:
        files = report_files(output, output_dir)
        name = str(files.key)
        for kind in ("thumbnail", "comparison", "histogram"):
            rel = str(getattr(files, kind))
            # Link only what exists: no broken images in the page. os.path.isfile: False for a path past the
            # system's limits (never written), where Path.is_file raises ENAMETOOLONG.
            if os.path.isfile(output_dir / rel):
                entry["files"][kind] = _link(rel)
        if os.path.isfile(output):
            entry["output_link"] = _link(os.path.relpath(os.path.abspath(output), os.path.abspath(output_dir)))
        _link_slider(entry, files, output_dir, source)
    # Shown as text: a name's undecodable bytes as \xNN, as on stderr (the links above keep the real bytes).
    entry["name"] = printable(name)
    if source:
        entry["input"] = printable(source)
    return entry


def _link_slider(entry: dict[str, Any], files: ReportFiles, output_dir: Path, source: str | None) -> None:
    """The slider's two sides: the drawn previews, else the input's copy and the output file itself
    (:func:`facerestore.report.image.input_as_preview`)."""
    if os.path.isfile(output_dir / files.before) and os.path.isfile(output_dir / files.after):
        entry["files"]["before"], entry["files"]["after"] = _link(str(files.before)), _link(str(files.after))
        return
    if "output_link" not in entry:
        return
    for copy in files.input_copies:
        if _is_copy_of(output_dir / copy, source):
            entry["files"]["before"] = _link(str(copy))
            entry["files"]["after"] = entry["output_link"]
            return


def _is_copy_of(copy: Path, source: str | None) -> bool:
    """Whether ``copy`` can stand for the input file: it has the input's size. A copy cut short (a full disk
    while an older version copied without a temporary) is not shown as the input, in this run or a later one;
    neither is one whose input cannot be found to vouch for it."""
    try:
        return source is not None and os.path.getsize(copy) == os.path.getsize(source)
    except OSError:
        return False


def damage_label(damage: Mapping[str, Any] | None) -> str | None:
    """The report's damage column: what the analysis found and what was done ("JPEG q23 (tables) · strength
    0.85", "clean · unchanged"); None for an image that was not analysed."""
    if not damage:
        return None
    found = []
    if damage.get("jpeg_quality") is not None:
        found.append(f"JPEG q{damage['jpeg_quality']} ({damage.get('jpeg_quality_source') or '?'})")
    webp = _finite(damage.get("webp_index"))
    if webp is not None:
        found.append(f"WebP index {webp:.0f}")
    banding, levels = _finite(damage.get("banding")), _finite(damage.get("effective_levels"))
    if banding is not None and banding >= BANDING_SHOWN and levels is not None:
        found.append(f"banding ({levels:.0f} levels)")
    pixelation = _finite(damage.get("pixelation"))
    if pixelation is not None and pixelation >= PIXELATION_SHOWN:
        found.append(f"pixelated ({pixelation:.0f} px)")
    strength = _finite(damage.get("strength"))
    done = "unchanged" if damage.get("reason") else f"strength {strength:.2f}" if strength is not None else None
    return " · ".join([", ".join(found) or "clean"] + ([done] if done else []))


def render_html(records: list[dict[str, Any]], run_info: Mapping[str, Any], output_dir: Path) -> str:
    """The self-contained report page (inline CSS and JS, data embedded as JSON)."""
    present = {k for r in records for k in r["metrics"]}
    columns = [{"key": f"{c.key}_{t}", "label": f"{c.label} {t}", "digits": c.digits}
               for c in METRIC_COLUMNS if c.in_table for t in ("in", "out") if f"{c.key}_{t}" in present]
    seconds = [s for r in records if r.get("status") == "restored" and (s := _finite(r.get("seconds"))) is not None]
    restored_now = run_info.get("restored")
    # The per-image time is over every restored image listed, the run time this run's: say when they differ.
    seconds_from = None
    if isinstance(restored_now, int) and seconds and restored_now < len(seconds):
        seconds_from = "earlier runs" if restored_now == 0 else "this and earlier runs"
    run = {k: _jsonable(v) for k, v in run_info.items()}
    roots = _input_roots(records, output_dir)
    if isinstance(run.get("started"), (int, float)):  # a time.time() stamp: show local time
        run["started"] = datetime.fromtimestamp(run["started"]).isoformat(sep=" ", timespec="seconds")
    data = {
        "run": run,
        "counts": counts(records),
        "means": metric_means(records),
        "mean_seconds": sum(seconds) / len(seconds) if seconds else None,
        "mean_seconds_from": seconds_from,
        "metrics": columns,
        "images": [_html_image(r, output_dir, roots) for r in records],
    }
    # "<" escaped so no file name can close the <script> element that carries the data; undecodable name bytes
    # left elsewhere (the command line) become \udcXX escapes, which keep the page valid UTF-8.
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    blob = blob.encode("utf-8", "backslashreplace").decode("utf-8")
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
        write_atomic(path, render_html(rows, run_info, output_dir))
    except OSError as exc:
        raise output_error(f"cannot write {path}", exc) from None
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
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:  # said, or the run would seem to hang at its end
            log.warning("another run is writing the report in %s: waiting for it (at most %.0f s)", output_dir,
                        LOCK_TIMEOUT_S)
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        try:
            if replacing is None:
                rows = merge_with_earlier(output_dir, records)
            else:  # what was written since is newer than what the rebuild read
                rows = merge_records(records, _written_since(output_dir, set(replacing)), keep_moved=True)
            return write_run_report(output_dir, rows, run_info)
        finally:
            lock.release()
    except Timeout as exc:
        raise OutputError(f"{lock_path}: another run held it for {LOCK_TIMEOUT_S:.0f} s; "
                          f"rebuild the report later with 'facerestore report {output_dir}'") from exc
    except OSError as exc:
        raise output_error(f"cannot lock {lock_path}", exc) from exc


def summary_lock_path(output_dir: Path) -> Path:
    return Path(output_dir) / REPORT_DIR_NAME / SUMMARY_LOCK


def record_key(record: Mapping[str, Any]) -> str:
    """What identifies an image's record across runs: its output path, else (failed before writing) its input."""
    return str(record.get("output") or record.get("input"))


def _written_since(output_dir: Path, known: set[str]) -> list[dict[str, Any]]:
    # The rebuild warned of the records it left out when it read this summary.
    return [r for r in _earlier_records(output_dir, warn=False) if record_key(r) not in known]


def _earlier_records(output_dir: Path, warn: bool = True) -> list[dict[str, Any]]:
    """The records of the summary already in ``output_dir``; none when it is missing or not a summary."""
    try:
        earlier = read_summary(output_dir)
    except (OSError, ValueError):
        return []
    if warn:
        for problem in earlier.left_out:
            log.warning("%s", problem)
    return earlier.records


def merge_with_earlier(output_dir: Path, records: Iterable[Any]) -> list[dict[str, Any]]:
    """This run's records merged with the ``summary.json`` already in ``output_dir``.

    A resumed run skips what an earlier run restored, and a later ``--shard`` writes into the same folder:
    the report should still show every image. An image this run skipped keeps the earlier record (with its
    metrics) while its output still exists; any other record of this run replaces the earlier one for the
    same output; earlier records of images this run did not touch are kept. Keyed by output path, one outcome
    per input (:func:`merge_records`). An image left unchanged is an output like a restored one.
    """
    return merge_records(_earlier_records(output_dir), records)


# Ends the error of a failed record whose input has an output an earlier run wrote, still on disk (its ``output``).
KEPT_OUTPUT_NOTE = "; its output from an earlier run is left as it was"


def merge_records(earlier: Iterable[Any], later: Iterable[Any], keep_moved: bool = False) -> list[dict[str, Any]]:
    """``later`` records over ``earlier`` ones, as :func:`merge_with_earlier` merges a run into its summary;
    ``keep_moved`` keeps earlier records whose output is not where they say (a rebuild finds moved folders).

    Each input shows its latest outcome. A record with an output (written, or skipped as written) replaces the
    input's earlier failure: a file that failed, was replaced and then restored no longer shows the failure
    beside the success. A failure replaces the input's latest record with an output still on disk (a file
    restored, then unreadable when redone with ``--overwrite``): the record becomes the failure, but keeps
    naming that output, which the failed run left as it was, and says so (:data:`KEPT_OUTPUT_NOTE`); a skip
    keeps it, as it keeps a written record. Such a failure whose output has gone since is a failure alone.
    """
    merged = _Merged()
    for record in map(record_dict, earlier):
        output = record.get("output")
        if output and not keep_moved and record.get("status") != "skipped" and not Path(output).exists():
            if record.get("status") in WRITTEN:
                continue  # its output is gone: nothing to show
            record["output"], record["error"] = None, _without_note(record.get("error"))
        merged.put(record)
    for record in map(record_dict, later):
        if record.get("status") == "failed" and not record.get("output"):
            kept = merged.kept_output(record, keep_moved)
            if kept is not None:  # what is on disk for this input came from an earlier run
                record["output"], record["error"] = kept, f"{record.get('error') or 'failed'}{KEPT_OUTPUT_NOTE}"
        earlier_record = merged.records.get(record_key(record))
        if not (record.get("status") == "skipped" and earlier_record is not None
                and earlier_record.get("status") in (*WRITTEN, "failed")):  # a skip keeps its output's record
            merged.put(record)
        if record.get("output"):
            merged.drop_failures(record)
    return list(merged.records.values())


def _without_note(error: Any) -> Any:
    if isinstance(error, str) and error.endswith(KEPT_OUTPUT_NOTE):
        return error[:-len(KEPT_OUTPUT_NOTE)]
    return error


def _input_key(record: Mapping[str, Any]) -> str:
    """One key for every spelling of a record's input (relative to this run's folder, as the merge's outputs)."""
    return path_key(str(record.get("input")))


class _Merged:
    """Records by :func:`record_key`, in order, with the keys of each input's records, latest last."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._by_input: dict[str, dict[str, None]] = {}

    def put(self, record: dict[str, Any]) -> None:
        key = record_key(record)
        old = self.records.get(key)
        if old is not None:
            self._by_input.get(_input_key(old), {}).pop(key, None)
        self.records[key] = record  # a replaced record keeps its place in the report
        self._by_input.setdefault(_input_key(record), {})[key] = None

    def kept_output(self, record: Mapping[str, Any], keep_moved: bool) -> str | None:
        """The output of the input's latest record that names one still on disk, or None."""
        for key in reversed(self._by_input.get(_input_key(record), {})):
            output = self.records[key].get("output")
            if output and (keep_moved or os.path.isfile(output)):
                return output
        return None

    def drop_failures(self, record: Mapping[str, Any]) -> None:
        """Remove the input's failures that name no output: ``record``, with one, is newer."""
        keys = self._by_input.get(_input_key(record), {})
        for key in [k for k in keys if self.records[k].get("status") == "failed" and not self.records[k].get("output")]:
            del self.records[key]
            del keys[key]


class EarlierOutputs:
    """Which input each existing output was written from, as the summaries of earlier runs (and the journals of
    runs killed outright) record it: read from the folders above the output, nearest first, once each.

    A run into a folder that earlier runs wrote with another ``--format`` may map an input to the name of another
    input's output (``a.jpg`` restored as ``a.png``, then the input ``a.png``): the path alone cannot tell."""

    def __init__(self) -> None:
        self._folders: dict[str, dict[str, str]] = {}

    def input_of(self, output: str | os.PathLike[str]) -> str | None:
        """The input recorded for ``output``, or None where no record names it."""
        path = os.path.abspath(output)
        folder = os.path.dirname(path)
        while True:
            found = self._records(folder).get(path)
            if found is not None:
                return found
            above = os.path.dirname(folder)
            if above == folder:
                return None
            folder = above

    def _records(self, folder: str) -> dict[str, str]:
        if folder not in self._folders:
            self._folders[folder] = _outputs_recorded_in(Path(folder))
        return self._folders[folder]


def _outputs_recorded_in(folder: Path) -> dict[str, str]:
    """{absolute output: input} of the outputs recorded in ``folder``'s summary and unclaimed journals: written
    images, and failures that name the output an earlier run wrote from their input."""
    from .journal import orphaned

    records: list[dict[str, Any]] = []
    if (folder / SUMMARY_JSON).is_file():
        records += _earlier_records(folder, warn=False)
    if (folder / REPORT_DIR_NAME).is_dir():
        records += orphaned(folder / REPORT_DIR_NAME)[0]  # killed runs: newer than the summary
    # A failure naming an output: the one an earlier run wrote from that input, which the failed run left.
    return {os.path.abspath(r["output"]): r["input"] for r in records
            if r.get("status") in (*WRITTEN, "failed") and r.get("output")}


@dataclass
class EarlierRun:
    records: list[dict[str, Any]]
    run_info: dict[str, Any]
    output_dir: Path | None  # where the outputs were when summary.json was written
    left_out: list[str] = field(default_factory=list)  # the records that could not be used, each said why


def read_summary(output_dir: Path) -> EarlierRun:
    """Records and run information of an earlier run, from its ``summary.json``.

    Raises OSError when the file cannot be read and ValueError when it is not a facerestore summary. A record
    the report cannot use (:func:`record_problem`) is left out, and said why in ``left_out``, for the caller
    to warn of; the others still count.
    """
    path = Path(output_dir) / SUMMARY_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:  # nested deeper than Python's parser goes: no summary of ours
        raise ValueError("not a facerestore summary (nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError("not a facerestore summary")
    run = data.get("run")
    if run is not None and not isinstance(run, dict):
        raise ValueError(f'its "run" is {_json_type(run)}, not an object')
    records, left_out = [], []
    for number, record in enumerate(data["images"], 1):
        problem = record_problem(record)
        if problem is None:
            records.append(record_dict(record))
        else:
            left_out.append(f"{printable(str(path))}: image {number} left out of the report: {problem}")
    then = data.get("output_dir")
    return EarlierRun(records, dict(run or {}), Path(then) if isinstance(then, str) else None, left_out)


# The fields of a record read back that the report uses, with their types (bool is never one: JSON true is no
# number here); a hand-edited or damaged file may hold anything, and one wrong type would stop the whole report.
_TEXT, _NUMBER, _WHOLE, _OBJECT = ((str, "a string"), ((int, float), "a number"), (int, "a whole number"),
                                   (dict, "an object"))
_RECORD_TYPES = (  # (field, (types, what they are called), null or missing allowed)
    ("status", _TEXT, False), ("input", _TEXT, False), ("output", _TEXT, True), ("error", _TEXT, True),
    ("width", _WHOLE, True), ("height", _WHOLE, True), ("seconds", _NUMBER, True),
    ("metrics", _OBJECT, True), ("damage", _OBJECT, True),
)
_JSON_TYPES = ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "an array"),
               (dict, "an object"))


def record_problem(record: Any) -> str | None:
    """Why a record read back from ``summary.json`` or a journal cannot be reported, or None when it can."""
    if not isinstance(record, dict):
        return f"it is {_json_type(record)}, not an object"
    for name, (types, wanted), nullable in _RECORD_TYPES:
        value = record.get(name)
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            return f'its "{name}" is {_json_type(value)}, not {wanted}' + (" or null" if nullable else "")
    for name, value in (record.get("metrics") or {}).items():
        if value is not None and as_float(value) is None:  # numbers, "inf" (JSON has no infinity) or null
            return f'its metric "{name}" is {_json_type(value)}, not a number'
    return None


def _json_type(value: Any) -> str:
    """What JSON calls the type of a value it was parsed from, for messages."""
    if value is None:
        return "null"
    return next((name for types, name in _JSON_TYPES if isinstance(value, types)), type(value).__name__)
