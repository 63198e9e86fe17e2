"""Suggested column matches, the header row under a title block, and date formats, on hand-made realistic exports.

The exports in tests/data/exports/ were written by hand the way EHRs and spreadsheets write them: EHR
headers ("Pt ID", "DOS", "PHQ9 Score", "Thoughts of self-harm (Q9)"), US dates, a title block above the
header row, a totals-only flowsheet, and one with a date-of-birth column.  Every expected match and line
number below was read off those files by hand.
"""
from __future__ import annotations

import datetime as dt

import pytest

from analytics import validate_questionnaires
from analytics.header_suggestion import (
    CONTRACT_FIELDS,
    detect_header_row,
    read_top_rows,
    suggest_columns,
    suggest_date_format,
)
from analytics.loading import read_table
from analytics.mapping import mapping_from_choices
from analytics.sources import read_source
from conftest import ROOT

EXPORTS = ROOT / "tests" / "data" / "exports"


def matches(headers) -> dict:
    table = suggest_columns(headers)
    return {c: h for c, h in zip(table["column"], table["header"]) if h is not None}


def mapping_for(path, **kwargs):
    rows = read_top_rows(path)
    guess = detect_header_row(rows)
    headers = [c for c in rows[guess.row - 1] if c.strip()]
    return guess, mapping_from_choices(matches(headers), header_row=guess.row, **kwargs)


# ----------------------------------------------------------------------------- suggestions

def test_ehr_flowsheet_headers():
    assert matches(["Patient ID", "Date of Service", "Treatment Start", "PHQ-9 Total Score", "Q9",
                    "GAD-7 Total Score", "Location", "Infusion #"]) == {
        "patient_id": "Patient ID", "assessment_date": "Date of Service", "treatment_start_date": "Treatment Start",
        "phq9_total": "PHQ-9 Total Score", "phq9_9": "Q9", "gad7_total": "GAD-7 Total Score",
        "infusion_number": "Infusion #", "site": "Location"}


def test_abbreviated_ehr_headers_and_self_harm_wording():
    assert matches(["Pt ID", "DOS", "Tx Start Date", "PHQ9 Score", "Thoughts of self-harm (Q9)", "GAD7 Score",
                    "Clinic Location", "Infusion No", "Rendering Provider"]) == {
        "patient_id": "Pt ID", "assessment_date": "DOS", "treatment_start_date": "Tx Start Date",
        "phq9_total": "PHQ9 Score", "phq9_9": "Thoughts of self-harm (Q9)", "gad7_total": "GAD7 Score",
        "site": "Clinic Location", "infusion_number": "Infusion No", "clinician": "Rendering Provider"}


def test_questionnaire_wording_of_the_nine_items():
    texts = ["Little interest or pleasure in doing things", "Feeling down, depressed, or hopeless",
             "Trouble falling or staying asleep, or sleeping too much", "Feeling tired or having little energy",
             "Poor appetite or overeating",
             "Feeling bad about yourself - or that you are a failure or have let yourself or your family down",
             "Trouble concentrating on things, such as reading the newspaper or watching television",
             "Moving or speaking so slowly that other people could have noticed",
             "Thoughts that you would be better off dead, or of hurting yourself in some way"]
    found = matches(["Pseudonym", "Assessment Date", *texts])
    assert found == {"patient_id": "Pseudonym", "assessment_date": "Assessment Date",
                     **{f"phq9_{i}": t for i, t in enumerate(texts, start=1)}}


def test_numbered_items_of_both_instruments_are_kept_apart():
    headers = ["subject_id", "visit_date", *[f"PHQ-9 Q{i}" for i in range(1, 10)],
               *[f"GAD-7 Q{i}" for i in range(1, 8)], "PHQ-9", "GAD-7"]
    found = matches(headers)
    assert all(found[f"phq9_{i}"] == f"PHQ-9 Q{i}" for i in range(1, 10))
    assert all(found[f"gad7_{i}"] == f"GAD-7 Q{i}" for i in range(1, 8))
    assert (found["phq9_total"], found["gad7_total"]) == ("PHQ-9", "GAD-7")
    assert (found["patient_id"], found["assessment_date"]) == ("subject_id", "visit_date")


def test_the_contract_s_own_names_win():
    headers = ["patient_id", "day", *[f"phq9_{i}" for i in range(1, 10)], "site"]
    assert matches(headers) == {h: h for h in headers}


def test_identifiers_are_never_suggested():
    found = matches(["MRN", "Patient Name", "DOB", "Date of Birth", "Pseudonym", "Visit Date", "PHQ9 Score",
                     "Home Address", "Notes"])
    assert found == {"patient_id": "Pseudonym", "assessment_date": "Visit Date", "phq9_total": "PHQ9 Score"}
    # a birth date is never taken for the date of the questionnaire, nor a record number for the patient
    alone = matches(["MRN", "Date of Birth", "PHQ9 Score"])
    assert "patient_id" not in alone and "assessment_date" not in alone


def test_every_field_has_a_label_and_a_need():
    assert len({f.column for f in CONTRACT_FIELDS}) == len(CONTRACT_FIELDS) == 26
    assert {f.column for f in CONTRACT_FIELDS if f.need == "required"} == {"patient_id"}
    assert "self-harm" in next(f.label for f in CONTRACT_FIELDS if f.column == "phq9_9")


# ----------------------------------------------------------------------------- the header row

def test_title_block_above_the_header_is_detected():
    rows = read_top_rows(EXPORTS / "ehr_title_row.csv")
    guess = detect_header_row(rows)
    assert guess.row == 4
    assert guess.title == ("Westlake Ketamine Clinic - PHQ-9 Flowsheet", "Report run 04/15/2026 08:02")
    assert guess.recognised == 8 and "line 4 names the columns" in guess.why


def test_a_file_without_title_keeps_its_first_line():
    assert detect_header_row(read_top_rows(ROOT / "sample_data" / "examples" / "ehr_export.csv")).row == 1
    assert detect_header_row([["1", "2"], ["3", "4"]]).row == 1  # nothing header-like: the first line


def test_title_row_csv_reads_with_file_line_numbers(tmp_path):
    guess, mapping = mapping_for(EXPORTS / "ehr_title_row.csv", date_format="%m/%d/%Y")
    report = validate_questionnaires(read_source(EXPORTS / "ehr_title_row.csv", mapping=mapping))
    assert report.ok and report.counts["questionnaires"] == 8 and report.counts["patients"] == 3
    f = report.frame
    first = f[f["patient_id"] == "W-0001"].iloc[0]
    assert (first["line"], str(first["assessment_date"].date()), first["phq9_total"], first["phq9_9"],
            first["site"]) == (5, "2026-03-02", 21, 2, "Westlake")
    assert list(f[f["patient_id"] == "W-0003"]["day"]) == [0, 7, 42]
    # a bad cell is reported on its line in the file, title block counted
    text = (EXPORTS / "ehr_title_row.csv").read_text().replace("04/13/2026", "04/31/2026")
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    err = validate_questionnaires(read_source(bad, mapping=mapping)).errors.iloc[0]
    assert (err["line"], err["column"], err["value"]) == (7, "DOS", "04/31/2026")


def test_ragged_line_below_a_title_block_is_named_by_its_file_line(tmp_path):
    lines = (EXPORTS / "ehr_title_row.csv").read_text().splitlines()
    lines[6] += ",extra"
    bad = tmp_path / "ragged.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception, match="line 7 does not have the same number of cells as the header .*in line 7, saw 9"):
        read_table(bad, header_row=4)


def excel_with_title(path, rows, *, title="Eastgate Clinic - PHQ-9 (items) export"):
    """An .xlsx as Excel writes a report: a merged title cell, a blank row, the headers on row 3."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "PHQ-9"
    ws["A1"] = title
    ws.merge_cells("A1:E1")
    for r, row in enumerate(rows, start=3):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    book.save(path)
    return path


ITEMS_HEADER = ["Patient Pseudonym", "Assessment Date", *[f"Q{i}" for i in range(1, 10)]]


def test_excel_title_row_and_real_dates(tmp_path):
    d = dt.datetime
    path = excel_with_title(tmp_path / "items.xlsx", [
        ITEMS_HEADER,
        ["E-01", d(2026, 1, 5), 3, 3, 2, 2, 2, 1, 1, 1, 1],   # 16
        ["E-01", d(2026, 2, 16), 1, 1, 1, 1, 0, 0, 0, 0, 0],  # 4
        ["E-02", d(2026, 1, 7), 2, 2, 2, 2, 2, 2, 2, 1, 0],   # 15
    ])
    guess, mapping = mapping_for(path)
    assert guess.row == 3 and guess.title == ("Eastgate Clinic - PHQ-9 (items) export",)
    assert mapping.columns["q9"] == "phq9_9" and mapping.columns["patient pseudonym"] == "patient_id"
    report = validate_questionnaires(read_source(path, mapping=mapping))
    assert report.ok
    f = report.frame
    assert f[["patient_id", "day", "phq9_total", "line"]].values.tolist() == [
        ["E-01", 0, 16, 4], ["E-01", 42, 4, 5], ["E-02", 0, 15, 6]]


def test_excel_bad_cell_is_named_by_its_sheet_row(tmp_path):
    path = excel_with_title(tmp_path / "bad.xlsx", [
        ITEMS_HEADER, ["E-01", dt.datetime(2026, 1, 5), 3, 3, 2, 2, 2, 1, 1, 1, 7]])
    _, mapping = mapping_for(path)
    err = validate_questionnaires(read_source(path, mapping=mapping)).errors.iloc[0]
    assert (err["line"], err["column"], err["value"]) == (4, "Q9", "7")


# ----------------------------------------------------------------------------- dates

@pytest.mark.parametrize("values, fmt, ambiguous", [
    (["03/02/2026", "03/12/2026", "04/13/2026"], "%m/%d/%Y", ()),     # month 13 does not exist: US
    (["13/02/2026", "03/12/2026"], "%d/%m/%Y", ()),                  # day 13 first: day first
    (["03/02/2026", "04/05/2026"], "%m/%d/%Y", ("%d/%m/%Y",)),        # no day above 12: US, said to be ambiguous
    (["2026-03-02", "2026-04-05T10:00"], "", ()),                    # ISO: no format needed
    (["3/2/26 9:30 AM", "3/16/26 14:05"], "%m/%d/%y", ()),           # time of day ignored
    (["25.03.2026"], "%d.%m.%Y", ()),
])
def test_date_format_suggestion(values, fmt, ambiguous):
    guess = suggest_date_format(values)
    assert (guess.format, guess.ambiguous_with, guess.share) == (fmt, ambiguous, 1.0)
    if ambiguous:
        assert "check a date you know" in guess.why


def test_no_dates_or_unknown_dates():
    assert suggest_date_format(["", None]).format == ""
    assert suggest_date_format(["March 2nd"]).share == 0.0


# ----------------------------------------------------------------------------- identifiers still refused

def test_date_of_birth_column_is_refused_whatever_the_mapping():
    rows = read_top_rows(EXPORTS / "ehr_with_dob.csv")
    found = matches(rows[0])
    assert "Date of Birth" not in found.values() and found["assessment_date"] == "Visit Date"
    mapping = mapping_from_choices(found, date_format="%m/%d/%Y")
    report = validate_questionnaires(read_source(EXPORTS / "ehr_with_dob.csv", mapping=mapping))
    assert not report.ok
    assert report.errors[["line", "column"]].values.tolist() == [[1, "Date of Birth"]]
    assert "a date of birth" in report.errors.iloc[0]["problem"]
    with pytest.raises(Exception, match="looks like a date of birth"):
        mapping_from_choices({"assessment_date": "Date of Birth"})
