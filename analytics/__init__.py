"""Outcome analytics for ketamine and interventional-psychiatry clinics.

Pure pandas/NumPy/SciPy; no user interface code.  Typical use::

    from analytics import load_questionnaires, clinic_summary, OutcomeDefinitions
    frame = load_questionnaires("sample_data/sample_clinic.csv")
    print(clinic_summary(frame, definitions=OutcomeDefinitions(week=6)).to_text())
"""
from .benchmarks import compare_with_benchmarks, load_benchmarks
from .definitions import (
    ANALYSIS_MODES,
    BASELINE_WINDOW_DAYS,
    REMISSION_BELOW,
    RESPONSE_FRACTION,
    SPEC_VERSION,
    OutcomeDefinitions,
)
from .errors import AnalyticsError, DefinitionError, QuestionnaireValidationError, UnreadableFileError
from .instruments import GAD7, PHQ9, score_items, severity_band
from .loading import read_table
from .outcomes import (
    cumulative_rate,
    patient_outcomes,
    rate_table,
    remission_rate,
    response_rate,
    si_resolution_rate,
)
from .statistics import CumulativeIncidence, Proportion, km_cumulative, km_curve, wilson_proportion
from .summary import ClinicSummary, clinic_summary
from .validation import ValidationReport, load_questionnaires, validate_questionnaires

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # definitions
    "SPEC_VERSION", "ANALYSIS_MODES", "BASELINE_WINDOW_DAYS", "RESPONSE_FRACTION", "REMISSION_BELOW",
    "OutcomeDefinitions",
    # errors
    "AnalyticsError", "DefinitionError", "QuestionnaireValidationError", "UnreadableFileError",
    # instruments
    "PHQ9", "GAD7", "score_items", "severity_band",
    # loading and validation
    "read_table", "validate_questionnaires", "load_questionnaires", "ValidationReport",
    # outcomes
    "patient_outcomes", "response_rate", "remission_rate", "si_resolution_rate", "cumulative_rate", "rate_table",
    # statistics
    "Proportion", "CumulativeIncidence", "wilson_proportion", "km_cumulative", "km_curve",
    # benchmarks and summary
    "load_benchmarks", "compare_with_benchmarks", "ClinicSummary", "clinic_summary",
]
