"""Planted-dictionary generators for judging feature recovery.

These are *not* the demo's simulator (:func:`make_spiking_features`), on which the
package's defaults were first tuned. Each generator plants a known non-negative
dictionary, drives Poisson counts with it, and returns the atoms, so that any method's
learned dictionary can be scored against the truth
(:func:`~sklearn_mini.datasets.match_atoms`). They differ in what makes recovery hard:

* :func:`make_broad_narrow`: a few broad, strongly overlapping patterns active in half
  the bins, beside many narrow, rare ones (dense counts);
* :func:`make_dictionary_spikes`: Poisson spiking at 5-20 Hz in 50 ms bins, mostly
  zeros, as in real recordings;
* :func:`make_shared_assemblies`: cell assemblies that share units, whose members take
  part unreliably;
* :func:`make_parent_child`: narrow patterns that are only ever active on top of a broad
  parent (the hierarchy that makes SAEs absorb children into parents);
* :func:`make_probe_bumps`: smooth, overlapping bumps along a linear probe that stay on
  for several bins. Written after the defaults were chosen on the other four and the
  shared recordings, and never used to choose them: the held-out generator.

Every generator returns ``(X, truth)``: ``X`` the counts (float64, integer-valued) and
``truth`` a :class:`~sklearn.utils.Bunch` with ``dictionary`` (n_atoms, n_units) of
unit-norm atoms, ``codes`` (n_samples, n_atoms) of activations, ``rates`` (the Poisson
means), ``is_broad`` (n_atoms,) marking the broad, frequent patterns and ``name``.
"""

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._simulators import unit_rows


def _cosines(atoms):
    unit = unit_rows(atoms)
    return (unit @ unit.T)[np.triu_indices(len(atoms), 1)]


def _narrow_atoms(rng, n_atoms, n_units, size, units=None):
    """``n_atoms`` patterns over ``size`` (low, high) units each, weights in [0.5, 1.5].

    ``units``, when given, is the pool each atom draws its units from.
    """
    atoms = np.zeros((n_atoms, n_units))
    pool = np.arange(n_units) if units is None else np.asarray(units)
    for j in range(n_atoms):
        n = min(len(pool), rng.randint(size[0], size[1] + 1))
        members = rng.choice(pool, size=n, replace=False)
        atoms[j, members] = rng.uniform(0.5, 1.5, size=n)
    return atoms


def _dense_atoms(rng, n_atoms, n_units, density):
    """Patterns over about ``density`` of the units (at least two), weights in [0.5, 1.5]."""
    size = max(2, int(round(density * n_units)))
    return _narrow_atoms(rng, n_atoms, n_units, (size, size))


def _activations(rng, n_samples, p):
    """On/off draws with per-atom probabilities ``p`` times amplitudes in [0.5, 1.5]."""
    on = rng.random_sample((n_samples, len(p))) < np.asarray(p)
    return on * rng.uniform(0.5, 1.5, size=on.shape)


def _truth(name, atoms, codes, rates, is_broad, **extra):
    return Bunch(name=name, dictionary=unit_rows(atoms), codes=codes, rates=rates,
                 is_broad=np.asarray(is_broad, dtype=bool), **extra)


def _broad_overlapping(rng, n_broad, n_units, cosine, max_tries=200):
    """``n_broad`` non-negative patterns whose pairwise cosines all lie in ``cosine``.

    Each is a shared base over most units plus a private part over half of them; the
    private part's weight is set by bisection so that the mean pairwise cosine is the
    middle of the range, and draws are repeated until every pair falls inside it.
    """
    low, high = cosine
    for _ in range(max_tries):
        base = rng.uniform(0.5, 1.5, n_units) * (rng.random_sample(n_units) < 0.8)
        private = rng.uniform(0.5, 1.5, (n_broad, n_units)) * (
            rng.random_sample((n_broad, n_units)) < 0.5)
        a, b = 0.0, 20.0
        for _ in range(60):  # more private weight, lower cosines
            gamma = (a + b) / 2
            if _cosines(base + gamma * private).mean() > (low + high) / 2:
                a = gamma
            else:
                b = gamma
        atoms = base + gamma * private
        cos = _cosines(atoms)
        if n_broad < 2 or (cos.min() >= low and cos.max() <= high):
            return atoms
    raise ValueError(f"Could not draw {n_broad} patterns over {n_units} units with pairwise "
                     f"cosines in {cosine}; widen the range or use more units.")


def make_broad_narrow(n_samples=20000, n_units=60, n_broad=4, n_narrow=40, *, p_broad=0.5,
                      p_narrow=0.04, broad_cosine=(0.5, 0.65), narrow_size=(3, 6), gain=4.0,
                      noise="poisson", random_state=None):
    """Broad, overlapping patterns active in half the bins, plus many narrow, rare ones.

    ``n_broad`` patterns cover most units, with every pairwise cosine in
    ``broad_cosine``, and are each active in a bin with probability ``p_broad``;
    ``n_narrow`` patterns cover ``narrow_size`` units each and are active with
    probability ``p_narrow``. Amplitudes are uniform on [0.5, 1.5] and a unit's Poisson
    mean is ``gain`` times the sum of active patterns (each scaled to a peak of 1). A
    dictionary that mixes the broad patterns (e.g. their mean plus differences) can
    reconstruct these data as well as the true one; only the atoms tell them apart.

    Parameters
    ----------
    n_samples, n_units : int, default=20000, 60
        Time bins and units.
    n_broad, n_narrow : int, default=4, 40
        Planted broad and narrow patterns.
    p_broad, p_narrow : float, default=0.5, 0.04
        Probability that a pattern is active in a bin.
    broad_cosine : (float, float), default=(0.5, 0.65)
        Range of the broad patterns' pairwise cosines.
    narrow_size : (int, int), default=(3, 6)
        Fewest and most units of a narrow pattern.
    gain : float, default=4.0
        Expected count of a pattern's peak unit at amplitude 1.
    noise : {'poisson', None}, default='poisson'
        ``None`` returns the noiseless rates as ``X`` (where NMF recovers the patterns).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
        Counts (rates for ``noise=None``).
    truth : :class:`~sklearn.utils.Bunch`
        ``dictionary`` (broad first), ``codes``, ``rates``, ``is_broad``, ``name``.
    """
    rng = check_random_state(random_state)
    broad = _broad_overlapping(rng, n_broad, n_units, broad_cosine)
    narrow = _narrow_atoms(rng, n_narrow, n_units, narrow_size)
    atoms = np.vstack([broad, narrow])
    atoms /= atoms.max(axis=1, keepdims=True)
    codes = _activations(rng, n_samples, [p_broad] * n_broad + [p_narrow] * n_narrow)
    rates = gain * codes @ atoms
    if noise not in ("poisson", None):
        raise ValueError(f"noise must be 'poisson' or None; got {noise!r}.")
    X = rng.poisson(rates).astype(np.float64) if noise == "poisson" else rates.copy()
    return X, _truth("broad_narrow", atoms, codes, rates, np.arange(len(atoms)) < n_broad)


def make_dictionary_spikes(n_samples=20000, n_units=80, n_broad=2, n_narrow=30, *,
                           bin_size=0.05, rate_range=(5.0, 20.0), baseline_rate=1.0,
                           p_broad=0.15, p_narrow=(0.02, 0.08), broad_density=0.6,
                           narrow_size=(4, 12), random_state=None):
    """Poisson spiking at 5-20 Hz from a planted dictionary, binned at 50 ms.

    ``n_broad`` population-wide patterns (over ``broad_density`` of the units, like
    up-states) and ``n_narrow`` local ones; every unit belongs to at least one narrow
    pattern. Pattern ``j`` is active in a bin with probability ``p_j`` (``p_broad``, or
    drawn from ``p_narrow``) with a log-normal amplitude. Unit ``u`` fires at
    ``baseline_rate + g_u * drive_u`` Hz, the gain ``g_u`` set so that its mean rate is
    its target, drawn uniformly from ``rate_range``; the counts of ``bin_size`` bins are
    Poisson. Most unit-bins are empty, as in real recordings. The planted atoms are the
    patterns seen in count space (each pattern times the units' gains).

    Parameters
    ----------
    n_samples, n_units : int, default=20000, 80
        Bins and units.
    n_broad, n_narrow : int, default=2, 30
        Planted population-wide and local patterns.
    bin_size : float, default=0.05
        Seconds per bin.
    rate_range : (float, float), default=(5.0, 20.0)
        Range of the units' mean rates (Hz).
    baseline_rate : float, default=1.0
        Rate with no pattern active (Hz).
    p_broad : float, default=0.15
        Activation probability of a broad pattern.
    p_narrow : (float, float), default=(0.02, 0.08)
        Range of the narrow patterns' activation probabilities.
    broad_density : float, default=0.6
        Fraction of the units in a broad pattern.
    narrow_size : (int, int), default=(4, 12)
        Fewest and most units of a narrow pattern.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
        Spike counts per bin.
    truth : :class:`~sklearn.utils.Bunch`
        ``dictionary``, ``codes``, ``rates`` (Hz), ``is_broad``, ``name``,
        ``mean_rate`` (n_units,) in Hz.
    """
    rng = check_random_state(random_state)
    broad = _dense_atoms(rng, n_broad, n_units, broad_density)
    narrow = _narrow_atoms(rng, n_narrow, n_units, narrow_size)
    uncovered = np.flatnonzero(narrow.sum(0) == 0)
    narrow[rng.randint(n_narrow, size=uncovered.size), uncovered] = rng.uniform(
        0.5, 1.5, size=uncovered.size)
    atoms = np.vstack([broad, narrow])
    p = np.r_[np.full(n_broad, p_broad), rng.uniform(*p_narrow, size=n_narrow)]
    on = rng.random_sample((n_samples, len(p))) < p
    codes = on * rng.lognormal(0.0, 0.3, size=on.shape)
    drive = codes @ atoms
    target = rng.uniform(*rate_range, size=n_units)
    gain = (target - baseline_rate) / np.maximum(drive.mean(0), 1e-12)
    rates = baseline_rate + drive * gain
    X = rng.poisson(rates * bin_size).astype(np.float64)
    return X, _truth("dictionary_spikes", atoms * gain, codes, rates,
                     np.arange(len(atoms)) < n_broad, mean_rate=rates.mean(0))


def make_shared_assemblies(n_samples=20000, n_units=60, n_assemblies=12, *, n_broad=2,
                           assembly_size=(8, 15), broad_density=0.5, p_active=(0.03, 0.1),
                           p_broad=0.2, participation=0.8, gain=3.0, background=0.05,
                           random_state=None):
    """Cell assemblies that share units, with unreliable participation.

    ``n_assemblies`` assemblies of ``assembly_size`` units drawn at random (so most units
    belong to several), plus ``n_broad`` large ones over ``broad_density`` of the units.
    An assembly fires in a bin with probability ``p_j`` (``p_broad``, or drawn from
    ``p_active``); then each member takes part independently with probability
    ``participation``, firing Poisson(``gain * amplitude * weight``) spikes. Every unit
    also fires Poisson(``background``) spikes per bin. The planted atoms are the
    members' weights; a single bin shows a random subset of an assembly, so an atom is
    only visible on average.

    Parameters
    ----------
    n_samples, n_units : int, default=20000, 60
        Bins and units.
    n_assemblies : int, default=12
        Planted (small) assemblies.
    n_broad : int, default=2
        Planted large assemblies.
    assembly_size : (int, int), default=(8, 15)
        Fewest and most units of a small assembly.
    broad_density : float, default=0.5
        Fraction of the units in a large assembly.
    p_active : (float, float), default=(0.03, 0.1)
        Range of the small assemblies' activation probabilities.
    p_broad : float, default=0.2
        Activation probability of a large assembly.
    participation : float, default=0.8
        Probability that a member takes part in an activation.
    gain : float, default=3.0
        Expected count of a weight-1 member at amplitude 1.
    background : float, default=0.05
        Expected background spikes per unit and bin.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
        Counts.
    truth : :class:`~sklearn.utils.Bunch`
        ``dictionary`` (large assemblies first), ``codes``, ``rates`` (expected counts),
        ``is_broad``, ``name``.
    """
    rng = check_random_state(random_state)
    atoms = np.vstack([_dense_atoms(rng, n_broad, n_units, broad_density),
                       _narrow_atoms(rng, n_assemblies, n_units, assembly_size)])
    p = np.r_[np.full(n_broad, p_broad), rng.uniform(*p_active, size=n_assemblies)]
    codes = _activations(rng, n_samples, p)
    X = rng.poisson(background, size=(n_samples, n_units)).astype(np.float64)
    for j in range(len(atoms)):
        rows = np.flatnonzero(codes[:, j])
        members = np.flatnonzero(atoms[j])
        takes_part = rng.random_sample((rows.size, members.size)) < participation
        lam = gain * codes[rows, j][:, None] * atoms[j, members] * takes_part
        X[np.ix_(rows, members)] += rng.poisson(lam)
    rates = background + participation * gain * codes @ atoms
    return X, _truth("shared_assemblies", atoms, codes, rates, np.arange(len(atoms)) < n_broad)


def make_parent_child(n_samples=20000, n_units=60, n_parents=4, children_per_parent=4, *,
                      parent_density=0.4, child_size=(3, 5), p_parent=0.2, p_child=0.25,
                      gain=4.0, random_state=None):
    """Narrow patterns that ride on a broad parent: a hierarchy of co-activation.

    ``n_parents`` broad patterns over ``parent_density`` of the units, each active with
    probability ``p_parent``; each has ``children_per_parent`` narrow patterns over
    ``child_size`` of its own units, active with probability ``p_child`` *only in bins
    where the parent is active*. The data never show a child alone, so an SAE can fold
    a child into its parent (feature absorption); a nested dictionary's first level
    should hold the parents.

    Parameters
    ----------
    n_samples, n_units : int, default=20000, 60
        Bins and units.
    n_parents, children_per_parent : int, default=4, 4
        Planted parents and children of each.
    parent_density : float, default=0.4
        Fraction of the units in a parent pattern.
    child_size : (int, int), default=(3, 5)
        Fewest and most units of a child pattern (all among its parent's units).
    p_parent : float, default=0.2
        Activation probability of a parent.
    p_child : float, default=0.25
        Activation probability of a child in a bin where its parent is active.
    gain : float, default=4.0
        Expected count of a pattern's peak unit at amplitude 1.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
        Counts.
    truth : :class:`~sklearn.utils.Bunch`
        ``dictionary`` (parents first), ``codes``, ``rates``, ``is_broad`` (the
        parents), ``parent`` (the parent of every atom, -1 for parents), ``name``.
    """
    rng = check_random_state(random_state)
    parents = _dense_atoms(rng, n_parents, n_units, parent_density)
    children = np.vstack([
        _narrow_atoms(rng, children_per_parent, n_units, child_size,
                      units=np.flatnonzero(parents[i]))
        for i in range(n_parents)])
    parent = np.r_[np.full(n_parents, -1), np.repeat(np.arange(n_parents), children_per_parent)]
    atoms = np.vstack([parents, children])
    atoms /= atoms.max(axis=1, keepdims=True)
    parent_codes = _activations(rng, n_samples, [p_parent] * n_parents)
    child_codes = _activations(rng, n_samples, [p_child] * len(children))
    child_codes *= parent_codes[:, parent[n_parents:]] > 0
    codes = np.hstack([parent_codes, child_codes])
    rates = gain * codes @ atoms
    X = rng.poisson(rates).astype(np.float64)
    return X, _truth("parent_child", atoms, codes, rates, parent < 0, parent=parent)


def _spread(rng, n, n_units):
    """``n`` positions along ``[0, n_units - 1]``, evenly spaced and jittered by at most a
    quarter of the spacing, so that no two patterns coincide."""
    spacing = (n_units - 1) / n
    return spacing * (np.arange(n) + 0.5 + rng.uniform(-0.25, 0.25, size=n))


def make_probe_bumps(n_samples=20000, n_units=64, n_broad=3, n_narrow=24, *, bin_size=0.05,
                     broad_width=12.0, narrow_width=(1.5, 3.0), mean_on_bins=(3.0, 8.0),
                     p_on=(0.01, 0.05), peak_rate=(30.0, 80.0), baseline_rate=(0.5, 5.0),
                     random_state=None):
    """Smooth bumps of activity along a linear probe, switching on for several bins.

    Units are ordered along a probe (e.g. Neuropixels depth). Every pattern is a
    Gaussian bump over that axis: ``n_broad`` wide ones (standard deviation
    ``broad_width`` units) and ``n_narrow`` local ones (``narrow_width``), each set at
    evenly spaced, jittered centres along the whole probe, so that neighbouring patterns
    overlap smoothly. Each pattern is a two-state Markov chain: it switches on with
    probability ``p_j`` per bin (drawn from ``p_on``) and
    stays on for a geometric number of bins with mean drawn from ``mean_on_bins``
    (activity is correlated in time, unlike the other generators). While on it drives
    its units at up to ``peak_rate`` Hz (drawn per pattern, log-normal amplitude per
    episode); units have heterogeneous baseline rates from ``baseline_rate``. Counts of
    ``bin_size`` bins are Poisson. Written after the package's defaults were chosen, to
    judge them on data they were not tuned on.

    Parameters
    ----------
    n_samples, n_units : int, default=20000, 64
        Bins and units (probe sites).
    n_broad, n_narrow : int, default=3, 24
        Planted wide and local bumps.
    bin_size : float, default=0.05
        Seconds per bin.
    broad_width : float, default=12.0
        Standard deviation of a wide bump, in units.
    narrow_width : (float, float), default=(1.5, 3.0)
        Range of the local bumps' standard deviations.
    mean_on_bins : (float, float), default=(3.0, 8.0)
        Range of the mean episode lengths (bins).
    p_on : (float, float), default=(0.01, 0.05)
        Range of the per-bin probabilities that an episode starts.
    peak_rate : (float, float), default=(30.0, 80.0)
        Range of the patterns' peak rates above baseline (Hz).
    baseline_rate : (float, float), default=(0.5, 5.0)
        Range of the units' baseline rates (Hz).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
        Spike counts per bin.
    truth : :class:`~sklearn.utils.Bunch`
        ``dictionary`` (wide bumps first), ``codes``, ``rates`` (Hz), ``is_broad``,
        ``centre`` and ``width`` of every bump, ``name``.
    """
    rng = check_random_state(random_state)
    n_atoms = n_broad + n_narrow
    width = np.r_[np.full(n_broad, broad_width), rng.uniform(*narrow_width, size=n_narrow)]
    centre = np.r_[_spread(rng, n_broad, n_units), _spread(rng, n_narrow, n_units)]
    site = np.arange(n_units)
    atoms = np.exp(-0.5 * ((site[None, :] - centre[:, None]) / width[:, None]) ** 2)
    atoms[atoms < 1e-3] = 0.0  # bumps end: a pattern has a finite set of units
    start = rng.uniform(*p_on, size=n_atoms)
    stay = 1.0 - 1.0 / rng.uniform(*mean_on_bins, size=n_atoms)
    codes = np.zeros((n_samples, n_atoms))
    on = np.zeros(n_atoms, dtype=bool)
    amplitude = np.zeros(n_atoms)
    for t in range(n_samples):
        draw = rng.random_sample(n_atoms)
        starting = ~on & (draw < start)
        on = np.where(on, draw < stay, starting)
        amplitude = np.where(starting, rng.lognormal(0.0, 0.3, size=n_atoms), amplitude)
        codes[t] = on * amplitude
    gain = rng.uniform(*peak_rate, size=n_atoms)
    base = rng.uniform(*baseline_rate, size=n_units)
    rates = base + codes @ (atoms * gain[:, None])
    X = rng.poisson(rates * bin_size).astype(np.float64)
    return X, _truth("probe_bumps", atoms, codes, rates, np.arange(n_atoms) < n_broad,
                     centre=centre, width=width)


RECOVERY_GENERATORS = {
    "broad_narrow": make_broad_narrow,
    "dictionary_spikes": make_dictionary_spikes,
    "shared_assemblies": make_shared_assemblies,
    "parent_child": make_parent_child,
    "probe_bumps": make_probe_bumps,
}
