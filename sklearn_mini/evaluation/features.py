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


def _continuous(labels, n_quantiles):
    """Whether ``labels`` are split into quantile bins: floats with more distinct values
    than ``n_quantiles``."""
    labels = np.asarray(labels)
    return labels.dtype.kind == "f" and np.unique(labels).size > n_quantiles


def _conditions(labels, n_quantiles):
    """Condition index per sample: categories as they are, continuous values by quantile."""
    labels = np.asarray(labels)
    if _continuous(labels, n_quantiles):
        edges = np.quantile(labels, np.linspace(0, 1, n_quantiles + 1)[1:-1])
        bins = np.searchsorted(edges, labels, side="right")
        # Tied values (e.g. many zeros) leave some quantile bins empty: keep those in use,
        # named by their quantile, so no condition has no samples.
        used, index = np.unique(bins, return_inverse=True)
        return index, np.asarray([f"q{i}" for i in used])
    names, index = np.unique(labels, return_inverse=True)
    return index, names


def latent_selectivity(Z, labels, n_quantiles=5):
    """How much more often each latent is active in a condition than in any other one.

    ``f_in[i, c]`` is the fraction of condition ``c``'s samples on which latent ``i`` is
    active (non-zero). ``f_out[i, c]`` is the same fraction in the latent's most active
    *other* condition, ``max(f_in[i, c'] for c' != c)``, and ``selectivity = f_in /
    (f_in + f_out)``: 1 for a latent active only in ``c``, 0.5 where another condition
    drives it as often, below 0.5 where another drives it more (0 where the latent is
    never active in either). Comparing with the best other condition, not with all the
    other samples pooled, is what keeps the score honest with many conditions: pooled
    over 59 other images, a latent's rate is small for every image, so it would look
    selective for any image where it fires at all. A latent therefore scores above 0.5
    for its preferred condition only. With two conditions both definitions agree.

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
        ``f_in``, ``f_out``, ``selectivity`` (n_latents, n_conditions), ``conditions``
        (n_conditions,) and ``preferred`` (n_latents,): the index into ``conditions`` of
        each latent's most active condition (-1 for a latent never active).

    Examples
    --------
    A latent active in 80% of image 0's bins and 10% of image 1's, never in image 2's:

    >>> import numpy as np
    >>> from sklearn_mini.features import latent_selectivity
    >>> active = np.r_[np.ones(8), np.zeros(2), np.ones(1), np.zeros(9), np.zeros(10)]
    >>> sel = latent_selectivity(active[:, None], np.repeat([0, 1, 2], 10))
    >>> sel.f_out.round(2).tolist()  # the best other condition: image 0 for 1 and 2
    [[0.1, 0.8, 0.8]]
    >>> sel.selectivity.round(3).tolist()  # 0.8 / 0.9, 0.1 / 0.9, 0 / 0.8
    [[0.889, 0.111, 0.0]]
    """
    active = np.asarray(Z) != 0
    index, names = _conditions(labels, n_quantiles)
    if index.shape[0] != active.shape[0]:
        raise ValueError(f"labels has {index.shape[0]} entries; Z has {active.shape[0]} rows.")
    f_in = np.stack([active[index == c].mean(0) for c in range(names.size)], axis=1)
    f_out = _best_other(f_in)
    total = f_in + f_out
    selectivity = np.divide(f_in, total, out=np.zeros_like(f_in), where=total > 0)
    preferred = np.where(active.any(0), f_in.argmax(1), -1)
    return Bunch(f_in=f_in, f_out=f_out, selectivity=selectivity, conditions=names,
                 preferred=preferred)


def _best_other(values):
    """Per row and column: the row's largest value in any other column (0 if none)."""
    if values.shape[1] < 2:
        return np.zeros_like(values)
    order = np.argsort(values, axis=1)
    top = np.take_along_axis(values, order[:, -1:], axis=1)
    second = np.take_along_axis(values, order[:, -2:-1], axis=1)
    # Every column but the row's maximum sees the maximum; the maximum sees the runner-up.
    is_top = np.arange(values.shape[1]) == order[:, -1:]
    return np.where(is_top, second, top)


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


def _classifier():
    """The decoders' classifier: logistic regression on standardised latents."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _time_folds(groups, cv):
    """Contiguous blocks of time, or whole groups (e.g. trials) when given."""
    return GroupKFold(cv) if groups is not None else KFold(cv, shuffle=False)


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
        model = _classifier()
    else:
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    return cross_val_score(model, np.asarray(Z), y, groups=groups, cv=_time_folds(groups, cv))
