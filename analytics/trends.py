"""Courses over time: mean PHQ-9 by week and cumulative (Kaplan-Meier) curves."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .definitions import BASELINE_WINDOW_DAYS, TRENDS_MAX_WEEK, OutcomeDefinitions
from .instruments import OutcomeScale, outcome_scale
from .outcomes import event_times
from .statistics import km_curve

__all__ = ["weekly_means", "patient_week_means", "weekly_summary", "cumulative_curve"]


def weekly_means(questionnaires: pd.DataFrame, *, max_week: int = TRENDS_MAX_WEEK,
                 instrument: "str | OutcomeScale" = "phq9") -> pd.DataFrame:
    """Mean PHQ-9 total (or ``instrument``'s total) by week since treatment start, with a 95% t interval.

    Week 0 holds the baseline window (days -30 to 6); week k holds days
    7k to 7k+6.  A patient with several questionnaires in a week counts once,
    with their mean, so frequent responders do not dominate.  Wraps
    ``scipy.stats.t.ppf``.  The same as :func:`weekly_summary` of :func:`patient_week_means`.

    Returns
    -------
    pandas.DataFrame
        ``week, n_patients, mean, sd, ci_low, ci_high`` (interval missing when n < 2).
    """
    return weekly_summary(patient_week_means(questionnaires, max_week=max_week, instrument=instrument))


def patient_week_means(questionnaires: pd.DataFrame, *, max_week: int = TRENDS_MAX_WEEK,
                       instrument: "str | OutcomeScale" = "phq9") -> pd.DataFrame:
    """Each patient's mean total in each week (the first step of :func:`weekly_means`).

    Rows of any subset of patients, in this order, give that subset's :func:`weekly_summary` exactly as
    :func:`weekly_means` of its questionnaires does (a dashboard filter selects rows instead of regrouping).

    Returns
    -------
    pandas.DataFrame
        ``patient_id, week, mean``, ordered by patient (as text) and week.
    """
    scale = outcome_scale(instrument)
    if scale.is_phq9:
        q = questionnaires[questionnaires["complete"]]
    elif scale.total in questionnaires:
        q = questionnaires[questionnaires[scale.total].notna().to_numpy()]
    else:  # the file has no scores of this instrument: no weeks
        q = questionnaires.iloc[:0].assign(**{scale.total: pd.array([], dtype="Int16")})
    day = q["day"].astype("float64")
    use = (day >= BASELINE_WINDOW_DAYS[0]) & (day < 7 * (max_week + 1))
    week = np.floor(np.maximum(day[use], 0) / 7).astype(int)
    ids = q.loc[use, "patient_id"]
    keys = _patient_keys(ids)
    per_patient = q.loc[use, scale.total].astype("float64").groupby([keys, week]).mean()
    # the id of each group's patient (the keys are ranks of the ids' text, or the text itself)
    first = pd.Series(ids.astype("str").to_numpy() if not isinstance(ids.dtype, pd.CategoricalDtype)
                      else ids.to_numpy(), index=ids.index).groupby(keys.to_numpy()).first()
    return pd.DataFrame({"patient_id": pd.array(first.reindex(per_patient.index.get_level_values(0)).to_numpy(),
                                                dtype="str"),
                         "week": per_patient.index.get_level_values(1).to_numpy(),
                         "mean": per_patient.to_numpy()})


def weekly_summary(patient_weeks: pd.DataFrame) -> pd.DataFrame:
    """``week, n_patients, mean, sd, ci_low, ci_high`` of :func:`patient_week_means` rows (95% t interval)."""
    g = pd.Series(patient_weeks["mean"].to_numpy(), index=pd.Index(patient_weeks["week"].to_numpy(),
                                                                   name="week")).groupby(level=0)
    out = pd.DataFrame({"n_patients": g.size(), "mean": g.mean(), "sd": g.std(ddof=1)})
    out.index.name = "week"
    half = stats.t.ppf(0.975, out["n_patients"] - 1) * out["sd"] / np.sqrt(out["n_patients"])
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    return out.reset_index()


def _patient_keys(ids: pd.Series) -> pd.Series:
    """Integer keys that sort as the ids' text does, so groups (and sums) come in the same order as grouping by
    ``ids.astype("str")``, without converting millions of categorical values to text (the slow part)."""
    if not isinstance(ids.dtype, pd.CategoricalDtype) or ids.isna().any():
        return ids.astype("str")
    names = ids.cat.categories.astype("str")
    if names.has_duplicates:  # two categories with one text (1 and "1") are one patient as text
        return ids.astype("str")
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(names.to_numpy(dtype=object), kind="stable")] = np.arange(len(names))
    return pd.Series(rank[ids.cat.codes.to_numpy()], index=ids.index)


def cumulative_curve(patients: pd.DataFrame, *, metric: str,
                     definitions: OutcomeDefinitions | None = None) -> pd.DataFrame:
    """Kaplan-Meier cumulative probability of first response or remission, day 0 to T.

    Same inputs as :func:`analytics.cumulative_rate`; see :func:`analytics.km_curve`.  ``metric`` is one of
    the outcomes ``patients`` holds (``patient_outcomes(..., instrument=...)`` chooses the instrument).

    Returns
    -------
    pandas.DataFrame
        ``time, at_risk, events, censored, cumulative, ci_low, ci_high``,
        starting at day 0 with 0 and ending at the target day T.
    """
    d = definitions or OutcomeDefinitions()
    eligible = patients[patients["eligible"]]
    times, observed = event_times(eligible, metric=metric)
    table = km_curve(times, observed)
    cols = ["time", "at_risk", "events", "censored", "cumulative", "ci_low", "ci_high"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    table = table[table["time"] <= d.target_day][cols]
    start = pd.DataFrame([{"time": 0.0, "at_risk": len(eligible), "events": 0, "censored": 0, "cumulative": 0.0,
                           "ci_low": 0.0, "ci_high": 0.0}])
    last = table.iloc[[-1]].assign(time=float(d.target_day), events=0, censored=0) if len(table) else start
    return pd.concat([start, table[table["time"] > 0], last], ignore_index=True)
