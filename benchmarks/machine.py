"""What the numbers were measured on, and the machine's own fp32 peak (a large matrix product)."""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

import numpy as np

from .measure import sample


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key and key not in info:
                info[key] = value.strip()
    except OSError:
        pass
    return info


def _numpy_blas() -> dict[str, object]:
    """Which BLAS numpy calls and which kernel it picked (OpenBLAS chooses per CPU unless OPENBLAS_CORETYPE)."""
    blas: dict[str, object] = {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
    try:
        dep = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas.update(name=dep.get("name"), version=dep.get("version"))
    except Exception:  # noqa: BLE001 - purely descriptive; older numpy has no dict mode
        pass
    try:
        from threadpoolctl import threadpool_info

        blas["threadpools"] = threadpool_info()
        return blas
    except ImportError:
        pass
    # No threadpoolctl: ask the loaded OpenBLAS itself (symbol names carry scipy-openblas's suffix).
    libs = sorted({line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                   if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    for lib_path in libs:
        lib = ctypes.CDLL(lib_path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", ""), ("scipy_openblas", "")):
            fn = getattr(lib, f"{prefix}_get_corename{suffix}", None)
            if fn is None:
                continue
            fn.restype = ctypes.c_char_p
            threads = getattr(lib, f"{prefix}_get_num_threads{suffix}")
            threads.restype = ctypes.c_int
            blas.update(library=lib_path, kernel=fn().decode(), threads=threads())
            return blas
    return blas


def describe(threads: int) -> dict[str, object]:
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    import onnxruntime as ort

    versions = {"python": sys.version.split()[0], "numpy": np.__version__, "onnxruntime": ort.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    return {
        "cpu_model": cpu.get("model name", platform.processor() or platform.machine()),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "simd": sorted(f for f in flags if f in {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni",
                                                 "avx512_bf16", "amx_tile"}),
        "cpu_mhz": cpu.get("cpu MHz"),
        "threads_used": threads,
        "platform": platform.platform(),
        "versions": versions,
        "ort_providers": ort.get_available_providers(),
        "numpy_blas": _numpy_blas(),
        "load_average": os.getloadavg(),
    }


def fp32_peak(n: int, repeats: int, threads: int) -> dict[str, object]:
    """GFLOP/s of an n x n x n float32 matrix product: numpy (its BLAS) and torch (MKL), medians.

    The larger of the two is the peak every other figure is a fraction of: the stricter yardstick.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flop = 2.0 * n ** 3
    out: dict[str, object] = {"n": n, "flop": flop}
    s = sample(lambda: a @ b, repeats)
    out["numpy"] = {"gflops": flop / s.median / 1e9, **s.as_dict()}
    try:
        import torch

        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        s = sample(lambda: ta @ tb, repeats)
        out["torch"] = {"gflops": flop / s.median / 1e9, **s.as_dict()}
    except ImportError:
        pass
    out["peak_gflops"] = max(v["gflops"] for k, v in out.items() if isinstance(v, dict))
    return out
