"""LFADS availability: no installable LFADS package is on the registries we rely on."""

import importlib.util

INSTALL = ("LFADS needs lfads-torch, which is not on PyPI: install it from source with "
           "`git clone https://github.com/arsedler9/lfads-torch && pip install -e lfads-torch`.")


def lfads_available():
    """Whether ``lfads_torch`` can be imported in this environment."""
    return importlib.util.find_spec("lfads_torch") is not None
