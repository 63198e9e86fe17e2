"""The corpus of bad files in tests/data/bad: each refused with the expected line, column and message.

Every reader is covered (CSV, XLSX, FHIR JSON / NDJSON, mapping TOML); a refusal is always a message
with a problem table, never a traceback.
"""
from __future__ import annotations

import tomllib

import pytest

from analytics import AnalyticsError, QuestionnaireValidationError, validate_questionnaires
from analytics.mapping import load_mapping
from analytics.sources import read_source
from conftest import ROOT

BAD = ROOT / "tests" / "data" / "bad"
EXPECTED = tomllib.loads((BAD / "expected.toml").read_text())


def first_problem(path) -> dict:
    """The first problem reported for ``path``, as a row of the problem table."""
    try:
        if path.suffix == ".toml":
            load_mapping(path)
            pytest.fail(f"{path.name} was accepted as a mapping")
        report = validate_questionnaires(read_source(path) if path.suffix != ".csv" else path)
        assert not report.ok, f"{path.name} was accepted"
        return report.errors.iloc[0].to_dict()
    except QuestionnaireValidationError as exc:  # unreadable files: one problem, same table
        return exc.problems.iloc[0].to_dict()
    except AnalyticsError as exc:  # mappings: a message naming the file
        assert path.name in str(exc)
        return {"line": None, "column": "", "problem": str(exc)}


def test_every_file_has_an_expectation():
    assert {p.name for p in BAD.iterdir() if p.name != "expected.toml"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file(name):
    want = EXPECTED[name]
    first = first_problem(BAD / name)
    assert want["says"] in first["problem"], first["problem"]
    if "line" in want:
        assert first["line"] == want["line"]
    if "column" in want:
        assert first["column"] == want["column"]
