"""Scoring latents against behaviour and stimulus labels, and ranking them by importance.

Every score here is one formula, written once and tested against hand-computed values
(``tests/evaluation/test_behaviour.py``). Labels are one value per time bin: a category (stimulus
id, trial type), an event indicator (bool) or a continuous variable, which is split into
equal-count quantile bins. Each category (or quantile bin, or the ``True`` of an event)
is a *condition*, scored one against the rest.

Per latent ``i`` and condition ``c``, with *active* meaning a non-zero activation:

* ``coverage[i, c] = P(active | c)``: the fraction of the condition's bins on which the
  latent is active (how much of the condition the latent covers);
* ``specificity[i, c] = P(c | active)``: the fraction of the latent's active bins that
  lie in the condition (how much of the latent the condition explains);
* ``selectivity`` as :func:`sklearn_mini.features.latent_selectivity` (the condition
  against the latent's most active other condition);
* ``auroc[i, c]``: the area under the ROC curve of the activation's *value* as a score
  for "this bin is in condition ``c``" (0.5: no information; 1: every bin of the
  condition has a larger activation than every other bin). Ties count one half, as in
  the Mann-Whitney U statistic it equals.

Decoders (:func:`decode_conditions`) report balanced accuracy on contiguous folds of
time, so a rare condition counts as much as a common one and neighbouring bins never sit
on both sides of a split. :func:`ablation_importance` ranks latents by how much of the
data's variance is lost without them; :func:`spectral_fidelity` compares the Welch power
spectrum of every unit with that of its reconstruction. R² per lag of a window model is
:meth:`sklearn_mini.SpikeSAE.score_lags`.
"""

from typing import NamedTuple

import numpy as np
from scipy.signal import welch
from scipy.stats import rankdata
from sklearn.model_selection import cross_val_score
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array

from .features import _classifier, _conditions, _time_folds, latent_selectivity
from .metrics import _model_and_input, _total_sum_of_squares, dense_float64


def condition_matrix(labels, n_quantiles=5):
    """One boolean column per condition of ``labels``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Categories, event indicators (bool: one condition, the ``True`` bins) or a
        continuous variable (split into ``n_quantiles`` equal-count bins).
    n_quantiles : int, default=5

    Returns
    -------
    member : ndarray of bool, shape (n_samples, n_conditions)
    conditions : ndarray of shape (n_conditions,)
        The condition names (``'q0'`` ... for quantile bins).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one value per bin (1-D), got shape {labels.shape}.")
    if labels.dtype == bool:
        return labels[:, None], np.asarray([True])
    index, names = _conditions(labels, n_quantiles)
    return index[:, None] == np.arange(names.size), names


def _codes(Z, n_labels):
    Z = check_array(Z, dtype=np.float64, accept_sparse=False, input_name="Z")
    if Z.shape[0] != n_labels:
        raise ValueError(f"labels has {n_labels} entries; Z has {Z.shape[0]} rows (one label "
                         "per time bin expected).")
    return Z


def auroc(Z, member):
    """Area under the ROC curve of every latent's activation for every condition.

    ``(R - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` with ``R`` the sum of the ranks of the
    condition's bins among all bins (average ranks for ties): the probability that a
    random bin of the condition has a larger activation than a random other bin, ties
    counting one half.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_latents)
        Latent activations.
    member : array-like of bool, shape (n_samples, n_conditions)
        Condition membership (:func:`condition_matrix`).

    Returns
    -------
    auroc : ndarray of shape (n_latents, n_conditions)
        0.5 for a condition that covers no bin or every bin (nothing to separate).

    Examples
    --------
    Activations 3, 1, 2, 0 on bins of which the first two are the condition: the pairs
    (3 > 2), (3 > 0), (1 < 2), (1 > 0) give 3 of 4.

    >>> import numpy as np
    >>> from sklearn_mini.behaviour import auroc
    >>> auroc(np.array([[3.0], [1.0], [2.0], [0.0]]), np.array([[1], [1], [0], [0]], bool))
    array([[0.75]])
    """
    member = np.asarray(member, dtype=bool)
    Z = _codes(Z, member.shape[0])
    ranks = rankdata(Z, axis=0)  # average ranks: ties count one half
    n_pos = member.sum(0).astype(np.float64)
    n_neg = member.shape[0] - n_pos
    rank_sums = ranks.T @ member  # latents x conditions
    both = (n_pos > 0) & (n_neg > 0)
    out = np.full((Z.shape[1], member.shape[1]), 0.5)
    out[:, both] = ((rank_sums[:, both] - n_pos[both] * (n_pos[both] + 1) / 2)
                    / (n_pos[both] * n_neg[both]))
    return out


def score_latents(Z, labels, n_quantiles=5):
    """Coverage, specificity, selectivity and AUROC of every latent for every condition.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_latents)
        Latent activations (e.g. ``SpikeSAE.transform`` of held-out bins).
    labels : array-like of shape (n_samples,)
        One label per bin (see :func:`condition_matrix`).
    n_quantiles : int, default=5
        Quantile bins of a continuous label.

    Returns
    -------
    scores : Bunch
        ``coverage``, ``specificity``, ``selectivity`` and ``auroc``, each of shape
        (n_latents, n_conditions); ``conditions`` (n_conditions,); ``n_bins``, the bins
        of every condition. A latent never active has coverage, specificity and
        selectivity 0 (it covers and explains nothing) and AUROC 0.5.

    Examples
    --------
    One latent active on bins 0, 1 and 2 of six; the condition is bins 0, 1, 3, 4:

    >>> import numpy as np
    >>> from sklearn_mini.behaviour import score_latents
    >>> z = np.array([[1.0], [2.0], [1.0], [0.0], [0.0], [0.0]])
    >>> s = score_latents(z, np.array([1, 1, 0, 1, 1, 0], dtype=bool))
    >>> float(s.coverage[0, 0]), float(s.specificity[0, 0])  # 2 of 4; 2 of 3
    (0.5, 0.6666666666666666)
    """
    member, conditions = condition_matrix(labels, n_quantiles)
    Z = _codes(Z, member.shape[0])
    active = (Z != 0).astype(np.float64)
    hits = active.T @ member  # latents x conditions: active bins inside the condition
    n_bins = member.sum(0)
    n_active = active.sum(0)[:, None]
    coverage = hits / np.maximum(n_bins, 1)
    specificity = np.divide(hits, n_active, out=np.zeros_like(hits), where=n_active > 0)
    if member.shape[1] == 1:  # an event: the condition against the rest of the time
        selectivity = np.zeros((Z.shape[1], 1))
        if member[:, 0].any() and not member[:, 0].all():
            selectivity = latent_selectivity(Z, member[:, 0].astype(int)).selectivity[:, 1:]
    else:
        selectivity = latent_selectivity(Z, labels, n_quantiles).selectivity
    return Bunch(coverage=coverage, specificity=specificity, selectivity=selectivity,
                 auroc=auroc(Z, member), conditions=conditions, n_bins=n_bins)


def decode_conditions(Z, labels, groups=None, cv=5, single=True):
    """Balanced accuracy of decoding the label from all latents, and from each alone.

    Logistic regression on standardised activations, scored on contiguous folds of time
    (unshuffled ``KFold``) or on whole groups such as trials (``GroupKFold``). Balanced
    accuracy is the mean recall over classes: chance is ``1 / n_classes`` whatever the
    classes' frequencies.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_latents)
    labels : array-like of shape (n_samples,)
        Categories (a continuous label is split into quantile bins first, as in
        :func:`condition_matrix`).
    groups : array-like of shape (n_samples,), default=None
    cv : int, default=5
    single : bool or array-like of int, default=True
        Also fit one decoder per latent (``True``), or for these latents only. A latent
        not decoded, or never active, gets the chance a constant predictor has:
        ``1 / n_classes``.

    Returns
    -------
    result : Bunch
        ``all`` (mean balanced accuracy of the all-latent decoder), ``all_folds``
        (cv,), ``single`` (n_latents,) or None (``single=False``), and ``chance``.
    """
    index, names = _conditions(np.asarray(labels), 5)
    Z = _codes(Z, index.shape[0])
    if names.size < 2:
        raise ValueError(f"labels has a single condition ({names[0]!r}): nothing to decode.")
    folds = _time_folds(groups, cv)
    score = "balanced_accuracy"
    all_folds = cross_val_score(_classifier(), Z, index, groups=groups, cv=folds, scoring=score)
    chance = 1.0 / names.size
    per_latent = None
    if single is not False:
        per_latent = np.full(Z.shape[1], chance)
        chosen = np.arange(Z.shape[1]) if single is True else np.asarray(single, dtype=int)
        for i in chosen[(Z[:, chosen] != 0).any(0)]:
            per_latent[i] = cross_val_score(_classifier(), Z[:, i:i + 1], index, groups=groups,
                                            cv=folds, scoring=score).mean()
    return Bunch(all=float(all_folds.mean()), all_folds=all_folds, single=per_latent,
                 chance=chance)


def ablation_importance(estimator, X):
    """How much of the data's variance each latent carries: ``(SSE_without - SSE) / SST``.

    ``SSE`` is the squared error of the reconstruction ``inverse_transform(transform(X))``,
    ``SSE_without`` that with the latent's activations set to 0 (the other latents
    unchanged), and ``SST`` the total sum of squares around each unit's mean, the
    denominator of :func:`sklearn_mini.metrics.explained_variance`. So a latent's
    importance is the explained variance lost without it, and a latent never active on
    ``X`` has importance 0. It can be negative for a latent that makes the
    reconstruction worse.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with ``transform`` and ``inverse_transform`` (SpikeSAE, MatryoshkaSAE,
        PCA, NMF); a Pipeline's earlier steps (e.g. a SpikeBinner) transform ``X`` first.
    X : array-like
        The data to score (held-out time, to judge a model).

    Returns
    -------
    importance : ndarray of shape (n_latents,)
    """
    model, X = _model_and_input(estimator, X)
    Z = np.asarray(model.transform(X), dtype=np.float64)
    X = dense_float64(X)
    X_hat = np.asarray(model.inverse_transform(Z), dtype=np.float64)
    sst = float(_total_sum_of_squares(X, 0).sum())
    importance = np.zeros(Z.shape[1])
    for i in np.flatnonzero((Z != 0).any(0)):
        rows = np.flatnonzero(Z[:, i])  # only the bins where the latent is active change
        without = Z[rows].copy()
        without[:, i] = 0.0
        changed = np.asarray(model.inverse_transform(without), dtype=np.float64)
        gain = np.sum((X[rows] - changed) ** 2) - np.sum((X[rows] - X_hat[rows]) ** 2)
        importance[i] = gain / sst if sst > 0 else 0.0
    return importance


def spectral_fidelity(X, X_hat, fs, nperseg=256):
    """How well each unit's reconstruction keeps the unit's power spectrum.

    Welch power spectral densities ``P`` (data) and ``Q`` (reconstruction) of every unit
    over the bins (mean removed, Hann windows of ``nperseg`` bins), and
    ``fidelity = 1 - sum_f |Q - P| / sum_f (P + Q)``: 1 for identical spectra, 0 when the
    two have no power at any common frequency. A reconstruction at half the amplitude
    (power a quarter) scores ``1 - 0.75 / 1.25 = 0.4`` at every frequency. A unit flat in
    both has fidelity 1.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_units)
        Binned data and its reconstruction, consecutive bins in time order.
    fs : float
        Bins per second (``1 / bin_size``).
    nperseg : int, default=256
        Window length (at most the number of bins).

    Returns
    -------
    result : Bunch
        ``fidelity`` (n_units,), ``freqs`` (Hz), ``psd`` and ``psd_hat``
        (n_freqs, n_units).
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    X_hat = check_array(X_hat, dtype=np.float64, input_name="X_hat")
    if X.shape != X_hat.shape:
        raise ValueError(f"X and X_hat must have the same shape, got {X.shape} and {X_hat.shape}.")
    if not fs > 0:
        raise ValueError(f"fs must be a positive number of bins per second, got {fs!r}.")
    n = min(int(nperseg), X.shape[0])
    freqs, P = welch(X, fs=fs, nperseg=n, axis=0)
    _, Q = welch(X_hat, fs=fs, nperseg=n, axis=0)
    total = (P + Q).sum(0)
    diff = np.abs(Q - P).sum(0)
    fidelity = 1.0 - np.divide(diff, total, out=np.zeros_like(diff), where=total > 0)
    return Bunch(fidelity=fidelity, freqs=freqs, psd=P, psd_hat=Q)


class AlignedLabel(NamedTuple):
    """A label's value in every bin, and which bins have one."""

    values: np.ndarray
    valid: np.ndarray


def align_labels(table, bin_starts, bin_size):
    """Every label of a :class:`~sklearn_mini.io.LabelTable`, one value per time bin.

    A bin is represented by its centre ``start + bin_size / 2``:

    * trials: each label column's value of the trial whose ``[start, stop)`` holds the
      centre (bins between trials have no value);
    * events: one boolean label per event name, ``event <name>``: whether an event of
      that name falls in the bin ``[start, start + bin_size)``;
    * time series: a float column is interpolated linearly at the centre, any other
      (integers, strings, bool) holds its last sample at or before the centre; bins
      outside the sampled span have no value.

    Parameters
    ----------
    table : LabelTable
        From :func:`sklearn_mini.io.read_labels`.
    bin_starts : array-like of shape (n_bins,)
        Left edges of the bins (:meth:`sklearn_mini.SpikeBinner.bin_times`), increasing.
    bin_size : float
        Bin width (s).

    Returns
    -------
    labels : dict of str to AlignedLabel
        ``values`` (n_bins,) and ``valid`` (n_bins,), the bins that have a value (the
        values of the others are filler, never to be scored).
    """
    starts = np.asarray(bin_starts, dtype=np.float64)
    centres = starts + bin_size / 2
    if table.kind == "trials":
        return _align_trials(table, centres)
    if table.kind == "events":
        return _align_events(table, starts, bin_size)
    return _align_series(table, centres)


def _align_trials(table, centres):
    order = np.argsort(table.times[:, 0], kind="stable")
    start, stop = table.times[order, 0], table.times[order, 1]
    trial = np.searchsorted(start, centres, side="right") - 1
    valid = trial >= 0
    valid[valid] = centres[valid] < stop[trial[valid]]
    trial = np.where(valid, trial, 0)
    return {name: AlignedLabel(values=np.asarray(values)[order][trial], valid=valid)
            for name, values in table.columns.items()}


def _align_events(table, starts, bin_size):
    names = np.asarray(table.columns["event"])
    index = np.searchsorted(starts, table.times, side="right") - 1
    inside = (index >= 0) & (table.times < starts[np.maximum(index, 0)] + bin_size)
    out = {}
    for name in np.unique(names):
        hit = np.zeros(starts.size, dtype=bool)
        hit[index[inside & (names == name)]] = True
        out[f"event {name}"] = AlignedLabel(values=hit, valid=np.ones(starts.size, dtype=bool))
    return out


def _align_series(table, centres):
    order = np.argsort(table.times, kind="stable")
    times = table.times[order]
    valid = (centres >= times[0]) & (centres <= times[-1])
    out = {}
    for name, values in table.columns.items():
        values = np.asarray(values)[order]
        if values.dtype.kind == "f":
            aligned = np.interp(centres, times, values)
        else:
            aligned = values[np.clip(np.searchsorted(times, centres, side="right") - 1, 0, None)]
        out[name] = AlignedLabel(values=aligned, valid=valid)
    return out
