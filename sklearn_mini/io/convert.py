"""Conversions between :class:`~sklearn_mini.SpikeTrains` and pynapple / neo objects.

Their home is :mod:`sklearn_mini.spikes.convert` (conversions are not file reading);
this import path stays for code written against it.
"""

from ..spikes.convert import from_neo, from_pynapple, to_neo, to_pynapple

__all__ = ["from_neo", "from_pynapple", "to_neo", "to_pynapple"]
