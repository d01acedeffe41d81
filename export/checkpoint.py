"""Checkpoints as safetensors (tensors) + JSON (config and progress). Nothing is ever unpickled."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn


_META_KEY = "facerestore.checkpoint"


def _atomic_replace(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)


def save(path: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
         meta: dict[str, Any]) -> None:
    """Write ``path.safetensors`` atomically, with the JSON metadata inside its header, and a ``path.json`` copy.

    The weights and the progress they belong to travel in one file replaced by one rename, so a run killed
    at any moment leaves a consistent checkpoint; the ``.json`` beside it is for people and tools.
    """
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    opt_meta: dict[str, Any] = {}
    for prefix, opt in optimizers.items():
        sd = opt.state_dict()
        for pid, state in sd["state"].items():
            for k, v in state.items():
                if torch.is_tensor(v):
                    tensors[f"optim.{prefix}.{pid}.{k}"] = v.detach().cpu().contiguous().reshape(v.shape)
        opt_meta[prefix] = {"param_groups": sd["param_groups"],
                            "state_keys": {str(pid): sorted(s) for pid, s in sd["state"].items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    st_tmp, js_tmp = path.with_suffix(".safetensors.tmp"), path.with_suffix(".json.tmp")
    text = json.dumps({**meta, "optimizers": opt_meta}, indent=2)
    save_file(tensors, str(st_tmp), metadata={_META_KEY: text})
    _atomic_replace(st_tmp, path.with_suffix(".safetensors"))
    js_tmp.write_text(text)
    _atomic_replace(js_tmp, path.with_suffix(".json"))


def load_meta(path: Path) -> dict[str, Any]:
    """The checkpoint's metadata: from the weights file's header, else (older checkpoints) the JSON beside it."""
    weights = Path(path).with_suffix(".safetensors")
    if weights.exists():
        with safe_open(str(weights), framework="pt") as fh:
            text = (fh.metadata() or {}).get(_META_KEY)
        if text:
            return json.loads(text)
    return json.loads(Path(path).with_suffix(".json").read_text())


def load(path: Path, modules: dict[str, nn.Module],
         optimizers: dict[str, torch.optim.Optimizer] | None = None) -> dict[str, Any]:
    """Restore modules (and optimizers when given) in place; return the JSON metadata."""
    path = Path(path)
    meta = load_meta(path)
    tensors = load_file(str(path.with_suffix(".safetensors")))
    for prefix, module in modules.items():
        sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        module.load_state_dict(sd)
    for prefix, opt in (optimizers or {}).items():
        om = meta["optimizers"][prefix]
        state = {int(pid): {k: tensors[f"optim.{prefix}.{pid}.{k}"] for k in keys}
                 for pid, keys in om["state_keys"].items()}
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    return meta
