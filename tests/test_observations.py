"""One-row-per-score exports pivoted into questionnaires (hand-worked)."""
from __future__ import annotations

import pandas as pd

from analytics import validate_questionnaires
from analytics.fhir import PHQ9_ITEM_LOINC
from analytics.sources import read_source

LONG = """patient_id,assessment_date,treatment_start_date,loinc,value
001,2025-01-06,2025-01-06,44261-6,18
001,2025-01-06,2025-01-06,44260-8,1
001,2025-02-17,2025-01-06,44261-6,6
001,2025-02-17,2025-01-06,44260-8,0
001,2025-02-17,2025-01-06,70274-6,4
002,2025-01-10,,44261-6,12
002,2025-01-10,,44261-6,12
"""


def test_long_observations_pivot_by_patient_and_date(tmp_path):
    path = tmp_path / "platform.csv"
    path.write_text(LONG)
    raw = read_source(path)
    assert any("7 rows pivoted into 3 questionnaires" in n for n in raw.notes)
    assert any("1 exact duplicate score row(s) collapsed (lines 8)" in n for n in raw.notes)
    report = validate_questionnaires(raw)
    assert report.ok, report.errors
    f = report.frame.set_index("line")
    # each questionnaire takes its first row's line
    assert (f.loc[2, "phq9_total"], f.loc[2, "phq9_9"], f.loc[2, "day"]) == (18, 1, 0)
    assert (f.loc[4, "phq9_total"], f.loc[4, "phq9_9"], f.loc[4, "gad7_total"], f.loc[4, "day"]) == (6, 0, 4, 42)
    assert f.loc[7, "phq9_total"] == 12 and pd.isna(f.loc[7, "phq9_9"])
    assert bool(f.loc[7, "complete"])  # a total alone is scored (spec v2)


def test_conflicting_values_and_unknown_codes_are_refused(tmp_path):
    path = tmp_path / "platform.csv"
    path.write_text(LONG + "002,2025-01-10,,44261-6,13\n001,2025-01-06,2025-01-06,9999-9,3\n")
    report = validate_questionnaires(read_source(path))
    assert not report.ok
    rows = {(r.line, r.column): r.problem for r in report.errors.itertuples()}
    assert "phq9_total = 12 (line 7) with a different value" in rows[(9, "value")]
    assert "unknown score code" in rows[(10, "loinc")]


def test_item_codes_and_a_mapping(tmp_path):
    items = "\n".join(f"A,0,{code},{1 if i < 8 else 2}" for i, code in enumerate(PHQ9_ITEM_LOINC))
    path = tmp_path / "items.csv"
    path.write_text("Client,Study Day,Obs Code,Score\n" + items + "\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\n"Client" = "patient_id"\n"Study Day" = "day"\n"Obs Code" = "code"\n'
                       '"Score" = "value"\n')
    report = validate_questionnaires(read_source(path, mapping=mapping))
    assert report.ok, report.errors
    row = report.frame.iloc[0]
    assert row["phq9_total"] == 10 and row["phq9_9"] == 2 and row["phq9_4"] == 1


def test_rows_of_one_questionnaire_must_agree(tmp_path):
    path = tmp_path / "platform.csv"
    path.write_text("patient_id,day,site,code,value\nA,0,North,phq9_total,14\nA,0,South,phq9_9,1\n")
    report = validate_questionnaires(read_source(path))
    assert not report.ok and report.errors.iloc[0]["line"] == 3 and report.errors.iloc[0]["column"] == "site"
