"""The corpus of bad sessions tables in tests/data/bad_sessions: each refused with the expected line, column and message."""
from __future__ import annotations

import tomllib

import pytest

from analytics import QuestionnaireValidationError
from analytics.sessions import validate_sessions
from conftest import ROOT

BAD = ROOT / "tests" / "data" / "bad_sessions"
EXPECTED = tomllib.loads((BAD / "expected.toml").read_text())


def test_every_file_has_an_expectation():
    assert {p.name for p in BAD.glob("*.csv")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_sessions_file(name):
    want = EXPECTED[name]
    try:
        report = validate_sessions(BAD / name)
        problems = report.errors
        assert not report.ok
    except QuestionnaireValidationError as exc:  # unreadable files: one problem, same table
        problems = exc.problems
    first = problems.iloc[0]
    assert want["says"] in first["problem"], first["problem"]
    if "line" in want:
        assert first["line"] == want["line"]
    if "column" in want:
        assert first["column"] == want["column"]
