"""Classical baselines in the SAE interface: fit / transform / inverse_transform / score.

These are scikit-learn's own estimators; the only addition is ``score``, which here is
the explained variance of the reconstruction (:func:`sklearn_mini.metrics.explained_variance`),
the same number :meth:`SpikeSAE.score <sklearn_mini.SpikeSAE.score>` reports (scikit-learn's
``PCA.score`` is a log-likelihood, and NMF and dictionary learning have none).
"""

from sklearn import decomposition

from ._score import ReconstructionScoreMixin


class PCA(ReconstructionScoreMixin, decomposition.PCA):
    """:class:`sklearn.decomposition.PCA` whose ``score`` is reconstruction explained variance.

    Every parameter and attribute is scikit-learn's.
    """


class NMF(ReconstructionScoreMixin, decomposition.NMF):
    """:class:`sklearn.decomposition.NMF` whose ``score`` is reconstruction explained variance.

    ``beta_loss='kullback-leibler'`` (with ``solver='mu'``) is the Poisson-likelihood NMF;
    ``alpha_W > 0`` with ``l1_ratio=1`` puts an L1 penalty on the codes (sparse NMF, see
    :func:`sparse_nmf`). Every parameter and attribute is scikit-learn's.
    """


class DictionaryLearning(ReconstructionScoreMixin, decomposition.MiniBatchDictionaryLearning):
    """Mini-batch dictionary learning with ``score`` = reconstruction explained variance.

    With ``transform_algorithm='omp'`` and ``transform_n_nonzero_coefs=k`` the codes have
    exactly ``k`` non-zeros: the closest classical analogue of a TopK SAE (see
    :func:`k_sparse_dictionary`). Every parameter and attribute is scikit-learn's
    :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`.
    """


def sparse_nmf(n_components, alpha=1e-3, beta_loss="frobenius", random_state=None):
    """NMF with an L1 penalty of weight ``alpha`` on the codes (``W``), none on the atoms.

    Parameters
    ----------
    n_components : int
        Number of components.
    alpha : float, default=1e-3
        L1 weight on the codes (scikit-learn's ``alpha_W`` with ``l1_ratio=1``).
    beta_loss : {'frobenius', 'kullback-leibler'}, default='frobenius'
        Reconstruction loss.
    random_state : int or None, default=None
        Seed of the initialisation.

    Returns
    -------
    nmf : NMF
    """
    solver = "mu" if beta_loss == "kullback-leibler" else "cd"
    return NMF(n_components=n_components, alpha_W=alpha, alpha_H=0.0, l1_ratio=1.0,
               beta_loss=beta_loss, solver=solver, init="nndsvda", max_iter=500,
               random_state=random_state)


def k_sparse_dictionary(n_components, topk, random_state=None):
    """Dictionary learning whose codes have ``topk`` non-zeros (OMP), like a TopK SAE.

    Parameters
    ----------
    n_components : int
        Number of atoms.
    topk : int
        Non-zero codes per sample at ``transform``.
    random_state : int or None, default=None
        Seed.

    Returns
    -------
    dictionary : DictionaryLearning
    """
    return DictionaryLearning(n_components=n_components, transform_algorithm="omp",
                              transform_n_nonzero_coefs=topk, batch_size=256, max_iter=20,
                              random_state=random_state)


def default_baselines(n_components=16, topk=4, random_state=0):
    """The standard comparison set, each configured for spike counts.

    Parameters
    ----------
    n_components : int, default=16
        Components (atoms) of every baseline.
    topk : int, default=4
        Non-zeros of the OMP dictionary's codes.
    random_state : int, default=0
        Seed of every baseline.

    Returns
    -------
    baselines : dict of str to estimator
        ``'PCA'``, ``'NMF'``, ``'NMF-KL'``, ``'sparse NMF'``, ``'dictionary (OMP)'``.
    """
    return {
        "PCA": PCA(n_components=n_components, random_state=random_state),
        "NMF": NMF(n_components=n_components, init="nndsvda", max_iter=500,
                   random_state=random_state),
        "NMF-KL": NMF(n_components=n_components, beta_loss="kullback-leibler", solver="mu",
                      init="nndsvda", max_iter=500, random_state=random_state),
        "sparse NMF": sparse_nmf(n_components, random_state=random_state),
        "dictionary (OMP)": k_sparse_dictionary(n_components, topk, random_state=random_state),
    }
