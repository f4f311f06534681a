"""SpikeSAE: the single-dictionary sparse autoencoder estimator."""

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from .._core.data import active_units_per_bin
from .._core.schedules import auto_lr  # noqa: F401 (public here, beside auto_topk)
from .._core.train_state import Level
from ._base import _BaseSAE
from ._params import sae_init


def auto_d_sae(n_samples, n_features, topk):
    """Dictionary size used by ``d_sae='auto'``.

    ``max(2 * topk, min(2 * n_features, n_samples // 10))``: twice as many latents as
    units, capped at one latent per ten training samples (the seed notes' upper limit,
    beyond which latents memorise samples), and never fewer than ``2 * topk``. (Wave 1
    used ``8 * n_features``; on the shared recordings most of those latents died, and on
    the recovery benchmark twice the number of planted patterns already recovers more
    than an exact-size dictionary; see the user guide's choosing-sizes page.)
    """
    return max(2 * topk, min(2 * n_features, n_samples // 10))


def auto_topk(n_features, active_units=None):
    """Active latents per sample used by ``topk='auto'``.

    ``round(sqrt(n_features) / 2)``, but at most ``round(active_units / 2)``, between 1
    and 32: 2 for 20 units, 5 for 100, 14 for 800, unless a typical non-empty bin has
    few active units. topk is the number of population patterns you expect to be active
    together in one time bin (assemblies, stimulus features, behavioural states). The
    cap matters on sparse recordings: when ``topk`` reaches the number of units active
    in a bin, a dictionary of single-unit atoms reconstructs every bin exactly, and the
    SAE copies units instead of finding patterns (on the retinal waves, 4.3 active units
    per non-empty bin: ``topk=4`` learns atoms of 1.1 effective units, ``topk=2`` of 14;
    see the user guide's choosing-sizes page).

    Parameters
    ----------
    n_features : int
        Number of units.
    active_units : float or None, default=None
        Mean number of active units per non-empty training bin
        (:func:`active_units_per_bin`); ``None`` applies no cap.

    Returns
    -------
    topk : int
    """
    k = round(n_features ** 0.5 / 2)
    if active_units is not None:
        k = min(k, round(active_units / 2))
    return int(min(32, max(1, k)))


class SpikeSAE(_BaseSAE):
    """Sparse autoencoder for binned spike counts.

    A linear encoder with bias maps each time bin of population activity to
    pre-activations; a sparsifier keeps a few of them (the latents); a decoder with
    unit-norm, by default non-negative, atoms (``components_``) and a bias reconstructs
    the counts. Training starts with twice the latents and prunes the ones the loss
    needs least (``prune_from``); dead latents are revived by an auxiliary loss.

    Parameters
    ----------
    d_sae : int or 'auto', default='auto'
        Number of latents (dictionary atoms). ``'auto'`` uses
        ``max(2 * topk, min(2 * n_features, n_samples // 10))``, recorded in ``d_sae_``.
    topk : int or 'auto', default='auto'
        Active latents per sample for ``'topk'``; mean active latents per sample for
        ``'batchtopk'``. Ignored by ``'relu'``, ``'jumprelu'`` and ``'gated'``.
        ``'auto'`` uses ``round(sqrt(n_features) / 2)``, at most half the mean number of
        units active in a non-empty training bin, between 1 and 32
        (``sklearn_mini.sae.auto_topk``), recorded in ``topk_``; see the user guide's
        choosing-sizes page for how to pick it.
    sparsity : {'topk', 'batchtopk', 'relu', 'jumprelu', 'gated'}, default='topk'
        * ``'topk'``: keep the ``topk`` largest pre-activations of every sample.
        * ``'batchtopk'``: during training keep the ``topk * batch_size`` largest
          pre-activations of the batch (busy bins may use more latents than quiet
          ones); at inference keep every pre-activation above ``threshold_``, a single
          threshold calibrated after training so that the mean L0 on the training data
          equals ``topk``. Better when ``topk`` is below the number of patterns active
          together; on sparse data it lets busy bins copy their active units.
        * ``'relu'``: ReLU with an L1-type penalty (``l1_penalty``) of weight ``l1_coef``.
        * ``'jumprelu'``: ``z = pre * H(pre - theta)`` with a trained threshold per
          latent (``theta_``), an L0 penalty of weight ``l0_coef`` and straight-through
          gradients of kernel width ``bandwidth``.
        * ``'gated'``: a gate path decides which latents are on, a magnitude path with
          the same directions how much; L1 of weight ``l1_coef`` on the gate plus the
          gate's own reconstruction through a frozen decoder.

        ``topk`` is used by the first two only.
    loss : {'msle', 'mse', 'poisson', 'msle_asym'}, default='msle'
        Reconstruction loss, averaged over all elements.
        ``'msle'``: ``mean((tau * log1p(x_hat) - log1p(x))**2)``;
        ``'msle_asym'``: ``mean(w * (log1p(x_hat) - log1p(x))**2)`` with ``w = tau`` for
        under-estimates and 1 for over-estimates;
        ``'poisson'``: the Poisson KL divergence
        ``mean(x_hat - x + x * (log(x + eps) - log(x_hat + eps)))`` with a softplus output,
        so predicted rates are positive; ``'mse'``: ``mean((x_hat - x)**2)``. All but
        ``'mse'`` need non-negative input.
    tau : float, default=1.0
        ``'msle'``: scale of the log-prediction (1 is the symmetric MSLE).
        ``'msle_asym'``: weight of under-estimates (> 1 penalises missed spikes more).
    l1_coef : float, default=1e-3
        Weight of the sparsity penalty of ``'relu'`` and ``'gated'``.
    l1_penalty : {'standard', 'decoder_norm', 'tanh'}, default='standard'
        ``'relu'`` only. ``'standard'``: ``sum_j z_j`` with unit-norm atoms;
        ``'decoder_norm'``: ``sum_j z_j ||d_j||`` with an unconstrained decoder;
        ``'tanh'``: ``sum_j (tanh_A / tanh_B) tanh(tanh_B z_j ||d_j||)``, unconstrained.
    tanh_A, tanh_B : float, default=1.0
        Scale and saturation of the ``'tanh'`` penalty.
    l1_warmup : float, default=0.0
        Fraction of the fit's optimiser steps over which the sparsity coefficient
        (``l1_coef`` or ``l0_coef``) ramps linearly from 0. Not applied by
        ``partial_fit``.
    l0_coef : float, default=1e-4
        Weight of the L0 penalty of ``'jumprelu'`` (suits input scaled to [0, 1]).
    bandwidth : float, default=0.05
        Width of the rectangle kernel of the JumpReLU straight-through gradients, in
        pre-activation units (thresholds start at 0).
    eps : float, default=1e-8
        ``'poisson'``: added inside the logs, so zero counts and rates stay finite.
    decoder_layers : tuple of int, default=()
        Hidden sizes of a nonlinear (ReLU MLP) decoder, for features embedded
        nonlinearly in the spikes. ``()`` is the linear decoder. A nonlinear decoder has
        no atoms: ``components_`` is then absent and ``decoder_`` holds the decoder; the
        auxiliary dead-latent loss (which needs a linear decoder) is not used.
    positive_dict : bool, default=True
        Keep every atom non-negative (projected after each optimiser step): patterns of
        increased firing that cannot cancel one another, as in NMF. Such atoms cannot
        express a decrease of firing; use ``False`` for that. Ignored with
        ``decoder_layers``.
    prune_from : float, default=2.0
        Start training with ``prune_from * d_sae`` latents and prune the ones whose
        removal costs the least training loss, in four stages ending at 20%, 30%, 40%
        and 50% of ``n_epochs``, until ``d_sae`` remain (measured on 8192 training rows:
        with ``sparsity='topk'`` the next-ranked latent takes a removed one's slot). A
        dictionary trained from random atoms at its final size settles in local optima
        (copies of busy units, blends of rare patterns); the spare room avoids them, and
        the dead latents are the first to go. ``1`` trains ``d_sae`` latents throughout,
        as do fits of fewer than 10 epochs, ``partial_fit`` and a nonlinear decoder.
        :class:`MatryoshkaSAE` grows and prunes its last level only. The first half of
        the fit costs the time of the larger dictionary.
    seq_len : int, default=1
        Bins per sample. With ``seq_len > 1`` each sample is the window of ``seq_len``
        consecutive bins ending at a row, and the SAE reconstructs the whole window
        (see :meth:`score_lags`). Training uses the windows inside each segment
        (``groups``); ``transform`` returns one row per input row, the bins before a
        segment's start taken as zero.
    transform_algorithm : {'encoder', 'omp'}, default='encoder'
        How ``transform`` (and ``reconstruct``, ``score``) code the data: with the
        trained encoder and sparsifier, or by orthogonal matching pursuit over the
        learned atoms with ``topk`` non-zeros (the classical sparse-coding read-out of
        the same dictionary; codes may then be negative). ``'omp'`` needs a linear
        decoder and not ``loss='poisson'``. Training always uses the encoder.
    decoder_path : {'auto', 'dense', 'sparse'}, default='auto'
        How training decodes ``'topk'``/``'batchtopk'`` codes: ``'dense'`` multiplies the
        batch x d_sae code matrix by the decoder; ``'sparse'`` sums only the selected
        atoms (``embedding_bag``), so neither the decoder product nor its gradients
        touch unselected latents. Same loss and gradients (tested). ``'auto'`` uses
        ``'sparse'`` when ``d_sae >= max(512, 32 * topk)`` (dense won or tied up to
        ``d_sae = 256`` and sparse won from ``d_sae = 2048`` on a 2-core CPU). Other
        sparsities and nonlinear decoders always use the dense path.
    aux_coef : float, default=1/32
        Weight of the auxiliary dead-latent loss: the detached residual ``x - x_hat`` is
        reconstructed from the top ``k_aux`` pre-activations of dead latents, decoded
        without the decoder bias (Gao et al. 2024); their negative part decodes through
        a frozen decoder, so that it moves the dead latents' encoders. 0 disables it.
    k_aux : int or None, default=None
        Dead latents used by the auxiliary loss per sample; ``None`` means
        ``n_features // 2`` (at least 1, at most ``d_sae``).
    dead_window : int or None, default=None
        A latent is dead after this many consecutive training steps without firing.
        ``None`` means one epoch: dead in training when it fired on no training bin.
    decoder_bias_init : {'zeros', 'mean', 'geometric_median'}, default='zeros'
        Initial decoder bias: zero (the zero code predicts silence), or the mean or
        geometric median of the training data.
    subtract_decoder_bias : bool, default=True
        Subtract the decoder bias from the input before encoding.
    output_relu : bool or 'auto', default=False
        ReLU on reconstructions. ``'auto'`` turns it on when the training data has no
        negative value; the choice is in ``output_relu_``. Off by default: a latent that
        fires where the output is clipped gets no gradient (a dead zone that kept most
        latents dead on sparse recordings).
    optimizer : {'adam', 'nadam', 'adamw'}, default='adam'
        Optimiser (torch defaults besides the learning rate).
    momentum_decay : float, default=4e-3
        NAdam's momentum decay ``psi`` (ignored by the other optimisers).
    lr : float or 'auto', default='auto'
        Peak learning rate. ``'auto'``: :func:`auto_lr` of the number of units, 5e-3 up
        to 128 units and ``5e-3 * sqrt(128 / n_features)`` above; the rate used is in
        ``lr_``.
    lr_schedule : {'cosine_cycle', 'constant'}, default='cosine_cycle'
        ``'cosine_cycle'``: 10% linear warmup, flat until half-way, then cosine decay to
        ``lr / 100`` with a superimposed cosine cycle of amplitude 10% of the decay range
        and period 20% of the decay phase.
    batch_size : int, default=1024
        Samples per optimiser step (capped at ``n_samples``).
    n_epochs : int or 'auto', default='auto'
        Most passes over the training data; the convergence rule (``tol``,
        ``n_iter_no_change``) usually ends the fit earlier. The learning-rate schedule
        is laid out over these epochs. ``'auto'`` plans at least 20 epochs and at least
        4000 optimiser steps (at most 1000 epochs), so small recordings are not
        under-trained (1000 steps left most planted atoms mixed; see the user guide's
        "Features you can trust").
    tol : float, default=1e-4
        Smallest improvement that counts for the convergence rule: relative to the best
        training loss so far, or, with ``early_stopping``, absolute in held-out
        explained variance.
    n_iter_no_change : int or None, default=10
        The fit is converged after this many epochs in a row without an improvement of
        ``tol`` and without any atom turning by 0.01 or more (``1 - cosine``; a latent
        jumping to another pattern; epochs of the warm-up, the first 10% of
        ``n_epochs``, do not count). A converged fit decays its learning rate over a
        further fifth of the epochs it ran, then stops (the user guide's "Speed":
        stopping at the plateau's learning rate would return a noisier model). ``None``
        trains all ``n_epochs``.
    early_stopping : bool, default=False
        Hold out the last ``validation_fraction`` of the rows (the end of the recording,
        never shuffled in) and judge convergence by their explained variance after every
        epoch instead of by the training loss. Those rows are not trained on.
    validation_fraction : float, default=0.1
        Fraction of the rows held out with ``early_stopping``, in (0, 1).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to train and infer; ``'auto'`` uses CUDA when available. Results are
        identical in semantics on both; CPU fits are bit-reproducible.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the parameters and computation.
    random_state : int, RandomState instance or None, default=None
        Seeds the estimator's private ``torch.Generator`` (initial weights, batch
        order). No global seed is touched.
    verbose : int, default=0
        ``0``: silent. ``1``: a progress bar over the fit's steps with the running loss.
        ``2``: the bar plus one line after every epoch: mean training loss, fraction of
        latents that did not fire in the epoch, learning rate, the validation explained
        variance with ``early_stopping``, and the epoch at which the convergence rule
        started the final decay.
    checkpoint_dir : str, path-like or None, default=None
        Directory for training checkpoints (one atomic file, ``checkpoint.safetensors``:
        model, optimiser, learning-rate schedule position, dead-latent clocks and
        random generator state; no pickle). When it already holds a checkpoint of a fit
        with the same parameters on the same data, :meth:`fit` continues from it and
        the result equals an uninterrupted fit on the CPU; a checkpoint of another fit
        is a ``ValueError``. The last checkpoint stays after the fit: delete it to
        train again from scratch. Use one directory per fit (e.g. per
        ``GridSearchCV`` candidate and fold). ``partial_fit`` ignores it.
    checkpoint_every : int, default=1
        Epochs between checkpoints; a checkpoint is also written at the end of the fit
        and when SIGINT (Ctrl-C) or SIGTERM stops it.
    data_memory_limit : float or 'auto', default='auto'
        Largest training array (GiB, in ``dtype``) copied whole to the device. A larger
        ``X`` (e.g. a ``numpy.memmap``) stays where it is and every mini-batch is
        gathered from it and copied over; the model trained is the same, at the cost of
        one host-to-device copy per batch. ``'auto'``: half the free CUDA memory, or a
        quarter of the machine's RAM on the CPU. ``seq_len > 1`` builds its windows in
        memory first.

    Attributes
    ----------
    n_epochs_resumed_ : int
        Epochs of this fit loaded from a checkpoint in ``checkpoint_dir`` rather than
        trained by the last call (0 without a checkpoint).
    components_ : ndarray of shape (d_sae, n_features * seq_len)
        Decoder atoms: the population pattern of each latent (unit L2 norm except with
        ``l1_penalty`` ``'decoder_norm'`` or ``'tanh'``). Absent with ``decoder_layers``.
    decoder_ : torch.nn.Sequential
        Only with ``decoder_layers``: a CPU copy of the nonlinear decoder, latent codes
        to reconstruction.
    theta_ : ndarray of shape (d_sae,)
        Only with ``sparsity='jumprelu'``: the per-latent thresholds.
    threshold_ : float or None
        Calibrated BatchTopK inference threshold (``None`` for other sparsities).
    d_sae_ : int
        Number of latents used.
    topk_ : int
        Active latents per sample used (``topk``, or the value ``'auto'`` chose).
    lr_ : float
        Peak learning rate used (``lr``, or the value ``'auto'`` chose).
    loss_curve_ : list of float
        Mean training loss of every epoch.
    validation_scores_ : list of float or None
        With ``early_stopping`` or ``fit(X_val=...)``: explained variance of the held-out
        rows after every epoch (codes as in training, the last level's); ``None``
        otherwise.
    best_validation_score_ : float or None
        The largest of ``validation_scores_``; ``None`` when there are none.
    n_iter_ : int
        Number of epochs run (at most ``n_epochs``).
    atom_turn_curve_ : list of float
        Largest turn of any atom in every epoch of ``fit`` (``1 - cosine`` with itself at
        the end of the epoch before), which the convergence rule also watches.
    converged_ : bool
        Whether the convergence rule ended the fit (after its final decay) rather than
        ``n_epochs``.
    n_steps_ : int
        Number of optimiser steps run.
    dead_fraction_ : float
        Fraction of latents that never fire on the training data at inference. Above a
        quarter, ``fit`` warns (:class:`~sklearn_mini.exceptions.DeadLatentWarning`).
    dead_fraction_curve_ : list of float
        Fraction of latents that fired in no training step of each epoch.
    mean_l0_ : float
        Mean number of active latents per training sample at inference.
    latent_frequency_ : ndarray of shape (d_sae,)
        Fraction of training samples on which each latent fires.
    output_relu_ : bool
        Whether reconstructions pass through a ReLU (``loss='poisson'`` uses a softplus).
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
    Rajamanoharan et al. (2024), "Jumping ahead: improving reconstruction fidelity with
    JumpReLU sparse autoencoders", arXiv:2407.14435.
    Rajamanoharan et al. (2024), "Improving dictionary learning with gated sparse
    autoencoders", arXiv:2404.16014.

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
        "topk": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    # Its own parameters, then those every SAE shares (_params.py): the signature
    # lists them all, as scikit-learn's get_params and help() show.
    __init__ = sae_init({"d_sae": "auto", "topk": "auto"})

    def _make_levels(self, X):
        n_samples, n_features = X.shape
        k = auto_topk(n_features, active_units_per_bin(X)) if self.topk == "auto" else self.topk
        d = auto_d_sae(n_samples, n_features, k) if self.d_sae == "auto" else self.d_sae
        return (Level(d=d, k=k, weight=1.0),)
