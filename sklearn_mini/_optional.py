"""Lazy import of optional dependencies with an error that says how to install them."""

import importlib


def require(module, extra, purpose):
    """Import ``module`` or raise ImportError naming the extra that provides it.

    The README installs from a checkout, so the hint is ``pip install -e ".[extra]"``
    there, with the plain package as the alternative.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ImportError(
            f"{purpose}: the optional dependency {package!r} is not installed. Install the "
            f"{extra!r} extra (pip install -e \".[{extra}]\" in the sklearn_mini checkout) "
            f"or the package itself (pip install {package})."
        ) from None
