"""Validation: every refusal names the line and column; warnings say what was done."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from analytics import (
    QuestionnaireValidationError,
    UnreadableFileError,
    load_questionnaires,
    validate_questionnaires,
)
from analytics.validation import MAX_PROBLEMS_PER_KIND, identifier_column_reason
from conftest import SAMPLE

HEADER = "patient_id,assessment_date," + ",".join(f"phq9_{i}" for i in range(1, 10))
ROW_A0 = "001,2025-01-06,2,2,2,2,2,2,2,2,1"   # total 17, SI 1
ROW_A1 = "001,2025-02-17,1,1,0,0,0,0,0,0,0"   # total 2
ROW_B0 = "002,2025-01-10,3,3,3,1,1,1,1,1,0"   # total 14


def csv_text(*rows, header=HEADER):
    return "\n".join([header, *rows]) + "\n"


def problems(report):
    return {(row.line, row.column) for row in report.errors.itertuples()}


def only_error(report):
    assert not report.ok and report.frame is None
    assert len(report.errors) == 1, report.errors
    return report.errors.iloc[0]


def test_valid_file_loads(write_csv):
    report = validate_questionnaires(write_csv(csv_text(ROW_A0, ROW_A1, ROW_B0)))
    assert report.ok and report.errors.empty
    f = report.frame
    assert list(f["patient_id"]) == ["001", "001", "002"]  # leading zeros kept
    assert list(f["phq9_total"]) == [17, 2, 14]
    assert list(f["day"]) == [0, 42, 0]  # from each patient's first complete questionnaire
    assert report.counts["patients"] == 2 and report.counts["questionnaires"] == 3
    assert len(report.sha256) == 64


def test_headers_match_case_and_spaces(write_csv):
    header = " Patient_ID , Assessment_Date ," + ",".join(f" PHQ9_{i} " for i in range(1, 10))
    assert validate_questionnaires(write_csv(csv_text(ROW_A0, header=header))).ok


# ---------------------------------------------------------------- schema errors (line 1)

@pytest.mark.parametrize("drop, column", [
    ("patient_id", "patient_id"),
    ("assessment_date", "assessment_date"),
])
def test_missing_required_column(write_csv, drop, column):
    frame = pd.read_csv(io.StringIO(csv_text(ROW_A0)), dtype=str).drop(columns=drop)
    path = write_csv(frame.to_csv(index=False))
    err = only_error(validate_questionnaires(path))
    assert (err["line"], err["column"]) == (1, column)
    assert "required column is missing" in err["problem"]


def test_missing_phq9_columns(write_csv):
    frame = pd.read_csv(io.StringIO(csv_text(ROW_A0)), dtype=str).drop(columns=["phq9_4", "phq9_9"])
    err = only_error(validate_questionnaires(write_csv(frame.to_csv(index=False))))
    assert err["line"] == 1 and err["column"] == "phq9_4, phq9_9"
    assert "or phq9_total" in err["problem"]


def test_total_and_item9_format_is_accepted(write_csv):
    text = "patient_id,day,phq9_total,phq9_9\n001,0,17,1\n001,42,4,0\n001,44,,0\n"
    report = validate_questionnaires(write_csv(text))
    assert report.ok
    assert list(report.frame["complete"]) == [True, True, False]
    assert report.counts["incomplete"] == 1


@pytest.mark.parametrize("header, what", [
    ("name", "name"), ("Patient Name", "name"), ("first_name", "name"), ("Date of Birth", "birth"),
    ("DOB", "birth"), ("SSN", "social security"), ("MRN", "medical record"), ("Home Address", "address"),
    ("ZIP", "address"), ("zip_code", "address"), ("Phone", "telephone"), ("E-mail", "e-mail"),
    ("email_address", "e-mail"),
])
def test_identifier_columns_are_refused(write_csv, header, what):
    rows = [r + ",x" for r in (ROW_A0,)]
    report = validate_questionnaires(write_csv(csv_text(*rows, header=HEADER + f",{header}")))
    err = only_error(report)
    assert (err["line"], err["column"]) == (1, header)
    assert what in err["problem"] and "only accepts de-identified data" in err["problem"]


@pytest.mark.parametrize("header", ["site", "clinician", "protocol", "diagnosis", "age_band", "sex",
                                    "infusion_number", "site_name", "clinician_name", "gad7_1"])
def test_attribute_columns_are_not_identifiers(header):
    assert identifier_column_reason(header) is None


@pytest.mark.parametrize("pid, what", [
    ("123-45-6789", "social security"), ("jane.doe@example.org", "e-mail"),
    ("(555) 123-4567", "telephone"), ("555-123-4567", "telephone"),
])
def test_patient_id_that_is_an_identifier(write_csv, pid, what):
    report = validate_questionnaires(write_csv(csv_text(ROW_B0, f'"{pid}"' + ROW_A0[3:])))
    err = only_error(report)
    assert (err["line"], err["column"], err["value"]) == (3, "patient_id", pid)
    assert what in err["problem"] and "de-identified" in err["problem"]


def test_numeric_pseudonyms_are_fine(write_csv):
    assert validate_questionnaires(write_csv(csv_text("5551234567" + ROW_A0[3:], "000000042" + ROW_A0[3:]))).ok


def test_age_over_89_is_refused(write_csv):
    report = validate_questionnaires(write_csv(csv_text(ROW_A0 + ",45", ROW_B0 + ",92", header=HEADER + ",age")))
    err = only_error(report)
    assert (err["line"], err["column"], err["value"]) == (3, "age", "92") and "90+" in err["problem"]


def test_duplicate_header(write_csv):
    report = validate_questionnaires(write_csv(csv_text(ROW_A0 + ",x,y", header=HEADER + ",site,SITE")))
    assert (1, "SITE") in problems(report)


# ---------------------------------------------------------------- unreadable files

def test_unreadable_files(tmp_path, write_csv):
    with pytest.raises(UnreadableFileError, match="no such file"):
        validate_questionnaires(tmp_path / "missing.csv")
    with pytest.raises(UnreadableFileError, match=r"\.csv, \.xlsx, \.parquet"):
        validate_questionnaires(write_csv("a,b\n1,2\n", "data.txt"))
    with pytest.raises(UnreadableFileError, match="empty"):
        validate_questionnaires(write_csv(""))
    with pytest.raises(UnreadableFileError, match="line 3") as exc:
        validate_questionnaires(write_csv(csv_text(ROW_A0, ROW_A0 + ",extra,cells")))
    # one exception type for every refusal, with the problem as a table
    assert isinstance(exc.value, QuestionnaireValidationError)
    assert exc.value.problems.iloc[0]["line"] == 3
    binary = tmp_path / "sheet.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(UnreadableFileError, match="renamed to .csv"):
        validate_questionnaires(binary)
    latin = tmp_path / "latin.csv"
    latin.write_bytes((csv_text(ROW_A0) + "003,2025-01-01,0,0,0,0,0,0,0,0,0\n").encode() + "caf\xe9".encode("latin-1"))
    with pytest.raises(UnreadableFileError, match="line 4 is not valid UTF-8"):
        validate_questionnaires(latin)
    for name in ("bad.xlsx", "bad.parquet"):
        (tmp_path / name).write_bytes(b"not really a spreadsheet")
        with pytest.raises(UnreadableFileError, match="cannot be"):
            validate_questionnaires(tmp_path / name)


def test_header_only_has_no_data_rows(write_csv):
    err = only_error(validate_questionnaires(write_csv(csv_text())))
    assert err["line"] == 2 and "no data rows" in err["problem"]


# ---------------------------------------------------------------- cell errors, all reported at once

def test_cell_errors_name_line_and_column(write_csv):
    rows = [
        ROW_A0,
        "001,2025-02-17,4,1,0,0,0,0,0,0,0",        # line 3: item 4 out of range
        "002,2025-13-01,1,1,0,0,0,0,0,0,0",        # line 4: bad date
        "003,03/04/2025,1,1,0,0,0,0,0,0,0",        # line 5: not ISO
        "004,2025-01-01,1,abc,0,0,0,0,0,0,0",      # line 6: not a number
        "005,2025-01-01,1,1.5,0,0,0,0,0,0,0",      # line 7: not whole
        "006,2025-01-01,1,-1,0,0,0,0,0,0,0",       # line 8: negative
        ",2025-01-01,1,1,0,0,0,0,0,0,0",           # line 9: blank patient
        "007,,1,1,0,0,0,0,0,0,0",                  # line 10: no time
    ]
    report = validate_questionnaires(write_csv(csv_text(*rows)))
    assert problems(report) == {(3, "phq9_1"), (4, "assessment_date"), (5, "assessment_date"),
                                (6, "phq9_2"), (7, "phq9_2"), (8, "phq9_2"), (9, "patient_id"),
                                (10, "assessment_date")}
    by_line = report.errors.set_index("line")
    assert "0 to 3" in by_line.loc[3, "problem"] and by_line.loc[3, "value"] == "4"
    assert "YYYY-MM-DD" in by_line.loc[4, "problem"] and by_line.loc[5, "value"] == "03/04/2025"
    assert "whole number" in by_line.loc[6, "problem"]
    with pytest.raises(QuestionnaireValidationError) as exc:
        load_questionnaires(write_csv(csv_text(*rows), "again.csv"))
    assert len(exc.value.problems) == 8 and "line 3, column phq9_1" in str(exc.value)


def test_total_out_of_range_and_disagreeing(write_csv):
    header = HEADER + ",phq9_total"
    report = validate_questionnaires(write_csv(csv_text(ROW_A0 + ",18", ROW_B0 + ",14", "003,2025-01-01,,,,,,,,,1,28",
                                                        header=header)))
    assert problems(report) == {(2, "phq9_total"), (4, "phq9_total")}
    by_line = report.errors.set_index("line")
    assert "sum of its items" in by_line.loc[2, "problem"]
    assert "0 to 27" in by_line.loc[4, "problem"]


def test_same_patient_and_date_with_different_scores(write_csv):
    report = validate_questionnaires(write_csv(csv_text(ROW_A0, ROW_B0, "001,2025-01-06,0,0,0,0,0,0,0,0,0")))
    err = only_error(report)
    assert (err["line"], err["column"], err["value"]) == (4, "patient_id", "001")
    assert "line 2" in err["problem"] and "different scores" in err["problem"]


def test_two_treatment_start_dates_are_two_episodes(write_csv):
    # spec v1 refused a second start date; spec v2 makes it the patient's second episode
    header = HEADER + ",treatment_start_date"
    report = validate_questionnaires(write_csv(csv_text(ROW_A0 + ",2025-01-06", ROW_B0 + ",2025-01-10",
                                                        ROW_A1 + ",2025-01-20", header=header)))
    assert report.ok, report.errors
    f = report.frame.set_index("line")
    # 001: 2025-01-06 in episode 1 (day 0); 2025-02-17 in episode 2 (started 2025-01-20): day 28
    assert (f.loc[2, "episode"], f.loc[2, "day"]) == (1, 0)
    assert (f.loc[4, "episode"], f.loc[4, "day"]) == (2, 28)
    assert report.counts["episodes"] == 3 and report.counts["patients"] == 2


def test_day_column_range_and_type(write_csv):
    text = "patient_id,day,phq9_total,phq9_9\n001,0,17,1\n001,x,4,0\n001,5000,3,0\n"
    report = validate_questionnaires(write_csv(text))
    assert problems(report) == {(3, "day"), (4, "day")}


def test_multiline_quoted_cell_keeps_line_numbers(write_csv):
    header = HEADER + ",protocol"  # not "note": free-text columns are refused
    text = csv_text(ROW_A0 + ',"two\nlines"', ROW_B0[:-1] + "9,x", header=header)
    report = validate_questionnaires(write_csv(text))
    err = only_error(report)
    assert (err["line"], err["column"]) == (4, "phq9_9")  # the row starts on file line 4


def test_blank_lines_are_skipped_and_counted(write_csv):
    report = validate_questionnaires(write_csv(csv_text(ROW_A0, "", ",,,,,,,,,,", "002,2025-01-10,9,3,3,1,1,1,1,1,0")))
    err = only_error(report)
    assert err["line"] == 5  # blank lines 3 and 4 still count
    ok = validate_questionnaires(write_csv(csv_text(ROW_A0, "", ROW_B0)))
    assert ok.ok and ok.counts["blank_rows_skipped"] == 1


def test_duplicate_warnings_are_capped_as_one_kind(write_csv):
    rows = [f"{i:04d},2025-01-01,2,2,2,2,2,2,2,2,1" for i in range(MAX_PROBLEMS_PER_KIND + 30)]
    report = validate_questionnaires(write_csv(csv_text(*rows, *rows)))
    assert report.ok and report.counts["duplicates_collapsed"] == MAX_PROBLEMS_PER_KIND + 30
    dup = report.warnings[report.warnings["problem"].str.contains("duplicate")]
    assert len(dup) == MAX_PROBLEMS_PER_KIND + 1 and "and 30 more rows" in dup.iloc[-1]["problem"]


def test_problem_table_is_capped_per_kind(write_csv):
    rows = [f"{i:04d},2025-01-01,9,0,0,0,0,0,0,0,0" for i in range(MAX_PROBLEMS_PER_KIND + 50)]
    report = validate_questionnaires(write_csv(csv_text(*rows)))
    assert len(report.errors) == MAX_PROBLEMS_PER_KIND + 1
    assert "and 50 more rows" in report.errors.iloc[-1]["problem"]


# ---------------------------------------------------------------- warnings: the file is used

def test_warnings_duplicates_incomplete_and_no_baseline(write_csv):
    rows = [ROW_A0, ROW_A0, ROW_A1, "001,2025-02-20,1,,0,0,0,0,0,0,0",
            ROW_B0, "003,2025-01-10,,,,,,,,,"]
    report = validate_questionnaires(write_csv(csv_text(*rows)))
    assert report.ok
    c = report.counts
    assert (c["rows_read"], c["questionnaires"], c["duplicates_collapsed"], c["incomplete"]) == (6, 5, 1, 2)
    assert c["patients_without_baseline"] == 1  # 003 never has a complete questionnaire
    w = report.warnings.set_index("line")
    assert "exact duplicate of line 2" in w.loc[3, "problem"]
    assert w.loc[5, "column"] == "phq9_2" and "left out of outcomes" in w.loc[5, "problem"]
    assert w.loc[[7], "problem"].str.contains("no baseline").any()  # and its incomplete row
    assert w.loc[[7], "problem"].str.contains("incomplete").any()


def test_same_scores_but_other_columns_differ_is_refused(write_csv):
    header = HEADER + ",site"
    report = validate_questionnaires(write_csv(csv_text(ROW_A0 + ",North", ROW_A0 + ",South", header=header)))
    err = only_error(report)
    assert err["line"] == 3 and "other columns different" in err["problem"]


# ---------------------------------------------------------------- other formats give the same frame

def test_xlsx_and_parquet_match_csv(tmp_path):
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(300)
    csv_path = tmp_path / "s.csv"
    raw.to_csv(csv_path, index=False)
    xlsx_path = tmp_path / "s.xlsx"
    typed = pd.read_csv(csv_path, dtype={"patient_id": str})
    typed.to_excel(xlsx_path, index=False)
    parquet_path = tmp_path / "s.parquet"
    typed.to_parquet(parquet_path, index=False)
    base = load_questionnaires(csv_path)
    for path in (xlsx_path, parquet_path):
        other = load_questionnaires(path)
        pd.testing.assert_frame_equal(base.drop(columns="line"), other.drop(columns="line"), check_dtype=False)
        assert list(other["line"]) == list(base["line"])


def test_sample_clinic_is_usable():
    report = validate_questionnaires(SAMPLE)
    assert report.ok
    assert report.counts["patients"] == 599 and report.counts["duplicates_collapsed"] > 0
    text = report.to_text()
    assert "usable" in text and "Warnings" in text


def test_same_day_but_different_dates_is_refused(write_csv):
    header = "patient_id,day,assessment_date,phq9_total,phq9_9"
    text = "\n".join([header, "001,0,2025-01-01,12,1", "001,0,2025-01-02,12,1"]) + "\n"
    err = only_error(validate_questionnaires(write_csv(text)))
    assert err["line"] == 3 and "other columns different" in err["problem"]


def test_day_limit_is_inclusive_both_ways(write_csv):
    # DAY_LIMIT = 3650: days -3650 and 3650 load; 3651 and -3651 are refused with their lines
    text = "patient_id,day,phq9_total,phq9_9\n001,0,17,1\n001,3650,3,0\n002,-3650,15,1\n002,0,14,1\n"
    assert validate_questionnaires(write_csv(text)).ok
    text = "patient_id,day,phq9_total,phq9_9\n001,0,17,1\n001,3651,3,0\n002,-3651,15,1\n002,0,14,1\n"
    assert problems(validate_questionnaires(write_csv(text))) == {(3, "day"), (4, "day")}


def test_assessment_date_limit_is_inclusive(write_csv):
    header = "patient_id,assessment_date,treatment_start_date,phq9_total,phq9_9"
    # 2020-01-01 + 3650 days = 2029-12-29; + 3651 days = 2029-12-30
    ok = validate_questionnaires(write_csv(csv_text("001,2020-01-01,2020-01-01,17,1", "001,2029-12-29,2020-01-01,3,0",
                                                    header=header)))
    assert ok.ok, ok.errors
    far = validate_questionnaires(write_csv(csv_text("001,2020-01-01,2020-01-01,17,1",
                                                     "001,2029-12-30,2020-01-01,3,0", header=header)))
    assert problems(far) == {(3, "assessment_date")}


@pytest.mark.parametrize("blank_between", [False, True])
def test_infusion_number_falling_within_an_episode_is_warned_naming_both_lines(blank_between):
    """Worked by hand: P1's infusions 1, 3, 2 (line 4 falls from line 3), P2's 5 then 4 (line 7 falls from line
    6); a blank infusion number between two known ones is skipped, so the warning still names the known line."""
    days = [0, 7, 14, 21, 0, 7]
    infusions = [1, 3, pd.NA if blank_between else 3, 2, 5, 4]
    frame = pd.DataFrame({
        "patient_id": ["P1", "P1", "P1", "P1", "P2", "P2"],
        "day": days,
        "infusion_number": pd.array(infusions, dtype="Int16"),
        **{f"phq9_{i}": [1] * 6 for i in range(1, 10)},
    })
    report = validate_questionnaires(frame)
    assert report.ok
    falls = report.warnings[report.warnings["column"] == "infusion_number"]
    assert falls["line"].tolist() == [5, 7]
    assert falls["value"].tolist() == ["2", "4"]
    first = "3 (line 3)" if blank_between else "3 (line 4)"
    assert falls["problem"].tolist() == [
        f"infusion_number falls from {first} to 2 in the same episode; check both lines (a new course needs its "
        "own treatment_start_date)",
        "infusion_number falls from 5 (line 6) to 4 in the same episode; check both lines (a new course needs its "
        "own treatment_start_date)"]


def test_a_far_date_of_a_parquet_file_is_named_as_written_after_its_column_is_freed(tmp_path):
    """A Parquet file's whole-day dates are freed once parsed; a date found too far from its start afterwards
    is reported with the date as written, as when the column is read as timestamps and kept."""
    from analytics.loading import read_table
    from analytics.synthetic import synthetic_clinic

    frame = synthetic_clinic(30, seed=4, dates_as_text=False)
    frame.loc[[7, 40], "assessment_date"] = frame.loc[[7, 40], "assessment_date"] + pd.Timedelta(days=4000)
    path = tmp_path / "far.parquet"
    frame.to_parquet(path, index=False)
    freed = validate_questionnaires(path)  # scores and whole-day dates read Arrow-backed
    kept = validate_questionnaires(read_table(path))  # timestamps, never freed
    assert str(read_table(path, arrow_integers=("phq9_1",)).frame["assessment_date"].dtype).startswith("date32")
    pd.testing.assert_frame_equal(freed.errors, kept.errors)
    far = freed.errors[freed.errors["problem"].str.contains("days from the treatment start")]
    assert sorted(far["line"]) == [9, 42]
    assert list(far["value"]) == [str(d.date()) for d in frame.loc[[7, 40], "assessment_date"]]


@pytest.mark.parametrize("apart", [True, False])
def test_a_parquet_file_digest_is_its_bytes_sha256_whichever_thread_computes_it(tmp_path, monkeypatch, apart):
    import hashlib

    from analytics import loading
    from analytics.synthetic import synthetic_clinic

    monkeypatch.setattr(loading, "_HASHED_APART_BYTES", 0 if apart else 10 ** 12)
    path = tmp_path / "c.parquet"
    synthetic_clinic(10, seed=2, dates_as_text=False).to_parquet(path, index=False)
    assert loading.read_table(path).sha256 == validate_questionnaires(path).sha256 == \
        hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes()[:-40])  # a damaged file is refused, the digest thread stopped with it
    with pytest.raises(loading.UnreadableFileError, match="Parquet file cannot be read"):
        loading.read_table(path)
