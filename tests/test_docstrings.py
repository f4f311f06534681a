"""Every docstring example of the package runs and prints what it says (doctest)."""

import doctest
import importlib
import pkgutil

import pytest

import sklearn_mini

# Each module once: an earlier import path kept for a moved module (sklearn_mini.metrics
# is sklearn_mini.evaluation.metrics) is the same module under another name.
MODULES = sorted(info.name for info in pkgutil.walk_packages(sklearn_mini.__path__,
                                                            "sklearn_mini.")
                 if info.name != "sklearn_mini.__main__"
                 and importlib.import_module(info.name).__name__ == info.name)


def _examples(name):
    finder = doctest.DocTestFinder()
    return [test for test in finder.find(importlib.import_module(name)) if test.examples]


WITH_EXAMPLES = [name for name in MODULES if _examples(name)]


def test_the_package_has_docstring_examples():
    # features, stability, behaviour, the estimators, the binner, CEBRA's adapter...
    assert len(WITH_EXAMPLES) >= 8, WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
