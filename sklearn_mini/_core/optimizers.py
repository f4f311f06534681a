"""The optimisers a fit can use, and moving their state between devices."""

import torch


def build_optimizer(name, params, lr, momentum_decay=4e-3):
    """Adam, NAdam (with its ``momentum_decay``) or AdamW over ``params``.

    Adam and AdamW use torch's fused kernels where this torch offers them (one pass over
    each parameter instead of a dozen elementwise ops, the optimiser step dominating
    large dictionaries on the CPU); the update is the same algorithm.
    """
    params = list(params)
    if name == "nadam":
        return torch.optim.NAdam(params, lr=lr, momentum_decay=momentum_decay)
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if name not in classes:
        raise ValueError(f"Unknown optimizer {name!r}; expected 'adam', 'nadam' or 'adamw'.")
    try:
        return classes[name](params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or an unsupported device
        return classes[name](params, lr=lr)


def tree_to(obj, device):
    """Move every tensor of a nested dict/list structure to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: tree_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(tree_to(v, device) for v in obj)
    return obj
