"""Shared helpers: build small canonical frames from (patient, day, total, item 9) rows."""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from analytics import load_questionnaires

# the real PostgreSQL server and the store fixture parametrised over both backends (tests/pg_fixtures.py)
pytest_plugins = ["pg_fixtures"]

# a PostgreSQL store keeps its columnar snapshots in a local cache folder: the tests' own, never the user's
if "OUTCOMES_SNAPSHOTS" not in os.environ:
    os.environ["OUTCOMES_SNAPSHOTS"] = tempfile.mkdtemp(prefix="outcomes-snapshots-")
    atexit.register(functools.partial(shutil.rmtree, os.environ["OUTCOMES_SNAPSHOTS"], ignore_errors=True))

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "sample_clinic.csv"
TINY = ROOT / "sample_data" / "tiny_clinic.csv"


@pytest.fixture
def without_clinic_store(monkeypatch, tmp_path):
    """The dashboard without a clinic store, a data file or a sessions file, whatever the developer's data/ and
    environment hold (dashboard test modules use it for every test: ``pytestmark``)."""
    monkeypatch.setenv("OUTCOMES_DB", str(tmp_path / "no-store.sqlite"))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    monkeypatch.delenv("OUTCOMES_SESSIONS", raising=False)


def items_for(total: int, item9: int) -> list[int]:
    """Nine item scores summing to ``total`` with item 9 = ``item9`` (items 1-8 filled in order)."""
    rest, out = total - item9, []
    for _ in range(8):
        out.append(min(3, rest))
        rest -= out[-1]
    if rest:
        raise ValueError(f"total {total} with item 9 = {item9} does not fit")
    return out + [item9]


def rows_frame(rows) -> pd.DataFrame:
    """Raw frame from rows ``(patient_id, day, total, item9)``; total None = incomplete."""
    records = []
    for pid, day, total, item9 in rows:
        items = items_for(total if total is not None else 9, item9)
        if total is None:
            items[0] = None
        records.append({"patient_id": pid, "day": day, **{f"phq9_{i + 1}": v for i, v in enumerate(items)}})
    return pd.DataFrame(records).astype({f"phq9_{i}": "Int8" for i in range(1, 10)})


def canonical(rows) -> pd.DataFrame:
    return load_questionnaires(rows_frame(rows))


@pytest.fixture
def write_csv(tmp_path):
    """Write text as a CSV file and return its path."""
    def _write(text: str, name: str = "input.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return _write


def pytest_collection_modifyitems(config, items):
    """Mark the real-browser modules ``browser`` so ``make test-fast`` can leave them out."""
    for item in items:
        if "browser" in item.path.name:
            item.add_marker(pytest.mark.browser)
