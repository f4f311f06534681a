"""One honest comparison of latent models on held-out, contiguous blocks of time."""

import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import check_cv

from ._parallel import map_tasks
from .metrics import (
    explained_variance,
    l0,
    r2_per_example,
    r2_per_unit,
    reconstruct_with,
)

COLUMNS = ["method", "r2_unit_mean", "r2_unit_median", "r2_example_mean",
           "explained_variance", "mean_l0", "fit_time", "transform_time"]
# Which way each metric is better, for figure titles.
BETTER = {"r2_unit_mean": "higher is better", "r2_unit_median": "higher is better",
          "r2_example_mean": "higher is better", "explained_variance": "higher is better",
          "mean_l0": "lower is sparser", "fit_time": "lower is faster",
          "transform_time": "lower is faster"}


def _codes(estimator, X):
    """Codes of ``X`` by the model (the last step of a Pipeline) and the transform time."""
    start = time.perf_counter()
    Z = estimator.transform(X)
    return Z, time.perf_counter() - start


def evaluate(estimator, X_train, X_test, **fit_params):
    """Fit ``estimator`` (in place) on ``X_train`` and score it on held-out ``X_test``.

    ``fit_params`` go to ``fit`` (e.g. ``spikesae__X_val`` in a Pipeline). Returns the
    metrics of one :func:`compare` row as a dict (see there).
    """
    start = time.perf_counter()
    estimator.fit(X_train, **fit_params)
    fit_time = time.perf_counter() - start
    Z, transform_time = _codes(estimator, X_test)
    observed, X_hat = reconstruct_with(estimator, X_test)
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    # Dense methods (PCA, CEBRA) use every dimension: "active dimensions" is their width.
    active = float(np.mean(l0(np.asarray(Z)))) if np.ndim(Z) == 2 else float("nan")
    per_unit = r2_per_unit(observed, X_hat)
    return {
        "r2_unit_mean": float(per_unit.mean()),
        "r2_unit_median": float(np.median(per_unit)),
        "r2_example_mean": float(r2_per_example(observed, X_hat).mean()),
        "explained_variance": explained_variance(observed, X_hat),
        "mean_l0": active,
        "fit_time": fit_time,
        "transform_time": transform_time,
    }


def _fold_scores(estimator, X, train, test):
    """:func:`evaluate` of a clone of ``estimator`` on one fold (a worker's task)."""
    return evaluate(clone(estimator), _take(X, train), _take(X, test))


def compare(estimators, X, cv=5, n_jobs=None):
    """Fit every estimator on training time and score its reconstruction of held-out time.

    The rows of ``X`` are split into ``cv`` contiguous blocks (no shuffling, so a test
    block is a stretch of time never seen in fit; neighbouring bins cannot leak into the
    training set the way random splits let them). Each estimator is cloned and fitted
    on the other blocks; all metrics are computed on the held-out block in the space the
    model reconstructs (after a Pipeline's earlier steps, e.g. binning), then averaged
    over folds.

    Parameters
    ----------
    estimators : dict of str to estimator, or list of estimators
        Models with ``fit``, ``transform`` and ``inverse_transform`` (or ``reconstruct``);
        Pipelines ending in one are fine, e.g. ``make_pipeline(SpikeBinner(), SpikeSAE())``
        on raw spikes.
    X : array-like of shape (n_samples, n_features) or SpikeTrains
        Binned counts (rows in time order), or raw spikes sorted by time for Pipelines
        that start with a binner.
    cv : int, cross-validation splitter or iterable of (train, test), default=5
        Number of contiguous folds (``KFold(cv, shuffle=False)``), any splitter, or
        explicit index pairs (e.g. one train/test split).
    n_jobs : int or None, default=None
        Fits to run at once, in worker processes (joblib's meaning: ``None`` is 1, ``-1``
        every core). Each worker's torch gets an equal share of the cores. The scores do
        not depend on it; ``fit_time`` is measured inside each worker, so fits that share
        a busy machine take longer.

    Returns
    -------
    table : pandas.DataFrame
        One row per method: mean and median R^2 per unit, mean R^2 per example, pooled
        explained variance, mean L0 (active dimensions of the codes), fit time and
        transform time in seconds: means over folds, each followed by its spread over
        the folds in a ``<metric>_std`` column (the standard deviation, as in
        scikit-learn's ``cv_results_``; 0 for a single split).
    """
    pd = _pandas()
    if not isinstance(estimators, dict):
        estimators = {type(e).__name__ if not hasattr(e, "steps") else type(e[-1]).__name__: e
                      for e in estimators}
    folds = list(check_cv(cv).split(X))  # an int: unshuffled KFold, contiguous blocks
    rows = _rows(list(estimators.items()), X, folds, n_jobs)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else COLUMNS)


def _rows(named, X, folds, n_jobs):
    """One row of fold means and spreads per ``(name, estimator)``; every fit of every
    estimator and fold is one task, so the workers are busy until the last one ends."""
    tasks = [(estimator, X, train, test) for _, estimator in named for train, test in folds]
    results = list(map_tasks(_fold_scores, tasks, n_jobs))
    rows = []
    for i, (name, _) in enumerate(named):
        scores = results[i * len(folds):(i + 1) * len(folds)]
        row = {"method": name}
        for key in COLUMNS[1:]:
            values = [s[key] for s in scores]
            row[key], row[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        rows.append(row)
    return rows


def matched_models(k, d_sae=40, random_state=0, **sae_params):
    """Models whose codes use about ``k`` active dimensions per sample, for a frontier.

    A SpikeSAE with ``topk=k``, PCA and NMF with ``k`` components, and a dictionary of
    ``d_sae`` atoms whose OMP codes have ``k`` non-zeros: what a sparse code of ``k``
    latents should be compared with, since PCA with as many components as the SAE has
    latents uses every one of them in every bin.

    Parameters
    ----------
    k : int
        Active dimensions per sample.
    d_sae : int, default=40
        Latents of the SAE and atoms of the OMP dictionary.
    random_state : int, default=0
        Seed of every model.
    **sae_params
        More SpikeSAE parameters (e.g. ``sparsity='batchtopk'``, ``n_epochs``).

    Returns
    -------
    models : dict of str to estimator
        ``'SpikeSAE'``, ``'PCA'``, ``'NMF'`` and ``'dictionary (OMP)'``, each unfitted.
    """
    from ..sae.spike import SpikeSAE
    from .baselines import NMF, PCA, k_sparse_dictionary

    return {
        "SpikeSAE": SpikeSAE(d_sae=d_sae, topk=k, random_state=random_state, **sae_params),
        "PCA": PCA(n_components=k, random_state=random_state),
        "NMF": NMF(n_components=k, init="nndsvda", max_iter=400, random_state=random_state),
        "dictionary (OMP)": k_sparse_dictionary(d_sae, k, random_state=random_state),
    }


def frontier(X, ks=(1, 2, 4, 8), models=None, cv=5, n_jobs=None):
    """The sparsity-fidelity frontier: every model at every number of active dimensions.

    For each ``k``, :func:`compare` of ``models(k)`` (default :func:`matched_models`), so
    a sparse code is judged against dense and classical codes that use as many
    dimensions per sample, on the same held-out blocks of time.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or SpikeTrains
        As for :func:`compare`.
    ks : sequence of int, default=(1, 2, 4, 8)
        Active dimensions per sample.
    models : callable or None, default=None
        ``models(k)`` returns a dict of name to estimator; ``None``:
        :func:`matched_models` with its defaults.
    cv : int, cross-validation splitter or iterable of (train, test), default=5
        As for :func:`compare`.
    n_jobs : int or None, default=None
        As for :func:`compare`.

    Returns
    -------
    table : pandas.DataFrame
        :func:`compare`'s columns plus ``k``, one row per model and ``k``; ``mean_l0`` is
        what each model actually used (NMF may use fewer than ``k``).
    """
    pd = _pandas()
    models = models or matched_models
    folds = list(check_cv(cv).split(X))  # the same blocks for every k
    named, ks_of_rows = [], []
    for k in ks:
        for name, estimator in models(k).items():
            named.append((name, estimator))
            ks_of_rows.append(k)
    table = pd.DataFrame(_rows(named, X, folds, n_jobs))
    table.insert(1, "k", ks_of_rows)
    return table


def frontier_verdict(table, reference="SpikeSAE", metric="explained_variance", tol=0.05):
    """Sentences saying, for every ``k``, whether ``reference`` beats each other model at
    the active dimensions that model actually used.

    Models do not always use ``k`` dimensions: NMF's codes are often sparser, and empty
    bins get all-zero OMP and NMF codes while a TopK SAE still uses ``k`` latents. A model
    whose mean L0 is within ``tol`` (relative) of the reference's at the same ``k`` is
    compared with it directly; otherwise with the reference's frontier interpolated at
    that model's L0 (linear in log2 L0 between the reference's measured points), and not
    at all when that L0 lies outside the reference's measured range.

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        Rows with ``method``, ``k``, ``mean_l0`` and ``metric`` (:func:`frontier`'s
        output).
    reference : str, default='SpikeSAE'
    metric : str, default='explained_variance'
    tol : float, default=0.05
        Relative difference of mean L0 still counted as the same number of dimensions.

    Returns
    -------
    lines : list of str
        One per ``k``, e.g. ``'k=2: SpikeSAE 0.662 (L0 1.99) is above PCA 0.157; not above
        dictionary (OMP) 0.700 (L0 1.50; SpikeSAE at that L0: 0.610).'``.
    """
    rows = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    ours = {row["k"]: row for row in rows if row["method"] == reference}
    points = sorted((row["mean_l0"], row[metric]) for row in ours.values() if row["mean_l0"] > 0)
    log_l0 = np.log2([p[0] for p in points])
    values = [p[1] for p in points]
    lines = []
    for k in sorted(ours):
        mine = ours[k]
        above, not_above, outside = [], [], []
        for row in rows:
            if row["k"] != k or row["method"] == reference:
                continue
            l0, theirs = row["mean_l0"], row[metric]
            text = f"{row['method']} {theirs:.3f}"
            if abs(l0 - mine["mean_l0"]) <= tol * mine["mean_l0"]:
                ref_value = mine[metric]
            elif l0 > 0 and log_l0.size and log_l0[0] <= np.log2(l0) <= log_l0[-1]:
                ref_value = float(np.interp(np.log2(l0), log_l0, values))
                text += f" (L0 {l0:.2f}; {reference} at that L0: {ref_value:.3f})"
            else:
                outside.append(f"{row['method']} (L0 {l0:.2f})")
                continue
            (above if ref_value > theirs else not_above).append(text)
        parts = [f"above {', '.join(above)}"] * bool(above)
        parts += [f"not above {', '.join(not_above)}"] * bool(not_above)
        if outside:
            span = (f"L0 range {points[0][0]:.2f}-{points[-1][0]:.2f}" if points
                    else "L0 range (no point above 0)")
            parts.append(f"not compared with {', '.join(outside)}: outside the {reference}'s "
                         + span)
        lines.append(f"k={k}: {reference} {mine[metric]:.3f} (L0 {mine['mean_l0']:.2f}) is "
                     + "; ".join(parts) + ".")
    return lines


def plot_frontier(table, metric="explained_variance", ax=None):
    """Held-out ``metric`` against the active dimensions each model used, per model.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`frontier` (or rows with ``method``, ``mean_l0`` and ``metric``).
    metric : str, default='explained_variance'
    ax : matplotlib Axes or None, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    from .._optional import require

    plt = require("matplotlib.pyplot", "plot", "plot_frontier()")
    if ax is None:
        ax = plt.subplots(figsize=(6, 4), layout="constrained")[1]
    for method in dict.fromkeys(table["method"]):
        rows = table[table["method"] == method].sort_values("mean_l0")
        spread = rows[f"{metric}_std"] if f"{metric}_std" in rows else None
        ax.errorbar(rows["mean_l0"], rows[metric], yerr=spread, marker="o", capsize=3,
                    label=method)
    ax.set_xscale("log", base=2)
    ticker = require("matplotlib.ticker", "plot", "plot_frontier()")
    ax.xaxis.set_major_formatter(ticker.ScalarFormatter())  # 1, 2, 4, not 2^0, 2^1
    ax.set(xlabel="active dimensions per bin (mean L0)", ylabel=f"held-out {metric}",
           title="Sparsity-fidelity frontier (up and left is better)")
    ax.legend(fontsize=8)
    return ax


def _take(X, rows):
    from sklearn.utils import _safe_indexing

    return _safe_indexing(X, rows)


def _pandas():
    from .._optional import require

    return require("pandas", "pandas", "compare()")


def plot_comparison(table, metrics=("explained_variance", "r2_unit_median", "mean_l0"), ax=None):
    """Bar charts of a :func:`compare` table, one panel per metric.

    Each panel says which way is better; bars carry the spread over folds (``<metric>_std``)
    as error bars when the table has it. New axes are laid out so that method names and
    titles never overlap the neighbouring panel.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`compare`.
    metrics : sequence of str, default=('explained_variance', 'r2_unit_median', 'mean_l0')
        Columns to plot.
    ax : sequence of matplotlib Axes or None, default=None
        One per metric; new axes when ``None``.

    Returns
    -------
    axes : list of matplotlib Axes
    """
    from .._optional import require

    plt = require("matplotlib.pyplot", "plot", "plot_comparison()")
    if ax is None:
        _, ax = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3), squeeze=False,
                             sharey=True, layout="constrained")
        ax = ax[0]
    methods = list(table["method"])
    rows = np.arange(len(methods))[::-1]  # the table's first method on top
    for axis, metric in zip(ax, metrics):
        spread = table[f"{metric}_std"] if f"{metric}_std" in table else None
        axis.barh(rows, table[metric], xerr=spread, capsize=3)
        axis.set_title(f"{metric}\n({BETTER[metric]})" if metric in BETTER else metric)
        axis.set_yticks(rows, methods)
    return list(ax)
