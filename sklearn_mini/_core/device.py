"""Device and dtype resolution."""

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device):
    """Map the estimator's ``device`` parameter to a :class:`torch.device`.

    ``'auto'`` picks CUDA when it is available and the CPU otherwise. Asking for
    ``'cuda'`` on a machine without a usable GPU is a clear error rather than a
    traceback from deep inside torch.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "device='cuda' was requested but torch reports no usable CUDA device "
                "(torch.cuda.is_available() is False). Use device='cpu' or 'auto'."
            )
        return torch.device("cuda")
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")


def resolve_dtype(dtype):
    """Map the estimator's ``dtype`` parameter ('float32'/'float64') to a torch dtype."""
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}.") from None
