"""SpikeSAE's defaults as they were before wave 2, for side-by-side benchmark rows."""

import math

from sklearn_mini.sae import auto_topk


def wave1_params(n_train, n_features, d_sae=None, batch_size=1024):
    """Parameters that reproduce the wave-1 defaults on data of this shape.

    BatchTopK, unconstrained atoms, a ReLU on the output, the decoder bias at the data
    mean, a dead window of half an epoch, no pruning, ``topk = round(sqrt(n) / 2)``,
    ``d_sae = min(8 n, n_train // 10)`` (or ``d_sae``) and at least 20 epochs and 1000
    optimiser steps, at ``lr=5e-3`` whatever the width.
    """
    k = auto_topk(n_features)
    steps = math.ceil(n_train / batch_size)
    d = d_sae if d_sae is not None else max(2 * k, min(8 * n_features, n_train // 10))
    return dict(d_sae=d, topk=k, sparsity="batchtopk", positive_dict=False, output_relu=True,
                decoder_bias_init="mean", lr=5e-3, dead_window=math.ceil(steps / 2), prune_from=1,
                n_epochs=min(1000, max(20, math.ceil(1000 / steps))))
