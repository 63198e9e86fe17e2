"""The clinic's headline summary: counts, rates, cumulative rates, benchmarks.

:func:`clinic_summary` is what the command line's ``summary`` prints and what
the dashboard's overview shows; :meth:`ClinicSummary.as_dict` is the JSON
machine contract (keys are stable).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .published import compare_with_benchmarks, format_p_value
from .definitions import ANALYSIS_MODE_LABELS, OutcomeDefinitions
from .infusions import infusion_outcomes
from .instruments import OUTCOME_SCALES, OutcomeScale, outcome_scale
from .outcomes import (
    cumulative_rate,
    patient_outcomes,
    remission_rate,
    response_rate,
    si_resolution_rate,
)
from .statistics import CumulativeIncidence, Proportion, wilson_proportion

__all__ = ["ClinicSummary", "clinic_summary"]


@dataclass(frozen=True)
class ClinicSummary:
    """Headline figures of one data set under one set of definitions, on one instrument.

    ``response`` and ``remission`` (and their cumulative forms) hold the instrument's two
    outcomes (``scale.metrics``): for PCL-5, meaningful change and loss of probable PTSD,
    under those names in :meth:`as_dict`.
    """

    definitions: OutcomeDefinitions
    patients: int
    episodes: int
    patients_with_repeat_episodes: int
    questionnaires: int
    complete_questionnaires: int
    with_baseline: int
    eligible: int
    si_at_baseline: int
    si_unknown: int
    si_endpoint_unknown: int
    response: Proportion
    remission: Proportion
    si_resolution: Proportion
    cumulative_response: CumulativeIncidence
    cumulative_remission: CumulativeIncidence
    benchmarks: pd.DataFrame
    source: str = ""
    sha256: str = ""
    validation: dict = field(default_factory=dict)
    by_infusions: pd.DataFrame = field(default_factory=pd.DataFrame)
    scale: OutcomeScale = OUTCOME_SCALES["phq9"]

    @property
    def warnings(self) -> list[str]:
        """Warnings attached to any figure, prefixed with the figure's name."""
        first, second = (m.replace("_", " ") for m in self.scale.metrics)
        named = {first: self.response, second: self.remission, "SI resolution": self.si_resolution,
                 f"cumulative {first}": self.cumulative_response,
                 f"cumulative {second}": self.cumulative_remission}
        if not self.scale.is_phq9:
            del named["SI resolution"]
        out = [f"{k}: {v.warning}" for k, v in named.items() if v.warning]
        if self.definitions.episodes == "all" and self.episodes > self.patients:
            out.append(f"episodes: {self.episodes} episodes from {self.patients} patients are the units; "
                       "episodes of one patient are not independent, so the intervals are too narrow")
        if self.scale.is_phq9 and (self.si_unknown or self.si_endpoint_unknown):
            out.append(f"SI resolution: {self.si_unknown} with baseline item 9 unknown and "
                       f"{self.si_endpoint_unknown} with endpoint item 9 unknown are outside the SI denominator")
        return out

    def as_dict(self) -> dict:
        """The JSON contract of ``python -m analytics summary --format json``."""
        bench = self.benchmarks.astype(object).where(self.benchmarks.notna(), None)
        first, second = self.scale.metrics
        return {
            "spec_version": self.definitions.as_dict()["spec_version"],
            "source": {"file": self.source, "sha256": self.sha256},
            "patients": self.patients,
            "episodes": self.episodes,
            "patients_with_repeat_episodes": self.patients_with_repeat_episodes,
            "questionnaires": self.questionnaires,
            "complete_questionnaires": self.complete_questionnaires,
            "with_baseline": self.with_baseline,
            "eligible": self.eligible,
            "si_at_baseline": self.si_at_baseline,
            "si_unknown": self.si_unknown,
            "si_endpoint_unknown": self.si_endpoint_unknown,
            "analysis": self.definitions.analysis,
            first: self.response.as_dict(),
            second: self.remission.as_dict(),
            "si_resolution": self.si_resolution.as_dict(),
            "cumulative": {first: self.cumulative_response.as_dict(),
                           second: self.cumulative_remission.as_dict()},
            "instrument": {"choice": self.scale.choice, "name": self.scale.name, "metrics": list(self.scale.metrics),
                           "labels": list(self.scale.labels), "rules": list(self.scale.rules),
                           "eligible": self.scale.eligibility_text(self.definitions.min_baseline),
                           "source": self.scale.source},
            "benchmarks": bench.to_dict("records"),
            "definitions": self.definitions.as_dict(),
            "warnings": self.warnings,
            "validation": self.validation,
        }

    def to_text(self) -> str:
        """A readable report for a person."""
        d, scale = self.definitions, self.scale
        first, second = scale.labels
        phq9 = scale.is_phq9
        lines = [
            f"Outcome summary: {self.source or 'data'}" + (f" (sha256 {self.sha256[:12]}...)" if self.sha256 else ""),
            "",
            d.describe(),
            "",
            scale.describe() + ("" if phq9 else f" These replace the PHQ-9 rules above: baseline, endpoint "
                                               f"window and analysis are as above, on {scale.name} totals; eligible: "
                                               f"{scale.eligibility_text(d.min_baseline)}."),
            "",
            f"Patients in the data: {self.patients}   questionnaires: {self.questionnaires} "
            f"({self.complete_questionnaires} with a {scale.name} score)",
            f"Episodes ({d.episodes}): {self.episodes}   patients with more than one episode: "
            f"{self.patients_with_repeat_episodes}",
            f"With a {scale.name} baseline: {self.with_baseline}   eligible "
            f"({scale.eligibility_text(d.min_baseline)}): {self.eligible}"
            + (f"   SI at baseline (item 9 >= 1): {self.si_at_baseline}" if phq9 else ""),
        ]
        if phq9:
            lines.append(f"Item 9 unknown (totals only): at baseline {self.si_unknown}, at the endpoint of "
                         f"SI-at-baseline episodes {self.si_endpoint_unknown} (outside the SI denominator)")
        lines += [
            "",
            f"Week {d.week} outcomes on {scale.name}, {d.analysis}: {ANALYSIS_MODE_LABELS[d.analysis]}",
            _table([(first, self.response), (second, self.remission)]
                   + ([("SI resolution (PHQ-9 item 9 falls to 0)", self.si_resolution)] if phq9 else [])),
            "",
            f"Reached by week {d.week} (day {d.target_day}), Kaplan-Meier among eligible episodes",
            _table([(first, self.cumulative_response), (second, self.cumulative_remission)]),
        ]
        if not phq9:
            lines += ["", "SI resolution is a PHQ-9 item 9 figure: it is shown with --instrument phq9 only."]
        if len(self.by_infusions):
            from .infusions import INFUSION_CONVENTION
            lines += ["", "By infusions received (Kaplan-Meier), beside Oliver 2022 (not like for like)",
                      f"  {INFUSION_CONVENTION}"]
            for r in self.by_infusions.itertuples():
                rate = "no data" if r.rate is None or pd.isna(r.rate) else f"{r.rate:.1%}"
                lines.append(f"  {r.label:22} after {r.after_infusions:>2} infusions: n {r.n:>6}  events "
                             f"{r.events:>6}  {rate:>8}   Oliver 2022: {r.published_text}")
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        if len(self.benchmarks):
            lines += ["", "Published figures (difference = clinic - published, in percentage points; a published "
                          "figure is an estimate too, so its own uncertainty is part of every test)"]
            b = self.benchmarks
            shown = pd.DataFrame({
                "id": b["id"],
                "published": b["rate"].map("{:.1%}".format),
                "clinic": b["clinic_rate"].map(lambda v: "no data" if pd.isna(v) else f"{v:.1%}"),
                "diff (pp)": b["difference"].map(lambda v: "" if pd.isna(v) else f"{v * 100:+.1f}"),
                "95% CI (pp)": [("" if pd.isna(lo) else f"{lo * 100:+.1f} to {hi * 100:+.1f}")
                                for lo, hi in zip(b["diff_ci_low"], b["diff_ci_high"])],
                "p": b["p_value"].map(format_p_value),
                "like for like": b["comparable"].map({True: "yes", False: "NO"}),
            })
            lines.append(shown.to_string(index=False, justify="left"))
            like = b[b["comparable"]]
            if len(like):
                lines += ["", "Like-for-like comparisons:"]
                lines += [f"  - {r.id}: {r.plain_language} Test: {r.test}." for r in like.itertuples()]
            lines += ["", "Not like for like (no test: the two estimates, the difference and the reason only):"]
            lines += [f"  - {r.id}: {r.reason}. Published figure's uncertainty: {r.uncertainty_note}."
                      for r in b[~b["comparable"]].itertuples()]
        lines += ["", "This summary informs clinical review; it is not clinical advice."]
        return "\n".join(lines)


def _table(rows) -> str:
    w = max(16, *(len(name) + 1 for name, _ in rows))
    out = [f"  {'':{w}}{'n':>7}{'events':>8}{'rate':>9}   95% CI"]
    for name, r in rows:
        if r.estimate is None:
            out.append(f"  {name:{w}}{r.n:>7}{r.events:>8}{'no data':>9}")
            continue
        ci = "undefined" if r.ci_low is None else f"{r.ci_low:.1%} - {r.ci_high:.1%}"
        out.append(f"  {name:{w}}{r.n:>7}{r.events:>8}{r.estimate:>9.1%}   {ci}")
    return "\n".join(out)


def clinic_summary(questionnaires: pd.DataFrame, *, definitions: OutcomeDefinitions | None = None,
                   source: str = "", sha256: str = "", validation: dict | None = None,
                   instrument: "str | OutcomeScale" = "phq9",
                   outcomes: pd.DataFrame | None = None) -> ClinicSummary:
    """Compute the headline summary of a canonical questionnaire frame.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame (:func:`analytics.load_questionnaires`).
    definitions : OutcomeDefinitions, optional
    source, sha256 : str
        Where the data came from, carried into the output.
    validation : dict, optional
        Counts from the validation report, carried into the output.
    instrument : str
        The instrument the outcomes use (:data:`analytics.instruments.INSTRUMENT_CHOICES`;
        default ``"phq9"``).  Another instrument uses its own total and thresholds, compares
        with published figures measured on it, and has no SI or by-infusion figures (those are PHQ-9's).
    outcomes : pandas.DataFrame, optional
        :func:`analytics.patient_outcomes` of ``questionnaires`` under ``definitions`` and the same
        ``instrument`` when the caller has it already (the dashboard computes it once per cohort);
        computed here otherwise.  The summary is the same either way.

    Returns
    -------
    ClinicSummary
    """
    d = definitions or OutcomeDefinitions()
    scale = outcome_scale(instrument)
    patients = (patient_outcomes(questionnaires, definitions=d, attributes=False, instrument=scale)
                if outcomes is None else outcomes)
    first, second = scale.metrics
    # the by-infusion figures (three Kaplan-Meier curves) are computed in a second thread beside the rest (the
    # two cumulative rates, two more): on a million patients their sorts release the GIL; the figures are the
    # same as one after the other
    with ThreadPoolExecutor(max_workers=1) as pool:
        by_infusions = pool.submit(infusion_outcomes, patients) if scale.is_phq9 else None
        rates = {
            "response": response_rate(patients) if scale.is_phq9 else _metric_rate(patients, first),
            "remission": remission_rate(patients) if scale.is_phq9 else _metric_rate(patients, second),
            "si_resolution": si_resolution_rate(patients),
            "cumulative_response": cumulative_rate(patients, metric=first, definitions=d),
            "cumulative_remission": cumulative_rate(patients, metric=second, definitions=d),
        }
        if scale.is_phq9:
            scored = int(questionnaires["complete"].sum())
        else:
            scored = int(questionnaires[scale.total].notna().sum()) if scale.total in questionnaires else 0
        distinct = _distinct_patients(questionnaires["patient_id"])
        repeats = _patients_with_repeat_episodes(patients)
        benchmarks = compare_with_benchmarks(rates, definitions=d, instrument=scale)
        by_infusions = by_infusions.result() if by_infusions is not None else pd.DataFrame()
    return ClinicSummary(
        definitions=d,
        patients=distinct,
        episodes=len(patients),
        patients_with_repeat_episodes=repeats,
        questionnaires=len(questionnaires),
        complete_questionnaires=scored,
        with_baseline=int(patients["baseline_day"].notna().sum()),
        eligible=int(patients["eligible"].sum()),
        si_at_baseline=int(patients["si_at_baseline"].sum()),
        si_unknown=int(patients["si_unknown"].sum()),
        si_endpoint_unknown=int(patients["si_endpoint_unknown"].sum()),
        response=rates["response"],
        remission=rates["remission"],
        si_resolution=rates["si_resolution"],
        cumulative_response=rates["cumulative_response"],
        cumulative_remission=rates["cumulative_remission"],
        benchmarks=benchmarks,
        source=source,
        sha256=sha256,
        validation=dict(validation or {}),
        by_infusions=by_infusions,
        scale=scale,
    )


def _distinct_patients(ids: pd.Series) -> int:
    """Distinct patient ids (blank ones not counted, as ``nunique``); for the canonical frame's categorical ids,
    counted from the codes (no hashing of twenty million rows)."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        used = np.zeros(len(ids.cat.categories) + 1, bool)
        used[ids.cat.codes.to_numpy()] = True  # a blank (code -1) marks the last slot, which is not counted
        return int(np.count_nonzero(used[:-1]))
    return int(ids.nunique())


def _patients_with_repeat_episodes(patients: pd.DataFrame) -> int:
    """Distinct patients (a blank id counted once) with more than one episode: ``n_episodes`` is the patient's,
    so only the rows above one are counted (fewer ids to hash than every row's)."""
    repeat = patients["n_episodes"].to_numpy(dtype="float64", na_value=np.nan) > 1
    return int(patients.loc[repeat, "patient_id"].nunique(dropna=False))


def _metric_rate(patients: pd.DataFrame, column: str) -> Proportion:
    values = patients[column]
    return wilson_proportion(int(values.fillna(False).sum()), int(values.notna().sum()))
