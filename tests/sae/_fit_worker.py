"""A fit in its own process, for the kill and Ctrl-C tests of ``test_robustness.py``.

``python _fit_worker.py fit CKPT_DIR OUT_DIR``: fit with checkpoints, then save the model
to OUT_DIR (reached only if the fit returns). ``python _fit_worker.py finish CKPT_DIR
OUT_DIR``: resume from CKPT_DIR and, in the same process, fit the same model without any
checkpoint; save both results to OUT_DIR as .npy.
"""

import sys
import warnings
from pathlib import Path

import numpy as np

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts

PARAMS = dict(d_sae=64, topk=4, n_epochs=30, batch_size=256, device="cpu", random_state=0)


def data():
    X, _ = make_sparse_counts(n_samples=8000, n_features=40, random_state=0)
    return X


def main(mode, ckpt, out):
    out = Path(out)
    X = data()
    if mode == "fit":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sae = SpikeSAE(checkpoint_dir=ckpt, checkpoint_every=1, **PARAMS).fit(X)
        sae.save(out / "model")
        (out / "warnings.txt").write_text("\n".join(str(w.message) for w in caught))
    else:
        resumed = SpikeSAE(checkpoint_dir=ckpt, **PARAMS).fit(X)
        reference = SpikeSAE(**PARAMS).fit(X)
        np.save(out / "resumed.npy", resumed.components_)
        np.save(out / "reference.npy", reference.components_)
        np.save(out / "epochs_resumed.npy", np.array(resumed.n_epochs_resumed_))


if __name__ == "__main__":
    main(*sys.argv[1:])
