"""The CUDA path: IO binding, batches and tiles sized to the card's free memory.

No onnxruntime import here (the rule is: only session.py imports it); everything works on the session
an ``OnnxModel`` already holds. The GPU pays for every host<->device copy and every allocation, so:

- ``BoundModel`` binds the input once per run and lets ONNX Runtime allocate the output on the device, then
  copies it back once (plain ``session.run`` with numpy arguments does the same copies plus a staging copy).
- ``tile_for_memory`` sizes tiles (and batches of them) from the free memory the driver reports, instead of
  the CPU's fixed 1 GiB budget: a 24 GB card restores a 4096 px photo in one run.

Which file runs on the card (the fp16 build under ``--precision auto``) is decided by
:mod:`facerestore.model_choice` before this module sees the session.
"""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
from dataclasses import dataclass, fields

import numpy as np

from facerestore import contract
from facerestore.restore import BYTES_PER_PIXEL, MIN_TILE
from facerestore.session import CUDA, OnnxModel

# Share of the free device memory one run may use: cuDNN picks workspace-hungry algorithms, and other
# processes (a desktop, another job) may allocate while we run.
USABLE_FRACTION = 0.5
# cuDNN indexes a tensor with 32-bit integers: a 4096 px BigCNN run (128 x 4096 x 4096 = 2**31 activations)
# failed with CUDNN_STATUS_NOT_SUPPORTED on an H200, whatever the free memory.
CUDNN_MAX_ELEMENTS = 2**31 - 1
# Measured on an H200 (benchmarks/README.md): BigCNN ran fastest per pixel on 1024 px windows (67 TFLOP/s,
# against 48-60 at 2048 px), so a card with memory to spare still gets tiles of this size.
MAX_CARD_TILE = 1024
_CUDART_NAMES = ("libcudart.so", "libcudart.so.12", "libcudart.so.13", "libcudart.so.11.0", "cudart64_12.dll")


def cuda_memory(device_id: int = 0) -> tuple[int, int] | None:
    """(free, total) bytes of a CUDA device, from the CUDA runtime, else nvidia-smi; None when unknown."""
    for name in _CUDART_NAMES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        if lib.cudaSetDevice(device_id) == 0 and lib.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)) == 0:
            return free.value, total.value
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=memory.free,memory.total", "--format=csv,noheader,nounits",
                                  f"--id={device_id}"], capture_output=True, text=True, timeout=10, check=True)
            free_mib, total_mib = (int(v) for v in out.stdout.split(","))
            return free_mib * 2**20, total_mib * 2**20
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    return None


def tile_for_memory(free_bytes: int, radius: int, bytes_per_pixel: int = BYTES_PER_PIXEL, batch: int = 1,
                    usable: float = USABLE_FRACTION, max_tile: int = MAX_CARD_TILE) -> int:
    """The largest tile core (a multiple of 32, at most ``max_tile``) whose ``batch`` windows fit in ``usable`` x
    ``free_bytes`` and keep every activation under cuDNN's 2**31 elements.

    The widest layer is bounded by ``bytes_per_pixel / 4`` channels (float32), so the element limit holds for
    any model whose memory per pixel the budget covers.
    """
    by_memory = math.isqrt(int(free_bytes * usable) // (bytes_per_pixel * batch))
    by_index = math.isqrt(CUDNN_MAX_ELEMENTS // (bytes_per_pixel // 4 * batch))
    core = (min(by_memory, by_index) - 2 * radius) // 32 * 32
    return max(MIN_TILE, min(max_tile, core))


@dataclass
class BoundModel(OnnxModel):
    """An ``OnnxModel`` whose ``run`` goes through IO binding; same contract (NCHW float32 in and out, not clamped).

    The output is allocated by ONNX Runtime where the provider computes it ("cuda" or "cpu") and copied back once.
    """

    device_id: int = 0

    @classmethod
    def wrap(cls, model: OnnxModel, device_id: int = 0) -> BoundModel:
        bound = cls(**{f.name: getattr(model, f.name) for f in fields(OnnxModel)})
        bound.device_id = device_id
        return bound

    def run(self, batch: np.ndarray, strength: float = 1.0) -> np.ndarray:
        device = "cuda" if self.provider == CUDA else "cpu"
        binding = self._session.io_binding()
        binding.bind_cpu_input(contract.INPUT_NAME, np.ascontiguousarray(batch, dtype=np.float32))
        if self.condition is not None:
            binding.bind_cpu_input(self.condition, np.full((batch.shape[0], 1), strength, np.float32))
        binding.bind_output(contract.OUTPUT_NAME, device, self.device_id)
        binding.synchronize_inputs()
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)


def restore_on_gpu(model: OnnxModel, pixels: np.ndarray, batch_tiles: int = 4, device_id: int = 0) -> np.ndarray:
    """``restore.restore_pixels`` with tiles sized to the card and runs bound to the device.

    Uses the engine's exact tiling (identical pixels to a whole-image run); only the tile size and the runner
    differ. Falls back to the CPU budget's tile when the free memory cannot be read.
    """
    from facerestore import restore

    return restore.restore_pixels(BoundModel.wrap(model, device_id), pixels,
                                  tile=_card_tile(model, device_id, batch_tiles))


def _card_tile(model: OnnxModel, device_id: int, batch: int) -> int | None:
    """Tile sized to the card's free memory; None (the CPU budget) off CUDA or when the memory is unknown."""
    memory = cuda_memory(device_id) if model.provider == CUDA else None
    return tile_for_memory(memory[0], model.receptive_radius, batch=batch) if memory else None


def for_device(model: OnnxModel, tile: int | None, device_id: int = 0) -> tuple[OnnxModel, int | None]:
    """The model and tile size a run should use on the provider that really runs.

    On CUDA: IO binding and (unless the user chose ``--tile``) tiles sized to the card's free memory. On the
    CPU: unchanged. Called once per run by every engine, so the per-image path stays the same.
    """
    if model.provider != CUDA:
        return model, tile
    if tile is None:
        tile = _card_tile(model, device_id, batch=1)
    return BoundModel.wrap(model, device_id), tile

