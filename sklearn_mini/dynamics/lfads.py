"""LFADS as a scikit-learn estimator: latent dynamics of windows of binned counts.

Native (torch), written from Pandarinath et al. 2018 ("Inferring single-trial neural
population dynamics with sequential auto-encoders") and the description of lfads-torch
(Sedler & Pandarinath 2023); coordinated dropout from Keshtkaran & Pandarinath 2019. The
network is :class:`._lfads_net.LFADSNet`; this module cuts rows into windows, trains,
and maps windows back to rows.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import _model_files
from .._core.device import resolve_device
from .._core.seeding import isolated_torch_rng
from .._core.threads import cpu_threads
from ..evaluation._score import ReconstructionScoreMixin
from ._lfads_net import LFADSNet
from ._windows import covering_windows, cut_windows, rows_of, validated_counts

# Gradients are clipped to this global norm (recurrent networks occasionally spike).
CLIP_NORM = 200.0


def poisson_nll(log_rates, x):
    """Poisson negative log-likelihood of counts ``x`` per element, without the
    ``log(x!)`` term (constant in the parameters): ``exp(log_rate) - x * log_rate``."""
    return log_rates.exp() - x * log_rates


class LFADS(ReconstructionScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
            BaseEstimator):
    """Latent factor analysis via dynamical systems (LFADS) on windows of binned counts.

    Rows of ``X`` are consecutive bins. ``fit`` cuts them into windows of ``window`` bins
    (set it to the trial length for trial-structured data; a final partial window is not
    trained on). Each window is encoded by a bidirectional GRU into a Gaussian posterior
    over the initial condition of a GRU generator, optionally driven by a controller's
    inferred inputs; a linear map of the generator state gives ``fac_dim`` factors, and a
    linear readout of the factors the units' Poisson log-rates. The loss is the Poisson
    negative log-likelihood per count plus the KL terms (ramped in over the first
    ``kl_warmup`` of the epochs, divided by the counts per window) plus an L2 penalty on
    the generator's recurrent weights.

    Read more in the :ref:`User Guide <dynamics>`.

    Parameters
    ----------
    window : int, default=50
        Bins per sequence.
    fac_dim : int, default=8
        Factors: the low-dimensional output of :meth:`transform`.
    gen_dim : int, default=64
        Generator GRU units.
    ic_dim : int, default=32
        Dimension of the initial-condition posterior.
    enc_dim : int, default=64
        Units of each direction of the initial-condition encoder.
    co_dim : int, default=0
        Inferred inputs per bin; 0 runs without a controller (the autonomous generator).
    con_dim, ci_enc_dim : int, default=32, 32
        Controller GRU units and its encoder's units per direction (used when
        ``co_dim > 0``).
    dropout_rate : float, default=0.1
        Dropout on the input, the encodings and the generator states.
    cd_rate : float, default=0.0
        Coordinated dropout: this fraction of the input counts is zeroed in each step
        and the reconstruction loss is taken on those counts only, so the network cannot
        pass a count straight through to its own prediction. 0 disables it.
    ic_prior_var, co_prior_var : float, default=0.1, 0.1
        Variances of the zero-mean Gaussian priors.
    kl_ic_scale, kl_co_scale : float, default=1.0, 1.0
        Weights of the two KL terms.
    kl_warmup : float, default=0.2
        Fraction of the epochs over which the KL weight rises linearly from 0 to 1.
    l2_gen_scale : float, default=1e-4
        Weight of the mean squared recurrent weight of the generator.
    n_epochs : int, default=200
    batch_size : int, default=32
        Windows per step.
    lr : float, default=4e-3
        Adam's learning rate.
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
    random_state : int, RandomState instance or None, default=None
        Seeds a private ``torch.Generator`` for batches, dropout and posterior samples,
        and the initial weights; torch's global random state is left as it was.

    Attributes
    ----------
    loss_curve_ : list of float
        Mean training loss per epoch.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Units.
    feature_names_in_ : ndarray of shape (n_units,)
        Unit names, when ``X`` had string column names.

    See Also
    --------
    sklearn_mini.adapters.GPFA : Gaussian-process factor analysis (elephant), the
        classical latent-dynamics baseline.

    Examples
    --------
    >>> from sklearn_mini.datasets import make_lorenz_spikes
    >>> from sklearn_mini.dynamics import LFADS
    >>> X, latents, rates = make_lorenz_spikes(n_trials=20, n_bins=20, random_state=0)
    >>> model = LFADS(window=20, fac_dim=3, gen_dim=16, n_epochs=2, random_state=0).fit(X)
    >>> model.transform(X).shape
    (400, 3)
    """

    _parameter_constraints: dict = {
        "window": [Interval(Integral, 2, None, closed="left")],
        "fac_dim": [Interval(Integral, 1, None, closed="left")],
        "gen_dim": [Interval(Integral, 1, None, closed="left")],
        "ic_dim": [Interval(Integral, 1, None, closed="left")],
        "enc_dim": [Interval(Integral, 1, None, closed="left")],
        "co_dim": [Interval(Integral, 0, None, closed="left")],
        "con_dim": [Interval(Integral, 1, None, closed="left")],
        "ci_enc_dim": [Interval(Integral, 1, None, closed="left")],
        "dropout_rate": [Interval(Real, 0, 1, closed="left")],
        "cd_rate": [Interval(Real, 0, 1, closed="left")],
        "ic_prior_var": [Interval(Real, 0, None, closed="neither")],
        "co_prior_var": [Interval(Real, 0, None, closed="neither")],
        "kl_ic_scale": [Interval(Real, 0, None, closed="left")],
        "kl_co_scale": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Real, 0, 1, closed="both")],
        "l2_gen_scale": [Interval(Real, 0, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
    }

    def __init__(self, window=50, fac_dim=8, gen_dim=64, ic_dim=32, enc_dim=64, co_dim=0,
                 con_dim=32, ci_enc_dim=32, dropout_rate=0.1, cd_rate=0.0,
                 ic_prior_var=0.1, co_prior_var=0.1, kl_ic_scale=1.0, kl_co_scale=1.0,
                 kl_warmup=0.2, l2_gen_scale=1e-4, n_epochs=200, batch_size=32, lr=4e-3,
                 device="cpu", random_state=None):
        self.window = window
        self.fac_dim = fac_dim
        self.gen_dim = gen_dim
        self.ic_dim = ic_dim
        self.enc_dim = enc_dim
        self.co_dim = co_dim
        self.con_dim = con_dim
        self.ci_enc_dim = ci_enc_dim
        self.dropout_rate = dropout_rate
        self.cd_rate = cd_rate
        self.ic_prior_var = ic_prior_var
        self.co_prior_var = co_prior_var
        self.kl_ic_scale = kl_ic_scale
        self.kl_co_scale = kl_co_scale
        self.kl_warmup = kl_warmup
        self.l2_gen_scale = l2_gen_scale
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _build(self, n_units):
        return LFADSNet(
            n_units, enc_dim=self.enc_dim, ic_dim=self.ic_dim, gen_dim=self.gen_dim,
            fac_dim=self.fac_dim, con_dim=self.con_dim, co_dim=self.co_dim,
            ci_enc_dim=self.ci_enc_dim, dropout_rate=self.dropout_rate,
            ic_prior_var=self.ic_prior_var, co_prior_var=self.co_prior_var,
            kl_ic_scale=self.kl_ic_scale, kl_co_scale=self.kl_co_scale)

    def _validate_counts(self, X, reset):
        return validated_counts(self, X, reset=reset, dtype=np.float32,
                                why="it models counts with a Poisson likelihood")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train on the whole windows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)
            Consecutive binned counts (non-negative).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X = self._validate_counts(X, reset=True)
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with isolated_torch_rng(seed):
            net = self._build(X.shape[1])
        generator = torch.Generator(device=device).manual_seed(seed)
        data = torch.as_tensor(cut_windows(X, self.window), device=device)
        macs = self.batch_size * self.window * 3 * self.gen_dim * (self.gen_dim + X.shape[1])
        with cpu_threads(macs, device):
            self.loss_curve_ = self._train(net.to(device), data, generator)
        self.n_iter_ = self.n_epochs
        self._net = net.cpu().eval()
        return self

    def _train(self, net, data, generator):
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        warmup_epochs = self.kl_warmup * self.n_epochs
        counts_per_window = data.shape[1] * data.shape[2]
        curve = []
        net.train()
        for epoch in range(self.n_epochs):
            kl_weight = min(1.0, (epoch + 1) / warmup_epochs) if warmup_epochs else 1.0
            order = torch.randperm(data.shape[0], generator=generator, device=data.device)
            total = 0.0
            for rows in order.split(self.batch_size):
                loss = self._loss(net, data[rows], generator, kl_weight, counts_per_window)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP_NORM)
                optimizer.step()
                total += float(loss.detach()) * len(rows)
            if not math.isfinite(total):
                raise FloatingPointError(
                    f"The LFADS loss is not finite in epoch {epoch}: lower `lr` (now "
                    f"{self.lr}) or check the counts.")
            curve.append(total / data.shape[0])
        return curve

    def _loss(self, net, x, generator, kl_weight, counts_per_window):
        """Poisson NLL (on the coordinated-dropout counts, when on) + KL + L2."""
        x_in, scored = x, None
        if self.cd_rate > 0:
            kept = torch.rand(x.shape, generator=generator, device=x.device) >= self.cd_rate
            x_in, scored = x * kept / (1.0 - self.cd_rate), ~kept
        log_rates, _, kl = net(x_in, generator, sample=True)
        nll = poisson_nll(log_rates, x)
        recon = nll.mean() if scored is None else nll[scored].sum() / scored.sum().clamp_min(1)
        l2 = net.generator.weight_hh_l0.pow(2).mean()
        return recon + kl_weight * kl.mean() / counts_per_window + self.l2_gen_scale * l2

    # ---------------------------------------------------------------- inference
    def _infer(self, X):
        """Factors and log-rates of every row, from posterior means without dropout.

        Whole windows are inferred as in training; the rows after the last whole window
        are read from a window ending at the last row (it overlaps the one before).
        """
        check_is_fitted(self)
        return self._infer_valid(self._validate_counts(X, reset=False))

    @torch.no_grad()
    def _infer_valid(self, X):
        """:meth:`_infer` of rows already validated."""
        windows, tail = covering_windows(X, self.window)
        log_rates, factors, _ = self._net(torch.as_tensor(windows), None, sample=False)
        return [rows_of(t.numpy().astype(np.float64), tail) for t in (factors, log_rates)]

    def transform(self, X):
        """The factors of every bin.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)
            Consecutive binned counts, at least ``window`` bins.

        Returns
        -------
        factors : ndarray of shape (n_bins, fac_dim)
        """
        return self._infer(X)[0]

    def inverse_transform(self, X):
        """Poisson rates (counts per bin) from factors: the readout, then ``exp``.

        Parameters
        ----------
        X : array-like of shape (n_bins, fac_dim)
            Factors, e.g. from :meth:`transform`.

        Returns
        -------
        rates : ndarray of shape (n_bins, n_units)
        """
        check_is_fitted(self)
        factors = np.asarray(X, dtype=np.float32)
        if factors.ndim != 2 or factors.shape[1] != self.fac_dim:
            raise ValueError(f"inverse_transform expects factors of shape (n_bins, "
                             f"{self.fac_dim}), got {factors.shape}.")
        with torch.no_grad():
            log_rates = self._net.readout(torch.as_tensor(factors))
        return log_rates.exp().numpy().astype(np.float64)

    def predict_rates(self, X):
        """The inferred Poisson rates (counts per bin) of every bin of ``X``.

        Equal to ``inverse_transform(transform(X))``; :meth:`score` compares them with
        the counts.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)

        Returns
        -------
        rates : ndarray of shape (n_bins, n_units)
        """
        return np.exp(self._infer(X)[1])

    def _scored(self, X):
        check_is_fitted(self)
        X = self._validate_counts(X, reset=False)
        return X.astype(np.float64), np.exp(self._infer_valid(X)[1])

    @property
    def _n_features_out(self):
        """Latents per bin: ``get_feature_names_out`` gives ``lfads0``, ``lfads1``, ..."""
        check_is_fitted(self)  # unfitted: NotFittedError, which hasattr reads as absent
        return self.fac_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    # ------------------------------------------------------------- save / load
    def save(self, path):
        """Save the fitted model to the directory ``path`` (safetensors + JSON, no pickle).

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self)
        params = self.get_params(deep=False)
        if not (params["random_state"] is None or isinstance(params["random_state"], Integral)):
            params["random_state"] = None  # a RandomState instance has no JSON form
        fitted = {"n_features_in_": self.n_features_in_, "n_iter_": self.n_iter_,
                  "loss_curve_": self.loss_curve_}
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        return _model_files.save(path, type(self).__name__, params, fitted,
                                 dict(self._net.state_dict()))

    @classmethod
    def load(cls, path, device=None):
        """Load a model written by :meth:`save` (no pickle is executed).

        Parameters
        ----------
        path : str or path-like
        device : {'auto', 'cpu', 'cuda'} or None, default=None
            Replaces the saved ``device`` parameter; ``None`` keeps it.

        Returns
        -------
        estimator : LFADS
        """
        config, tensors = _model_files.load(path, cls.__name__)
        params = dict(config["params"])
        if device is not None:
            params["device"] = device
        est, fitted = cls(**params), config["fitted"]
        net = est._build(fitted["n_features_in_"])
        _model_files.expect_shapes(tensors, {k: tuple(v.shape)
                                             for k, v in net.state_dict().items()})
        net.load_state_dict(tensors)
        est._net = net.eval()
        est.n_features_in_, est.n_iter_ = fitted["n_features_in_"], fitted["n_iter_"]
        est.loss_curve_ = fitted["loss_curve_"]
        if "feature_names_in_" in fitted:
            est.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        return est
