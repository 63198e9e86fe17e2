"""Proportions, Kaplan-Meier estimates and one-sample tests.

Thin, named wrappers around scipy so that every figure carries its n, its
interval and the method that produced it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from .definitions import SMALL_N
from .errors import ImpossibleCountError

__all__ = [
    "SMALL_N",
    "Proportion",
    "CumulativeIncidence",
    "wilson_proportion",
    "km_cumulative",
    "km_curve",
    "number_at_risk",
    "binomial_test_p",
    "z_test_p",
]

WILSON = "Wilson score 95%"
KAPLAN_MEIER = "Kaplan-Meier, Greenwood log-log 95%"


@dataclass(frozen=True)
class Proportion:
    """A rate with its denominator and Wilson 95% interval.

    ``estimate``, ``ci_low`` and ``ci_high`` are ``None`` when ``n == 0``:
    no data is never reported as 0%.
    """

    events: int
    n: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    method: str = WILSON
    warning: str | None = None

    def as_dict(self) -> dict:
        """The JSON contract: ``{"n", "events", "rate", "ci_low", "ci_high", "method"}``."""
        return {"n": self.n, "events": self.events, "rate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "method": self.method, "warning": self.warning}

    def format(self) -> str:
        """``"42.0% (95% CI 35.1-49.2), 42/100"`` or ``"no data (n = 0)"``."""
        if self.estimate is None:
            return "no data (n = 0)"
        return (f"{self.estimate:.1%} (95% CI {self.ci_low:.1%}-{self.ci_high:.1%}), "
                f"{self.events}/{self.n}")


@dataclass(frozen=True)
class CumulativeIncidence:
    """Kaplan-Meier cumulative probability ``1 - S(t)`` of an event by time ``t``.

    ``n`` is the number of patients in the analysis, ``events`` those with an
    observed event by ``t``, ``censored`` those followed for less than ``t``
    without an event, ``at_risk`` those still followed at ``t``.
    """

    time: float
    n: int
    events: int
    censored: int
    at_risk: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    method: str = KAPLAN_MEIER
    warning: str | None = None

    def as_dict(self) -> dict:
        return {"n": self.n, "events": self.events, "rate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "method": self.method, "time_day": self.time,
                "censored_before": self.censored, "at_risk": self.at_risk, "warning": self.warning}

    def format(self) -> str:
        if self.estimate is None:
            return "no data (n = 0)"
        ci = ("interval undefined" if self.ci_low is None
              else f"95% CI {self.ci_low:.1%}-{self.ci_high:.1%}")
        return f"{self.estimate:.1%} ({ci}), {self.events} events among {self.n}"


def wilson_proportion(events: int, n: int) -> Proportion:
    """Rate with a Wilson score 95% interval.

    The closed-form Wilson (1927) score interval, written as Newcombe (1998) method 3 and exactly as
    ``scipy.stats.binomtest(events, n).proportion_ci(method="wilson")`` computes it (same z, same
    arithmetic, limits 0 at ``events == 0`` and 1 at ``events == n``), without binomtest's exact p-value,
    which took most of the time of a rate (the dashboard computes about 150 per filter change).

    Parameters
    ----------
    events, n : int
        Numerator and denominator; ``0 <= events <= n``.

    Returns
    -------
    Proportion
        With ``estimate=None`` when ``n == 0``.
    """
    events, n = int(events), int(n)
    if not 0 <= events <= n:
        raise ImpossibleCountError(f"events={events} must lie between 0 and n={n}: count as events only units "
                                   "that are in the denominator (this is a fault in the calling code).")
    if n == 0:
        return Proportion(0, 0, None, None, None, warning="no patients in the denominator: no data")
    low, high = _wilson_limits(events, n)
    warning = (f"small denominator (n = {n}): the interval is wide; read with care"
               if n < SMALL_N else None)
    return Proportion(events, n, events / n, low, high, WILSON, warning)


#: the two-sided 95% normal quantile, as scipy's Wilson interval takes it (``ndtri(0.975)``)
_Z95 = float(special.ndtri(0.5 + 0.5 * 0.95))


def _wilson_limits(events: int, n: int) -> tuple[float, float]:
    """Wilson score limits of ``events / n`` (``0 <= events <= n``, ``n > 0``)."""
    p = events / n
    denom = 2 * (n + _Z95 ** 2)
    centre = (2 * n * p + _Z95 ** 2) / denom
    delta = _Z95 / denom * math.sqrt(4 * n * p * (1 - p) + _Z95 ** 2)
    return (0.0 if events == 0 else centre - delta), (1.0 if events == n else centre + delta)


def km_curve(durations, observed) -> pd.DataFrame:
    """Kaplan-Meier table: one row per distinct time with an event or censoring.

    Wraps ``scipy.stats.ecdf`` on ``scipy.stats.CensoredData`` (events counted
    before censorings at tied times) and adds Greenwood's variance.

    Parameters
    ----------
    durations : array-like
        Time of event or censoring for each subject.
    observed : array-like of bool
        True where the event was observed at that time.

    Returns
    -------
    pandas.DataFrame
        Columns ``time, at_risk, events, censored, survival, cumulative,
        ci_low, ci_high, std_error`` (interval and error on the cumulative
        scale ``1 - S``).  Starts with a row at time 0 when no one has an
        event or censoring there (everyone at risk, survival 1, cumulative 0,
        standard error 0, interval undefined), as R's ``survfit`` curves start.
    """
    t = np.asarray(durations, dtype="float64")
    e = np.asarray(observed, dtype=bool)
    if t.size == 0:
        return pd.DataFrame(columns=["time", "at_risk", "events", "censored", "survival",
                                     "cumulative", "ci_low", "ci_high", "std_error"])
    times, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=e, minlength=times.size)
    c = np.bincount(inverse, weights=~e, minlength=times.size)
    at_risk = t.size - np.concatenate(([0], np.cumsum(d + c)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - d / at_risk)
        greenwood = np.cumsum(np.where(d > 0, d / (at_risk * (at_risk - d)), 0.0))
        se = survival * np.sqrt(greenwood)  # undefined (NaN) once S reaches 0
    low = np.full(times.size, np.nan)
    high = np.full(times.size, np.nan)
    if e.any():
        fit = stats.ecdf(stats.CensoredData(uncensored=t[e], right=t[~e]))
        # scipy notes that the log-log interval is undefined where S = 1; that is expected
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            band = fit.sf.confidence_interval(confidence_level=0.95, method="log-log")
            survival = fit.sf.evaluate(times)
            low, high = 1.0 - band.high.evaluate(times), 1.0 - band.low.evaluate(times)
    table = pd.DataFrame({
        "time": times, "at_risk": at_risk.astype(int), "events": d.astype(int), "censored": c.astype(int),
        "survival": survival, "cumulative": 1.0 - survival, "ci_low": low, "ci_high": high,
        "std_error": np.where(np.isfinite(se), se, np.nan),
    })
    if times[0] > 0:
        start = pd.DataFrame({"time": [0.0], "at_risk": [int(t.size)], "events": [0], "censored": [0],
                              "survival": [1.0], "cumulative": [0.0], "ci_low": [np.nan], "ci_high": [np.nan],
                              "std_error": [0.0]})
        table = pd.concat([start, table], ignore_index=True)
    return table


def number_at_risk(durations, times) -> np.ndarray:
    """Number at risk at each of ``times``: units whose time (event or censoring) is at least ``t``.

    The convention of R's ``summary(survfit(...), times = t)$n.risk``; a unit
    with an event or censoring on day ``t`` is still at risk on day ``t``.
    """
    t = np.sort(np.asarray(durations, dtype="float64"))
    at = np.asarray(times, dtype="float64")
    return (t.size - np.searchsorted(t, at, side="left")).astype(int)


def km_cumulative(durations, observed, *, at: float) -> CumulativeIncidence:
    """Kaplan-Meier probability of the event by time ``at`` (``1 - S(at)``).

    Wraps ``scipy.stats.ecdf`` (see :func:`km_curve`).  With no subjects the
    estimate is ``None``; with no event by ``at`` it is 0 and the log-log
    interval is undefined (``ci_low``/``ci_high`` ``None``, with a warning).
    With nobody followed beyond time 0 the estimate is ``None``: no data.
    """
    t = np.asarray(durations, dtype="float64")
    e = np.asarray(observed, dtype=bool)
    n = int(t.size)
    if n == 0:
        return CumulativeIncidence(at, 0, 0, 0, 0, None, None, None, None,
                                   warning="no patients in the analysis: no data")
    if not (t > 0).any():
        return CumulativeIncidence(at, n, 0, n, 0, None, None, None, None,
                                   warning="no patient followed beyond time 0: no data")
    events = int((e & (t <= at)).sum())
    censored = int((~e & (t < at)).sum())
    at_risk = int((t >= at).sum())
    table = km_curve(t, e)
    upto = table[table["time"] <= at]
    if upto.empty or events == 0:
        return CumulativeIncidence(at, n, 0, censored, at_risk, 0.0, None, None, None,
                                   warning="no events by this time: the Kaplan-Meier interval is undefined")
    row = upto.iloc[-1]
    warnings = []
    if n < SMALL_N:
        warnings.append(f"small denominator (n = {n}): the interval is wide; read with care")
    if at_risk < SMALL_N:
        warnings.append(f"only {at_risk} patients still followed at day {at:g}: the estimate rests on few patients")
    ci_ok = np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])
    return CumulativeIncidence(
        time=at, n=n, events=events, censored=censored, at_risk=at_risk,
        estimate=float(row["cumulative"]),
        ci_low=float(row["ci_low"]) if ci_ok else None,
        ci_high=float(row["ci_high"]) if ci_ok else None,
        std_error=float(row["std_error"]) if np.isfinite(row["std_error"]) else None,
        warning="; ".join(warnings) or None,
    )


def binomial_test_p(events: int, n: int, p: float) -> float | None:
    """Exact two-sided binomial test of ``events/n`` against rate ``p``.

    Wraps ``scipy.stats.binomtest(events, n, p).pvalue``; ``None`` when ``n == 0``.
    """
    if n == 0:
        return None
    return float(stats.binomtest(int(events), int(n), float(p)).pvalue)


def z_test_p(estimate: float, std_error: float | None, p: float) -> float | None:
    """Two-sided Wald z-test of an estimate against ``p`` (``scipy.stats.norm.sf``).

    Used for Kaplan-Meier estimates, whose counts are not binomial when
    patients are censored.  ``None`` when the standard error is unknown or 0.
    """
    if std_error is None or not np.isfinite(std_error) or std_error <= 0:
        return None
    return float(2 * stats.norm.sf(abs(estimate - p) / std_error))

