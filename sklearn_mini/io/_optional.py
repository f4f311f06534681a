"""Lazy import of optional dependencies with an error that names the extra to install."""

import importlib


def require(module, extra, purpose):
    """Import ``module`` or raise ImportError naming ``pip install 'sklearn-mini[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs the optional dependency {module!r}: "
            f"pip install 'sklearn-mini[{extra}]'"
        ) from None
