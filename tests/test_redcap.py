"""REDCap flat CSV exports."""
from __future__ import annotations

from analytics import validate_questionnaires
from analytics.sources import read_source
from conftest import ROOT

EXAMPLE = ROOT / "sample_data" / "examples" / "redcap_export.csv"
MAPPING = ROOT / "sample_data" / "mappings" / "redcap_phq9.toml"


def test_redcap_export_reads_phq9_rows_only():
    raw = read_source(EXAMPLE, mapping=MAPPING)
    assert raw.file_format == "redcap"
    assert any("other REDCap instruments" in n for n in raw.notes)
    assert any("no PHQ-9 answer" in n for n in raw.notes)
    report = validate_questionnaires(raw)
    assert report.ok and report.counts["questionnaires"] == 4 and report.counts["patients"] == 2
    f = report.frame.set_index(["patient_id", "day"])
    # record-level fields from the baseline event reach every questionnaire of the record
    assert str(f.loc[("R-001", 0), "treatment_start_date"].date()) == "2026-01-05"
    assert f.loc[("R-002", 42), "site"] == "Central"
    assert f.loc[("R-001", 0), "phq9_total"] == 18 and f.loc[("R-001", 42), "phq9_total"] == 5
    assert list(raw.lines) == [3, 4, 7, 8]  # file lines of the kept rows


def test_redcap_without_mapping_uses_contract_names(tmp_path):
    path = tmp_path / "rc.csv"
    path.write_text("record_id,redcap_event_name,day," + ",".join(f"phq9_{i}" for i in range(1, 10)) + "\n"
                    "1,baseline_arm_1,0,3,3,3,3,3,3,0,0,0\n")
    report = validate_questionnaires(read_source(path))
    assert report.ok and report.frame.iloc[0]["phq9_total"] == 18


def test_redcap_import_records_what_was_left_out(tmp_path):
    from analytics.store import import_questionnaires, list_imports

    db = tmp_path / "s.sqlite"
    import_questionnaires(read_source(EXAMPLE, mapping=MAPPING), db=db)
    summary = list_imports(db).iloc[0]["warning_summary"]
    assert "other REDCap instruments left out" in summary and "no PHQ-9 answer" in summary
