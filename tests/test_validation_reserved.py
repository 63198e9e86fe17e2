"""A source column named like a column the tool computes is refused at validation, naming the column."""
from __future__ import annotations

import pandas as pd
import pytest

from analytics import load_questionnaires, patient_outcomes, validate_questionnaires
from analytics.instrument_columns import CSSRS_FLAGS, instrument_columns
from analytics.instruments import CSSRS_SCREENER
from conftest import SAMPLE

ROWS = pd.DataFrame({"patient_id": ["001", "001"], "day": [0, 42], "phq9_total": [20, 5], "phq9_9": [1, 0]})
INPUTS = {"patient_id", "day", "assessment_date", "treatment_start_date", "infusion_number", "episode"}


def _engine_columns() -> set:
    """Every column the engine adds, from its output on the sample (not from the validator's own list)."""
    frame = load_questionnaires(SAMPLE)
    added = set(frame.columns) - set(pd.read_csv(SAMPLE, nrows=0).columns)
    outcomes = set(patient_outcomes(frame, attributes=False).columns)
    # the other instruments' columns have their own rules (test_instrument_columns.py and the C-SSRS test below)
    other_scales = set(instrument_columns(added | outcomes)) | {f"{CSSRS_SCREENER.key}_{f}" for f in CSSRS_FLAGS}
    return {c for c in added | outcomes
            if c not in INPUTS and c not in other_scales and not c.startswith(("phq9_", "gad7_"))}


@pytest.mark.parametrize("column", sorted(_engine_columns() | {"response", "eligible", "complete"}))
def test_every_computed_column_name_is_refused(column):
    report = validate_questionnaires(ROWS.assign(**{column: "x"}))
    assert not report.ok
    first = report.errors.iloc[0]
    assert (first["line"], first["column"]) == (1, column)
    assert f"'{column}' is one the tool computes" in first["problem"] and f"source_{column}" in first["problem"]


@pytest.mark.parametrize("column", sorted(f"{CSSRS_SCREENER.key}_{f}" for f in CSSRS_FLAGS))
def test_the_screeners_computed_flags_are_refused_on_the_header_line(column):
    report = validate_questionnaires(ROWS.assign(**{column: "yes"}))
    assert not report.ok
    first = report.errors.iloc[0]
    assert (first["line"], first["column"]) == (1, column)
    assert "not a C-SSRS screener column" in first["problem"] and "computes" in first["problem"]


@pytest.mark.parametrize("header", ["Response", " ELIGIBLE ", "Remission"])
def test_any_spelling_of_the_header_is_refused_and_named_as_written(tmp_path, header):
    path = tmp_path / "x.csv"
    path.write_text(f"patient_id,day,phq9_total,phq9_9,{header}\n001,0,20,1,yes\n")
    first = validate_questionnaires(path).errors.iloc[0]
    assert first["column"] == header and "one the tool computes" in first["problem"]


def test_ordinary_attributes_are_still_kept():
    report = validate_questionnaires(ROWS.assign(site="North", responder_group="a"))
    assert report.ok and {"site", "responder_group"} <= set(report.frame.columns)
