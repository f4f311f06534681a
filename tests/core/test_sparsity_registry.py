"""The sparsity registry: one class per variant, from which the estimators, the
module's encoder and the docs table are derived (issue 20)."""

import inspect
import pathlib
import runpy

import numpy as np
import pytest

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini._core import sparsity
from sklearn_mini._core.sparsity import NAMES, REGISTRY, SPARSITIES, Sparsifier, register

ROOT = pathlib.Path(__file__).resolve().parents[2]
ESTIMATORS = (SpikeSAE, MatryoshkaSAE)


@pytest.fixture
def restore_registry():
    """Undo registrations a test makes, so other tests see the built-in variants only."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)
    NAMES.clear()
    NAMES.update(before)


def test_every_built_in_variant_is_registered_in_the_guide_order():
    assert tuple(REGISTRY) == SPARSITIES and NAMES == set(SPARSITIES)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_each_variant_parameter_is_an_estimator_parameter_with_its_default(estimator):
    signature = inspect.signature(estimator.__init__).parameters
    for cls in REGISTRY.values():
        for param, (default, constraints) in cls.params.items():
            assert signature[param].default == default, (cls.name, param)
            assert estimator._parameter_constraints[param] is constraints, (cls.name, param)
    assert estimator._parameter_constraints["sparsity"][0].options is NAMES


@pytest.mark.parametrize("name", SPARSITIES)
def test_the_estimator_builds_its_variant_from_its_own_parameters(name):
    sae = SpikeSAE(sparsity=name, l1_coef=0.25, l1_penalty="tanh", l0_coef=0.5, bandwidth=0.2)
    built = sae._make_sparsifier()
    assert type(built) is REGISTRY[name]
    for param in type(built).params:
        stored = built.kind if param == "l1_penalty" else getattr(built, param)
        assert stored == sae.get_params()[param], param


def test_flags_say_what_the_estimators_used_to_infer_from_names():
    uses_topk = {name for name, cls in REGISTRY.items() if cls.uses_topk}
    sparse = {name for name, cls in REGISTRY.items() if cls.supports_sparse}
    threshold = {name for name, cls in REGISTRY.items() if cls.uses_threshold}
    assert uses_topk == sparse == {"topk", "batchtopk"} and threshold == {"batchtopk"}
    assert REGISTRY["jumprelu"].fitted_attributes == ("theta_",)


def test_a_jumprelu_fit_gives_theta_and_a_refit_with_another_sparsity_removes_it():
    X = np.random.default_rng(0).poisson(1.0, size=(60, 5)).astype(float)
    sae = SpikeSAE(d_sae=4, topk=2, sparsity="jumprelu", n_epochs=1, random_state=0).fit(X)
    assert sae.theta_.shape == (4,) and (sae.theta_ >= 0).all()
    sae.set_params(sparsity="topk").fit(X)
    assert not hasattr(sae, "theta_")


def test_register_refuses_a_taken_name_and_a_clashing_default(restore_registry):
    class Again(Sparsifier):
        name = "topk"

    with pytest.raises(ValueError, match="'topk' is already registered"):
        register(Again)

    class Clash(Sparsifier):
        name = "clash"
        params = {"l1_coef": (0.5, [])}

    with pytest.raises(ValueError, match="defaults to 0.5"):
        register(Clash)
    with pytest.raises(ValueError, match="Unknown sparsity 'nope'"):
        sparsity.make_sparsifier("nope")


def test_the_docs_table_has_a_row_per_variant_with_its_flags_and_parameters():
    table = sparsity.registry_table()
    for name, cls in REGISTRY.items():
        assert f"``'{name}'``" in table
        for param in cls.params:
            assert f"``{param}=" in table
    assert "``theta_``" in table
    guide = (ROOT / "docs" / "user_guide" / "spikesae.rst").read_text()
    assert ".. include:: ../generated/sparsities.inc" in guide


def test_the_how_to_variant_works_with_every_estimator_and_path(restore_registry):
    # The architecture page's worked example: one class, registered, and nothing else.
    runpy.run_path(str(ROOT / "docs" / "examples" / "new_sparsity.py"), run_name="example")
    assert "topk_relative" in REGISTRY and "topk_relative" in NAMES
    assert "topk_relative" in sparsity.registry_table()
    X = np.random.default_rng(1).poisson(0.8, size=(200, 8)).astype(float)
    sae = SpikeSAE(d_sae=6, topk=3, sparsity="topk_relative", n_epochs=2,
                   decoder_path="sparse", random_state=0).fit(X)
    codes = sae.transform(X)
    assert (np.count_nonzero(codes, axis=1) <= 3).all()
    largest = codes.max(axis=1, keepdims=True)
    assert ((codes == 0) | (codes >= 0.2 * largest)).all()  # the small ones were dropped
    with pytest.raises(ValueError, match="topk=7 is larger"):  # it uses topk: checked
        SpikeSAE(d_sae=6, topk=7, sparsity="topk_relative").fit(X)
