"""Spikes, bottom layer of the package: the container, conversions, the exact bin grid,
unit quality control and the binner.

``container`` (:class:`SpikeTrains`, intervals), ``convert`` (:func:`as_spike_trains`
from arrays, DataFrames, dicts, pynapple and neo, and back), ``grid`` (bin edges in
exact rational arithmetic and counts on them), ``quality`` (refractory violations, the
QC summary) and ``binning`` (:class:`~sklearn_mini.SpikeBinner`). Nothing here imports
the estimators, the readers of ``io`` or the app.
"""

from .container import TIME_UNITS, SpikeTrains, subtract_intervals, to_seconds
from .convert import (
    as_spike_trains,
    from_neo,
    from_pynapple,
    spike_table_columns,
    to_neo,
    to_pynapple,
)

__all__ = ["TIME_UNITS", "SpikeTrains", "as_spike_trains", "from_neo", "from_pynapple",
           "spike_table_columns", "subtract_intervals", "to_neo", "to_pynapple", "to_seconds"]
