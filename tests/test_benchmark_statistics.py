"""Statistics for comparing a clinic with a published figure: pinned values and a size simulation."""
from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analytics import OutcomeDefinitions, compare_with_benchmarks, load_benchmarks, wilson_proportion
from analytics.benchmark_statistics import (
    Z95,
    difference_interval,
    effective_sample_size,
    fisher_exact_p,
    loglog_limits,
    loglog_std_error,
    loglog_z_p,
    std_error_from_interval,
    wilson_limits,
)
from analytics.errors import DefinitionError
from analytics.statistics import km_cumulative


def fisher_by_hand(a: int, n1: int, c: int, n2: int) -> float:
    """Two-sided Fisher p in exact rational arithmetic (R's fisher.test rule: tables no more probable)."""
    m, big_n = a + c, n1 + n2
    pmf = [Fraction(comb(m, x) * comb(big_n - m, n1 - x), comb(big_n, n1)) for x in range(0, min(m, n1) + 1)]
    observed = pmf[a]
    return float(sum(p for p in pmf if p <= observed * Fraction(10_000_001, 10_000_000)))


@pytest.mark.parametrize("table", [(3, 10, 15, 82), (0, 30, 212, 424), (10, 20, 15, 82), (30, 60, 288, 537),
                                   (0, 5, 0, 7), (5, 5, 7, 7), (1, 1, 0, 1), (45, 82, 15, 82)])
def test_fisher_matches_scipy_and_hand_computation(table):
    a, n1, c, n2 = table
    expected = fisher_by_hand(a, n1, c, n2)
    scipy_p = stats.fisher_exact([[a, n1 - a], [c, n2 - c]]).pvalue
    got = float(fisher_exact_p(a, n1, c, n2))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert got == pytest.approx(scipy_p, rel=1e-9, abs=1e-15)
    # symmetric in the groups
    assert float(fisher_exact_p(c, n2, a, n1)) == pytest.approx(got, rel=1e-9, abs=1e-15)


def test_fisher_hand_values_pinned():
    # 3/10 vs 15/82 and 0/30 vs 212/424, summed by hand over the hypergeometric table (rational arithmetic)
    assert float(fisher_exact_p(3, 10, 15, 82)) == pytest.approx(0.40430325821679, rel=1e-9)
    assert float(fisher_exact_p(0, 30, 212, 424)) == pytest.approx(4.0977575153359e-09, rel=1e-7)
    assert np.isnan(fisher_exact_p(0, 0, 3, 10))


def test_fisher_is_vectorised():
    got = fisher_exact_p([3, 0, 10], [10, 30, 20], [15, 212, 15], [82, 424, 82])
    assert got.shape == (3,)
    assert got == pytest.approx([fisher_by_hand(3, 10, 15, 82), fisher_by_hand(0, 30, 212, 424),
                                 fisher_by_hand(10, 20, 15, 82)], rel=1e-9)


def test_wilson_and_newcombe_match_statsmodels():
    low, high = wilson_limits(15, 82)
    sm_low, sm_high = proportion_confint(15, 82, method="wilson")
    assert (float(low), float(high)) == pytest.approx((sm_low, sm_high), abs=1e-12)
    la, ua = wilson_limits(10, 20)
    lb, ub = wilson_limits(15, 82)
    d_low, d_high = difference_interval(0.5, la, ua, 15 / 82, lb, ub)
    sm = confint_proportions_2indep(10, 20, 15, 82, method="newcomb", compare="diff")
    assert (float(d_low), float(d_high)) == pytest.approx(sm, abs=1e-9)


def test_standard_error_from_interval_on_each_scale():
    # identity: 45% +/- 10 -> 0.10 / 1.96
    assert std_error_from_interval(0.45, 0.35, 0.55, scale="identity") == pytest.approx(0.1 / Z95)
    # logit: a logit-symmetric interval built from se = 0.2 returns 0.2
    centre = np.log(0.3 / 0.7)
    lo, hi = (1 / (1 + np.exp(-(centre + s * Z95 * 0.2))) for s in (-1, 1))
    assert std_error_from_interval(0.3, lo, hi, scale="logit") == pytest.approx(0.2)
    # log-log: the interval loglog_limits draws comes back to its standard error
    lo, hi = loglog_limits(0.5, 0.15)
    assert std_error_from_interval(0.5, float(lo), float(hi), scale="loglog") == pytest.approx(0.15)
    with pytest.raises(DefinitionError, match="scale='probit' is not a known interval scale; use one of identity, "
                                              "logit, loglog"):
        std_error_from_interval(0.5, 0.4, 0.6, scale="probit")
    assert effective_sample_size(0.5, np.sqrt(0.25 / 424)) == pytest.approx(424)


def test_loglog_matches_the_kaplan_meier_interval():
    # the clinic's own log-log interval (scipy.stats.ecdf) is reproduced from its Greenwood SE
    t = np.array([7, 14, 14, 21, 28, 35, 42, 42, 10, 20, 30, 42, 42, 42, 3, 5])
    e = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0], bool)
    ci = km_cumulative(t, e, at=42)
    se = loglog_std_error(ci.estimate, ci.std_error)
    low, high = loglog_limits(ci.estimate, se)
    assert (float(low), float(high)) == pytest.approx((ci.ci_low, ci.ci_high), abs=1e-9)
    # z by hand: (log(-log S_a) - log(-log S_b)) / sqrt(se_a^2 + se_b^2)
    z, p = loglog_z_p(0.6, 0.1, 0.5, 0.05)
    by_hand = (np.log(-np.log(0.4)) - np.log(-np.log(0.5))) / np.sqrt(0.1 ** 2 + 0.05 ** 2)
    assert float(z) == pytest.approx(by_hand) and float(p) == pytest.approx(2 * stats.norm.sf(by_hand))
    assert np.isnan(loglog_z_p(0.0, 0.1, 0.5, 0.05)[1])


# ----------------------------------------------------------------------------- size simulation

REPLICATES = 4000
# 5% plus three Monte-Carlo standard errors
UPPER = 0.05 + 3 * np.sqrt(0.05 * 0.95 / REPLICATES)


def km_at_end(event_visit: np.ndarray, censor_visit: np.ndarray, visits: int):
    """Vectorised Kaplan-Meier at the last visit for many replicates (rows) of patients (columns).

    Visits 1..visits; an event at a visit is counted before a censoring there; ``visits + 1`` = beyond the
    target day (administratively censored at it).  Returns (F, Greenwood SE, censored before the last visit).
    """
    event = event_visit <= np.minimum(censor_visit, visits)
    time = np.where(event, event_visit, np.minimum(censor_visit, visits + 1))
    n = time.shape[1]
    surv = np.ones(time.shape[0])
    greenwood = np.zeros(time.shape[0])
    at_risk = np.full(time.shape[0], float(n))
    for v in range(1, visits + 1):  # a handful of visits, not patients
        d = ((time == v) & event).sum(axis=1)
        c = ((time == v) & ~event).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = surv * np.where(at_risk > 0, 1 - d / at_risk, 1.0)
            greenwood = greenwood + np.where((d > 0) & (at_risk > d), d / (at_risk * (at_risk - d)), 0.0)
        at_risk = at_risk - d - c
    censored_before = ((time < visits) & ~event).sum(axis=1)
    return 1 - surv, surv * np.sqrt(greenwood), censored_before


def test_vectorised_km_matches_the_product():
    rng = np.random.default_rng(1)
    ev, ce = rng.integers(1, 9, size=(1, 40)), rng.integers(1, 9, size=(1, 40))
    f, se, _ = km_at_end(ev, ce, 6)
    event = ev <= np.minimum(ce, 6)
    time = np.where(event, ev, np.minimum(ce, 7)) * 7.0
    ci = km_cumulative(time[0], event[0], at=42)
    assert f[0] == pytest.approx(ci.estimate) and se[0] == pytest.approx(ci.std_error)


def test_two_sample_comparison_holds_its_level():
    """Clinic and published cohort (counts known, McInnes-sized) from one population."""
    rng = np.random.default_rng(20261122)
    for n_clinic in (30, 120):
        k_clinic = rng.binomial(n_clinic, 0.536, REPLICATES)
        k_pub = rng.binomial(537, 0.536, REPLICATES)
        p = fisher_exact_p(k_clinic, n_clinic, k_pub, 537)
        assert (p < 0.05).mean() <= UPPER, n_clinic


def test_ci_derived_comparison_holds_its_level():
    """The published figure comes with a symmetric 95% interval only (its n unknown to the tool)."""
    rng = np.random.default_rng(7)
    n_pub, n_clinic, rate = 300, 80, 0.45
    k_pub = rng.binomial(n_pub, rate, REPLICATES)
    pub = np.round(k_pub / n_pub, 3)
    half = np.round(Z95 * np.sqrt(pub * (1 - pub) / n_pub), 3)  # published as "x% +/- y", rounded
    se = (2 * half) / (2 * Z95)  # std_error_from_interval, identity scale
    n_eff = np.maximum(1, np.round(effective_sample_size(pub, se)))
    k_eff = np.round(pub * n_eff)
    k_clinic = rng.binomial(n_clinic, rate, REPLICATES)
    p = fisher_exact_p(k_clinic, n_clinic, k_eff, n_eff)
    assert (p < 0.05).mean() <= UPPER


def test_cumulative_comparison_holds_its_level_where_a_one_sample_test_did_not():
    """A clinic's censored Kaplan-Meier figure vs a published cohort of 424 from the same population
    (published as a point estimate and n only: binomial floor).  The old one-sample Wald test rejected ~17%."""
    rng = np.random.default_rng(424)
    visits, n = 6, 424
    hazard = 1 - 0.5 ** (1 / visits)  # cumulative 50% by the last visit
    event_visit = rng.geometric(hazard, size=(REPLICATES, n))
    censor_visit = rng.integers(2, 30, size=(REPLICATES, n))  # some drop out before the target day
    f_clinic, se_clinic, _ = km_at_end(event_visit, censor_visit, visits)
    pub = rng.binomial(n, 0.5, REPLICATES) / n  # the published cohort, followed completely
    se_pub = np.sqrt(pub * (1 - pub) / n)
    _, p = loglog_z_p(f_clinic, loglog_std_error(f_clinic, se_clinic), pub, loglog_std_error(pub, se_pub))
    rejected = (p < 0.05).mean()
    assert 0.05 - 3 * np.sqrt(0.05 * 0.95 / REPLICATES) <= rejected <= UPPER
    old = 2 * stats.norm.sf(np.abs(f_clinic - pub) / se_clinic)  # published rate treated as exact
    assert (old < 0.05).mean() > 0.12


def test_loglog_ci_derived_comparison_holds_its_level():
    """Both figures Kaplan-Meier with censoring; the published one gives its log-log interval only."""
    rng = np.random.default_rng(99)
    visits = 6
    hazard = 1 - 0.7 ** (1 / visits)
    f_c, se_c, _ = km_at_end(rng.geometric(hazard, (REPLICATES, 90)), rng.integers(2, 20, (REPLICATES, 90)), visits)
    f_p, se_p, _ = km_at_end(rng.geometric(hazard, (REPLICATES, 300)), rng.integers(2, 20, (REPLICATES, 300)), visits)
    low, high = loglog_limits(f_p, loglog_std_error(f_p, se_p))
    se_pub = (np.log(-np.log(1 - high)) - np.log(-np.log(1 - low))) / (2 * Z95)  # as std_error_from_interval
    _, p = loglog_z_p(f_c, loglog_std_error(f_c, se_c), f_p, se_pub)
    assert (p < 0.05).mean() <= UPPER


def test_the_tests_have_power():
    rng = np.random.default_rng(3)
    k_clinic = rng.binomial(120, 0.35, 500)
    k_pub = rng.binomial(537, 0.536, 500)
    assert (fisher_exact_p(k_clinic, 120, k_pub, 537) < 0.05).mean() > 0.8


def test_the_comparison_uses_these_building_blocks():
    """compare_with_benchmarks composes exactly the functions the simulation checks."""
    lib = load_benchmarks()
    row = lib[lib["id"] == "oliver2022-response-6w"].assign(ci_low=None, ci_high=None)
    # a snapshot twin of Oliver's figure at week 6, so the snapshot path is exercised with a binomial floor
    twin = row.assign(id="twin", method="snapshot", analysis="completer")
    rates = {"response": wilson_proportion(25, 60)}
    out = compare_with_benchmarks(rates, benchmarks=twin, definitions=OutcomeDefinitions()).iloc[0]
    assert out["comparable"]
    assert out["p_value"] == pytest.approx(float(fisher_exact_p(25, 60, 212, 424)))
    la, ua = wilson_limits(25, 60)
    lb, ub = wilson_limits(212, 424)
    assert (out["diff_ci_low"], out["diff_ci_high"]) == pytest.approx(
        tuple(float(v) for v in difference_interval(25 / 60, la, ua, 0.5, lb, ub)))
    assert "floor" in out["test"]


def test_log_log_p_value_and_difference_interval_agree():
    """p < 0.05 exactly when the difference's interval excludes 0, bar a few borderline replicates."""
    rng = np.random.default_rng(30)
    visits = 6
    for n, rate in ((30, 0.5), (60, 0.4)):
        hazard = 1 - (1 - rate) ** (1 / visits)
        f, se, _ = km_at_end(rng.geometric(hazard, (REPLICATES, n)), rng.integers(2, 30, (REPLICATES, n)), visits)
        se_c, se_p = loglog_std_error(f, se), loglog_std_error(0.5, np.sqrt(0.25 / 424))
        _, p = loglog_z_p(f, se_c, 0.5, se_p)
        low, high = difference_interval(f, *loglog_limits(f, se_c), 0.5, *loglog_limits(0.5, se_p))
        ok = np.isfinite(p)
        disagree = ((p[ok] < 0.05) != ((low[ok] > 0) | (high[ok] < 0))).mean()
        assert disagree < 0.01, (n, disagree)
