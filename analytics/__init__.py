"""Outcome analytics for ketamine and interventional-psychiatry clinics.

Pure pandas/NumPy/SciPy; no user interface code.  Typical use::

    from analytics import load_questionnaires, clinic_summary, OutcomeDefinitions
    frame = load_questionnaires("sample_data/sample_clinic.csv")
    print(clinic_summary(frame, definitions=OutcomeDefinitions(week=6)).to_text())

Layer map
---------
Each module imports only from its own layer or the layers below it (bottom first).  The
import-linter contracts in ``pyproject.toml`` enforce this (``make test``; ``tests/test_layers.py``),
and a second contract keeps Streamlit and the dashboard's pages out of this package.

1. errors: ``errors`` (every exception the package raises on purpose).
2. definitions: ``definitions`` (every threshold, window and default; imports only errors).
3. statistics and reading: ``statistics``, ``benchmark_statistics``, ``instruments``, ``loading``,
   ``problems``, ``cell_parsing``, ``sources``, ``fhir``, ``redcap``, ``mapping``, ``header_suggestion``,
   ``import_review``, ``observations``, ``deidentification``, ``suppression``, ``exports``, ``wording``,
   ``uploads``, ``synthetic`` (with ``synthetic_sessions``), ``settings``, ``progress``.
4. validation and outcomes: ``validation`` (with its stages ``questionnaire_schema``, ``score_parsing``,
   ``study_days``, ``duplicates``, ``canonical_frame``, ``instrument_columns``), ``sessions``,
   ``instrument_validation``,
   ``episodes``, ``outcomes``, ``cohorts``.
5. summaries: ``summary``, ``headline``, ``published``, ``quality``, ``safety``, ``activity``,
   ``trends``, ``comparisons``, ``durability``, ``infusions``, ``tolerability``, ``data_quality``.
6. reports and store: ``quarterly`` (with ``quarterly_suppression``; rendering in ``quarterly_report``,
   ``quarterly_charts``, ``quarterly_workbook`` and ``report_pdf``), ``research_export``, ``store``
   (with ``store_schema``, ``store_connection``, ``store_snapshot``, ``store_revalidation``, ``audit``,
   ``saved_cohorts``,
   ``study_keys``, ``reviews``, ``store_backends`` (SQLite or PostgreSQL), ``store_copy``), ``session_store``.
   Above them ``outcome_cache``: the store's outcome tables kept on disk for the dashboard, computed after an
   import.
7. CLI and pages: ``cli_sessions`` (the sessions commands, below the rest), then ``cli`` (with ``__main__``)
   here, and the dashboard's ``app_pages`` outside the package.
"""
from .published import compare_with_benchmarks, load_benchmarks
from .deidentification import identifier_column_reason, identifying_ages, is_age_column, patient_id_reasons
from .definitions import (
    ANALYSIS_MODES,
    BASELINE_WINDOW_DAYS,
    REMISSION_BELOW,
    RESPONSE_FRACTION,
    SPEC_VERSION,
    EPISODE_SELECTIONS,
    OutcomeDefinitions,
)
from .errors import AnalyticsError, DefinitionError, QuestionnaireValidationError, UnreadableFileError
from .instruments import GAD7, INSTRUMENT_CHOICES, PHQ9, OutcomeScale, outcome_scale, score_items, severity_band
from .loading import read_table
from .episodes import assign_episodes, split_episodes_after_gap
from .observations import is_observation_export, pivot_observations
from .outcomes import (
    cumulative_rate,
    infusion_cumulative_rate,
    patient_outcomes,
    rate_table,
    remission_rate,
    response_rate,
    si_resolution_rate,
)
from .activity import Activity, activity_summary
from .cohorts import patient_start_dates, quarter_bounds, select_patients
from .quality import QualityMeasure, quality_measures
from .quarterly import QuarterlyExport, quarterly_export, write_quarterly_export
from .safety import SafetyCounts, apply_reviews, safety_counts, safety_worklist, si_by_measure, si_change_rates, si_review
from .sources import read_source
from .statistics import CumulativeIncidence, Proportion, km_cumulative, km_curve, wilson_proportion
from .store import import_questionnaires, list_imports, read_store, revert_import
from .session_store import import_sessions, read_session_store
from .sessions import SessionReport, derive_infusion_numbers, load_sessions, validate_sessions
from .tolerability import tolerability_table
from .summary import ClinicSummary, clinic_summary
from .suppression import suppress_small_cells
from .trends import cumulative_curve, weekly_means
from .validation import ValidationReport, load_questionnaires, validate_questionnaires

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # definitions
    "SPEC_VERSION", "ANALYSIS_MODES", "EPISODE_SELECTIONS", "BASELINE_WINDOW_DAYS", "RESPONSE_FRACTION", "REMISSION_BELOW",
    "OutcomeDefinitions",
    # errors
    "AnalyticsError", "DefinitionError", "QuestionnaireValidationError", "UnreadableFileError",
    # instruments
    "PHQ9", "GAD7", "score_items", "severity_band", "INSTRUMENT_CHOICES", "OutcomeScale", "outcome_scale",
    # loading and validation
    "read_table", "validate_questionnaires", "load_questionnaires", "ValidationReport",
    # de-identification rules
    "identifier_column_reason", "is_age_column", "identifying_ages", "patient_id_reasons",
    # outcomes
    "patient_outcomes", "response_rate", "remission_rate", "si_resolution_rate", "cumulative_rate", "rate_table",
    "infusion_cumulative_rate",
    # episodes and one-row-per-score exports
    "assign_episodes", "split_episodes_after_gap", "is_observation_export", "pivot_observations",
    # statistics
    "Proportion", "CumulativeIncidence", "wilson_proportion", "km_cumulative", "km_curve",
    # benchmarks and summary
    "load_benchmarks", "compare_with_benchmarks", "ClinicSummary", "clinic_summary",
    # cohorts, activity, courses and safety
    "select_patients", "patient_start_dates", "quarter_bounds", "Activity", "activity_summary",
    "weekly_means", "cumulative_curve", "si_review", "si_change_rates", "si_by_measure", "safety_worklist",
    "apply_reviews",
    "SafetyCounts", "safety_counts",
    # the clinic store and other sources
    "read_source", "import_questionnaires", "list_imports", "revert_import", "read_store",
    # sessions and tolerability
    "validate_sessions", "load_sessions", "SessionReport", "derive_infusion_numbers", "import_sessions",
    "read_session_store", "tolerability_table",
    # quarterly export
    "QualityMeasure", "quality_measures", "suppress_small_cells", "QuarterlyExport", "quarterly_export",
    "write_quarterly_export",
]
