"""Reproducible speed measurements for facerestore (run on demand: ``python -m benchmarks.run``).

Not part of the unit suite and not shipped: benchmarks may import torch, onnx and ``export``.
"""
