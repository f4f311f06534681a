"""SpikeBinner: spike times -> binned, quality-controlled, normalised counts.

Its home is :mod:`sklearn_mini.spikes.binning`; this import path stays for code written
against it.
"""

from .spikes.binning import SpikeBinner, bin_spikes, count_bins
from .spikes.quality import qc_summary

__all__ = ["SpikeBinner", "bin_spikes", "count_bins", "qc_summary"]
