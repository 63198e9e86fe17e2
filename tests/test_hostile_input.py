"""Hostile and broken input: always a usable frame or a problem report, never a traceback or a hang.

Property-based (hypothesis) over random bytes, random CSV shapes and odd
encodings, plus engine invariants on generated clinics.
"""
from __future__ import annotations

import csv
import io
import itertools

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import (
    OutcomeDefinitions,
    QuestionnaireValidationError,
    UnreadableFileError,
    ValidationReport,
    clinic_summary,
    load_questionnaires,
    patient_outcomes,
    remission_rate,
    response_rate,
    si_resolution_rate,
    validate_questionnaires,
)
from analytics import loading
from analytics.errors import PROBLEM_COLUMNS

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
_counter = itertools.count()


def outcome_of(path) -> ValidationReport | None:
    """The only two acceptable outcomes: a report, or our own error carrying a problem table."""
    try:
        report = validate_questionnaires(path)
    except QuestionnaireValidationError as exc:  # UnreadableFileError included
        assert list(exc.problems.columns) == PROBLEM_COLUMNS and len(exc.problems) >= 1
        assert str(exc)
        return None
    assert isinstance(report, ValidationReport)
    if report.ok:
        check_invariants(report.frame)
    else:
        assert list(report.errors.columns) == PROBLEM_COLUMNS and len(report.errors) >= 1
        assert report.to_text()
    return report


def check_invariants(frame: pd.DataFrame) -> None:
    n = {}
    for mode in ("completer", "itt", "locf"):
        s = clinic_summary(frame, definitions=OutcomeDefinitions(analysis=mode))
        for r in (s.response, s.remission, s.si_resolution, s.cumulative_response, s.cumulative_remission):
            if r.estimate is None:
                assert r.n == 0 or r.ci_low is None
                continue
            assert 0 <= r.estimate <= 1
            if r.ci_low is not None:
                assert r.ci_low - 1e-12 <= r.estimate <= r.ci_high + 1e-12
        n[mode] = (s.response.n, s.si_resolution.n)
    assert n["itt"][0] >= n["completer"][0] and n["itt"][1] >= n["completer"][1]
    assert n["locf"] == n["itt"]


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".xlsx", ".parquet", ".json"]))
def test_random_bytes(tmp_path, data, suffix):
    path = tmp_path / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    if suffix == ".json":
        with pytest.raises(UnreadableFileError):
            validate_questionnaires(path)  # not a questionnaire table type: refused by name
        return
    outcome_of(path)


HEADERS = ["patient_id", "assessment_date", "day", "treatment_start_date", "phq9_total", *[f"phq9_{i}" for i in
           range(1, 10)], "gad7_1", "site", "Patient Name", "age", "infusion_number", " PHQ9_9 ", "", "x"]
CELLS = st.one_of(
    st.integers(-5, 40).map(str),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e309", "=1+2", "@SUM(A1)", "+1", "-1", "3.0", "2.5",
                     "2024-02-30", "0001-01-01", "9999-12-31", "2024-06-01", "1899-12-31", "2100-12-31",
                     "123-45-6789", "a@b.org", "(555) 123-4567", "001", "１２", "\t=cmd", "None", "NULL", "0x1F"]),
    st.dates().map(lambda d: d.isoformat()),
    st.text(max_size=12),
)


@FUZZ
@given(headers=st.lists(st.sampled_from(HEADERS), min_size=1, max_size=14),
       rows=st.lists(st.lists(CELLS, min_size=0, max_size=16), max_size=12),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
def test_random_csv_shapes(tmp_path, headers, rows, encoding):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path = tmp_path / f"f{next(_counter)}.csv"
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))
    outcome_of(path)


def clinic_rows():
    """Valid clinics: patients with unique days, totals and item 9 that fit together."""
    visit = st.tuples(st.integers(-40, 100), st.integers(0, 27), st.integers(0, 3)).filter(lambda v: v[2] <= v[1])
    patient = st.lists(visit, min_size=1, max_size=8, unique_by=lambda v: v[0])
    return st.lists(patient, min_size=1, max_size=14)


def to_frame(patients, prefix="p"):
    return pd.DataFrame([{"patient_id": f"{prefix}{i:03d}", "day": d, "phq9_total": t, "phq9_9": i9}
                         for i, visits in enumerate(patients) for d, t, i9 in visits])


@pytest.mark.slow  # 80 generated clinics through the whole engine: minutes; `make test` and CI run it
@settings(max_examples=80, deadline=None)  # no timing: the machine may be loaded
@given(patients=clinic_rows(), seed=st.integers(0, 2 ** 16))
def test_engine_invariants(patients, seed):
    raw = to_frame(patients)
    frame = load_questionnaires(raw)
    check_invariants(frame)
    # reordering rows changes nothing
    shuffled = load_questionnaires(raw.sample(frac=1, random_state=seed).reset_index(drop=True))
    for mode in ("completer", "itt", "locf"):
        d = OutcomeDefinitions(analysis=mode)
        a, b = patient_outcomes(frame, definitions=d), patient_outcomes(shuffled, definitions=d)
        for fn in (response_rate, remission_rate, si_resolution_rate):
            assert (fn(a).n, fn(a).events) == (fn(b).n, fn(b).events)
    # adding a patient without a baseline changes no rate
    extra = pd.DataFrame({"patient_id": ["zz"] * 2, "day": [5, 42], "phq9_total": [20, 1], "phq9_9": [1, 0]})
    more = load_questionnaires(pd.concat([raw, extra], ignore_index=True))
    for mode in ("completer", "itt", "locf"):
        d = OutcomeDefinitions(analysis=mode)
        a, b = patient_outcomes(frame, definitions=d), patient_outcomes(more, definitions=d)
        for fn in (response_rate, remission_rate, si_resolution_rate):
            assert (fn(a).n, fn(a).events) == (fn(b).n, fn(b).events)


# ---------------------------------------------------------------- explicit limits

def test_100000_columns_are_refused_quickly(tmp_path):
    import time
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" for _ in range(100_000)) + "\n")
    t0 = time.perf_counter()
    with pytest.raises(UnreadableFileError, match="100,000 columns; at most 1,000") as exc:
        validate_questionnaires(path)
    assert time.perf_counter() - t0 < 10 and exc.value.problems.iloc[0]["line"] == 1


def test_row_and_size_limits(tmp_path, monkeypatch):
    path = tmp_path / "long.csv"
    path.write_text("patient_id,day,phq9_total,phq9_9\n" + "".join(f"{i},0,10,1\n" for i in range(300)))
    monkeypatch.setattr(loading, "MAX_ROWS", 100)
    with pytest.raises(UnreadableFileError, match="at most 100 are read"):
        validate_questionnaires(path)
    monkeypatch.setattr(loading, "MAX_ROWS", 10 ** 9)
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1000)
    with pytest.raises(UnreadableFileError, match="Split it"):
        validate_questionnaires(path)
    frame = pd.DataFrame({"patient_id": ["1"] * 5, "day": range(5), "phq9_total": [10] * 5, "phq9_9": [1] * 5})
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 10 ** 9)
    monkeypatch.setattr(loading, "MAX_ROWS", 3)
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(UnreadableFileError, match="p.parquet: the file has about 5 rows"):
        validate_questionnaires(tmp_path / "p.parquet")


def test_huge_field_and_formulas_in_cells(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("patient_id,day,phq9_total,phq9_9,protocol\n001,0,12,1," + "x" * 5_000_000 + "\n001,42,=1+2,0,=cmd\n")
    report = validate_questionnaires(path)
    err = report.errors.iloc[0]
    assert (err["line"], err["column"], err["value"]) == (3, "phq9_total", "=1+2")


def test_spreadsheet_renamed_to_csv(tmp_path):
    frame = pd.DataFrame({"patient_id": ["1"], "day": [0], "phq9_total": [10], "phq9_9": [1]})
    frame.to_excel(tmp_path / "x.xlsx", index=False)
    renamed = tmp_path / "x.csv"
    renamed.write_bytes((tmp_path / "x.xlsx").read_bytes())
    with pytest.raises(UnreadableFileError, match="renamed to .csv"):
        validate_questionnaires(renamed)
