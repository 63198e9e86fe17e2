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

from .definitions import OutcomeDefinitions
from .errors import DefinitionError
from .outcomes import event_times
from .statistics import Proportion, km_curve, wilson_proportion

__all__ = [
    "MIN_GROUP",
    "ProportionComparison",
    "compare_two_proportions",
    "holm_adjust",
    "compare_rates",
    "compare_time_to_event",
]

#: Smallest group for which a test is reported.
MIN_GROUP = 10
_OUTCOME = {"response": "response", "remission": "remission", "si_resolution": "si_resolved"}


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
    odds = stats.contingency.odds_ratio(table, kind="conditional")
    ci = odds.confidence_interval(confidence_level=0.95)
    small = min(n_a, n_b) < MIN_GROUP
    p = None if small else float(stats.fisher_exact(table).pvalue)
    warning = (f"too few patients to test (smallest group n = {min(n_a, n_b)} < {MIN_GROUP}): no p-value"
               if small else None)
    return ProportionComparison(a, b, d, max(low, -1.0), min(high, 1.0), float(odds.statistic), float(ci.low),
                                float(ci.high), p, warning=warning)


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


def compare_rates(patients: pd.DataFrame, *, by: str, metric: str) -> dict:
    """A rate compared across the groups of one attribute (or across saved cohorts, stacked with a column).

    Two groups: difference with Newcombe's interval, odds ratio and Fisher's
    exact test.  More: Pearson's chi-square test of independence
    (``scipy.stats.chi2_contingency``), and every pair with Fisher's test,
    Holm-adjusted.

    Returns
    -------
    dict
        ``rates`` (one row per group: n, events, rate, Wilson interval),
        ``test``, ``statistic``, ``p_value``, ``pairs`` (frame: difference,
        Newcombe interval, odds ratio and interval, p and Holm-adjusted p),
        ``warning``.
    """
    if metric not in _OUTCOME:
        raise DefinitionError(f"metric={metric!r}; compare one of {', '.join(_OUTCOME)}.")
    column = _OUTCOME[metric]
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
    result = {"rates": rates, "pairs": pairs, "statistic": None, "p_value": None, "warning": None}
    if len(usable) < 2:
        result.update(test="none", warning="fewer than two groups with patients in the denominator: nothing to compare")
    elif small:
        result.update(test="none", warning=f"too few patients to test in {', '.join(c[0] for c in small)} "
                                           f"(n < {MIN_GROUP}): no p-value")
    elif len(usable) == 2:
        result.update(test="Fisher's exact test, two-sided (scipy.stats.fisher_exact)",
                      p_value=pairs["p_value"].iloc[0])
    else:
        table = np.array([[e, n - e] for _, e, n in usable])
        chi = stats.chi2_contingency(table, correction=False)
        result.update(test=f"Pearson chi-square test of independence, {chi.dof} df (scipy.stats.chi2_contingency)",
                      statistic=float(chi.statistic), p_value=float(chi.pvalue))
    return result


def _p(p: Proportion) -> dict:
    return {"rate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high}


def compare_time_to_event(patients: pd.DataFrame, *, by: str, metric: str,
                          definitions: OutcomeDefinitions | None = None) -> dict:
    """Kaplan-Meier curves of first response or remission by group, with log-rank tests.

    Among eligible patients, as :func:`analytics.cumulative_rate`.  Two groups:
    ``scipy.stats.logrank`` (which reports a z statistic, not a chi-square:
    chi-square = z squared).  More: every pair, Holm-adjusted.

    Returns
    -------
    dict
        ``curves`` (group, time, at_risk, events, censored, cumulative,
        ci_low, ci_high: log-log 95%), ``tests`` (group_a, group_b, z,
        chi_square, p_value, p_holm, warning), ``method``.
    """
    d = definitions or OutcomeDefinitions()
    if metric not in ("response", "remission"):
        raise DefinitionError(f"metric={metric!r}: time-to-event exists for 'response' and 'remission'.")
    data = {}
    curves = []
    for name, part in _groups(patients[patients["eligible"]], by):
        times, observed = event_times(part, metric=metric)
        data[name] = (times, observed)
        curve = km_curve(times, observed)
        curves.append(curve[curve["time"] <= d.target_day].assign(group=name))
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
    cols = ["group", "time", "at_risk", "events", "censored", "cumulative", "ci_low", "ci_high"]
    return {"curves": pd.concat(curves, ignore_index=True)[cols] if curves else pd.DataFrame(columns=cols),
            "tests": tests,
            "method": "Kaplan-Meier with log-log 95% intervals; log-rank test (scipy.stats.logrank reports z; "
                      "chi-square = z^2, 1 df); pairs Holm-adjusted when more than two groups"}
