"""Cohort comparisons, each statistic against an independent computation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analytics import load_questionnaires, patient_outcomes, wilson_proportion
from analytics.comparisons import (
    MIN_GROUP,
    compare_rates,
    compare_time_to_event,
    compare_two_proportions,
    holm_adjust,
)
from conftest import SAMPLE


@pytest.mark.parametrize("a, na, b, nb", [(56, 70, 48, 80), (9, 10, 3, 10), (0, 25, 4, 25), (30, 30, 12, 40)])
def test_newcombe_and_wilson_match_statsmodels(a, na, b, nb):
    c = compare_two_proportions(a, na, b, nb)
    low, high = confint_proportions_2indep(a, na, b, nb, method="newcomb", compare="diff")
    assert (c.diff_ci_low, c.diff_ci_high) == (pytest.approx(low), pytest.approx(high))
    assert c.difference == pytest.approx(a / na - b / nb)
    wl, wh = proportion_confint(a, na, method="wilson")
    assert (c.a.ci_low, c.a.ci_high) == (pytest.approx(wl), pytest.approx(wh))


def test_newcombe_published_example():
    # Newcombe (1998) Table II, example (a): 56/70 vs 48/80 -> difference 0.2, method 10: 0.0524 to 0.3339
    c = compare_two_proportions(56, 70, 48, 80)
    assert (round(c.diff_ci_low, 4), round(c.diff_ci_high, 4)) == (0.0524, 0.3339)


def test_fisher_and_odds_ratio():
    # 8/10 vs 2/10, by hand: given 10 events among 20, P(x events in group a) = C(10, x) C(10, 10 - x) / C(20, 10).
    # Two-sided: the tables no more probable than x = 8 are x in {0, 1, 2, 8, 9, 10}:
    # (1 + 100 + 2025) * 2 / 184756 = 4252 / 184756 = 0.023014.  "greater" would give half of it.
    from fractions import Fraction
    from math import comb
    assert Fraction(2 * (comb(10, 0) ** 2 + comb(10, 1) ** 2 + comb(10, 2) ** 2), comb(20, 10)) == Fraction(4252, 184756)
    c = compare_two_proportions(8, 10, 2, 10)
    assert c.p_value == pytest.approx(4252 / 184756, rel=1e-9)
    assert c.or_ci_low < c.odds_ratio < c.or_ci_high
    # conditional MLE: below the sample odds ratio (8 * 8) / (2 * 2) = 16, as it always is away from 1
    assert c.odds_ratio < 16
    tea = compare_two_proportions(3, 4, 1, 4)  # Fisher's tea-tasting table: n = 4 < MIN_GROUP
    assert tea.p_value is None and "too few" in tea.warning


def test_holm_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan, 0.5])
    ok = ~np.isnan(p)
    expected = multipletests(p[ok], method="holm")[1]
    assert np.allclose(holm_adjust(p)[ok], expected) and np.isnan(holm_adjust(p)[4])


def frame(groups):
    """Patients table with a group column and response outcomes: {group: (events, n)}."""
    rows = []
    for g, (e, n) in groups.items():
        rows += [{"arm": g, "response": i < e, "remission": False, "si_resolved": pd.NA} for i in range(n)]
    return pd.DataFrame(rows).astype({"response": "boolean", "remission": "boolean", "si_resolved": "boolean"})


def test_two_groups_use_fisher_and_more_use_chi_square():
    two = compare_rates(frame({"A": (20, 40), "B": (10, 40)}), by="arm", metric="response")
    assert two["test"].startswith("Fisher") and two["p_value"] == pytest.approx(two["pairs"]["p_value"].iloc[0])
    three = compare_rates(frame({"A": (20, 40), "B": (10, 40), "C": (30, 40)}), by="arm", metric="response")
    # Pearson chi-square by hand: expected 20 events and 20 non-events per group
    chi = sum((o - 20) ** 2 / 20 for o in (20, 10, 30, 20, 30, 10))
    assert three["statistic"] == pytest.approx(chi) and "2 df" in three["test"]
    assert len(three["pairs"]) == 3 and (three["pairs"]["p_holm"] >= three["pairs"]["p_value"]).all()


def test_small_group_gets_no_p_value():
    r = compare_rates(frame({"A": (20, 40), "B": (2, MIN_GROUP - 1)}), by="arm", metric="response")
    assert r["p_value"] is None and "too few" in r["warning"]
    assert r["rates"].set_index("arm").loc["B", "n"] == MIN_GROUP - 1


def logrank_by_hand(t1, e1, t2, e2):
    """Mantel's log-rank z: (O1 - E1) / sqrt(V), one event time at a time."""
    t = np.r_[t1, t2]
    e = np.r_[e1, e2]
    g = np.r_[np.zeros(len(t1)), np.ones(len(t2))]
    o_minus_e = var = 0.0
    for time in np.unique(t[e]):
        at = t >= time
        n, n1 = at.sum(), (at & (g == 0)).sum()
        d = (e & (t == time)).sum()
        d1 = (e & (t == time) & (g == 0)).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o_minus_e / np.sqrt(var)


def test_time_to_event_logrank_by_hand():
    rng = np.random.default_rng(3)
    rows = []
    for arm, scale in (("A", 15.0), ("B", 30.0)):
        for _ in range(40):
            t = float(np.ceil(rng.exponential(scale)))
            event = t <= 42 and rng.random() < 0.8
            rows.append({"arm": arm, "eligible": True, "first_response_day": t if event else np.nan,
                         "last_followup_day": min(t, 60.0)})
    patients = pd.DataFrame(rows).astype({"first_response_day": "Float64"})
    res = compare_time_to_event(patients, by="arm", metric="response")
    test = res["tests"].iloc[0]
    a, b = patients[patients["arm"] == "A"], patients[patients["arm"] == "B"]
    def arrays(p):
        obs = p["first_response_day"].notna().to_numpy()
        return np.where(obs, p["first_response_day"].to_numpy(dtype=float, na_value=np.nan),
                        p["last_followup_day"].to_numpy(dtype=float)), obs
    z = logrank_by_hand(*arrays(a), *arrays(b))
    assert abs(test["z"]) == pytest.approx(abs(z), rel=1e-9)
    assert test["chi_square"] == pytest.approx(z * z) and "z" in res["method"]
    assert set(res["curves"]["group"]) == {"A", "B"} and res["curves"]["time"].max() <= 42


def test_on_the_sample_clinic_by_site():
    p = patient_outcomes(load_questionnaires(SAMPLE))
    r = compare_rates(p, by="site", metric="remission")
    assert set(r["rates"]["site"]) == {"North", "Central", "Riverside"}
    assert r["rates"]["n"].sum() == wilson_proportion(int(p["remission"].fillna(False).sum()),
                                                      int(p["remission"].notna().sum())).n
    assert "chi-square" in r["test"] and 0 <= r["p_value"] <= 1


def test_sparse_three_groups_use_the_exact_test():
    # 0/10, 0/10, 3/10: Pearson's chi-square gives p = 0.036.  Exact, by hand: given 3 events among 30,
    # P(table) = prod C(10, x_i) / C(30, 3).  The observed (0, 0, 3) has C(10, 3) / C(30, 3) = 120 / 4060;
    # only (3, 0, 0) and (0, 3, 0) are as improbable, so p = 3 * 120 / 4060 = 0.0887.
    r = compare_rates(frame({"A": (0, 10), "B": (0, 10), "C": (3, 10)}), by="arm", metric="response")
    assert "Freeman-Halton" in r["test"] and "expected count is below 5" in r["test"]
    assert r["p_value"] == pytest.approx(3 * 120 / 4060)


def test_every_patient_with_the_same_outcome_gets_no_test():
    for groups in ({"A": (0, 10), "B": (0, 12), "C": (0, 11)}, {"A": (10, 10), "B": (12, 12), "C": (11, 11)},
                   {"A": (0, 10), "B": (0, 12)}):
        r = compare_rates(frame(groups), by="arm", metric="response")
        assert r["p_value"] is None and r["test"] == "none"
        assert r["warning"].startswith("no test: every patient has the same outcome")
        assert r["pairs"]["odds_ratio"].isna().all()  # undefined, not 0 or infinity


def test_exact_rx2_enumeration_and_monte_carlo_agree():
    from analytics.comparisons import exact_rx2_test
    exact = exact_rx2_test([1, 4, 0, 6], [12, 15, 11, 14])
    mc = exact_rx2_test([1, 4, 0, 6], [12, 15, 11, 14], enumeration_limit=1, draws=20_000, seed=3)
    assert exact.tables is not None and exact.draws is None and "enumeration" in exact.method
    assert mc.draws == 20_000 and "20,000 draws (seed 3)" in mc.method
    assert abs(mc.p_value - exact.p_value) < 4 * np.sqrt(exact.p_value * (1 - exact.p_value) / 20_000)
    # the two columns are interchangeable
    assert exact_rx2_test([11, 11, 11, 8], [12, 15, 11, 14]).p_value == pytest.approx(exact.p_value)


def test_omnibus_logrank_with_two_groups_is_the_pairwise_test():
    from analytics.comparisons import logrank_k_groups
    rng = np.random.default_rng(11)
    t = rng.integers(1, 40, 50).astype(float)
    e = rng.random(50) < 0.7
    g = np.repeat(["A", "B"], 25)
    z = logrank_by_hand(t[g == "A"], e[g == "A"], t[g == "B"], e[g == "B"])
    res = logrank_k_groups(t, e, g)
    assert res.df == 1 and res.chi_square == pytest.approx(z * z, rel=1e-9)


def test_time_to_event_reports_omnibus_and_number_at_risk():
    rows = []
    for arm, n in (("A", 12), ("B", 10), ("C", 11)):
        for i in range(n):
            rows.append({"arm": arm, "eligible": True, "first_response_day": float(7 + 3 * i) if i % 2 else np.nan,
                         "last_followup_day": float(5 + 4 * i)})
    patients = pd.DataFrame(rows).astype({"first_response_day": "Float64"})
    res = compare_time_to_event(patients, by="arm", metric="response")
    assert res["omnibus"].df == 2 and 0 <= res["omnibus"].p_value <= 1
    at = res["at_risk"].pivot(index="group", columns="day", values="at_risk")
    # group C, by hand: times are 7 + 3i (odd i, events) or 5 + 4i (even i, censored), i = 0..10
    times = np.array([7 + 3 * i if i % 2 else 5 + 4 * i for i in range(11)])
    for day in at.columns:
        assert at.loc["C", day] == int((times >= day).sum())
    assert list(at.columns) == [0, 7, 14, 21, 28, 35, 42]


def test_fisher_two_sided_and_conditional_odds_ratio_against_r():
    # R 4.2.2: fisher.test(matrix(c(56, 48, 14, 32), 2)) -> p = 0.0125211297492092, conditional MLE odds
    # ratio 2.6491872957237 (tests/reference/reference.json, rates.two_a); the sample odds ratio would be
    # 56*32/(14*48) = 2.667 and the one-sided ("greater") p about half.
    c = compare_two_proportions(56, 70, 48, 80)
    assert c.p_value == pytest.approx(0.0125211297492092, rel=1e-6)
    assert c.odds_ratio == pytest.approx(2.6491872957237, rel=1e-6)
    assert (c.or_ci_low, c.or_ci_high) == (pytest.approx(1.20911547892416, rel=1e-6),
                                           pytest.approx(6.03987301313345, rel=1e-6))
    # the reverse direction: a two-sided test gives the same p; "greater" would give about 1
    assert compare_two_proportions(48, 80, 56, 70).p_value == pytest.approx(0.0125211297492092, rel=1e-6)


def test_at_risk_table_is_one_row_per_group_in_curve_order():
    from analytics.comparisons import at_risk_table

    long = pd.DataFrame({"group": ["West", "West", "East", "East"], "day": [7, 0, 7, 0], "at_risk": [3, 5, 12, 20]})
    wide = at_risk_table(long)
    assert list(wide.columns) == ["group", "day 0", "day 7"]
    assert list(wide["group"]) == ["West", "East"]  # as the curves, not alphabetical
    assert wide.set_index("group").loc["West"].tolist() == [5, 3]
    assert wide.set_index("group").loc["East"].tolist() == [20, 12]
    assert list(at_risk_table(long.iloc[0:0]).columns) == ["group"]
