"""Comparing cohorts: rates, differences, odds ratios, tests, and time-to-event curves.

Every result names its method.  A group with fewer than :data:`MIN_GROUP`
patients gets no p-value: the output says so instead of printing a number that
would mean little.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .definitions import (
    AT_RISK_DAYS_STEP,
    COMPARISON_MIN_GROUP,
    EXACT_TEST_ENUMERATION_LIMIT,
    EXACT_TEST_MIN_EXPECTED,
    EXACT_TEST_MONTE_CARLO_DRAWS,
    EXACT_TEST_SEED,
    OutcomeDefinitions,
)
from .errors import DefinitionError, ImpossibleCountError
from .instruments import OutcomeScale, outcome_scale
from .outcomes import event_times, scale_metrics
from .statistics import Proportion, km_curve, number_at_risk, wilson_proportion

__all__ = [
    "MIN_GROUP",
    "ProportionComparison",
    "compare_two_proportions",
    "holm_adjust",
    "compare_rates",
    "compare_time_to_event",
    "exact_rx2_test",
    "logrank_k_groups",
    "ExactTest",
    "LogRankTest",
    "at_risk_days",
    "at_risk_table",
]

#: Smallest group for which a test is reported.
MIN_GROUP = COMPARISON_MIN_GROUP


@dataclass(frozen=True)
class ProportionComparison:
    """Two rates, their difference (Newcombe interval), odds ratio and Fisher's exact test."""

    a: Proportion
    b: Proportion
    difference: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    odds_ratio: float | None
    or_ci_low: float | None
    or_ci_high: float | None
    p_value: float | None
    test: str = "Fisher's exact test, two-sided (scipy.stats.fisher_exact)"
    diff_method: str = "Newcombe hybrid score interval (Wilson), 95%"
    or_method: str = "conditional maximum likelihood, exact 95% interval (scipy.stats.contingency.odds_ratio)"
    warning: str | None = None


def compare_two_proportions(events_a: int, n_a: int, events_b: int, n_b: int) -> ProportionComparison:
    """Difference a - b with Newcombe's interval, odds ratio, and Fisher's exact test.

    Newcombe (1998) method 10: ``d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` to
    ``d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)`` with Wilson limits ``l, u``.
    Wraps ``scipy.stats.fisher_exact`` and ``scipy.stats.contingency.odds_ratio``.
    """
    a, b = wilson_proportion(events_a, n_a), wilson_proportion(events_b, n_b)
    if a.n == 0 or b.n == 0:
        return ProportionComparison(a, b, None, None, None, None, None, None, None,
                                    warning="a group has no patients in the denominator: no comparison")
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.ci_low) ** 2 + (b.ci_high - b.estimate) ** 2)
    high = d + math.sqrt((a.ci_high - a.estimate) ** 2 + (b.estimate - b.ci_low) ** 2)
    table = np.array([[events_a, n_a - events_a], [events_b, n_b - events_b]])
    if events_a + events_b in (0, n_a + n_b):  # everyone has the same outcome: the odds ratio is undefined
        odds_ratio = or_low = or_high = None
    else:
        odds = stats.contingency.odds_ratio(table, kind="conditional")
        ci = odds.confidence_interval(confidence_level=0.95)
        odds_ratio, or_low, or_high = float(odds.statistic), float(ci.low), float(ci.high)
    small = min(n_a, n_b) < MIN_GROUP
    p = None if small else float(stats.fisher_exact(table).pvalue)
    warning = (f"too few patients to test (smallest group n = {min(n_a, n_b)} < {MIN_GROUP}): no p-value"
               if small else None)
    return ProportionComparison(a, b, d, max(low, -1.0), min(high, 1.0), odds_ratio, or_low, or_high, p,
                                warning=warning)


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (missing stay missing)."""
    p = np.asarray(p_values, dtype="float64")
    ok = ~np.isnan(p)
    out = np.full(p.shape, np.nan)
    m = int(ok.sum())
    if m == 0:
        return out
    order = np.argsort(p[ok])
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[ok][order]))
    values = np.empty(m)
    values[order] = adjusted
    out[ok] = values
    return out


def _groups(patients: pd.DataFrame, by: str) -> list[tuple[str, pd.DataFrame]]:
    if by not in patients:
        raise DefinitionError(f"no column {by!r} to compare by; use one of the patient attributes "
                              f"({', '.join(c for c in patients.columns if patients[c].dtype != float)}).")
    values = patients[by].astype("object").where(patients[by].notna(), "(not recorded)").astype("str")
    return [(str(v), patients[(values == v).to_numpy()]) for v in sorted(values.unique())]


@dataclass(frozen=True)
class ExactTest:
    """An exact test of independence in an r x 2 table (Freeman-Halton extension of Fisher's test)."""

    p_value: float
    method: str
    tables: int | None  # tables enumerated (exact), or None under Monte Carlo
    draws: int | None  # Monte Carlo draws, or None when enumerated


def _log_table_probability(x: np.ndarray, sizes: np.ndarray, total_events: int) -> np.ndarray:
    """Hypergeometric log probability of each row of ``x`` (events per group) given the margins."""
    from scipy.special import gammaln

    def log_choose(n, k):
        return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)

    n = int(sizes.sum())
    return log_choose(sizes[None, :], x).sum(axis=1) - log_choose(n, total_events)


def _count_tables(sizes: np.ndarray, total_events: int) -> float:
    """How many r x 2 tables share these margins (bounded compositions of the event total)."""
    ways = np.zeros(total_events + 1)
    ways[0] = 1.0
    for n_i in sizes:
        # ways_new[s] = sum_{x=0..n_i} ways[s - x]: a moving-window sum of the cumulative sum
        c = np.concatenate(([0.0], np.cumsum(ways)))
        s = np.arange(total_events + 1)
        ways = c[s + 1] - c[np.maximum(s - int(n_i), 0)]
    return float(ways[total_events])


def exact_rx2_test(events, sizes, *, enumeration_limit: int = EXACT_TEST_ENUMERATION_LIMIT,
                   draws: int = EXACT_TEST_MONTE_CARLO_DRAWS, seed: int = EXACT_TEST_SEED) -> ExactTest:
    """Fisher-Freeman-Halton exact test of an r x 2 table (events, non-events per group).

    The p-value is the total hypergeometric probability, given both margins,
    of every table no more probable than the one observed (relative tolerance
    1e-7, as R's ``fisher.test``).  Tables are enumerated, vectorised, when
    there are at most ``enumeration_limit`` of them; otherwise a seeded Monte
    Carlo estimate from ``draws`` tables drawn under the null (multivariate
    hypergeometric), ``(1 + hits) / (1 + draws)`` as R's
    ``fisher.test(simulate.p.value = TRUE)``.
    """
    x_obs = np.asarray(events, dtype="int64")
    sizes = np.asarray(sizes, dtype="int64")
    if x_obs.shape != sizes.shape or x_obs.ndim != 1 or (x_obs < 0).any() or (x_obs > sizes).any():
        raise ImpossibleCountError("events and sizes must be equal-length counts with 0 <= events <= size: count "
                                   "as events only units that are in the group (a fault in the calling code).")
    total = int(x_obs.sum())
    # the smaller column keeps enumeration small; the test is symmetric in the two columns
    if total > int(sizes.sum()) - total:
        x_obs, total = sizes - x_obs, int(sizes.sum()) - total
    observed = _log_table_probability(x_obs[None, :], sizes, total)[0] + np.log1p(1e-7)
    count = _count_tables(sizes, total)
    if count <= enumeration_limit:
        capacity_after = np.concatenate((np.cumsum(sizes[::-1])[::-1][1:], [0]))
        tables = np.zeros((1, 0), dtype="int64")
        sums = np.zeros(1, dtype="int64")
        for i, n_i in enumerate(sizes):
            x = np.arange(n_i + 1)
            new = sums[:, None] + x[None, :]
            rows, cols = np.nonzero((new <= total) & (new + capacity_after[i] >= total))
            tables = np.column_stack([tables[rows], x[cols]])
            sums = new[rows, cols]
        logp = _log_table_probability(tables, sizes, total)
        p = float(np.exp(logp[logp <= observed]).sum())
        return ExactTest(min(p, 1.0), "Fisher-Freeman-Halton exact test (r x 2), full enumeration "
                         f"of {len(tables):,} tables", len(tables), None)
    rng = np.random.default_rng(seed)
    sims = rng.multivariate_hypergeometric(sizes, total, size=draws)
    hits = int((_log_table_probability(sims, sizes, total) <= observed).sum())
    return ExactTest((1 + hits) / (1 + draws), f"Fisher-Freeman-Halton exact test (r x 2), Monte Carlo with "
                     f"{draws:,} draws (seed {seed})", None, draws)


def compare_rates(patients: pd.DataFrame, *, by: str, metric: str, instrument: "str | OutcomeScale" = "phq9") -> dict:
    """A rate compared across the groups of one attribute (or across saved cohorts, stacked with a column).

    Two groups: difference with Newcombe's interval, odds ratio and Fisher's
    exact test.  More: an omnibus test of independence, every pair with
    Fisher's test, Holm-adjusted.  The omnibus test is Pearson's chi-square
    (``scipy.stats.chi2_contingency``) when every expected count is at least
    :data:`analytics.definitions.EXACT_TEST_MIN_EXPECTED`, else the exact
    Fisher-Freeman-Halton test (:func:`exact_rx2_test`).  When every patient
    has the same outcome there is nothing to test, and the result says so.
    ``instrument``: the one ``patients`` was computed on; its metrics are the ones
    compared (PCL-5: ``meaningful_change``, ``loss_of_probable_ptsd``).

    Returns
    -------
    dict
        ``rates`` (one row per group: n, events, rate, Wilson interval),
        ``test``, ``statistic``, ``p_value``, ``pairs`` (frame: difference,
        Newcombe interval, odds ratio and interval, p and Holm-adjusted p),
        ``warning``.
    """
    metrics = scale_metrics(instrument)
    if metric not in metrics:
        raise DefinitionError(f"metric={metric!r}; compare one of {', '.join(metrics)} on "
                              f"{outcome_scale(instrument).name}.")
    column = metrics[metric][0]
    groups = _groups(patients, by)
    counts = [(name, int(part[column].fillna(False).sum()), int(part[column].notna().sum())) for name, part in groups]
    rates = pd.DataFrame([{by: name, "n": n, "events": e, **_p(wilson_proportion(e, n))} for name, e, n in counts])
    pairs = []
    for i in range(len(counts)):
        for j in range(i + 1, len(counts)):
            (na, ea, ca), (nb, eb, cb) = counts[i], counts[j]
            c = compare_two_proportions(ea, ca, eb, cb)
            pairs.append({"group_a": na, "group_b": nb, "difference": c.difference, "diff_ci_low": c.diff_ci_low,
                          "diff_ci_high": c.diff_ci_high, "odds_ratio": c.odds_ratio, "or_ci_low": c.or_ci_low,
                          "or_ci_high": c.or_ci_high, "p_value": c.p_value, "warning": c.warning})
    pairs = pd.DataFrame(pairs)
    if len(pairs):
        pairs["p_holm"] = holm_adjust(pairs["p_value"].astype("float64"))
    usable = [c for c in counts if c[2] > 0]
    small = [c for c in usable if c[2] < MIN_GROUP]
    pooled_events, pooled_n = sum(c[1] for c in usable), sum(c[2] for c in usable)
    result = {"rates": rates, "pairs": pairs, "statistic": None, "p_value": None, "warning": None}
    if len(usable) < 2:
        result.update(test="none", warning="fewer than two groups with patients in the denominator: nothing to compare")
    elif small:
        result.update(test="none", warning=f"too few patients to test in {', '.join(c[0] for c in small)} "
                                           f"(n < {MIN_GROUP}): no p-value")
    elif pooled_events in (0, pooled_n):
        result.update(test="none", warning=f"no test: every patient has the same outcome ({pooled_events} of "
                                           f"{pooled_n} with {metric.replace('_', ' ')})")
    elif len(usable) == 2:
        result.update(test="Fisher's exact test, two-sided (scipy.stats.fisher_exact)",
                      p_value=pairs["p_value"].iloc[0])
    else:
        table = np.array([[e, n - e] for _, e, n in usable])
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        if expected.min() < EXACT_TEST_MIN_EXPECTED:
            exact = exact_rx2_test(table[:, 0], table.sum(axis=1))
            result.update(test=f"{exact.method}; used because an expected count is below "
                               f"{EXACT_TEST_MIN_EXPECTED} (smallest {expected.min():.2g})", p_value=exact.p_value)
        else:
            chi = stats.chi2_contingency(table, correction=False)
            result.update(test=f"Pearson chi-square test of independence, {chi.dof} df "
                               "(scipy.stats.chi2_contingency)",
                          statistic=float(chi.statistic), p_value=float(chi.pvalue))
    return result


def _p(p: Proportion) -> dict:
    return {"rate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high}


@dataclass(frozen=True)
class LogRankTest:
    """Omnibus log-rank test across k groups (as R's ``survival::survdiff``)."""

    chi_square: float | None
    df: int | None
    p_value: float | None
    observed: tuple
    expected: tuple
    warning: str | None = None
    method: str = "log-rank test, k groups (chi-square with k - 1 df; Mantel-Haenszel variance, as survdiff)"


def logrank_k_groups(durations, observed, groups) -> LogRankTest:
    """Log-rank chi-square comparing the survival of k groups, vectorised over event times.

    ``O - E`` per group and its hypergeometric covariance summed over the
    distinct event times; chi-square = ``(O - E)' V^- (O - E)`` on the first
    k - 1 groups with expected > 0, df = that count (R's ``survdiff``).
    """
    t = np.asarray(durations, dtype="float64")
    e = np.asarray(observed, dtype=bool)
    labels, g = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    k = len(labels)
    event_times = np.unique(t[e])
    if k < 2 or event_times.size == 0:
        return LogRankTest(None, None, None, (), (), warning="fewer than two groups or no events: no test")
    # at risk per event time and group: units with time >= t
    at_risk = np.stack([(t[g == j][None, :] >= event_times[:, None]).sum(axis=1) for j in range(k)], axis=1)
    idx = np.searchsorted(event_times, t[e])
    deaths = np.zeros((event_times.size, k))
    np.add.at(deaths, (idx, g[e]), 1.0)
    n = at_risk.sum(axis=1).astype("float64")
    d = deaths.sum(axis=1)
    share = at_risk / n[:, None]
    expected = (d[:, None] * share).sum(axis=0)
    o_minus_e = deaths.sum(axis=0) - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    var = np.einsum("t,tg,th->gh", factor, share, -share) + np.diag((factor[:, None] * share).sum(axis=0))
    keep = np.flatnonzero(expected > 0)[:-1]
    df = len(keep)
    if df == 0:
        return LogRankTest(None, None, None, tuple(map(float, deaths.sum(axis=0))), tuple(map(float, expected)),
                           warning="fewer than two groups with expected events: no test")
    sub = var[np.ix_(keep, keep)]
    chi = float(o_minus_e[keep] @ np.linalg.pinv(sub) @ o_minus_e[keep])
    return LogRankTest(chi, df, float(stats.chi2.sf(chi, df)), tuple(map(float, deaths.sum(axis=0))),
                       tuple(map(float, expected)))


def compare_time_to_event(patients: pd.DataFrame, *, by: str, metric: str,
                          definitions: OutcomeDefinitions | None = None,
                          instrument: "str | OutcomeScale" = "phq9") -> dict:
    """Kaplan-Meier curves of first response or remission by group, with log-rank tests.

    Among eligible patients, as :func:`analytics.cumulative_rate`; ``instrument`` is the one
    ``patients`` was computed on (its two outcomes have times to event).  The
    omnibus k-group log-rank test (:func:`logrank_k_groups`), and every pair
    with ``scipy.stats.logrank`` (which reports a z statistic, not a
    chi-square: chi-square = z squared), Holm-adjusted when more than two groups.

    Returns
    -------
    dict
        ``curves`` (group, time, at_risk, events, censored, cumulative,
        ci_low, ci_high: log-log 95%; each group starts at day 0 with 0),
        ``at_risk`` (group, day, at_risk: units followed to at least that day,
        as R's ``summary(survfit, times=)``), ``omnibus``
        (:class:`LogRankTest`), ``tests`` (group_a, group_b, z, chi_square,
        p_value, p_holm, warning), ``method``.
    """
    d = definitions or OutcomeDefinitions()
    timed = outcome_scale(instrument).metrics
    if metric not in timed:
        raise DefinitionError(f"metric={metric!r}: time-to-event exists for {' and '.join(map(repr, timed))} on "
                              f"{outcome_scale(instrument).name}.")
    data = {}
    curves = []
    days = at_risk_days(d)
    at_risk = []
    for name, part in _groups(patients[patients["eligible"]], by):
        times, observed = event_times(part, metric=metric)
        data[name] = (times, observed)
        curve = km_curve(times, observed)
        curves.append(curve[curve["time"] <= d.target_day].assign(group=name))
        at_risk.append(pd.DataFrame({"group": name, "day": days, "at_risk": number_at_risk(times, days)}))
    tests = []
    names = list(data)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            (ta, ea), (tb, eb) = data[names[i]], data[names[j]]
            small = min(len(ta), len(tb)) < MIN_GROUP or not (ea.any() or eb.any())
            z = p = None
            if not small:
                res = stats.logrank(stats.CensoredData(uncensored=ta[ea], right=ta[~ea]),
                                    stats.CensoredData(uncensored=tb[eb], right=tb[~eb]))
                z, p = float(res.statistic), float(res.pvalue)
            tests.append({"group_a": names[i], "group_b": names[j], "z": z, "chi_square": None if z is None else z * z,
                          "p_value": p, "warning": (f"too few patients or no events (n < {MIN_GROUP}): no test"
                                                    if small else None)})
    tests = pd.DataFrame(tests, columns=["group_a", "group_b", "z", "chi_square", "p_value", "warning"])
    tests["p_holm"] = holm_adjust(tests["p_value"].astype("float64")) if len(tests) else []
    if len(names) < 2:
        omnibus = LogRankTest(None, None, None, (), (), warning="fewer than two groups: nothing to compare")
    elif min(len(v[0]) for v in data.values()) < MIN_GROUP:
        omnibus = LogRankTest(None, None, None, (), (), warning=f"too few patients in a group (n < {MIN_GROUP}): "
                                                                "no test")
    else:
        omnibus = logrank_k_groups(np.concatenate([v[0] for v in data.values()]),
                                   np.concatenate([v[1] for v in data.values()]),
                                   np.concatenate([[k] * len(v[0]) for k, v in data.items()]))
    cols = ["group", "time", "at_risk", "events", "censored", "cumulative", "ci_low", "ci_high"]
    return {"curves": pd.concat(curves, ignore_index=True)[cols] if curves else pd.DataFrame(columns=cols),
            "at_risk": (pd.concat(at_risk, ignore_index=True) if at_risk
                        else pd.DataFrame(columns=["group", "day", "at_risk"])),
            "omnibus": omnibus, "tests": tests,
            "method": "Kaplan-Meier with log-log 95% intervals; omnibus log-rank test across all groups "
                      "(chi-square, k - 1 df, as R survdiff); pairs: log-rank (scipy.stats.logrank reports z; "
                      "chi-square = z^2, 1 df), Holm-adjusted when more than two groups"}


def at_risk_days(definitions: OutcomeDefinitions | None = None) -> list[int]:
    """Days of the number-at-risk table: day 0, every week, and the target day."""
    d = definitions or OutcomeDefinitions()
    return sorted(set(range(0, d.target_day + 1, AT_RISK_DAYS_STEP)) | {d.target_day})


def at_risk_table(at_risk: pd.DataFrame) -> pd.DataFrame:
    """The long number-at-risk frame of :func:`compare_time_to_event` as the table people read: one row per group
    (in the order of the curves), one column per day (``day 0``, ``day 7``, ...), in day order."""
    if at_risk.empty:
        return pd.DataFrame(columns=["group"])
    groups = list(dict.fromkeys(at_risk["group"]))
    days = sorted(set(at_risk["day"]))
    wide = at_risk.pivot(index="group", columns="day", values="at_risk").reindex(index=groups, columns=days)
    return (wide.rename(columns=lambda x: f"day {int(x)}").rename_axis(index="group", columns=None)
            .reset_index().astype({f"day {int(x)}": "Int64" for x in days}))
