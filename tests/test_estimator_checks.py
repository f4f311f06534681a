"""scikit-learn's own estimator checks, over a representative set of configurations."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mini import SpikeSAE

from .conftest import fast_sae_params

ESTIMATORS = [
    SpikeSAE(**fast_sae_params()),
    SpikeSAE(**fast_sae_params(sparsity="topk", loss="mse")),
    SpikeSAE(**fast_sae_params(sparsity="relu", decoder_bias_init="geometric_median",
                               optimizer="nadam", lr_schedule="constant")),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
