"""Feature cards: a self-contained HTML page with one card per latent of a fitted SAE.

Each card shows the latent's atom over units (on the electrode layout when unit
positions are known), its activation over held-out time, its tuning to every label and
its event-aligned average, with its scores (ablation importance, activity, AUROC,
selectivity, seed stability when measured). Cards are sorted by importance. The page is
one static file: the figures are inline SVG drawn here, so it needs no server, no
script and no network, and opens in any browser.
"""

import html

import numpy as np

from ..evaluation.behaviour import AlignedLabel, score_latents

WIDTH, HEIGHT = 260, 70  # of one small figure, in CSS pixels
MAX_TRACE_POINTS = 400
EVENT_WINDOW = 10  # bins on each side of an event
MAX_TUNING_BARS = 60

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ccc;border-radius:6px;padding:8px 10px;width:290px}
.card h2{font-size:1em;margin:0 0 4px}.card p{margin:2px 0;font-size:.8em}
.card svg{display:block;margin:2px 0 6px;background:#f4f4f4}
.label{font-size:.75em;color:#555}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ccc;padding:2px 6px}
"""


def _svg(body, width=WIDTH, height=HEIGHT, title=""):
    label = f' aria-label="{html.escape(title)}"' if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img"{label}>{body}</svg>')


def _scaled(values, height=HEIGHT, pad=3):
    """Values mapped to y pixels (0 at the bottom), the largest magnitude at the top."""
    values = np.asarray(values, dtype=np.float64)
    top = np.max(np.abs(values)) if values.size and np.max(np.abs(values)) > 0 else 1.0
    return height - pad - (height - 2 * pad) * values / top


def svg_bars(values, title=""):
    """A bar per value (an atom's weight per unit, a tuning per condition)."""
    values = np.asarray(values, dtype=np.float64)
    step = WIDTH / max(1, values.size)
    y = _scaled(np.abs(values))
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{y[i]:.1f}" width="{max(step - 0.5, 0.5):.1f}" '
        f'height="{HEIGHT - 3 - y[i]:.1f}" fill="{"#c33" if v < 0 else "#36c"}"/>'
        for i, v in enumerate(values) if v != 0)
    return _svg(bars, title=title)


def svg_layout(x, y, weights, title=""):
    """The atom on the electrode layout: a disc per unit, area and colour by weight."""
    x, y, w = (np.asarray(a, dtype=np.float64) for a in (x, y, weights))
    size = HEIGHT * 2
    span = max(np.ptp(x), np.ptp(y), 1e-12)
    px = 6 + (size - 12) * (x - x.min()) / span
    py = 6 + (size - 12) * (y - y.min()) / span
    top = np.max(np.abs(w)) if np.max(np.abs(w)) > 0 else 1.0
    discs = "".join(
        f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{1 + 5 * abs(v) / top:.1f}" '
        f'fill="{"#c33" if v < 0 else "#36c"}" fill-opacity="{0.15 + 0.85 * abs(v) / top:.2f}"/>'
        for a, b, v in zip(px, py, w))
    return _svg(discs, width=size, height=size, title=title)


def _polyline(values, colour):
    xs = np.linspace(0, WIDTH, max(values.size, 2))
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, _scaled(values)))
    return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1"/>'


def svg_trace(values, title="", rate=False):
    """A line through ``values`` (at most MAX_TRACE_POINTS, each the maximum of its chunk).

    With ``rate``, a second line (orange) is the fraction of each chunk's bins in which
    the value is non-zero: the latent's firing rate over time.
    """
    values = np.asarray(values, dtype=np.float64)
    chunks = np.array_split(values, min(MAX_TRACE_POINTS, max(values.size, 1)))
    peak = np.array([c.max() if c.size else 0.0 for c in chunks])
    body = _polyline(peak, "#333")
    if rate:
        body += _polyline(np.array([np.mean(c != 0) if c.size else 0.0 for c in chunks]),
                          "#e80")
    return _svg(body, title=title)


def event_average(z, event, window=EVENT_WINDOW):
    """Mean of ``z`` from ``window`` bins before to ``window`` after each event bin."""
    lags = np.arange(-window, window + 1)
    hits = np.flatnonzero(event)
    hits = hits[(hits >= window) & (hits < z.size - window)]
    if hits.size == 0:
        return lags, None
    return lags, z[hits[:, None] + lags].mean(0)


def _scores_html(latent, importance, frequency, stability):
    text = [f"importance {importance[latent]:.4f} (EV lost without it)",
            f"active in {frequency[latent]:.1%} of held-out bins"]
    if stability is not None:
        text.append(f"seed stability {stability[latent]:.2f}")
    return "".join(f"<p>{html.escape(t)}</p>" for t in text)


def _label_html(latent, z, name, event, scores):
    """A label's part of a card: tuning bars, the best condition and, for an event
    label (``event``: its bins), the event-aligned average."""
    s = scores[name]
    best = int(np.argmax(s.auroc[latent]))
    condition = s.conditions[best]
    parts = [f'<p class="label">{html.escape(str(name))}: best AUROC '
             f'{s.auroc[latent, best]:.2f} for {html.escape(str(condition))}, '
             f'selectivity {s.selectivity[latent, best]:.2f}, coverage '
             f'{s.coverage[latent, best]:.2f}, specificity {s.specificity[latent, best]:.2f}</p>']
    if s.conditions.size > 1:
        order = np.argsort(-s.coverage[latent])[:MAX_TUNING_BARS]
        parts.append(svg_bars(s.coverage[latent][np.sort(order)],
                              title=f"coverage per condition of {name}"))
    if event is not None:
        lags, average = event_average(z, event)
        if average is not None:
            parts.append(f'<p class="label">mean activation, {lags[0]}..{lags[-1]} bins '
                         'around each event</p>')
            parts.append(svg_trace(average, title=f"average around {name}"))
    return "".join(parts)


def _aligned(label, n_bins):
    """``(values, valid)`` of a label given as an array or an AlignedLabel."""
    if isinstance(label, AlignedLabel):
        values, valid = np.asarray(label.values), np.asarray(label.valid, dtype=bool)
    else:
        values, valid = np.asarray(label), np.ones(len(label), dtype=bool)
    if values.shape != (n_bins,) or valid.shape != (n_bins,):
        raise ValueError(f"A label has {values.shape[0]} values; Z has {n_bins} rows.")
    return values, valid


def card(latent, atom, z, importance, frequency, labels, scores, positions=None,
         stability=None):
    """The HTML of one latent's card."""
    figure = (svg_layout(positions[0], positions[1], atom, title="atom on the electrodes")
              if positions is not None else svg_bars(atom, title="atom over units"))
    body = [f'<div class="card" id="latent-{latent}"><h2>latent {latent}</h2>',
            _scores_html(latent, importance, frequency, stability),
            '<p class="label">atom (weight per unit)</p>', figure,
            '<p class="label">activation over held-out time (black: peak; orange: '
            'fraction of bins active)</p>',
            svg_trace(z, title="activation over time", rate=True)]
    for name, (values, valid) in labels.items():
        event = values.astype(bool) & valid if values.dtype == bool else None
        body.append(_label_html(latent, z, name, event, scores))
    body.append("</div>")
    return "".join(body)


def _which(shown, alive):
    if len(shown) < len(alive):
        return f"the most important of the {len(alive)} active on the scored bins"
    return "those active on the scored bins"


def feature_cards(path, components, Z, importance, labels=None, positions=None,
                  stability=None, title="Feature cards", header_html="", max_cards=None):
    """Write the feature-card page of a fitted SAE.

    Parameters
    ----------
    path : str or path-like
        The HTML file to write.
    components : array-like of shape (n_latents, n_units)
        The atoms (``components_``).
    Z : array-like of shape (n_bins, n_latents)
        Activations on held-out bins, in time order.
    importance : array-like of shape (n_latents,)
        :func:`sklearn_mini.behaviour.ablation_importance`; cards are sorted by it.
    labels : dict of str to array-like of shape (n_bins,) or AlignedLabel, default=None
        Labels of the same bins (see :func:`sklearn_mini.behaviour.score_latents`);
        an :class:`~sklearn_mini.behaviour.AlignedLabel` is scored on its valid bins.
    positions : tuple of two arrays of shape (n_units,), default=None
        Unit x and y positions (e.g. electrodes), to draw atoms on the layout.
    stability : array-like of shape (n_latents,), default=None
        Per-latent seed stability (:func:`sklearn_mini.stability.latent_stability`).
    title : str, default='Feature cards'
    header_html : str, default=''
        Trusted HTML put above the cards (the job's summary).
    max_cards : int or None, default=None
        Cards for at most this many latents (the most important); None: every latent
        active on ``Z``.

    Returns
    -------
    shown : ndarray of int
        The latents that got a card, in the page's order.
    """
    components = np.asarray(components, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    importance = np.asarray(importance, dtype=np.float64)
    if not (components.shape[0] == Z.shape[1] == importance.size):
        raise ValueError(f"components ({components.shape[0]} atoms), Z ({Z.shape[1]} "
                         f"columns) and importance ({importance.size}) disagree on the "
                         "number of latents.")
    labels = {name: _aligned(value, Z.shape[0]) for name, value in (labels or {}).items()}
    labels = {name: pair for name, pair in labels.items() if pair[1].any()}  # scorable
    scores = {name: score_latents(Z[valid], values[valid])
              for name, (values, valid) in labels.items()}
    frequency = (Z != 0).mean(0)
    alive = np.flatnonzero(frequency > 0)
    shown = alive[np.argsort(-importance[alive], kind="stable")][:max_cards]
    cards = [card(i, components[i], Z[:, i], importance, frequency, labels, scores,
                  positions, stability) for i in shown]
    page = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>", header_html,
            f"<p>{len(shown)} of {components.shape[0]} latents ({_which(shown, alive)}), "
            "most important first.</p>",
            '<div class="cards">', *cards, "</div></body></html>"]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(page))
    return shown
