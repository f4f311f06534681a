"""scikit-learn's own estimator checks, over a representative set of configurations."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mini import MatryoshkaSAE, SpikeSAE

from .conftest import fast_sae_params

ESTIMATORS = [
    SpikeSAE(**fast_sae_params()),
    SpikeSAE(**fast_sae_params(sparsity="topk", loss="mse")),
    SpikeSAE(**fast_sae_params(sparsity="relu", decoder_bias_init="geometric_median",
                               optimizer="nadam", lr_schedule="constant")),
    MatryoshkaSAE(levels=((4, 1), (16, 2)), n_epochs=3, batch_size=64, device="cpu",
                  random_state=0),
    MatryoshkaSAE(levels=((4, 1), (8, 2), (16, 3)), level_weights=(1, 1.25, 1.5),
                  prefix_sampling="random", sparsity="topk", loss="mse", n_epochs=3,
                  batch_size=64, device="cpu", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
