"""De-identification: identifier headers (as written or as mapped), ages over 89, identifying patient_id values.

Each table is checked end to end (a real file through the validator, the mapping or the FHIR reader),
refused spellings and allowed ones side by side, so a rule that grows too wide fails as surely as one
that misses a spelling.
"""
from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analytics
from analytics import AnalyticsError, QuestionnaireValidationError, validate_questionnaires
from analytics.deidentification import (
    header_key,
    identifier_column_reason,
    identifying_ages,
    is_age_column,
    patient_id_reasons,
)
from analytics.fhir import read_fhir
from analytics.mapping import ColumnMapping, apply_mapping, load_mapping
from analytics.loading import read_table
from analytics.sources import read_source
from conftest import ROOT, SAMPLE

ITEMS = [f"phq9_{i}" for i in range(1, 10)]
BASE = ["patient_id", "assessment_date", *ITEMS]
ROWS = [["P0001", "2025-01-06", 2, 2, 2, 2, 2, 2, 2, 2, 1],
        ["P0001", "2025-02-17", 1, 1, 0, 0, 0, 0, 0, 0, 0],
        ["P0002", "2025-01-10", 3, 3, 3, 1, 1, 1, 1, 1, 0]]
EXAMPLES = ROOT / "sample_data" / "examples"
MAPPINGS = ROOT / "sample_data" / "mappings"


def write_rows(tmp_path, header, rows, name="input.csv"):
    """A CSV written by the csv module, so commas and quotes in headers and cells are quoted properly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def with_column(tmp_path, header, values):
    """The three base rows (file lines 2-4) plus one column ``header`` holding ``values``."""
    return write_rows(tmp_path, BASE + [header], [row + [v] for row, v in zip(ROWS, values)])


def with_patient_ids(tmp_path, ids):
    return write_rows(tmp_path, BASE, [[pid] + row[1:] for pid, row in zip(ids, ROWS)])


# ---------------------------------------------------------------- identifier headers

REFUSED_HEADERS = [
    # names
    *[(h, "name") for h in [
        "Name", "name", "NAME", "Patient Name", "PATIENT_NAME", "PatientName", "patientname", "Pt Name",
        "Pt. Name", "First Name", "FirstName", "first_name", "fname", "Last Name", "LastName", "lname",
        "Full Name", "Surname", "Given name", "Family Name", "Middle Name", "Maiden name", "Initials",
        "Pt Initials", "Patient's Name", "Name of Patient", "Client Name", "Guardian Name",
        "Emergency Contact Name", "User Name", "Site Patient Name"]],
    # birth dates
    *[(h, "birth") for h in [
        "DOB", "dob", "D.O.B.", "d.o.b", "Birthdate", "BirthDate", "Birth Date", "Date of Birth", "DateOfBirth",
        "date_of_birth", "dateofbirth", "DATE OF BIRTH", "Birthday", "Year of Birth", "YOB", "Pt DOB"]],
    # social security and national numbers
    *[(h, "social security") for h in [
        "SSN", "ssn", "SSN4", "ssn_last4", "Last4SSN", "SS#", "S.S.N.", "Social Security", "Social Security Number",
        "SocialSecurityNo", "socialsecuritynumber", "National ID", "NHS Number"]],
    # medical record, chart, account and encounter numbers
    *[(h, "medical record") for h in [
        "MRN", "mrn", "MRN #", "MRN#", "M.R.N.", "MedRecNo", "medrecno", "Med Rec #", "Medical Record Number",
        "MedicalRecordNumber", "Chart #", "Chart Number", "ChartNo", "Encounter ID", "EncounterNumber",
        "Hospital Number", "CSN", "FIN"]],
    *[(h, "account") for h in ["Account", "Acct No", "Account Number", "AcctNum", "acctno", "Insurance ID",
                               "InsuranceNumber", "Member ID", "MemberNo", "Policy Number", "Subscriber ID",
                               "Health Plan ID", "Medicaid ID", "Medicare Number"]],
    # telephone, fax and e-mail
    *[(h, "telephone") for h in [
        "Phone", "PhoneNumber", "phonenumber", "phone_no", "Phone #", "Telephone", "Tel", "Mobile", "Cell Phone",
        "CellPhone", "Fax", "Fax #", "Home Phone", "Work Phone"]],
    *[(h, "e-mail") for h in ["Email", "E-mail", "e_mail", "EmailAddress", "emailaddress", "E-Mail Address",
                              "Patient Email"]],
    # addresses and small geographic units
    *[(h, "address") for h in ["Address", "Home Address", "Street", "City", "Zip", "ZIP Code", "ZipCode", "zip5",
                               "Postcode", "Postal Code", "Address Line 1", "Address2", "County"]],
    # free text: routinely carries names and phone numbers
    *[(h, "free text") for h in ["Notes", "Note", "Comments", "Comment", "Free text", "FreeText", "free_text",
                                 "Remarks", "Clinical Notes", "ProgressNote", "Narrative", "Other (specify)"]],
    # the remaining Safe Harbor kinds
    ("Driver's License", "licence"), ("IP Address", "IP address"), ("URL", "web address"), ("Photo", "photograph"),
    ("Device Serial", "serial"),
]

ALLOWED_HEADERS = [
    "patient_id", "Patient ID", "PatientID", "patient id", "Pt ID", "Subject ID", "study_id", "record_id",
    "pseudonym", "site", "Site Name", "site_name", "clinic", "Location", "clinician", "Clinician Name",
    "clinician_name", "Provider Name", "protocol", "Protocol Name", "diagnosis", "age_band", "Age Band",
    "AgeGroup", "Age (years)", "age", "sex", "Sex at Birth", "BirthSex", "Gender at Birth", "gender", "infusion_number",
    "Infusion #", "day", "assessment_date", "Date of Service", "Encounter Date", "treatment_start_date",
    "Treatment Start", *ITEMS, "phq9_total", "PHQ-9 Total Score", "Q9", "gad7_1", "gad7_total",
    "GAD-7 Total Score", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", "dose_mg",
    "Dose (mg/kg)", "route", "visit_number", "Medication Name", "Drug Name", "Instrument Name", "baseline_band",
    "State", "weight_kg", "Stage", "Dosage", "Message Count",
]


@pytest.mark.parametrize("header, what", REFUSED_HEADERS)
def test_identifier_headers_are_refused_whatever_the_spelling(tmp_path, header, what):
    report = validate_questionnaires(with_column(tmp_path, header, ["x", "x", "x"]))
    assert not report.ok and report.frame is None
    err = report.errors.iloc[0]
    assert (err["line"], err["column"]) == (1, header)
    assert what in err["problem"] and "only accepts de-identified data" in err["problem"]
    assert "Remove the column" in err["problem"]


@pytest.mark.parametrize("header", ALLOWED_HEADERS)
def test_attribute_and_contract_headers_are_not_identifiers(header):
    assert identifier_column_reason(header) is None


@pytest.mark.parametrize("header", ["site", "Site Name", "clinician", "Clinician Name", "protocol", "Location",
                                    "Sex at Birth", "Medication Name", "redcap_event_name", "Encounter Date"])
def test_attribute_columns_still_load(tmp_path, header):
    report = validate_questionnaires(with_column(tmp_path, header, ["A", "B", "A"]))
    assert report.ok, report.errors


@pytest.mark.parametrize("spellings, key", [
    (["D.O.B.", "Date of Birth", "DateOfBirth", "date_of_birth", "dob", " DATE  OF  BIRTH "], "date_of_birth"),
    (["MRN", "MRN #", "M.R.N.", "Medical Record Number", "MedicalRecordNumber", "medical-record-no"],
     "medical_record_number"),
    (["Patient ID", "PatientID", "patient_id", "Pt ID", "PATIENT-ID"], "patient_id"),
    (["Infusion #", "infusion_number", "InfusionNo", "Infusion Num"], "infusion_number"),
])
def test_header_spellings_normalise_to_one_key(spellings, key):
    assert {header_key(h) for h in spellings} == {key}


def test_sample_clinic_and_examples_still_load():
    assert validate_questionnaires(SAMPLE).ok
    assert validate_questionnaires(read_source(EXAMPLES / "ehr_export.csv", mapping=MAPPINGS / "ehr_export.toml")).ok
    assert validate_questionnaires(read_source(EXAMPLES / "redcap_export.csv",
                                               mapping=MAPPINGS / "redcap_phq9.toml")).ok
    assert validate_questionnaires(read_source(EXAMPLES / "fhir_bundle.json")).ok


# ---------------------------------------------------------------- mappings cannot launder identifiers

def ehr_with_column(tmp_path, header, value="Jane Smith"):
    lines = (EXAMPLES / "ehr_export.csv").read_text().splitlines()
    path = tmp_path / "ehr.csv"
    path.write_text("\n".join([lines[0] + f",{header}"] + [line + f",{value}" for line in lines[1:]]) + "\n")
    return path


def mapping_with(tmp_path, line, drop='"Location" = "site"'):
    text = (MAPPINGS / "ehr_export.toml").read_text().replace(drop, line)
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("line, header, what", [
    ('"Patient Name" = "site"', "Patient Name", "name"),         # names would become strata in the board report
    ('"DOB" = "protocol"', "DOB", "birth"),
    ('"MRN #" = "clinician"', "MRN #", "medical record"),
    ('"Notes" = "diagnosis"', "Notes", "free text"),
    ('"Location" = "zip_code"', "zip_code", "address"),           # the target name is checked too
])
def test_a_mapping_cannot_rename_an_identifier(tmp_path, line, header, what):
    path = mapping_with(tmp_path, line)
    with pytest.raises(AnalyticsError) as exc:
        load_mapping(path)
    message = str(exc.value)
    assert f'"{header}" looks like' in message and what in message and "de-identified" in message


@pytest.mark.parametrize("source, target, what", [
    ("patient name", "site", "name"), ("pt name", "clinician", "name"), ("d.o.b.", "protocol", "birth"),
    ("phonenumber", "diagnosis", "telephone"), ("comments", "sex", "free text"), ("location", "email", "e-mail"),
])
def test_validation_checks_source_and_mapped_names(tmp_path, source, target, what):
    # a mapping built in code skips load_mapping's check: the validator still sees both names
    header = {"patient name": "Patient Name", "pt name": "Pt Name", "d.o.b.": "D.O.B.",
              "phonenumber": "PhoneNumber", "comments": "Comments", "location": "Location"}[source]
    path = ehr_with_column(tmp_path, header) if source != "location" else EXAMPLES / "ehr_export.csv"
    base = load_mapping(MAPPINGS / "ehr_export.toml")
    columns = {k: v for k, v in base.columns.items() if v != target and k != source}
    mapping = ColumnMapping({**columns, source: target}, base.date_format, base.source)
    report = validate_questionnaires(apply_mapping(read_table(path), mapping))
    assert not report.ok
    err = report.errors.iloc[0]
    written = header if source != "location" else "Location"
    assert (err["line"], err["column"]) == (1, written)
    assert what in err["problem"] and f"mapped to '{target}'" in err["problem"]


def test_unmapped_identifier_column_in_a_mapped_export_is_refused(tmp_path):
    report = validate_questionnaires(read_source(ehr_with_column(tmp_path, "Pt Name"),
                                                 mapping=MAPPINGS / "ehr_export.toml"))
    assert not report.ok and report.errors.iloc[0]["column"] == "Pt Name"


# ---------------------------------------------------------------- ages over 89

AGES = [
    # (header, value, refused)
    ("age", "89", False), ("age", "90", True), ("age", "89.5", True), ("age", "120", True), ("age", "45", False),
    ("Age (years)", "92", True), ("Age (years)", "89", False), ("Age (years)", "92 years", True),
    ("PatientAge", "91", True), ("Age at Start", "90", True), ("age_years", "90", True),
    ("age_band", "90-94", True), ("age_band", "95-99", True), ("age_band", "95+", True), ("age_band", ">89", True),
    ("age_band", "> 89", True), ("age_band", "Over 89", True), ("age_band", "90 and over", True),
    ("age_band", "90 or older", True), ("age_band", ">=90", True), ("age_band", "90 +", True),
    ("age_band", "90+", False), ("age_band", "85-89", False), ("age_band", "85+", False), ("age_band", "89+", False),
    ("age_band", ">88", False), ("age_band", ">=89", False), ("age_band", "75+", False), ("age_band", "18-24", False),
    ("Age Band", "90-94", True), ("AgeGroup", "95+", True), ("agerange", "90-94", True), ("age", "90+", False),
    ("age", "unknown", False),
]


@pytest.mark.parametrize("header, value, refused", AGES)
def test_ages_over_89_are_refused_in_any_age_column(tmp_path, header, value, refused):
    report = validate_questionnaires(with_column(tmp_path, header, ["45", value, "30"]))
    if not refused:
        assert report.ok, report.errors
        return
    err = report.errors.iloc[0]
    assert len(report.errors) == 1, report.errors
    assert (err["line"], err["column"], err["value"]) == (3, header, value)
    assert "'90+'" in err["problem"] and "de-identified" in err["problem"]


def test_typed_ages_boundary(tmp_path):
    frame = pd.DataFrame([dict(zip(BASE, row)) for row in ROWS]).assign(age=pd.array([89, 90, None], "Int64"))
    frame.to_parquet(tmp_path / "ages.parquet")
    report = validate_questionnaires(tmp_path / "ages.parquet")
    assert list(report.errors["line"]) == [3] and list(report.errors["column"]) == ["age"]
    assert list(identifying_ages(pd.Series([89.0, 89.01, 90.0, None]))) == [False, True, True, False]


def test_age_columns_are_recognised_by_their_words():
    assert all(is_age_column(h) for h in ["age", "Age (years)", "AgeBand", "age_band", "Patient Age", "AGE_GROUP"])
    assert not any(is_age_column(h) for h in ["stage", "Dosage", "page", "average", "message", "usage_count"])


# ---------------------------------------------------------------- patient_id values

REFUSED_IDS = [
    *[(v, "e-mail") for v in ["jane.doe@example.org", "JANE@EXAMPLE.COM", "j+x@mail.co.uk", "mailto:j@x.org"]],
    *[(v, "web address") for v in ["https://example.org/p/1", "http://host/fhir/Patient/X", "www.example.com",
                                   "example.com", "ftp://x/y"]],
    *[(v, "social security") for v in ["123-45-6789", "123 45 6789", "123.45.6789"]],
    *[(v, "telephone") for v in [
        "(555) 123-4567", "(555)123-4567", "555-123-4567", "555.123.4567", "555 123 4567", "+1 555 123 4567",
        "+1-555-123-4567", "1-555-123-4567", "1 (555) 123-4567", "+15551234567", "2125550123", "12125550123",
        "+12125550123", "+44 20 7946 0958", "+33 1 23 45 67 89", "020 7946 0958", "555-1234", "555.1234"]],
    *[(v, "person's name") for v in ["Smith, Jane", "Smith,Jane", "Jane Smith", "jane smith", "SMITH JANE",
                                     "O'Brien, Mary-Jane", "J. Smith", "Jane Q. Public", "Smith, Jane 1980",
                                     "José García"]],
]

ALLOWED_IDS = ["P0001", "KX-1042", "a81f3c", "1042", "001", "000000042", "0000001042", "5551234567", "1234567890",
               "F-201", "N-1", "2024-03-0042", "p-17", "A1B2C3", "KX 1042", "1042-A", "ABC123", "study-042",
               "SITE1-0042", "9f86d081884c7d65", "P.0001", "K_1042", "Jane"]


@pytest.mark.parametrize("pid, what", REFUSED_IDS)
def test_identifying_patient_ids_are_refused_with_their_line(tmp_path, pid, what):
    report = validate_questionnaires(with_patient_ids(tmp_path, ["P0001", "P0001", pid]))
    assert not report.ok and report.frame is None
    err = report.errors.iloc[0]
    assert len(report.errors) == 1, report.errors
    assert (err["line"], err["column"], err["value"]) == (4, "patient_id", pid)
    assert what in err["problem"] and "de-identified" in err["problem"] and "pseudonym" in err["problem"]


@pytest.mark.parametrize("pid", ALLOWED_IDS)
def test_pseudonyms_load(tmp_path, pid):
    report = validate_questionnaires(with_patient_ids(tmp_path, [pid, pid, "P0002"]))
    assert report.ok, report.errors
    assert pid.strip() in set(report.frame["patient_id"].astype(str))


def test_patient_id_rule_on_many_values_at_once():
    values = [v for v, _ in REFUSED_IDS] + ALLOWED_IDS
    reasons = patient_id_reasons(pd.Index(values, dtype="str"))
    assert list(reasons != "") == [True] * len(REFUSED_IDS) + [False] * len(ALLOWED_IDS)


def test_every_row_of_an_identifying_patient_is_reported(tmp_path):
    report = validate_questionnaires(with_patient_ids(tmp_path, ["Jane Smith", "Jane Smith", "P0002"]))
    assert list(report.errors["line"]) == [2, 3] and set(report.errors["column"]) == {"patient_id"}


# ---------------------------------------------------------------- FHIR Patient resources

@pytest.mark.parametrize("element, value", [
    ("identifier", [{"system": "urn:oid:hospital-mrn", "value": "MRN123"}]),
    ("telecom", [{"system": "phone", "value": "555-123-4567"}]),
    ("contact", [{"name": {"family": "Doe"}}]),
    ("address", [{"postalCode": "02139"}]),
    ("birthDate", "1970-01-01"),
    ("name", [{"family": "Doe"}]),
])
def test_fhir_patient_identifiers_are_refused(tmp_path, element, value):
    bundle = json.loads((EXAMPLES / "fhir_bundle.json").read_text())
    bundle["entry"][0]["resource"][element] = value
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    with pytest.raises(QuestionnaireValidationError) as exc:
        read_fhir(path)
    row = exc.value.problems.iloc[0]
    assert row["column"] == "Patient/F-201" and f"({element})" in row["problem"]


def test_fhir_patient_without_identifiers_loads(tmp_path):
    bundle = json.loads((EXAMPLES / "fhir_bundle.json").read_text())
    bundle["entry"][0]["resource"].update({"gender": "female", "multipleBirthBoolean": False, "active": True,
                                           "name": [], "telecom": None})
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    assert validate_questionnaires(read_fhir(path)).ok


def test_rules_are_exported():
    for name in ("identifier_column_reason", "is_age_column", "identifying_ages", "patient_id_reasons"):
        assert name in analytics.__all__ and callable(getattr(analytics, name))


# ---------------------------------------------------------------- any spelling of an identifier header

PHRASES = {
    ("date", "of", "birth"): "birth", ("birth", "date"): "birth", ("patient", "name"): "name",
    ("first", "name"): "name", ("medical", "record", "number"): "medical record", ("phone", "number"): "telephone",
    ("email", "address"): "e-mail", ("social", "security", "number"): "social security",
    ("free", "text"): "free text", ("zip", "code"): "address", ("account", "number"): "account",
}
CASINGS = [str.lower, str.upper, str.title, str.capitalize]


@settings(max_examples=300, deadline=None)
@given(phrase=st.sampled_from(sorted(PHRASES)), data=st.data())
def test_identifier_phrases_refused_in_any_case_spacing_and_punctuation(phrase, data):
    words = [data.draw(st.sampled_from(CASINGS))(w) for w in phrase]
    seps = [data.draw(st.sampled_from(["", " ", "  ", "_", "-", ".", " / ", "__"])) for _ in words[1:]]
    header = words[0] + "".join(s + w for s, w in zip(seps, words[1:]))
    header = data.draw(st.sampled_from(["", " ", "("])) + header + data.draw(st.sampled_from(["", " ", ")", ":"]))
    what = identifier_column_reason(header)
    assert what is not None and PHRASES[phrase] in what, (header, what)
