"""Durability of response, attrition and effect sizes, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from analytics import OutcomeDefinitions, load_questionnaires, patient_outcomes
from analytics.durability import attrition_flow, dropout_by_infusion, prepost_effect_sizes, response_durability
from conftest import SAMPLE, TINY, canonical


def durability_frame():
    # baseline 20 (response = total <= 10); endpoint window days 35-49 (week 6), time zero = the endpoint day
    return canonical([
        # a: responds at day 42; above at 56, below at 70, above at 84 and 98
        ("a", 0, 20, 0), ("a", 42, 9, 0), ("a", 56, 12, 0), ("a", 70, 8, 0), ("a", 84, 13, 0), ("a", 98, 14, 0),
        # b: responds at day 40 and keeps it: censored at day 112 (72 days)
        ("b", 0, 20, 0), ("b", 40, 8, 0), ("b", 70, 6, 0), ("b", 112, 7, 0),
        # c: responds at day 42; above at 63 and 77
        ("c", 0, 20, 0), ("c", 42, 10, 0), ("c", 63, 15, 0), ("c", 77, 16, 0),
        # d: no response at the endpoint
        ("d", 0, 20, 0), ("d", 42, 18, 0),
        # e: ineligible (baseline 8 < 10) although 2 <= 4: not a responder
        ("e", 0, 8, 0), ("e", 42, 2, 0), ("e", 70, 7, 0),
        # f: an early response at day 14, but not responding at the endpoint: not a responder
        ("f", 0, 20, 0), ("f", 14, 9, 0), ("f", 42, 14, 0), ("f", 56, 15, 0),
    ])


def test_durability_by_hand_two_consecutive_questionnaires():
    frame = durability_frame()
    res = response_durability(frame, patient_outcomes(frame), at_days=(28, 56, 100))
    assert res["loss_rule"] == "two_consecutive" and "two consecutive" in res["definition"]
    # responders a, b, c only (e ineligible, f not responding at the endpoint)
    assert (res["responders"], res["losses"]) == (3, 2)
    # durations: c 21 (loss at 63 confirmed at 77), a 42 (loss at 84 confirmed at 98; 56 alone is not a loss),
    # b 72 censored.  S(28) = 2/3, S(56) = 2/3 * 1/2 = 1/3
    at = res["at"].set_index("day")
    assert at.loc[28, "still_responding"] == pytest.approx(2 / 3) and at.loc[28, "at_risk"] == 2
    assert at.loc[56, "still_responding"] == pytest.approx(1 / 3) and at.loc[56, "at_risk"] == 1
    # nobody followed 100 days: no estimate, said in words
    assert at.loc[100, "at_risk"] == 0 and np.isnan(at.loc[100, "still_responding"]) and "nobody" in at.loc[100, "note"]
    assert res["curve"]["time"].iloc[0] == 0 and res["curve"]["still_responding"].iloc[0] == 1


def test_durability_by_hand_single_questionnaire():
    frame = durability_frame()
    res = response_durability(frame, patient_outcomes(frame), loss_rule="single")
    # durations: a 14 (day 56), c 21 (day 63), b 72 censored: S(14) = 2/3, S(21) = 1/3
    assert (res["responders"], res["losses"]) == (3, 2)
    at = res["at"].set_index("day")
    assert at.loc[28, "still_responding"] == pytest.approx(1 / 3) and at.loc[28, "at_risk"] == 1
    with pytest.raises(Exception, match="loss_rule"):
        response_durability(frame, patient_outcomes(frame), loss_rule="one")


def test_attrition_flow_on_tiny_fixture():
    flow = attrition_flow(patient_outcomes(load_questionnaires(TINY)))
    # 10 in the data, 8 with a baseline, 7 eligible, 4 with a window questionnaire (001 002 003 007)
    assert flow["patients"].tolist() == [10, 8, 7, 4]
    locf = attrition_flow(patient_outcomes(load_questionnaires(TINY),
                                           definitions=OutcomeDefinitions(analysis="locf")))
    assert locf["patients"].iloc[-1] == 4  # carried-forward endpoints are not window questionnaires


def test_dropout_by_infusion_on_sample():
    sample = load_questionnaires(SAMPLE)
    drop = dropout_by_infusion(sample, up_to=6).set_index("infusion")
    reached = sample.groupby("patient_id")["infusion_number"].max().dropna()
    assert drop.loc[1, "share"] == pytest.approx((reached >= 1).mean())
    assert drop.loc[6, "patients_reaching"] == int((reached >= 6).sum())
    assert 0.35 < drop.loc[6, "share"] < 0.6  # about half do not complete six infusions
    assert (np.diff(drop["share"].to_numpy()) <= 0).all()


def test_effect_sizes_by_hand():
    frame = canonical([("a", 0, 20, 0), ("a", 42, 10, 0), ("b", 0, 16, 0), ("b", 42, 4, 0),
                       ("c", 0, 12, 0), ("c", 42, 10, 0), ("d", 0, 6, 0), ("d", 42, 2, 0)])
    es = prepost_effect_sizes(patient_outcomes(frame)).set_index("band")
    changes = np.array([-10, -12, -2])
    row = es.loc["all eligible"]  # d (baseline 6 < 10) is not eligible: not in the overall row
    assert row["n"] == 3 and row["mean_change"] == pytest.approx(-8)
    assert row["d_z"] == pytest.approx(-8 / changes.std(ddof=1))
    assert row["smc_baseline_sd"] == pytest.approx(-8 / np.std([20, 16, 12], ddof=1))
    assert es.loc["severe (20-27)", "n"] == 1 and np.isnan(es.loc["severe (20-27)", "d_z"])
    assert es.loc["mild (5-9)", "n"] == 1 and not es.loc["mild (5-9)", "eligible"]


def test_trajectory_model_recovers_known_slopes():
    import pandas as pd
    from analytics.durability import trajectory_model

    rng = np.random.default_rng(4)
    rows, groups = [], []
    for i in range(120):
        arm = "fast" if i % 2 else "slow"
        slope = (-1.5 if arm == "fast" else -0.5) + rng.normal(0, 0.2)
        start = 18 + rng.normal(0, 2)
        for week in range(0, 9):
            total = int(np.clip(round(start + slope * week + rng.normal(0, 1.5)), 0, 27))
            rows.append((f"p{i}", week * 7, total, 0))
        groups.append((f"p{i}", arm))
    frame = canonical(rows)
    res = trajectory_model(frame, pd.DataFrame(groups, columns=["patient_id", "cohort"]), max_week=8)
    assert res["converged"] and res["status"] == "converged" and res["n_patients"] == 120
    coef = res["coefficients"].set_index("term")["estimate"]
    assert coef["weeks"] == pytest.approx(-1.5, abs=0.15)  # reference group "fast"
    assert coef["weeks:C(group)[T.slow]"] == pytest.approx(1.0, abs=0.2)


def test_trajectory_model_says_so_when_it_cannot_fit():
    import pandas as pd
    from analytics.durability import trajectory_model

    frame = canonical([("a", 0, 20, 0), ("a", 14, 10, 0)])
    res = trajectory_model(frame, pd.DataFrame({"patient_id": ["a"], "cohort": ["x"]}))
    assert res["converged"] is False and "too few patients" in res["message"] and res["coefficients"].empty


def test_trajectory_model_keeps_baselines_dated_before_day_0():
    import pandas as pd
    from analytics.durability import trajectory_model

    # 12 patients, baseline at day -14 (inside the -30..0 window), then weekly to week 6: PHQ-9 = 20 - week
    # (with small patient-level noise).  Dropping the baselines (days 0-84 only) loses 12 of the 84
    # questionnaires; including them at their own day keeps the slope at -1 per week.
    rng = np.random.default_rng(5)
    rows, groups = [], []
    for i in range(12):
        shift = rng.integers(-2, 3)
        rows.append((f"p{i}", -14, int(22 + shift), 0))
        rows += [(f"p{i}", 7 * w, int(np.clip(20 - w + shift + rng.integers(-1, 2), 0, 27)), 0) for w in range(1, 7)]
        groups.append((f"p{i}", "all"))
    frame = canonical(rows)
    res = trajectory_model(frame, pd.DataFrame(groups, columns=["patient_id", "cohort"]))
    assert res["n_observations"] == 12 * 7
    assert res["coefficients"].set_index("term").loc["weeks", "estimate"] == pytest.approx(-1.0, abs=0.1)
    vc = res["variance_components"].set_index("component")["value"]
    assert set(vc.index) == {"random intercept variance", "random slope variance (per week)",
                             "intercept-slope correlation", "residual variance"}
    assert "lme4" in res["se_method"]
