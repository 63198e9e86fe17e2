"""Item-9 review list, the safety worklist (worked by hand) and SI change rates."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics import OutcomeDefinitions, load_questionnaires, patient_outcomes
from analytics.definitions import LOST_TO_FOLLOW_UP_DAYS
from analytics.errors import DefinitionError
from analytics.reviews import REVIEW_COLUMNS
from analytics.safety import (
    SI_MEASURES,
    WORKLIST_COLUMNS,
    cssrs_si_outcomes,
    has_cssrs_screens,
    si_by_measure,
    apply_reviews,
    safety_counts,
    safety_worklist,
    si_change_rates,
    si_review,
)
from conftest import TINY, canonical, items_for, rows_frame


def test_review_list_by_hand():
    frame = canonical([
        ("a", 0, 20, 0), ("a", 14, 15, 2),           # new since baseline, item 9 = 2
        ("b", 0, 20, 1), ("b", 14, 15, 1),           # still 1
        ("c", 0, 20, 2), ("c", 14, 12, 0), ("c", 21, 12, 1),  # lower than baseline, higher than previous
        ("d", 0, 20, 1), ("d", 14, 10, 0),           # resolved: not listed
        ("e", 0, 20, 1), ("e", 7, 20, 3),            # higher than baseline, item 9 = 3
    ])
    table = si_review(frame, patient_outcomes(frame))
    assert list(table["patient_id"]) == ["e", "a", "c", "b"]  # by item 9, then recency (day)
    reasons = dict(zip(table["patient_id"], table["reason"]))
    assert reasons == {"e": "higher than baseline", "a": "new since baseline",
                       "c": "higher than the previous questionnaire", "b": "item 9 >= 1 on the latest questionnaire"}


def test_si_change_rates_on_tiny_fixture():
    # baseline and window endpoint: 001 (1->0), 002 (0->0), 003 (2->1), 005 (1->0), 007 (0->0): none worse
    r = si_change_rates(patient_outcomes(load_questionnaires(TINY)))
    assert (r["si_worsened"].events, r["si_worsened"].n) == (0, 5)
    assert (r["si_new"].events, r["si_new"].n) == (0, 2)


# ----------------------------------------------------------------------------- the worklist, by hand

START = pd.Timestamp("2025-01-06")
AS_OF = pd.Timestamp("2025-03-31")


def dated(rows):
    """Canonical frame from ``(patient, study day, total, item 9)``; item 9 None = the item left blank
    (a contact with no item-9 answer); every patient starts on START, dates are START + day."""
    records = []
    for pid, day, total, item9 in rows:
        items = items_for(total, item9 or 0)
        if item9 is None:
            items[8] = None
        records.append({"patient_id": pid, "assessment_date": (START + pd.Timedelta(days=day)).strftime("%Y-%m-%d"),
                        "treatment_start_date": START.strftime("%Y-%m-%d"),
                        **{f"phq9_{i + 1}": v for i, v in enumerate(items)}})
    return load_questionnaires(pd.DataFrame(records).astype({f"phq9_{i}": "Int8" for i in range(1, 10)}))


def days_before_as_of(n):
    return (AS_OF - pd.Timedelta(days=n) - START).days


WORKED = [
    # spike: none at baseline, 2 at day 7, gone by day 14 -> listed (rise, new SI), resolved
    ("spike", 0, 20, 0), ("spike", 7, 18, 2), ("spike", 14, 10, 0), ("spike", days_before_as_of(3), 8, 0),
    # SI at baseline and still at the last questionnaire, last contact exactly 28 days before as_of: not lost
    ("gap28", 0, 20, 1), ("gap28", days_before_as_of(28), 16, 1),
    # the same, 29 days: lost to follow-up
    ("gap29", 0, 20, 1), ("gap29", days_before_as_of(29), 16, 1),
    # SI at the last scored item 9, but a later contact (item 9 left blank): not "no contact since"
    ("contact", 0, 20, 1), ("contact", 14, 16, 1), ("contact", 21, 15, None),
    # new SI still present at the last questionnaire
    ("newsi", 0, 20, 0), ("newsi", 7, 18, 1), ("newsi", days_before_as_of(10), 17, 1),
    # falling item 9 and no SI at the end: not listed
    ("better", 0, 20, 2), ("better", 7, 16, 1), ("better", 14, 10, 0),
    # a rise between two screenings before treatment is not a rise during treatment
    ("screen", -10, 20, 0), ("screen", 0, 20, 2), ("screen", 7, 15, 0),
    # below baseline but higher than the previous questionnaire: a rise (not new SI, baseline 2)
    ("rebound", 0, 20, 2), ("rebound", 7, 15, 0), ("rebound", 14, 15, 1), ("rebound", 21, 12, 0),
]


@pytest.fixture(scope="module")
def worked():
    return safety_worklist(dated(WORKED), as_of=AS_OF, lost_after_days=28).set_index("patient_id")


def test_worklist_lists_exactly_the_worked_patients(worked):
    assert list(worked.reset_index().columns) == WORKLIST_COLUMNS
    # order: SI at the last contact first (longest gap first), then new SI, then rises by peak item 9
    assert list(worked.index) == ["gap29", "gap28", "newsi", "spike", "rebound"]


def test_resolved_spike_is_still_listed(worked):
    s = worked.loc["spike"]
    assert (s["rise"], s["new_si"], s["rise_resolved"], s["si_at_last"]) == (True, True, True, False)
    assert (s["rises"], s["first_rise_day"], s["peak_item9"], s["item9_latest"]) == (1, 7, 2, 0)
    assert s["first_rise_date"] == pd.Timestamp("2025-01-13")
    assert s["reason"] == "new SI during treatment (none at baseline); item 9 rose during treatment"
    assert s["days_since_contact"] == 3 and not s["lost_to_follow_up"]  # no SI at the last contact: never lost


def test_si_at_last_contact_and_the_gap_boundary(worked):
    assert worked.loc["gap28", "si_at_last"] and worked.loc["gap29", "si_at_last"]
    assert (worked.loc["gap28", "days_since_contact"], worked.loc["gap29", "days_since_contact"]) == (28, 29)
    assert not worked.loc["gap28", "lost_to_follow_up"]  # 28 days is not more than 28
    assert worked.loc["gap29", "lost_to_follow_up"]
    assert worked.loc["gap28", "reason"] == "SI at the last questionnaire, no contact since"
    assert not worked.loc["gap28", "rise"]  # 1 -> 1 is no rise
    assert "contact" not in worked.index  # a later contact (item 9 blank) came after the SI


def test_new_si_and_a_rebound_below_baseline(worked):
    n = worked.loc["newsi"]
    assert (n["new_si"], n["rise"], n["si_at_last"], n["item9_baseline"], n["days_since_contact"]) == \
        (True, True, True, 0, 10)
    r = worked.loc["rebound"]
    assert (r["rise"], r["new_si"], r["first_rise_day"], r["item9_baseline"], r["rise_resolved"]) == \
        (True, False, 14, 2, True)
    assert "better" not in worked.index and "screen" not in worked.index


def test_gap_is_configurable_and_as_of_defaults_to_the_latest_date():
    frame = dated(WORKED)
    strict = safety_worklist(frame, as_of=AS_OF, lost_after_days=27).set_index("patient_id")
    assert strict.loc["gap28", "lost_to_follow_up"]
    # default as_of: the latest date in the data, spike's last contact (3 days before AS_OF)
    default = safety_worklist(frame).set_index("patient_id")
    assert default.loc["gap29", "days_since_contact"] == 26 and default.loc["spike", "days_since_contact"] == 0
    assert not default.loc["gap29", "lost_to_follow_up"]
    assert LOST_TO_FOLLOW_UP_DAYS == 28  # the page's default; tests above pass it explicitly
    with pytest.raises(DefinitionError, match="whole number of days"):
        safety_worklist(frame, lost_after_days=-1)


def test_worklist_without_dates_leaves_the_gap_unknown():
    frame = canonical([("a", 0, 20, 0), ("a", 14, 15, 2)])
    w = safety_worklist(frame).set_index("patient_id")
    assert w.loc["a", "si_at_last"] and w.loc["a", "new_si"]
    assert pd.isna(w.loc["a", "days_since_contact"]) and pd.isna(w.loc["a", "lost_to_follow_up"])


def reviews_frame(rows):
    """Reviews as list_reviews returns them: (id, patient, through date, episode, day, note)."""
    return pd.DataFrame([{"id": i, "data_source": "store", "patient_id": p, "reviewed_at": f"2025-04-0{i}T09:00:00",
                          "user": "dr@clinic", "note": note, "through_date": d, "through_episode": e,
                          "through_day": day} for i, p, d, e, day, note in rows], columns=REVIEW_COLUMNS)


def test_review_covers_until_a_newer_questionnaire_arrives():
    frame = dated(WORKED)
    last_newsi = (START + pd.Timedelta(days=days_before_as_of(10))).strftime("%Y-%m-%d")
    reviews = reviews_frame([
        (1, "gap28", "2025-03-03", 1, days_before_as_of(28), "called, appointment booked"),
        (2, "newsi", last_newsi, 1, days_before_as_of(10), "seen"),
        (3, "spike", "2025-01-20", 1, 14, "reviewed after the spike"),  # made before the day-81 questionnaire
    ])
    w = apply_reviews(safety_worklist(frame, as_of=AS_OF), reviews).set_index("patient_id")
    assert w.loc["gap28", "reviewed"] and w.loc["newsi", "reviewed"]
    assert not w.loc["spike", "reviewed"] and w.loc["spike", "review_outdated"]
    assert w.loc["gap28", "review_note"] == "called, appointment booked" and w.loc["gap28", "reviewed_by"] == "dr@clinic"
    assert not w.loc["gap29", "reviewed"] and not w.loc["gap29", "review_outdated"] and pd.isna(w.loc["gap29", "reviewed_at"])
    # a newer questionnaire for newsi arrives: its review no longer covers it
    newer = dated(WORKED + [("newsi", days_before_as_of(2), 17, 0)])
    w2 = apply_reviews(safety_worklist(newer, as_of=AS_OF), reviews).set_index("patient_id")
    assert not w2.loc["newsi", "reviewed"] and w2.loc["newsi", "review_outdated"]
    c = safety_counts(w2.reset_index())
    assert (c.listed, c.si_at_last, c.lost_to_follow_up, c.new_si, c.rise, c.rise_resolved, c.reviewed,
            c.to_review) == (5, 2, 1, 2, 3, 3, 1, 4)


def test_review_without_dates_compares_episode_and_day():
    frame = canonical([("a", 0, 20, 0), ("a", 14, 15, 2)])
    w = safety_worklist(frame)
    same = apply_reviews(w, reviews_frame([(1, "a", None, 1, 14, "ok")]))
    assert bool(same["reviewed"].iloc[0])
    older = apply_reviews(w, reviews_frame([(1, "a", None, 1, 7, "ok")]))
    assert not older["reviewed"].iloc[0] and older["review_outdated"].iloc[0]
    # the latest review of a patient counts
    both = apply_reviews(w, reviews_frame([(1, "a", None, 1, 14, "first"), (2, "a", None, 1, 7, "second")]))
    assert both["review_note"].iloc[0] == "second" and not both["reviewed"].iloc[0]
    none = apply_reviews(w, reviews_frame([]))
    assert not none["reviewed"].iloc[0] and safety_counts(none).to_review == 1


# ----------------------------------------------------------------------------- SI on the C-SSRS screener, by hand

def screen(wish, active, *, method=False, intent=False, plan=False):
    """C-SSRS screener answers as a clinic's file gives them; items 3-5 only after a yes to item 2."""
    yn = {True: "yes", False: "no"}
    return {"cssrs_1": yn[wish], "cssrs_2": yn[active], "cssrs_3": yn[method] if active else None,
            "cssrs_4": yn[intent] if active else None, "cssrs_5": yn[plan] if active else None,
            "cssrs_6": "no", "cssrs_6_recent": None}


NO_SCREEN = dict.fromkeys(["cssrs_1", "cssrs_2", "cssrs_3", "cssrs_4", "cssrs_5", "cssrs_6", "cssrs_6_recent"])

# (patient, study day, PHQ-9 total or None, item 9, C-SSRS screener or None); week 6: target day 42, window 35-49
SI_ROWS = [
    ("a", 0, 20, 1, screen(True, False)), ("a", 42, 10, 0, screen(False, False)),    # both: SI, resolved
    ("b", 0, 20, 2, screen(False, True)), ("b", 42, 12, 1, screen(True, False)),      # both: SI, not resolved
    ("c", -7, 20, 1, screen(True, False)), ("c", 0, 20, 1, screen(False, False)),     # item 9 flags, C-SSRS not:
    ("c", 42, 9, 0, screen(False, False)),                                            # the latest screen counts
    ("d", 0, 15, 0, None), ("d", 42, 8, 0, None),                                     # no screener
    ("e", 0, 18, 1, screen(True, True, method=True)), ("e", 20, 10, 0, screen(False, False)),  # no endpoint
    ("f", 0, 15, 0, None), ("f", 42, 9, 0, screen(False, False)),                     # no screener at baseline
    ("g", -31, None, 0, screen(True, False)), ("g", 0, 15, 0, None), ("g", 49, 8, 0, screen(False, False)),
    ("h", -30, 18, 2, screen(True, True, intent=True)), ("h", 35, 12, 1, screen(True, False)),  # window edges:
    ("h", 50, 8, 0, screen(False, False)),                                            # day 50 is outside
]


def si_frame(rows=SI_ROWS):
    raw = rows_frame([(p, day, total, item9) for p, day, total, item9, _ in rows])
    screens = pd.DataFrame([s or NO_SCREEN for *_, s in rows], dtype="object")
    return load_questionnaires(pd.concat([raw, screens], axis=1))


def wilson(events, n, z=1.959963984540054):
    """Wilson score interval written out (a second implementation of statistics.wilson_proportion)."""
    p = events / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return centre - half, centre + half


def by_measure(frame, **definitions):
    d = OutcomeDefinitions(**definitions)
    table = si_by_measure(frame, patient_outcomes(frame, definitions=d), definitions=d)
    return {(r.measure, r.statistic): (r.events, r.n) for r in table.itertuples()}, table


def test_cssrs_si_by_hand_completers():
    counts, table = by_measure(si_frame())
    assert counts == {
        # item 9 known at baseline: all eight; SI (>= 1) in a, b, c, e, h
        ("PHQ-9 item 9", "SI at baseline"): (5, 8),
        # with an endpoint in days 35-49: a (0), b (1), c (0), h (day 35: 1); e has none
        ("PHQ-9 item 9", "SI resolution"): (2, 4),
        # a screener on days -30 to 0: a, b, c (day 0, not day -7), e, h (day -30); g's day -31 is outside
        ("C-SSRS screener", "SI at baseline"): (4, 5),
        # a (no at day 42), b (item 1 yes at 42), h (yes at day 35; day 50 is outside the window)
        ("C-SSRS screener", "SI resolution"): (1, 3),
        # the same five episodes on both measures: item 9 flags c, the C-SSRS does not
        ("PHQ-9 item 9", "SI at baseline, episodes with both measures"): (5, 5),
        ("C-SSRS screener", "SI at baseline, episodes with both measures"): (4, 5),
    }
    row = table.set_index(["measure", "statistic"]).loc[("C-SSRS screener", "SI resolution")]
    assert row["estimate"] == pytest.approx(1 / 3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(1, 3), abs=1e-12)
    assert row["warning"].startswith("small denominator")
    assert set(table["definition"][table["measure"] == "C-SSRS screener"]) == {SI_MEASURES["cssrs"][1]}


def test_cssrs_si_resolution_follows_the_analysis_mode():
    # e: SI at baseline on both, no endpoint in the window; day 20 had item 9 = 0 and a clear screen
    itt, _ = by_measure(si_frame(), analysis="itt")
    assert itt[("PHQ-9 item 9", "SI resolution")] == (2, 5)      # e counts as not resolved
    assert itt[("C-SSRS screener", "SI resolution")] == (1, 4)
    locf, _ = by_measure(si_frame(), analysis="locf")
    assert locf[("PHQ-9 item 9", "SI resolution")] == (3, 5)     # e's day 20 carried forward: resolved
    assert locf[("C-SSRS screener", "SI resolution")] == (2, 4)


def test_no_screeners_no_cssrs_rows_and_n_zero_is_no_data():
    without = [(p, day, total, item9, None) for p, day, total, item9, _ in SI_ROWS]
    counts, _ = by_measure(si_frame(without))
    assert set(counts) == {("PHQ-9 item 9", "SI at baseline"), ("PHQ-9 item 9", "SI resolution")}
    assert not has_cssrs_screens(si_frame(without))
    # screeners only after baseline: every C-SSRS figure has n = 0 and no estimate (never 0%)
    late = [(p, day, total, item9, s if day > 0 else None) for p, day, total, item9, s in SI_ROWS]
    _, table = by_measure(si_frame(late))
    cssrs = table[table["measure"] == "C-SSRS screener"]
    assert len(cssrs) == 3 and (cssrs["n"] == 0).all() and cssrs["estimate"].isna().all()


def test_cssrs_units_are_the_outcome_tables_episodes():
    # a second episode's screeners never count for the first episode's figures
    rows = [("a", 0, 20, 1, screen(True, False)), ("a", 42, 10, 0, screen(False, False))]
    frame = si_frame(rows)
    both = pd.concat([frame.assign(episode=1), frame.assign(episode=2)], ignore_index=True)  # same days, episode 2
    units = cssrs_si_outcomes(both)
    assert sorted(units["episode"]) == [1, 2]
    first_only = patient_outcomes(both)  # the first episode of each patient (default)
    table = si_by_measure(both, first_only)
    assert table.set_index(["measure", "statistic"]).loc[("C-SSRS screener", "SI at baseline"), "n"] == 1
    with pytest.raises(DefinitionError, match="lacks columns"):
        cssrs_si_outcomes(pd.DataFrame({"patient_id": ["a"]}))


def test_worklist_is_the_same_whatever_the_ids_dtype_or_row_order():
    # the worklist ranks patients by integers that sort as their ids' text (categorical ids by their codes, text
    # ids factorised): the same list, in the same order, as from text ids in any row order
    from conftest import SAMPLE
    sample = load_questionnaires(SAMPLE)
    text = sample.assign(patient_id=sample["patient_id"].astype("str"))
    expected = safety_worklist(text)
    assert len(expected) > 50
    assert list(expected["patient_id"]) != sorted(expected["patient_id"])  # sorted by need, ids break ties only
    for variant in (sample.assign(patient_id=sample["patient_id"].astype("category")),
                    text.sample(frac=1, random_state=3), sample.sample(frac=1, random_state=4)):
        pd.testing.assert_frame_equal(safety_worklist(variant), expected)
