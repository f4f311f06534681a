"""The shared parameters of the SAE estimators, written once (issue 20)."""

import inspect

import pytest
from sklearn.base import clone

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini.sae._params import SHARED_KEYWORD, SHARED_POSITIONAL, sparsity_parameters

OWN = {SpikeSAE: ["d_sae", "topk"],
       MatryoshkaSAE: ["levels", "level_weights", "prefix_sampling", "reorder_latents"]}


def _parameters(estimator):
    return inspect.signature(estimator).parameters


def test_the_estimators_signatures_agree_beyond_their_own_parameters():
    shared = {}
    for estimator, own in OWN.items():
        params = _parameters(estimator)
        assert list(params)[: len(own)] == own
        shared[estimator] = [(p.name, p.kind, p.default) for p in params.values()][len(own):]
    assert shared[SpikeSAE] == shared[MatryoshkaSAE]
    names = [name for name, _, _ in shared[SpikeSAE]]
    assert set(names) == set(SHARED_POSITIONAL) | set(SHARED_KEYWORD) | set(sparsity_parameters())
    assert len(names) == len(set(names))


def test_the_old_positional_order_still_works_and_the_rest_are_keyword_only():
    sae = SpikeSAE(40, 4, "batchtopk", "mse", 2.0)
    assert (sae.d_sae, sae.topk, sae.sparsity, sae.loss, sae.tau) == (
        40, 4, "batchtopk", "mse", 2.0)
    nested = MatryoshkaSAE(((4, 1), (8, 2)), None, "random")
    assert nested.prefix_sampling == "random" and nested.reorder_latents == "frequency"
    with pytest.raises(TypeError, match=r"SpikeSAE\(\) .*positional"):
        SpikeSAE(40, 4, "topk", "msle", 1.0, 1e-3)
    with pytest.raises(TypeError, match=r"MatryoshkaSAE\(\) got an unexpected keyword"):
        MatryoshkaSAE(d_sae=4)


def test_init_stores_every_parameter_unchanged_and_clone_keeps_them():
    value = [3, 5]  # a list, not a tuple: stored as given, validated in fit
    sae = SpikeSAE(decoder_layers=value, l0_coef=0.5)
    assert sae.decoder_layers is value and sae.l0_coef == 0.5
    assert set(vars(sae)) == set(_parameters(SpikeSAE))
    assert clone(sae).get_params() == sae.get_params()
