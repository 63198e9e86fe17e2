"""The DuckDB benchmark query computes the same spec v2 figures as the engine (episodes, totals-only rows)."""
from __future__ import annotations

import sys

import pytest

from conftest import ROOT

duckdb = pytest.importorskip("duckdb")  # a benchmark-only dependency (benchmarks/requirements.txt)
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_engine  # noqa: E402

from analytics.synthetic import synthetic_clinic  # noqa: E402

KEYS = ["patients", "eligible", "response_n", "response_events", "remission_events", "si_n", "si_events"]


def test_duckdb_query_agrees_with_the_engine(tmp_path):
    path = tmp_path / "registry.parquet"
    frame = synthetic_clinic(1500, seed=2026, first_start="2016-01-01", booster_share=1.0, boosters_mean=10,
                             max_boosters=20, dates_as_text=False)
    assert frame["treatment_start_date"].isna().any()  # re-induction screenings with a blank start date
    assert frame["phq9_total"].notna().any()  # the totals-only site
    frame.to_parquet(path, index=False)
    engine, duck = bench_engine.run_engine(path), bench_engine.run_duckdb(path)
    assert {k: engine[k] for k in KEYS} == {k: duck[k] for k in KEYS}
    for k in ("cumulative_response", "cumulative_remission"):
        assert engine[k] == pytest.approx(duck[k], abs=1e-9)


def test_the_summary_from_the_narrow_frame_is_the_whole_summary(tmp_path):
    """The benchmark keeps only bench_engine.SUMMARY_COLUMNS in the frame; the summary must not change."""
    import json

    from analytics import clinic_summary, validate_questionnaires

    path = tmp_path / "registry.parquet"
    synthetic_clinic(400, seed=5, first_start="2016-01-01", booster_share=1.0, boosters_mean=6, max_boosters=10,
                     dates_as_text=False).to_parquet(path, index=False)
    full = validate_questionnaires(path)
    narrow = validate_questionnaires(path, columns=bench_engine.SUMMARY_COLUMNS)
    assert set(narrow.frame.columns) == set(bench_engine.SUMMARY_COLUMNS)
    a, b = (json.dumps(clinic_summary(r.frame, source=r.source, sha256=r.sha256, validation=r.counts).as_dict(),
                       default=str, sort_keys=True) for r in (full, narrow))
    assert a == b
