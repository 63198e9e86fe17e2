"""Column mappings for exports whose headers differ from the input contract."""
from __future__ import annotations

import pytest

from analytics import AnalyticsError, validate_questionnaires
from analytics.mapping import load_mapping
from analytics.sources import read_source
from conftest import ROOT

EXAMPLES = ROOT / "sample_data" / "examples"
MAPPINGS = ROOT / "sample_data" / "mappings"


def test_ehr_export_with_mapping():
    raw = read_source(EXAMPLES / "ehr_export.csv", mapping=MAPPINGS / "ehr_export.toml")
    report = validate_questionnaires(raw)
    assert report.ok and report.counts["questionnaires"] == 7
    f = report.frame
    first = f[f["patient_id"] == "K0101"].iloc[0]
    assert str(first["assessment_date"].date()) == "2026-03-02"  # 03/02/2026 read as month/day
    assert (first["phq9_total"], first["phq9_9"], first["gad7_total"], first["site"]) == (21, 2, 15, "North")
    assert list(f[f["patient_id"] == "K0101"]["day"]) == [0, 10, 42]


def test_unparseable_date_is_reported_with_its_line(tmp_path):
    text = (EXAMPLES / "ehr_export.csv").read_text().replace("03/12/2026", "2026-13-45")
    path = tmp_path / "ehr.csv"
    path.write_text(text)
    report = validate_questionnaires(read_source(path, mapping=MAPPINGS / "ehr_export.toml"))
    err = report.errors.iloc[0]
    assert (err["line"], err["column"], err["value"]) == (3, "Date of Service", "2026-13-45")


def test_mapping_errors_are_clear(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[columns]\n"A" = "patient_id"\n"B" = "patient_id"\n')
    with pytest.raises(AnalyticsError, match="both map to patient_id"):
        load_mapping(bad)
    bad.write_text("not toml [")
    with pytest.raises(AnalyticsError, match="not a valid TOML"):
        load_mapping(bad)
    bad.write_text('[dates]\nformat = "%d"\n')
    with pytest.raises(AnalyticsError, match=r"\[columns\]"):
        load_mapping(bad)
    ok = tmp_path / "ok.toml"
    ok.write_text('[columns]\n"Nope" = "patient_id"\n')
    with pytest.raises(AnalyticsError, match="names header\\(s\\) not in the file: nope"):
        read_source(EXAMPLES / "ehr_export.csv", mapping=ok)


def test_mapping_cannot_smuggle_identifiers(tmp_path):
    path = tmp_path / "ehr.csv"
    lines = (EXAMPLES / "ehr_export.csv").read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",Patient Name"] + [line + ",x" for line in lines[1:]]) + "\n")
    report = validate_questionnaires(read_source(path, mapping=MAPPINGS / "ehr_export.toml"))
    assert not report.ok and report.errors.iloc[0]["column"] == "Patient Name"


@pytest.mark.parametrize("fmt, says", [
    ('"%m/%Q/%d/%Y"', 'format "%m/%Q/%d/%Y" is not a date format'),
    ('"%d/%m"', "does not give day, month and year"),
    ('"dd/mm/yyyy"', "does not give day, month and year"),
    ('""', "must be text"),
    ("5", "must be text"),
    ('["%d/%m/%Y"]', "must be text"),
    ('"%d/%d/%Y"', "does not give day, month and year"),
    ('"%m/%d/%Y %"', "is not a date format"),
])
def test_bad_date_format_is_refused_when_the_mapping_is_read(tmp_path, fmt, says):
    path = tmp_path / "m.toml"
    path.write_text(f'[columns]\n"Patient ID" = "patient_id"\n\n[dates]\nformat = {fmt}\n')
    with pytest.raises(AnalyticsError) as exc:
        load_mapping(path)
    assert "m.toml: [dates]" in str(exc.value) and says in str(exc.value)
    assert "%m/%d/%Y" in str(exc.value)  # says what is allowed


@pytest.mark.parametrize("fmt", ["%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%d %b %Y", "%m/%d/%y"])
def test_usual_date_formats_are_accepted(tmp_path, fmt):
    path = tmp_path / "m.toml"
    path.write_text(f'[columns]\n"Patient ID" = "patient_id"\n\n[dates]\nformat = "{fmt}"\n')
    assert load_mapping(path).date_format == fmt


@pytest.mark.parametrize("body, says", [
    ("[columns]\na = \"patient_id\"\nx = " + "[" * 3000 + "]" * 3000 + "\n", "nests lists or tables 3,000 levels"),
    ("[columns]\na = \"patient_id\"\nx = " + "{y = " * 3000 + "1" + "}" * 3000 + "\n", "nests lists or tables 3,000"),
    ("[columns]\na = \"patient_id\"\n[dates]\n" + "x" * 2_000_000 + " = 1\n", "at most 1,000,000 characters"),
    ("dates = 5\n[columns]\na = \"patient_id\"\n", "[dates] must be a table"),
    ("[columns]\na = \"patient_id\"\n[workbook]\nsheet = 3\n", "[workbook] sheet must be the sheet's name"),
])
def test_malformed_mapping_files_get_a_message(tmp_path, body, says):
    path = tmp_path / "m.toml"
    path.write_text(body)
    with pytest.raises(AnalyticsError) as exc:
        load_mapping(path)
    assert says in str(exc.value)


def test_mapping_messages_use_the_label_not_the_path(tmp_path):
    path = tmp_path / "upload-abc123.toml"
    path.write_text("not = toml = at all")
    with pytest.raises(AnalyticsError, match="^clinic mapping.toml: not a valid TOML mapping"):
        load_mapping(path, label="clinic mapping.toml")
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(AnalyticsError, match="this is a folder"):
        load_mapping(tmp_path / "folder.toml")


# ----------------------------------------------------------------------------- mappings built on screen, saved by name

def test_optional_columns_the_file_lacks_are_left_out_and_said(tmp_path):
    """One mapping for two exports of one EHR: the second has no item 9, GAD-7 or infusion column."""
    from analytics.mapping import mapping_from_choices

    mapping = mapping_from_choices({"patient_id": "Patient ID", "assessment_date": "Date of Service",
                                    "phq9_total": "PHQ-9 Total Score", "phq9_9": "Q9", "gad7_total": "GAD-7 Total Score",
                                    "infusion_number": "Infusion #"}, date_format="%m/%d/%Y")
    lean = tmp_path / "lean.csv"
    lean.write_text("Patient ID,Date of Service,PHQ-9 Total Score\nK1,03/02/2026,20\nK1,04/13/2026,9\n")
    raw = read_source(lean, mapping=mapping)
    assert any("optional column(s) not in this file, left out: q9 (phq9_9), gad-7 total score (gad7_total), "
               "infusion # (infusion_number)" in n for n in raw.notes)
    report = validate_questionnaires(raw)
    assert report.ok and report.frame["phq9_total"].tolist() == [20, 9]
    # the patient, the date and the PHQ-9 score are not optional
    no_total = tmp_path / "no_total.csv"
    no_total.write_text("Patient ID,Date of Service\nK1,03/02/2026\n")
    with pytest.raises(AnalyticsError, match="names header\\(s\\) not in the file: phq-9 total score"):
        read_source(no_total, mapping=mapping)


def test_saved_mapping_round_trip_keeps_headers_dates_and_header_row(tmp_path):
    from analytics.mapping import list_saved_mappings, load_saved_mapping, mapping_from_choices, save_mapping

    mapping = mapping_from_choices({"patient_id": "Pt ID", "assessment_date": "DOS", "phq9_total": "PHQ9 Score",
                                    "phq9_9": "Thoughts of self-harm (Q9)"}, date_format="%m/%d/%Y", header_row=4)
    written = {"pt id": "Pt ID", "dos": "DOS", "phq9 score": "PHQ9 Score",
               "thoughts of self-harm (q9)": "Thoughts of self-harm (Q9)"}
    path = save_mapping(mapping, "  Westlake\tflowsheet  ", folder=tmp_path, headers=written)
    assert path.parent == tmp_path and path.name.startswith("mapping-") and path.suffix == ".toml"
    text = path.read_text()
    assert '"Thoughts of self-harm (Q9)" = "phq9_9"' in text and "header_row = 4" in text
    again = load_saved_mapping("Westlake flowsheet", tmp_path)
    assert (again.name, again.columns, again.date_format, again.header_row) == \
        ("Westlake flowsheet", mapping.columns, "%m/%d/%Y", 4)
    assert [m.name for m in list_saved_mappings(tmp_path)] == ["Westlake flowsheet"]
    # saving the same name again replaces it; another name is another file
    save_mapping(mapping, "Westlake flowsheet", folder=tmp_path)
    save_mapping(mapping, "Eastgate", folder=tmp_path)
    assert [m.name for m in list_saved_mappings(tmp_path)] == ["Eastgate", "Westlake flowsheet"]
    with pytest.raises(AnalyticsError, match="no mapping is saved under the name 'Nope'"):
        load_saved_mapping("Nope", tmp_path)


@pytest.mark.parametrize("name", ["../../outside", "/etc/passwd", "C:\\Windows\\x", "..", "a/b\x00c", "名前 \"q\" \\"])
def test_a_mapping_name_is_never_a_path(tmp_path, name):
    from analytics.mapping import list_saved_mappings, mapping_from_choices, save_mapping

    folder = tmp_path / "mappings"
    mapping = mapping_from_choices({"patient_id": "Pt ID", "day": "Day", "phq9_total": "Total"})
    path = save_mapping(mapping, name, folder=folder)
    assert path.parent == folder and path.name.startswith("mapping-") and len(path.name) == len("mapping-") + 24 + 5
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == \
        ["mappings", f"mappings/{path.name}"]  # nothing else written anywhere
    assert [m.name for m in list_saved_mappings(folder)] == [" ".join(name.replace("\x00", " ").split())]


def test_a_mapping_needs_a_name_and_refuses_identifiers(tmp_path):
    from analytics.mapping import mapping_from_choices, save_mapping

    mapping = mapping_from_choices({"patient_id": "Pt ID", "day": "Day", "phq9_total": "Total"})
    with pytest.raises(AnalyticsError, match="give the mapping a name"):
        save_mapping(mapping, " \n ", folder=tmp_path)
    with pytest.raises(AnalyticsError, match="looks like a person's name"):
        mapping_from_choices({"patient_id": "Patient Name"})
    with pytest.raises(AnalyticsError, match="chosen for patient_id and site"):
        mapping_from_choices({"patient_id": "Pt ID", "site": "Pt ID"})


# ----------------------------------------------------------------------------- columns left out

INDEXED = ROOT / "tests" / "data" / "bad" / "index_column_without_header.csv"


def test_without_a_mapping_the_headerless_index_column_is_refused():
    report = validate_questionnaires(read_source(INDEXED))
    assert not report.ok
    assert report.errors[["line", "column"]].values.tolist() == [[1, "#1 (no header)"]]


def test_a_mapping_can_leave_out_a_headerless_index_column_and_a_note(tmp_path):
    """A pandas-written CSV (blank first header) imports once the mapping leaves its index column out."""
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"patient_id" = "patient_id"\n[leave_out]\ncolumns = ["#1", "Form Version"]\n')
    raw = read_source(INDEXED, mapping=mapping)
    assert list(raw.frame.columns)[:2] == ["patient_id", "assessment_date"]
    assert raw.problems.empty
    assert "left out as the mapping says, not imported: #1 (no header)" in raw.notes
    assert "the mapping leaves out column(s) this file does not have: form version" in raw.notes
    report = validate_questionnaires(raw)
    assert report.ok and report.frame["patient_id"].tolist() == ["P001", "P001"]
    # the same file's values, by hand: items 1-9 summed
    assert report.frame["phq9_total"].tolist() == [9, 3]


def test_a_left_out_column_with_a_header_is_dropped_by_its_header(tmp_path):
    csv = tmp_path / "notes.csv"
    csv.write_text("patient_id,assessment_date,phq9_total,Form Version\nA,2024-01-02,20,v2\n"
                   "A,2024-01-30,8,\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"patient_id" = "patient_id"\n[leave_out]\ncolumns = ["form version", "#3"]\n')
    raw = read_source(csv, mapping=mapping)
    assert "form version" not in raw.frame.columns
    assert "left out as the mapping says, not imported: Form Version" in raw.notes
    # "#3" names a column only when it has no header: column 3 has one, so it stays, and the note says why
    assert "phq9_total" in raw.frame.columns
    assert any("#3 (no column without a header there)" in n for n in raw.notes)
    assert validate_questionnaires(raw).ok


@pytest.mark.parametrize("body, says", [
    ('[columns]\n"ID" = "patient_id"\n[leave_out]\ncolumns = ["Patient Name"]\n', "Leaving it out is not enough"),
    ('[columns]\n"ID" = "patient_id"\n[leave_out]\ncolumns = ["id"]\n', "both mapped to patient_id and left out"),
    ('[columns]\n"ID" = "patient_id"\n[leave_out]\ncolumns = "Notes"\n', "\\[leave_out\\] must be a table"),
    ('[columns]\n"ID" = "patient_id"\n[leave_out]\ncolumns = [3]\n', "must be headers as text"),
])
def test_leave_out_refuses_identifiers_mapped_columns_and_bad_shapes(tmp_path, body, says):
    path = tmp_path / "m.toml"
    path.write_text(body)
    with pytest.raises(AnalyticsError, match=says):
        load_mapping(path)


def test_a_file_with_an_identifier_is_refused_even_when_the_mapping_could_not_leave_it_out(tmp_path):
    csv = tmp_path / "named.csv"
    csv.write_text("patient_id,assessment_date,phq9_total,Patient Name\nA,2024-01-02,20,Jane Roe\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"patient_id" = "patient_id"\n[leave_out]\ncolumns = ["#1"]\n')
    assert not validate_questionnaires(read_source(csv, mapping=mapping)).ok


def test_leave_out_survives_a_save_and_the_mapping_screen(tmp_path):
    from analytics.mapping import load_saved_mapping, mapping_from_choices, save_mapping

    mapping = mapping_from_choices({"patient_id": "patient_id", "assessment_date": "assessment_date"},
                                   leave_out=["#1", "Form Version"], name="indexed export")
    assert mapping.leave_out == ("#1", "form version")
    save_mapping(mapping, "indexed export", folder=tmp_path, headers={"form version": "Form Version"})
    again = load_saved_mapping("indexed export", tmp_path)
    assert again.leave_out == mapping.leave_out
    with pytest.raises(AnalyticsError, match="the mapping screen: \\[leave_out\\] \"Patient Name\""):
        mapping_from_choices({"patient_id": "patient_id"}, leave_out=["Patient Name"])


def test_the_leave_out_hint_is_a_mapping_that_loads(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[columns]\n"ID" = "patient_id"\n[leave_out]\ncolumns = "Form Version"\n')
    with pytest.raises(AnalyticsError, match="must be a table with columns") as refused:
        load_mapping(path)
    example = str(refused.value).split("columns = ")[1].split("]")[0] + "]"
    path.write_text(f'[columns]\n"ID" = "patient_id"\n[leave_out]\ncolumns = {example.replace(chr(92), "")}\n')
    assert load_mapping(path).leave_out == ("#1", "form version")
