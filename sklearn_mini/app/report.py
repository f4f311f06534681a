"""The main job: bin, fit the SAEs beside the baselines, compare on held-out time, report.

``sklearn-mini demo`` runs it on simulated spikes with planted features;
``sklearn-mini run PATH`` on a user's recording.
"""

import pathlib

import numpy as np

from .._core.data import active_units_per_bin
from ..evaluation._parallel import n_workers
from ..evaluation.baselines import NMF, PCA
from ..evaluation.compare import COLUMNS, frontier_verdict
from ..evaluation.features import feature_recovery, latent_selectivity, top_latents
from ..evaluation.metrics import r2_per_unit, reconstruct_with
from ..io.formats import read_recording  # noqa: F401  (its public path before io had it)
from ..sae.matryoshka import MatryoshkaSAE
from ..sae.spike import SpikeSAE, auto_d_sae, auto_topk
from ..spikes.binning import SpikeBinner
from ..spikes.quality import qc_summary
from ._job_fits import plan_fits, quiet, run_fits, run_order
from ._job_latents import latent_section
from ._progress import JobProgress

# Most components of the job's PCA and NMF rows (default_models).
DENSE_MAX_COMPONENTS = 128


def default_models(n_units, d_sae, topk, level0, seed, verbose, n_epochs="auto",
                   cebra_iterations=1000):
    """The SAEs and baselines the main job fits (each later goes behind a SpikeBinner).

    PCA and NMF get as many components as the SAEs have latents, at most half the units
    and at most ``DENSE_MAX_COMPONENTS``: with a component per unit PCA reconstructs any
    data exactly and NMF nearly so, a row that says nothing, and NMF's cost grows with
    the square of its components (on 12,600 bins x 722 units: 10 s for 64 components,
    61 s for 128, over 4 minutes for 361 and over 8 for 722). The matched table compares
    every model at the SAE's own active dimensions. The MatryoshkaSAE's first level has
    ``level0`` latents with ``topk`` 1.
    """
    n_components = min(d_sae, max(1, n_units // 2), DENSE_MAX_COMPONENTS)
    # BatchTopK: with topk 1 on average, busy bins may still use two or three latents;
    # a TopK (the estimators' default) would have to code co-active features with one
    # atom each bin and learn their blends (on the demo: 0% of the planted features
    # recovered instead of 97%).
    models = {
        "SpikeSAE": SpikeSAE(d_sae=d_sae, topk=topk, sparsity="batchtopk", n_epochs=n_epochs,
                             random_state=seed, verbose=verbose),
        "MatryoshkaSAE": MatryoshkaSAE(levels=((level0, 1), (d_sae, topk)), sparsity="batchtopk",
                                       n_epochs=n_epochs, random_state=seed, verbose=verbose),
        "PCA": PCA(n_components=n_components),
        "NMF": NMF(n_components=n_components, init="nndsvda", max_iter=400, random_state=seed),
    }
    try:
        import cebra  # noqa: F401

        from ..adapters import CEBRAEmbedding

        # CEBRA's iterations take a while: with verbose its own progress bar shows them.
        models["CEBRA"] = CEBRAEmbedding(output_dimension=min(8, n_components),
                                         max_iterations=cebra_iterations, random_state=seed,
                                         verbose=verbose >= 1)
    except ImportError:
        pass
    return models


def choose_sizes(X_train, d_sae="auto", topk="auto", level0="auto"):
    """The job's SAE sizes, each given or chosen from the binned training data.

    ``topk``: :func:`~sklearn_mini.sae.auto_topk` of the units and of the units active
    in a typical non-empty bin; ``d_sae``: :func:`~sklearn_mini.sae.auto_d_sae` (twice
    the units, at most one latent per ten training bins); ``level0``: a fifth of
    ``d_sae`` (at least 2, below ``d_sae``), the MatryoshkaSAE's coarse level.

    Parameters
    ----------
    X_train : array-like or sparse matrix of shape (n_bins, n_units)
        The binned training data.
    d_sae, topk, level0 : int or 'auto', default='auto'

    Returns
    -------
    sizes : dict
        ``d_sae``, ``topk`` and ``level0``.
    reasons : list of str
        One line per size: what was picked and why (or that it was given).
    """
    n_bins, n_units = X_train.shape
    reasons = []
    if topk == "auto":
        active = active_units_per_bin(X_train)
        topk = auto_topk(n_units, active)
        reasons.append(f"topk {topk}: about sqrt({n_units} units) / 2, at most half the "
                       f"{active:.1f} units active in a typical non-empty bin")
    else:
        reasons.append(f"topk {topk}: given")
    if d_sae == "auto":
        d_sae = auto_d_sae(n_bins, n_units, topk)
        reasons.append(f"d_sae {d_sae}: twice the {n_units} units, at most one latent per "
                       f"ten of the {n_bins} training bins, at least 2 * topk")
    else:
        reasons.append(f"d_sae {d_sae}: given")
    if level0 == "auto":
        level0 = min(d_sae - 1, max(2, d_sae // 5))
        reasons.append(f"level 0 of the MatryoshkaSAE {level0}: a fifth of d_sae")
    else:
        reasons.append(f"level 0 of the MatryoshkaSAE {level0}: given")
    return {"d_sae": int(d_sae), "topk": int(topk), "level0": int(level0)}, reasons


def run_job(spikes, out, truth=None, bin_size=0.05, min_rate=0.5, d_sae=40, topk=1, level0=8,
            train_fraction=0.7, seed=0, verbose=1, n_epochs="auto", cebra_iterations=1000,
            log=print, source="spikes passed to run_job", ks=None, labels=None,
            stability_seeds=0, n_jobs=None):
    """Fit every model on the first ``train_fraction`` of time, score the rest, report.

    What ``sklearn-mini demo`` and ``sklearn-mini run`` do (see the user guide's main
    job page for the figures).

    Parameters
    ----------
    spikes : SpikeTrains
        The recording.
    out : str or path-like
        Report folder (created): ``summary.md`` and PNG figures (figures need matplotlib).
    truth : Bunch or None, default=None
        Planted features (:func:`sklearn_mini.datasets.make_spiking_features`), for the
        recovery table and figures.
    bin_size, min_rate : float, default=0.05, 0.5
        The :class:`~sklearn_mini.SpikeBinner` in front of every model.
    d_sae, topk, level0 : int or 'auto', default=40, 1, 8
        SAE latents (PCA and NMF get as many, at most half the units and 128), active
        latents per bin, and the MatryoshkaSAE's first level (top-1). ``'auto'``: chosen
        from the binned training data by :func:`choose_sizes`, which the log and
        ``summary.md`` explain.
    train_fraction : float, default=0.7
        Leading fraction of the recording's time to fit on.
    seed : int, default=0
        ``random_state`` of every model.
    verbose : int, default=1
        The SAEs' ``verbose``.
    n_epochs : int or 'auto', default='auto'
        The SAEs' ``n_epochs``.
    cebra_iterations : int, default=1000
        CEBRA's ``max_iterations`` (when cebra is installed).
    log : callable, default=print
        Where progress lines go.
    source : str, default='spikes passed to run_job'
        How ``summary.md`` names the data (the CLI gives the file path or the simulator
        call).
    ks : sequence of int or None, default=None
        Active dimensions per bin at which every model of
        :func:`~sklearn_mini.compare.matched_models` is also fitted and scored, so the
        SAE is judged against PCA, NMF and an OMP dictionary that use as many dimensions
        (``None``: ``(topk,)``, the SAE's own). With more than one value the report draws
        the sparsity-fidelity frontier.
    labels : LabelTable or None, default=None
        Behaviour or stimulus labels (:func:`sklearn_mini.io.read_labels`), aligned to
        the held-out bins and scored against every latent: ``summary.md`` gets a section
        per label (decoding against PCA at the same active dimensions, the latents of
        highest AUROC) and ``latent_scores.csv`` every score.
    stability_seeds : int, default=0
        Refit the SpikeSAE with this many other seeds (``seed + 1``, ...) on the same
        training time; ``summary.md`` then reports the seed consistency and every
        feature card its seed stability (:func:`sklearn_mini.stability.latent_stability`).
        Each seed costs one more SpikeSAE fit.
    n_jobs : int or None, default=None
        Fits to run at once, in worker processes (joblib's meaning: ``None`` is 1, ``-1``
        every core). Every fit of the job (its models, the matched ones, the seed refits)
        is independent of the others, so the results do not depend on it; each worker's
        torch gets an equal share of the cores. With more than one worker the models'
        own progress bars are off and the job logs each fit as it ends.

    Every run also writes ``features.html``, one card per latent
    (:func:`sklearn_mini.cards.feature_cards`), sorted by ablation importance.

    Returns
    -------
    rows : list of dict
        The comparison table, one row per model, with the columns of
        :func:`sklearn_mini.compare` (one split, so no spread).
    fitted : dict of str to Pipeline
        Every fitted ``SpikeBinner -> model`` pipeline.
    recoveries : dict of str to Bunch
        Planted-feature recovery per model (empty without ``truth``).
    matched : list of dict
        The rows at matched active dimensions: ``rows``' columns plus ``k``.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    split = spikes.t_start + train_fraction * (spikes.t_stop - spikes.t_start)
    train, test = spikes.restrict(spikes.t_start, split), spikes.restrict(split, spikes.t_stop)
    binner = SpikeBinner(bin_size=bin_size, min_rate=min_rate).fit(train)
    X_train = binner.transform(train)
    sizes, reasons = choose_sizes(X_train, d_sae, topk, level0)
    d_sae, topk, level0 = sizes["d_sae"], sizes["topk"], sizes["level0"]
    n_units = len(binner.unit_ids_)
    ks = tuple(ks or (topk,))
    _check_ks(ks, d_sae, n_units)
    if not isinstance(stability_seeds, (int, np.integer)) or stability_seeds < 0:
        raise ValueError(f"stability_seeds must be a whole number >= 0; got {stability_seeds!r}.")
    # The SAEs watch the held-out time after every epoch (validation_scores_, drawn on
    # the training curve); it is not used to stop or choose anything. Every model's
    # binner has these settings and data, so these bins serve the latent scoring too.
    X_test = binner.transform(test)
    models = default_models(n_units, d_sae, topk, level0, seed, verbose, n_epochs,
                            cebra_iterations)
    fits = plan_fits(models, dict(bin_size=bin_size, min_rate=min_rate), X_test, ks, topk,
                     dict(d_sae=d_sae, random_state=seed, sparsity="batchtopk",
                          n_epochs=n_epochs, verbose=verbose), stability_seeds)
    progress = JobProgress(len(fits) + 2, verbose, log)
    log = progress.log
    log("sizes: " + "; ".join(reasons))
    workers = n_workers(n_jobs, len(fits))
    if workers > 1:
        log(f"{len(fits)} fits, {workers} at a time in worker processes")
        quiet(fits)  # the workers' progress bars would overwrite each other
    done = _fit_everything(fits, train, test, n_jobs, progress)
    rows = [{"method": name, **done["model", name, None][1]} for name in models]
    fitted = {name: done["model", name, None][0] for name in models}
    matched = []
    for k in ks:
        if k == topk:  # the job's own SpikeSAE, first as in matched_models
            matched.append({"method": "SpikeSAE", "k": k, **done["model", "SpikeSAE", None][1]})
        matched += [{"method": fit.name, "k": k, **done["matched", fit.name, k][1]}
                    for fit in fits if fit.group == "matched" and fit.k == k]
    refits = [pipe for (group, _, _), (pipe, _) in done.items() if group == "refit"]
    recoveries = {}
    if truth is not None:
        for name in ("SpikeSAE", "MatryoshkaSAE", "PCA", "NMF"):
            recoveries[name] = feature_recovery(fitted[name], truth)
    progress.step("scoring the latents" + (" against the labels" if labels else ""))
    latents = latent_section(out, fitted["SpikeSAE"], spikes, test, X_train, X_test, bin_size,
                             labels,
                             others={name: fitted[name] for name in ("CEBRA",) if name in fitted},
                             refits=refits)
    header = _summary_header(source, spikes, test, binner, dict(
        bin_size=bin_size, min_rate=min_rate, d_sae=d_sae, topk=topk, level0=level0,
        train_fraction=train_fraction, n_epochs=n_epochs, seed=seed), reasons)
    progress.step("writing the report")
    try:
        _write_report(out, header, rows, matched, fitted, recoveries, test, truth, bin_size,
                      latents)
    except ImportError as err:  # no matplotlib: the tables still go to summary.md
        log(f"figures skipped ({err})")
        (out / "summary.md").write_text("\n".join(
            header + [_format_table(rows), ""] + _matched_section(matched) + [""] + latents)
            + "\n")
    progress.close()
    return rows, fitted, recoveries, matched


def _fit_everything(fits, train, test, n_jobs, progress):
    """Run the job's fits, logging each as it ends; ``(group, name, k) -> (pipe, scores)``."""
    done = {}
    fits = run_order(fits)
    results = run_fits(fits, train, test, n_jobs)
    for fit in fits:
        progress.step(f"fitting {fit.name}" + (f" at k={fit.k}" if fit.k else ""))
        pipe, scores = next(results)
        done[fit.group, fit.name, fit.k] = pipe, scores
        if len(done) == 1:  # every model's binner has the same settings and data
            progress.log("  " + qc_summary(pipe[0].qc_))
        progress.log(f"  held-out explained variance {scores['explained_variance']:.3f}, "
                     f"mean L0 {scores['mean_l0']:.2f}, fit {scores['fit_time']:.1f} s")
    return done


def _check_ks(ks, d_sae, n_units):
    """Refuse matched dimensions no model can have, before anything is fitted."""
    bad = [k for k in ks if not 1 <= k < d_sae or k > n_units]
    if bad:
        raise ValueError(f"Matched dimensions {bad} out of range: each k must be at least 1, "
                         f"below d_sae ({d_sae}) and at most the {n_units} units.")


def _matched_section(matched):
    """summary.md's table at matched active dimensions, and where the SAE is not above."""
    return (["## At matched active dimensions", "",
             "Every model at k active dimensions per bin (SpikeSAE with topk=k, PCA and NMF "
             "with k components, an OMP dictionary with k non-zeros), on the same held-out "
             "time. Held-out explained variance:", ""]
            + [f"- {line}" for line in frontier_verdict(matched)] + ["", _format_table(
                matched, ["method", "k"] + COLUMNS[1:])])


def _summary_header(source, spikes, test, binner, params, reasons=()):
    """The report's opening lines: what data, which units, which settings, which code."""
    import torch

    from .._version import __version__

    settings = ", ".join(f"{k}={v}" for k, v in params.items())
    return ["# sklearn-mini report", "",
            f"Data: {source}: {spikes.n_units} units, {spikes.n_spikes} spikes, "
            f"{spikes.t_start:g}-{spikes.t_stop:g} s.", "",
            f"{qc_summary(binner.qc_)}", "",
            f"Models fitted on {spikes.t_start:g}-{test.t_start:g} s; held-out time "
            f"{test.t_start:g}-{test.t_stop:g} s.", "",
            f"Parameters: {settings}.", "",
            *[f"- {line}" for line in reasons], "",
            f"sklearn-mini {__version__}, torch {torch.__version__}.", ""]


def _format_table(rows, columns=COLUMNS):
    header = "| " + " | ".join(columns) + " |"
    lines = [header, "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row[c]) if c in ("method", "k") else f"{row[c]:.3f}" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _write_report(out, header, rows, matched, fitted, recoveries, test, truth, bin_size,
                  latents=()):
    from .._optional import require
    from . import plotting

    plt = require("matplotlib.pyplot", "plot", "Drawing the report's figures")
    import matplotlib

    matplotlib.use("Agg")
    sae_pipe = fitted["SpikeSAE"]
    sae = sae_pipe[-1]
    X_test, X_hat = reconstruct_with(sae_pipe, test)
    Z = sae_pipe.transform(test)
    figures = {}

    def save(name, draw, model="SpikeSAE"):
        """Draw one figure; a figure of one model says which (``model=None``: several)."""
        fig, ax = plt.subplots(figsize=(7, 4))
        draw(ax)
        if model is not None and model not in ax.get_title():
            ax.set_title(f"{model}: {ax.get_title()}")
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        figures[name] = _plain_text(ax.get_title())

    import pandas as pd

    from ..evaluation.compare import plot_comparison, plot_frontier

    if len({row["k"] for row in matched}) > 1:  # the frontier goes first
        save("frontier.png", lambda ax: plot_frontier(pd.DataFrame(matched), ax=ax), model=None)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True, layout="constrained")
    plot_comparison(pd.DataFrame(rows), ax=axes)
    fig.suptitle("Held-out comparison (one train/test split)")
    fig.savefig(out / "comparison.png", dpi=110)
    plt.close(fig)
    figures["comparison.png"] = "Held-out comparison"
    save("training_curve.png", lambda ax: plotting.plot_training_curve(
        sae, ax=ax, validation_label="held-out EV (watched, not used to stop)"))
    save("r2_per_unit.png", lambda ax: plotting.plot_r2_per_unit(r2_per_unit(X_test, X_hat), ax=ax))
    save("latent_raster.png", lambda ax: plotting.plot_latent_raster(
        Z, ax=ax, bin_size=bin_size, t_start=test.t_start))
    lines = header + [
        f"Held-out: {len(X_test)} bins of {bin_size * 1000:g} ms.", "", _format_table(rows), "",
        f"SpikeSAE: d_sae {sae.d_sae_}, dead latents {sae.dead_fraction_:.1%} "
        f"(training data), mean L0 {sae.mean_l0_:.2f}.", ""] + _matched_section(matched)
    lines += [""] + list(latents)
    if recoveries:
        save("feature_recovery.png", lambda ax: plotting.plot_feature_recovery(recoveries, ax=ax),
             model=None)
        lines += ["", "## Planted features recovered (cosine >= 0.9)", "",
                  "| method | all | coarse | fine |", "|---|---|---|---|"]
        for name, rec in recoveries.items():
            lines.append(f"| {name} | {rec.fraction:.0%} | {rec.fraction_coarse:.0%} | "
                         f"{rec.fraction_fine:.0%} |")
        mat = recoveries.get("MatryoshkaSAE")
        if mat is not None and hasattr(mat, "level_fraction_coarse"):
            lines.append("")
            lines.append(f"MatryoshkaSAE coarse features recovered by level 0's atoms: "
                         f"{mat.level_fraction_coarse[0]:.0%}.")
        labels = _dominant_coarse(truth, test, bin_size, len(Z))
        sel = latent_selectivity(Z, labels)
        save("selectivity.png", lambda ax: plotting.plot_selectivity(
            sel, ax=ax, latents=np.flatnonzero((Z != 0).any(0))))
        best = top_latents(sel, "coarse 0", n=1) if "coarse 0" in sel.conditions else []
        if len(best):
            save("tuning_curve.png",
                 lambda ax: plotting.plot_tuning_curve(Z, labels, int(best[0]), ax=ax))
    lines += ["", "## Figures", ""] + [f"![{title}]({name})" for name, title in figures.items()]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def _plain_text(title):
    """A figure title as plain text for Markdown alt text (matplotlib's ``$^2$`` -> ``²``)."""
    return title.replace("$^2$", "\u00b2").replace("$", "")


def _dominant_coarse(truth, test, bin_size, n_bins):
    """Per held-out bin: the strongest active coarse feature ('none' when none is)."""
    first = int(round((test.t_start) / truth.bin_size))
    acts = truth.activations[first:first + n_bins][:, truth.is_coarse]
    labels = np.where(acts.max(1) > 0, acts.argmax(1).astype(str), "none")
    return np.asarray([f"coarse {c}" if c != "none" else c for c in labels])
