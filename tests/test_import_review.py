"""What an import would change, old -> new per questionnaire, and its warnings located by patient and date."""
from __future__ import annotations

import pandas as pd

from analytics import validate_questionnaires
from analytics.import_review import correction_preview, locate_warnings
from analytics.store import ImportConflictError, import_questionnaires
from conftest import TINY


def test_correction_preview_is_one_line_per_questionnaire(tmp_path):
    db = tmp_path / "s.sqlite"
    import_questionnaires(TINY, db=db)
    raw = pd.read_csv(TINY, dtype=str, keep_default_na=False)
    raw.loc[1, "phq9_4"] = "2"    # 001, day 42: item 4 1 -> 2, total 10 -> 11
    raw.loc[3, "phq9_9"] = "1"    # 002, day -3: item 9 0 -> 1, total 12 -> 13
    raw.loc[3, "site"] = "South"  # and its site
    changed = tmp_path / "changed.csv"
    raw.to_csv(changed, index=False)
    try:
        import_questionnaires(changed, db=db)
    except ImportConflictError as exc:
        preview = correction_preview(exc.conflicts)
    assert preview.to_dict("records") == [
        {"Patient": "001", "Questionnaire": "day 42", "Line": 3,
         "Changes": "PHQ-9 total: 10 → 11; PHQ-9 item 4: 1 → 2"},
        {"Patient": "002", "Questionnaire": "day -3", "Line": 5,
         "Changes": "PHQ-9 total: 12 → 13; PHQ-9 item 9: 0 → 1; "
                    "site: North → South"},
    ]
    assert correction_preview(pd.DataFrame()).empty


def test_blank_values_read_as_blank():
    conflicts = pd.DataFrame({"line": [4], "patient_id": ["K1"], "occasion": ["2026-03-02"], "column": ["gad7_total"],
                              "stored": ["<NA>"], "new": ["7"]})
    assert correction_preview(conflicts)["Changes"].tolist() == ["GAD-7 total: blank → 7"]


def test_warnings_name_the_patient_and_date(write_csv):
    path = write_csv("patient_id,assessment_date,phq9_total,phq9_9\n"
                     "A1,2026-03-02,20,1\n"        # line 2
                     "A1,2026-03-02,20,1\n"        # line 3: exact duplicate of line 2
                     "B2,2026-03-20,18,\n"         # line 4: no baseline? first scored is baseline: fine
                     "C3,2026-03-05,,\n")          # line 5: no total, no items: incomplete; no baseline
    report = validate_questionnaires(path)
    located = locate_warnings(report.warnings, report.frame, source="export.csv")
    assert list(located.columns) == ["File", "Line", "Patient", "Date", "Column", "Problem"]
    by_line = located.set_index("Line")
    assert (by_line.loc[3, "Patient"], by_line.loc[3, "Date"]) == ("A1", "2026-03-02")  # via the line it duplicates
    c3 = located[located["Line"] == 5]
    assert set(c3["Patient"]) == {"C3"} and set(c3["Date"]) == {"2026-03-05"} and len(c3) >= 1
    assert (located["File"] == "export.csv").all()
    assert locate_warnings(report.warnings.iloc[:0], report.frame, source="x").empty


def test_day_layout_shows_the_study_day():
    report = validate_questionnaires(TINY)
    located = locate_warnings(report.warnings, report.frame, source="tiny_clinic.csv")
    row = located[located["Line"] == 20].iloc[0]  # 008, day 0: item 3 blank
    assert (row["Patient"], row["Date"]) == ("008", "day 0")
