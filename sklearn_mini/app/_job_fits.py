"""The main job's fits as one list: its models, the models at matched active dimensions
and the SpikeSAE's seed refits, each an unfitted ``SpikeBinner -> model`` pipeline.

None of them depends on another, so they run one after another or side by side in
worker processes (``n_jobs``, :mod:`sklearn_mini._parallel`) with the same results.
"""

import warnings
from dataclasses import dataclass

from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from ..evaluation._parallel import map_tasks
from ..evaluation.compare import evaluate, matched_models
from ..sae._base import _BaseSAE
from ..spikes.binning import SpikeBinner


@dataclass
class Fit:
    """One fit of the job: its name, its group, its pipeline and what ``fit`` also gets.

    ``group``: ``'model'`` (a row of the main table), ``'matched'`` (a row at ``k``
    active dimensions) or ``'refit'`` (a seed refit of the SpikeSAE).
    """

    name: str
    group: str
    pipe: object
    fit_params: dict
    k: int = None


def plan_fits(models, binner_params, X_test, ks, topk, matched_params, stability_seeds):
    """Every fit of the job: the models, the seed refits, then each ``k``'s models.

    The job's SAEs watch the held-out bins ``X_test`` after every epoch (their
    ``validation_scores_``, drawn on the training curve; nothing is stopped or chosen
    by it). The SpikeSAE at ``k = topk`` is the job's own, so it is not fitted twice.
    """
    def pipe(model):
        return make_pipeline(SpikeBinner(**binner_params), model)

    fits = []
    for name, model in models.items():
        pipeline = pipe(model)
        watch = {f"{pipeline.steps[-1][0]}__X_val": X_test} if _is_sae(model) else {}
        fits.append(Fit(name, "model", pipeline, watch))
    sae = models["SpikeSAE"]
    for i in range(1, stability_seeds + 1):
        fits.append(Fit(f"SpikeSAE (seed {sae.random_state + i})", "refit",
                        pipe(clone(sae).set_params(random_state=sae.random_state + i)), {}))
    for k in ks:
        for name, model in matched_models(k, **matched_params).items():
            if not (name == "SpikeSAE" and k == topk):
                fits.append(Fit(name, "matched", pipe(model), {}, k))
    return fits


def run_order(fits):
    """The SAEs first, each group in its order: they take longest, and a pool of
    workers fed the longest fits first ends soonest."""
    return sorted(fits, key=lambda fit: not _is_sae(fit.pipe[-1]))


def quiet(fits):
    """Turn off every model's own progress output (in place)."""
    for fit in fits:
        if "verbose" in fit.pipe[-1].get_params():
            fit.pipe[-1].set_params(verbose=type(fit.pipe[-1].verbose)(0))


def run_fits(fits, train, test, n_jobs=None):
    """``(pipeline, scores)`` of every fit in order (:func:`~sklearn_mini.compare.evaluate`
    on the held-out spikes ``test``); an iterator, so the caller can log as they come."""
    return map_tasks(_fit_and_score, [(fit.pipe, train, test, fit.fit_params) for fit in fits],
                     n_jobs)


def _is_sae(model):
    """SpikeSAE, MatryoshkaSAE and any other estimator on the shared SAE base."""
    return isinstance(model, _BaseSAE)


def _fit_and_score(pipe, train, test, fit_params):
    with warnings.catch_warnings():
        # OMP stops early on an atom that is a combination of others: a row then has
        # fewer than k non-zeros, which its measured mean_l0 shows.
        warnings.filterwarnings("ignore", "Orthogonal matching pursuit ended", RuntimeWarning)
        scores = evaluate(pipe, train, test, **fit_params)
    return pipe, scores
