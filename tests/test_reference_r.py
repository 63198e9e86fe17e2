"""Every research statistic against values computed independently in R (tests/reference/reference.json).

R is not needed to run these tests: the JSON is committed.  To regenerate it,
see tests/reference/README.md.  Tolerances, per statistic:

* counts (n, events, at risk, censored): exact;
* Wilson and Newcombe limits, Kaplan-Meier estimates, log-log limits and
  standard errors, log-rank chi-square and p, Holm, chi-square: 1e-9
  (closed forms, differing only in floating-point order);
* Fisher and Freeman-Halton p-values: relative 1e-6 (both sum exact
  hypergeometric probabilities with a 1e-7 relative tie tolerance);
* conditional odds ratio and its exact interval: relative 1e-6 against
  fisher.test's algorithm run at a tight root tolerance (fisher.test's own
  default tolerance moves the estimate by up to about 5e-3 relative);
* Monte Carlo exact test: within 4 Monte Carlo standard errors of R's exact p;
* linear mixed model (two different optimisers reaching the same REML
  optimum): fixed effects and their model-based SEs relative 1e-3,
  variance components relative 1e-3, correlation absolute 2e-3; on the
  singular cohort (a flat likelihood at the boundary) SEs relative 1e-2, the
  intercept variance relative 5e-3 and the slope variance absolute 1e-4.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import load_questionnaires, patient_outcomes
from analytics.comparisons import compare_rates, compare_time_to_event, exact_rx2_test
from analytics.durability import attrition_flow, prepost_effect_sizes, response_durability, trajectory_model
from analytics.outcomes import event_times
from analytics.statistics import km_cumulative, km_curve

HERE = Path(__file__).parent / "reference"


def _decode(value):
    """R's NA -> None, Inf -> inf (written as strings by jsonlite with na = "string")."""
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return {"NA": None, "Inf": math.inf, "-Inf": -math.inf}.get(value, value) if isinstance(value, str) else value


REF = _decode(json.loads((HERE / "reference.json").read_text(encoding="utf-8")))
CLOSED = dict(rel=1e-9, abs=1e-12)


def approx_or_missing(value, expected, **tol):
    if expected is None:
        return value is None or (isinstance(value, float) and math.isnan(value))
    return value == pytest.approx(expected, **tol)


@pytest.fixture(scope="module")
def cohort():
    frame = load_questionnaires(HERE / "questionnaires.csv")
    return frame, patient_outcomes(frame)


def case_frame(case: str) -> pd.DataFrame:
    cases = pd.read_csv(HERE / "rates_cases.csv")
    rows = []
    for r in cases[cases["case"] == case].itertuples():
        rows += [{"arm": r.group, "response": i < r.events, "remission": False, "si_resolved": pd.NA}
                 for i in range(r.n)]
    return pd.DataFrame(rows).astype({"response": "boolean", "remission": "boolean", "si_resolved": "boolean"})


@pytest.mark.parametrize("case", list(REF["rates"]))
def test_rates_pairs_and_omnibus_match_r(case):
    ref = REF["rates"][case]
    res = compare_rates(case_frame(case), by="arm", metric="response")
    rates = res["rates"].set_index("arm")
    for g in ref["groups"]:
        row = rates.loc[g["group"]]
        assert (row["n"], row["events"]) == (g["n"], g["events"])
        assert row["rate"] == pytest.approx(g["rate"], **CLOSED)
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(g["ci_low"], **CLOSED),
                                                   pytest.approx(g["ci_high"], **CLOSED))
    pairs = res["pairs"].set_index(["group_a", "group_b"])
    for p in ref["pairs"]:
        row = pairs.loc[(p["group_a"], p["group_b"])]
        for key in ("difference", "diff_ci_low", "diff_ci_high"):
            assert row[key] == pytest.approx(p[key], **CLOSED), key
        for key in ("odds_ratio", "or_ci_low", "or_ci_high"):
            if p[key] is None:  # every patient in the pair has the same outcome: undefined
                assert math.isnan(row[key]), key
            elif p[key] == math.inf:
                assert row[key] == np.inf, key
            else:
                assert row[key] == pytest.approx(p[key], rel=1e-6, abs=1e-12), key
        if p["odds_ratio"] not in (None, math.inf):  # fisher.test itself, at uniroot's default tolerance
            assert row["odds_ratio"] == pytest.approx(p["odds_ratio_fisher_test_default_tolerance"], rel=5e-3)
        assert row["p_value"] == pytest.approx(p["p_value"], rel=1e-6)
        assert row["p_holm"] == pytest.approx(p["p_holm"], rel=1e-6)
    if ref["omnibus"] is None:  # two groups: the test is Fisher's on the single pair
        assert res["p_value"] == pytest.approx(ref["pairs"][0]["p_value"], rel=1e-6)
    elif ref["omnibus"]["test"] == "fisher":
        assert ref["min_expected"] < 5 and "Freeman-Halton" in res["test"]
        assert res["p_value"] == pytest.approx(ref["omnibus"]["p_value"], rel=1e-6)
    else:
        assert ref["min_expected"] >= 5 and "chi-square" in res["test"]
        assert res["statistic"] == pytest.approx(ref["omnibus"]["statistic"], **CLOSED)
        assert res["p_value"] == pytest.approx(ref["omnibus"]["p_value"], **CLOSED)


def test_monte_carlo_exact_test_agrees_with_r_exact():
    cases = pd.read_csv(HERE / "rates_cases.csv")
    d = cases[cases["case"] == "four_sparse"]
    exact = REF["rates"]["four_sparse"]["omnibus"]["p_value"]
    mc = exact_rx2_test(d["events"], d["n"], enumeration_limit=1)
    se = math.sqrt(exact * (1 - exact) / mc.draws)
    assert mc.tables is None and "Monte Carlo" in mc.method and f"{mc.draws:,} draws" in mc.method
    assert abs(mc.p_value - exact) < 4 * se


def test_cohort_counts_match_r(cohort):
    _, patients = cohort
    flow = attrition_flow(patients)["patients"].tolist()
    c = REF["cohort"]
    assert flow == [c["patients"], c["with_baseline"], c["eligible"], c["completers"]]


@pytest.mark.parametrize("metric", ["response", "remission"])
def test_site_rates_match_r(cohort, metric):
    _, patients = cohort
    rates = compare_rates(patients, by="site", metric=metric)["rates"].set_index("site")
    for g in REF["site_rates"][metric]:
        row = rates.loc[g["site"]]
        assert (row["n"], row["events"]) == (g["n"], g["events"])
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(g["ci_low"], **CLOSED),
                                                   pytest.approx(g["ci_high"], **CLOSED))


@pytest.mark.parametrize("metric", ["response", "remission"])
def test_kaplan_meier_curves_at_risk_and_logrank_match_r(cohort, metric):
    _, patients = cohort
    ref = REF["km"][metric]
    res = compare_time_to_event(patients, by="site", metric=metric)
    eligible = patients[patients["eligible"]]
    for site, r in ref["curves"].items():
        curve = res["curves"][res["curves"]["group"] == site].reset_index(drop=True)
        # every curve starts at day 0 with nothing reached
        assert curve.loc[0, "time"] == 0 and curve.loc[0, "cumulative"] == 0
        full = km_curve(*event_times(eligible[eligible["site"] == site], metric=metric)).set_index("time")
        for i, t in enumerate(r["time"]):
            row = full.loc[t]
            assert (row["at_risk"], row["events"], row["censored"]) == (r["n_risk"][i], r["n_event"][i],
                                                                       r["n_censor"][i]), t
            assert row["survival"] == pytest.approx(r["surv"][i], **CLOSED)
            assert approx_or_missing(row["std_error"], r["std_err"][i], **CLOSED)
            if r["n_event"][i] or r["surv"][i] < 1:
                assert approx_or_missing(row["ci_low"], None if r["upper"][i] is None else 1 - r["upper"][i],
                                         **CLOSED)
                assert approx_or_missing(row["ci_high"], None if r["lower"][i] is None else 1 - r["lower"][i],
                                         **CLOSED)
            if t <= 42:
                shown = curve.set_index("time").loc[t]
                assert shown["cumulative"] == pytest.approx(1 - r["surv"][i], **CLOSED)
                assert shown["at_risk"] == r["n_risk"][i]
        # the cumulative rate at the target day (summary, quarterly and research exports): 1 - S(42)
        cum = km_cumulative(*event_times(eligible[eligible["site"] == site], metric=metric), at=42)
        upto = [i for i, t in enumerate(r["time"]) if t <= 42]
        assert cum.estimate == pytest.approx(1 - r["surv"][upto[-1]] if upto else 0.0, **CLOSED)
        assert cum.at_risk == ref["at_risk"][site]["n_risk"][-1]
        if cum.ci_low is not None:
            assert cum.ci_low == pytest.approx(1 - r["upper"][upto[-1]], **CLOSED)
            assert cum.ci_high == pytest.approx(1 - r["lower"][upto[-1]], **CLOSED)
        at = res["at_risk"][res["at_risk"]["group"] == site]
        assert at["day"].tolist() == ref["at_risk"][site]["day"]
        assert at["at_risk"].tolist() == ref["at_risk"][site]["n_risk"]
    tests = res["tests"].set_index(["group_a", "group_b"])
    for p in ref["pairs"]:
        row = tests.loc[(p["group_a"], p["group_b"])]
        assert row["chi_square"] == pytest.approx(p["chisq"], rel=1e-9)
        assert row["p_value"] == pytest.approx(p["p_value"], rel=1e-9)
        assert row["p_holm"] == pytest.approx(p["p_holm"], rel=1e-9)
    omni = res["omnibus"]
    assert omni.df == ref["omnibus"]["df"]
    assert omni.chi_square == pytest.approx(ref["omnibus"]["chisq"], rel=1e-9)
    assert omni.p_value == pytest.approx(ref["omnibus"]["p_value"], rel=1e-9)
    assert np.allclose(omni.observed, ref["omnibus"]["observed"]) and np.allclose(omni.expected,
                                                                                    ref["omnibus"]["expected"])


@pytest.mark.parametrize("rule", ["two_consecutive", "single"])
def test_durability_matches_r(cohort, rule):
    frame, patients = cohort
    ref = REF["durability"][rule]
    res = response_durability(frame, patients, loss_rule=rule)
    assert (res["responders"], res["losses"]) == (ref["responders"], ref["losses"])
    at = res["at"].set_index("day")
    for i, day in enumerate(ref["day"]):
        row = at.loc[day]
        assert row["at_risk"] == ref["n_risk"][i]
        assert row["still_responding"] == pytest.approx(ref["surv"][i], **CLOSED)
        assert approx_or_missing(row["ci_low"], ref["lower"][i], **CLOSED)
        assert approx_or_missing(row["ci_high"], ref["upper"][i], **CLOSED)
    # a day R does not report (beyond the last follow-up) is not shown
    for day in set(at.index) - set(ref["day"]):
        assert at.loc[day, "at_risk"] == 0 and math.isnan(at.loc[day, "still_responding"])


def test_effect_sizes_match_r(cohort):
    _, patients = cohort
    es = prepost_effect_sizes(patients).set_index("band")
    for band, r in REF["effect_sizes"].items():
        row = es.loc[band]
        assert row["n"] == r["n"]
        for key in ("mean_change", "sd_change", "d_z", "smc_baseline_sd"):
            assert row[key] == pytest.approx(r[key], **CLOSED), (band, key)


def _r_term(term: str) -> str:
    """statsmodels' term name -> lme4's (reference level: the first site alphabetically in both)."""
    return (term.replace("Intercept", "(Intercept)").replace("C(group)[T.", "site").replace("]", ""))


@pytest.mark.parametrize("name, key", [("questionnaires.csv", "lmm"), ("questionnaires_singular.csv",
                                                                         "lmm_singular")])
def test_mixed_model_matches_lme4(name, key):
    ref = REF[key]
    frame = load_questionnaires(HERE / name)
    patients = patient_outcomes(frame)
    res = trajectory_model(frame, patients[["patient_id", "site"]], by="site")
    assert (res["n_patients"], res["n_observations"]) == (ref["n_patients"], ref["n_observations"])
    coefs = res["coefficients"].assign(term=res["coefficients"]["term"].map(_r_term)).set_index("term")
    singular = ref["singular"]
    assert res["status"] == ("singular" if singular else "converged")
    for term, est, se in zip(ref["terms"], ref["estimate"], ref["std_error"]):
        assert coefs.loc[term, "estimate"] == pytest.approx(est, rel=1e-3, abs=1e-4), term
        assert coefs.loc[term, "std_error"] == pytest.approx(se, rel=1e-2 if singular else 1e-3), term
    vc = res["variance_components"].set_index("component")["value"]
    assert vc["random intercept variance"] == pytest.approx(ref["intercept_variance"], rel=5e-3 if singular else 1e-3)
    assert vc["residual variance"] == pytest.approx(ref["residual_variance"], rel=1e-3)
    assert vc["intercept-slope correlation"] == pytest.approx(ref["correlation"], abs=2e-3)
    if singular:
        assert vc["random slope variance (per week)"] == pytest.approx(ref["slope_variance"], abs=1e-4)
        assert "singular" in res["message"] and "did not converge" not in res["message"]
    else:
        assert vc["random slope variance (per week)"] == pytest.approx(ref["slope_variance"], rel=1e-3)
