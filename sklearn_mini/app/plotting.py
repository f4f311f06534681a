"""Figures for the report and for feature hunting (needs ``pip install -e ".[plot]"``).

Every function draws on a given matplotlib Axes (or a new one) and returns it.
"""

import numpy as np

from .._optional import require


def _axes(ax, figsize=(5, 3.5)):
    if ax is not None:
        return ax
    plt = require("matplotlib.pyplot", "plot", "Plotting")
    return plt.subplots(figsize=figsize)[1]


def plot_training_curve(estimator, ax=None, validation_label="validation EV"):
    """Mean training loss per epoch (``loss_curve_``) on a log scale, titled with the model.

    When the fit scored held-out rows (``early_stopping`` or ``fit(X_val=...)``), their
    explained variance after every epoch (``validation_scores_``) is drawn on a second
    axis, named ``validation_label``.
    """
    ax = _axes(ax)
    curve = np.asarray(estimator.loss_curve_)
    epochs = np.arange(1, curve.size + 1)
    ax.plot(epochs, curve, label="training loss")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="training loss",
           title=f"Training curve ({type(estimator).__name__})")
    validation = getattr(estimator, "validation_scores_", None)
    if validation:
        twin = ax.twinx()
        twin.plot(epochs[: len(validation)], validation, color="C1", label=validation_label)
        twin.set_ylabel(validation_label)
        ax.legend(handles=ax.get_lines() + twin.get_lines(), loc="center right")
    return ax


def plot_r2_per_unit(r2, ax=None, unit_names=None):
    """R^2 of every unit on held-out time, sorted, with the median marked."""
    ax = _axes(ax)
    r2 = np.asarray(r2)
    order = np.argsort(r2)[::-1]
    ax.bar(np.arange(r2.size), r2[order], width=1.0)
    ax.axhline(np.median(r2), color="k", ls="--", lw=1, label=f"median {np.median(r2):.2f}")
    ax.set(xlabel="unit (sorted)", ylabel="held-out R$^2$", title="R$^2$ per unit",
           ylim=(min(0.0, r2.min()), 1.0))
    ax.legend(loc="lower left")
    return ax


def _label_latent_rows(ax, latents, max_ticks=64):
    """Name image rows by latent id, not by row position (rows may be a subset or sorted).

    Every row is named up to ``max_ticks`` rows (in a smaller font past 25); beyond that
    an evenly spaced subset is.
    """
    latents = np.asarray(latents)
    rows = np.arange(latents.size)
    if rows.size > max_ticks:
        rows = np.unique(np.linspace(0, latents.size - 1, max_ticks).round().astype(int))
    ax.set_yticks(rows, [str(i) for i in latents[rows]])
    if rows.size > 25:
        ax.tick_params(axis="y", labelsize=max(4, 9 - rows.size // 15))


def plot_latent_raster(Z, ax=None, bin_size=None, latents=None, max_bins=2000, t_start=0.0):
    """Activation of latents over time (rows: latents, columns: time bins).

    Parameters
    ----------
    Z : array-like of shape (n_bins, n_latents)
    ax : matplotlib Axes or None, default=None
    bin_size : float or None, default=None
        Seconds per bin; the x axis is then recording time in seconds.
    latents : array-like of int or None, default=None
        Latents to draw, in this order (default: every latent active in the window).
        Rows are labelled by latent id.
    max_bins : int, default=2000
        Draw at most this many bins from the start.
    t_start : float, default=0.0
        Recording time (s) of the first bin, so the axis shows when the bins were.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax, figsize=(8, 3.5))
    Z = np.asarray(Z)[:max_bins]
    latents = np.flatnonzero((Z != 0).any(0)) if latents is None else np.asarray(latents)
    extent = None
    if bin_size:
        extent = (t_start, t_start + Z.shape[0] * bin_size, len(latents) - 0.5, -0.5)
    image = ax.imshow(Z[:, latents].T, aspect="auto", interpolation="nearest", cmap="magma",
                      extent=extent)
    _label_latent_rows(ax, latents)
    ax.set(xlabel="recording time (s)" if bin_size else "time bin", ylabel="latent",
           title=f"Latent raster ({len(latents)} latents)")
    ax.figure.colorbar(image, ax=ax, label="activation")
    return ax


def plot_tuning_curve(Z, labels, latent, ax=None, n_quantiles=5, max_ticks=30):
    """Mean activation and active fraction of one latent per condition, with error bars.

    Error bars are one standard error: of the mean activation, and of the active fraction
    (binomial). Categories are drawn as separate points; quantile bins of a continuous
    variable are joined by lines. At most ``max_ticks`` condition names are written.
    """
    from ..evaluation.features import _conditions, _continuous

    ax = _axes(ax)
    index, names = _conditions(labels, n_quantiles)
    z = np.asarray(Z)[:, latent]
    groups = [z[index == c] for c in range(names.size)]
    sizes = np.array([max(g.size, 1) for g in groups])
    means = np.array([g.mean() if g.size else np.nan for g in groups])
    sem = np.array([g.std() if g.size else np.nan for g in groups]) / np.sqrt(sizes)
    active = np.array([(g != 0).mean() if g.size else np.nan for g in groups])
    active_se = np.sqrt(active * (1 - active) / sizes)
    x = np.arange(names.size)
    line = "-" if _continuous(labels, n_quantiles) else "none"
    ax.errorbar(x, means, yerr=sem, marker="o", ls=line, capsize=3, label="mean activation")
    ax.errorbar(x, active, yerr=active_se, marker="s", ls=line, capsize=3,
                label="active fraction")
    shown = x if x.size <= max_ticks else x[:: -(-x.size // max_ticks)]
    ax.set_xticks(shown, [str(names[i]) for i in shown], rotation=45 if x.size > 6 else 0,
                  ha="right" if x.size > 6 else "center")
    ax.set(xlabel="condition", title=f"Tuning of latent {latent}")
    ax.legend()
    return ax


def plot_selectivity(selectivity, ax=None, latents=None, sort=True):
    """Heat map of latent selectivity (latents x conditions); 0.5 means no preference.

    Parameters
    ----------
    selectivity : Bunch
        Output of :func:`sklearn_mini.features.latent_selectivity`.
    ax : matplotlib Axes or None, default=None
    latents : array-like of int or None, default=None
        Latents to draw (default: all). Rows are labelled by latent id.
    sort : bool, default=True
        Order rows by preferred condition, then by selectivity for it, so latents tuned
        to the same condition sit together and the map reads as a diagonal. ``False``
        keeps the order of ``latents``.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax, figsize=(6, 5))
    values = selectivity.selectivity
    latents = np.arange(values.shape[0]) if latents is None else np.asarray(latents)
    if sort:
        preferred = selectivity.preferred[latents]
        peak = values[latents, np.maximum(preferred, 0)]
        # Never-active latents (preferred -1) go last.
        latents = latents[np.lexsort((-peak, np.where(preferred < 0, values.shape[1],
                                                       preferred)))]
    image = ax.imshow(values[latents], aspect="auto", interpolation="nearest", cmap="RdBu_r",
                      vmin=0, vmax=1)
    _label_latent_rows(ax, latents)
    names = [str(c) for c in selectivity.conditions]
    if len(names) <= 20:
        ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right")
    ax.set(xlabel="condition", ylabel="latent",
           title="Latent selectivity f_in / (f_in + best other f_in)")
    ax.figure.colorbar(image, ax=ax)
    return ax


def plot_feature_recovery(recoveries, ax=None, threshold=0.9):
    """Best cosine of every planted feature per method (``{name: feature_recovery(...)}``)."""
    ax = _axes(ax, figsize=(7, 3.5))
    for name, rec in recoveries.items():
        best = np.sort(rec.best_cosine)[::-1]
        ax.plot(np.arange(best.size), best, marker=".", label=f"{name} ({rec.fraction:.0%})")
    ax.axhline(threshold, color="k", ls="--", lw=1)
    ax.set(xlabel="planted feature (sorted)", ylabel="best cosine with an atom",
           title=f"Planted features recovered (cosine >= {threshold})", ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_stability(stability, ax=None, threshold=0.9):
    """Per-latent stability across seeds, sorted, with the threshold marked.

    Parameters
    ----------
    stability : array-like of shape (n_latents,) or StableFeatures
        Mean matched cosine of every latent over the other seeds
        (:func:`sklearn_mini.stability.latent_stability`), or a fitted
        :class:`~sklearn_mini.stability.StableFeatures` (its ``stability_``; the title
        then gives its seed consistency).
    ax : matplotlib Axes or None, default=None
    threshold : float, default=0.9
        Cosine drawn as the line between found-again and seed-specific latents.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    title = "Latent stability across seeds"
    if hasattr(stability, "stability_"):
        title += f" (consistency {stability.consistency_:.2f}, {len(stability.estimators_)} seeds)"
        threshold = stability.threshold
        stability = stability.stability_
    values = np.sort(np.asarray(stability, dtype=np.float64))[::-1]
    ax.plot(np.arange(1, values.size + 1), values, marker=".", lw=1)
    ax.axhline(threshold, color="k", ls="--", lw=1,
               label=f"{int(np.sum(values >= threshold))} latents >= {threshold}")
    ax.set(xlabel="latent (sorted)", ylabel="mean matched cosine", ylim=(0, 1.02),
           title=title)
    ax.legend(loc="lower left")
    return ax
