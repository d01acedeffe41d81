"""The models under test: the shipped ONNX files, or same-shape stand-ins while the real ones are training.

A stand-in has the shipped architecture (same FLOPs, same memory) with ``identity_init`` weights, and obeys the
model contract so the runtime opens it like a shipped model. Speed depends on shapes, not on trained values.
torch eager always gets the very weights of the ONNX file, read back from its initializers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facerestore import registry

SHIPPED_DIR = registry.MODELS_DIR
SHIPPED = tuple(registry.SHIPPED)


@dataclass(frozen=True)
class ModelUnderTest:
    name: str
    path: Path
    stand_in: bool  # True: identity-init weights of the shipped architecture (timings valid, pixels not)


def conv_weights(onnx_path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) of every Conv in graph order."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = inits[node.input[1]]
            b = inits[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            layers.append((w, b))
    return layers


def write_conv_stack_onnx(path: Path, layers: list[tuple[np.ndarray, np.ndarray]], arch: str) -> Path:
    """A contract-conforming ONNX conv stack (3x3 convs, ReLU between) from explicit weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from facerestore import contract

    nodes, inits = [], []
    prev = contract.INPUT_NAME
    for i, (w, b) in enumerate(layers):
        last = i == len(layers) - 1
        inits += [numpy_helper.from_array(w.astype(np.float32), f"conv{i}.weight"),
                  numpy_helper.from_array(b.astype(np.float32), f"conv{i}.bias")]
        out = contract.OUTPUT_NAME if last else f"conv{i}"
        nodes.append(helper.make_node("Conv", [prev, f"conv{i}.weight", f"conv{i}.bias"], [out], name=f"conv{i}",
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], name=f"relu{i}"))
            out = f"relu{i}"
        prev = out
    cin, cout = layers[0][0].shape[1], layers[-1][0].shape[0]
    graph = helper.make_graph(
        nodes, arch,
        [helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.FLOAT, ["N", cin, "H", "W"])],
        [helper.make_tensor_value_info(contract.OUTPUT_NAME, TensorProto.FLOAT, ["N", cout, "H", "W"])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {
        contract.META_CONTRACT: contract.CONTRACT_VERSION,
        contract.META_ARCH: arch,
        contract.META_PARAMS: str(sum(w.size + b.size for w, b in layers)),
        contract.META_CHANNELS: str(cin),
        contract.META_RECEPTIVE: str(len(layers)),
        contract.META_DESCRIPTION: "benchmark stand-in: shipped architecture, identity-init weights",
    })
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def stand_in(name: str, folder: Path) -> Path:
    import torch

    from export.archs import ARCHS, build, identity_init

    if name not in ARCHS:
        raise FileNotFoundError(f"{SHIPPED_DIR / (name + '.onnx')} is missing and only the report's conv stacks "
                                f"have stand-ins: export it first (python -m export onnx)")

    torch.manual_seed(0)
    net = build(name)
    identity_init(net)
    layers = [(c.weight.detach().numpy(), c.bias.detach().numpy()) for c in net.convs()]
    return write_conv_stack_onnx(folder / f"{name}.onnx", layers, name)


def models_under_test(names: tuple[str, ...], scratch: Path) -> list[ModelUnderTest]:
    found = []
    for name in names:
        shipped = SHIPPED_DIR / f"{name}.onnx"
        if shipped.is_file():
            found.append(ModelUnderTest(name, shipped, stand_in=False))
        else:
            found.append(ModelUnderTest(name, stand_in(name, scratch), stand_in=True))
    return found


def torch_eager(onnx_path: Path, threads: int):
    """The same network in torch eager mode, with the ONNX file's own weights."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    layers: list[nn.Module] = []
    weights = conv_weights(onnx_path)
    for i, (w, b) in enumerate(weights):
        conv = nn.Conv2d(w.shape[1], w.shape[0], kernel_size=3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            conv.bias.copy_(torch.from_numpy(np.array(b)))
        layers.append(conv)
        if i < len(weights) - 1:
            layers.append(nn.ReLU(inplace=True))
    net = nn.Sequential(*layers).eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(batch)).numpy()

    return run
