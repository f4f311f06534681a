"""Evaluation: what a fitted model is worth and how it compares.

``metrics`` holds every formula (written once, tested against hand-computed values) and
``_score`` the one ``score`` method built on it, which the estimators themselves use;
then the comparisons built on those: ``baselines`` (PCA, NMF, ... in the SAE interface),
``compare`` (models side by side on held-out time), ``features`` (planted-feature
recovery, selectivity), ``behaviour`` (latents against labels), ``stability`` (seed
consistency) and ``model_selection`` (sweeps). Each is also importable from its
earlier path, ``sklearn_mini.metrics`` and so on.
"""
