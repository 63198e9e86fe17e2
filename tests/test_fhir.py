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


def _observation(reference, total=12, date="2026-01-01"):
    return {"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "44261-6"}]},
            "subject": {"reference": reference}, "effectiveDateTime": date, "valueInteger": total}


@pytest.mark.parametrize("reference", [
    "Patient/X-7",
    "https://ehr.example.org/fhir/Patient/X-7",
    "http://ehr.example.org/fhir/r4/Patient/X-7/_history/3",
    "Patient/X-7/_history/1",
])
def test_absolute_and_versioned_references_keep_only_the_logical_id(tmp_path, reference):
    path = tmp_path / "obs.ndjson"
    item9 = dict(_observation(reference), code={"coding": [{"code": "44260-8"}]}, valueInteger=1)
    path.write_text(json.dumps(_observation(reference)) + "\n" + json.dumps(item9) + "\n")
    raw = read_fhir(path)
    assert list(raw.frame["patient_id"]) == ["X-7"]


def test_one_patient_by_relative_and_absolute_reference_is_one_patient(tmp_path):
    path = tmp_path / "obs.ndjson"
    lines = [_observation("Patient/X-7", 20, "2026-01-01"), _observation("https://h/fhir/Patient/X-7", 8, "2026-02-12")]
    path.write_text("\n".join(json.dumps(o) for o in lines) + "\n")
    assert set(read_fhir(path).frame["patient_id"]) == {"X-7"}


def test_contained_patients_of_different_resources_are_not_merged(tmp_path):
    """Two resources each containing their own #p1: refused (never one patient), with each entry named."""
    contained = {"contained": [{"resourceType": "Patient", "id": "p1"}]}
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {**_observation("#p1", 20, "2026-01-01"), **contained}},
        {"resource": {**_observation("#p1", 3, "2026-02-12"), **contained}}]}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    with pytest.raises(QuestionnaireValidationError) as exc:
        read_fhir(path)
    problems = exc.value.problems
    assert list(problems["line"]) == [1, 2] and set(problems["column"]) == {"subject"}
    assert "contained resource reference" in problems.iloc[0]["problem"]


@pytest.mark.parametrize("change, column, says", [
    (lambda r: r.update(subject="Patient/X"), "subject", "subject is text; it must be an object"),
    (lambda r: r.update(subject={"reference": 7}), "subject.reference", "subject.reference is a number"),
    (lambda r: r.update(code=["44261-6"]), "code", "code is a list; it must be an object"),
    (lambda r: r.update(code={"coding": {"code": "44261-6"}}), "code.coding", "code.coding is an object"),
    (lambda r: r.update(valueQuantity=12), "valueQuantity", "valueQuantity is a number"),
    (lambda r: r.update(item="44261-6"), "item", "item is text; it must be a list of items"),
    (lambda r: r.update(item=[5]), "item[0]", "item[0] is a number; it must be an object"),
    (lambda r: r.update(item=[{"linkId": "a", "answer": {"valueInteger": 1}}]), "item[0].answer",
     "item[0].answer is an object; it must be a list of answers"),
    (lambda r: r.update(item=[{"linkId": "a", "answer": ["1"]}]), "item[0].answer[0]",
     "item[0].answer[0] is text"),
    (lambda r: r.update(item=[{"linkId": "a", "item": {"linkId": "b"}}]), "item[0].item",
     "item[0].item is an object"),
    (lambda r: r.update(item=[{"linkId": "a", "answer": [{"valueCoding": "LA6568-5"}]}]),
     "item[0].answer[0].valueCoding", "valueCoding is text; it must be an object"),
])
def test_fields_of_the_wrong_json_type_are_named(tmp_path, change, column, says):
    resource = _observation("Patient/X")
    change(resource)
    path = tmp_path / "bad.ndjson"
    path.write_text(json.dumps(_observation("Patient/Y")) + "\n" + json.dumps(resource) + "\n")
    with pytest.raises(QuestionnaireValidationError) as exc:
        read_fhir(path)
    row = exc.value.problems.iloc[0]
    assert (row["line"], row["column"]) == (2, column) and says in row["problem"], row["problem"]


@pytest.mark.parametrize("text, says", [
    ("[1, 2]", "the file is a JSON list"),
    ('{"resourceType": "Bundle", "entry": {"resource": {}}}', "the Bundle's entry is an object"),
    ("[" * 100_000 + "]" * 100_000, "nested 100,000 levels deep"),
    ('{"resourceType": "QuestionnaireResponse", "item": ' + '[{"item": ' * 3000 + "[]" + "}]" * 3000 + "}",
     "nested 6,002 levels deep"),
])
def test_whole_file_shapes_are_unreadable_with_a_message(tmp_path, text, says):
    from analytics import UnreadableFileError

    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(UnreadableFileError, match="x.json: ") as exc:
        read_fhir(path)
    assert says in str(exc.value)


@pytest.mark.parametrize("line, what", [("42", "a number"), ('"text"', "text"), ("[]", "a list"), ("null", "null"),
                                        ("true", "true/false")])
def test_ndjson_line_that_is_not_an_object(tmp_path, line, what):
    path = tmp_path / "x.ndjson"
    path.write_text(json.dumps(_observation("Patient/X")) + "\n" + line + "\n")
    with pytest.raises(QuestionnaireValidationError) as exc:
        read_fhir(path)
    row = exc.value.problems.iloc[0]
    assert (row["line"], row["column"]) == (2, "resource") and f"this is {what}, not a FHIR resource" in row["problem"]
