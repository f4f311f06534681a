"""scikit-learn's own estimator checks, over a representative set of configurations."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini.model_selection import DSAESearch
from sklearn_mini.stability import StableFeatures

from ..conftest import fast_sae_params

ESTIMATORS = [
    SpikeSAE(**fast_sae_params()),
    # The defaults before wave 2: unconstrained atoms, BatchTopK, ReLU output, mean bias.
    SpikeSAE(**fast_sae_params(sparsity="batchtopk", positive_dict=False, output_relu="auto",
                               decoder_bias_init="mean")),
    SpikeSAE(**fast_sae_params(sparsity="topk", loss="mse")),
    SpikeSAE(**fast_sae_params(sparsity="relu", decoder_bias_init="geometric_median",
                               optimizer="nadam", lr_schedule="constant")),
    SpikeSAE(**fast_sae_params(sparsity="jumprelu", loss="poisson", l1_warmup=0.5)),
    SpikeSAE(**fast_sae_params(sparsity="gated", loss="msle_asym", tau=2.0)),
    SpikeSAE(**fast_sae_params(sparsity="relu", l1_penalty="decoder_norm", loss="mse",
                               decoder_layers=(8,))),
    SpikeSAE(**fast_sae_params(sparsity="relu", l1_penalty="tanh", seq_len=2)),
    MatryoshkaSAE(levels=((4, 1), (16, 2)), n_epochs=3, batch_size=64, device="cpu",
                  random_state=0),
    MatryoshkaSAE(levels=((4, 1), (8, 2), (16, 3)), level_weights=(1, 1.25, 1.5),
                  prefix_sampling="random", sparsity="topk", loss="mse", n_epochs=3,
                  batch_size=64, device="cpu", random_state=0),
    MatryoshkaSAE(levels=((4, 1), (16, 2)), sparsity="jumprelu", loss="poisson",
                  n_epochs=3, batch_size=64, device="cpu", random_state=0),
    DSAESearch(SpikeSAE(**fast_sae_params(topk=1, n_epochs=2)), d_max=8, step=0.2),
    StableFeatures(SpikeSAE(**fast_sae_params(n_epochs=2)), n_seeds=2, random_state=0),
]


ORDER = ("seq_len > 1: rows are consecutive time bins and each row is coded from the "
         "window of bins ending at it, so reordering or subsetting rows changes the codes "
         "by design.")


def expected_failed_checks(estimator):
    """Only sequence input (seq_len > 1) departs from scikit-learn's row-wise contract."""
    if getattr(estimator, "seq_len", 1) == 1:
        return {}
    return {"check_methods_sample_order_invariance": ORDER,
            "check_methods_subset_invariance": ORDER}


@pytest.mark.slow
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
