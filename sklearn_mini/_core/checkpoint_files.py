"""Atomic training checkpoints: one safetensors file with a JSON header, no pickle.

A checkpoint holds everything a fit needs to continue exactly where it stopped: the
module's tensors, the optimiser's state, the dead-latent clocks, the random generator's
state at the start of the current epoch, and (in the JSON metadata) the position in the
loop, the loss curve so far and fingerprints of the parameters and the data. It is
written to a temporary file that is then renamed over the old one, so a crash (even
SIGKILL) leaves either the previous checkpoint or the new one, never half of one.
"""

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FILE_NAME = "checkpoint.safetensors"
SCHEMA_VERSION = 2  # 2: the dead-latent curve and the epoch's fired mask
_META_KEY = "sklearn_mini_checkpoint"


def path_in(directory):
    return Path(directory) / FILE_NAME


def write(directory, tensors, meta):
    """Write ``tensors`` (name -> tensor) and ``meta`` (JSON-able) atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = path_in(directory)
    tmp = final.with_name(final.name + ".tmp")
    header = {_META_KEY: json.dumps({"schema_version": SCHEMA_VERSION, **meta})}
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
              metadata=header)
    with open(tmp, "rb") as handle:  # the data must be on disk before the rename
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    return final


def read(directory):
    """``(tensors, meta)`` of the checkpoint in ``directory``, or ``None`` if it has none."""
    path = path_in(directory)
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path), device="cpu")
        meta = json.loads(header[_META_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable sklearn_mini checkpoint ({exc}). "
                         "Delete it to start the fit afresh.") from None
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path} has checkpoint schema_version {meta.get('schema_version')!r}; "
                         f"this version of sklearn_mini reads version {SCHEMA_VERSION} only.")
    return tensors, meta


# -------------------------------------------------------- optimiser state <-> tensors
def optimizer_tensors(state_dict):
    """Flatten an optimiser's per-parameter state into ``optim.{i}.{name}`` tensors."""
    out = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            out[f"optim.{index}.{name}"] = torch.as_tensor(value)
    return out


def optimizer_state(tensors):
    """Rebuild an optimiser state dict (without param groups) from :func:`optimizer_tensors`."""
    state = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    return {"state": state}
