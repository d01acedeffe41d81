"""Markdown tables from the results JSON, and the regeneration of the results block in benchmarks/README.md."""

from __future__ import annotations

import re
from pathlib import Path



def _f(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def _mark(ok: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[ok]


def render(results: dict) -> str:
    m, peak = results["machine"], results["peak"]
    lines = [f"Measured {results['finished']} with `{results['command']}`"
             + (" (**quick mode: not representative**)" if results["quick"] else "") + ".", ""]
    blas = m["numpy_blas"]
    lines += [
        f"- CPU: {m['cpu_model']}, {m['usable_cpus']} logical CPUs ({', '.join(m['simd'])}), "
        f"{m['threads_used']} threads used; load average at start {', '.join(f'{x:.1f}' for x in m['load_average'])}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- fp32 peak ({peak['n']}³ matmul, median): numpy/{blas.get('name')} kernel {blas.get('kernel', '?')} "
        f"(OPENBLAS_CORETYPE={blas.get('OPENBLAS_CORETYPE')}) **{_f(peak['numpy']['gflops'], 1)} GFLOP/s**"
        + (f", torch/MKL **{_f(peak['torch']['gflops'], 1)} GFLOP/s**" if "torch" in peak else "")
        + f"; fractions below use the larger, {_f(peak['peak_gflops'], 1)} GFLOP/s.",
    ]
    if any(mo["stand_in"] for mo in results["models"]):
        lines.append("- Some models were stand-ins (shipped architecture, identity-init weights): timings valid, "
                     "pixels not.")
    lines += ["", "### Targets", "", "| target | value | status |", "|---|---|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['value']} | {_mark(t['met'])} |")

    streams = next((r.get("streams") for mo in results["models"] for r in mo["model_only"]), None)
    lines += ["", "### Model only (one image)", "",
              f"ORT = the engine's path ({streams or '?'} concurrent single-threaded runs on tiles of the image, "
              "context rows recomputed); ORT one run = one `session.run` over the whole image on all threads.", "",
              "| model | px | GFLOP | ORT s | ORT GFLOP/s | ORT % peak | ORT one run % peak | torch s | torch GFLOP/s "
              "| torch % peak | ORT ÷ torch speed | peak RSS ORT MB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for mo in results["models"]:
        for r in mo["model_only"]:
            t = r.get("torch", {})
            single = r.get("ort_one_run", {})
            lines.append(f"| {mo['name']} | {r['size']} | {_f(r['gflop'], 1)} | {_f(r['ort']['median_s'], 3)} | "
                         f"{_f(r['ort']['gflops'], 1)} | {_pct(r['ort']['fraction_of_peak'])} | "
                         f"{_pct(single.get('fraction_of_peak'))} | "
                         f"{_f(t.get('median_s'), 3)} | {_f(t.get('gflops'), 1)} | {_pct(t.get('fraction_of_peak'))} | "
                         f"{_f(r.get('ort_speedup_vs_torch'))} | {_f(r['ort']['peak_rss_mb'], 0)} |")

    e2e = [(mo["name"], mo["end_to_end"]) for mo in results["models"] if mo.get("end_to_end")]
    e2e += [(f"{mo['name']} (--no-report)", mo["end_to_end_no_report"]) for mo in results["models"]
            if mo.get("end_to_end_no_report")]
    if e2e:
        lines += ["", "### End to end: `facerestore enhance` on a folder of real JPEGs", "",
                  "| model | images | px | images/s | MP/s | s/image (steady) | model-only s | e2e ÷ model-only "
                  "| start-up + first image s | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, e in e2e:
            lines.append(f"| {name} | {e['images']} | {e['side']} | {_f(e['images_per_s'], 3)} | "
                         f"{_f(e['mp_per_s'], 3)} | "
                         f"{_f(e['steady_s_per_image'], 3)} | {_f(e.get('model_only_s'), 3)} | "
                         f"{_f(e.get('ratio_to_model_only'))} | {_f(e['startup_and_first_s'], 2)} | "
                         f"{_f(e['peak_rss_mb'], 0)} |")

    tuning = results.get("tuning")
    if tuning:
        lines += ["", f"### ONNX Runtime settings ({tuning['model']}, {tuning['size']} px, one factor at a time)", "",
                  "| variant | s/image | GFLOP/s | vs engine default |", "|---|---|---|---|"]
        for v in tuning["variants"]:
            lines.append(f"| {v['label']} | {_f(v['seconds_per_image'], 3)} | {_f(v['gflops'], 1)} | "
                         f"{_f(v['speedup_vs_default'])}× |")
        b = tuning["batching"]
        lines += ["", f"Batching {b['batch']} images of {b['size']} px in one run: "
                      f"{_f(b['batched_s_per_image'], 4)} s/image vs {_f(b['one_at_a_time_s_per_image'], 4)} one at a "
                      f"time ({_f(b['speedup'])}×)."]

    int8 = [(mo["name"], mo["int8"]) for mo in results["models"] if mo.get("int8")]
    if int8:
        lines += ["", "### int8 (QDQ, static calibration on real faces) vs fp32", "",
                  "| model | px | fp32 s | int8 s | speed-up | val PSNR fp32 | val PSNR int8 | Δ dB |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, q in int8:
            for r in q["rows"]:
                acc = q.get("accuracy") or {}
                lines.append(f"| {name} | {r['size']} | {_f(r['fp32_s'], 3)} | {_f(r['int8_s'], 3)} | "
                             f"{_f(r['speedup'])}× | {_f(acc.get('psnr_fp32'))} | {_f(acc.get('psnr_int8'))} | "
                             f"{_f(acc.get('delta_db'), 3)} |")
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, block: str, marker: str = "results") -> None:
    """Replace the text between ``<!-- marker:start/end -->`` (append the block when they are missing)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    new = f"{start}\n{block}{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: new, text, flags=re.S)
    else:
        text = text.rstrip() + ("\n\n" if text else "") + new + "\n"
    readme.write_text(text, encoding="utf-8")
