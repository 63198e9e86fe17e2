"""Outcome definitions: every threshold, window and mode lives here.

Spec v2 (see ``docs/methods.md``).  Anything that prints a number prints
:meth:`OutcomeDefinitions.describe` next to it, so a figure never travels
without the definition it was computed under.

Why one module of ~420 lines: it is the single source of every rule, threshold and default;
splitting it would give a rule two places to look.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from types import MappingProxyType

from .errors import DefinitionError

__all__ = [
    "SPEC_VERSION",
    "ANALYSIS_MODES",
    "ANALYSIS_MODE_LABELS",
    "BASELINE_WINDOW_DAYS",
    "RESPONSE_FRACTION",
    "RESPONSE_MIN_FALL",
    "REMISSION_BELOW",
    "INSTRUMENT_MIN_BASELINE",
    "SI_ITEM_POSITIVE_AT",
    "EXACT_TEST_MIN_EXPECTED",
    "EXACT_TEST_ENUMERATION_LIMIT",
    "EXACT_TEST_MONTE_CARLO_DRAWS",
    "EXACT_TEST_SEED",
    "AT_RISK_DAYS_STEP",
    "DURABILITY_LOSS_RULES",
    "DURABILITY_DEFAULT_LOSS_RULE",
    "DURABILITY_AT_DAYS",
    "QUALITY_INDEX_ABOVE",
    "QUALITY_12M_DAYS",
    "QUALITY_12M_WINDOW_DAYS",
    "QUALITY_DRR_WINDOW_DAYS",
    "QUALITY_UTILISATION_PERIOD_STARTS",
    "QUALITY_DEPRESSION_PATTERN",
    "QUALITY_DIAGNOSIS_EXCLUSIONS",
    "QUALITY_STATUS_EXCLUSIONS",
    "QUALITY_AGE_STRATA",
    "QUALITY_SPECIFICATIONS",
    "OLDEST_EXACT_AGE",
    "AGE_TOP_CODE",
    "SMALL_CELL_MAX",
    "COHORT_QUARTER_MIN_PATIENTS",
    "DEFAULT_CLINIC_NAME",
    "MAX_CLINIC_NAME_CHARS",
    "REPORT_TREND_QUARTERS",
    "EPISODE_SELECTIONS",
    "EPISODE_SELECTION_LABELS",
    "EPISODE_LOOKBACK_DAYS",
    "INFUSIONS_RESPONSE_AT",
    "INFUSIONS_SI_AT",
    "LOST_TO_FOLLOW_UP_DAYS",
    "LOST_TO_FOLLOW_UP_MAX_DAYS",
    "REVIEW_NOTE_MAX_CHARS",
    "WEEK_RANGE",
    "WINDOW_DAYS_RANGE",
    "MIN_BASELINE_RANGE",
    "NEW_EPISODE_AFTER_DAYS_RANGE",
    "DAY_LIMIT",
    "EPISODE_LIMIT",
    "SMALL_N",
    "COMPARISON_MIN_GROUP",
    "SIGNIFICANCE_LEVEL",
    "TRENDS_MAX_WEEK",
    "DROPOUT_MAX_INFUSION",
    "MIXED_MODEL_MIN_PATIENTS",
    "EPISODE_UNKNOWN_GAP_DAYS",
    "QUALITY_ADOLESCENT_FROM_AGE",
    "QUALITY_ADULT_FROM_AGE",
    "SYSTOLIC_RISE_AT",
    "DIASTOLIC_RISE_AT",
    "SYSTOLIC_READING_OVER",
    "DIASTOLIC_READING_OVER",
    "MIN_MONITORING_MINUTES",
    "SEDATION_MOAAS_DEEP_AT_OR_BELOW",
    "OutcomeDefinitions",
    "MAX_FILE_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_LINE_BYTES",
    "MAX_XLSX_ROWS",
    "MAX_XLSX_CELLS",
    "MAX_ZIP_MEMBERS",
    "MAX_ZIP_UNCOMPRESSED_BYTES",
    "MAX_ZIP_RATIO",
    "MAX_PARQUET_EXPANSION",
    "PARQUET_EXPANSION_CHECKED_ABOVE",
    "MAX_JSON_DEPTH",
    "MAX_MAPPING_CHARS",
    "MAX_UPLOAD_LABEL_CHARS",
    "HEADER_SEARCH_ROWS",
    "IMPORT_PREVIEW_ROWS",
    "MAX_MAPPING_NAME_CHARS",
    "TOLERABILITY_DOSE_BANDS_MG_PER_KG",
    "TOLERABILITY_DOSE_BANDS_MG",
    "TOLERABILITY_SOURCES",
]

SPEC_VERSION = "2"

#: Baseline: the latest complete questionnaire with study day in this closed range.
BASELINE_WINDOW_DAYS = (-30, 0)
#: Response: endpoint total <= this fraction of the baseline total (a fall of >= 50%).
RESPONSE_FRACTION = 0.5
#: ... so a response is a fall of at least this share of the baseline total (derived; for labels and charts).
RESPONSE_MIN_FALL = 1 - RESPONSE_FRACTION
#: Remission: endpoint total strictly below this value.
REMISSION_BELOW = 5
#: Outcomes on another instrument (``instrument=`` of patient_outcomes and the CLI's --instrument): the
#: lowest baseline total in the response and remission denominators, the start of each instrument's
#: "moderate" band as PHQ-9's >= 10 is (QIDS-SR16 11, Rush et al. 2003; MADRS 20, Snaith et al. 1986;
#: GAD-7 10, Spitzer et al. 2006).  PCL-5 counts patients at or above its probable-PTSD cut-point
#: (``PCL5_PROBABLE_PTSD_DEFAULT`` in instruments.py).  PHQ-9 keeps ``OutcomeDefinitions.min_baseline``.
INSTRUMENT_MIN_BASELINE = {"qids_sr16": 11, "madrs": 20, "gad7": 10}
#: Suicidal ideation present: PHQ-9 item 9 at or above this score.
SI_ITEM_POSITIVE_AT = 1
#: HIPAA Safe Harbor: ages above this are identifying and must be written as the top band.
OLDEST_EXACT_AGE = 89
#: The one accepted spelling of the top age band (every age over OLDEST_EXACT_AGE).
AGE_TOP_CODE = "90+"

#: Rates and Kaplan-Meier figures on fewer units than this carry a warning: the interval is wide.
SMALL_N = 10
#: Group comparisons: a group with fewer units than this gets no test (the rates are still shown).
COMPARISON_MIN_GROUP = 10
#: Comparison with a published figure: the plain-language verdict calls a p-value below this unusual.
SIGNIFICANCE_LEVEL = 0.05
#: Group comparisons: below this expected count in any cell, the omnibus test is exact, not chi-square.
EXACT_TEST_MIN_EXPECTED = 5
#: Exact r x 2 test: enumerate every table up to this many; beyond, a seeded Monte Carlo exact test.
EXACT_TEST_ENUMERATION_LIMIT = 2_000_000
#: Monte Carlo exact test: number of simulated tables and the fixed seed (results are reproducible).
EXACT_TEST_MONTE_CARLO_DRAWS = 100_000
EXACT_TEST_SEED = 20_240_601
#: Number-at-risk tables: one column per this many days (plus day 0 and the target day).
AT_RISK_DAYS_STEP = 7

#: Durability of response: how loss of response is declared after the endpoint response.
DURABILITY_LOSS_RULES = {
    "two_consecutive": "two consecutive complete questionnaires above 50% of baseline (dated at the first of them)",
    "single": "the first complete questionnaire above 50% of baseline",
}
#: Default: a single PHQ-9 above the threshold is not enough (day-to-day fluctuation); confirmed loss.
DURABILITY_DEFAULT_LOSS_RULE = "two_consecutive"
#: Days after the endpoint response at which durability is reported (McInnes 2022 read at 4 and 8 weeks).
DURABILITY_AT_DAYS = (28, 56)

#: Weekly means, trajectories and their mixed model: weeks shown (a later endpoint week extends the axis).
TRENDS_MAX_WEEK = 12
#: Dropout by infusion: infusions 1 to this are shown.
DROPOUT_MAX_INFUSION = 10
#: Trajectory mixed model: with fewer patients than this it is not fitted (compare the rates instead).
MIXED_MODEL_MIN_PATIENTS = 10

# Quality-measure style outcomes (analytics/quality.py; docs/methods.md, "Quality measures").
#: Index event: the first complete PHQ-9 with a total above this (CMS159 / DRR-E: PHQ-9 > 9).
QUALITY_INDEX_ABOVE = 9
#: 12-month remission: the measurement window is centred this many days after the index event ...
QUALITY_12M_DAYS = 365
#: ... with this half-width by default (CMS159v12: +/- 60 days; CMS159v6 used +/- 30).
QUALITY_12M_WINDOW_DAYS = 60
#: HEDIS DRR-E style follow-up: days after the index event (the latest PHQ-9 in the range counts).
QUALITY_DRR_WINDOW_DAYS = (120, 240)
#: PHQ-9 utilisation (CMS160 / DMS-E style): calendar months starting each four-month period.
QUALITY_UTILISATION_PERIOD_STARTS = (1, 5, 9)
#: A depression diagnosis in a `diagnosis` column (case-insensitive regular expression; ICD-10 F32/F33).
QUALITY_DEPRESSION_PATTERN = r"depress|\bmdd\b|\btrd\b|dysthymi|\bf3[23]"
#: Denominator exclusions read from a `diagnosis` column (any of the patient's rows matching excludes).
QUALITY_DIAGNOSIS_EXCLUSIONS = {
    "bipolar disorder": r"bipolar|\bf31",
    "personality disorder": r"personality disorder|\bf60",
    "psychotic disorders": r"psychos|psychotic|schizo|\bf2\d",
    "pervasive developmental disorder": r"pervasive developmental|autis|asperger|\bf84",
}
#: Denominator exclusions read from yes/no columns, when the data carry them: exclusion -> column.
QUALITY_STATUS_EXCLUSIONS = {
    "death": "deceased",
    "hospice care": "hospice",
    "palliative care": "palliative_care",
    "long-term nursing-home residence": "nursing_home",
}
#: Age strata of the 12-month remission measure (CMS159 reports 12-17 and 18+).
QUALITY_ADOLESCENT_FROM_AGE = 12
QUALITY_ADULT_FROM_AGE = 18
QUALITY_AGE_STRATA = (f"{QUALITY_ADOLESCENT_FROM_AGE}-{QUALITY_ADULT_FROM_AGE - 1}", f"{QUALITY_ADULT_FROM_AGE}+")
#: The specifications the measures follow (style only: not certified submissions).
QUALITY_SPECIFICATIONS = {
    "remission_12m": "CMS159v12 / MIPS 370 / NQF 0710 (Depression Remission at Twelve Months), window "
                     "+/- 60 days by default (CMS159v6: +/- 30)",
    "drr": "HEDIS DRR-E (Depression Remission or Response for Adolescents and Adults), 120-240-day follow-up",
    "utilisation": "CMS160 (Depression Utilization of the PHQ-9 Tool) / HEDIS DMS-E, four-month periods",
}

# ----------------------------------------------------------------------------- tolerability (sessions)
# The Tolerability page lets a clinic set its own.  The project's reference file of published figures
# (../shared/references/published-outcomes.md) holds no tolerability source yet, so every default below is
# shown as a clinic convention (TOLERABILITY_SOURCES), never as a citation (docs/methods.md, "Sessions and
# tolerability", says where the values come from).
#: A post-dose blood-pressure rise counted when at least this many mmHg systolic ...
SYSTOLIC_RISE_AT = 40
#: ... or at least this many mmHg diastolic (post-dose minus pre-dose reading).
DIASTOLIC_RISE_AT = 25
#: A reading (before dosing, at the post-dose check or at discharge) counted when strictly above this systolic ...
SYSTOLIC_READING_OVER = 140
#: ... or strictly above this diastolic (mmHg).
DIASTOLIC_READING_OVER = 90
#: Minimum monitoring after dosing, minutes, by route; routes not listed get no duration measure.
MIN_MONITORING_MINUTES = MappingProxyType({"intranasal_esketamine": 120})
#: Deep sedation share: MOAA/S at or below this (responds only to loud or repeated calling of the name, or less).
SEDATION_MOAAS_DEEP_AT_OR_BELOW = 3

# ----------------------------------------------------------------------------- input limits
# Checked before anything is decompressed or parsed, so a mistaken or hostile file is refused in
# seconds and a few hundred MB at most (benchmarks/bench_limits.py): the dashboard serves every user
# from one process, and one bad upload must not take it down.

#: Largest input file read (bytes on disk).
MAX_FILE_BYTES = 2 * 1024 ** 3
#: Columns (cells per line) read; a questionnaire file needs about 30.
MAX_COLUMNS = 1_000
#: Rows read at once.
MAX_ROWS = 50_000_000
#: Longest CSV line (bytes); a long free-text cell fits, a file that is one endless line does not.
MAX_LINE_BYTES = 16 * 1024 ** 2
#: Rows of an XLSX sheet (Excel's own limit).
MAX_XLSX_ROWS = 1_048_576
#: Cells of an XLSX sheet held at once (rows x their width, empty cells before the last included).
MAX_XLSX_CELLS = 30_000_000
#: Parts in an XLSX (zip) file; a workbook of one sheet has about ten.
MAX_ZIP_MEMBERS = 10_000
#: Uncompressed size of all parts of an XLSX file together.
MAX_ZIP_UNCOMPRESSED_BYTES = 512 * 1024 ** 2
#: Largest compression ratio of one XLSX part (uncompressed / compressed); sheet XML is around 5-20.
MAX_ZIP_RATIO = 200
#: Largest ratio of a Parquet file's size in memory (rows x columns x cell width, from its footer)
#: to its size on disk; real exports are around 1-20, a run-length "bomb" thousands.
MAX_PARQUET_EXPANSION = 200
#: ... checked only when that in-memory estimate is above this many bytes (small files are harmless).
PARQUET_EXPANSION_CHECKED_ABOVE = 256 * 1024 ** 2
#: Deepest nesting of JSON (FHIR) or TOML (mapping) read.
MAX_JSON_DEPTH = 100
#: Longest mapping file read (characters); a mapping is a few lines.
MAX_MAPPING_CHARS = 1_000_000
#: Longest uploaded file name kept (as a label; it is never a path).
MAX_UPLOAD_LABEL_CHARS = 120
#: Rows at the top of an export searched for the header row (a title block sits above it).
HEADER_SEARCH_ROWS = 30
#: Rows of an export shown on the mapping screen, as they will be read, before it is imported.
IMPORT_PREVIEW_ROWS = 5
#: Longest name of a saved column mapping (a label chosen by the user; never a path).
MAX_MAPPING_NAME_CHARS = 80

#: Small-cell suppression (CMS cell-size rule): no count from 1 to this value leaves the clinic,
#: in aggregate exports or as the size of a research cohort.
SMALL_CELL_MAX = 10
#: A research export names the quarter of a cohort's treatment-start period only when the cohort has at least
#: this many patients; otherwise the year (no calendar date ever).
COHORT_QUARTER_MIN_PATIENTS = 100

#: Study days (and date differences) allowed: about ten years either side of the start.
DAY_LIMIT = 3650
#: Episode numbers allowed: 1 to this.
EPISODE_LIMIT = 1000
#: Splitting episodes after a gap without questionnaires: gaps allowed, in whole days.
NEW_EPISODE_AFTER_DAYS_RANGE = (1, DAY_LIMIT)
#: Patient chart: an episode after a gap of unknown length (no dates) is drawn this many days
#: after the previous episode's last questionnaire.
EPISODE_UNKNOWN_GAP_DAYS = 30
#: The clinic's name on the quarterly report until a director sets it (CLI --clinic-name, Export page).
DEFAULT_CLINIC_NAME = "Our clinic"
#: Longest clinic name accepted (a heading, not a paragraph).
MAX_CLINIC_NAME_CHARS = 120
#: The quarterly report's trend covers this many quarters, the report's own last (none before the first patient).
REPORT_TREND_QUARTERS = 8

#: A questionnaire with a blank start date belongs to the episode with the latest
#: start S such that its date >= S - this many days (a screening before a re-induction).
EPISODE_LOOKBACK_DAYS = 30
#: Infusion-count figures: "after 10 infusions" (response, remission) and "after six" (SI), as Oliver 2022.
INFUSIONS_RESPONSE_AT = 10
INFUSIONS_SI_AT = 6

# Safety worklist (analytics/safety.py, app_pages/safety.py).
#: A patient with SI at their last questionnaire is "lost to follow-up" when more than this many days have passed
#: since their last contact (any questionnaire row) without a newer one; the Safety page lets a director change it.
LOST_TO_FOLLOW_UP_DAYS = 28
#: ... up to this many days (a longer gap would call every past patient lost).
LOST_TO_FOLLOW_UP_MAX_DAYS = 365
#: Longest note kept with a safety review (characters): a reason in a sentence or two, never a clinical record.
REVIEW_NOTE_MAX_CHARS = 500
#: Dose bands of the tolerability summaries (closed on the left, the last open-ended): mg/kg, then mg.
TOLERABILITY_DOSE_BANDS_MG_PER_KG = (0, 0.5, 0.75, 1.0, float("inf"))
TOLERABILITY_DOSE_BANDS_MG = (0, 28, 56, 84, float("inf"))
_CLINIC_CONVENTION = ("clinic convention: no source for this default is in the project's reference file "
                      "(published-outcomes.md) yet")
#: Where each tolerability default comes from, as the product says it (docs/methods.md has the detail).
TOLERABILITY_SOURCES = MappingProxyType({
    "blood-pressure rise": _CLINIC_CONVENTION + "; the same 40/25 mmHg rise is the one the SPRAVATO (esketamine) "
                           "prescribing information counts, a source still to be added to that file",
    "reading over": _CLINIC_CONVENTION,
    "minimum monitoring": _CLINIC_CONVENTION + "; the SPRAVATO prescribing information requires at least 2 hours "
                          "of monitoring after each esketamine dose, a source still to be added to that file",
    "dose bands": "presentation bands, not a published classification (esketamine comes as 28, 56 or 84 mg)",
    "deep sedation": "presentation choice: MOAA/S 3 or less",
})

EPISODE_SELECTIONS = ("first", "all", "latest")
EPISODE_SELECTION_LABELS = {
    "first": "each patient's first episode (first induction)",
    "all": "every episode (units are episodes; episodes of one patient are not independent)",
    "latest": "each patient's latest episode",
}

ANALYSIS_MODES = ("completer", "itt", "locf")
ANALYSIS_MODE_LABELS = {
    "completer": "completers only (eligible patients with a questionnaire in the endpoint window)",
    "itt": "intention to treat (all eligible patients; no endpoint questionnaire counts as not met)",
    "locf": "last observation carried forward (all eligible patients; no window questionnaire: "
    "the last one before the window, possibly the baseline)",
}


#: Allowed values of the definition parameters (the CLI, the dashboard and the model share them).
WEEK_RANGE = (1, 104)
WINDOW_DAYS_RANGE = (0, 60)
MIN_BASELINE_RANGE = (0, 27)


@dataclass(frozen=True)
class OutcomeDefinitions:
    """Parameters of the outcome definitions (spec v2).

    Parameters
    ----------
    week : int
        Endpoint week W; the target study day is ``T = 7 * W``.
    window_days : int
        Half-width D of the endpoint window ``[T - D, T + D]``.
    min_baseline : int
        Minimum baseline PHQ-9 total for the response and remission denominators.
    analysis : {"completer", "itt", "locf"}
        How patients without an endpoint questionnaire are handled.
    episodes : {"first", "all", "latest"}
        Which episodes (treatment courses) are the units of analysis.
    """

    week: int = 6
    window_days: int = 7
    min_baseline: int = 10
    analysis: str = "completer"
    episodes: str = "first"

    def __post_init__(self):
        _check_int("week", self.week, *WEEK_RANGE, "whole weeks from {} to {}")
        _check_int("window_days", self.window_days, *WINDOW_DAYS_RANGE, "whole days from {} to {}")
        _check_int("min_baseline", self.min_baseline, *MIN_BASELINE_RANGE, "a PHQ-9 total from {} to {}")
        if self.analysis not in ANALYSIS_MODES:
            raise DefinitionError(
                f"analysis={self.analysis!r} is not a known analysis mode; "
                f"use one of {', '.join(ANALYSIS_MODES)}."
            )
        if self.episodes not in EPISODE_SELECTIONS:
            raise DefinitionError(
                f"episodes={self.episodes!r} is not a known episode selection; "
                f"use one of {', '.join(EPISODE_SELECTIONS)}."
            )
        # A window reaching day 0 would let the baseline count as its own endpoint.
        if self.target_day - self.window_days <= 0:
            raise DefinitionError(
                f"the endpoint window [{self.target_day - self.window_days}, "
                f"{self.target_day + self.window_days}] must start after day 0; "
                f"use a later week or a narrower window (window_days < {self.target_day})."
            )

    @property
    def target_day(self) -> int:
        """Target study day ``T = 7 * week``."""
        return 7 * self.week

    @property
    def window(self) -> tuple[int, int]:
        """Endpoint window ``(T - D, T + D)``, both ends included."""
        return (self.target_day - self.window_days, self.target_day + self.window_days)

    def as_dict(self) -> dict:
        """All parameters, including the fixed thresholds, for JSON and manifests."""
        return {
            "spec_version": SPEC_VERSION,
            **asdict(self),
            "target_day": self.target_day,
            "endpoint_window_days": list(self.window),
            "baseline_window_days": list(BASELINE_WINDOW_DAYS),
            "response": f"endpoint PHQ-9 total <= {RESPONSE_FRACTION:.0%} of baseline total",
            "remission": f"endpoint PHQ-9 total < {REMISSION_BELOW}",
            "si_at_baseline": f"baseline PHQ-9 item 9 >= {SI_ITEM_POSITIVE_AT}",
            "si_resolution": "endpoint PHQ-9 item 9 = 0, among units with SI at baseline whose endpoint item 9 "
                             "is known",
            "si_unknown": "units whose baseline item 9 is unknown (totals-only): in no SI denominator",
            "si_endpoint_unknown": "units with SI at baseline whose endpoint item 9 is unknown: out of the SI "
                                   "denominator in every analysis mode",
            "episode_rule": f"each distinct treatment_start_date starts an episode; a row with a blank start "
                            f"date belongs to the latest episode starting at most {EPISODE_LOOKBACK_DAYS} days "
                            "after it, else episode 1",
            "episodes_label": EPISODE_SELECTION_LABELS[self.episodes],
            "interval": "Wilson score 95% (rates); Kaplan-Meier with Greenwood log-log 95% (cumulative)",
        }

    def describe(self) -> str:
        """One paragraph, in plain words, for captions and report headers."""
        lo, hi = self.window
        return (
            f"Spec v{SPEC_VERSION}. Episodes: {EPISODE_SELECTION_LABELS[self.episodes]}; study days count from "
            f"the episode's start. Baseline: latest scored PHQ-9 on study days "
            f"{BASELINE_WINDOW_DAYS[0]} to {BASELINE_WINDOW_DAYS[1]}. Eligible: baseline total >= "
            f"{self.min_baseline}. Endpoint: week {self.week} (day {self.target_day}, window days "
            f"{lo}-{hi}, closest to day {self.target_day}, ties to the earlier). Response: total <= "
            f"{RESPONSE_FRACTION:.0%} of baseline; remission: total < {REMISSION_BELOW}; SI "
            f"resolution: item 9 falls to 0 among those with item 9 >= {SI_ITEM_POSITIVE_AT} at "
            f"baseline (an unknown item 9 leaves the unit out of SI figures). "
            f"Analysis: {ANALYSIS_MODE_LABELS[self.analysis]}."
        )


def _check_int(name, value, lo, hi, allowed):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DefinitionError(f"{name}={value!r} is out of range; use {allowed.format(lo, hi)}.")
