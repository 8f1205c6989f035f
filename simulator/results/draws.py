"""Uncertain inputs in a run's Dataset: which keys were drawn, and the first paths' draws and outcomes.

May import: :mod:`simulator.model` and :mod:`simulator.engines`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from simulator.engines.input_draws import recorded_draws
from simulator.model import quantities as Q
from simulator.model.uncertain import UncertainSet

__all__ = ["annotate_dataset"]


def annotate_dataset(ds, unc: UncertainSet, root: np.random.SeedSequence, *, block_size: int,
                     path_outcome: np.ndarray | None = None, exclude: Sequence[str] = ()):
    """Record in a run's Dataset which inputs were uncertain, with per-path draws and outcomes.

    Adds ``attrs["uncertain_inputs"]`` (JSON: inputs with their tables, medians and
    supports, and correlations), and, when ``path_outcome`` (path, company, horizon)
    is given, the variables ``input_draw`` (sample, input) and ``path_outcome``
    (sample, company, horizon; int8 codes 0 champion, 1 contested, 2 collapse) of
    the first paths, which ``simulator attribute`` and the given-data sensitivity
    methods read.
    """
    ds.attrs["uncertain_inputs"] = unc.to_json()
    if exclude:
        ds.attrs["uncertain_held_fixed"] = json.dumps(list(exclude))
    if path_outcome is None or path_outcome.shape[0] == 0:
        return ds
    n = path_outcome.shape[0]
    draws = recorded_draws(unc, root, n, block_size=block_size)
    ds["input_draw"] = xr.Variable(("sample", "input"), draws, attrs={
        "long_name": "per-path draw of each uncertain input (first paths of the run)"})
    ds["path_outcome"] = xr.Variable(("sample", "company", "horizon"), path_outcome.astype(np.int8), attrs={
        "long_name": "outcome of each company at each horizon on the same paths",
        "flag_values": np.arange(3, dtype=np.int8), "flag_meanings": " ".join(Q.OUTCOME_NAMES)})
    ds = ds.assign_coords(sample=np.arange(n, dtype=np.int64),
                          input=np.asarray(unc.names, dtype=object))
    ds["sample"].attrs = {"long_name": "path index"}
    ds["input"].attrs = {"long_name": "uncertain input (dotted path)"}
    return ds
