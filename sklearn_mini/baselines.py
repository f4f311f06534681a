"""Moved to :mod:`sklearn_mini.evaluation.baselines`. This import path stays, and is that
module itself (not a copy), so code written against it keeps working unchanged."""

import sys

from .evaluation import baselines as _module

sys.modules[__name__] = _module
