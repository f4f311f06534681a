"""SpikeSAE: the single-dictionary sparse autoencoder estimator."""

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _BaseSAE
from ._core.training import Level


def auto_d_sae(n_samples, n_features, topk):
    """Dictionary size used by ``d_sae='auto'``.

    ``max(2 * topk, min(8 * n_features, n_samples // 10))``: an 8x overcomplete
    dictionary, capped at one latent per ten training samples (the seed notes' upper
    limit, beyond which latents memorise samples), and never fewer than ``2 * topk``.
    """
    return max(2 * topk, min(8 * n_features, n_samples // 10))


class SpikeSAE(_BaseSAE):
    """Sparse autoencoder for binned spike counts.

    A linear encoder with bias maps each time bin of population activity to
    pre-activations; a sparsifier keeps a few of them (the latents); a decoder with
    unit-norm atoms (``components_``) and a bias reconstructs the counts. Dead latents
    are revived by an auxiliary loss, not by resampling.

    Parameters
    ----------
    d_sae : int or 'auto', default='auto'
        Number of latents (dictionary atoms). ``'auto'`` uses
        ``max(2 * topk, min(8 * n_features, n_samples // 10))``, recorded in ``d_sae_``.
    topk : int, default=8
        Active latents per sample for ``'topk'``; mean active latents per sample for
        ``'batchtopk'``. Ignored by ``'relu'``.
    sparsity : {'batchtopk', 'topk', 'relu'}, default='batchtopk'
        * ``'batchtopk'``: during training keep the ``topk * batch_size`` largest
          pre-activations of the batch (busy bins may use more latents than quiet
          ones); at inference keep every pre-activation above ``threshold_``, a single
          threshold calibrated after training so that the mean L0 on the training data
          equals ``topk``.
        * ``'topk'``: keep the ``topk`` largest pre-activations of every sample.
        * ``'relu'``: ReLU with an L1 penalty of weight ``l1_coef``.
    loss : {'msle', 'mse'}, default='msle'
        Reconstruction loss, averaged over all elements.
        ``'msle'``: ``mean((tau * log1p(x_hat) - log1p(x))**2)``, which needs
        non-negative input; ``'mse'``: ``mean((x_hat - x)**2)``.
    tau : float, default=1.0
        Scale of the log-prediction in ``'msle'`` (1 is the symmetric MSLE).
    l1_coef : float, default=1e-3
        Weight of the L1 penalty ``mean_samples(sum_j z_j)`` for ``sparsity='relu'``.
    aux_coef : float, default=1/32
        Weight of the auxiliary dead-latent loss: the detached residual ``x - x_hat`` is
        reconstructed from the top ``k_aux`` pre-activations of dead latents, decoded
        without the decoder bias (Gao et al. 2024). 0 disables it.
    k_aux : int or None, default=None
        Dead latents used by the auxiliary loss per sample; ``None`` means
        ``n_features // 2`` (at least 1, at most ``d_sae``).
    dead_window : int or None, default=None
        A latent is dead after this many consecutive training steps without firing.
        ``None`` means half an epoch, ``ceil(steps_per_epoch / 2)`` steps.
    decoder_bias_init : {'mean', 'geometric_median', 'zeros'}, default='mean'
        Initial decoder bias, computed from the training data.
    subtract_decoder_bias : bool, default=True
        Subtract the decoder bias from the input before encoding.
    output_relu : bool or 'auto', default='auto'
        ReLU on reconstructions (counts are non-negative). ``'auto'`` turns it on when
        the training data has no negative value; the choice is in ``output_relu_``.
    optimizer : {'adam', 'nadam', 'adamw'}, default='adam'
        Optimiser (torch defaults besides the learning rate).
    lr : float, default=5e-3
        Peak learning rate.
    lr_schedule : {'cosine_cycle', 'constant'}, default='cosine_cycle'
        ``'cosine_cycle'``: 10% linear warmup, flat until half-way, then cosine decay to
        ``lr / 100`` with a superimposed cosine cycle of amplitude 10% of the decay range
        and period 20% of the decay phase.
    batch_size : int, default=1024
        Samples per optimiser step (capped at ``n_samples``).
    n_epochs : int or 'auto', default='auto'
        Passes over the training data. ``'auto'`` runs at least 20 epochs and at least
        1000 optimiser steps (at most 1000 epochs), so small recordings are not
        under-trained.
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to train and infer; ``'auto'`` uses CUDA when available. Results are
        identical in semantics on both; CPU fits are bit-reproducible.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the parameters and computation.
    random_state : int, RandomState instance or None, default=None
        Seeds the estimator's private ``torch.Generator`` (initial weights, batch
        order). No global seed is touched.
    verbose : int, default=0
        ``>= 1`` shows a progress bar over epochs with the running loss.

    Attributes
    ----------
    components_ : ndarray of shape (d_sae, n_features)
        Decoder atoms (unit L2 norm): the population pattern of each latent.
    threshold_ : float or None
        Calibrated BatchTopK inference threshold (``None`` for other sparsities).
    d_sae_ : int
        Number of latents used.
    loss_curve_ : list of float
        Mean training loss of every epoch.
    n_iter_ : int
        Number of epochs run.
    n_steps_ : int
        Number of optimiser steps run.
    dead_fraction_ : float
        Fraction of latents that never fire on the training data at inference.
    mean_l0_ : float
        Mean number of active latents per training sample at inference.
    latent_frequency_ : ndarray of shape (d_sae,)
        Fraction of training samples on which each latent fires.
    output_relu_ : bool
        Whether reconstructions pass through a ReLU.
    n_features_in_ : int
        Number of units seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Unit names seen during ``fit`` (only when ``X`` had string column names).

    See Also
    --------
    sklearn.decomposition.DictionaryLearning : Sparse coding with a learned dictionary.
    sklearn.decomposition.NMF : Non-negative matrix factorisation.

    References
    ----------
    Gao et al. (2024), "Scaling and evaluating sparse autoencoders", arXiv:2406.04093.
    Bussmann, Leask and Nanda (2024), "BatchTopK sparse autoencoders", arXiv:2412.06410.

    Examples
    --------
    >>> from sklearn_mini import SpikeSAE
    >>> from sklearn_mini.datasets import make_sparse_counts
    >>> X, truth = make_sparse_counts(n_samples=2000, n_features=32, n_atoms=16,
    ...                               random_state=0)
    >>> sae = SpikeSAE(d_sae=64, topk=4, n_epochs=5, random_state=0).fit(X)
    >>> sae.transform(X).shape
    (2000, 64)
    """

    _parameter_constraints: dict = {
        **_BaseSAE._parameter_constraints,
        "d_sae": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "topk": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        d_sae="auto",
        topk=8,
        sparsity="batchtopk",
        loss="msle",
        tau=1.0,
        *,
        l1_coef=1e-3,
        aux_coef=1 / 32,
        k_aux=None,
        dead_window=None,
        decoder_bias_init="mean",
        subtract_decoder_bias=True,
        output_relu="auto",
        optimizer="adam",
        lr=5e-3,
        lr_schedule="cosine_cycle",
        batch_size=1024,
        n_epochs="auto",
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=0,
    ):
        self.d_sae = d_sae
        self.topk = topk
        self.sparsity = sparsity
        self.loss = loss
        self.tau = tau
        self.l1_coef = l1_coef
        self.aux_coef = aux_coef
        self.k_aux = k_aux
        self.dead_window = dead_window
        self.decoder_bias_init = decoder_bias_init
        self.subtract_decoder_bias = subtract_decoder_bias
        self.output_relu = output_relu
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _make_levels(self, n_samples, n_features):
        d = auto_d_sae(n_samples, n_features, self.topk) if self.d_sae == "auto" else self.d_sae
        return (Level(d=d, k=self.topk, weight=1.0),)
