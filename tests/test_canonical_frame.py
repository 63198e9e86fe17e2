"""The canonical frame's incomplete-questionnaire warnings found from the parsed arrays.

:func:`analytics.canonical_frame.incomplete_questionnaires_of_arrays` spares gathering the PHQ-9 item columns
of every row when the caller keeps a narrow frame; it must give exactly the warnings
:func:`analytics.canonical_frame.incomplete_questionnaires` finds in the frame built from the same arrays, for
every shape of ``keep`` (None, a mask of rows in file order, rows in the frame's order).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import validate_questionnaires
from analytics.canonical_frame import (
    assemble_canonical_frame,
    incomplete_questionnaires,
    incomplete_questionnaires_of_arrays,
)
from analytics.instruments import PHQ9
from analytics.synthetic import synthetic_clinic

SUMMARY_COLUMNS = ("patient_id", "episode", "day", "phq9_9", "phq9_total", "complete", "infusion_number")


def _arrays(n, rng, items=True):
    scores = {c: np.where(rng.random(n) < 0.15, -1, rng.integers(0, 4, n)).astype(np.int8)
              for c in (PHQ9.items if items else [])}
    given = np.where(rng.random(n) < 0.5, rng.integers(0, 28, n), -1).astype(np.int8)
    all_items = np.ones(n, bool) if items else np.zeros(n, bool)
    for c in scores:
        all_items &= scores[c] >= 0
    total = np.where(all_items, sum(np.maximum(v, 0) for v in scores.values()) if items else 0, given)
    work = {"patient_id": rng.integers(0, 5, n).astype(np.int32), "episode": np.ones(n, np.int16),
            "day": rng.integers(-3, 60, n).astype(np.float32), "complete": total >= 0,
            "line": np.arange(2, n + 2, dtype=np.int32), **scores, PHQ9.total: total.astype(np.int8)}
    return work


@pytest.mark.parametrize("items", [True, False])
@pytest.mark.parametrize("keep_kind", ["none", "mask", "order"])
def test_incomplete_from_arrays_equals_incomplete_from_the_frame(keep_kind, items):
    rng = np.random.default_rng(15)
    n = 400
    work = _arrays(n, rng, items)
    keep = {"none": None, "mask": rng.random(n) > 0.1,
            "order": rng.permutation(n)[: n - 37].astype(np.int32)}[keep_kind]
    lines = work["line"].copy()
    from_arrays = incomplete_questionnaires_of_arrays(work["complete"], lines, work, keep)
    frame = assemble_canonical_frame(pd.DataFrame(index=range(n)), keep, pd.Index([f"P{i}" for i in range(5)]),
                                     dict(work))
    from_frame = incomplete_questionnaires(frame)
    assert len(from_frame) > 10
    pd.testing.assert_frame_equal(from_arrays, from_frame)
    if items:
        assert from_frame["column"].str.contains(", ").any()  # several blank items named in one warning
    else:
        assert set(from_frame["column"]) == {"phq9_total"}


def test_a_narrow_frame_gives_the_same_warnings_with_duplicates_and_rows_out_of_order(tmp_path):
    frame = synthetic_clinic(60, seed=11, dates_as_text=False)
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "phq9_4"] = np.nan  # incomplete questionnaires
    frame.loc[frame.index[::7], "phq9_total"] = np.nan
    frame = pd.concat([frame, frame.iloc[[3, 10, 50]]], ignore_index=True)  # exact duplicates
    shuffled = frame.sample(frac=1.0, random_state=2).reset_index(drop=True)  # rows out of time order
    for data in (frame, shuffled):
        path = tmp_path / "clinic.parquet"
        data.to_parquet(path, index=False)
        full = validate_questionnaires(path)
        narrow = validate_questionnaires(path, columns=SUMMARY_COLUMNS)
        assert full.ok and narrow.ok and full.counts["incomplete"] > 0 and full.counts["duplicates_collapsed"] >= 3
        pd.testing.assert_frame_equal(narrow.warnings, full.warnings)
        assert narrow.counts == full.counts
        pd.testing.assert_frame_equal(narrow.frame, full.frame[list(narrow.frame.columns)])
        assert not any(c in narrow.frame for c in PHQ9.items[:8])
