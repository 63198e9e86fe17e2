"""Weekly means and Kaplan-Meier curves."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analytics import cumulative_rate, load_questionnaires, patient_outcomes
from analytics.trends import cumulative_curve, weekly_means
from conftest import TINY, canonical


def test_weekly_means_by_hand():
    # week 0: a=20, b=10 (b's two week-0 questionnaires 12 and 8 count once, as 10); week 1: a=14 only
    frame = canonical([("a", 0, 20, 0), ("b", -3, 12, 0), ("b", 0, 8, 0), ("a", 9, 14, 0)])
    w = weekly_means(frame).set_index("week")
    assert w.loc[0, "n_patients"] == 2 and w.loc[0, "mean"] == 15
    sd = np.std([20, 10], ddof=1)
    half = stats.t.ppf(0.975, 1) * sd / np.sqrt(2)
    assert w.loc[0, "ci_low"] == pytest.approx(15 - half) and w.loc[0, "ci_high"] == pytest.approx(15 + half)
    assert w.loc[1, "n_patients"] == 1 and np.isnan(w.loc[1, "ci_low"])


def test_curve_ends_at_cumulative_rate():
    p = patient_outcomes(load_questionnaires(TINY))
    for metric in ("response", "remission"):
        curve = cumulative_curve(p, metric=metric)
        assert curve.iloc[0]["time"] == 0 and curve.iloc[0]["cumulative"] == 0
        assert curve.iloc[-1]["time"] == 42
        assert curve.iloc[-1]["cumulative"] == pytest.approx(cumulative_rate(p, metric=metric).estimate)
        assert curve["cumulative"].is_monotonic_increasing


def test_weekly_means_with_categorical_ids_match_grouping_by_text():
    # the store's frame has categorical patient ids in no particular order; the means (and their summation
    # order) are those of grouping by the ids as text, the second implementation here
    import pandas as pd

    from analytics.definitions import BASELINE_WINDOW_DAYS
    from conftest import SAMPLE
    frame = load_questionnaires(SAMPLE)
    assert isinstance(frame["patient_id"].dtype, pd.CategoricalDtype)
    shuffled = frame.assign(patient_id=frame["patient_id"].cat.reorder_categories(
        frame["patient_id"].cat.categories[::-1]))
    q = frame[frame["complete"]]
    day = q["day"].astype("float64")
    use = (day >= BASELINE_WINDOW_DAYS[0]) & (day < 7 * 13)
    week = np.floor(np.maximum(day[use], 0) / 7).astype(int)
    per = q.loc[use, "phq9_total"].astype("float64").groupby([q.loc[use, "patient_id"].astype("str"), week]).mean()
    expected = per.groupby(level=1).mean()
    for f in (frame, shuffled, frame.assign(patient_id=frame["patient_id"].astype("str"))):
        got = weekly_means(f, max_week=12).set_index("week")["mean"]
        assert got.to_numpy().tolist() == expected.to_numpy().tolist()  # exactly, not approximately


def test_a_cohorts_weekly_means_from_the_sources_patient_weeks_equal_its_own():
    # the dashboard computes each patient's weekly means once for the whole source and summarises a filtered
    # cohort's rows of them: exactly (bit for bit) the weekly means of that cohort's questionnaires, for PHQ-9
    # and another instrument, for any subset of patients, with categorical or text ids
    import pandas as pd

    from analytics.trends import patient_week_means, weekly_summary
    from conftest import SAMPLE
    frame = load_questionnaires(SAMPLE)
    text_ids = frame["patient_id"].astype("str")
    everyone = pd.unique(text_ids)
    rng = np.random.default_rng(3)
    for instrument in ("phq9", "gad7"):
        weeks = patient_week_means(frame, max_week=12, instrument=instrument)
        assert list(weeks.columns) == ["patient_id", "week", "mean"]
        pd.testing.assert_frame_equal(weekly_summary(weeks), weekly_means(frame, max_week=12, instrument=instrument),
                                      check_exact=True)
        for size in (1, 7, 150, len(everyone) - 1):
            chosen = rng.choice(everyone, size, replace=False)
            subset = frame[text_ids.isin(chosen).to_numpy()]
            for f in (subset, subset.assign(patient_id=subset["patient_id"].astype("str"))):
                pd.testing.assert_frame_equal(weekly_summary(weeks[weeks["patient_id"].isin(chosen)]),
                                              weekly_means(f, max_week=12, instrument=instrument), check_exact=True)
