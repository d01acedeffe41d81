"""Checkpoints as safetensors (tensors) + JSON (config and progress). Nothing is ever unpickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from facerestore.atomic import write_atomic

_META_KEY = "facerestore.checkpoint"


class CheckpointError(ValueError):
    """The path names no checkpoint, or one that cannot be read or does not fit the model it is loaded into."""


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
    text = json.dumps({**meta, "optimizers": opt_meta}, indent=2)
    write_atomic(path.with_suffix(".safetensors"), safetensors_bytes(tensors, metadata={_META_KEY: text}))
    write_atomic(path.with_suffix(".json"), text)


def load_meta(path: Path) -> dict[str, Any]:
    """The checkpoint's metadata: from the weights file's header, else (older checkpoints) the JSON beside it."""
    weights, record = Path(path).with_suffix(".safetensors"), Path(path).with_suffix(".json")
    if not weights.exists() and not record.exists():
        raise CheckpointError(f"{weights}: no checkpoint there (train writes NAME.safetensors and NAME.json)")
    try:
        if weights.exists():
            with safe_open(str(weights), framework="pt") as fh:
                text = (fh.metadata() or {}).get(_META_KEY)
            if text:
                meta = json.loads(text)
                if isinstance(meta, dict):
                    return meta
        meta = json.loads(record.read_text())
    except (OSError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{record}: not a checkpoint's record")
    return meta


def arch_of(meta: dict[str, Any]) -> str | None:
    """The architecture a checkpoint's metadata names (older checkpoints keep it only in their config)."""
    return meta.get("arch") or meta.get("config", {}).get("arch")


def load(path: Path, modules: dict[str, nn.Module],
         optimizers: dict[str, torch.optim.Optimizer] | None = None) -> dict[str, Any]:
    """Restore modules (and optimizers when given) in place; return the JSON metadata."""
    path = Path(path)
    meta = load_meta(path)
    weights = path.with_suffix(".safetensors")
    if not weights.exists():  # a run record whose weights were not kept (runs/MANIFEST.md)
        raise CheckpointError(f"{weights}: missing (only the run record {path.with_suffix('.json')} is there)")
    try:
        tensors = load_file(str(weights))
        for prefix, module in modules.items():
            sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            module.load_state_dict(sd)
        for prefix, opt in (optimizers or {}).items():
            om = meta["optimizers"][prefix]
            state = {int(pid): {k: tensors[f"optim.{prefix}.{pid}.{k}"] for k in keys}
                     for pid, keys in om["state_keys"].items()}
            opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    except (OSError, SafetensorError, RuntimeError, KeyError, ValueError) as exc:
        # load_state_dict lists every mismatched tensor; the first line says what is wrong.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{weights}: does not fit this model ({reason})") from None
    return meta
