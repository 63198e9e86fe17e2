"""QIDS-SR16, PCL-5, MADRS, GAD-7 outcomes and the C-SSRS screener: hand-worked at every boundary."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics.instrument_validation import validate_instrument_items, validate_screener_items
from analytics.instruments import (
    CSSRS_SCREENER, GAD7, MADRS, PCL5, PHQ9, QIDS_SR16, pcl5_meaningful_change, pcl5_probable_ptsd,
    qids_domain_scores, remission_met, response_met, score_instrument, severity_band,
)


def _qids(*rows):
    return pd.DataFrame(list(rows), columns=QIDS_SR16.items, dtype="Int8")


def test_qids_domains_take_the_highest_item():
    # items 1-4 sleep (max 3), 5 mood 1, 6-9 appetite (max 2), 10..14 single, 15-16 psychomotor (max 1)
    row = [0, 3, 1, 2, 1, 0, 2, 1, 0, 1, 0, 0, 1, 2, 1, 0]
    d = qids_domain_scores(_qids(row)).iloc[0].tolist()
    assert d == [3, 1, 2, 1, 0, 0, 1, 2, 1]
    assert score_instrument(_qids(row), QIDS_SR16).tolist() == [11]  # 3+1+2+1+0+0+1+2+1 by hand
    assert sum(row) == 15  # a plain sum would give 15: the domain rule matters


def test_qids_extremes_and_blank():
    t = score_instrument(_qids([3] * 16, [0] * 16, [1] * 15 + [None]), QIDS_SR16)
    assert t.iloc[0] == 27 and t.iloc[1] == 0 and pd.isna(t.iloc[2])
    assert QIDS_SR16.total_max == 27


def test_qids_bands_at_every_edge():
    labels = severity_band(pd.Series([0, 5, 6, 10, 11, 15, 16, 20, 21, 27]), QIDS_SR16).astype(str).tolist()
    assert labels == ["none (0-5)"] * 2 + ["mild (6-10)"] * 2 + ["moderate (11-15)"] * 2 + \
        ["severe (16-20)"] * 2 + ["very severe (21-27)"] * 2


def test_qids_remission_5_vs_6_and_response_half():
    assert remission_met(pd.Series([5, 6, None]), QIDS_SR16).tolist() == [True, False, pd.NA]
    # baseline 20: 10 is a 50% fall (response), 11 is not
    assert response_met(pd.Series([20, 20]), pd.Series([10, 11]), QIDS_SR16).tolist() == [True, False]
    # baseline 15: 7.5 is the limit; 7 responds, 8 does not
    assert response_met([15, 15], [7, 8], QIDS_SR16).tolist() == [True, False]
    # baseline 0: no fall possible, unknown
    assert response_met([0], [0], QIDS_SR16).isna().all()


def test_gad7_remission_4_vs_5_and_response():
    assert remission_met(pd.Series([4, 5]), GAD7).tolist() == [True, False]
    assert response_met([13, 13], [6, 7], GAD7).tolist() == [True, False]  # 6.5 is half of 13


def test_phq9_unchanged():
    items = pd.DataFrame([[1] * 9, [3] * 9], columns=PHQ9.items, dtype="Int8")
    assert score_instrument(items, PHQ9).tolist() == [9, 27]
    assert PHQ9.total_max == 27 and PHQ9.loinc_total == "44261-6" and PHQ9.rater == "self-report"
    assert remission_met([4, 5], PHQ9).tolist() == [True, False]


def test_pcl5_totals_change_9_vs_10_and_cut_points():
    items = pd.DataFrame([[4] * 20, [0] * 20, [1] * 10 + [2] * 10], columns=PCL5.items, dtype="Int8")
    assert score_instrument(items, PCL5).tolist() == [80, 0, 30]
    assert pcl5_meaningful_change([40, 40, 40], [31, 30, 45]).tolist() == [False, True, False]
    assert pcl5_probable_ptsd([32, 33]).tolist() == [False, True]  # default 33
    assert pcl5_probable_ptsd([30, 31], cut_point=31).tolist() == [False, True]
    with pytest.raises(ValueError, match="31 to 33"):
        pcl5_probable_ptsd([40], cut_point=30)
    with pytest.raises(ValueError, match="no remission"):
        remission_met([3], PCL5)


def test_madrs_remission_threshold_named():
    totals = pd.Series([10, 11, 12, 13])
    assert remission_met(totals, MADRS).tolist() == [True, True, True, False]  # default <= 12
    assert remission_met(totals, MADRS, at_most=10).tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="10 or 12"):
        remission_met(totals, MADRS, at_most=11)
    assert MADRS.total_max == 60 and MADRS.rater == "clinician-rated"
    items = pd.DataFrame([[6] * 10, [1, 2, 3, 4, 5, 6, 0, 1, 2, 3]], columns=MADRS.items, dtype="Int8")
    assert score_instrument(items, MADRS).tolist() == [60, 27]
    assert severity_band(pd.Series([6, 7, 19, 20, 34, 35]), MADRS).astype(str).tolist() == \
        ["normal (0-6)", "mild (7-19)", "mild (7-19)", "moderate (20-34)", "moderate (20-34)", "severe (35-60)"]


def test_item_validation_reports_every_problem_with_line_and_column():
    rows = [[1] * 10, [7] + [1] * 9, ["1.5"] + [1] * 9, ["x"] + [1] * 9, [None] + [1] * 9]
    frame = pd.DataFrame(rows, columns=MADRS.items).astype(object)
    report = validate_instrument_items(frame, MADRS)
    assert not report.ok
    got = report.errors[["line", "column"]].values.tolist()
    assert got == [[3, "madrs_1"], [4, "madrs_1"], [5, "madrs_1"]]
    assert "out of range; allowed: 0 to 6" in report.errors["problem"].iloc[0]
    assert "not a whole number" in report.errors["problem"].iloc[1]
    ok = validate_instrument_items(frame.iloc[[0, 4]].reset_index(drop=True), MADRS)
    assert ok.ok and ok.frame[MADRS.total].tolist()[0] == 10 and pd.isna(ok.frame[MADRS.total].iloc[1])
    assert ok.warnings[["line", "column"]].values.tolist() == [[3, "madrs_1"]]
    assert "incomplete MADRS" in ok.warnings["problem"].iloc[0]
    two_blank = frame.iloc[[4]].reset_index(drop=True)
    two_blank.loc[0, "madrs_7"] = None
    assert validate_instrument_items(two_blank, MADRS).warnings["column"].tolist() == ["madrs_1, madrs_7"]


def test_item_validation_missing_column_and_total_disagreement():
    frame = pd.DataFrame([[1] * 15], columns=QIDS_SR16.items[:15])
    report = validate_instrument_items(frame, QIDS_SR16)
    assert report.errors["column"].tolist() == ["qids_sr16_16"] and report.errors["line"].tolist() == [1]
    # the given total is the plain sum (16) but the domain score is 9: refused
    frame = pd.DataFrame([[1] * 16 + [16]], columns=QIDS_SR16.items + [QIDS_SR16.total])
    report = validate_instrument_items(frame, QIDS_SR16)
    assert report.errors["column"].tolist() == ["qids_sr16_total"]
    assert "highest item of each domain" in report.errors["problem"].iloc[0]
    frame.loc[0, QIDS_SR16.total] = 9
    assert validate_instrument_items(frame, QIDS_SR16).ok


def _cssrs(*rows):
    return pd.DataFrame(list(rows), columns=CSSRS_SCREENER.items).astype(object)


def test_cssrs_skip_logic_and_flags():
    frame = _cssrs(
        ["no", "no", None, None, None, "no", None],       # negative
        ["yes", "no", None, None, None, "no", None],      # wish to be dead only: recent ideation
        ["yes", "yes", "no", "yes", "no", "no", None],    # intent
        ["no", "no", None, None, None, "yes", "no"],      # behaviour over 3 months ago
        ["No", "N", None, None, None, "Yes", "Y"],        # behaviour in the past 3 months
    )
    report = validate_screener_items(frame, CSSRS_SCREENER)
    assert report.ok, report.errors
    f = report.frame
    assert f["positive_screen"].tolist() == [False, True, True, False, True]
    assert f["recent_ideation"].tolist() == [False, True, True, False, False]
    assert f["ideation_with_intent"].tolist() == [False, False, True, False, False]
    assert f["lifetime_behaviour"].tolist() == [False, False, False, True, True]
    assert f["recent_behaviour"].tolist() == [False, False, False, False, True]


def test_cssrs_item_3_answered_when_item_2_is_no_is_refused():
    frame = _cssrs(["no", "no", "yes", None, None, "no", None], ["yes", "maybe", None, None, None, "no", None],
                   ["no", "no", None, None, None, "no", "yes"])
    report = validate_screener_items(frame, CSSRS_SCREENER)
    got = report.errors[["line", "column"]].values.tolist()
    assert got == [[2, "cssrs_3"], [3, "cssrs_2"], [4, "cssrs_6_recent"]]
    assert "asked only when cssrs_2 is yes" in report.errors["problem"].iloc[0]
    assert "not yes or no" in report.errors["problem"].iloc[1]


def test_cssrs_unknown_when_gated_item_blank():
    frame = _cssrs(["no", "yes", None, None, None, "no", None])
    report = validate_screener_items(frame, CSSRS_SCREENER)
    assert report.ok and len(report.warnings) == 3  # items 3-5 blank after a yes to item 2
    f = report.frame.iloc[0]
    assert f["positive_screen"] is True or f["positive_screen"] == True  # noqa: E712 (item 2 yes)
    assert pd.isna(f["ideation_with_intent"])


def test_yes_no_spellings_numbers_and_booleans():
    from analytics.instruments import parse_yes_no
    values, bad = parse_yes_no(pd.Series(["Yes", " no ", "Y", "n", "1", "0", "TRUE", "false", "", None, "1.0", "2"]))
    assert values.tolist()[:8] == [True, False, True, False, True, False, True, False]
    assert pd.isna(values.iloc[8]) and pd.isna(values.iloc[9]) and values.iloc[10] == True  # noqa: E712
    assert bad.tolist() == [False] * 11 + [True]
    values, bad = parse_yes_no(pd.Series([1.0, 0.0, None]))
    assert values.tolist()[:2] == [True, False] and not bad.any()
    values, bad = parse_yes_no(pd.Series([True, False]))
    assert values.tolist() == [True, False] and not bad.any()


def test_scoring_is_vectorised_over_many_rows():
    # 3 patterns repeated: the totals repeat exactly (domain rule applied column-wise)
    rows = [[0, 3, 1, 2, 1, 0, 2, 1, 0, 1, 0, 0, 1, 2, 1, 0], [3] * 16, [0] * 16] * 1000
    totals = score_instrument(_qids(*rows), QIDS_SR16)
    assert totals.tolist() == [11, 27, 0] * 1000


def test_cssrs_unknown_gate_leaves_flags_unknown():
    from analytics.instruments import score_cssrs_screener
    items = pd.DataFrame({c: pd.array([None, None], dtype="boolean") for c in CSSRS_SCREENER.items})
    items["cssrs_1"] = pd.array([False, True], dtype="boolean")
    items["cssrs_6"] = pd.array([False, None], dtype="boolean")
    f = score_cssrs_screener(items)
    # item 2 unknown: ideation unknown unless another item is yes; item 6 no: behaviour is no
    assert pd.isna(f["recent_ideation"].iloc[0]) and f["recent_ideation"].iloc[1] == True  # noqa: E712
    assert f["recent_behaviour"].iloc[0] == False and pd.isna(f["recent_behaviour"].iloc[1])  # noqa: E712
    assert pd.isna(f["positive_screen"].iloc[0]) and f["positive_screen"].iloc[1] == True  # noqa: E712


@pytest.mark.parametrize("instrument,top", [(QIDS_SR16, 3), (PCL5, 4), (MADRS, 6), (GAD7, 3)])
def test_item_range_edges_per_instrument(instrument, top):
    n = instrument.n_items
    frame = pd.DataFrame([[top] * n, [0] * n, [top + 1] + [0] * (n - 1), [-1] + [0] * (n - 1)],
                         columns=instrument.items).astype(object)
    report = validate_instrument_items(frame, instrument)
    assert report.errors[["line", "column"]].values.tolist() == [[4, instrument.items[0]], [5, instrument.items[0]]]
    assert f"allowed: 0 to {top}" in report.errors["problem"].iloc[0]
    ok = validate_instrument_items(frame.iloc[:2], instrument)
    assert ok.frame[instrument.total].tolist() == [instrument.total_max, 0]


def test_cssrs_missing_always_asked_column():
    frame = _cssrs(["no", "no", None, None, None, "no", None]).drop(columns=["cssrs_6"])
    report = validate_screener_items(frame, CSSRS_SCREENER)
    assert report.errors[["line", "column"]].values.tolist() == [[1, "cssrs_6"]]
    # gated columns may be absent altogether when nobody reached them
    frame = _cssrs(["no", "no", None, None, None, "no", None]).drop(columns=["cssrs_3", "cssrs_4", "cssrs_5"])
    assert validate_screener_items(frame, CSSRS_SCREENER).ok
