"""Sphinx configuration for the sklearn_mini documentation."""

import pathlib

import sklearn_mini
from sklearn_mini._core.sparsity import registry_table

# The SpikeSAE guide's table of sparsities, derived from the registry (one row per
# variant module), so a new variant appears in the docs without editing them.
_generated = pathlib.Path(__file__).parent / "generated"
_generated.mkdir(exist_ok=True)
(_generated / "sparsities.inc").write_text(registry_table())

project = "sklearn_mini"
author = "sklearn_mini developers"
copyright = "2026, sklearn_mini developers"
version = release = sklearn_mini.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = {"GL08"}  # every public object has a docstring
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # no network at build time; references stay plain text

exclude_patterns = ["_build", "generated/*.examples"]
templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme" if __import__("importlib.util").util.find_spec(
    "pydata_sphinx_theme") else "alabaster"
html_static_path = ["_static"]
html_title = "sklearn_mini"
nitpicky = False
