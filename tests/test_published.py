"""The published-figure library and like-for-like comparison."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analytics import OutcomeDefinitions, compare_with_benchmarks, load_benchmarks, wilson_proportion
from analytics.errors import PublishedFiguresError
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
    assert "Greenwood" in row["test"] and "log-log" in row["test"]
    rem = table.loc["oliver2022-remission-6w"]
    assert not rem["comparable"] and "unconfirmed" in rem["reason"]
    mc = table.loc["mcinnes2022-response"]
    assert not mc["comparable"] and "timepoint" in mc["reason"] and mc["test"].startswith("none: not like for like")
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


def test_not_like_for_like_has_estimates_difference_and_reason_only():
    table = compare_with_benchmarks(rates(resp=(3, 10))).set_index("id")
    row = table.loc["mcinnes2022-response"]
    assert row["clinic_rate"] == pytest.approx(0.3) and row["difference"] == pytest.approx(0.3 - 0.536)
    others = table[~table["comparable"]]
    assert others["p_value"].isna().all() and others["diff_ci_low"].isna().all()
    assert others["diff_ci_high"].isna().all() and others["difference"].notna().all()
    assert others["test"].str.startswith("none: not like for like").all()
    assert "Not like for like, so no test" in row["plain_language"] and "timepoint" in row["plain_language"]


def test_no_clinic_data_gives_no_difference():
    r = rates()
    r["response"] = wilson_proportion(0, 0)
    table = compare_with_benchmarks(r).set_index("id")
    row = table.loc["mcinnes2022-response"]
    assert pd.isna(row["difference"]) and pd.isna(row["p_value"]) and "no clinic data" in row["test"]
    assert row["plain_language"] == "No clinic data for this figure."


# --------------------------------------------------------------------------- the library against the reference

def test_library_corrections_against_the_reference():
    lib = load_benchmarks().set_index("id")
    for i in ("alnefeesi2022-response", "alnefeesi2022-remission"):
        # 2,665 is the total over four overlapping syntheses, not the n behind the pooled rate
        assert pd.isna(lib.loc[i, "sample_size"]) and lib.loc[i, "total_n"] == 2665
        assert "overlapping" in lib.loc[i, "total_n_note"] and pd.isna(lib.loc[i, "published_n"])
        assert lib.loc[i, "uncertainty"] == "pooled mean" and "prediction interval" in lib.loc[i, "uncertainty_note"]
        assert pd.isna(lib.loc[i, "pi_low"])  # tau^2 and k are not in the reference
    assert lib.loc["alnefeesi2022-response", "published_se"] == pytest.approx(0.10 / 1.959964, rel=1e-6)
    for i in lib.index[lib["study"] == "han2016"]:
        assert pd.isna(lib.loc[i, "sample_size"]) and lib.loc[i, "total_n"] == 368
        assert "both arms" in lib.loc[i, "total_n_note"] and pd.isna(lib.loc[i, "published_se"])
    mgh = lib.loc["mgh2020-response"]
    assert (mgh["events"], mgh["sample_size"], mgh["analysis"]) == (15, 82, "itt")
    assert "non-responders" in mgh["note"] and mgh["uncertainty"] == "counts"
    assert pd.isna(lib.loc["grunebaum2018-si-response", "sample_size"])  # 80 covers both arms
    for i in ("oliver2022-si-6inf", "mcinnes2022-si-reduced"):  # denominators: SI at baseline, not given
        assert pd.isna(lib.loc[i, "sample_size"]) and lib.loc[i, "uncertainty"] == "unknown"


@pytest.mark.parametrize("fig, events, n", [("mcinnes2022-response", 288, 537), ("mcinnes2022-remission", 155, 537),
                                            ("mgh2020-response", 15, 82), ("elektd2023-response", 108, 195),
                                            ("phillips2019-response", 24, 41), ("price2014-si-resolution", 19, 36),
                                            ("mcinnes2022-si-increased", 32, 537),
                                            ("transform2-response", 79, 114)])
def test_published_counts(fig, events, n):
    row = load_benchmarks().set_index("id").loc[fig]
    assert (row["published_events"], row["published_n"]) == (events, n)
    assert row["published_se"] == pytest.approx((events / n * (1 - events / n) / n) ** 0.5)


def test_percentages_no_whole_count_reproduces_use_the_binomial_floor():
    lib = load_benchmarks().set_index("id")
    row = lib.loc["transform2-remission"]  # 52.5% is not k/114 for any whole k
    assert pd.isna(row["published_events"]) and row["uncertainty"] == "binomial floor"
    assert "not a whole count of 114" in row["uncertainty_note"]
    oliver = lib.loc["oliver2022-response-6w"]  # Kaplan-Meier: no counts, the binomial SE of 424 as a floor
    assert oliver["uncertainty"] == "binomial floor" and pd.isna(oliver["published_events"])
    assert oliver["published_se"] == pytest.approx((0.25 / 424) ** 0.5) and "floor" in oliver["uncertainty_note"]


# --------------------------------------------------------------------------- comparisons with uncertainty

def fisher(a, n1, c, n2):
    from scipy.stats import fisher_exact
    return fisher_exact([[a, n1 - a], [c, n2 - c]]).pvalue


def test_zero_of_thirty_followed_to_day_42_gets_an_exact_two_sample_test():
    r = rates()
    r["cumulative_response"] = CumulativeIncidence(42, 30, 0, 0, 30, 0.0, None, None, None)
    row = compare_with_benchmarks(r).set_index("id").loc["oliver2022-response-6w"]
    assert row["comparable"] and row["difference"] == pytest.approx(-0.5)
    # nobody censored: the plain proportion 0/30 against Oliver's 50% as a binomial sample of 424 (212/424)
    assert row["p_value"] == pytest.approx(fisher(0, 30, 212, 424)) and row["p_value"] < 1e-8
    assert "plain proportion 0/30" in row["test"] and "Fisher" in row["test"]
    assert row["diff_ci_high"] < 0 < row["diff_ci_high"] + 0.5


def test_uncensored_cumulative_figure_follows_the_snapshot_rules():
    r = rates()
    r["cumulative_response"] = CumulativeIncidence(42, 40, 17, 0, 23, 17 / 40, 0.28, 0.58, 0.078)
    row = compare_with_benchmarks(r).set_index("id").loc["oliver2022-response-6w"]
    assert row["p_value"] == pytest.approx(fisher(17, 40, 212, 424))
    from statsmodels.stats.proportion import confint_proportions_2indep
    low, high = confint_proportions_2indep(17, 40, 212, 424, method="newcomb", compare="diff")
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((low, high), abs=1e-9)


def test_no_event_with_censoring_is_compared_among_those_followed():
    r = rates()
    r["cumulative_response"] = CumulativeIncidence(42, 40, 0, 12, 28, 0.0, None, None, None)
    row = compare_with_benchmarks(r).set_index("id").loc["oliver2022-response-6w"]
    assert row["p_value"] == pytest.approx(fisher(0, 28, 212, 424)) and "0/28" in row["test"]


def test_censored_kaplan_meier_is_tested_on_the_log_log_scale_with_the_published_error():
    import numpy as np
    from scipy.stats import norm
    row = compare_with_benchmarks(rates(cum_resp=0.6, se=0.05)).set_index("id").loc["oliver2022-response-6w"]
    se_clinic = 0.05 / (0.4 * abs(np.log(0.4)))
    se_pub = (0.25 / 424) ** 0.5 / (0.5 * abs(np.log(0.5)))
    z = (np.log(-np.log(0.4)) - np.log(-np.log(0.5))) / np.hypot(se_clinic, se_pub)
    assert row["p_value"] == pytest.approx(2 * norm.sf(abs(z)))
    # the one-sample test that treated 50% as exact would have given a smaller p
    assert row["p_value"] > 2 * norm.sf(abs(np.log(-np.log(0.4)) - np.log(-np.log(0.5))) / se_clinic)
    assert "binomial standard error of n = 424 (a floor)" in row["test"]
    assert "floor" in row["plain_language"] and "percentage points" in row["plain_language"]


def test_oliver_reason_says_what_the_abstract_does_not():
    row = compare_with_benchmarks(rates()).set_index("id").loc["oliver2022-response-6w"]
    assert row["comparable"]
    assert "eligibility threshold" in row["reason"] and "censoring rule" in row["reason"]
    assert "not in the oliver2022 abstract" in row["reason"]
    assert "treatment-resistant depression" in row["reason"] and "cannot check" in row["reason"]


def test_a_stratum_is_not_like_for_like_with_a_whole_cohort_figure():
    table = compare_with_benchmarks(rates(), stratum=("site", "North")).set_index("id")
    row = table.loc["oliver2022-response-6w"]
    assert not row["comparable"] and "site 'North'" in row["reason"] and pd.isna(row["p_value"])
    lib = load_benchmarks()
    lib["strata"] = [["site=North"] if i == "oliver2022-response-6w" else None for i in lib["id"]]
    reported = compare_with_benchmarks(rates(), benchmarks=lib, stratum=("site", "North")).set_index("id")
    assert reported.loc["oliver2022-response-6w", "comparable"]


def test_a_stated_baseline_threshold_must_match():
    lib = load_benchmarks()
    lib["min_baseline"] = [15 if i == "oliver2022-response-6w" else float("nan") for i in lib["id"]]
    row = compare_with_benchmarks(rates(), benchmarks=lib).set_index("id").loc["oliver2022-response-6w"]
    assert not row["comparable"] and "baseline PHQ-9 >= 15, clinic >= 10" in row["reason"]


def _custom(**fields):
    """A one-figure library (a like-for-like week-6 completer PHQ-9 response figure) with its uncertainty derived."""
    import analytics.published as bm
    base = {"id": "custom", "study": "custom", "citation": "c", "instrument": "PHQ-9", "metric": "response",
            "definition": "d", "definition_matches": True, "timepoint": "week 6", "timepoint_week": 6,
            "method": "snapshot", "analysis": "completer", "rate": 0.45, "source": "s"}
    entry = {**base, **fields}
    frame = pd.DataFrame([entry])
    for col in ("ci_low", "ci_high", "sample_size", "events", "pooled_studies", "tau2", "min_baseline"):
        frame[col] = entry.get(col, float("nan"))
    for col in ("ci_scale", "unstated", "strata", "note", "source_url", "definition_note", "total_n_note"):
        frame[col] = entry.get(col)
    derived = pd.DataFrame([bm._uncertainty(frame.iloc[0].to_dict())])
    return pd.concat([frame, derived], axis=1)


def test_a_published_interval_gives_the_standard_error():
    lib = _custom(ci_low=0.40, ci_high=0.50, ci_scale="identity")
    row = compare_with_benchmarks({"response": wilson_proportion(30, 80)}, benchmarks=lib).iloc[0]
    se = 0.05 / 1.959964
    n_eff = round(0.45 * 0.55 / se ** 2)  # 380: the binomial sample with the same standard error
    assert row["published_se"] == pytest.approx(se, rel=1e-6) and n_eff == 380
    assert row["p_value"] == pytest.approx(fisher(30, 80, round(0.45 * n_eff), n_eff))
    assert "interval" in row["uncertainty_note"] and "identity" in row["uncertainty_note"]
    # the difference interval combines the clinic's Wilson interval with the published interval (MOVER)
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(30, 80, method="wilson")
    d = 30 / 80 - 0.45
    assert row["diff_ci_low"] == pytest.approx(d - ((30 / 80 - lo) ** 2 + 0.05 ** 2) ** 0.5)
    assert row["diff_ci_high"] == pytest.approx(d + ((hi - 30 / 80) ** 2 + 0.05 ** 2) ** 0.5)


def test_pooled_prediction_interval_when_tau2_and_k_are_published():
    from scipy.stats import t
    lib = _custom(method="pooled", ci_low=0.35, ci_high=0.55, pooled_studies=12, tau2=0.01)
    se = 0.1 / 1.959964
    half = t.ppf(0.975, 10) * (0.01 + se ** 2) ** 0.5
    assert (lib.loc[0, "pi_low"], lib.loc[0, "pi_high"]) == pytest.approx((0.45 - half, 0.45 + half))
    row = compare_with_benchmarks({"response": wilson_proportion(30, 80)}, benchmarks=lib).iloc[0]
    assert not row["comparable"] and pd.isna(row["p_value"])  # pooled figures are never like for like


@pytest.mark.parametrize("entry, problem", [
    ('id = "x"\nstudy = "s"', "entry 'x' lacks citation, instrument, metric"),
    (None, "entry 'x' has ci_scale='probit'; use one of identity, logit, loglog"),
])
def test_a_broken_published_figures_file_is_our_error_naming_the_entry(tmp_path, monkeypatch, entry, problem):
    import analytics.published as published
    complete = ('id = "x"\nstudy = "s"\ncitation = "c"\ninstrument = "PHQ-9"\nmetric = "response"\n'
                'definition = "d"\ndefinition_matches = true\ntimepoint = "week 6"\nmethod = "snapshot"\n'
                'analysis = "completer"\nrate = 0.5\nsource = "s"\nci_scale = "probit"')
    broken = tmp_path / "published_benchmarks.toml"
    broken.write_text("[[benchmark]]\n" + (entry or complete) + "\n")
    monkeypatch.setattr(published, "BENCHMARK_FILE", broken)
    caches = (published._library, published._library_frame)
    for cache in caches:
        cache.cache_clear()
    try:
        with pytest.raises(PublishedFiguresError, match=re.escape(problem)):
            load_benchmarks()
    finally:
        for cache in caches:
            cache.cache_clear()
