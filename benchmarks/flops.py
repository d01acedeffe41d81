"""Analytic cost of a model: multiply-adds read from the ONNX graph itself, so it holds for any exported model.

A 3x3 conv with ``Cin`` inputs and ``Cout`` outputs costs ``Cout * Cin * 9`` multiply-adds per output pixel
(stride 1, 'same' padding keeps H x W). FLOPs = 2 x MACs. Bias adds and ReLUs are left out: under 0.2 %.
A model that folds pixels into channels, or has a branch at a lower resolution, runs a conv on fewer pixels than
its input has: each conv's share of the input's pixels is read from one small run of the graph, so costs are per
full-resolution pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONV_OPS = ("Conv", "QLinearConv")


@dataclass(frozen=True)
class ConvCost:
    macs_per_pixel: float         # sum over conv layers of Cout * Cin/groups * kH * kW, per input pixel
    widths: tuple[int, ...]       # channels at each stage, input first, output last
    conv_count: int

    def flops(self, height: int, width: int, batch: int = 1) -> float:
        return 2.0 * self.macs_per_pixel * height * width * batch

    @property
    def peak_channels(self) -> int:
        """The widest pair of adjacent activations: what one pixel occupies in memory at the worst layer."""
        return max(a + b for a, b in zip(self.widths[:-1], self.widths[1:]))


def conv_cost(onnx_path: Path) -> ConvCost:
    """Read every Conv node's weight shape from the graph (initializers or DequantizeLinear of them)."""
    import onnx

    from facerestore import contract

    model = onnx.load(str(onnx_path), load_external_data=False)
    multiple = int({p.key: p.value for p in model.metadata_props}.get(contract.META_MULTIPLE, "1"))
    shares = _pixel_shares(model, multiple)
    graph = model.graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    # int8 QDQ graphs feed Conv through DequantizeLinear(weight_q): follow that edge back to the initializer.
    producers = {out: node for node in graph.node for out in node.output}

    def weight_shape(name: str) -> tuple[int, ...]:
        while name not in shapes and name in producers:
            name = producers[name].input[0]
        if name not in shapes:
            raise ValueError(f"{onnx_path}: cannot find the weight tensor {name!r}")
        return shapes[name]

    macs = 0.0
    widths: list[int] = []
    convs = 0
    for node in graph.node:
        if node.op_type not in CONV_OPS:
            continue
        w_input = node.input[1] if node.op_type == "Conv" else node.input[3]
        cout, cin_per_group, kh, kw = weight_shape(w_input)
        groups = next((a.i for a in node.attribute if a.name == "group"), 1)
        macs += cout * cin_per_group * kh * kw * shares[node.output[0]]
        if not widths:
            widths.append(cin_per_group * groups)
        widths.append(cout)
        convs += 1
    if not convs:
        raise ValueError(f"{onnx_path}: no Conv nodes")
    return ConvCost(macs, tuple(widths), convs)


def _pixel_shares(model, multiple: int) -> dict[str, float]:
    """Each conv output's pixels per input pixel, from one run at a small size with every conv output exposed."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = [node.output[0] for node in probe.graph.node if node.op_type in CONV_OPS]
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in outputs)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    side = 16 * multiple
    feeds = {}
    for arg in session.get_inputs():
        image = len(arg.shape) == 4  # the pixels; anything else is a per-image value (the damage level)
        shape = (1, arg.shape[1], side, side) if image else tuple(d if isinstance(d, int) else 1 for d in arg.shape)
        feeds[arg.name] = np.zeros(shape, dtype=np.float32)
    results = session.run(outputs, feeds)
    return {name: out.shape[2] * out.shape[3] / (side * side) for name, out in zip(outputs, results)}
