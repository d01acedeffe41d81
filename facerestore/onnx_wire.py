"""Read and edit ONNX model bytes at the protobuf wire level (the runtime does not depend on the ``onnx`` package).

Two jobs: find tensors stored outside the file (which the runtime refuses to load), and turn one graph input
into a constant, so ONNX Runtime folds everything computed from it into the weights (a conditioned model's damage
level, fixed for one image). Field numbers are those of onnx.proto.
"""

from __future__ import annotations

import numpy as np

_MODEL, _GRAPH, _FUNCTION, _NODE, _ATTRIBUTE, _SPARSE, _TENSOR = range(7)
# Every path by which a TensorProto can sit in a model.
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 25: _FUNCTION},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _FUNCTION: {7: _NODE},
    _NODE: {5: _ATTRIBUTE},
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _TENSOR: {},
}
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION, _LOCATION_EXTERNAL = 13, 14, 1
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT = 5, 11
_VALUE_INFO_NAME = 1
_TENSOR_DIMS, _TENSOR_DATA_TYPE, _TENSOR_NAME, _TENSOR_RAW_DATA = 1, 2, 8, 9
_FLOAT = 1  # TensorProto.FLOAT
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview):
    """(field number, wire type, value, raw bytes of the whole field) of each field of one message, in order.

    ``value`` is the integer of a varint and the payload (a memoryview) of a length-delimited field."""
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire in (_FIXED64, _FIXED32):
            value, pos = None, pos + (8 if wire == _FIXED64 else 4)
        elif wire == _BYTES:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("truncated field")
        yield number, wire, value, buf[start:pos]


def external_tensor_found(buf: bytes | memoryview, kind: int = _MODEL, depth: int = 0) -> bool:
    """Whether any tensor of the model has ``data_location = EXTERNAL`` or ``external_data`` entries."""
    if depth > 64:
        raise ValueError("nesting too deep")
    children = _CHILDREN[kind]
    for number, wire, value, _ in _fields(memoryview(buf)):  # slices share memory: no copies of the weights
        if kind == _TENSOR and number == _TENSOR_DATA_LOCATION and value == _LOCATION_EXTERNAL:
            return True
        if wire != _BYTES:
            continue
        if kind == _TENSOR and number == _TENSOR_EXTERNAL_DATA:
            return True
        child = children.get(number)
        if child is not None and external_tensor_found(value, child, depth + 1):
            return True
    return False


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _key(number, _BYTES) + _encode_varint(len(payload)) + payload


def _name_of(message: memoryview, name_field: int) -> str | None:
    for number, wire, value, _ in _fields(message):
        if number == name_field and wire == _BYTES:
            return bytes(value).decode("utf-8", "replace")
    return None


def _float_tensor(name: str, value: np.ndarray) -> bytes:
    value = np.ascontiguousarray(value, dtype="<f4")
    dims = b"".join(_key(_TENSOR_DIMS, _VARINT) + _encode_varint(int(d)) for d in value.shape)
    return (dims + _key(_TENSOR_DATA_TYPE, _VARINT) + _encode_varint(_FLOAT)
            + _bytes_field(_TENSOR_NAME, name.encode()) + _bytes_field(_TENSOR_RAW_DATA, value.tobytes()))


def with_constant_input(model: bytes, name: str, value: np.ndarray) -> bytes:
    """``model`` with its graph input ``name`` replaced by a float32 constant of ``value``.

    Everything else is kept byte for byte. Raises ValueError when the graph has no such input."""
    out, found = bytearray(), False
    for number, wire, graph, raw in _fields(memoryview(model)):
        if number != _MODEL_GRAPH or wire != _BYTES:
            out += raw
            continue
        kept = bytearray()
        for g_number, g_wire, g_value, g_raw in _fields(graph):
            named = g_wire == _BYTES and g_number in (_GRAPH_INPUT, _GRAPH_INITIALIZER)
            field_name = _VALUE_INFO_NAME if g_number == _GRAPH_INPUT else _TENSOR_NAME
            if named and _name_of(g_value, field_name) == name:
                # The input itself, and a default value stored under its name (which would clash).
                found = found or g_number == _GRAPH_INPUT
                continue
            kept += g_raw
        kept += _bytes_field(_GRAPH_INITIALIZER, _float_tensor(name, value))
        out += _bytes_field(_MODEL_GRAPH, bytes(kept))
    if not found:
        raise ValueError(f"the model has no graph input named {name!r}")
    return bytes(out)
