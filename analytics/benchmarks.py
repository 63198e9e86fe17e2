"""Published outcome figures and like-for-like comparison with the clinic's rates.

The figures live in ``analytics/data/published_benchmarks.toml`` (data, not
code), transcribed from the project's verified reference.  A comparison is
``comparable`` only when instrument, definition, method (cumulative or
snapshot), analysis mode and timepoint all match; every mismatch is named in
``reason``.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .definitions import ANALYSIS_MODES, OutcomeDefinitions
from .statistics import CumulativeIncidence, binomial_test_p, z_test_p

__all__ = ["BENCHMARK_FILE", "COMPARED_METRICS", "load_benchmarks", "compare_with_benchmarks"]

BENCHMARK_FILE = Path(__file__).with_name("data") / "published_benchmarks.toml"
#: Metrics the engine computes and so compares automatically.
COMPARED_METRICS = ("response", "remission", "si_resolution")
_SI_CAVEAT = ("PHQ-9 item 9 over-flags suicidal ideation compared with the C-SSRS (41% vs 13% positive in one "
              "comparison), so an item-9 resolution rate is not a C-SSRS or SSI rate")
_REQUIRED = ("id", "study", "citation", "instrument", "metric", "definition", "definition_matches",
             "timepoint", "method", "analysis", "rate", "source")


@lru_cache(maxsize=1)
def _library() -> tuple[dict, ...]:
    with BENCHMARK_FILE.open("rb") as fh:
        entries = tomllib.load(fh)["benchmark"]
    for e in entries:
        missing = [k for k in _REQUIRED if k not in e]
        if missing:  # a broken data file is a packaging bug, not user input
            raise RuntimeError(f"{BENCHMARK_FILE.name}: entry {e.get('id')!r} lacks {missing}")
    return tuple(entries)


def load_benchmarks() -> pd.DataFrame:
    """The published figures as a tidy frame, one row per figure.

    Returns
    -------
    pandas.DataFrame
        Columns include ``id``, ``study``, ``citation``, ``design``,
        ``sample_size``, ``instrument``, ``metric``, ``definition``,
        ``definition_matches``, ``timepoint``, ``timepoint_week``, ``method``,
        ``analysis``, ``rate``, ``ci_low``, ``ci_high``, ``source``,
        ``source_url``, ``note``.  Missing optional fields are ``NaN``/``None``.
    """
    frame = pd.DataFrame(list(_library()))
    for col in ("ci_low", "ci_high", "timepoint_week", "sample_size"):
        if col not in frame:
            frame[col] = np.nan
    for col in ("definition_note", "source_url", "note", "design"):
        if col not in frame:
            frame[col] = None
    return frame


def compare_with_benchmarks(rates: dict, *, definitions: OutcomeDefinitions | None = None,
                            benchmarks: pd.DataFrame | None = None,
                            metrics: tuple = COMPARED_METRICS) -> pd.DataFrame:
    """Compare the clinic's rates with each published figure.

    Parameters
    ----------
    rates : dict
        ``{"response": Proportion, "remission": Proportion, "si_resolution":
        Proportion, "cumulative_response": CumulativeIncidence,
        "cumulative_remission": CumulativeIncidence}``; missing keys are skipped.
    definitions : OutcomeDefinitions, optional
    benchmarks : pandas.DataFrame, optional
        Defaults to :func:`load_benchmarks`.
    metrics : tuple of str
        Which published metrics to compare (e.g. ``("si_worsened",)`` for the safety view).

    Returns
    -------
    pandas.DataFrame
        One row per published figure of a compared metric: ``id``, ``study``,
        ``metric``, ``rate`` (published), ``clinic_estimate`` ("snapshot" or
        "cumulative"), ``clinic_rate``, ``clinic_n``, ``difference`` (clinic
        minus published), ``p_value``, ``test``, ``comparable``, ``reason``,
        ``citation``, ``source``, ``source_url``.  Cumulative figures are
        compared with the clinic's Kaplan-Meier estimate (Wald z-test on the
        Greenwood standard error, since censored counts are not binomial);
        snapshot figures with the clinic's rate (exact two-sided binomial test).
    """
    d = definitions or OutcomeDefinitions()
    lib = load_benchmarks() if benchmarks is None else benchmarks
    rows = []
    for b in lib[lib["metric"].isin(metrics)].to_dict("records"):
        metric = b["metric"]
        cumulative = rates.get(f"cumulative_{metric}")
        use_cumulative = b["method"] == "cumulative" and cumulative is not None
        clinic = cumulative if use_cumulative else rates.get(metric)
        if clinic is None:
            continue
        hard, soft = _mismatches(b, d, use_cumulative)
        difference = p_value = None
        test = "none (no clinic data)"
        if clinic.estimate is not None and clinic.n > 0:
            difference = clinic.estimate - b["rate"]
            if isinstance(clinic, CumulativeIncidence):
                p_value = z_test_p(clinic.estimate, clinic.std_error, b["rate"])
                test = "Wald z on Kaplan-Meier estimate (Greenwood SE), two-sided"
            else:
                p_value = binomial_test_p(clinic.events, clinic.n, b["rate"])
                test = "exact binomial, two-sided"
        reason = "; ".join(hard + soft) if hard or soft else \
            "like for like: PHQ-9, same definition, method, analysis and week"
        rows.append({
            "id": b["id"], "study": b["study"], "metric": metric, "rate": b["rate"],
            "ci_low": _opt(b.get("ci_low")), "ci_high": _opt(b.get("ci_high")),
            "clinic_estimate": "cumulative" if use_cumulative else "snapshot",
            "clinic_rate": clinic.estimate, "clinic_n": clinic.n,
            "difference": difference, "p_value": p_value, "test": test,
            "comparable": not hard, "reason": reason,
            "citation": b["citation"], "source": b["source"], "source_url": _opt(b.get("source_url")),
        })
    return pd.DataFrame(rows, columns=[
        "id", "study", "metric", "rate", "ci_low", "ci_high", "clinic_estimate", "clinic_rate", "clinic_n",
        "difference", "p_value", "test", "comparable", "reason", "citation", "source", "source_url"])


def _opt(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _mismatches(b: dict, d: OutcomeDefinitions, use_cumulative: bool) -> tuple[list[str], list[str]]:
    """Reasons a figure is not like for like (hard) and caveats that remain (soft)."""
    hard, soft = [], []
    if b["instrument"] != "PHQ-9":
        hard.append(f"instrument: {b['instrument']}, not PHQ-9")
    if not b["definition_matches"]:
        hard.append(f"definition: {_opt(b.get('definition_note')) or b['definition']}")
    if b["method"] == "cumulative" and not use_cumulative:
        hard.append("method: published figure is cumulative (reached by), the clinic's is a snapshot")
    elif b["method"] == "pooled":
        hard.append("method: pooled estimate from a meta-analysis")
    elif b["method"] not in ("cumulative", "snapshot"):
        hard.append(f"method: {b['method']} in the publication")
    if not use_cumulative:
        mode = b["analysis"]
        if mode in ANALYSIS_MODES and mode != d.analysis:
            hard.append(f"analysis: published {mode}, clinic {d.analysis}")
        elif mode not in ANALYSIS_MODES:
            hard.append(f"analysis: {mode} in the publication, clinic {d.analysis}")
    week = _opt(b.get("timepoint_week"))
    if week is None:
        hard.append(f"timepoint: {b['timepoint']}, not week {d.week} from the first infusion")
    elif float(week) != d.week:
        hard.append(f"timepoint: week {week:g} ({b['timepoint']}), clinic week {d.week}")
    if b["metric"] == "si_resolution":
        soft.append(_SI_CAVEAT)
    if _opt(b.get("note")) and "approximate" in b["note"]:
        soft.append("published figure is approximate")
    return hard, soft
