"""The model contract: what an ONNX file must look like for facerestore to run it.

Shared by the runtime (which validates models) and ``export/`` (which writes them), so the two
cannot drift apart. The ``.onnx`` file is the only thing that crosses the boundary.
"""

from __future__ import annotations

CONTRACT_VERSION = "1"
INPUT_NAME = "input"
OUTPUT_NAME = "output"
# Layout NCHW, float32, values in [0, 1]; 3 channels (RGB) or 1 (grayscale / luminance).
ALLOWED_CHANNELS = (1, 3)

# Metadata properties written by ``python -m export onnx`` and read back by the runtime.
META_CONTRACT = "facerestore.contract"
META_ARCH = "facerestore.arch"
META_PARAMS = "facerestore.params"
META_CHANNELS = "facerestore.channels"
META_RECEPTIVE = "facerestore.receptive_radius"
META_TRAINING_DATA = "facerestore.training_data"
META_DEGRADATION = "facerestore.degradation"
META_EPOCHS = "facerestore.epochs"
META_VAL_PSNR = "facerestore.val_psnr"
META_VAL_SSIM = "facerestore.val_ssim"
META_DATE = "facerestore.date"
META_DESCRIPTION = "facerestore.description"
# Optional, for a model told how damaged its input is (facerestore.damage.levels): the name of its second input,
# a float32 (N, 1) tensor, and the range it was trained on ("0 1"). Models without it take the image alone.
META_CONDITION_INPUT = "facerestore.condition_input"
META_CONDITION_RANGE = "facerestore.condition_range"
# Optional: height and width must be multiples of this (a model that folds pixels into channels); the runtime
# pads the whole image once, edge-replicated, and cuts tiles on this grid, so tiling stays exact.
META_MULTIPLE = "facerestore.size_multiple"
# Optional: the peak working memory of one CPU run per input pixel, in bytes, measured. The runtime sizes tiles
# with it; without it, with BigCNN's (facerestore.restore.BYTES_PER_PIXEL), the most any shipped model needs.
META_BYTES_PER_PIXEL = "facerestore.bytes_per_pixel"

META_KEYS = (
    META_CONTRACT, META_ARCH, META_PARAMS, META_CHANNELS, META_RECEPTIVE, META_TRAINING_DATA,
    META_DEGRADATION, META_EPOCHS, META_VAL_PSNR, META_VAL_SSIM, META_DATE, META_DESCRIPTION,
)
