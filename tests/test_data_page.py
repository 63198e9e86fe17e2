"""The Data page under AppTest: an export loaded without IT (mapping screen, title row, saved mapping),
refusals in the open, corrections previewed and accepted, reverts, and the import's warnings located."""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.audit import list_audit
from analytics.store import list_imports, read_store
from conftest import ROOT

EXPORTS = ROOT / "tests" / "data" / "exports"
CLI_WORDS = ("--accept-corrections", "--db", "python -m analytics", "command line flag")


@pytest.fixture
def store(monkeypatch, tmp_path):
    db = tmp_path / "clinic.sqlite"
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    monkeypatch.setenv("OUTCOMES_MAPPINGS", str(tmp_path / "mappings"))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    return db


def data_page():
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    return at


def choose(at, path, name=None):
    uploader = next(u for u in at.file_uploader if u.label == "Questionnaire export")
    uploader.set_value((name or path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    return at


def box(at, label):
    return next(s for s in at.selectbox if s.label.rstrip(" *") == label)


def preview(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "Line" in d.value.columns and "Patient pseudonym" in d.value.columns)


def texts(at) -> str:
    parts = [e.value for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def test_title_row_export_through_the_mapping_screen(store):
    at = choose(data_page(), EXPORTS / "ehr_title_row.csv")
    assert at.number_input[0].label == "Row holding the column headers" and at.number_input[0].value == 4
    assert "Westlake Ketamine Clinic - PHQ-9 Flowsheet" in texts(at)
    assert {box(at, "Patient pseudonym (patient id)").value, box(at, "Date of the questionnaire (date of service)").value,
            box(at, "PHQ-9 total").value, box(at, "PHQ-9 item 9 (thoughts of self-harm / better off dead)").value,
            box(at, "Site").value, box(at, "Infusion number").value} == \
        {"Pt ID", "DOS", "PHQ9 Score", "Thoughts of self-harm (Q9)", "Clinic Location", "Infusion No"}
    assert box(at, "How dates are written").value == "%m/%d/%Y"
    first = preview(at).iloc[0]
    assert (first["Line"], first["Patient pseudonym"], first["Date"], first["PHQ-9 total"], first["Site"]) == \
        (5, "W-0001", "2026-03-02", "21", "Westlake")

    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    success = at.success[0].value
    assert "ehr\\_title\\_row.csv: import 1 done" in success and "now shows the clinic store" in success
    assert at.selectbox(key="source").value == "store"  # the page switched to the store
    assert read_store(store).counts["questionnaires"] == 8
    assert not [u for u in at.file_uploader if u.label == "Questionnaire export" and u.value is not None]


def test_a_wrong_header_row_is_corrected_by_the_user(store):
    at = choose(data_page(), EXPORTS / "ehr_title_row.csv")
    at.number_input[0].set_value(1).run()
    assert box(at, "Patient pseudonym (patient id)").value == "— not in this file —"
    assert "Still to match" in texts(at)
    at.number_input[0].set_value(4).run()
    assert box(at, "Patient pseudonym (patient id)").value == "Pt ID"


def test_saved_mapping_is_offered_for_the_next_export(store, tmp_path):
    at = choose(data_page(), EXPORTS / "ehr_title_row.csv")
    at.text_input(key="mapping_name").set_value("Westlake flowsheet")
    next(b for b in at.button if b.label == "Save mapping").click().run()
    assert not at.exception, at.exception
    assert any("Saved as Westlake flowsheet" in s.value for s in at.success)
    saved = list((tmp_path / "mappings").iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("mapping-")

    # next quarter's export, same layout, more rows: the saved mapping is chosen and fills in the matches
    later = tmp_path / "westlake_q2.csv"
    later.write_text((EXPORTS / "ehr_title_row.csv").read_text() + "W-0004,05/04/2026,05/04/2026,16,1,,Westlake,1\n")
    at = choose(data_page(), later)
    assert box(at, "Match the columns").value == "Westlake flowsheet"
    assert box(at, "Patient pseudonym (patient id)").value == "Pt ID" and at.number_input[0].value == 4
    at.button(key="do_import").click().run()
    assert "import 1 done" in at.success[0].value
    assert list_imports(store)["mapping"].tolist() == ["Westlake flowsheet"]


def test_date_of_birth_is_refused_in_the_open(store):
    at = choose(data_page(), EXPORTS / "ehr_with_dob.csv")
    assert any("Date of Birth" in e.value and "a date of birth" in e.value for e in at.error)
    at.button(key="do_import").click().run()
    title = [e.value for e in at.error if "refused: nothing was imported" in e.value]
    assert title and "ehr\\_with\\_dob.csv refused: nothing was imported" in title[0]
    problems = next(d.value for d in at.dataframe if "Problem" in d.value.columns)
    assert problems.iloc[0]["Column"] == "Date of Birth" and problems.iloc[0]["Line"] == 1
    assert not at.expander or all("Problem" not in str(e) for e in at.expander)  # not hidden in a collapsed box
    assert not store.exists() or list_imports(store).empty
    assert not any(w in texts(at) for w in CLI_WORDS)


def test_totals_only_overlap_then_accepted_correction_then_revert(store, tmp_path):
    at = choose(data_page(), EXPORTS / "ehr_title_row.csv")
    at.button(key="do_import").click().run()
    before = read_store(store).frame

    # the EHR's totals-only flowsheet of the same visits, plus one new one: nothing stored is wiped
    at = choose(at, EXPORTS / "ehr_totals_only.csv")
    assert box(at, "Patient pseudonym (patient id)").value == "Patient Pseudonym"
    assert box(at, "Date of the questionnaire (date of service)").value == "Date Completed"
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    assert "1 questionnaire(s) added, 5 already present, 0 corrected" in at.success[0].value.replace("\\", "")
    after = read_store(store).frame
    kept = after[(after["patient_id"] == "W-0001") & (after["day"] == 7)].iloc[0]
    assert (kept["phq9_total"], kept["phq9_9"], kept["gad7_total"], kept["site"], kept["infusion_number"]) == \
        (15, 1, 12, "Westlake", 4)
    assert len(after) == len(before) + 1

    # a corrected total: previewed old -> new, accepted from the browser
    fixed = tmp_path / "ehr_totals_fixed.csv"
    fixed.write_text((EXPORTS / "ehr_totals_only.csv").read_text().replace("W-0002,04/14/2026,4", "W-0002,04/14/2026,5"))
    at = choose(at, fixed)
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    change = next(d.value for d in at.dataframe if "Changes" in d.value.columns)
    assert change.to_dict("records") == [{"Patient": "W-0002", "Questionnaire": "2026-04-14", "Line": 6,
                                          "Changes": "PHQ-9 total: 4 → 5"}]
    assert any("refused: nothing was imported" in e.value for e in at.error)
    assert not any(w in texts(at) for w in CLI_WORDS)
    at.button(key="accept_corrections").click().run()
    assert not at.exception, at.exception
    assert "1 corrected" in at.success[0].value
    frame = read_store(store).frame
    assert frame[(frame["patient_id"] == "W-0002") & (frame["day"] == 41)]["phq9_total"].tolist() == [5]

    # revert the correction from the page: the old total is back, and the trail says who did it
    at.selectbox(key="revert_id").set_value(3).run()
    assert at.button(key="do_revert").disabled
    at.checkbox(key="revert_confirm").check().run()
    at.button(key="do_revert").click().run()
    assert not at.exception, at.exception
    assert any("Import 3 reverted" in s.value and "1 restored" in s.value for s in at.success)
    frame = read_store(store).frame
    assert frame[(frame["patient_id"] == "W-0002") & (frame["day"] == 41)]["phq9_total"].tolist() == [4]
    trail = list_audit(store)
    assert trail["action"].tolist()[-1] == "revert" and trail["user"].tolist()[-1] == "local"


def test_import_warnings_are_listed_with_file_patient_and_date(store, tmp_path):
    export = tmp_path / "ehr_march.csv"
    export.write_text("Patient ID,Date of Service,PHQ-9 Total Score\n"
                      "K0301,03/02/2026,20\n"
                      "K0301,03/02/2026,20\n"        # line 3: exact duplicate, collapsed
                      "K0302,03/09/2026,\n")          # line 4: no score: incomplete, and no baseline
    at = choose(data_page(), export)
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    warnings = next(d.value for d in at.dataframe if {"File", "Patient", "Date"} <= set(d.value.columns))
    rows = warnings.set_index("Line")
    assert rows.loc[3, "File"] == "ehr_march.csv" and rows.loc[3, "Patient"] == "K0301" and \
        rows.loc[3, "Date"] == "2026-03-02"
    assert set(warnings.loc[warnings["Line"] == 4, "Patient"]) == {"K0302"}


def test_revert_is_for_directors_only(store):
    """Only a director may revert (with sign-in configured, researchers are given another role)."""
    from analytics.store import import_questionnaires

    import_questionnaires(ROOT / "sample_data" / "tiny_clinic.csv", db=store)
    for role, offered in (("director", True), ("researcher", False)):
        at = AppTest.from_file(str(ROOT / "app_pages" / "data.py"), default_timeout=120)
        at.session_state["role"] = role
        at.run()
        assert not at.exception, at.exception
        assert ("revert_id" in [s.key for s in at.selectbox]) is offered
        assert any("Not available" in t.value for t in at.title) is not offered


def test_a_mapping_file_written_by_it_still_works(store):
    at = choose(data_page(), ROOT / "sample_data" / "examples" / "ehr_export.csv")
    mapping = ROOT / "sample_data" / "mappings" / "ehr_export.toml"
    next(u for u in at.file_uploader if u.label == "Column mapping (optional, TOML)").set_value(
        ("ehr_export.toml", mapping.read_bytes(), "application/toml")).run()
    assert box(at, "PHQ-9 item 9 (thoughts of self-harm / better off dead)").value == "Q9"
    assert box(at, "How dates are written").value == "%m/%d/%Y"
    at.button(key="do_import").click().run()
    assert "import 1 done" in at.success[0].value and read_store(store).counts["questionnaires"] == 7


def test_store_messages_name_no_command_line_flag(monkeypatch, tmp_path):
    """The store's messages are written for the command line too; on the page they name no flag."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    monkeypatch.setenv("OUTCOMES_DB", str(folder))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    at = choose(data_page(), ROOT / "sample_data" / "tiny_clinic.csv")
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "this is a folder, not a store file" in errors and "refused: nothing was imported" in errors
    assert "OUTCOMES\\_DB" in errors and not any(w in texts(at) for w in CLI_WORDS)


def test_a_refusal_after_a_correction_preview_is_still_shown(store, tmp_path):
    at = choose(data_page(), EXPORTS / "ehr_totals_only.csv")
    at.button(key="do_import").click().run()
    fixed = tmp_path / "fixed.csv"
    fixed.write_text((EXPORTS / "ehr_totals_only.csv").read_text().replace("W-0001,03/02/2026,21",
                                                                           "W-0001,03/02/2026,22"))
    at = choose(at, fixed)
    at.button(key="do_import").click().run()
    assert at.button(key="accept_corrections")  # the preview is offered
    at = choose(at, EXPORTS / "ehr_with_dob.csv")
    at.button(key="do_import").click().run()
    assert any("ehr\\_with\\_dob.csv refused: nothing was imported" in e.value for e in at.error)
    assert next(d.value for d in at.dataframe if "Problem" in d.value.columns).iloc[0]["Column"] == "Date of Birth"


def test_a_headerless_index_column_is_left_out_on_the_mapping_screen(store, tmp_path):
    """A pandas-written CSV (its index column has a blank header): refused as it is, imported once that column is
    left out, and the saved mapping remembers it."""
    indexed = ROOT / "tests" / "data" / "bad" / "index_column_without_header.csv"
    at = choose(data_page(), indexed)
    leave_out = next(m for m in at.multiselect if m.label == "Columns not to import")
    assert leave_out.options[0] == "#1 (no header): first values 0, 1" and leave_out.value == []
    assert "A column without a header is refused unless it is left out here" in texts(at)
    at.button(key="do_import").click().run()
    assert "refused: nothing was imported" in texts(at) and not store.exists()
    problems = next(d.value for d in at.dataframe if "Problem" in d.value.columns or "problem" in d.value.columns)
    assert "a column has no header" in problems.to_string()

    at = choose(data_page(), indexed)
    next(m for m in at.multiselect if m.label == "Columns not to import").select("#1 (no header)").run()
    assert not at.exception, at.exception
    assert "left out as the mapping says, not imported: #1 \\(no header\\)" in texts(at)  # markdown-escaped
    at.text_input(key="mapping_name").set_value("pandas export")
    next(b for b in at.button if b.label == "Save mapping").click().run()
    at.button(key="do_import").click().run()
    assert "import 1 done" in at.success[0].value
    assert read_store(store).counts["questionnaires"] == 2

    at = choose(data_page(), indexed)  # the saved layout fits: it comes back with the column left out
    assert box(at, "Match the columns").value == "pandas export"
    assert next(m for m in at.multiselect if m.label == "Columns not to import").value == ["#1 (no header)"]


def test_an_empty_column_without_a_header_can_be_left_out_too(store, tmp_path):
    """Lines that all end with a comma (a spreadsheet's habit) make an empty column without a header: the reader
    refuses it like any other, so the screen offers it."""
    lines = (ROOT / "tests" / "data" / "bad" / "index_column_without_header.csv").read_text().splitlines()
    trailing = tmp_path / "trailing_commas.csv"
    trailing.write_text("\n".join(line + "," for line in lines) + "\n")
    at = choose(data_page(), trailing)
    box_ = next(m for m in at.multiselect if m.label == "Columns not to import")
    assert box_.options[:2] == ["#1 (no header): first values 0, 1", "#13 (no header): empty in the first rows"]
    box_.select("#1 (no header)").select("#13 (no header)").run()
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    assert "import 1 done" in at.success[0].value
    assert read_store(store).counts["questionnaires"] == 2
