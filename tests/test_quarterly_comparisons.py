"""The quarterly export's published comparisons: like-for-like rows only carry p-values, Holm within each
table, strata never compared with whole-cohort figures, and no p-values in the board report."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analytics import load_questionnaires
from analytics.comparisons import holm_adjust
from analytics.quarterly import quarterly_export, write_quarterly_export
from conftest import SAMPLE

QUARTER = "2025Q3"


@pytest.fixture(scope="module")
def export():
    return quarterly_export(load_questionnaires(SAMPLE), quarter=QUARTER)


def test_p_values_only_for_like_for_like_overall_rows(export):
    raw = export.raw_summary
    compared = raw[raw["benchmark_id"] != ""]
    assert len(compared) > 60  # every stratum is still shown beside every published figure
    with_p = compared[compared["p_value"].notna()]
    assert len(with_p) >= 1 and with_p["comparable"].all()
    assert compared.loc[~compared["comparable"].astype(bool), "p_value"].isna().all()
    assert (with_p["dimension"] == "overall").all()
    strata = compared[compared["dimension"] != "overall"]
    assert not strata["comparable"].astype(bool).any()
    assert strata["reason"].str.contains("the published figure is for the whole cohort").all()


def test_holm_within_the_table(export):
    raw = export.raw_summary
    p = pd.to_numeric(raw["p_value"], errors="coerce")
    expected = holm_adjust(p.to_numpy())
    got = pd.to_numeric(raw["p_holm"], errors="coerce").to_numpy()
    assert np.allclose(got[p.notna()], expected[p.notna()]) and np.isnan(got[p.isna()]).all()
    assert (got[p.notna()] >= p[p.notna()].to_numpy()).all()


def test_holm_by_hand():
    # three p-values 0.01, 0.04, 0.03: sorted 0.01*3, 0.03*2, 0.04*1 -> 0.03, 0.06, 0.06 (monotone)
    assert holm_adjust([0.01, 0.04, 0.03, np.nan]).tolist()[:3] == pytest.approx([0.03, 0.06, 0.06])


def test_board_report_has_estimates_and_intervals_not_p_values(export, tmp_path):
    files = {p.name: p for p in write_quarterly_export(export, tmp_path, formats=("html", "csv"))}
    html = files[f"report_{QUARTER}.html"].read_text()
    section = html.split("<h3>Compared with published figures</h3>")[1].split("<h3>")[0]
    assert "<th>Difference (95% CI)</th>" in section and "<th>Measured the same way?</th>" in section
    # the like-for-like row's difference with its interval, in percentage points
    assert re.search(r"<td>[+-]\d+\.\d pp \([+-]\d+\.\d to [+-]\d+\.\d pp\)</td>", section)
    methods = html.split('<section id="methods">')[1]  # the published figure's own uncertainty, in full
    assert "own uncertainty" in methods and "floor" in methods
    assert "<th>p_value</th>" not in html and "<th>p_holm</th>" not in html
    assert not re.search(r"p (=|&lt;) 0\.\d", html)
    csv = pd.read_csv(files["summary.csv"], encoding="utf-8-sig")
    assert {"p_value", "p_holm", "diff_ci_low", "diff_ci_high", "published_uncertainty"} <= set(csv.columns)


def test_strata_comparisons_are_suppressed_with_their_counts(export):
    s = export.summary
    hidden = s[(s["benchmark_id"] != "") & (s["suppressed"] != "")]
    for col in ("difference", "diff_ci_low", "diff_ci_high"):
        assert (hidden[col].astype(str).isin(["suppressed"]) | hidden[col].isna()).all()
