"""Private torch core shared by every sparse autoencoder estimator.

One model (:mod:`.model`), swappable sparsifiers (:mod:`.sparsity`), reconstruction
losses (:mod:`.losses`), learning-rate schedules (:mod:`.schedules`) and one training
loop (:mod:`.training`). The public estimators in :mod:`sklearn_mini` are thin shells
around this package.
"""
