"""Moved to :mod:`sklearn_mini.app.report`. This import path stays, and is that
module itself (not a copy), so code written against it keeps working unchanged."""

import sys

from .app import report as _module

sys.modules[__name__] = _module
