"""The research report's three architectures, exactly as its tables give them.

Every conv is 3x3, stride 1, zero padding 1 (so H and W are preserved), with ReLU between layers
and none after the last; no skip connections. Inputs and targets are in [0, 1].
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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


def build(name: str) -> nn.Module:
    if name in DARN_SIZES:
        return Darn(DARN_SIZES[name])
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r} (known: {', '.join(TRAINABLE)})")
    return ConvStack(ARCHS[name])


def is_conditioned(name: str) -> bool:
    """Whether the architecture takes the damage level as a second input."""
    return name in DARN_SIZES


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


@dataclass(frozen=True)
class DarnSpec:
    """DARN, the damage-aware residual network: facerestore's own model (darning: mending a fabric's holes).

    The image is folded to half resolution (pixel-unshuffle: each 2x2 block of RGB becomes 12 channels; ``fold``
    4 folds 4x4 blocks), so every 3x3 conv sees 6x6 px for a quarter of the full-resolution cost. A head conv,
    ``blocks`` residual blocks and a tail conv give a receptive radius of fold * (2 + 2 * blocks) + fold - 1 px:
    more than a 16x16 colour block of a 4:2:0 JPEG and its neighbours. The network predicts a correction that is added to its input.
    The damage level (facerestore.damage.levels) enters twice: as a constant input plane and as a per-block
    scale and shift of the features, so one set of weights restores JPEG 5 hard and JPEG 90 gently.

    ``low_blocks`` > 0 adds a branch at a further half of the resolution (a U-Net level) after the first half of
    the body: a stride-2 conv down to ``low_width`` channels, that many residual blocks, and a conv up whose
    output is unshuffled back and added to the features. A conv there costs a quarter of one at the body's
    resolution and reaches twice as far, so the branch buys reach and weights for little time.
    """

    width: int = 48
    blocks: int = 6
    fold: int = 2  # pixel-unshuffle factor: height and width must be multiples of it
    name: str = "darn"
    in_channels: int = 3
    condition: str = "level"  # the name of the damage-level input in the exported ONNX file
    # Peak CPU working memory per input pixel, which the runtime sizes tiles with: measured 269-283 bytes for 6
    # blocks and 280-290 for 8 (whole 512 and 1024 px images, ONNX Runtime), against BigCNN's 1,540-1,567.
    bytes_per_pixel: int = 320
    # Shift the pixels and the level plane to [-0.5, 0.5] before the head and give the head He-initialised
    # weights. With inputs all positive, Adam moves a head unit's weights in lockstep, and at a 4x4 fold (441
    # inputs per unit) the default init leaves pre-activations too narrow (std 0.1) for that drift: every head
    # ReLU died within the first epoch and the model never left the identity (runs/darnf4-uncentered).
    centered: bool = False
    low_blocks: int = 0
    low_width: int = 48

    @property
    def description(self) -> str:
        low = (f", a half-resolution branch of {self.low_blocks} residual blocks of width {self.low_width}"
               if self.low_blocks else "")
        return (f"DARN damage-aware residual network: pixel-unshuffle x{self.fold}, {self.blocks} residual blocks "
                f"of width {self.width}{low} with the damage level as an input plane and per-block scale/shift, "
                f"global residual")

    @property
    def multiple(self) -> int:
        """What height and width must be multiples of: the fold, twice over with the low branch."""
        return self.fold * (2 if self.low_blocks else 1)

    @property
    def receptive_radius(self) -> int:
        # In folded pixels: head and tail 1 each, 2 per block; the branch's stride-2 conv, its 2 * low_blocks
        # convs and its up conv, counted at the low resolution, reach 4 * low_blocks + 4 folded pixels (the +1
        # of landing anywhere in a 2x2 cell included).
        folded = 2 + 2 * self.blocks + (4 * self.low_blocks + 4 if self.low_blocks else 0)
        return self.fold * folded + self.fold - 1

    @property
    def macs_per_pixel(self) -> int:
        """Multiply-adds per full-resolution pixel (convolutions; the level's tiny MLP is per image)."""
        f2, w, lw = self.fold * self.fold, self.width, self.low_width
        convs = (3 * f2 + 1) * w + 2 * self.blocks * w * w + w * 3 * f2
        low = (w * lw + 2 * self.low_blocks * lw * lw + lw * 4 * w) if self.low_blocks else 0
        return convs * 9 // f2 + low * 9 // (4 * f2)


# facerestore's own model in the sizes `--arch` accepts, each within half of BigCNN's multiply-adds: the first
# one; deeper ones, which start from a trained shallower one (deepen); and one folded 4x4 and twice as wide,
# which for about darn8's multiply-adds has four times its weights per conv and twice its reach (75 px).
DARN_SIZES: dict[str, DarnSpec] = {
    "darn": DarnSpec(),
    "darn8": DarnSpec(blocks=8, name="darn8"),
    "darn10": DarnSpec(blocks=10, name="darn10"),
    "darnf4": DarnSpec(width=96, blocks=8, fold=4, name="darnf4", centered=True),
    "darn8u": DarnSpec(blocks=8, low_blocks=4, name="darn8u"),
}
# What `python -m export train --arch` accepts: the report's three and facerestore's own.
TRAINABLE = ("basic", "big", "gan", *DARN_SIZES)


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x) * (1 + scale) + shift))


class Darn(nn.Module):
    """(N, 3, H, W) in [0, 1] and a damage level (N, 1) in [0, 1] -> (N, 3, H, W); H and W multiples of ``fold``."""

    def __init__(self, spec: DarnSpec = DarnSpec()):
        super().__init__()
        self.spec = spec
        w, f2 = spec.width, spec.fold * spec.fold
        self.head = nn.Conv2d(3 * f2 + 1, w, 3, padding=1)
        self.body = nn.ModuleList(ResBlock(w) for _ in range(spec.blocks))
        lw = spec.low_width
        self.film = nn.Sequential(nn.Linear(1, 32), nn.ReLU(),
                                  nn.Linear(32, 2 * w * spec.blocks + 2 * lw * spec.low_blocks))
        self.tail = nn.Conv2d(w, 3 * f2, 3, padding=1)
        if spec.low_blocks:
            self.down = nn.Conv2d(w, lw, 3, stride=2, padding=1)
            self.low = nn.ModuleList(ResBlock(lw) for _ in range(spec.low_blocks))
            self.up = nn.Conv2d(lw, 4 * w, 3, padding=1)
            nn.init.zeros_(self.up.weight)  # the branch starts silent: a grown model is the model it grew from
            nn.init.zeros_(self.up.bias)
        if spec.centered:
            nn.init.kaiming_normal_(self.head.weight, nonlinearity="relu")
            nn.init.zeros_(self.head.bias)
        # Start as the identity map: each block's last conv and the tail at zero, so the first steps already
        # train a correction on top of an output equal to the input.
        for block in [*self.body, *(self.low if spec.low_blocks else [])]:
            nn.init.zeros_(block.conv2.weight)
            nn.init.zeros_(block.conv2.bias)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        nn.init.zeros_(self.film[2].weight)
        nn.init.zeros_(self.film[2].bias)

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        n, fold, w = x.shape[0], self.spec.fold, self.spec.width
        pixels, plane_level = (x - 0.5, level - 0.5) if self.spec.centered else (x, level)
        folded = F.pixel_unshuffle(pixels, fold)  # (N, 3 f^2, H/f, W/f)
        plane = plane_level.reshape(n, 1, 1, 1).expand(n, 1, folded.shape[2], folded.shape[3])
        planes = [folded, plane]
        zeros = self.head.in_channels - folded.shape[1] - 1  # zero planes after the level: see padded_for_onnx
        if zeros:
            planes.append(folded.new_zeros(n, zeros, folded.shape[2], folded.shape[3]))
        feat = torch.relu(self.head(torch.cat(planes, dim=1)))
        rows = self.film(level.reshape(n, 1))
        body_rows = 2 * w * self.spec.blocks
        film = rows[:, :body_rows].reshape(n, self.spec.blocks, 2, w, 1, 1)
        for i, block in enumerate(self.body):
            if self.spec.low_blocks and i == self.spec.blocks // 2:
                feat = feat + self._low(feat, rows[:, body_rows:])
            feat = block(feat, film[:, i, 0], film[:, i, 1])
        return x + F.pixel_shuffle(self.tail(feat), fold)

    def _low(self, feat: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        n, lw = feat.shape[0], self.spec.low_width
        film = rows.reshape(n, self.spec.low_blocks, 2, lw, 1, 1)
        low = torch.relu(self.down(feat))
        for i, block in enumerate(self.low):
            low = block(low, film[:, i, 0], film[:, i, 1])
        return F.pixel_shuffle(self.up(low), 2)


# ONNX Runtime's CPU convolutions run in a blocked channel layout (8 channels a block with AVX2, 16 with AVX-512)
# only where a convolution's input channels fill whole blocks. DARN's head takes 3 * fold^2 + 1 channels (13 at
# fold 2): left in plain layout, its output kept every residual add of the body in plain layout too, with a
# layout reorder before and after each (benchmarks/README.md).
CHANNEL_BLOCK = 16


@torch.no_grad()
def padded_for_onnx(model: Darn) -> Darn:
    """A copy of ``model`` computing the same function whose head takes a multiple of ``CHANNEL_BLOCK`` channels:
    zero planes after the level plane, with zero weights. What export traces; checkpoints keep the trained
    shape."""
    padded = copy.deepcopy(model)
    head = padded.head
    zeros = -head.in_channels % CHANNEL_BLOCK
    if zeros:
        wide = nn.Conv2d(head.in_channels + zeros, head.out_channels, 3, padding=1)
        wide.weight.zero_()
        wide.weight[:, :head.in_channels] = head.weight
        wide.bias.copy_(head.bias)
        padded.head = wide
    return padded


@torch.no_grad()
def deepen(shallow: Darn, deep: Darn) -> None:
    """Give ``deep`` the weights of a trained ``shallow`` DARN of the same width so both compute the same function.

    The shared blocks come first; the extra blocks, appended before the tail, keep their zero last conv and get
    a zero scale and shift, so each starts as the identity and training grows a correction from the shallow
    model's level instead of from scratch.
    """
    a, b = shallow.spec, deep.spec
    same_shape = all(getattr(a, k) == getattr(b, k) for k in ("width", "fold", "in_channels", "centered"))
    if not same_shape or b.blocks < a.blocks or a.low_blocks:
        raise ValueError(f"cannot deepen {a.name} ({a.blocks} blocks of width {a.width}) into "
                         f"{b.name} ({b.blocks} blocks of width {b.width})")
    deep.head.load_state_dict(shallow.head.state_dict())
    deep.tail.load_state_dict(shallow.tail.state_dict())
    deep.film[0].load_state_dict(shallow.film[0].state_dict())
    for src, dst in zip(shallow.body, deep.body):
        dst.load_state_dict(src.state_dict())
    for block in deep.body[a.blocks:]:
        nn.init.zeros_(block.conv2.weight)
        nn.init.zeros_(block.conv2.bias)
    if b.low_blocks:
        nn.init.zeros_(deep.up.weight)
        nn.init.zeros_(deep.up.bias)
    # The scale/shift rows are laid out block by block (see Darn.forward): the shallow rows are a prefix.
    rows = shallow.film[2].weight.shape[0]
    deep.film[2].weight.zero_()
    deep.film[2].bias.zero_()
    deep.film[2].weight[:rows] = shallow.film[2].weight
    deep.film[2].bias[:rows] = shallow.film[2].bias
