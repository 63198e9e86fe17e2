"""Outcomes per instrument (``instrument=``): every response/remission boundary worked out by hand.

Each patient has a baseline on day 0 and one endpoint on day 42 (week 6, completer), so
each rule is read off one pair of totals:

QIDS-SR16 (eligible: baseline >= 11; response <= 50% of baseline; remission <= 5)
  q1 12 -> 6   response (6 <= 6, a 50% fall exactly), no remission (6 > 5)
  q2 12 -> 5   response, remission (5 <= 5)
  q3 14 -> 7   response (7 <= 7), no remission
  q4 14 -> 8   no response (8 > 7)
  q5 10 -> 0   not eligible (10 < 11)            => response 3/4, remission 1/4
MADRS (eligible: baseline >= 20; remission <= 12 default, <= 10 named "madrs-10")
  m1 30 -> 12  response (12 <= 15); remission <= 12 yes, <= 10 no
  m2 30 -> 13  response; remission <= 12 no
  m3 24 -> 10  response (10 <= 12); both remissions
  m4 24 -> 11  response; <= 12 yes, <= 10 no
  m5 20 -> 10  eligible at 20; response (a 50% fall exactly); both remissions
  m6 19 -> 5   not eligible
  m7 30 -> 16  no response (16 > 15), no remission => response 5/6, rem<=12 4/6, rem<=10 2/6
GAD-7 (eligible: baseline >= 10; remission < 5)
  g1 10 -> 5   response (5 <= 5), no remission (5 is not < 5)
  g2 10 -> 4   response, remission
  g3  9 -> 0   not eligible
  g4 12 -> 7   no response (7 > 6), no remission  => response 2/3, remission 1/3
PCL-5 (eligible: baseline >= 33; meaningful change: a fall >= 10; below probable PTSD: < 33)
  c1 40 -> 30  change 10 yes; 30 < 33 yes
  c2 40 -> 31  change 9 no; 31 < 33 yes
  c3 33 -> 33  eligible at 33; no change; 33 is not below 33
  c4 32 -> 10  not eligible                        => meaningful 1/3, below cut-point 2/3
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import DefinitionError, patient_outcomes, rate_table
from analytics.comparisons import compare_rates, compare_time_to_event
from analytics.instruments import INSTRUMENT_CHOICES, outcome_scale
from analytics.summary import clinic_summary
from analytics.trends import cumulative_curve, weekly_means

PAIRS = {
    "qids_sr16_total": {"q1": (12, 6), "q2": (12, 5), "q3": (14, 7), "q4": (14, 8), "q5": (10, 0)},
    "madrs_total": {"m1": (30, 12), "m2": (30, 13), "m3": (24, 10), "m4": (24, 11), "m5": (20, 10),
                    "m6": (19, 5), "m7": (30, 16)},
    "gad7_total": {"g1": (10, 5), "g2": (10, 4), "g3": (9, 0), "g4": (12, 7)},
    "pcl5_total": {"c1": (40, 30), "c2": (40, 31), "c3": (33, 33), "c4": (32, 10)},
}
TOTALS = list(PAIRS)


def frame() -> pd.DataFrame:
    """Canonical-shaped frame: every patient has PHQ-9 20 -> 8 and one other instrument's pair."""
    rows = []
    for col, pairs in PAIRS.items():
        for pid, (base, end) in pairs.items():
            for day, value, phq in ((0, base, 20), (42, end, 8)):
                rows.append({"patient_id": pid, "episode": 1, "day": day, "phq9_total": phq, "phq9_9": 0,
                             "complete": True, "site": "A" if pid[1] in "135" else "B",
                             **{c: (value if c == col else None) for c in TOTALS}})
    out = pd.DataFrame(rows).sort_values(["patient_id", "day"]).reset_index(drop=True)
    return out.astype({"day": "Int16", "phq9_total": "Int16", "phq9_9": "Int8",
                       **{c: "Int16" for c in TOTALS}})


def _flags(instrument: str, metric: str) -> dict:
    p = patient_outcomes(frame(), instrument=instrument)
    p = p[p[metric].notna()]
    return dict(zip(p["patient_id"], p[metric].astype(bool)))


def test_qids_response_at_a_50_percent_fall_and_remission_5_vs_6():
    assert _flags("qids-sr16", "response") == {"q1": True, "q2": True, "q3": True, "q4": False}
    assert _flags("qids-sr16", "remission") == {"q1": False, "q2": True, "q3": False, "q4": False}
    t = rate_table(patient_outcomes(frame(), instrument="qids-sr16"), instrument="qids-sr16").set_index("metric")
    assert (t.loc["response", "events"], t.loc["response", "n"]) == (3, 4)
    assert (t.loc["remission", "events"], t.loc["remission", "n"]) == (1, 4)
    assert t.loc["remission", "label"] == "Remission (QIDS-SR16 <= 5)"
    assert "si_resolution" not in t.index  # item 9 is PHQ-9's


def test_madrs_remission_12_vs_13_and_10_vs_11_named():
    assert _flags("madrs", "response") == {"m1": True, "m2": True, "m3": True, "m4": True, "m5": True, "m7": False}
    assert _flags("madrs", "remission") == {"m1": True, "m2": False, "m3": True, "m4": True, "m5": True, "m7": False}
    assert _flags("madrs-10", "remission") == {"m1": False, "m2": False, "m3": True, "m4": False, "m5": True,
                                               "m7": False}
    labels = rate_table(patient_outcomes(frame(), instrument="madrs-10"), instrument="madrs-10")["label"].tolist()
    assert labels == ["Response (MADRS >= 50% fall)", "Remission (MADRS <= 10)"]


def test_gad7_remission_4_vs_5():
    assert _flags("gad7", "response") == {"g1": True, "g2": True, "g4": False}
    assert _flags("gad7", "remission") == {"g1": False, "g2": True, "g4": False}


def test_pcl5_meaningful_change_and_probable_ptsd_instead_of_response():
    p = patient_outcomes(frame(), instrument="pcl5")
    assert "response" not in p and "remission" not in p
    assert _flags("pcl5", "meaningful_change") == {"c1": True, "c2": False, "c3": False}
    assert _flags("pcl5", "loss_of_probable_ptsd") == {"c1": True, "c2": True, "c3": False}
    t = rate_table(p, instrument="pcl5").set_index("metric")
    assert t.loc["meaningful_change", "label"] == "Meaningful change (PCL-5 fall >= 10 points)"
    assert (t.loc["loss_of_probable_ptsd", "events"], t.loc["loss_of_probable_ptsd", "n"]) == (2, 3)


def test_phq9_default_unchanged_by_other_instrument_columns():
    with_extra = patient_outcomes(frame())
    without = patient_outcomes(frame().drop(columns=TOTALS))
    pd.testing.assert_frame_equal(with_extra, without)  # the extra totals are scores, not attributes
    assert with_extra["response"].sum() == len(with_extra)  # 20 -> 8 everywhere: all respond


def test_no_scores_of_the_instrument_is_no_data_not_zero():
    s = clinic_summary(frame().drop(columns=["madrs_total"]), instrument="madrs")
    assert s.response.n == 0 and s.response.estimate is None
    text = s.to_text()
    outcome_rows = [line for line in text.splitlines() if line.lstrip().startswith(("Response (", "Remission ("))]
    assert len(outcome_rows) == 4 and all(line.rstrip().endswith("no data") for line in outcome_rows)
    assert "Remission (MADRS <= 12)" in text and "SI resolution is a PHQ-9 item 9 figure" in text
    assert s.as_dict()["instrument"]["choice"] == "madrs"


def test_unknown_instrument_names_the_allowed_values():
    with pytest.raises(DefinitionError) as e:
        patient_outcomes(frame(), instrument="hamd")
    for choice in INSTRUMENT_CHOICES:
        assert choice in str(e.value)
    assert outcome_scale("QIDS_SR16").choice == "qids-sr16"  # registry spelling accepted


def test_comparisons_and_curves_take_the_instrument():
    p = patient_outcomes(frame(), instrument="madrs")
    r = compare_rates(p, by="site", metric="remission", instrument="madrs")
    counts = dict(zip(r["rates"]["site"], zip(r["rates"]["events"], r["rates"]["n"])))
    assert counts == {"A": (3, 3), "B": (1, 3)}  # A: m1 m3 m5 all <= 12; B: m2 13, m4 11, m7 16
    with pytest.raises(DefinitionError, match="si_resolution"):
        compare_rates(p, by="site", metric="si_resolution", instrument="madrs")
    pcl = patient_outcomes(frame(), instrument="pcl5")
    tte = compare_time_to_event(pcl, by="site", metric="meaningful_change", instrument="pcl5")
    assert set(tte["curves"]["group"]) == {"A", "B"}
    curve = cumulative_curve(pcl, metric="loss_of_probable_ptsd")
    assert curve["cumulative"].iloc[-1] == pytest.approx(2 / 3)  # c1, c2 at day 42 of 3 eligible
    means = weekly_means(frame(), instrument="gad7").set_index("week")
    assert means.loc[0, "mean"] == pytest.approx((10 + 10 + 9 + 12) / 4)
    assert means.loc[6, "mean"] == pytest.approx((5 + 4 + 0 + 7) / 4)
    assert weekly_means(frame().drop(columns=["pcl5_total"]), instrument="pcl5").empty
