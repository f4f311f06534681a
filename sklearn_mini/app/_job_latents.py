"""The main job's per-latent part: importance, spectra, behaviour scores, feature cards.

Everything is measured on the held-out time with the SpikeSAE the job fitted; labels
(``--behaviour``) are aligned to its held-out bins and scored only where they have a
value. Decoding compares the SAE's codes with PCA at as many components as the SAE's
mean active latents per held-out bin, and with the embeddings of the job's other
unsupervised models (CEBRA, when installed), on the same bins and folds.
"""

import csv

import numpy as np

from ..evaluation.baselines import PCA
from ..evaluation.behaviour import (
    ablation_importance,
    align_labels,
    decode_conditions,
    score_latents,
    spectral_fidelity,
)
from ..evaluation.stability import latent_stability, seed_consistency
from .cards import feature_cards

MAX_SINGLE_DECODERS = 32  # single-latent decoders for the most important latents
TOP_PAIRS = 5  # (latent, condition) pairs listed per label in summary.md
# Cards in features.html: a card costs about 30 kB on 722 units, so the 1260 latents of
# a wide recording made a 40 MB page; latent_scores.csv keeps every latent's scores.
MAX_CARDS = 200


def unit_positions(spikes, binner):
    """``(x, y)`` of the binner's kept units when the recording has them, else None."""
    info = spikes.unit_info
    if "x" not in info or "y" not in info:
        return None
    where = {uid: i for i, uid in enumerate(spikes.unit_ids.tolist())}
    kept = [where[uid] for uid in np.asarray(binner.unit_ids_).tolist()]
    return np.asarray(info["x"], float)[kept], np.asarray(info["y"], float)[kept]


def _stability_lines(sae, refits):
    """Per-latent stability of the job's SAE against its refits, and summary.md's line."""
    others = [pipe[-1].components_ for pipe in refits]
    stability = latent_stability(sae.components_, others)
    consistency = seed_consistency([sae] + [pipe[-1] for pipe in refits])
    line = (f"Seed stability ({len(others)} other seed(s)): mean best-match cosine of the "
            f"live atoms {consistency.mean:.3f}; {int((stability.reappearance == 1).sum())} "
            f"of {len(stability.stability)} latents found again at cosine >= 0.9 in every "
            "other seed.")
    return stability.stability, [line, ""]


def latent_section(out, sae_pipe, spikes, test, X_train, X_test, bin_size, table=None, cv=5,
                   others=None, refits=()):
    """Score the SAE's latents on held-out time, write ``features.html`` and, with
    labels, ``latent_scores.csv``; returns summary.md's lines.

    ``X_train`` and ``X_test``: the training and held-out time (``test``) binned by the
    SAE pipeline's binner, which the job has already computed.

    ``others``: name -> fitted pipeline (spikes -> embedding) decoded beside the SAE.
    ``refits``: the SAE pipeline fitted with other seeds, for each card's seed stability.
    """
    binner, sae = sae_pipe[0], sae_pipe[-1]
    Z = sae.transform(X_test)
    importance = ablation_importance(sae, X_test)
    fidelity = spectral_fidelity(X_test, sae.reconstruct(X_test), fs=1.0 / bin_size)
    lines = ["## Latents on the held-out time", "",
             f"Spectral fidelity of the SpikeSAE reconstruction (Welch PSD of every unit, "
             f"1 = same spectrum): median {np.median(fidelity.fidelity):.3f}, lowest "
             f"{fidelity.fidelity.min():.3f}.", "",
             "Most important latents (held-out EV lost without each): " + ", ".join(
                 f"{i} ({importance[i]:.4f})" for i in np.argsort(-importance)[:TOP_PAIRS]),
             "", "Feature cards: [features.html](features.html).", ""]
    stability = None
    if refits:
        stability, more = _stability_lines(sae, refits)
        lines += more
    labels = {}
    if table is not None:
        aligned = align_labels(table, binner.bin_times(test), bin_size)
        k = max(1, int(round(np.count_nonzero(Z, axis=1).mean())))
        codes = {f"PCA({k})": PCA(n_components=min(k, X_test.shape[1])).fit(
            X_train).transform(X_test)}
        codes.update({name: np.asarray(pipe.transform(test))
                      for name, pipe in (others or {}).items()})
        rows = []
        for name, label in aligned.items():
            lines += _label_lines(name, label, Z, codes, importance, cv, rows)
            labels[name] = label
        _write_scores(out / "latent_scores.csv", rows)
        lines += ["Every latent's scores for every condition: "
                  "[latent_scores.csv](latent_scores.csv).", ""]
    feature_cards(out / "features.html", sae.components_, Z, importance, labels=labels,
                  positions=unit_positions(spikes, binner), stability=stability,
                  max_cards=MAX_CARDS,
                  title="SpikeSAE feature cards (held-out time)")
    return lines


def _label_lines(name, label, Z, codes, importance, cv, rows):
    """summary.md's lines for one label; appends its scores to ``rows``.

    ``codes``: name -> held-out codes of each comparison, the first PCA at the SAE's
    active dimensions (the verdict's reference).
    """
    valid = label.valid
    values = label.values[valid]
    head = [f"### Label `{name}`", ""]
    if valid.sum() < 2 * cv or np.unique(values).size < 2:
        return head + [f"Not scored: {int(valid.sum())} held-out bins have a value, with "
                       f"{np.unique(values).size} distinct value(s).", ""]
    scores = score_latents(Z[valid], values)
    for c, condition in enumerate(scores.conditions):
        for i in range(Z.shape[1]):
            rows.append([name, condition, i, scores.coverage[i, c], scores.specificity[i, c],
                         scores.selectivity[i, c], scores.auroc[i, c], importance[i]])
    top = np.argsort(-importance)[:MAX_SINGLE_DECODERS]
    sae = decode_conditions(Z[valid], values, cv=cv, single=top)
    others = {other: decode_conditions(code[valid], values, cv=cv, single=False).all
              for other, code in codes.items()}
    pca_name = next(iter(codes))
    verdict = "at least" if sae.all >= others[pca_name] else "below"
    best_single = int(top[np.argmax(sae.single[top])])
    flat = np.argsort(-scores.auroc, axis=None)[:TOP_PAIRS]
    pairs = [f"latent {i} for {scores.conditions[c]} ({scores.auroc[i, c]:.3f})"
             for i, c in zip(*np.unravel_index(flat, scores.auroc.shape))]
    return head + [
        f"{int(valid.sum())} held-out bins with a value, {scores.conditions.size} conditions.",
        "",
        f"- Decoding (balanced accuracy, {cv} contiguous folds of held-out time): all "
        f"SpikeSAE latents {sae.all:.3f}, "
        + "".join(f"{other} {value:.3f}, " for other, value in others.items())
        + f"chance {sae.chance:.3f}: the SAE is {verdict} PCA at the same active "
        "dimensions.",
        f"- Best single latent: {best_single} ({sae.single[best_single]:.3f}).",
        f"- Highest AUROC: {'; '.join(pairs)}.", ""]


def _write_scores(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "condition", "latent", "coverage", "specificity",
                         "selectivity", "auroc", "importance"])
        writer.writerows(rows)
