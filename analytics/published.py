"""Published outcome figures and like-for-like comparison with the clinic's rates.

The figures live in ``analytics/data/published_benchmarks.toml`` (data, not
code), transcribed from the project's verified reference.  A comparison is
``comparable`` (like for like) only when instrument, definition, method
(cumulative or snapshot), analysis mode, timepoint and population match; every
mismatch is named in ``reason``, and what the source leaves unstated is said.

A published rate is an estimate with its own sampling error, and the
comparison carries it (:mod:`analytics.benchmark_statistics`):

* published events and n known (MGH 15/82, or a percentage of a known n that
  only one whole count reproduces): a two-sample comparison, the difference
  with Newcombe's hybrid score interval and Fisher's exact test;
* a published 95% interval: the standard error it implies, on the scale it is
  symmetric on (``ci_scale``);
* only a point estimate and its n (Oliver 2022's Kaplan-Meier 50% of 424): the
  binomial standard error of that n, a floor (the true error of a censored
  Kaplan-Meier estimate is larger), and the output says so;
* a meta-analytic pooled mean: its prediction interval when the number of
  studies and the between-study variance are published; otherwise the output
  says that it cannot be derived (pooled figures are never like for like).

A clinic's Kaplan-Meier figure with patients censored before the target day is
tested on the log-log scale of its interval; with nobody censored it is a plain
proportion and is compared by the two-sample rules.  Comparisons that are not
like for like get no p-value and no interval: the two estimates, the difference
and the reason only.

Why one module of ~440 lines: loading the published figures and naming every way a comparison
is not like for like are one job; the statistics it uses live in :mod:`analytics.benchmark_statistics`.
"""
from __future__ import annotations

import math
import tomllib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .benchmark_statistics import (
    CI_SCALES,
    difference_interval,
    effective_sample_size,
    fisher_exact_p,
    loglog_limits,
    loglog_std_error,
    loglog_z_p,
    std_error_from_interval,
    wilson_limits,
)
from .definitions import ANALYSIS_MODES, SIGNIFICANCE_LEVEL, OutcomeDefinitions
from .errors import PublishedFiguresError
from .instruments import OutcomeScale, outcome_scale
from .statistics import CumulativeIncidence

__all__ = ["BENCHMARK_FILE", "COMPARED_METRICS", "COMPARISON_COLUMNS", "load_benchmarks",
           "compare_with_benchmarks", "format_p_value"]

BENCHMARK_FILE = Path(__file__).with_name("data") / "published_benchmarks.toml"
#: Metrics the engine computes and so compares automatically.
COMPARED_METRICS = ("response", "remission", "si_resolution")
COMPARISON_COLUMNS = [
    "id", "study", "metric", "rate", "ci_low", "ci_high", "published_n", "published_events", "published_se",
    "uncertainty", "uncertainty_note", "clinic_estimate", "clinic_rate", "clinic_n", "difference", "diff_ci_low",
    "diff_ci_high", "p_value", "test", "comparable", "reason", "plain_language", "citation", "source", "source_url"]
_SI_CAVEAT = ("PHQ-9 item 9 over-flags suicidal ideation compared with the C-SSRS (41% vs 13% positive in one "
              "comparison), so an item-9 resolution rate is not a C-SSRS or SSI rate")
_REQUIRED = ("id", "study", "citation", "instrument", "metric", "definition", "definition_matches",
             "timepoint", "method", "analysis", "rate", "source")
_NO_TEST_NOT_COMPARABLE = "none: not like for like, so no test (see reason)"


@lru_cache(maxsize=1)
def _library() -> tuple[dict, ...]:
    with BENCHMARK_FILE.open("rb") as fh:
        entries = tomllib.load(fh)["benchmark"]
    for e in entries:
        missing = [k for k in _REQUIRED if k not in e]
        if missing:  # a broken data file is a packaging bug, not user input
            raise PublishedFiguresError(f"{BENCHMARK_FILE.name}: entry {e.get('id')!r} lacks {', '.join(missing)}; "
                                        "reinstall the package, or add the fields to the entry if you edited the "
                                        "file.")
        if (e.get("ci_scale") or "identity") not in CI_SCALES:
            raise PublishedFiguresError(f"{BENCHMARK_FILE.name}: entry {e.get('id')!r} has ci_scale="
                                        f"{e['ci_scale']!r}; use one of {', '.join(CI_SCALES)}.")
    return tuple(entries)


def load_benchmarks() -> pd.DataFrame:
    """The published figures as a tidy frame, one row per figure, with their uncertainty.

    Returns
    -------
    pandas.DataFrame
        The library's fields (``id``, ``study``, ``citation``, ``design``,
        ``sample_size``, ``events``, ``total_n``, ``total_n_note``,
        ``instrument``, ``metric``, ``definition``, ``definition_matches``,
        ``timepoint``, ``timepoint_week``, ``method``, ``analysis``, ``rate``,
        ``ci_low``, ``ci_high``, ``ci_scale``, ``pooled_studies``, ``tau2``,
        ``unstated``, ``strata``, ``min_baseline``, ``population``,
        ``source``, ``source_url``, ``note``; missing optional
        fields are ``NaN``/``None``) and derived ones: ``published_n`` and
        ``published_events`` (when the counts are published, or when only one
        whole count of the published n reproduces a snapshot percentage),
        ``published_se`` (standard error of the rate), ``uncertainty`` (where
        it comes from: ``"counts"``, ``"interval"``, ``"binomial floor"``,
        ``"pooled mean"`` or ``"unknown"``), ``uncertainty_note`` (plain
        language) and ``pi_low``/``pi_high`` (prediction interval of a pooled
        rate, when derivable).
    """
    return _library_frame().copy()


@lru_cache(maxsize=1)
def _library_frame() -> pd.DataFrame:
    frame = pd.DataFrame(list(_library()))
    for col in ("ci_low", "ci_high", "timepoint_week", "sample_size", "events", "total_n", "pooled_studies",
                "tau2", "rate_decimals", "min_baseline"):
        if col not in frame:
            frame[col] = np.nan
    for col in ("definition_note", "source_url", "note", "design", "total_n_note", "ci_scale", "unstated", "strata",
                "population", "caveats", "remission_at_most"):
        if col not in frame:
            frame[col] = None
    derived = pd.DataFrame([_uncertainty(b) for b in frame.to_dict("records")], index=frame.index)
    return pd.concat([frame, derived], axis=1)


def _decimals(b: dict) -> int:
    """Decimal places the rate was published with (at least whole percent)."""
    stated = _opt(b.get("rate_decimals"))
    if stated is not None:
        return int(stated)
    text = repr(float(b["rate"]))
    return max(2, len(text.split(".")[1]) if "." in text else 0)


def _uncertainty(b: dict) -> dict:
    """Where a published figure's uncertainty comes from, and its standard error."""
    rate = float(b["rate"])
    n, events = _opt(b.get("sample_size")), _opt(b.get("events"))
    low, high = _opt(b.get("ci_low")), _opt(b.get("ci_high"))
    out = {"published_n": None, "published_events": None, "published_se": None, "uncertainty": "unknown",
           "uncertainty_note": "", "pi_low": None, "pi_high": None}
    if b["method"] == "pooled":
        k, tau2 = _opt(b.get("pooled_studies")), _opt(b.get("tau2"))
        out["uncertainty"] = "pooled mean"
        if low is None:
            out["uncertainty_note"] = ("pooled meta-analytic estimate published without an interval; "
                                       + (_opt(b.get("total_n_note")) or "the n behind it is not in the reference"))
            return out
        se = std_error_from_interval(rate, low, high, scale=b.get("ci_scale") or "identity")
        out["published_se"] = se
        if k is not None and tau2 is not None and k >= 3:
            # Higgins, Thompson & Spiegelhalter (2009): mu +/- t_{k-2} sqrt(tau^2 + se^2)
            half = float(stats.t.ppf(0.975, int(k) - 2)) * math.sqrt(tau2 + se * se)
            out.update(pi_low=max(0.0, rate - half), pi_high=min(1.0, rate + half),
                       uncertainty_note=f"pooled mean of {int(k)} studies: 95% prediction interval "
                                        f"{max(0.0, rate - half):.1%} to {min(1.0, rate + half):.1%}")
        else:
            out["uncertainty_note"] = (
                f"{low:.1%} to {high:.1%} is the interval of the pooled mean, not of one clinic's rate; the number "
                "of studies behind it and the between-study variance are not in the reference, so the prediction "
                "interval a clinic should be judged against cannot be derived (it is wider)")
        return out
    if n is not None and events is None and b["method"] == "snapshot":
        # a percentage of a known n: derive the count if exactly one whole count reproduces it as published
        tolerance = 0.5 * 10.0 ** -_decimals(b) + 1e-12
        counts = np.arange(int(n) + 1)
        candidates = counts[np.abs(counts / n - rate) <= tolerance].tolist()
        if len(candidates) == 1:
            events = candidates[0]
            derived = True
        else:
            derived = None
    else:
        derived = False
    if n is not None and events is not None:
        p = events / n
        out.update(published_n=int(n), published_events=int(events), published_se=math.sqrt(p * (1 - p) / n),
                   uncertainty="counts",
                   uncertainty_note=(f"{int(events)} of {int(n)}" + (" (the only whole count of the published n "
                                                                     f"that gives {rate:.{_decimals(b) - 2}%})"
                                                                     if derived else " as published")))
        return out
    if low is not None and high is not None:
        scale = b.get("ci_scale") or "identity"
        se = std_error_from_interval(rate, low, high, scale=scale)
        if scale == "logit":
            se *= rate * (1 - rate)
        elif scale == "loglog":
            se *= (1 - rate) * abs(math.log(1 - rate))
        out.update(published_n=None if n is None else int(n), published_se=se, uncertainty="interval",
                   uncertainty_note=f"standard error {se * 100:.1f} percentage points from the published 95% "
                                    f"interval {low:.1%} to {high:.1%} (symmetric on the {scale} scale)")
        return out
    if n is not None:
        se = math.sqrt(rate * (1 - rate) / n)
        why = ("a Kaplan-Meier estimate with censoring varies more" if b["method"] == "cumulative" else
               f"{rate:.{_decimals(b) - 2}%} is not a whole count of {int(n)}, so the denominator is uncertain"
               if derived is None else "no interval or count published")
        out.update(published_n=int(n), published_se=se, uncertainty="binomial floor",
                   uncertainty_note=f"only the estimate and n = {int(n)} are published: the binomial standard error "
                                    f"of that n ({se * 100:.1f} percentage points) is used as a floor on its "
                                    f"uncertainty ({why})")
        return out
    out["uncertainty_note"] = ("no count, n or interval for this figure in the reference"
                               + (f"; {b['total_n_note']}" if _opt(b.get("total_n_note")) else ""))
    return out


def format_p_value(p) -> str:
    """Readable p-value (``"p < 0.001"``, ``"p = 0.003"``, ``"p = 0.04"``); ``""`` when there is none.

    One rule for the whole product: :func:`analytics.wording.p_value`.
    """
    from .wording import p_value
    return p_value(p)


def compare_with_benchmarks(rates: dict, *, definitions: OutcomeDefinitions | None = None,
                            benchmarks: pd.DataFrame | None = None,
                            metrics: tuple = COMPARED_METRICS, stratum: tuple[str, str] | None = None,
                            instrument: "str | OutcomeScale" = "phq9") -> pd.DataFrame:
    """Compare the clinic's rates with each published figure, carrying the published figure's uncertainty.

    Parameters
    ----------
    rates : dict
        ``{"response": Proportion, "remission": Proportion, "si_resolution":
        Proportion, "cumulative_response": CumulativeIncidence,
        "cumulative_remission": CumulativeIncidence}``; missing keys are skipped.
    definitions : OutcomeDefinitions, optional
    benchmarks : pandas.DataFrame, optional
        Defaults to :func:`load_benchmarks` (a custom frame needs its derived columns).
    metrics : tuple of str
        Which published metrics to compare (e.g. ``("si_worsened",)`` for the safety view).
    stratum : (str, str), optional
        ``(dimension, value)`` when the rates are for a part of the clinic (a
        site, baseline band or protocol): like for like only with a published
        figure reported for that stratum (``strata`` in the library).
    instrument : str, optional
        The instrument the clinic's rates were measured on (default ``"phq9"``).  A
        published figure on the same instrument is a candidate for like for like
        (ELEKT-D and MGH 2020 on QIDS-SR16, TRANSFORM-2 and Phillips 2019 on MADRS);
        every other mismatch (definition, timing, analysis, population) is still named.
        A remission figure matches only the same threshold (TRANSFORM-2: MADRS <= 12, so
        not ``"madrs-10"``).  SI figures are PHQ-9 item 9's and are compared on PHQ-9 only.

    Returns
    -------
    pandas.DataFrame
        One row per published figure of a compared metric, columns
        :data:`COMPARISON_COLUMNS`: the published ``rate`` with ``ci_low``/
        ``ci_high`` (as published), ``published_n``, ``published_events``,
        ``published_se``, ``uncertainty`` and ``uncertainty_note``; the
        clinic's ``clinic_estimate`` ("snapshot" or "cumulative"),
        ``clinic_rate`` and ``clinic_n``; ``difference`` (clinic minus
        published) with its 95% interval ``diff_ci_low``/``diff_ci_high`` and
        ``p_value`` (like-for-like rows only), ``test`` (named), ``comparable``,
        ``reason`` and ``plain_language`` (a sentence for a reader).
    """
    d = definitions or OutcomeDefinitions()
    scale = outcome_scale(instrument)
    if not scale.is_phq9:  # the instrument's own outcomes only: no item-9 SI figure on another scale
        metrics = tuple(m for m in metrics if m in scale.metrics)
    lib = load_benchmarks() if benchmarks is None else benchmarks
    rows = []
    for b in lib[lib["metric"].isin(metrics)].to_dict("records"):
        metric = b["metric"]
        cumulative = rates.get(f"cumulative_{metric}")
        use_cumulative = b["method"] == "cumulative" and cumulative is not None
        clinic = cumulative if use_cumulative else rates.get(metric)
        if clinic is None:
            continue
        hard, soft = _mismatches(b, d, use_cumulative, stratum, scale)
        result = {"difference": None, "diff_ci_low": None, "diff_ci_high": None, "p_value": None,
                  "test": "none (no clinic data)"}
        if clinic.estimate is not None and clinic.n > 0:
            result["difference"] = clinic.estimate - b["rate"]
            result.update(_NOT_COMPARABLE if hard else _test(clinic, b, d))
        reason = "; ".join(hard + soft) if hard else \
            "; ".join([f"like for like: {scale.name}, same definition, method, analysis and week"] + soft)
        row = {
            "id": b["id"], "study": b["study"], "metric": metric, "rate": b["rate"],
            "ci_low": _opt(b.get("ci_low")), "ci_high": _opt(b.get("ci_high")),
            "published_n": _opt(b.get("published_n")), "published_events": _opt(b.get("published_events")),
            "published_se": _opt(b.get("published_se")), "uncertainty": b.get("uncertainty"),
            "uncertainty_note": b.get("uncertainty_note"),
            "clinic_estimate": "cumulative" if use_cumulative else "snapshot",
            "clinic_rate": clinic.estimate, "clinic_n": clinic.n, **result,
            "comparable": not hard, "reason": reason,
            "citation": b["citation"], "source": b["source"], "source_url": _opt(b.get("source_url")),
        }
        row["plain_language"] = _plain_language(row)
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


_NOT_COMPARABLE = {"test": _NO_TEST_NOT_COMPARABLE}


def _published_limits(b: dict, rate: float, se: float) -> tuple[float, float]:
    """The published figure's own 95% limits: as published, else Wilson on its (effective) counts."""
    low, high = _opt(b.get("ci_low")), _opt(b.get("ci_high"))
    if low is not None and high is not None:
        return low, high
    n_eff = effective_sample_size(rate, se)
    lo, hi = wilson_limits(rate * n_eff, n_eff)
    return float(lo), float(hi)


def _test(clinic, b: dict, d: OutcomeDefinitions) -> dict:
    """Difference interval and p-value of a like-for-like comparison."""
    se = _opt(b.get("published_se"))
    if b.get("uncertainty") in (None, "unknown", "pooled mean") or se is None or not se > 0:
        return {"test": "none: the published figure's uncertainty is unknown (" + (b.get("uncertainty_note") or
                                                                                  "no n or interval") + ")"}
    if isinstance(clinic, CumulativeIncidence):
        if clinic.censored == 0:
            return _two_sample(clinic.events, clinic.n, b,
                               f"nobody censored before day {clinic.time:g}, so the Kaplan-Meier figure is the plain "
                               f"proportion {clinic.events}/{clinic.n}")
        if clinic.estimate in (0.0, 1.0) or clinic.std_error is None:
            followed = clinic.n - clinic.censored
            return _two_sample(clinic.events, followed, b,
                               f"{'no event' if clinic.estimate == 0 else 'an event for every patient followed'} by "
                               f"day {clinic.time:g}, where the log-log scale is undefined: compared as the plain "
                               f"proportion {clinic.events}/{followed} among the patients not censored before then")
        return _loglog(clinic, b)
    return _two_sample(clinic.events, clinic.n, b, None)


def _two_sample(events: int, n: int, b: dict, basis: str | None) -> dict:
    if n <= 0:
        return {"test": "none (no clinic patients followed to the target day)"}
    rate = float(b["rate"])
    if b["uncertainty"] == "counts":
        ke, ne = int(b["published_events"]), int(b["published_n"])
        pub = ke / ne
        pub_low, pub_high = (float(v) for v in wilson_limits(ke, ne))
        what = f"the published {ke}/{ne}"
    else:
        se = float(b["published_se"])
        n_eff = float(effective_sample_size(rate, se))
        ne = max(1, int(round(n_eff)))
        ke = int(round(rate * ne))
        pub = rate
        pub_low, pub_high = _published_limits(b, rate, se)
        what = (f"the published rate as a binomial sample of its effective size ({ke}/{ne}: same standard error; "
                + ("a floor on its uncertainty)" if b["uncertainty"] == "binomial floor" else "from its interval)"))
    clinic_low, clinic_high = wilson_limits(events, n)
    low, high = difference_interval(events / n, clinic_low, clinic_high, pub, pub_low, pub_high)
    p = float(fisher_exact_p(events, n, ke, ne))
    method = ("Newcombe hybrid score interval" if b["uncertainty"] == "counts" or _opt(b.get("ci_low")) is None
              else "Newcombe-style (MOVER) interval with the published interval")
    test = f"Fisher's exact test, two-sided, {events}/{n} vs {what}; difference: {method}, 95%"
    if basis:
        test = f"{basis}; {test}"
    return {"diff_ci_low": float(low), "diff_ci_high": float(high), "p_value": p, "test": test}


def _loglog(clinic: CumulativeIncidence, b: dict) -> dict:
    rate = float(b["rate"])
    se_pub_f = float(b["published_se"])
    if b.get("ci_scale") == "loglog" and _opt(b.get("ci_low")) is not None:
        se_pub = std_error_from_interval(rate, b["ci_low"], b["ci_high"], scale="loglog")
    else:
        se_pub = float(loglog_std_error(rate, se_pub_f))
    se_clinic = float(loglog_std_error(clinic.estimate, clinic.std_error))
    z, p = loglog_z_p(clinic.estimate, se_clinic, rate, se_pub)
    pub_low, pub_high = loglog_limits(rate, se_pub)
    clinic_low = clinic.ci_low if clinic.ci_low is not None else float(loglog_limits(clinic.estimate, se_clinic)[0])
    clinic_high = clinic.ci_high if clinic.ci_high is not None else float(loglog_limits(clinic.estimate, se_clinic)[1])
    low, high = difference_interval(clinic.estimate, clinic_low, clinic_high, rate, pub_low, pub_high)
    if not np.isfinite(p):
        return {"test": "none: the log-log standard error is undefined"}
    source = {"counts": "its counts", "interval": "its published interval",
              "binomial floor": f"the binomial standard error of n = {int(b['published_n'])} (a floor)"
              }[b["uncertainty"]]
    return {"diff_ci_low": float(low), "diff_ci_high": float(high), "p_value": float(p),
            "test": (f"Wald z on the log-log scale ({clinic.censored} censored before day {clinic.time:g}): "
                     f"clinic's Kaplan-Meier estimate with Greenwood standard error, published figure with "
                     f"{source}; difference: MOVER from the two log-log 95% intervals")}


def _plain_language(row: dict) -> str:
    clinic, pub, diff = row["clinic_rate"], row["rate"], row["difference"]
    if diff is None:
        return "No clinic data for this figure."
    head = f"This clinic {clinic:.1%} vs published {pub:.1%}: {diff * 100:+.1f} percentage points."
    if not row["comparable"]:
        return f"{head} Not like for like, so no test: {row['reason']}."
    if row["p_value"] is None:
        return f"{head} {row['test'][0].upper()}{row['test'][1:]}."
    verdict = ("a difference this large would be unusual if the clinic and the published cohort shared one rate"
               if row["p_value"] < SIGNIFICANCE_LEVEL else "consistent with no difference")
    caveats = row["reason"].split("; ", 1)[1] if "; " in row["reason"] else ""
    return (f"{head} 95% CI of the difference {row['diff_ci_low'] * 100:+.1f} to {row['diff_ci_high'] * 100:+.1f} "
            f"points; {verdict} ({format_p_value(row['p_value'])}). Published figure's own uncertainty: "
            f"{row['uncertainty_note']}." + (f" Caveats: {caveats}." if caveats else ""))


def _opt(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _mismatches(b: dict, d: OutcomeDefinitions, use_cumulative: bool,
                stratum: tuple[str, str] | None = None, scale: OutcomeScale | None = None
                ) -> tuple[list[str], list[str]]:
    """Reasons a figure is not like for like (hard) and caveats that remain (soft)."""
    scale = scale or outcome_scale("phq9")
    hard, soft = [], []
    if stratum is not None:
        dim, value = stratum
        reported = _opt(b.get("strata")) or []
        if f"{dim}={value}" not in reported:
            hard.append(f"population: this is the clinic's {dim} '{value}' only; the published figure is for the "
                        "whole cohort and does not report that stratum")
    threshold = _opt(b.get("min_baseline"))
    if threshold is not None and scale.is_phq9 and int(threshold) != d.min_baseline:
        hard.append(f"population: published baseline PHQ-9 >= {int(threshold)}, clinic >= {d.min_baseline}")
    same_instrument = b["instrument"] == scale.name
    if not same_instrument:
        hard.append(f"instrument: {b['instrument']}, not {scale.name}"
                    + ("" if scale.is_phq9 else " (the clinic's rates here are on " + scale.name + ")"))
    at_most = _opt(b.get("remission_at_most"))
    if same_instrument and not scale.is_phq9 and b["metric"] == "remission" and at_most is not None:
        # remission on the clinic's own instrument: like for like only at the same threshold
        if int(at_most) != scale.remission_at_most:
            hard.append(f"definition: published remission {b['definition']}, clinic {scale.name} total <= "
                        f"{scale.remission_at_most}")
    elif not b["definition_matches"]:
        # the notes are written against the PHQ-9 rules; on another instrument name the published definition only
        note = _opt(b.get("definition_note")) if scale.is_phq9 else None
        hard.append(f"definition: {note or 'published ' + b['definition']}")
    if b["method"] == "cumulative" and not use_cumulative:
        hard.append("method: published figure is cumulative (reached by), the clinic's is a snapshot")
    elif b["method"] == "pooled":
        hard.append("method: pooled estimate from a meta-analysis")
    elif b["method"] not in ("cumulative", "snapshot"):
        hard.append(f"method: {b['method']} in the publication")
    if not use_cumulative:
        mode = b["analysis"]
        if mode in ANALYSIS_MODES and mode != d.analysis:
            hard.append(f"analysis: published {mode}, clinic {d.analysis}")
        elif mode not in ANALYSIS_MODES:
            hard.append(f"analysis: {mode} in the publication, clinic {d.analysis}")
    week = _opt(b.get("timepoint_week"))
    if week is None:
        hard.append(f"timepoint: {b['timepoint']}, not week {d.week} from the first infusion")
    elif float(week) != d.week:
        hard.append(f"timepoint: week {week:g} ({b['timepoint']}), clinic week {d.week}")
    if b["metric"] == "si_resolution":
        soft.append(_SI_CAVEAT)
    if _opt(b.get("note")) and "approximate" in b["note"]:
        soft.append("published figure is approximate")
    if _opt(b.get("population")):
        soft.append(f"published population: {b['population']}; the tool cannot check this in the clinic's data")
    caveats = b.get("caveats")
    if same_instrument and isinstance(caveats, (list, tuple)):
        soft.extend(caveats)
    unstated = b.get("unstated")
    if isinstance(unstated, (list, tuple)) and unstated:
        soft.append(f"not in the {b['study']} abstract, so not confirmed to match: {' and '.join(unstated)}")
    return hard, soft
