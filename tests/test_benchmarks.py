"""The published-figure library and like-for-like comparison."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analytics import OutcomeDefinitions, compare_with_benchmarks, load_benchmarks, wilson_proportion
from analytics.statistics import CumulativeIncidence

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "references" / "published-outcomes.md"


def test_library_fields_and_ids():
    lib = load_benchmarks()
    assert lib["id"].is_unique
    assert lib["rate"].between(0, 1).all()
    assert set(lib["method"]) <= {"cumulative", "snapshot", "pooled", "not stated"}
    assert (lib.dropna(subset=["ci_low"]).eval("ci_low <= rate <= ci_high")).all()
    # the unverified '60 to 70 percent responded' (Zarate 2006 / Murrough 2013 day 1) is kept out
    assert not lib["study"].str.contains("zarate|murrough").any()


def test_headline_figures_match_reference():
    lib = load_benchmarks().set_index("id")
    assert lib.loc["oliver2022-remission-6w", "rate"] == 0.20
    assert lib.loc["oliver2022-response-6w", "rate"] == 0.50
    assert lib.loc["oliver2022-remission-6w", "method"] == "cumulative"
    assert not lib.loc["oliver2022-remission-6w", "definition_matches"]
    assert lib.loc["mcinnes2022-response", "rate"] == 0.536
    assert lib.loc["mcinnes2022-remission", "rate"] == 0.289
    assert lib.loc["mgh2020-response", "rate"] == pytest.approx(15 / 82, abs=5e-4)


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference not beside the checkout")
def test_every_rate_appears_in_the_reference():
    text = REFERENCE.read_text()
    percents = {float(m) for m in re.findall(r"(\d+(?:\.\d+)?)%", text)}
    for row in load_benchmarks().itertuples():
        shown = round(row.rate * 100, 1)
        assert shown in percents or row.note and "half" in row.note, row.id


def rates(resp=(30, 60), rem=(12, 60), si=(10, 20), cum_resp=0.5, cum_rem=0.2, se=0.05):
    def cum(est):
        return CumulativeIncidence(42, 100, 40, 10, 30, est, est - 0.1, est + 0.1, se)
    return {"response": wilson_proportion(*resp), "remission": wilson_proportion(*rem),
            "si_resolution": wilson_proportion(*si), "cumulative_response": cum(cum_resp),
            "cumulative_remission": cum(cum_rem)}


def test_comparable_only_when_like_for_like():
    table = compare_with_benchmarks(rates(), definitions=OutcomeDefinitions()).set_index("id")
    row = table.loc["oliver2022-response-6w"]
    assert row["comparable"] and row["clinic_estimate"] == "cumulative"
    assert row["difference"] == pytest.approx(0.0) and row["p_value"] == pytest.approx(1.0)
    assert "Greenwood" in row["test"]
    rem = table.loc["oliver2022-remission-6w"]
    assert not rem["comparable"] and "unconfirmed" in rem["reason"]
    mc = table.loc["mcinnes2022-response"]
    assert not mc["comparable"] and "timepoint" in mc["reason"] and mc["test"].startswith("exact binomial")
    assert "instrument: MADRS" in table.loc["phillips2019-response", "reason"]
    assert "pooled" in table.loc["alnefeesi2022-response", "reason"]
    assert "C-SSRS" in table.loc["oliver2022-si-6inf", "reason"]
    assert table["comparable"].sum() == 1


def test_week_and_mode_mismatch_are_named():
    table = compare_with_benchmarks(rates(), definitions=OutcomeDefinitions(week=8)).set_index("id")
    assert not table.loc["oliver2022-response-6w", "comparable"]
    assert "week 6" in table.loc["oliver2022-response-6w", "reason"]
    table = compare_with_benchmarks(rates(), definitions=OutcomeDefinitions(analysis="itt")).set_index("id")
    assert "analysis: published completer, clinic itt" in table.loc["mcinnes2022-response", "reason"]


def test_exact_binomial_p_value_and_difference():
    table = compare_with_benchmarks(rates(resp=(3, 10))).set_index("id")
    row = table.loc["mcinnes2022-response"]
    assert row["clinic_rate"] == pytest.approx(0.3) and row["difference"] == pytest.approx(0.3 - 0.536)
    from scipy.stats import binomtest
    assert row["p_value"] == pytest.approx(binomtest(3, 10, 0.536).pvalue)


def test_no_clinic_data_gives_no_difference():
    r = rates()
    r["response"] = wilson_proportion(0, 0)
    table = compare_with_benchmarks(r).set_index("id")
    row = table.loc["mcinnes2022-response"]
    assert pd.isna(row["difference"]) and pd.isna(row["p_value"]) and "no clinic data" in row["test"]
