"""Run third-party code that draws from (or seeds) torch's global generator, leaving the
user's global random state exactly as it was."""

import contextlib

import numpy as np
import torch


@contextlib.contextmanager
def isolated_torch_rng(seed):
    """Seed torch's (and numpy's legacy) global generators with ``seed`` inside the block,
    and restore both afterwards, so the library is reproducible and the user's state is
    untouched. CUDA generators are forked too when CUDA is initialised."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        np.random.seed(int(seed) % (2**32))
        try:
            yield
        finally:
            np.random.set_state(np_state)
