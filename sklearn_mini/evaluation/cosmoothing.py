"""Co-smoothing: how well a model's latents of some units predict the other units.

The Neural Latents Benchmark's evaluation of latent-variable models (Pei et al. 2021):
the units are split into *held-in* and *held-out* ones. The model is fitted on the
held-in units of the training time only. A Poisson regression per held-out unit then
learns, on the training time, to read that unit's counts from the model's latents; on the
test time the model sees the held-in units alone and the regression predicts the
held-out units' rates, scored in bits per spike (:func:`.metrics.bits_per_spike`). A
model whose latents carry the population's shared structure predicts units it never
saw; one that copies single units does not.

The readout is scikit-learn's :class:`~sklearn.linear_model.PoissonRegressor` (log
link, L2 penalty ``alpha``) on the latents standardised with the training time's mean and
spread, so one ``alpha`` means the same for every model; the test time's latents are
clipped to the range they had in training. Any estimator with ``fit`` and
``transform`` can be scored: the SAEs, PCA, NMF, the adapters.
"""

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.utils import Bunch, check_random_state

from .metrics import bits_per_spike, dense_float64

# Smallest predicted rate (expected spikes per bin). A unit silent in the training time
# gets a readout whose rate underflows to 0, and a test spike of it would make the
# score undefined; at this floor such a spike costs about 30 bits instead.
MIN_RATE = 1e-9


def held_out_units(n_units, fraction=0.25, random_state=None):
    """A random ``fraction`` of ``n_units`` unit indices to hold out (sorted; at least one).

    Parameters
    ----------
    n_units : int
        Number of units of the recording.
    fraction : float, default=0.25
        Share of the units held out, in (0, 1).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    held_out : ndarray of int
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
    if n_units < 2:
        raise ValueError(f"co-smoothing needs at least 2 units, got {n_units}.")
    n = min(n_units - 1, max(1, round(fraction * n_units)))
    chosen = check_random_state(random_state).choice(n_units, n, replace=False)
    return np.sort(chosen)


def co_smoothing(model, X_train, X_test, held_out, *, alpha=1e-2, max_iter=300):
    """Co-smoothing bits per spike of ``model`` (a clone is fitted; ``model`` is not).

    Parameters
    ----------
    model : estimator
        Unfitted estimator with ``fit`` and ``transform`` (a Pipeline too).
    X_train, X_test : array-like of shape (n_bins, n_units)
        Spike counts of the training and the test time, the same units.
    held_out : array-like of int or bool
        The held-out units (column indices or a mask), e.g. :func:`held_out_units`.
    alpha : float, default=1e-2
        L2 penalty of the Poisson readout, on standardised latents.
    max_iter : int, default=300
        Iterations of each readout's solver.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``bits_per_spike`` (float, held-out units over the test time), ``rates`` (the
        predicted held-out rates of the test time, at least ``MIN_RATE``), ``held_in``
        and ``held_out`` (unit indices) and ``model`` (the fitted clone).
    """
    X_train, X_test = dense_float64(X_train), dense_float64(X_test)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise ValueError("X_train and X_test must be 2-D with the same units (columns), got "
                         f"shapes {X_train.shape} and {X_test.shape}.")
    held_out, held_in = _split_units(held_out, X_train.shape[1])
    fitted = clone(model).fit(X_train[:, held_in])
    Z_train = dense_float64(fitted.transform(X_train[:, held_in]))
    Z_test = dense_float64(fitted.transform(X_test[:, held_in]))
    Z_train, Z_test = _standardised(Z_train, Z_test)
    rates = np.column_stack([_predict(Z_train, X_train[:, unit], Z_test, alpha, max_iter)
                             for unit in held_out]).clip(min=MIN_RATE)
    return Bunch(bits_per_spike=bits_per_spike(X_test[:, held_out], rates), rates=rates,
                 held_in=held_in, held_out=held_out, model=fitted)


def _split_units(held_out, n_units):
    held_out = np.asarray(held_out)
    if held_out.dtype == bool:
        if held_out.shape != (n_units,):
            raise ValueError(f"A held_out mask needs one entry per unit ({n_units}), got "
                             f"{held_out.shape}.")
        held_out = np.flatnonzero(held_out)
    held_out = np.unique(held_out.astype(np.int64))
    if held_out.size == 0 or held_out.size == n_units or held_out.min() < 0 \
            or held_out.max() >= n_units:
        raise ValueError(f"held_out must name between 1 and {n_units - 1} of the {n_units} "
                         f"units (indices 0 to {n_units - 1}), got {held_out.tolist()[:10]}.")
    return held_out, np.setdiff1d(np.arange(n_units), held_out)


def _standardised(Z_train, Z_test):
    """Latents scaled by the training time's mean and spread; the test time's clipped to
    the training range.

    A latent that fired in a handful of training bins has a tiny spread, so one larger
    activation in the test time would sit hundreds of spreads out, and the readout's
    exponential would predict absurd rates there (seen: -1220 bits per spike for a
    MatryoshkaSAE with 1024 latents on 30 units). A readout is only trusted on the range
    it was fitted on.
    """
    centre, spread = Z_train.mean(axis=0), Z_train.std(axis=0)
    spread[spread == 0] = 1.0  # a constant latent (dead) stays constant, no division by 0
    Z_train = (Z_train - centre) / spread
    Z_test = np.clip((Z_test - centre) / spread, Z_train.min(axis=0), Z_train.max(axis=0))
    return Z_train, Z_test


def _predict(Z_train, counts, Z_test, alpha, max_iter):
    """One held-out unit's test rates from a Poisson readout fitted on the training time."""
    if not counts.any():  # silent in training: no readout to learn, the floor rate
        return np.full(len(Z_test), MIN_RATE)
    with warnings.catch_warnings():
        # lbfgs may stop at max_iter on a unit that is nearly silent: its rate is then
        # the best found so far, which the score judges as it is.
        warnings.simplefilter("ignore", ConvergenceWarning)
        readout = PoissonRegressor(alpha=alpha, max_iter=max_iter).fit(Z_train, counts)
    return readout.predict(Z_test)
