"""One honest comparison of latent models on held-out, contiguous blocks of time."""

import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import check_cv

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


def evaluate(estimator, X_train, X_test):
    """Fit ``estimator`` (in place) on ``X_train`` and score it on held-out ``X_test``.

    Returns the metrics of one :func:`compare` row as a dict (see there).
    """
    start = time.perf_counter()
    estimator.fit(X_train)
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


def compare(estimators, X, cv=5):
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
    rows = []
    for name, estimator in estimators.items():
        scores = [evaluate(clone(estimator), _take(X, train), _take(X, test))
                  for train, test in folds]
        row = {"method": name}
        for key in COLUMNS[1:]:
            values = [s[key] for s in scores]
            row[key], row[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else COLUMNS)


def _take(X, rows):
    from sklearn.utils import _safe_indexing

    return _safe_indexing(X, rows)


def _pandas():
    from .io._optional import require

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
    from .io._optional import require

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
