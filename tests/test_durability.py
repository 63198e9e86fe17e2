"""Durability of response, attrition and effect sizes, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from analytics import OutcomeDefinitions, load_questionnaires, patient_outcomes
from analytics.durability import attrition_flow, dropout_by_infusion, prepost_effect_sizes, response_durability
from conftest import SAMPLE, TINY, canonical


def test_durability_by_hand():
    # baseline 20 (response = total <= 10)
    # a: responds day 14, loses it day 42 (12 > 10)      -> event after 28 days
    # b: responds day 14, still on day 70               -> censored after 56 days
    # c: responds day 21, loses it day 35              -> event after 14 days
    # d: never responds                                -> not a responder
    frame = canonical([
        ("a", 0, 20, 0), ("a", 14, 9, 0), ("a", 28, 10, 0), ("a", 42, 12, 0),
        ("b", 0, 20, 0), ("b", 14, 8, 0), ("b", 70, 6, 0),
        ("c", 0, 20, 0), ("c", 21, 10, 0), ("c", 35, 15, 0),
        ("d", 0, 20, 0), ("d", 30, 18, 0),
    ])
    res = response_durability(frame, patient_outcomes(frame))
    assert (res["responders"], res["losses"]) == (3, 2)
    at = res["at"].set_index("day")
    # durations: c 14 (event), a 28 (event), b 56 (censored): S(28) = 2/3 * 1/2 = 1/3; S(56) = 1/3
    assert at.loc[28, "still_responding"] == pytest.approx(1 / 3)
    assert at.loc[56, "still_responding"] == pytest.approx(1 / 3)
    assert at.loc[28, "at_risk"] == 2


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
                       ("c", 0, 12, 0), ("c", 42, 10, 0)])
    es = prepost_effect_sizes(patient_outcomes(frame)).set_index("band")
    changes = np.array([-10, -12, -2])
    row = es.loc["all bands"]
    assert row["n"] == 3 and row["mean_change"] == pytest.approx(-8)
    assert row["d_z"] == pytest.approx(-8 / changes.std(ddof=1))
    assert row["smc_baseline_sd"] == pytest.approx(-8 / np.std([20, 16, 12], ddof=1))
    assert es.loc["severe (20-27)", "n"] == 1 and np.isnan(es.loc["severe (20-27)", "d_z"])


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
    assert res["converged"] and res["n_patients"] == 120
    coef = res["coefficients"].set_index("term")["estimate"]
    assert coef["weeks"] == pytest.approx(-1.5, abs=0.15)  # reference group "fast"
    assert coef["weeks:C(group)[T.slow]"] == pytest.approx(1.0, abs=0.2)


def test_trajectory_model_says_so_when_it_cannot_fit():
    import pandas as pd
    from analytics.durability import trajectory_model

    frame = canonical([("a", 0, 20, 0), ("a", 14, 10, 0)])
    res = trajectory_model(frame, pd.DataFrame({"patient_id": ["a"], "cohort": ["x"]}))
    assert res["converged"] is False and "too few patients" in res["message"] and res["coefficients"].empty
