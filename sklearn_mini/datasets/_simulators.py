"""Synthetic spike-count data with planted ground truth."""

import numpy as np
from sklearn.utils import Bunch, check_random_state


def make_sparse_counts(n_samples=5000, n_features=64, n_atoms=32, n_active=3, *,
                       noise="poisson", atom_density=0.25, amplitude=(0.5, 1.5),
                       rate_scale=4.0, random_state=None):
    """Binned counts generated from a planted sparse, non-negative dictionary.

    Each sample activates ``n_active`` atoms chosen uniformly at random with amplitudes
    drawn uniformly from ``amplitude``; the noiseless rates are ``codes @ dictionary``.
    Each atom is a non-negative, unit-norm pattern over about ``atom_density`` of the
    units.

    Parameters
    ----------
    n_samples : int, default=5000
        Number of time bins.
    n_features : int, default=64
        Number of units.
    n_atoms : int, default=32
        Number of planted atoms (features).
    n_active : int, default=3
        Atoms active in every sample.
    noise : {'poisson', None}, default='poisson'
        ``'poisson'`` draws counts from a Poisson with mean ``rate_scale * rates``;
        ``None`` returns the noiseless ``rates`` themselves.
    atom_density : float, default=0.25
        Expected fraction of units that take part in an atom.
    amplitude : tuple of float, default=(0.5, 1.5)
        Range of the activation amplitudes.
    rate_scale : float, default=4.0
        Counts per unit of rate for ``noise='poisson'``.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Counts (float64; integer-valued for ``noise='poisson'``).
    truth : :class:`~sklearn.utils.Bunch`
        ``dictionary`` (n_atoms, n_features), unit-norm atoms; ``codes``
        (n_samples, n_atoms), the planted activations; ``rates`` (n_samples,
        n_features), the noiseless ``codes @ dictionary``.
    """
    rng = check_random_state(random_state)
    if n_active > n_atoms:
        raise ValueError(f"n_active={n_active} exceeds n_atoms={n_atoms}.")
    mask = rng.random_sample((n_atoms, n_features)) < atom_density
    mask[np.arange(n_atoms), rng.randint(n_features, size=n_atoms)] = True  # no empty atom
    dictionary = mask * rng.exponential(1.0, size=(n_atoms, n_features))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    codes = np.zeros((n_samples, n_atoms))
    active = np.argsort(rng.random_sample((n_samples, n_atoms)), axis=1)[:, :n_active]
    rows = np.repeat(np.arange(n_samples), n_active)
    codes[rows, active.ravel()] = rng.uniform(*amplitude, size=n_samples * n_active)
    rates = codes @ dictionary
    if noise == "poisson":
        X = rng.poisson(rate_scale * rates).astype(np.float64)
    elif noise is None:
        X = rates.copy()
    else:
        raise ValueError(f"noise must be 'poisson' or None, got {noise!r}.")
    return X, Bunch(dictionary=dictionary, codes=codes, rates=rates)


def unit_rows(a):
    """Rows of ``a`` (float64) scaled to unit L2 norm; an all-zero row stays zero."""
    a = np.asarray(a, dtype=np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def match_atoms(learned, planted):
    """Best cosine similarity of every planted atom with any learned atom.

    Parameters
    ----------
    learned : ndarray of shape (n_learned, n_features)
        Learned dictionary (e.g. ``SpikeSAE.components_``).
    planted : ndarray of shape (n_planted, n_features)
        Ground-truth atoms.

    Returns
    -------
    best : ndarray of shape (n_planted,)
        For every planted atom, the largest cosine with a learned atom.
    """
    return (unit_rows(planted) @ unit_rows(learned).T).max(axis=1)


def make_sparse_spikes(n_units=64, duration=600.0, n_atoms=32, n_active=3, *, bin_size=0.05,
                       rate_scale=1.0, random_state=None):
    """Spike times of a population driven by a planted sparse, non-negative dictionary.

    Spike counts per ``bin_size`` bin are drawn as in :func:`make_sparse_counts` (Poisson
    with mean ``rate_scale * codes @ dictionary``) and each spike is placed uniformly at
    random inside its bin.

    Parameters
    ----------
    n_units : int, default=64
        Number of units.
    duration : float, default=600.0
        Recording length in seconds.
    n_atoms, n_active : int, default=32, 3
        Planted atoms and atoms active per bin.
    bin_size : float, default=0.05
        Width (s) of the bins over which rates are constant.
    rate_scale : float, default=1.0
        Expected spikes per bin per unit of rate.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    spikes : SpikeTrains
        Units ``0 .. n_units - 1`` over ``[0, duration)``.
    truth : :class:`~sklearn.utils.Bunch`
        As :func:`make_sparse_counts`, with ``counts`` the binned spike counts.
    """
    from ..spikes import SpikeTrains

    rng = check_random_state(random_state)
    n_bins = int(round(duration / bin_size))
    counts, truth = make_sparse_counts(n_samples=n_bins, n_features=n_units, n_atoms=n_atoms,
                                       n_active=n_active, rate_scale=rate_scale, random_state=rng)
    counts = counts.astype(np.int64)
    rows, cols = np.nonzero(counts)
    reps = counts[rows, cols]
    times = (np.repeat(rows, reps) + rng.random_sample(reps.sum())) * bin_size
    truth.counts = counts
    return SpikeTrains(times, np.repeat(cols, reps), t_start=0.0, t_stop=n_bins * bin_size,
                       unit_ids=np.arange(n_units)), truth


def make_hierarchical_counts(n_samples=5000, n_features=64, n_coarse=8, fine_per_coarse=4, *,
                             p_coarse=0.25, p_fine=0.15, tied=True, noise=None, rate_scale=4.0,
                             random_state=None):
    """Counts from a two-level hierarchy of planted, non-negative features.

    Coarse features are active often (each independently with probability
    ``p_coarse``); every coarse feature has ``fine_per_coarse`` fine children. With
    ``tied=True`` a child is active with probability ``p_fine`` only while its parent is
    active (fine features are rare and tied to coarse ones); with ``tied=False`` children
    are active independently with probability ``p_fine * p_coarse`` (the same frequency,
    a hierarchy of frequency only). Amplitudes are uniform on [0.5, 1.5]; every feature
    is a unit-norm non-negative pattern over about a quarter of the units.

    With tied children the best single-level reconstruction of a coarse feature includes
    its children's expected contribution, so an SAE level that must reconstruct alone
    learns coarse atoms tilted towards their children (cosine with the pure coarse
    pattern about 0.9 at the defaults): the hierarchy is real, the "pure" coarse atom is
    not what a nested dictionary should learn.

    Parameters
    ----------
    n_samples, n_features : int, default=5000, 64
        Time bins and units.
    n_coarse : int, default=8
        Coarse features.
    fine_per_coarse : int, default=4
        Fine children of every coarse feature.
    p_coarse, p_fine : float, default=0.25, 0.15
        Activation probability of a coarse feature, and of a fine one given its parent.
    tied : bool, default=True
        Whether fine features can only be active with their parent.
    noise : {None, 'poisson'}, default=None
        As in :func:`make_sparse_counts`.
    rate_scale : float, default=4.0
        Counts per unit of rate for ``noise='poisson'``.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Rates (``noise=None``) or counts.
    truth : :class:`~sklearn.utils.Bunch`
        ``coarse`` (n_coarse, n_features) and ``fine`` (n_coarse * fine_per_coarse,
        n_features) unit-norm atoms, ``parent`` (coarse index of every fine feature),
        ``coarse_codes`` and ``fine_codes``.
    """
    rng = check_random_state(random_state)
    n_fine = n_coarse * fine_per_coarse

    def atoms(n):
        mask = rng.random_sample((n, n_features)) < 0.25
        mask[np.arange(n), rng.randint(n_features, size=n)] = True
        a = mask * rng.exponential(1.0, size=(n, n_features))
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    coarse, fine = atoms(n_coarse), atoms(n_fine)
    parent = np.repeat(np.arange(n_coarse), fine_per_coarse)
    coarse_on = rng.random_sample((n_samples, n_coarse)) < p_coarse
    if tied:
        fine_on = (rng.random_sample((n_samples, n_fine)) < p_fine) & coarse_on[:, parent]
    else:
        fine_on = rng.random_sample((n_samples, n_fine)) < p_fine * p_coarse
    coarse_codes = coarse_on * rng.uniform(0.5, 1.5, size=coarse_on.shape)
    fine_codes = fine_on * rng.uniform(0.5, 1.5, size=fine_on.shape)
    rates = coarse_codes @ coarse + fine_codes @ fine
    if noise == "poisson":
        X = rng.poisson(rate_scale * rates).astype(np.float64)
    elif noise is None:
        X = rates
    else:
        raise ValueError(f"noise must be 'poisson' or None, got {noise!r}.")
    return X, Bunch(coarse=coarse, fine=fine, parent=parent, coarse_codes=coarse_codes,
                    fine_codes=fine_codes)


def make_spiking_features(n_units=100, duration=2400.0, n_coarse=8, n_fine=24, *,
                          bin_size=0.05, mean_rate=10.0, baseline_rate=0.5, p_coarse=0.12,
                          p_fine=0.04, hierarchy="units", feature_density=0.2, spiking="poisson",
                          refractory_period=0.002, random_state=None):
    """Spike times of a population driven by planted sparse features with a hierarchy.

    Time is divided into bins of ``bin_size``. Each of the ``n_coarse`` coarse features is
    active in a bin with probability ``p_coarse``; each of the ``n_fine`` fine features
    has a coarse parent (fine feature ``j`` belongs to coarse ``j % n_coarse``), is tied
    to it as ``hierarchy`` says, and is active with the smaller probability ``p_fine``
    (fine features are rare). Active amplitudes are uniform on [0.5, 1.5]. Every feature
    is a non-negative, unit-norm pattern over about ``feature_density`` of the units.

    A unit's rate in a bin is ``baseline_rate + gain * (activations @ directions)``, with
    the gain set so that the population's mean rate is ``mean_rate``. At the defaults
    about 0.8 of the 50 ms unit-bins are empty (bursty, sparse activity, as in the seed
    notes). Spikes are Poisson within each bin (uniform times), optionally thinned so
    that no two spikes of a unit are closer than ``refractory_period``.

    Parameters
    ----------
    n_units : int, default=100
    duration : float, default=2400.0
        Seconds (40 minutes: enough bins of every rare fine feature for an SAE to
        estimate its pattern).
    n_coarse, n_fine : int, default=8, 24
        Planted coarse and fine features.
    bin_size : float, default=0.05
        Time resolution of the features (s).
    mean_rate, baseline_rate : float, default=10.0, 0.5
        Population mean rate and every unit's rate without any active feature (Hz).
    p_coarse, p_fine : float, default=0.12, 0.04
        Activation probability per bin of a coarse and of a fine feature (with
        ``hierarchy='activity'``, ``p_fine / p_coarse`` is the fine feature's probability
        in a bin where its parent is active). At the defaults a coarse feature's three
        children together are active no more often than it is, so the best single atom
        for a whole family (what a first Matryoshka level with top-k 1 learns) stays
        close to the coarse pattern; with children together more active than their parent
        (e.g. 0.1 and 0.05) that atom is a blend, for some draws at cosine 0.80-0.87
        with the coarse pattern.
    hierarchy : {'units', 'activity'}, default='units'
        How fine features are tied to their coarse parent. ``'units'``: a fine feature is
        a sub-assembly, half of its parent's units (plus a few of its own), active
        independently; every feature can be recovered from data. ``'activity'``: fine
        features use their own units but are active only while their parent is; the data
        then never show a fine feature alone, and SAEs absorb children into parents
        (Chanin et al. 2024) -- a harder benchmark, where nested levels help.
    feature_density : float, default=0.2
        Expected fraction of units in a feature's pattern.
    spiking : {'poisson', 'refractory'}, default='poisson'
    refractory_period : float, default=0.002
        Minimum inter-spike interval of ``'refractory'`` spiking (s).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    spikes : SpikeTrains
        Spike times of units ``0 .. n_units - 1`` over ``[0, duration)``.
    truth : :class:`~sklearn.utils.Bunch`
        ``directions`` (n_features, n_units), unit-norm patterns, coarse first;
        ``activations`` (n_bins, n_features); ``is_coarse`` (n_features,);
        ``parent`` (n_features,), the coarse parent of each fine feature (-1 for coarse);
        ``rates`` (n_bins, n_units) in Hz; ``bin_size``.
    """
    from ..spikes import SpikeTrains

    if spiking not in ("poisson", "refractory"):
        raise ValueError(f"spiking must be 'poisson' or 'refractory'; got {spiking!r}.")
    rng = check_random_state(random_state)
    n_bins = int(round(duration / bin_size))
    n_features = n_coarse + n_fine
    if hierarchy not in ("units", "activity"):
        raise ValueError(f"hierarchy must be 'units' or 'activity'; got {hierarchy!r}.")
    parent = np.r_[np.full(n_coarse, -1), np.arange(n_fine) % n_coarse]
    mask = rng.random_sample((n_features, n_units)) < feature_density
    mask[np.arange(n_features), rng.randint(n_units, size=n_features)] = True
    if hierarchy == "units":
        sub = mask[parent[n_coarse:]] & (rng.random_sample((n_fine, n_units)) < 0.5)
        own = rng.random_sample((n_fine, n_units)) < 0.05
        mask[n_coarse:] = sub | own
        mask[np.arange(n_coarse, n_features), rng.randint(n_units, size=n_fine)] = True
    directions = mask * rng.exponential(1.0, size=(n_features, n_units))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    coarse_on = rng.random_sample((n_bins, n_coarse)) < p_coarse
    draw = rng.random_sample((n_bins, n_fine))
    if hierarchy == "units":
        fine_on = draw < p_fine
    else:
        fine_on = coarse_on[:, parent[n_coarse:]] & (draw < p_fine / p_coarse)
    on = np.hstack([coarse_on, fine_on])
    activations = on * rng.uniform(0.5, 1.5, size=on.shape)
    drive = activations @ directions
    gain = (mean_rate - baseline_rate) / max(drive.mean(), 1e-12)
    rates = baseline_rate + gain * drive
    counts = rng.poisson(rates * bin_size)
    unit_of = np.repeat(np.tile(np.arange(n_units), n_bins), counts.ravel())
    bin_of = np.repeat(np.repeat(np.arange(n_bins), n_units), counts.ravel())
    times = (bin_of + rng.random_sample(bin_of.size)) * bin_size
    if spiking == "refractory":
        times, unit_of = _refractory(times, unit_of, refractory_period)
    truth = Bunch(directions=directions, activations=activations,
                  is_coarse=np.arange(n_features) < n_coarse, parent=parent, rates=rates,
                  bin_size=bin_size)
    spikes = SpikeTrains(times, unit_of, t_start=0.0, t_stop=n_bins * bin_size,
                         unit_ids=np.arange(n_units))
    return spikes, truth


def _refractory(times, units, period):
    """Drop every spike closer than ``period`` to the previous kept spike of its unit."""
    order = np.lexsort((times, units))
    times, units = times[order], units[order]
    keep = np.ones(times.size, dtype=bool)
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], times.size]):
        last = -np.inf
        for i in range(start, stop):
            if times[i] - last < period:
                keep[i] = False
            else:
                last = times[i]
    return times[keep], units[keep]
