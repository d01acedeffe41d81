"""ONNX Runtime session settings chosen by measurement, one factor at a time from the engine's settings.

Each variant builds its own session on the same model and input and is timed back to back with the
baseline (the settings ``facerestore/session.py`` uses), so the ratios are taken in the same run.
Throughput is what matters for an archive, so every figure is in pixels per second of the same work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .flops import conv_cost
from .measure import sample
from .modelonly import face_batch


@dataclass(frozen=True)
class Settings:
    opt_level: str = "all"        # disable | basic | extended | all
    intra_threads: int = 1        # as facerestore/session.py on the CPU: one thread per run...
    arena: bool = True
    spinning: bool = True
    streams: int = 2              # ...and one run per core at once (the engine runs tiles of one image)
    batch: int = 1                # same-size images stacked into one run
    label: str = field(default="engine default", compare=False)


def _session(path: Path, s: Settings):
    import onnxruntime as ort

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = levels[s.opt_level]
    opts.intra_op_num_threads = s.intra_threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = s.arena
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if s.spinning else "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _throughput(path: Path, s: Settings, size: int, images: int, repeats: int) -> dict:
    """Seconds to push ``images`` same-size images through; several streams share the work."""
    channels = int(_session(path, Settings()).get_inputs()[0].shape[1])
    sessions = [_session(path, s) for _ in range(s.streams)]
    x = face_batch(size, channels, s.batch)
    runs_per_stream = max(1, images // (s.batch * s.streams))

    def stream(sess) -> None:
        for _ in range(runs_per_stream):
            sess.run(["output"], {"input": x})

    def all_streams() -> None:
        if s.streams == 1:
            stream(sessions[0])
            return
        workers = [threading.Thread(target=stream, args=(sess,)) for sess in sessions]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    done = runs_per_stream * s.batch * s.streams
    samples = sample(all_streams, repeats)
    return {"images": done, "seconds_per_image": samples.median / done, **samples.as_dict()}


def variants(threads: int) -> list[Settings]:
    base = Settings(intra_threads=1, streams=threads, label=f"engine default: {threads} x 1-thread streams")
    out = [base]
    for level in ("disable", "basic", "extended"):
        out.append(replace(base, opt_level=level, label=f"graph optimisation {level}"))
    out.append(replace(base, arena=False, label="memory arena off"))
    if threads > 1:
        one = replace(base, intra_threads=threads, streams=1)
        out.append(replace(one, label=f"1 stream x {threads} intra-op threads, spinning on"))
        out.append(replace(one, spinning=False, label=f"1 stream x {threads} intra-op threads, spinning off"))
        out.append(replace(base, streams=1, label="1 stream x 1 thread"))
    return out


def tune(path: Path, size: int, small_size: int, batch: int, threads: int, quick: bool) -> dict:
    """Single-factor variants at ``size``, and batching of ``batch`` images at ``small_size`` (where it can pay)."""
    cost = conv_cost(path)
    repeats = 2 if quick else 3
    images = threads  # enough work for every stream variant to be busy
    results = []
    for s in variants(threads):
        r = _throughput(path, s, size, images, repeats)
        r["gflops"] = cost.flops(size, size) / r["seconds_per_image"] / 1e9
        results.append({"label": s.label, "settings": s.__dict__ | {}, **r})
    base = results[0]["seconds_per_image"]
    for r in results:
        r["speedup_vs_default"] = base / r["seconds_per_image"]

    one = _throughput(path, Settings(streams=threads, label="one at a time"), small_size, batch, repeats)
    stacked = _throughput(path, Settings(streams=threads, batch=batch // threads or 1), small_size, batch, repeats)
    batching = {"size": small_size, "batch": batch,
                "one_at_a_time_s_per_image": one["seconds_per_image"],
                "batched_s_per_image": stacked["seconds_per_image"],
                "speedup": one["seconds_per_image"] / stacked["seconds_per_image"]}
    return {"model": path.stem, "size": size, "variants": results, "batching": batching,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def batched_equals_single(path: Path, size: int = 64, batch: int = 3) -> float:
    """Max abs difference between a stacked run and one-at-a-time runs (a sanity check stored with the result)."""
    sess = _session(path, Settings())
    channels = int(sess.get_inputs()[0].shape[1])
    x = np.random.default_rng(1).random((batch, channels, size, size), dtype=np.float32)
    stacked = sess.run(["output"], {"input": x})[0]
    single = np.concatenate([sess.run(["output"], {"input": x[i:i + 1]})[0] for i in range(batch)])
    return float(np.abs(stacked - single).max())
