"""Poisson spikes driven by a Lorenz attractor: a 3-D latent state with known dynamics.

The standard test of latent-dynamics models (LFADS, Pandarinath et al. 2018; GPFA):
every trial starts at a random point of the attractor, the state is integrated with
small Euler steps, z-scored, and drives each unit's log-rate through random weights.
"""

import numpy as np
from sklearn.utils import check_random_state

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0  # the classical chaotic parameters


def _lorenz_step(state, dt):
    x, y, z = state[..., 0], state[..., 1], state[..., 2]
    slope = np.stack([SIGMA * (y - x), x * (RHO - z) - y, x * y - BETA * z], axis=-1)
    return state + dt * slope


def lorenz_trajectories(n_trials, n_bins, *, time_per_bin=0.015, substeps=3,
                        random_state=None):
    """Lorenz states ``(n_trials, n_bins, 3)``, each trial from a random point on the
    attractor (reached by a burn-in from a random start)."""
    rng = check_random_state(random_state)
    state = rng.normal(0.0, 5.0, size=(n_trials, 3)) + [0.0, 0.0, 25.0]
    dt = time_per_bin / substeps
    for _ in range(700):
        state = _lorenz_step(state, dt)
    # A random further run per trial spreads the starts along the attractor.
    spread = rng.randint(0, 400, size=n_trials)
    for step in range(spread.max()):
        moving = spread > step
        state[moving] = _lorenz_step(state[moving], dt)
    out = np.empty((n_trials, n_bins, 3))
    for t in range(n_bins):
        out[:, t] = state
        for _ in range(substeps):
            state = _lorenz_step(state, dt)
    return out


def make_lorenz_spikes(n_trials=100, n_bins=50, n_units=30, *, base_rate=20.0,
                       bin_size=0.01, gain=1.0, random_state=None):
    """Poisson spike counts whose log-rates are a random linear map of a Lorenz state.

    Parameters
    ----------
    n_trials, n_bins : int, default=100, 50
        Trials and bins per trial; rows of the output are the trials one after another.
    n_units : int, default=30
    base_rate : float, default=20.0
        Firing rate (Hz) of a unit at the mean of the state.
    bin_size : float, default=0.01
        Seconds per bin.
    gain : float, default=1.0
        Scale of the log-rate modulation: each unit's weights on the z-scored state are
        drawn from ``N(0, gain**2 / 3)``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_trials * n_bins, n_units)
        Spike counts.
    latents : ndarray of shape (n_trials * n_bins, 3)
        The z-scored Lorenz state of every bin.
    rates : ndarray of shape (n_trials * n_bins, n_units)
        The Poisson means (spikes per bin).
    """
    rng = check_random_state(random_state)
    states = lorenz_trajectories(n_trials, n_bins, random_state=rng).reshape(-1, 3)
    latents = (states - states.mean(axis=0)) / states.std(axis=0)
    weights = rng.normal(0.0, gain / np.sqrt(3.0), size=(3, n_units))
    rates = base_rate * bin_size * np.exp(latents @ weights)
    return rng.poisson(rates).astype(np.float64), latents, rates
