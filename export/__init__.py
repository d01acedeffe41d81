"""Training and ONNX export for facerestore's models (needs the ``train`` extra: torch, onnx, safetensors)."""
