"""LFADS (Pandarinath et al. 2018) through ``lfads_torch``, in the SAE interface.

No installable LFADS package is on the registries sklearn_mini relies on, so this
adapter activates only when ``lfads_torch`` is importable (install it from source, see
:data:`INSTALL`). It builds ``lfads_torch``'s model directly and trains it with a plain
loop (no Lightning trainer, no Hydra configuration), non-variational and without the
controller by default: the deterministic "initial condition + generator" core, which is
what a reconstruction comparison with the SAE needs.
"""

import importlib
import importlib.util
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._core.device import resolve_device
from ._rng import isolated_torch_rng
from ._score import ValidatedReconstructionScoreMixin

INSTALL = ("LFADS needs lfads-torch, which is not on PyPI: install it from source with "
           "`git clone https://github.com/arsedler9/lfads-torch && pip install -e lfads-torch`.")


def lfads_available():
    """Whether ``lfads_torch`` can be imported in this environment."""
    return importlib.util.find_spec("lfads_torch") is not None


def _lfads_modules():
    """``lfads_torch``'s model class and module namespace (the layout moved between
    releases: ``lfads_torch.modules`` then ``lfads_torch.models.modules``)."""
    if not lfads_available():
        raise ImportError(INSTALL)
    model = importlib.import_module("lfads_torch.model")
    for prefix in ("lfads_torch.modules", "lfads_torch.models.modules"):
        if importlib.util.find_spec(prefix) is not None:
            return model.LFADS, {name: importlib.import_module(f"{prefix}.{name}") for name in
                                 ("augmentations", "l2", "priors", "readin_readout", "recons")}
    raise ImportError(f"lfads_torch is installed but has no modules package. {INSTALL}")


def windows(X, window):
    """Cut ``X`` (bins x units) into whole windows ``(n_windows, window, units)``; the
    final partial window is dropped by fit and zero-padded by transform."""
    n = X.shape[0] // window
    return X[: n * window].reshape(n, window, X.shape[1])


class LFADS(ValidatedReconstructionScoreMixin, BaseEstimator):
    """Latent factor analysis via dynamical systems on windows of binned counts.

    Rows of ``X`` are consecutive bins; ``fit`` cuts them into windows of ``window``
    bins, infers an initial condition per window with a bidirectional GRU encoder and
    unrolls a GRU generator whose low-dimensional ``factors`` are read out to Poisson
    log-rates. ``transform`` returns the factors per bin (``n_bins x fac_dim``);
    ``inverse_transform`` maps factors to rates, so reconstruction R^2 is comparable with
    the SAE's. Needs ``lfads_torch`` (see :data:`INSTALL`); construction works without it,
    ``fit`` raises ImportError with the install command.

    Parameters
    ----------
    window : int, default=50
        Bins per sequence.
    fac_dim : int, default=16
        Factors (the embedding dimension).
    gen_dim, ic_dim, ic_enc_dim : int, default=64, 16, 32
        Generator, initial-condition and initial-condition encoder sizes.
    dropout_rate : float, default=0.1
    n_epochs : int, default=100
    batch_size : int, default=32
    learning_rate : float, default=4e-3
    l2_gen_scale : float, default=1e-4
        L2 penalty on the generator's recurrent weights.
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
    random_state : int, RandomState instance or None, default=None
        Seeds torch's global generator inside ``fit`` only (lfads_torch draws from it);
        the caller's global state is restored afterwards.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained ``lfads_torch`` model (CPU, eval mode).
    loss_curve_ : list of float
        Mean training loss per epoch.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "window": [Interval(Integral, 2, None, closed="left")],
        "fac_dim": [Interval(Integral, 1, None, closed="left")],
        "gen_dim": [Interval(Integral, 1, None, closed="left")],
        "ic_dim": [Interval(Integral, 1, None, closed="left")],
        "ic_enc_dim": [Interval(Integral, 1, None, closed="left")],
        "dropout_rate": [Interval(Real, 0, 1, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "l2_gen_scale": [Interval(Real, 0, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
    }

    def __init__(self, window=50, fac_dim=16, gen_dim=64, ic_dim=16, ic_enc_dim=32,
                 dropout_rate=0.1, n_epochs=100, batch_size=32, learning_rate=4e-3,
                 l2_gen_scale=1e-4, device="cpu", random_state=None):
        self.window = window
        self.fac_dim = fac_dim
        self.gen_dim = gen_dim
        self.ic_dim = ic_dim
        self.ic_enc_dim = ic_enc_dim
        self.dropout_rate = dropout_rate
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2_gen_scale = l2_gen_scale
        self.device = device
        self.random_state = random_state

    def _build(self, n_units):
        LFADSModel, mods = _lfads_modules()
        stack = mods["augmentations"].AugmentationStack()
        null = mods["priors"].Null
        linear = mods["readin_readout"].FanInLinear
        return LFADSModel(
            encod_data_dim=n_units, encod_seq_len=self.window, recon_seq_len=self.window,
            ext_input_dim=0, ic_enc_seq_len=0, ic_enc_dim=self.ic_enc_dim, ci_enc_dim=0,
            ci_lag=1, con_dim=0, co_dim=0, ic_dim=self.ic_dim, gen_dim=self.gen_dim,
            fac_dim=self.fac_dim, dropout_rate=self.dropout_rate,
            reconstruction=torch.nn.ModuleList([mods["recons"].Poisson()]), variational=False,
            co_prior=null(), ic_prior=null(), ic_post_var_min=1e-4, cell_clip=5.0,
            train_aug_stack=stack, infer_aug_stack=stack,
            readin=torch.nn.ModuleList([torch.nn.Identity()]),
            readout=torch.nn.ModuleList([linear(self.fac_dim, n_units)]),
            loss_scale=1.0, recon_reduce_mean=True, lr_scheduler=False,
            lr_init=self.learning_rate, lr_stop=1e-5, lr_decay=0.95, lr_patience=6,
            lr_adam_beta1=0.9, lr_adam_beta2=0.999, lr_adam_epsilon=1e-8, weight_decay=0.0,
            l2_start_epoch=0, l2_increase_epoch=1, l2_ic_enc_scale=0.0, l2_ci_enc_scale=0.0,
            l2_gen_scale=self.l2_gen_scale, l2_con_scale=0.0, kl_start_epoch=0,
            kl_increase_epoch=1, kl_ic_scale=0.0, kl_co_scale=0.0)

    def _batch(self, data):
        """``lfads_torch``'s SessionBatch for windows ``data`` (n, window, units)."""
        from lfads_torch.tuples import SessionBatch

        empty = data.new_zeros(data.shape[0], data.shape[1], 0)
        return SessionBatch(encod_data=data, recon_data=data, ext_input=empty,
                            truth=empty, sv_mask=torch.ones_like(data))

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
        """
        X = validate_data(self, X, dtype=np.float32)
        if np.any(X < 0):
            raise ValueError("LFADS models counts with a Poisson likelihood: X must be >= 0.")
        data = windows(X, self.window)
        if data.shape[0] < 2:
            raise ValueError(f"X has {X.shape[0]} bins: fewer than 2 windows of {self.window}.")
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        with isolated_torch_rng(int(rng.randint(np.iinfo(np.int32).max))):
            model = self._build(X.shape[1]).to(device)
            self.loss_curve_ = self._train(model, torch.as_tensor(data, device=device), rng)
        self.model_ = model.cpu().eval()
        return self

    def _train(self, model, data, rng):
        compute_l2_penalty = _lfads_modules()[1]["l2"].compute_l2_penalty
        opt = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        recon = model.recon[0]
        curve = []
        for _ in range(self.n_epochs):
            model.train()
            order = torch.as_tensor(rng.permutation(data.shape[0]), device=data.device)
            total = 0.0
            for idx in order.split(self.batch_size):
                batch = self._batch(data[idx])
                out = model(batch, sample_posteriors=False, output_means=False)[0]
                loss = recon.compute_loss(batch.recon_data, out.output_params).mean()
                loss = loss + compute_l2_penalty(model, model.hparams)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 200.0)
                opt.step()
                total += float(loss) * len(idx)
            curve.append(total / data.shape[0])
        return curve

    def _padded(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        pad = (-X.shape[0]) % self.window
        return np.vstack([X, np.zeros((pad, X.shape[1]), np.float32)]), X.shape[0]

    @torch.no_grad()
    def _outputs(self, X):
        padded, n = self._padded(X)
        batch = self._batch(torch.as_tensor(windows(padded, self.window)))
        out = self.model_(batch, sample_posteriors=False, output_means=True)[0]
        flat = lambda t: t.reshape(-1, t.shape[-1])[:n].numpy().astype(np.float64)  # noqa: E731
        return flat(out.factors), flat(out.output_params)

    def transform(self, X):
        """Factors per bin (a final partial window is zero-padded, then cut back).

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)

        Returns
        -------
        factors : ndarray of shape (n_bins, fac_dim)
        """
        return self._outputs(X)[0]

    @torch.no_grad()
    def inverse_transform(self, X):
        """Poisson rates from factors (readout, then ``exp``).

        Parameters
        ----------
        X : array-like of shape (n_bins, fac_dim)

        Returns
        -------
        rates : ndarray of shape (n_bins, n_units)
        """
        check_is_fitted(self)
        factors = torch.as_tensor(np.asarray(X, dtype=np.float32))
        log_rates = self.model_.readout[0](factors)
        return torch.exp(log_rates).numpy().astype(np.float64)

    def reconstruct(self, X):
        """Inferred rates of ``X`` row for row.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)

        Returns
        -------
        rates : ndarray of shape (n_bins, n_units)
        """
        return self._outputs(X)[1]
