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
