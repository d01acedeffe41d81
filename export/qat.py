"""Quantisation-aware training: a DARN trained to keep its accuracy in the int8 build ``export.quantize`` makes.

What is simulated is what ONNX Runtime's static QDQ quantisation by ``export.quantize.QAT_RECIPE`` does to each
conv it rounds: its input and its output rounded to uint8 over the range they take (zero always inside, as
calibration makes it), its weights to 7-bit integers per output channel, symmetric (``reduce_range``). The convs
the recipe keeps in float (the head, the tail, the body's first convs) stay float. The ranges here follow each
batch's extremes with a moving average; the int8 build calibrates its own on training faces, so the trained
weights are all that carries over. The weights file stays an ordinary DARN's; the ranges travel in the
checkpoint's metadata (``ranges``, ``set_ranges``), so a resumed run continues exactly.

Measured so far (runs/README.txt): two epochs with the ends alone in float left what the build loses where it was
(stage Q1: 0.13 dB against 0.14); five for the recipe that keeps the body's first convs in float too took its loss
at JPEG 90 from 0.19 to 0.17 dB (stage Q3), still over the 0.1 dB budget.
"""

from __future__ import annotations

import fnmatch

import torch
import torch.nn.functional as F
from torch import nn

from .archs import Darn
from .quantize import QAT_RECIPE

RANGE_MOMENTUM = 0.01  # the weight of each training batch's extremes in the running range
WEIGHT_LEVELS = 64  # 7-bit weights, symmetric: -64..64, ONNX Runtime's reduce_range for int8


class FakeQuantConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose input, weights and output pass through the int8 build's rounding (straight-through
    gradients).

    Made from a trained conv by ``enable``, which gives it the buffer ``ranges``: rows input and output, columns
    min and max (NaN until the first training batch sets them)."""

    ranges: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._activation(x, 0)
        absmax = self.weight.detach().abs().amax(dim=(1, 2, 3)).clamp_min(1e-8)
        weight = torch.fake_quantize_per_channel_affine(
            self.weight, absmax / WEIGHT_LEVELS, torch.zeros_like(absmax, dtype=torch.int32), 0,
            -WEIGHT_LEVELS, WEIGHT_LEVELS)
        return self._activation(F.conv2d(x, weight, self.bias, self.stride, self.padding), 1)

    def _activation(self, x: torch.Tensor, row: int) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                seen = torch.stack([x.min(), x.max()]).float()
                r = self.ranges[row]
                r.copy_(torch.where(torch.isnan(r), seen, torch.lerp(r, seen, RANGE_MOMENTUM)))
        low, high = self.ranges[row, 0].clamp(max=0.0), self.ranges[row, 1].clamp(min=0.0)
        if torch.isnan(low) or torch.isnan(high):
            return x  # never trained on: nothing to round to yet
        scale = (high - low) / 255
        if scale < torch.finfo(torch.float32).tiny:
            scale = torch.ones_like(scale)  # as ONNX Runtime quantises a tensor that is zero throughout
        zero = torch.round(-low / scale).clamp(0, 255).to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x, scale.float(), zero, 0, 255)


def inner_convs(model: Darn) -> list[nn.Conv2d]:
    """The convs the int8 build quantises: all but the head, the tail (they carry the image itself) and those
    whose weights the recipe keeps in float (their names are the exported graph's)."""
    kept = {name.removesuffix(".weight") for name, _ in model.named_parameters()
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in QAT_RECIPE.keep_float)}
    return [m for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m is not model.head and m is not model.tail and name not in kept]


def enable(model: Darn) -> Darn:
    """Turn ``model``'s inner convs into ``FakeQuantConv2d`` in place (weights kept); returns it."""
    for conv in inner_convs(model):
        conv.__class__ = FakeQuantConv2d
        conv.register_buffer("ranges", torch.full((2, 2), float("nan"), device=conv.weight.device),
                             persistent=False)
    return model


def ranges(model: Darn) -> dict[str, list[list[float]]]:
    """The running input and output ranges of each rounded conv, by module name (JSON-ready)."""
    return {name: m.ranges.tolist() for name, m in model.named_modules() if isinstance(m, FakeQuantConv2d)}


@torch.no_grad()
def set_ranges(model: Darn, saved: dict[str, list[list[float]]]) -> None:
    """Restore what ``ranges`` returned into a model ``enable`` prepared the same way."""
    convs = {name: m for name, m in model.named_modules() if isinstance(m, FakeQuantConv2d)}
    if convs.keys() != saved.keys():
        raise ValueError("the saved quantisation ranges belong to another model")
    for name, m in convs.items():
        m.ranges.copy_(torch.tensor(saved[name], dtype=m.ranges.dtype))
