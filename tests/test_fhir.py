"""FHIR R4 QuestionnaireResponse and Observation resources."""
from __future__ import annotations

import json

import pytest

from analytics import QuestionnaireValidationError, validate_questionnaires
from analytics.fhir import PHQ9_ITEM_LOINC, read_fhir
from conftest import ROOT

BUNDLE = ROOT / "sample_data" / "examples" / "fhir_bundle.json"


def test_bundle_of_responses_and_observations():
    raw = read_fhir(BUNDLE)
    report = validate_questionnaires(raw)
    assert report.ok and report.counts["patients"] == 2
    f = report.frame.set_index(["patient_id", "day"])
    # QuestionnaireResponse: LOINC answer codes LA6568-5..LA6571-9 scored 0..3
    assert f.loc[("F-201", 0), "phq9_total"] == 17 and f.loc[("F-201", 0), "phq9_9"] == 1
    assert f.loc[("F-201", 42), "phq9_1"] == 1
    # Observations 44261-6 and 44260-8 of one day make one questionnaire
    assert (f.loc[("F-202", 0), "phq9_total"], f.loc[("F-202", 0), "phq9_9"]) == (18, 2)
    assert f.loc[("F-202", 42), "phq9_total"] == 7


def test_ndjson_lines_are_the_problem_lines(tmp_path):
    path = tmp_path / "obs.ndjson"
    obs = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "44261-6"}]},
           "subject": {"reference": "Patient/N-1"}, "effectiveDateTime": "2026-01-01", "valueInteger": 40}
    item9 = dict(obs, code={"coding": [{"code": "44260-8"}]}, valueInteger=1)
    path.write_text(json.dumps(item9) + "\n\n" + json.dumps(obs) + "\n")
    report = validate_questionnaires(read_fhir(path))
    err = report.errors.iloc[0]
    assert (err["line"], err["column"], err["value"]) == (1, "phq9_total", "40")


def test_patient_resource_with_identifiers_is_refused(tmp_path):
    bundle = json.loads(BUNDLE.read_text())
    bundle["entry"][0]["resource"].update({"name": [{"family": "Doe"}], "birthDate": "1970-01-01"})
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    with pytest.raises(QuestionnaireValidationError) as exc:
        read_fhir(path)
    row = exc.value.problems.iloc[0]
    assert row["line"] == 1 and row["column"] == "Patient/F-201"
    assert "name, birthDate" in row["problem"] and "de-identified" in row["problem"]


def test_not_json_is_unreadable(tmp_path):
    from analytics import UnreadableFileError
    path = tmp_path / "x.ndjson"
    path.write_text('{"resourceType": "Observation"}\nnot json\n')
    with pytest.raises(UnreadableFileError, match="line 2 is not JSON"):
        read_fhir(path)


def test_item9_loinc_is_last():
    assert PHQ9_ITEM_LOINC[8] == "44260-8" and len(set(PHQ9_ITEM_LOINC)) == 9
