"""Figures for the report and for feature hunting (needs ``pip install 'sklearn-mini[plot]'``).

Every function draws on a given matplotlib Axes (or a new one) and returns it.
"""

import numpy as np

from .io._optional import require


def _axes(ax, figsize=(5, 3.5)):
    if ax is not None:
        return ax
    plt = require("matplotlib.pyplot", "plot", "Plotting")
    return plt.subplots(figsize=figsize)[1]


def plot_training_curve(estimator, ax=None):
    """Mean training loss per epoch (``loss_curve_``) on a log scale."""
    ax = _axes(ax)
    curve = np.asarray(estimator.loss_curve_)
    ax.plot(np.arange(1, curve.size + 1), curve)
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="training loss", title="Training curve")
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


def plot_latent_raster(Z, ax=None, bin_size=None, latents=None, max_bins=2000):
    """Activation of latents over time (rows: latents, columns: time bins)."""
    ax = _axes(ax, figsize=(8, 3.5))
    Z = np.asarray(Z)[:max_bins]
    if latents is None:
        latents = np.flatnonzero((Z != 0).any(0))
    extent = None
    if bin_size:
        extent = (0, Z.shape[0] * bin_size, len(latents) - 0.5, -0.5)
    image = ax.imshow(Z[:, latents].T, aspect="auto", interpolation="nearest", cmap="magma",
                      extent=extent)
    ax.set(xlabel="time from block start (s)" if bin_size else "time bin", ylabel="latent",
           title=f"Latent raster ({len(latents)} active latents)")
    ax.figure.colorbar(image, ax=ax, label="activation")
    return ax


def plot_tuning_curve(Z, labels, latent, ax=None, n_quantiles=5):
    """Mean activation and active fraction of one latent per condition."""
    from .features import _conditions

    ax = _axes(ax)
    index, names = _conditions(labels, n_quantiles)
    z = np.asarray(Z)[:, latent]
    means = [z[index == c].mean() for c in range(names.size)]
    active = [(z[index == c] != 0).mean() for c in range(names.size)]
    x = np.arange(names.size)
    ax.plot(x, means, "o-", label="mean activation")
    ax.plot(x, active, "s--", label="active fraction")
    ax.set_xticks(x, [str(n) for n in names], rotation=90 if names.size > 12 else 0)
    ax.set(xlabel="condition", title=f"Tuning of latent {latent}")
    ax.legend()
    return ax


def plot_selectivity(selectivity, ax=None, latents=None):
    """Heat map of latent selectivity (latents x conditions); 0.5 means no preference."""
    ax = _axes(ax, figsize=(6, 5))
    values = selectivity.selectivity if latents is None else selectivity.selectivity[latents]
    image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=0,
                      vmax=1)
    names = [str(c) for c in selectivity.conditions]
    if len(names) <= 20:
        ax.set_xticks(np.arange(len(names)), names, rotation=45)
    ax.set(xlabel="condition", ylabel="latent", title="Latent selectivity f_in / (f_in + f_out)")
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
