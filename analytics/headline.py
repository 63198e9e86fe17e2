"""The headline answer: one card per outcome, the figure comparable to the published method first.

A director asks "are we at the published 20% remission at 6 weeks?". Oliver 2022's figures are
Kaplan-Meier "reached by" figures, so the recommended clinic figure for response and remission is
the cumulative Kaplan-Meier one; the snapshot figures of the three analysis modes (completers,
intention to treat, LOCF) are the alternatives, each with a sentence saying how it differs.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from .published import compare_with_benchmarks
from .definitions import ANALYSIS_MODES, OutcomeDefinitions
from .outcomes import cumulative_rate, patient_outcomes, remission_rate, response_rate, si_resolution_rate
from .statistics import CumulativeIncidence
from .wording import NO_DATA, percent, percent_interval

__all__ = ["HeadlineFigure", "HeadlineCard", "headline_cards", "author_year", "HEADLINE_METRICS"]

HEADLINE_METRICS = ("response", "remission", "si_resolution")
#: each headline metric's snapshot rate (the rows rate_table gives for them)
_SNAPSHOT_RATES = {"response": response_rate, "remission": remission_rate, "si_resolution": si_resolution_rate}
_TITLES = {"response": "Response", "remission": "Remission", "si_resolution": "SI resolution"}
_MODE_TEXT = {
    "cumulative": "Kaplan-Meier: counts each patient for as long as they were followed, and anyone who reached "
                  "the outcome at any questionnaire up to the target day counts (the method of Oliver 2022)",
    "completer": "Completers only: the share at the endpoint visit among patients who had a questionnaire in the "
                 "endpoint window; patients who stopped early are left out, which usually flatters the figure",
    "itt": "Every patient counted (intention to treat): patients with no questionnaire in the endpoint window "
           "count as not reaching the outcome, which usually gives the lowest figure",
    "locf": "Last observation carried forward: every patient counted, using their last questionnaire before the "
            "endpoint window when there is none in it",
}
_MODE_SHORT = {"cumulative": "reached by the target day (Kaplan-Meier)", "completer": "completers only",
               "itt": "every patient counted (intention to treat)", "locf": "last observation carried forward"}


@dataclass(frozen=True)
class HeadlineFigure:
    """One clinic figure of a card: the estimate with its interval, n and how it was computed."""

    mode: str            # "cumulative", "completer", "itt" or "locf"
    label: str           # plain words, e.g. "completers only"
    explanation: str     # how this figure differs from the others
    n: int
    events: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    method: str

    @property
    def text(self) -> str:
        """``"19.7% (95% CI 15.7–24.7%) of 548 patients"``; "no data" for n = 0."""
        if self.n == 0 or self.estimate is None:
            return f"{NO_DATA} (no patient in the denominator)"
        return (f"{percent(self.estimate)} (95% CI {percent_interval(self.ci_low, self.ci_high)}) "
                f"of {self.n} patients")


@dataclass(frozen=True)
class HeadlineCard:
    """The headline answer for one outcome."""

    metric: str
    title: str                 # "Remission by week 6"
    recommended: HeadlineFigure
    alternatives: tuple[HeadlineFigure, ...]
    published: str | None      # "20% (Oliver 2022, 424 patients)"
    published_comparable: bool
    published_reason: str
    why_recommended: str

    @property
    def sentence(self) -> str:
        """The card's headline sentence."""
        text = f"{self.title}: {self.recommended.text}"
        return text + (f" — published: {self.published}" if self.published else " — no published figure")


def author_year(citation: str, study: str = "") -> str:
    """``"Oliver PA, Snyder AD, ... 2022;83(6)"`` -> ``"Oliver 2022"`` (never the library id)."""
    year = re.search(r"\b(19|20)\d{2}\b", citation or "")
    author = re.match(r"^([A-Z][A-Za-z'\-]+) [A-Z]{1,3}\b", citation or "")
    if author:
        return f"{author.group(1)} {year.group(0)}" if year else author.group(1)
    first = (citation or study).split(".")[0].strip()
    return f"{first} ({year.group(0)})" if year else first


def _figure(mode: str, result) -> HeadlineFigure:
    return HeadlineFigure(mode=mode, label=_MODE_SHORT[mode], explanation=_MODE_TEXT[mode], n=int(result.n),
                          events=int(result.events), estimate=result.estimate, ci_low=result.ci_low,
                          ci_high=result.ci_high, method=result.method)


def _published_text(row: dict) -> str:
    who = author_year(row["citation"], row["study"])
    n = row.get("published_n")
    size = f", {int(n)} patients" if n is not None and not pd.isna(n) else "; its denominator is not published"
    # as published: "20%", "53.6%" (no invented decimal)
    rate = percent(row["rate"], decimals=0 if round(row["rate"] * 100, 1) % 1 == 0 else 1)
    return f"{rate} ({who}{size})"


def headline_cards(questionnaires: pd.DataFrame, *, definitions: OutcomeDefinitions | None = None,
                   stratum: tuple[str, str] | None = None,
                   outcomes: Mapping[str, pd.DataFrame] | None = None,
                   cumulative: Mapping[str, CumulativeIncidence] | None = None) -> tuple[HeadlineCard, ...]:
    """One :class:`HeadlineCard` per headline outcome for the (already filtered) questionnaires.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame of the cohort.
    definitions : OutcomeDefinitions, optional
        Week, window, eligibility and episodes; the analysis mode is varied here (all three shown).
    stratum : (str, str), optional
        When the cohort is a site, clinician or protocol: passed to the published comparison
        (a stratum is not like for like with a whole-cohort figure).
    outcomes : mapping of analysis mode to pandas.DataFrame, optional
        :func:`analytics.patient_outcomes` of ``questionnaires`` under ``definitions`` with each
        analysis mode, when the caller has them already (the dashboard computes each once and
        caches it); a mode not given is computed here.  The cards are the same either way.
    cumulative : mapping of "response" / "remission" to CumulativeIncidence, optional
        :func:`analytics.outcomes.cumulative_rate` of the chosen mode's table under ``definitions``, when the
        caller has it already (the clinic summary computes the same); computed here otherwise.
    """
    d = definitions or OutcomeDefinitions()
    given = dict(outcomes or {})
    by_mode = {mode: given[mode] if mode in given else
               patient_outcomes(questionnaires, definitions=replace(d, analysis=mode), attributes=False)
               for mode in ANALYSIS_MODES}
    # the three snapshot rates of each mode (rate_table's rows for these metrics; the other metrics are not shown)
    snapshot = {mode: {m: rate(by_mode[mode]) for m, rate in _SNAPSHOT_RATES.items()} for mode in ANALYSIS_MODES}
    patients = by_mode[d.analysis]
    given_km = dict(cumulative or {})
    cumulative = {m: given_km[m] if m in given_km else cumulative_rate(patients, metric=m, definitions=d)
                  for m in ("response", "remission")}
    chosen = {m: snapshot[d.analysis][m] for m in HEADLINE_METRICS}
    bench = compare_with_benchmarks({**chosen, **{f"cumulative_{m}": c for m, c in cumulative.items()}},
                                    definitions=d, stratum=stratum)
    cards = []
    for metric in HEADLINE_METRICS:
        rows = bench[bench["metric"] == metric]
        row = _pick(rows, d.week)
        figures = {mode: _figure(mode, snapshot[mode][metric]) for mode in ANALYSIS_MODES}
        if metric in cumulative:
            figures["cumulative"] = _figure("cumulative", cumulative[metric])
        if metric in cumulative and (row is None or row["clinic_estimate"] == "cumulative"):
            first = "cumulative"
            why = ("Recommended: Kaplan-Meier 'reached by' figure, the method of the published figure."
                   if row is not None else "Recommended: Kaplan-Meier 'reached by' figure.")
        else:
            first = d.analysis
            why = (f"Shown first: your chosen analysis mode ({_MODE_SHORT[d.analysis]}); the published "
                   "figure's method is not stated, so no clinic figure matches it exactly.")
        title = f"{_TITLES[metric]} {'by' if first == 'cumulative' else 'at'} week {d.week}"
        cards.append(HeadlineCard(
            metric=metric, title=title, recommended=figures[first],
            alternatives=tuple(f for m, f in figures.items() if m != first),
            published=None if row is None else _published_text(row),
            published_comparable=bool(row is not None and row["comparable"]),
            published_reason="" if row is None else str(row["reason"]), why_recommended=why))
    return tuple(cards)


def _pick(rows: pd.DataFrame, week: int) -> dict | None:
    """The published figure a director means: like for like first, then the one at this week, then the first."""
    if rows.empty:
        return None
    records = rows.to_dict("records")
    for test in (lambda r: r["comparable"], lambda r: str(r["id"]).endswith(f"-{week}w"), lambda r: True):
        hits = [r for r in records if test(r)]
        if hits:
            return hits[0]
    return None
