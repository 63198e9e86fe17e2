"""Wilson intervals and Kaplan-Meier, each against an independent computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from analytics import km_cumulative, km_curve, wilson_proportion
from analytics.errors import AnalyticsError, ImpossibleCountError
from analytics.statistics import binomial_test_p, z_test_p

Z = 1.959963984540054  # standard normal 97.5% quantile


def wilson_by_formula(k, n):
    """Wilson (1927) score interval written out, no scipy."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (3, 10), (0, 10), (10, 10), (157, 280), (1, 1000), (500, 1000)])
def test_wilson_matches_closed_form(k, n):
    r = wilson_proportion(k, n)
    lo, hi = wilson_by_formula(k, n)
    assert r.estimate == pytest.approx(k / n)
    assert r.ci_low == pytest.approx(max(lo, 0.0), abs=1e-12)
    assert r.ci_high == pytest.approx(min(hi, 1.0), abs=1e-12)
    assert r.ci_low <= r.estimate <= r.ci_high


def test_wilson_equals_scipy_binomtest_interval():
    # the closed form replaced scipy.stats.binomtest(...).proportion_ci(method="wilson") (which also computes an
    # exact p-value the rate never uses): the same limits, to the last bit, over every count up to n = 60 and
    # counts of registry size
    from scipy import stats

    cases = [(k, n) for n in range(1, 61) for k in range(n + 1)]
    cases += [(0, 100_000), (1, 100_000), (31_337, 100_000), (99_999, 100_000), (100_000, 100_000),
              (4_321_987, 9_000_001)]
    for k, n in cases:
        r = wilson_proportion(k, n)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (r.ci_low, r.ci_high) == (float(ci.low), float(ci.high)), (k, n)
        assert r.estimate == k / n and r.method == "Wilson score 95%"


def test_wilson_published_values():
    # Newcombe (1998) Table I, method 3 (Wilson): 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605
    r = wilson_proportion(81, 263)
    assert (round(r.ci_low, 4), round(r.ci_high, 4)) == (0.2553, 0.3662)
    r = wilson_proportion(15, 148)
    assert (round(r.ci_low, 4), round(r.ci_high, 4)) == (0.0624, 0.1605)


def test_wilson_zero_denominator_and_small_n_warning():
    r = wilson_proportion(0, 0)
    assert r.estimate is None and r.ci_low is None and r.ci_high is None and r.n == 0
    assert "no data" in r.warning
    assert "small denominator" in wilson_proportion(2, 5).warning
    assert wilson_proportion(20, 50).warning is None
    # ours, saying what to do; still a ValueError for callers that check arguments that way
    with pytest.raises(ImpossibleCountError, match="events=5 must lie between 0 and n=3: count as events only"):
        wilson_proportion(5, 3)
    with pytest.raises(AnalyticsError):
        wilson_proportion(-1, 3)
    assert issubclass(ImpossibleCountError, ValueError)


def km_by_hand(times, events):
    """Product-limit estimator with Greenwood variance, one time at a time (plain Python)."""
    data = sorted(zip(times, events))
    s, g, out = 1.0, 0.0, {}
    for t in sorted(set(times)):
        at_risk = sum(1 for u, _ in data if u >= t)
        d = sum(1 for u, e in data if u == t and e)
        if d:
            s *= 1 - d / at_risk
            if at_risk > d:
                g += d / (at_risk * (at_risk - d))
        out[t] = (s, s * math.sqrt(g))
    return out


def test_km_hand_example():
    # events at 21, 34, 35, 42; censored at 7, 46, 49 (the tiny fixture's response times)
    times = [7, 21, 34, 35, 42, 46, 49]
    events = [False, True, True, True, True, False, False]
    r = km_cumulative(times, events, at=42)
    assert r.estimate == pytest.approx(1 - (5 / 6) * (4 / 5) * (3 / 4) * (2 / 3))
    assert (r.n, r.events, r.censored, r.at_risk) == (7, 4, 1, 3)
    s, se = km_by_hand(times, events)[42]
    assert r.std_error == pytest.approx(se)
    # log-log interval on S, written out: S^exp(+-z * se / (S * |log S|))
    v = se / (s * abs(math.log(s)))
    s_low, s_high = s ** math.exp(Z * v), s ** math.exp(-Z * v)
    assert r.ci_low == pytest.approx(1 - s_high) and r.ci_high == pytest.approx(1 - s_low)


def test_km_matches_independent_on_random_data():
    rng = np.random.default_rng(7)
    times = rng.integers(0, 60, 200).astype(float)
    events = rng.random(200) < 0.6
    table = km_curve(times, events).set_index("time")
    expected = km_by_hand(times.tolist(), events.tolist())
    for t, (s, se) in expected.items():
        assert table.loc[t, "survival"] == pytest.approx(s)
        if s > 0:
            assert table.loc[t, "std_error"] == pytest.approx(se)


def test_km_ties_events_before_censoring():
    # at t=5 one event and one censoring among 4: S = 3/4 (censored one still at risk at 5)
    r = km_cumulative([5, 5, 8, 9], [True, False, True, False], at=8)
    assert r.estimate == pytest.approx(1 - (3 / 4) * (1 / 2))


def test_km_without_censoring_equals_proportion():
    times = [3, 5, 9, 20, 30, 50, 60, 70]
    events = [True] * 8
    assert km_cumulative(times, events, at=42).estimate == pytest.approx(5 / 8)


def test_km_empty_and_no_events():
    r = km_cumulative([], [], at=42)
    assert r.estimate is None and r.n == 0
    r = km_cumulative([0, 0], [False, False], at=42)
    assert r.estimate is None and "no data" in r.warning  # nobody followed: not 0%
    r = km_cumulative([10, 50], [False, False], at=42)
    assert r.estimate == 0.0 and r.ci_low is None and "undefined" in r.warning


def test_binomial_and_z_tests():
    # exact two-sided binomial: 3 of 10 against 0.5 -> 0.34375 (by hand: 2 * P(X <= 3) = 2 * 176/1024)
    assert binomial_test_p(3, 10, 0.5) == pytest.approx(2 * 176 / 1024)
    assert binomial_test_p(0, 0, 0.5) is None
    assert z_test_p(0.6, 0.05, 0.5) == pytest.approx(0.0455, abs=1e-4)  # z = 2
    assert z_test_p(0.6, None, 0.5) is None and z_test_p(0.6, 0.0, 0.5) is None


def test_number_at_risk_counts_units_followed_to_the_day():
    from analytics.statistics import number_at_risk
    # times 3, 7, 7, 20 (event or censoring): at risk on day 7 = 3 (two on day 7 still count), day 8 = 1
    assert number_at_risk([7, 3, 20, 7], [0, 3, 4, 7, 8, 20, 21]).tolist() == [4, 4, 3, 3, 1, 1, 0]


def test_every_km_curve_starts_at_day_0():
    table = km_curve([5, 9, 12], [True, False, True])
    first = table.iloc[0]
    assert (first["time"], first["at_risk"], first["events"], first["cumulative"], first["survival"]) == (
        0, 3, 0, 0.0, 1.0)
    assert table["time"].tolist() == [0, 5, 9, 12]
    # with an event on day 0 the day-0 row is that event's row
    assert km_curve([0, 4], [True, False])["time"].tolist() == [0, 4]


# ---------------------------------------------------------------- boundaries a hand mutation test left open


def test_small_n_warning_starts_below_ten():
    # SMALL_N = 10: n = 9 warns, n = 10 does not (10 -> 11 would warn at 10)
    assert "small denominator (n = 9)" in wilson_proportion(4, 9).warning
    assert wilson_proportion(5, 10).warning is None
    times = np.arange(1, 11, dtype=float)  # ten patients, events on days 1..10, all followed to day 1
    assert km_cumulative(times, np.ones(10, bool), at=1).warning is None
    assert "small denominator (n = 9)" in km_cumulative(times[:9], np.ones(9, bool), at=1).warning


def test_censored_exactly_at_the_target_is_at_risk_not_censored_before():
    # event on day 3; censored on days 5 and 10; target day 10.
    # The one censored on day 10 was followed to the target: at risk there, not "censored before".
    r = km_cumulative([3, 5, 10], [True, False, False], at=10)
    assert (r.n, r.events, r.censored, r.at_risk) == (3, 1, 1, 1)
    assert r.estimate == pytest.approx(1 / 3)  # S(3) = 2/3, no event after


def test_at_risk_warning_boundary_is_fewer_than_ten():
    # 20 patients: one event on day 1, then ten followed to day 5 exactly and nine beyond.
    times = np.r_[1.0, np.full(9, 2.0), np.full(10, 5.0)]
    observed = np.r_[True, np.zeros(19, bool)]
    ten = km_cumulative(times, observed, at=5)
    assert ten.at_risk == 10 and ten.warning is None
    nine = km_cumulative(times, observed, at=5.5)  # nobody followed beyond day 5 -> 0 at risk
    assert nine.at_risk == 0 and "only 0 patients still followed" in nine.warning
    times[-1] = 4.0  # one of the ten now censored on day 4: nine followed to day 5
    r = km_cumulative(times, observed, at=5)
    assert r.at_risk == 9 and "only 9 patients still followed at day 5" in r.warning
