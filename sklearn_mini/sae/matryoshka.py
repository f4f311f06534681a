"""MatryoshkaSAE: nested dictionary levels, each with its own size and top-k."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.matryoshka import NestingPolicy
from .._core.train_state import Level
from ..evaluation.metrics import dense_float64, explained_variance
from ._base import _BaseSAE
from ._params import sae_init


def _validate_levels(levels, level_weights):
    """Levels as ``Level`` objects with weights normalised to sum to 1; clear errors."""
    try:
        pairs = [tuple(pair) for pair in levels]
    except TypeError:
        pairs = None
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError("levels must be a non-empty sequence of (d_cumulative, topk) pairs, "
                         f"e.g. ((256, 8), (512, 16)); got {levels!r}.")
    for d, k in pairs:
        if not (isinstance(d, Integral) and isinstance(k, Integral) and d >= 1 and k >= 1):
            raise ValueError(f"levels entries must be positive integers (d_cumulative, topk); "
                             f"got {(d, k)!r}.")
    sizes = [d for d, _ in pairs]
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"levels must have strictly increasing sizes d_cumulative; got {sizes}.")
    if level_weights is None:
        weights = np.ones(len(pairs))
    else:
        weights = np.asarray(level_weights, dtype=np.float64).ravel()
        if weights.size != len(pairs) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError(f"level_weights must be {len(pairs)} positive numbers (one per "
                             f"level); got {level_weights!r}.")
    weights = weights / weights.sum()
    return tuple(Level(int(d), int(k), float(w)) for (d, k), w in zip(pairs, weights))


class MatryoshkaSAE(_BaseSAE):
    """Sparse autoencoder whose dictionary is a nest of prefixes, each a usable SAE.

    Level ``l`` uses latents ``[0, d_l)`` with its own ``topk`` ``k_l``; the training loss
    is the weighted sum of every level's reconstruction loss, so the first latents must
    reconstruct the data on their own (coarse, frequent features) and later blocks add
    detail (Bussmann et al. 2025; Nabeshima 2024). Each level has its own top-k, which
    the seed notes found to give better reconstructions, fewer dead latents and more
    interpretable high-level features than one top-k for all levels.

    Every other parameter, behaviour and fitted attribute is that of
    :class:`~sklearn_mini.SpikeSAE`; both run the same training core.

    Parameters
    ----------
    levels : sequence of (int, int), default=((256, 8), (512, 16), (1024, 24))
        ``(d_cumulative, topk)`` per level, strictly increasing in ``d_cumulative``. The
        dictionary has ``levels[-1][0]`` latents.
    level_weights : sequence of float or None, default=None
        Weight of each level's reconstruction loss. Normalised to sum to 1 (so the loss
        scale, and hence a good ``lr``, does not depend on the number of levels); ``None``
        weighs the levels equally. The seed used e.g. ``(1, 1.25, 1.5)``.
    prefix_sampling : {'fixed', 'random'}, default='fixed'
        ``'fixed'``: the levels end at their nominal sizes. ``'random'``: every training
        step draws each inner level's size uniformly between just above the previous
        level's (drawn) size and its nominal size, so that no single cut point is
        privileged; inference and scoring use the nominal sizes.
    reorder_latents : {'frequency', 'none'}, default='frequency'
        ``'frequency'``: at the end of every epoch in the first half of ``fit``, the
        latents are renumbered by how often they fired in the whole dictionary during
        that epoch, most frequent first (the model's output is unchanged; only which
        latents belong to each level changes). A frequent feature that a later level's
        latent found moves into the first level in place of a rarer one, which plain
        training cannot do: a first-level latent stuck on a rare feature gets no
        gradient towards the frequent feature it misses. The second half trains the
        final nesting. ``'none'``: latents keep their initial numbering.
        ``partial_fit`` never reorders.
    sparsity, loss, tau, l1_coef, l1_penalty, tanh_A, tanh_B, l1_warmup, l0_coef, \
bandwidth, eps, decoder_layers, positive_dict, prune_from, seq_len, transform_algorithm, \
decoder_path, aux_coef, k_aux, dead_window, decoder_bias_init, subtract_decoder_bias, \
output_relu, optimizer, momentum_decay, lr, lr_schedule, batch_size, n_epochs, tol, \
n_iter_no_change, early_stopping, validation_fraction, device, dtype, random_state, verbose, \
checkpoint_dir, checkpoint_every, data_memory_limit
        As for :class:`~sklearn_mini.SpikeSAE`. With ``'batchtopk'`` each level keeps the
        ``k_l * batch_size`` largest pre-activations of its prefix during training and
        has its own calibrated inference threshold. The auxiliary dead-latent loss works
        over the whole dictionary.

    Attributes
    ----------
    components_ : ndarray of shape (d_sae, n_features)
        Decoder atoms; rows ``level_slices_[l]`` form level ``l``'s block.
    level_slices_ : list of slice
        The block of latents each level adds: ``slice(d_{l-1}, d_l)``.
    thresholds_ : ndarray of shape (n_levels,) or None
        Calibrated BatchTopK inference threshold of every level.
    threshold_ : float or None
        The largest level's threshold.
    level_mean_l0_ : ndarray of shape (n_levels,)
        Mean active latents per training sample at each level's inference.
    level_dead_fractions_ : ndarray of shape (n_levels,)
        Fraction of each level's block that never fires at that level's inference.
    dead_fraction_ : float
        Fraction of all latents that fire at no level's inference.
    d_sae_, topk_, lr_, loss_curve_, validation_scores_, best_validation_score_, \
dead_fraction_curve_, n_iter_, converged_, atom_turn_curve_, n_steps_, n_epochs_resumed_, \
mean_l0_, latent_frequency_, output_relu_, n_features_in_, feature_names_in_
        As for :class:`~sklearn_mini.SpikeSAE` (``topk_``, ``mean_l0_`` and
        ``latent_frequency_`` at the largest level).

    Examples
    --------
    >>> from sklearn_mini import MatryoshkaSAE
    >>> from sklearn_mini.datasets import make_sparse_counts
    >>> X, _ = make_sparse_counts(n_samples=2000, n_features=32, n_atoms=16, random_state=0)
    >>> sae = MatryoshkaSAE(levels=((16, 2), (64, 4)), n_epochs=5, random_state=0).fit(X)
    >>> sae.transform(X).shape, sae.transform_level(X, 0).shape
    ((2000, 64), (2000, 16))
    """

    _parameter_constraints: dict = {
        **_BaseSAE._parameter_constraints,
        "levels": ["array-like"],
        "level_weights": ["array-like", None],
        "prefix_sampling": [StrOptions({"fixed", "random"})],
        "reorder_latents": [StrOptions({"frequency", "none"})],
    }

    # Its own parameters, then those every SAE shares (_params.py): the signature
    # lists them all, as scikit-learn's get_params and help() show.
    __init__ = sae_init({"levels": ((256, 8), (512, 16), (1024, 24)), "level_weights": None,
                         "prefix_sampling": "fixed", "reorder_latents": "frequency"})

    def _make_levels(self, X):
        return _validate_levels(self.levels, self.level_weights)

    def _nesting_policy(self):
        return NestingPolicy(self.prefix_sampling, reorder=self.reorder_latents == "frequency")

    def _set_level_attributes(self):
        starts = [0] + [lv.d for lv in self._levels[:-1]]
        self.level_slices_ = [slice(a, lv.d) for a, lv in zip(starts, self._levels)]
        self.level_mean_l0_ = np.asarray(self._level_stats["mean_l0"])
        self.level_dead_fractions_ = np.asarray(self._level_stats["dead_fraction"])
        uses = self._sparsifier.uses_threshold
        self.thresholds_ = self._module.thresholds.detach().cpu().numpy().copy() if uses else None

    # ------------------------------------------------------------------ levels
    def _level_index(self, level):
        n = len(self._levels)
        if not isinstance(level, Integral) or not -n <= level < n:
            raise ValueError(f"level must be an integer in [-{n}, {n - 1}]; got {level!r}.")
        return int(level) % n

    def transform_level(self, X, level):
        """Latent activations of one level (its own top-k and threshold).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.
        level : int
            Level index (0 is the smallest; negative values count from the end).

        Returns
        -------
        Z : ndarray of shape (n_samples, d_level)
            Activations of latents ``[0, d_level)``.
        """
        check_is_fitted(self)
        index = self._level_index(level)
        out_dtype = self._out_dtype(X)
        blocks = [z.cpu().numpy() for _, z in self._encode_blocks(X, index)]
        return np.concatenate(blocks).astype(out_dtype, copy=False)

    def inverse_transform(self, X, level=None):
        """Reconstruct counts from latent activations.

        Parameters
        ----------
        X : array-like of shape (n_samples, d_sae) or (n_samples, d_level)
            Latent activations (from :meth:`transform` or :meth:`transform_level`).
        level : int or None, default=None
            Decode with the first ``d_level`` atoms only (columns beyond are ignored, a
            narrower ``X`` must have exactly ``d_level`` columns). ``None`` decodes ``X``
            with as many atoms as it has columns (``d_sae`` or a level's size).

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Reconstruction.
        """
        check_is_fitted(self)
        Z = self._check_codes(X)
        if level is not None:
            d = self._levels[self._level_index(level)].d
            if Z.shape[1] not in (d, self.d_sae_):
                raise ValueError(f"Level {level} decodes {d} latents; X has {Z.shape[1]} columns.")
            Z = Z[:, :d]
        elif Z.shape[1] not in [lv.d for lv in self._levels]:
            raise ValueError(f"X has {Z.shape[1]} columns; expected a level size "
                             f"{[lv.d for lv in self._levels]}.")
        return self._decode(Z, X)

    def score_levels(self, X):
        """Explained variance of every level's reconstruction of ``X``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts (held-out time, to judge a model).

        Returns
        -------
        scores : ndarray of shape (n_levels,)
            Pooled explained variance per level, smallest level first.
        """
        check_is_fitted(self)
        dense = dense_float64(X)
        return np.array([explained_variance(dense, self._reconstruct(X, i))
                         for i in range(len(self._levels))])

    def reconstruct(self, X, level=None):
        """Reconstruction of ``X`` through one level's sparse code.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.
        level : int or None, default=None
            Level to use; ``None`` is the largest.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Reconstructed counts.
        """
        check_is_fitted(self)
        return self._reconstruct(X, -1 if level is None else self._level_index(level))

    def get_feature_names_out(self, input_features=None):
        """Latent names that carry their level: ``matryoshkasae_l{level}_{index}``.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str of shape (d_sae,)
            One name per latent of the largest level.
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_l{level}_{j}"
                           for level, block in enumerate(self.level_slices_)
                           for j in range(block.start, block.stop)], dtype=object)


