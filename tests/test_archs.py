"""The four networks against the research report's tables: parameter counts and every layer's output shape."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export import archs  # noqa: E402  (after importorskip: needs torch)

# The report's tables: total parameters, and the output channels of each 3x3 conv in order.
TABLES = {
    "basic": (40_451, [64, 64, 3]),
    "big": (263_619, [64, 64, 128, 128, 3]),
    "gan": (38_145, [64, 64, 1]),
    "disc": (38_145, [64, 64, 1]),
}
SIDE = 1024


def test_registry_matches_the_tables():
    assert set(archs.ARCHS) == set(TABLES)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_parameter_count(name):
    model = archs.build(name)
    assert archs.count_params(model) == TABLES[name][0]
    # Per layer too: a 3x3 conv has cin * cout * 9 weights and cout biases.
    widths = archs.ARCHS[name].widths
    assert [c.weight.numel() + c.bias.numel() for c in model.convs()] == \
        [cin * cout * 9 + cout for cin, cout in zip(widths[:-1], widths[1:])]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_layer_output_shape_at_1024(name):
    """Shapes at 1024 x 1024 on the meta device: the real forward would cost hundreds of GFLOP."""
    model = archs.build(name).to("meta")
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for layer in model.body:
        layer.register_forward_hook(
            lambda mod, inp, out: shapes.append((type(mod).__name__, tuple(out.shape))))
    cin = archs.ARCHS[name].in_channels
    out = model(torch.empty(1, cin, SIDE, SIDE, device="meta"))

    convs = TABLES[name][1]
    expected = []
    for i, cout in enumerate(convs):
        expected.append(("Conv2d", (1, cout, SIDE, SIDE)))
        if i < len(convs) - 1:
            expected.append(("ReLU", (1, cout, SIDE, SIDE)))  # ReLU between layers, none after the last
    assert shapes == expected
    assert tuple(out.shape) == (1, convs[-1], SIDE, SIDE)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_layers_are_3x3_stride_1_pad_1(name):
    spec = archs.ARCHS[name]
    for conv in archs.build(name).convs():
        assert conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
        assert conv.padding_mode == "zeros"
    assert spec.receptive_radius == len(TABLES[name][1])


def test_receptive_radius_is_exact(hopper_rgb):
    """Changing one input pixel changes outputs exactly within the recorded radius (tiling relies on it)."""
    torch.manual_seed(0)
    model = archs.build("big").eval()
    with torch.no_grad():
        for conv in model.convs():
            conv.bias.fill_(0.05)  # keep ReLUs open so every path carries signal
    x = torch.from_numpy(hopper_rgb[200:232, 200:232].astype(np.float32) / 255).permute(2, 0, 1)[None]
    y = x.clone()
    y[0, :, 16, 16] += 0.5
    with torch.no_grad():
        changed = (model(x) - model(y)).abs().amax(dim=1)[0] > 0
    rows, cols = torch.nonzero(changed, as_tuple=True)
    r = archs.ARCHS["big"].receptive_radius
    assert (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()) == \
        (16 - r, 16 + r, 16 - r, 16 + r)


@pytest.mark.parametrize("name", ["basic", "big", "gan"])
def test_identity_init_starts_near_the_identity(name, hopper_rgb):
    torch.manual_seed(0)
    model = archs.build(name).eval()
    archs.identity_init(model)
    crop = hopper_rgb[150:214, 180:244].astype(np.float32) / 255
    x = torch.from_numpy(crop).permute(2, 0, 1)[None]
    if archs.ARCHS[name].in_channels == 1:
        x = x.mean(dim=1, keepdim=True)
    with torch.no_grad():
        out = model(x)
    assert out.shape == x.shape
    assert torch.mean(torch.abs(out - x)).item() < 0.05


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        archs.build("huge")
