"""The research report's three architectures, exactly as its tables give them.

Every conv is 3x3, stride 1, zero padding 1 (so H and W are preserved), with ReLU between layers
and none after the last; no skip connections. Inputs and targets are in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    name: str
    widths: tuple[int, ...]  # channels at each stage, input first, output last
    description: str

    @property
    def in_channels(self) -> int:
        return self.widths[0]

    @property
    def out_channels(self) -> int:
        return self.widths[-1]

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output sees on each side: one per 3x3 conv."""
        return len(self.widths) - 1


ARCHS: dict[str, ArchSpec] = {
    "basic": ArchSpec("basic", (3, 64, 64, 3), "BasicCNN 3->64->64->3, MSE"),
    "big": ArchSpec("big", (3, 64, 64, 128, 128, 3), "BigCNN 3->64->64->128->128->3, MSE"),
    "gan": ArchSpec("gan", (1, 64, 64, 1), "GAN generator 1->64->64->1 (grayscale)"),
    "disc": ArchSpec("disc", (1, 64, 64, 1), "GAN discriminator 1->64->64->1 (per-pixel real/fake logits)"),
}


class ConvStack(nn.Module):
    """A plain stack of 3x3 convolutions with ReLU between them."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        pairs = list(zip(spec.widths[:-1], spec.widths[1:]))
        for i, (cin, cout) in enumerate(pairs):
            layers.append(nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1))
            if i < len(pairs) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, H, W)
        return self.body(x)

    def convs(self) -> list[nn.Conv2d]:
        return [m for m in self.body if isinstance(m, nn.Conv2d)]


def build(name: str) -> ConvStack:
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r} (known: {', '.join(ARCHS)})")
    return ConvStack(ARCHS[name])


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def identity_init(model: ConvStack, scale: float = 0.1) -> None:
    """Start the network near the identity map so training learns a correction from the first step.

    The architecture has no skip connection; without help a plain conv stack spends most of a short
    CPU budget learning to copy its input. Here the first ``Cin`` channels of every stage carry the
    input through (a centred 1 in the kernel; inputs are >= 0 so ReLU passes them), and the other
    weights start small. Nothing about the architecture changes: this is only the starting point.
    """
    cin = model.spec.in_channels
    for conv in model.convs():
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        conv.weight.mul_(scale)
        conv.bias.zero_()
        for c in range(cin):
            conv.weight[c, :cin].zero_()
            conv.weight[c, c, 1, 1] = 1.0
