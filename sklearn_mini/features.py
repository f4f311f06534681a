"""Judging and hunting latent features: planted-feature recovery, selectivity, decoding."""

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GroupKFold, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch


def _model_and_binner(estimator):
    """The last step of a Pipeline (the model) and its binner, if any."""
    steps = getattr(estimator, "steps", None)
    if not steps:
        return estimator, None
    binner = next((step for _, step in steps[:-1] if hasattr(step, "scale_")), None)
    return steps[-1][1], binner


def _unit(rows):
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def feature_recovery(estimator, truth, threshold=0.9):
    """How well the atoms of a fitted model match planted features.

    For each planted feature, the best absolute cosine between its direction and any
    atom (``components_``) of the model. When the estimator is a Pipeline starting with
    a :class:`~sklearn_mini.SpikeBinner`, the planted directions are first mapped into the
    model's input space: restricted to the kept units and divided by the binner's
    per-unit ``scale_`` (a unit's atom weight is in normalised counts). The absolute value
    makes the score sign-invariant, which PCA's arbitrary component signs need.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with ``components_`` (SpikeSAE, MatryoshkaSAE, PCA, NMF, ...).
    truth : Bunch
        ``directions`` (n_features, n_units) and ``is_coarse``, as returned by
        :func:`sklearn_mini.datasets.make_spiking_features`.
    threshold : float, default=0.9
        Cosine at which a feature counts as recovered.

    Returns
    -------
    recovery : Bunch
        ``best_cosine`` (n_features,), ``recovered`` (bool), ``fraction``,
        ``fraction_coarse``, ``fraction_fine``; for a MatryoshkaSAE also
        ``level_fraction_coarse`` and ``level_fraction_fine``: the fractions recovered by
        the atoms of each level's prefix.
    """
    model, binner = _model_and_binner(estimator)
    directions = np.asarray(truth.directions, dtype=np.float64)
    if binner is not None:
        directions = directions[:, np.asarray(binner.unit_ids_, dtype=int)] / binner.scale_
    targets = _unit(directions)
    atoms = _unit(np.asarray(model.components_, dtype=np.float64))
    cosines = np.abs(targets @ atoms.T)  # features x atoms
    coarse = np.asarray(truth.is_coarse, dtype=bool)
    out = _fractions(cosines.max(axis=1), coarse, threshold)
    slices = getattr(model, "level_slices_", None)
    if slices is not None:
        prefixes = [_fractions(cosines[:, : block.stop].max(axis=1), coarse, threshold)
                    for block in slices]
        out.level_fraction_coarse = np.array([p.fraction_coarse for p in prefixes])
        out.level_fraction_fine = np.array([p.fraction_fine for p in prefixes])
    return out


def _fractions(best, coarse, threshold):
    recovered = best >= threshold
    return Bunch(best_cosine=best, recovered=recovered, fraction=float(recovered.mean()),
                 fraction_coarse=float(recovered[coarse].mean()) if coarse.any() else np.nan,
                 fraction_fine=float(recovered[~coarse].mean()) if (~coarse).any() else np.nan)


def _conditions(labels, n_quantiles):
    """Condition index per sample: categories as they are, continuous values by quantile."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f" and np.unique(labels).size > n_quantiles:
        edges = np.quantile(labels, np.linspace(0, 1, n_quantiles + 1)[1:-1])
        index = np.searchsorted(edges, labels, side="right")
        names = [f"q{i}" for i in range(n_quantiles)]
        return index, np.asarray(names)
    names, index = np.unique(labels, return_inverse=True)
    return index, names


def latent_selectivity(Z, labels, n_quantiles=5):
    """How much more often each latent is active inside a condition than outside it.

    ``f_in`` is the fraction of the condition's samples on which the latent is active
    (non-zero), ``f_out`` the fraction of the other samples; ``selectivity =
    f_in / (f_in + f_out)`` is 0.5 for no preference, 1 for a latent active only in
    the condition (0 where the latent is never active).

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_latents)
        Latent activations (e.g. ``SpikeSAE.transform``).
    labels : array-like of shape (n_samples,)
        Condition of every sample: categories (stimulus id, epoch name) or a continuous
        variable, which is split into ``n_quantiles`` equal-count bins.
    n_quantiles : int, default=5

    Returns
    -------
    result : Bunch
        ``f_in``, ``f_out``, ``selectivity`` (n_latents, n_conditions) and ``conditions``.
    """
    active = np.asarray(Z) != 0
    index, names = _conditions(labels, n_quantiles)
    if index.shape[0] != active.shape[0]:
        raise ValueError(f"labels has {index.shape[0]} entries; Z has {active.shape[0]} rows.")
    f_in = np.zeros((active.shape[1], names.size))
    f_out = np.zeros_like(f_in)
    for c in range(names.size):
        inside = index == c
        f_in[:, c] = active[inside].mean(0) if inside.any() else 0.0
        f_out[:, c] = active[~inside].mean(0) if (~inside).any() else 0.0
    total = f_in + f_out
    selectivity = np.divide(f_in, total, out=np.zeros_like(f_in), where=total > 0)
    return Bunch(f_in=f_in, f_out=f_out, selectivity=selectivity, conditions=names)


def top_latents(selectivity, condition, n=5, min_f_in=0.05):
    """The ``n`` latents most selective for one condition.

    Parameters
    ----------
    selectivity : Bunch
        Output of :func:`latent_selectivity`.
    condition : object
        One of ``selectivity.conditions``.
    n : int, default=5
    min_f_in : float, default=0.05
        Ignore latents active on fewer than this fraction of the condition's samples
        (a latent that fired once, inside, would otherwise top the list).

    Returns
    -------
    latents : ndarray of int
        Latent indices, most selective first.
    """
    matches = np.flatnonzero(selectivity.conditions == condition)
    if matches.size == 0:
        raise ValueError(f"Unknown condition {condition!r}; have {list(selectivity.conditions)}.")
    c = matches[0]
    score = np.where(selectivity.f_in[:, c] >= min_f_in, selectivity.selectivity[:, c], -1.0)
    order = np.argsort(-score, kind="stable")
    return order[score[order] >= 0][:n]


def decode(Z, y, groups=None, cv=5, kind="auto"):
    """Cross-validated decoding of a stimulus or behaviour variable from latents.

    Folds are contiguous blocks of time (unshuffled ``KFold``), or whole groups (e.g.
    trials) with ``groups``, so neighbouring bins never sit on both sides of a split.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_latents)
    y : array-like of shape (n_samples,)
        Categorical (classification: logistic regression, accuracy) or continuous
        (regression: ridge with internal alpha search, R^2).
    groups : array-like of shape (n_samples,), default=None
        Group labels for :class:`~sklearn.model_selection.GroupKFold`.
    cv : int, default=5
        Number of folds.
    kind : {'auto', 'classification', 'regression'}, default='auto'
        ``'auto'``: regression for float ``y`` with many distinct values.

    Returns
    -------
    scores : ndarray of shape (cv,)
        Accuracy or R^2 per held-out fold.
    """
    y = np.asarray(y)
    if kind == "auto":
        kind = "regression" if y.dtype.kind == "f" and np.unique(y).size > 20 else "classification"
    if kind == "classification":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    else:
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    splitter = GroupKFold(cv) if groups is not None else KFold(cv, shuffle=False)
    return cross_val_score(model, np.asarray(Z), y, groups=groups, cv=splitter)
