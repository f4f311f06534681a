"""Moved to :mod:`sklearn_mini.app.cli`. This import path stays, and is that
module itself (not a copy), so code written against it keeps working unchanged."""

import sys

from .app import cli as _module

sys.modules[__name__] = _module
