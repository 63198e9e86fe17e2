"""Episodes, totals-only scoring and infusion counts (spec v2), pinned by hand-worked fixtures."""
from __future__ import annotations

import io

import numpy as np

import pandas as pd
import pytest

from analytics import OutcomeDefinitions, clinic_summary, patient_outcomes, validate_questionnaires
from analytics.episodes import assign_episodes, split_episodes_after_gap
from analytics.errors import DefinitionError
from analytics.outcomes import infusion_cumulative_rate

# Patient A: starts 2025-01-01 (episode 1) and 2025-06-01 (episode 2); B has no start date.
DATED = """patient_id,assessment_date,treatment_start_date,phq9_total,phq9_9
A,2024-11-01,,22,2
A,2024-12-20,,21,2
A,2025-01-01,2025-01-01,20,2
A,2025-02-12,,8,0
A,2025-05-20,2025-01-01,12,1
A,2025-05-10,,18,1
A,2025-07-13,2025-06-01,4,0
B,2025-03-01,,15,0
B,2025-04-12,,6,0
"""


def load(text):
    report = validate_questionnaires(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False))
    assert report.ok, report.errors
    return report


def by_line(frame):
    return frame.set_index("line")


def test_row_labels_and_the_30_day_rule():
    f = by_line(load(DATED).frame)
    # line 2: 2024-11-01 is more than 30 days before every start: episode 1, day -61
    assert (f.loc[2, "episode"], f.loc[2, "day"]) == (1, -61)
    # line 3: blank start, 12 days before the first start: episode 1, day -12
    assert (f.loc[3, "episode"], f.loc[3, "day"]) == (1, -12)
    assert (f.loc[4, "episode"], f.loc[4, "day"]) == (1, 0)
    # line 5: blank start, 2025-02-12: the latest start S with S <= date + 30 is 2025-01-01
    assert (f.loc[5, "episode"], f.loc[5, "day"]) == (1, 42)
    # line 6: its own start date labels it episode 1 although it is within 30 days of the second start
    assert (f.loc[6, "episode"], f.loc[6, "day"]) == (1, 139)
    # line 7: a screening 22 days before the re-induction: episode 2, day -22 (its baseline candidate)
    assert (f.loc[7, "episode"], f.loc[7, "day"]) == (2, -22)
    assert (f.loc[8, "episode"], f.loc[8, "day"]) == (2, 42)
    # B: no start date: one episode, day 0 = first scored questionnaire
    assert (f.loc[9, "episode"], f.loc[9, "day"], f.loc[10, "day"]) == (1, 0, 42)


def test_first_all_latest_units():
    frame = load(DATED).frame
    first = patient_outcomes(frame, definitions=OutcomeDefinitions(episodes="first"))
    assert first[["patient_id", "episode"]].values.tolist() == [["A", 1], ["B", 1]]
    a1 = first.iloc[0]
    assert (a1["baseline_day"], a1["baseline_total"], a1["endpoint_day"], a1["endpoint_total"]) == (0, 20, 42, 8)
    assert bool(a1["response"]) and not bool(a1["remission"]) and bool(a1["si_resolved"])
    latest = patient_outcomes(frame, definitions=OutcomeDefinitions(episodes="latest"))
    a2 = latest.iloc[0]
    assert (a2["episode"], a2["baseline_day"], a2["baseline_total"], a2["endpoint_total"]) == (2, -22, 18, 4)
    assert a2["days_since_previous_episode"] == 151  # 2025-01-01 -> 2025-06-01
    assert a2["n_episodes"] == 2 and bool(a2["remission"])
    every = patient_outcomes(frame, definitions=OutcomeDefinitions(episodes="all"))
    assert every[["patient_id", "episode"]].values.tolist() == [["A", 1], ["A", 2], ["B", 1]]
    assert pd.isna(every.iloc[0]["days_since_previous_episode"])


@pytest.mark.parametrize("episodes, n_episodes, response, remission, si", [
    ("first", 2, (2, 2), (0, 2), (1, 1)),
    ("latest", 2, (2, 2), (1, 2), (1, 1)),
    ("all", 3, (3, 3), (1, 3), (2, 2)),
])
def test_summary_counts_the_selected_episodes(episodes, n_episodes, response, remission, si):
    s = clinic_summary(load(DATED).frame, definitions=OutcomeDefinitions(episodes=episodes))
    d = s.as_dict()
    assert d["patients"] == 2 and d["episodes"] == n_episodes and d["patients_with_repeat_episodes"] == 1
    assert (d["response"]["events"], d["response"]["n"]) == response
    assert (d["remission"]["events"], d["remission"]["n"]) == remission
    assert (d["si_resolution"]["events"], d["si_resolution"]["n"]) == si
    assert d["definitions"]["episodes"] == episodes
    not_independent = any("not independent" in w for w in d["warnings"])
    assert not_independent == (episodes == "all")
    assert ("not independent" in s.to_text()) == (episodes == "all")


def test_day_layout_with_episode_column():
    text = "patient_id,episode,day,phq9_total,phq9_9\nP,1,0,20,0\nP,1,42,10,0\nP,2,-5,22,1\nP,2,40,11,0\nP,2,0,,\n"
    report = load(text)
    f = report.frame
    assert f["episode"].tolist() == [1, 1, 2, 2, 2] and f["day"].tolist() == [0, 42, -5, 0, 40]
    every = patient_outcomes(f, definitions=OutcomeDefinitions(episodes="all"))
    # episode 2's baseline is day -5 (day 0 is unscored); 11 <= 50% of 22
    assert every["baseline_day"].tolist() == [0, -5] and every["response"].tolist() == [True, True]
    assert every["days_since_previous_episode"].isna().all()  # no dates: the gap is not known


def test_episode_column_must_agree_with_start_dates():
    text = "patient_id,assessment_date,treatment_start_date,episode,phq9_total,phq9_9\n" \
           "A,2025-01-01,2025-01-01,2,20,1\nA,2025-06-01,2025-06-01,2,18,1\n"
    report = validate_questionnaires(pd.read_csv(io.StringIO(text), dtype=str))
    assert not report.ok
    err = report.errors.iloc[0]
    assert (err["line"], err["column"]) == (2, "episode") and "start number 1" in err["problem"]


def test_screening_row_duplicated_across_episodes_is_two_questionnaires_only_when_labelled():
    # the same date twice with different scores is a conflict, whatever the episode rule says
    text = DATED + "A,2025-05-10,,17,1\n"
    report = validate_questionnaires(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False))
    assert not report.ok and "different scores" in report.errors.iloc[0]["problem"]


# ----------------------------------------------------------------------------- totals-only

TOTALS = """patient_id,day,phq9_total,phq9_9
C,0,20,
C,42,9,
D,0,16,2
D,20,10,1
D,42,7,
E,0,14,1
E,20,12,0
F,0,18,1
F,21,8,
"""


@pytest.mark.parametrize("mode, response, remission, si, si_end_unknown", [
    # completer: C and D have window endpoints; D's endpoint item 9 is unknown; E, F have none
    ("completer", (2, 2), (0, 2), (0, 0), 1),
    # itt: E and F count as not met; D leaves the SI denominator, E and F stay (not resolved)
    ("itt", (2, 4), (0, 4), (0, 2), 1),
    # locf: E carries day 20 (12, item 9 = 0: SI resolved); F carries day 21 (8 <= 9: response,
    # item 9 unknown: out of SI)
    ("locf", (3, 4), (0, 4), (1, 1), 2),
])
def test_totals_only_in_every_mode(mode, response, remission, si, si_end_unknown):
    report = load(TOTALS)
    assert report.counts["complete"] == 9  # a total is enough to score a questionnaire
    d = clinic_summary(report.frame, definitions=OutcomeDefinitions(analysis=mode)).as_dict()
    assert d["eligible"] == 4 and d["si_at_baseline"] == 3 and d["si_unknown"] == 1
    assert d["si_endpoint_unknown"] == si_end_unknown
    assert (d["response"]["events"], d["response"]["n"]) == response
    assert (d["remission"]["events"], d["remission"]["n"]) == remission
    assert (d["si_resolution"]["events"], d["si_resolution"]["n"]) == si
    if si[1] == 0:
        assert d["si_resolution"]["rate"] is None  # n = 0 is no data, never 0%


def test_total_without_item_9_column_loads():
    report = load("patient_id,day,phq9_total\nQ,0,20\nQ,42,5\n")
    p = patient_outcomes(report.frame)
    assert bool(p.loc[0, "response"]) and bool(p.loc[0, "si_unknown"]) and not bool(p.loc[0, "si_at_baseline"])


def test_items_with_a_blank_and_no_total_stay_unscored():
    items = ",".join(f"phq9_{k}" for k in range(1, 10))
    report = load(f"patient_id,day,{items},phq9_total\nR,0,3,3,3,3,3,3,3,,1,\nR,1,3,3,3,3,3,3,3,0,1,\n"
                  f"R,2,2,2,2,2,2,2,2,,1,17\n")
    f = by_line(report.frame)
    assert not f.loc[2, "complete"] and f.loc[3, "complete"] and f.loc[4, "complete"]
    assert pd.isna(f.loc[2, "phq9_total"]) and f.loc[4, "phq9_total"] == 17  # given total, no prorating


# ----------------------------------------------------------------------------- infusions

INFUSIONS = """patient_id,day,infusion_number,phq9_total,phq9_9
H,0,1,20,1
H,3,2,15,1
H,7,3,4,0
I,0,1,16,0
I,5,2,12,0
I,10,4,8,0
J,0,1,12,2
J,4,2,10,2
K,0,1,18,0
K,14,,3,0
L,0,1,14,0
L,6,3,11,0
L,12,5,9,0
"""


def test_infusion_event_times():
    p = patient_outcomes(load(INFUSIONS).frame).set_index("patient_id")
    # infusions received before a questionnaire = infusion_number - 1
    assert (p.loc["H", "first_response_infusions"], p.loc["I", "first_response_infusions"]) == (2, 3)
    assert p.loc["H", "first_remission_infusions"] == 2 and pd.isna(p.loc["I", "first_remission_infusions"])
    assert p.loc["H", "first_si_free_infusions"] == 2 and pd.isna(p.loc["J", "first_si_free_infusions"])
    assert p["last_followup_infusions"].tolist() == [2, 3, 1, 0, 4]  # K's day-14 check has no infusion number


def test_infusion_count_kaplan_meier_by_hand():
    p = patient_outcomes(load(INFUSIONS).frame)
    # response: K censored 0, J censored 1, H event 2 (3 at risk), I event 3 (2 at risk), L censored 4
    # S(10) = (2/3)(1/2) = 1/3 -> cumulative 2/3
    r = infusion_cumulative_rate(p, metric="response")
    assert (r.time, r.n, r.events) == (10, 5, 2) and r.estimate == pytest.approx(2 / 3)
    # remission: only H at 2 (3 at risk) -> 1/3
    m = infusion_cumulative_rate(p, metric="remission")
    assert m.events == 1 and m.estimate == pytest.approx(1 / 3)
    # SI-free among SI at baseline (H, J): J censored at 1, H event at 2 (1 at risk) -> 1.0 after six
    s = infusion_cumulative_rate(p, metric="si_free")
    assert (s.time, s.n, s.events) == (6, 2, 1) and s.estimate == pytest.approx(1.0)


def test_infusion_number_rules():
    report = validate_questionnaires(pd.read_csv(io.StringIO(
        "patient_id,day,infusion_number,phq9_total,phq9_9\nM,0,0,20,1\nM,3,1.5,15,1\n"), dtype=str))
    assert {(r.line, r.column) for r in report.errors.itertuples()} == {(2, "infusion_number"),
                                                                        (3, "infusion_number")}
    report = load("patient_id,day,infusion_number,phq9_total,phq9_9\nM,0,1,20,1\nM,3,3,15,1\nM,7,2,12,1\n")
    w = report.warnings[report.warnings["column"] == "infusion_number"]
    assert len(w) == 1 and w.iloc[0]["line"] == 4 and "from 3 (line 3) to 2" in w.iloc[0]["problem"]


# ----------------------------------------------------------------------------- gap rule

GAP = """patient_id,assessment_date,phq9_total,phq9_9
N,2025-01-01,20,1
N,2025-02-12,8,0
N,2025-08-01,19,1
N,2025-09-12,5,0
S,2025-01-01,20,1
S,2025-02-12,9,0
"""


def test_new_episode_after_a_gap_only_when_asked():
    frame = load(GAP).frame
    assert frame["episode"].tolist() == [1] * 6 and by_line(frame).loc[4, "day"] == 212
    split = split_episodes_after_gap(frame, after_days=90)
    f = by_line(split)
    # 2025-02-12 -> 2025-08-01 is 170 days without a questionnaire: episode 2 from its first scored one
    assert f["episode"].to_dict() == {2: 1, 3: 1, 4: 2, 5: 2, 6: 1, 7: 1}
    assert (f.loc[4, "day"], f.loc[5, "day"]) == (0, 42)
    every = patient_outcomes(split, definitions=OutcomeDefinitions(episodes="all"))
    assert every[["patient_id", "episode"]].values.tolist() == [["N", 1], ["N", 2], ["S", 1]]
    assert every["response"].tolist() == [True, True, True]
    assert every.loc[1, "days_since_previous_episode"] == 212
    # a gap shorter than N starts nothing
    assert split_episodes_after_gap(frame, after_days=171)["episode"].tolist() == [1] * 6
    with pytest.raises(DefinitionError):
        split_episodes_after_gap(frame, after_days=0)


def test_gap_rule_leaves_patients_with_start_dates_alone():
    frame = load(DATED).frame
    split = split_episodes_after_gap(frame, after_days=60)  # A has an 87-day gap; B (no start) 42
    assert split["episode"].tolist() == frame["episode"].tolist()
    assert split["day"].tolist() == frame["day"].tolist()


def test_episodes_option_is_checked():
    with pytest.raises(DefinitionError, match="first, all, latest"):
        OutcomeDefinitions(episodes="second")


def test_day_layout_episodes_survive_the_store(tmp_path):
    from analytics import import_questionnaires, read_store
    path = tmp_path / "days.csv"
    path.write_text("patient_id,episode,day,phq9_total,phq9_9\nP,1,0,20,0\nP,1,42,10,0\nP,2,0,22,1\nP,2,42,11,0\n")
    db = tmp_path / "store.sqlite"
    import_questionnaires(path, db=db)
    frame = read_store(db).frame
    # day 0 and day 42 exist in both episodes: the store keeps them apart
    assert frame["episode"].tolist() == [1, 1, 2, 2] and frame["day"].tolist() == [0, 42, 0, 42]


@pytest.mark.parametrize("fixture, episodes, mode", [("dated", "all", "itt"), ("dated", "latest", "itt"),
                                                     ("totals", "first", "locf"), ("totals", "first", "completer")])
def test_research_export_reproduces_episode_figures(tmp_path, fixture, episodes, mode):
    import json
    import subprocess
    import sys

    from analytics import remission_rate, response_rate, si_resolution_rate
    from analytics.research_export import write_research_export

    # six copies of the fixture's patients: a research dataset needs more than SMALL_CELL_MAX patients
    lines = (DATED if fixture == "dated" else TOTALS).strip().splitlines()
    copies = [lines[0]] + [f"{pid}{k},{rest}" for k in range(6) for pid, rest in (r.split(",", 1) for r in lines[1:])]
    frame = load("\n".join(copies) + "\n").frame
    d = OutcomeDefinitions(episodes=episodes, analysis=mode)
    units = patient_outcomes(frame, definitions=d)
    write_research_export(frame, units, cohort={"name": "all", "definition": {}}, definitions=d, out_dir=tmp_path,
                          fingerprint="sha256:test")
    long = pd.read_csv(tmp_path / "questionnaires.csv", dtype=str)
    assert "episode" in long.columns and not any("date" in c for c in long.columns)
    script = subprocess.run([sys.executable, str(tmp_path / "reproduce.py")], capture_output=True, text=True,
                            timeout=120)
    assert script.returncode == 0, script.stderr
    reproduced = json.loads(script.stdout)
    for name, fn in (("response", response_rate), ("remission", remission_rate), ("si_resolution", si_resolution_rate)):
        r = fn(units)
        assert (reproduced[name]["n"], reproduced[name]["events"]) == (r.n, r.events), name


def test_summary_text_shows_infusion_counts_beside_oliver():
    s = clinic_summary(load(INFUSIONS).frame)
    text = s.to_text()
    assert "not like for like" in text and "infusion_number - 1" in text
    row = s.by_infusions.set_index("metric").loc["response"]
    assert (row["n"], row["events"], row["published_text"]) == (5, 2, "72%")
    assert row["rate"] == pytest.approx(2 / 3) and not row["comparable"]


@pytest.mark.parametrize("mode", ["completer", "itt", "locf"])
def test_reinductions_from_precomputed_outcomes_are_the_same(mode):
    from dataclasses import replace

    from analytics.episodes import reinduction_summary
    frame = load(DATED).frame
    d = OutcomeDefinitions(analysis=mode)
    every = patient_outcomes(frame, definitions=replace(d, episodes="all"))
    given = reinduction_summary(frame, definitions=d, outcomes=every)
    assert given == reinduction_summary(frame, definitions=d)
    assert given.with_second.events > 0  # the fixture has second episodes: the comparison is not vacuous


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_rows_in_order_are_labelled_block_by_block_as_by_factorising(monkeypatch, block):
    """Rows already in (patient, start) order are labelled from their neighbours a block of rows at a time;
    the episodes and starts must be those of factorising every (patient, start) key, whatever the block size
    (pairs that continue across a block boundary, blocks without a start date, blank patients)."""
    import analytics.episodes as episodes_module

    rng = np.random.default_rng(5)
    monkeypatch.setattr(episodes_module, "_BLOCK", block)
    for trial in range(150):
        n = int(rng.integers(1, 60))
        pcodes = np.sort(rng.integers(-1 if trial % 7 == 0 else 0, 6, n)).astype(np.int32)
        start = rng.choice([np.nan, 100, 130, 400], n).astype(np.float32)
        order = np.lexsort((np.nan_to_num(start, nan=-1), pcodes))
        pcodes, start = pcodes[order], start[order]
        if trial % 3 == 0:
            rng.shuffle(start)  # out of order: the factorising path itself
        date = (np.nan_to_num(start, nan=120) + rng.integers(-40, 60, n)).astype(np.float32)
        date[rng.random(n) < 0.1] = np.nan
        got = assign_episodes(pcodes, start, date)
        with monkeypatch.context() as m:
            m.setattr(episodes_module, "_sorted_pair_blocks", lambda *args: None)
            expected = assign_episodes(pcodes, start, date)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        assert got[0].dtype == expected[0].dtype == np.int16 and got[1].dtype == expected[1].dtype
    # a hand-worked case: patient 0 starts on days 100 and 130 (across a block boundary at block=1), patient 1
    # has one start; a blank start 10 days before 130 belongs to the episode of 130 (30-day look-back)
    p = np.array([0, 0, 0, 0, 1], np.int32)
    s = np.array([100, np.nan, 130, 130, 400], np.float32)
    d = np.array([100, 120, 130, 160, 400], np.float32)
    ep, ep_start = assign_episodes(p, s, d)
    assert ep.tolist() == [1, 2, 2, 2, 1] and ep_start.tolist() == [100, 130, 130, 130, 400]


class _Problems:
    """The rows each problem was added for (the one collector method derive_study_days calls)."""

    def __init__(self):
        self.rows = []

    def add(self, mask, *args, **kwargs):
        self.rows.append(np.flatnonzero(mask).tolist())


def _study_days_whole_arrays(day, date, ep_start, episode, pcodes, complete):
    """A second implementation of derive_study_days on the whole arrays (its form before it kept to the rows
    of patients that need a first scored date)."""
    import pandas as pd
    from analytics.definitions import DAY_LIMIT, EPISODE_LIMIT

    day = day.copy()
    from_start = np.isnan(day) & ~np.isnan(date) & ~np.isnan(ep_start)
    np.subtract(date, ep_start, out=day, where=from_start)
    rest = np.isnan(day) & ~np.isnan(date)
    if rest.any():
        unit = pcodes.astype(np.int64) * (EPISODE_LIMIT + 1) + episode
        first = pd.Series(np.where(complete, date, np.nan)).groupby(unit).transform("min").to_numpy()
        day[rest] = date[rest] - first[rest]
    far = np.abs(day) > DAY_LIMIT
    day[far] = np.nan
    return day, np.flatnonzero(far).tolist()


@pytest.mark.parametrize("seed", range(3))
def test_study_days_from_the_first_scored_date_equal_the_whole_array_version(seed):
    """Given days, days from the episode's start, from its first scored questionnaire (blank patient ids, code -1,
    a group of their own), and days past the limit refused: the same days and refused rows as a second
    implementation on the whole arrays."""
    from analytics.definitions import DAY_LIMIT
    from analytics.study_days import derive_study_days

    rng = np.random.default_rng(seed)
    for _ in range(500):
        n = int(rng.integers(1, 40))
        pcodes = rng.integers(-1, 5, n).astype(np.int32)
        episode = rng.integers(1, 3, n).astype(np.int16)
        date = np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, DAY_LIMIT * 3, n)).astype(np.float32)
        ep_start = np.where(rng.random(n) < 0.6, np.nan, rng.integers(0, DAY_LIMIT * 3, n)).astype(np.float32)
        day = np.where(rng.random(n) < 0.7, np.nan, rng.integers(-5, 50, n)).astype(np.float32)
        complete = rng.random(n) < 0.6
        want, refused = _study_days_whole_arrays(day, date, ep_start, episode, pcodes, complete)
        found = _Problems()
        got = derive_study_days(day.copy(), date, ep_start, episode, pcodes, complete, found)
        np.testing.assert_array_equal(got, want)
        assert (found.rows or [[]])[0] == refused
