"""The headline summary object and its JSON contract."""
from __future__ import annotations

import json
import math

import pytest

from analytics import OutcomeDefinitions, clinic_summary, load_questionnaires
from conftest import TINY, canonical


def test_summary_of_tiny_fixture():
    s = clinic_summary(load_questionnaires(TINY), source="tiny_clinic.csv")
    assert (s.patients, s.with_baseline, s.eligible, s.si_at_baseline) == (10, 8, 7, 4)
    assert (s.questionnaires, s.complete_questionnaires) == (25, 23)
    assert (s.response.events, s.response.n) == (3, 4)
    assert s.cumulative_remission.estimate == pytest.approx(1 / 3)
    assert any("small denominator" in w for w in s.warnings)


def test_as_dict_is_json_with_nulls_not_nan():
    s = clinic_summary(canonical([("a", 0, 20, 0)]))  # no endpoint: every rate is no data
    d = s.as_dict()
    text = json.dumps(d)
    assert "NaN" not in text
    assert d["response"]["rate"] is None and d["response"]["n"] == 0
    assert all(b["difference"] is None for b in d["benchmarks"] if b["metric"] == "response")


def test_definitions_printed_with_numbers():
    s = clinic_summary(load_questionnaires(TINY), definitions=OutcomeDefinitions(week=4, analysis="itt"))
    text = s.to_text()
    assert "week 4" in text.lower() and "intention to treat" in text and "day 28" in text
    assert s.as_dict()["definitions"]["target_day"] == 28


def test_rates_lie_within_intervals():
    s = clinic_summary(load_questionnaires(TINY.with_name("sample_clinic.csv")))
    for r in (s.response, s.remission, s.si_resolution, s.cumulative_response, s.cumulative_remission):
        assert 0 <= r.ci_low <= r.estimate <= r.ci_high <= 1 and not math.isnan(r.estimate)


def test_summary_text_says_why_and_how_uncertain():
    s = clinic_summary(load_questionnaires(TINY.with_name("sample_clinic.csv")))
    text = s.to_text()
    like = text.split("Like-for-like comparisons:")[1].split("Not like for like")[0]
    assert "oliver2022-response-6w" in like and "floor" in like and "censoring rule" in like
    assert "95% CI of the difference" in like and "log-log" in like
    rest = text.split("Not like for like (no test: the two estimates, the difference and the reason only):")[1]
    assert "mcinnes2022-response: timepoint" in rest and "prediction interval" in rest
    d = s.as_dict()["benchmarks"]
    assert {"uncertainty_note", "plain_language", "diff_ci_low", "diff_ci_high", "published_n"} <= set(d[0])
    assert all(b["p_value"] is None for b in d if not b["comparable"])
    json.dumps(s.as_dict(), allow_nan=False)


def test_zero_of_thirty_followed_to_day_42_is_tested_end_to_end():
    from conftest import canonical as build
    rows = [r for i in range(30) for r in ((f"p{i}", 0, 20, 0), (f"p{i}", 21, 18, 0), (f"p{i}", 42, 16, 0))]
    s = clinic_summary(build(rows))
    assert (s.cumulative_response.events, s.cumulative_response.n, s.cumulative_response.censored) == (0, 30, 0)
    row = s.benchmarks.set_index("id").loc["oliver2022-response-6w"]
    assert row["comparable"] and row["difference"] == pytest.approx(-0.5)
    # 0/30 vs 212/424: summed by hand over the hypergeometric tables (tests/test_benchmark_statistics.py)
    assert row["p_value"] == pytest.approx(4.0977575153359e-09, rel=1e-7)
    assert "plain proportion 0/30" in row["test"]


@pytest.mark.parametrize("mode, episodes", [("completer", "first"), ("itt", "all"), ("locf", "latest")])
def test_summary_from_precomputed_outcomes_is_the_same(mode, episodes):
    # the dashboard computes the outcome table once per cohort and passes it in (with attribute columns)
    from analytics import patient_outcomes
    from conftest import SAMPLE

    sample = load_questionnaires(SAMPLE)
    d = OutcomeDefinitions(analysis=mode, episodes=episodes)
    computed = clinic_summary(sample, definitions=d)
    given = clinic_summary(sample, definitions=d, outcomes=patient_outcomes(sample, definitions=d))
    assert json.dumps(given.as_dict(), sort_keys=True) == json.dumps(computed.as_dict(), sort_keys=True)
    assert given.to_text() == computed.to_text()
    assert given.by_infusions.equals(computed.by_infusions) and len(computed.by_infusions)


def test_patients_counted_from_categorical_codes_match_nunique():
    """A cohort cut from the canonical frame keeps every category of its ids; only the patients present count."""
    from analytics import clinic_summary, load_questionnaires
    from analytics.synthetic import synthetic_clinic

    frame = load_questionnaires(synthetic_clinic(40, seed=3))
    cohort = frame[frame["patient_id"].cat.codes % 3 == 0].reset_index(drop=True)
    assert len(cohort["patient_id"].cat.categories) > cohort["patient_id"].nunique() > 0
    assert clinic_summary(cohort).patients == cohort["patient_id"].nunique()
    assert clinic_summary(frame).patients == frame["patient_id"].nunique() == 40


@pytest.mark.parametrize("episodes", ["first", "all", "latest"])
def test_patients_with_repeat_episodes_counted_once_each(episodes):
    """Patients with more than one episode, each counted once whatever the rows per patient (episodes='all' gives
    several): the count equals the first row of each patient's, as the summary counted it before."""
    from analytics import patient_outcomes
    from analytics.summary import _patients_with_repeat_episodes
    from conftest import SAMPLE

    d = OutcomeDefinitions(episodes=episodes)
    patients = patient_outcomes(load_questionnaires(SAMPLE), definitions=d)
    first_rows = patients.loc[~patients["patient_id"].duplicated()]
    expected = int((first_rows["n_episodes"] > 1).sum())
    assert expected > 0 and clinic_summary(load_questionnaires(SAMPLE), definitions=d).patients_with_repeat_episodes \
        == expected
    if episodes == "all":
        assert len(patients) > patients["patient_id"].nunique()  # several rows for some patients
    blank = patients.assign(patient_id=patients["patient_id"].astype(object))
    blank.loc[blank["n_episodes"] > 1, "patient_id"] = None  # blank ids: one value, as ``duplicated`` counts them
    assert _patients_with_repeat_episodes(blank) == int((blank.loc[~blank["patient_id"].duplicated(), "n_episodes"]
                                                         > 1).sum()) == 1
