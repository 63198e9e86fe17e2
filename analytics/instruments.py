"""Questionnaire instruments: item columns, score ranges, scoring and bands.

PHQ-9 bands follow Kroenke, Spitzer and Williams (2001); GAD-7 bands follow
Spitzer et al. (2006).  Scoring is vectorised over whole frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Instrument",
    "PHQ9",
    "GAD7",
    "INSTRUMENTS",
    "score_items",
    "severity_band",
]


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: item columns, item range and severity bands.

    ``bands`` is a tuple of ``(lowest total, label)`` in increasing order.
    """

    key: str
    name: str
    n_items: int
    item_max: int
    bands: tuple[tuple[int, str], ...]
    loinc_total: str

    @property
    def items(self) -> list[str]:
        return [f"{self.key}_{i}" for i in range(1, self.n_items + 1)]

    @property
    def total(self) -> str:
        return f"{self.key}_total"

    @property
    def total_max(self) -> int:
        return self.n_items * self.item_max

    @property
    def band_labels(self) -> list[str]:
        edges = [lo for lo, _ in self.bands] + [self.total_max + 1]
        return [f"{lab} ({lo}-{edges[i + 1] - 1})" for i, (lo, lab) in enumerate(self.bands)]


PHQ9 = Instrument(
    key="phq9",
    name="PHQ-9",
    n_items=9,
    item_max=3,
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
    loinc_total="44261-6",
)
GAD7 = Instrument(
    key="gad7",
    name="GAD-7",
    n_items=7,
    item_max=3,
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
    loinc_total="70274-6",
)
INSTRUMENTS = {PHQ9.key: PHQ9, GAD7.key: GAD7}


def score_items(items: pd.DataFrame) -> pd.Series:
    """Sum item scores row-wise; a row with any blank item has no total.

    Parameters
    ----------
    items : pandas.DataFrame
        Item columns of one instrument, nullable integers.

    Returns
    -------
    pandas.Series
        Nullable ``Int16`` totals, ``<NA>`` where any item is missing.
    """
    total = items.sum(axis=1, skipna=True, min_count=1).astype("Int16")
    return total.mask(items.isna().any(axis=1))


def severity_band(totals: pd.Series, instrument: Instrument = PHQ9) -> pd.Series:
    """Label each total with its severity band, e.g. ``"moderate (10-14)"``.

    Returns an ordered categorical; missing totals stay missing.
    """
    edges = [lo for lo, _ in instrument.bands] + [instrument.total_max + 1]
    values = pd.to_numeric(totals, errors="coerce").astype("float64")
    codes = np.searchsorted(edges, values.to_numpy(), side="right") - 1
    codes = np.where(np.isnan(values.to_numpy()), -1, codes)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=instrument.band_labels, ordered=True),
        index=totals.index,
        name=f"{instrument.key}_band",
    )
