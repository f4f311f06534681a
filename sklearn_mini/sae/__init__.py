"""The sparse autoencoder estimators: :class:`SpikeSAE` and :class:`MatryoshkaSAE`.

One module per job: ``spike.py`` and ``matryoshka.py`` are the estimators; ``_base.py``
is their shared fit (the parameters become plain values in ``_config.py`` and
:func:`sklearn_mini._core.solver.solve` trains); ``_params.py`` writes the shared
parameters once; ``_inference.py`` is transform and friends; ``_save_load.py`` the saved
format; ``_resume.py`` the fit checkpoints; ``_sequence.py`` the ``seq_len`` windows.
The torch core they stand on is :mod:`sklearn_mini._core`.
"""

from .._core.data import active_units_per_bin
from .._core.schedules import auto_lr
from .matryoshka import MatryoshkaSAE
from .spike import SpikeSAE, auto_d_sae, auto_topk

__all__ = ["MatryoshkaSAE", "SpikeSAE", "active_units_per_bin", "auto_d_sae", "auto_lr",
           "auto_topk"]
