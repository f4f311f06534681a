"""Saving and loading fitted estimators as safetensors + JSON (no pickle involved)."""

import json
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

FORMAT = "sklearn_mini.sae"
SCHEMA_VERSION = 1
CONFIG_NAME = "config.json"
TENSORS_NAME = "model.safetensors"


def _jsonable(value):
    """Parameters and fitted scalars as JSON values (numpy scalars/arrays unwrapped)."""
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} cannot be saved in the JSON config.")


def ids_to_json(ids):
    """Unit ids as JSON: their kind (integer or string) and their values."""
    ids = np.asarray(ids)
    kind = "int" if ids.dtype.kind in "iu" else "str"
    return {"kind": kind, "values": [int(u) if kind == "int" else str(u) for u in ids]}


def ids_from_json(saved):
    """The array :func:`ids_to_json` described, with its kind restored."""
    dtype = np.int64 if saved["kind"] == "int" else np.str_
    return np.asarray(saved["values"], dtype=dtype)


def save(path, class_name, params, fitted, tensors):
    """Write ``path/config.json`` and ``path/model.safetensors``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "class": class_name,
        "params": _jsonable(params),
        "fitted": _jsonable(fitted),
    }
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
              str(path / TENSORS_NAME))
    (path / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    return path


def load(path, class_name=None):
    """Read what :func:`save` wrote; returns ``(config, tensors)`` on the CPU.

    With ``class_name``, a directory saved by another class is refused.
    """
    path = Path(path)
    config_path, tensor_path = path / CONFIG_NAME, path / TENSORS_NAME
    for p in (config_path, tensor_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: not a directory written by save().")
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{config_path} is not an sklearn_mini model config.")
    if class_name is not None and config.get("class") != class_name:
        raise ValueError(f"{path} holds a {config.get('class')!r}, not a {class_name}.")
    if config.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{config_path} has schema_version {config.get('schema_version')!r}; this version "
            f"of sklearn_mini reads schema_version {SCHEMA_VERSION} only."
        )
    try:
        tensors = load_file(str(tensor_path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{tensor_path} is not a readable safetensors file: {exc}") from None
    return config, tensors


def expect_shapes(tensors, expected):
    """Raise a clear error when a loaded tensor is missing or has the wrong shape."""
    for name, shape in expected.items():
        if name not in tensors:
            raise ValueError(f"The saved model lacks the tensor {name!r}.")
        if tuple(tensors[name].shape) != tuple(shape):
            raise ValueError(
                f"Saved tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                f"expected {tuple(shape)} from the config."
            )
    unexpected = set(tensors) - set(expected)
    if unexpected:
        raise ValueError(f"The saved model has unexpected tensors: {sorted(unexpected)}.")
