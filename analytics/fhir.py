"""FHIR R4 PHQ-9 data (Bundle JSON or NDJSON) into the input contract.

Reads ``QuestionnaireResponse`` resources whose items carry the PHQ-9 LOINC
codes as ``linkId`` (as in the HL7 US Core PHQ-9 example), answered with the
LOINC answer list LL358-9 or numbers, and ``Observation`` resources with LOINC
44261-6 (PHQ-9 total), 44260-8 (item 9) or 70274-6 (GAD-7 total).  The patient
is the ``subject`` reference, the date ``authored`` / ``effectiveDateTime``.

A ``Patient`` resource that carries a name, birth date, telecom, address,
identifier (MRN) or contact is refused: the tool accepts de-identified data
only (the rules are :mod:`analytics.deidentification`'s, as for file headers).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .deidentification import DEIDENTIFIED_ONLY, patient_resource_identifiers
from .definitions import MAX_JSON_DEPTH
from .errors import PROBLEM_COLUMNS, QuestionnaireValidationError, UnreadableFileError
from .loading import RawTable, check_input_path, read_input_bytes

__all__ = ["PHQ9_ITEM_LOINC", "PHQ9_TOTAL_LOINC", "read_fhir"]

#: LOINC codes of PHQ-9 items 1-9, in order (item 9 = 44260-8).
PHQ9_ITEM_LOINC = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
                   "44260-8")
PHQ9_TOTAL_LOINC = "44261-6"
GAD7_TOTAL_LOINC = "70274-6"
_ANSWER_SCORE = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}
_CODE_COLUMN = {code: f"phq9_{i + 1}" for i, code in enumerate(PHQ9_ITEM_LOINC)}
_CODE_COLUMN[PHQ9_TOTAL_LOINC] = "phq9_total"
_CODE_COLUMN[GAD7_TOTAL_LOINC] = "gad7_total"


class _WrongShape(Exception):
    """A resource field of the wrong JSON type: (field, what was found, what is allowed)."""


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def _need(value, kind, field: str, allowed: str):
    if value is not None and not isinstance(value, kind):
        raise _WrongShape(field, f"{field} is {_json_type(value)}; it must be {allowed}")
    return value


def read_fhir(path, *, label: str | None = None) -> RawTable:
    """Read a FHIR Bundle (``.json``) or NDJSON (``.ndjson``) file.

    Line numbers in problems are the NDJSON line, or the Bundle entry number
    (first entry = 1).

    Raises
    ------
    UnreadableFileError
        Not JSON, or not a Bundle / resource stream.
    QuestionnaireValidationError
        A Patient resource carries direct identifiers, or a resource has no subject.
    """
    path = Path(path)
    name = label or path.name
    check_input_path(path, name)
    data = read_input_bytes(path, name)
    resources = _resources(data, name)
    problems, rows, notes = [], [], []
    skipped = 0
    for where, res in resources:
        if not isinstance(res, dict):
            problems.append((where, "resource", "", f"this is {_json_type(res)}, not a FHIR resource; each entry "
                             "(or NDJSON line) must be a JSON object with a resourceType"))
            continue
        try:
            _check_resource(res, where)
        except _WrongShape as exc:
            field, what = exc.args
            problems.append((where, field, "", f"{what} (FHIR R4)"))
            continue
        kind = res.get("resourceType")
        if kind == "Patient":
            found = patient_resource_identifiers(res)
            if found:
                problems.append((where, f"Patient/{res.get('id', '?')}", "", "the Patient resource carries direct "
                                 f"identifiers ({', '.join(found)}); {DEIDENTIFIED_ONLY}: "
                                 "export QuestionnaireResponse and Observation resources without Patient details"))
        elif kind == "QuestionnaireResponse":
            if res.get("status") == "entered-in-error":
                skipped += 1
                continue
            row = _questionnaire_response(res)
            if row is not None:
                rows.append((where, row))
        elif kind == "Observation":
            if res.get("status") == "entered-in-error":
                skipped += 1
                continue
            row = _observation(res)
            if row is not None:
                rows.append((where, row))
        else:
            skipped += 1
    for where, row in rows:
        if str(row.get("patient_id") or "").startswith("#"):
            problems.append((where, "subject", row["patient_id"], "the subject is a contained resource reference, "
                             "which only means something inside its own resource (two resources' #p1 can be "
                             "different patients); reference the patient as Patient/<pseudonym>"))
        elif not row.get("patient_id"):
            problems.append((where, "subject", "", "the resource has no subject reference (Patient/<pseudonym>); "
                             "every questionnaire needs its patient's pseudonym"))
    if problems:
        raise QuestionnaireValidationError(pd.DataFrame(problems, columns=PROBLEM_COLUMNS), name)
    if skipped:
        notes.append(f"{skipped} resource(s) that are not PHQ-9 data (or entered in error) left out")
    frame, lines = _combine(rows)
    return RawTable(frame=frame, lines=lines, headers={c: c for c in frame.columns}, source=name,
                    sha256=hashlib.sha256(data).hexdigest(), file_format="fhir", notes=tuple(notes))


def _resources(data: bytes, name: str):
    _check_depth(data, name)
    text = data.decode("utf-8-sig", errors="replace").strip()
    if not text:
        raise UnreadableFileError(f"{name}: the file is empty.", source=name)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        if doc.get("resourceType") == "Bundle":
            entries = doc.get("entry") or []
            if not isinstance(entries, list):
                raise UnreadableFileError(f"{name}: the Bundle's entry is {_json_type(entries)}; it must be a list of "
                                          "entries.", source=name)
            return [(i + 1, (e.get("resource") or {}) if isinstance(e, dict) else e) for i, e in enumerate(entries)]
        return [(1, doc)]
    if isinstance(doc, list):
        raise UnreadableFileError(f"{name}: the file is a JSON list; a FHIR file is a Bundle (an object with "
                                  "\"resourceType\": \"Bundle\") or NDJSON (one resource object per line).",
                                  line=1, source=name)
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((i, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UnreadableFileError(f"{name}: line {i} is not JSON ({exc.msg}, column {exc.colno}); a FHIR file is "
                                      "a Bundle or NDJSON (one resource per line).", line=i, source=name) from None
    return out


def _check_depth(data: bytes, name: str) -> None:
    """Refuse JSON nested deeper than any FHIR resource before parsing it (the parser would recurse).

    Brackets inside strings are counted too: an over-estimate, and FHIR text never nests 100 deep.
    One pass over the bytes in fixed-size chunks, so memory stays small whatever the file size.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, len(arr), _DEPTH_CHUNK):
        a = arr[start:start + _DEPTH_CHUNK]
        step = (a == ord("{")).astype(np.int32) + (a == ord("[")) - (a == ord("}")) - (a == ord("]"))
        running = depth + np.cumsum(step, dtype=np.int64)
        deepest = max(deepest, int(running.max(initial=depth)))
        depth = int(running[-1]) if len(running) else depth
    if deepest > MAX_JSON_DEPTH:
        raise UnreadableFileError(f"{name}: the JSON is nested {deepest:,} levels deep; at most {MAX_JSON_DEPTH} are "
                                  "read (FHIR resources nest a few levels). Check that this is a FHIR export.",
                                  source=name)


_DEPTH_CHUNK = 1 << 22


def _check_resource(res: dict, where) -> None:
    """Raise _WrongShape when a field this reader uses has the wrong JSON type."""
    subject = _need(res.get("subject"), dict, "subject", "an object such as {\"reference\": \"Patient/<pseudonym>\"}")
    if subject is not None:
        _need(subject.get("reference"), str, "subject.reference", "text such as \"Patient/<pseudonym>\"")
    _need(res.get("code"), dict, "code", "an object with a coding list")
    _need((res.get("code") or {}).get("coding"), list, "code.coding", "a list of codings")
    _need(res.get("valueQuantity"), dict, "valueQuantity", "an object with a value")
    _need(res.get("contained"), list, "contained", "a list of resources")
    stack = [(res.get("item"), "item", 0)]
    while stack:
        items, field, depth = stack.pop()
        _need(items, list, field, "a list of items")
        for k, item in enumerate(items or []):
            here = f"{field}[{k}]"
            _need(item, dict, here, "an object with a linkId")
            answers = _need(item.get("answer"), list, f"{here}.answer", "a list of answers")
            for j, answer in enumerate(answers or []):
                _need(answer, dict, f"{here}.answer[{j}]", "an object such as {\"valueInteger\": 2}")
                coding = _need(answer.get("valueCoding"), dict, f"{here}.answer[{j}].valueCoding",
                               "an object with a code")
                _need((coding or {}).get("extension"), list, f"{here}.answer[{j}].valueCoding.extension",
                      "a list of extensions")
                _need(answer.get("valueQuantity"), dict, f"{here}.answer[{j}].valueQuantity",
                      "an object with a value")
            if item.get("item") is not None:
                stack.append((item.get("item"), f"{here}.item", depth + 1))


def _subject(res) -> str | None:
    """The patient's logical id: ``Patient/X``, ``https://host/fhir/Patient/X`` (and ``/_history/n``) give X.

    A contained reference (``#p1``) only means something inside its own resource, so it never names a
    patient across resources; it is refused (see :func:`read_fhir`).
    """
    ref = ((res.get("subject") or {}).get("reference") or "").strip()
    if not ref:
        return None
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[:parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1] or None
    return ref


def _date(value) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _answer_value(answer: dict):
    if "valueInteger" in answer:
        return answer["valueInteger"]
    if "valueDecimal" in answer:
        return answer["valueDecimal"]
    coding = answer.get("valueCoding")
    if coding:
        for ext in coding.get("extension") or []:
            if isinstance(ext, dict) and str(ext.get("url", "")).endswith(("ordinalValue", "itemWeight")):
                return ext.get("valueDecimal")
        return _ANSWER_SCORE.get(coding.get("code"), coding.get("code"))
    if "valueQuantity" in answer:
        return (answer["valueQuantity"] or {}).get("value")
    return None


def _walk(items):
    """Every item, depth first, without recursion (nesting depth is the file's choice)."""
    stack = list(reversed(items or []))
    while stack:
        item = stack.pop()
        yield item
        stack.extend(reversed(item.get("item") or []))


def _questionnaire_response(res) -> dict | None:
    row = {"patient_id": _subject(res), "assessment_date": _date(res.get("authored"))}
    found = False
    for item in _walk(res.get("item")):
        code = str(item.get("linkId", "")).lstrip("/")
        column = _CODE_COLUMN.get(code)
        if column and item.get("answer"):
            row[column] = _answer_value(item["answer"][0])
            found = True
    return row if found else None


def _observation(res) -> dict | None:
    codes = [c.get("code") for c in (res.get("code") or {}).get("coding") or [] if isinstance(c, dict)]
    column = next((_CODE_COLUMN[c] for c in codes if c in (PHQ9_TOTAL_LOINC, "44260-8", GAD7_TOTAL_LOINC)), None)
    if column is None:
        return None
    value = res.get("valueInteger")
    if value is None:
        value = (res.get("valueQuantity") or {}).get("value")
    return {"patient_id": _subject(res), "assessment_date": _date(res.get("effectiveDateTime")), column: value}


def _combine(rows):
    """One row per patient and date: a total and an item-9 Observation of one day belong together."""
    if not rows:
        return pd.DataFrame(columns=["patient_id", "assessment_date", "phq9_total", "phq9_9"]), np.array([], int)
    frame = pd.DataFrame([r for _, r in rows]).astype(object)
    frame["_line"] = [w for w, _ in rows]
    frame = frame.where(frame.notna(), None)
    key = frame["patient_id"].astype("str") + "|" + frame["assessment_date"].astype("str")
    value_cols = [c for c in frame.columns if c not in ("patient_id", "assessment_date", "_line")]
    grouped = frame.groupby(key, sort=False)
    combined = grouped[["patient_id", "assessment_date", "_line"]].first()
    for c in value_cols:
        combined[c] = grouped[c].first()
    lines = combined.pop("_line").to_numpy(dtype=np.int64)
    for c in combined.columns:
        combined[c] = combined[c].map(lambda v: "" if v is None else str(int(v)) if isinstance(v, float)
                                      and float(v).is_integer() else str(v))
    return combined.reset_index(drop=True), lines
