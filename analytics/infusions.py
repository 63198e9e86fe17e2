"""Outcomes by number of infusions received, beside the figures Oliver 2022 reports by infusion count.

Convention (``docs/methods.md``): a questionnaire with ``infusion_number`` k was
completed before infusion k of its episode, so k - 1 infusions had been
received.  Kaplan-Meier on that axis among eligible episodes (response,
remission) or episodes with SI at baseline (SI-free: item 9 falls to 0).
"""
from __future__ import annotations

import pandas as pd

from .definitions import INFUSIONS_RESPONSE_AT, INFUSIONS_SI_AT
from .outcomes import infusion_cumulative_rate

__all__ = ["INFUSION_CONVENTION", "PUBLISHED_BY_INFUSIONS", "infusion_outcomes"]

INFUSION_CONVENTION = (
    "Infusions received before a questionnaire = its infusion_number - 1 (a questionnaire is completed before "
    "the infusion it is numbered with). Kaplan-Meier on infusions received: first questionnaire after baseline "
    "meeting the criterion; censored at the last questionnaire with an infusion number."
)

#: Oliver 2022 (J Clin Psychiatry 83(6):21m14336; abstract, /work/shared reference): figures by infusion count.
PUBLISHED_BY_INFUSIONS = (
    ("response", INFUSIONS_RESPONSE_AT, 0.72, "72%",
     "Oliver 2022 response (>= 50% fall) after 10 infusions, Kaplan-Meier; eligibility threshold and "
     "censoring rule not stated in the abstract"),
    ("remission", INFUSIONS_RESPONSE_AT, 0.38, "38%",
     "Oliver 2022 remission after 10 infusions; the remission definition is not stated in the abstract "
     "(definition unconfirmed)"),
    ("si_free", INFUSIONS_SI_AT, 0.5, "half",
     "Oliver 2022: 'half' of patients with SI at baseline no longer had it after six infusions; a word, not "
     "an exact figure, and the SI measure is not stated as PHQ-9 item 9 in the abstract"),
)
_LABELS = {"response": "Response", "remission": "Remission", "si_free": "SI gone (item 9 = 0)"}


def infusion_outcomes(patients: pd.DataFrame) -> pd.DataFrame:
    """The clinic's cumulative figures by infusions received beside Oliver 2022's.

    Parameters
    ----------
    patients : pandas.DataFrame
        :func:`analytics.patient_outcomes` of data with ``infusion_number``.

    Returns
    -------
    pandas.DataFrame
        One row per figure: ``metric``, ``label``, ``after_infusions``, ``n``,
        ``events``, ``rate`` (None = no data), ``ci_low``, ``ci_high``,
        ``method``, ``published``, ``published_text``, ``comparable`` (always
        False: the published definitions differ or are not stated) and ``reason``.
        Empty when the data have no infusion numbers.
    """
    if "last_followup_infusions" not in patients:
        return pd.DataFrame(columns=["metric", "label", "after_infusions", "n", "events", "rate", "ci_low",
                                     "ci_high", "method", "published", "published_text", "comparable", "reason"])
    rows = []
    for metric, at, published, text, reason in PUBLISHED_BY_INFUSIONS:
        r = infusion_cumulative_rate(patients, metric=metric, at=at)
        rows.append({"metric": metric, "label": _LABELS[metric], "after_infusions": at, "n": r.n,
                     "events": r.events, "rate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "method": r.method, "published": published, "published_text": text, "comparable": False,
                     "reason": "not like for like: " + reason,
                     "warning": r.warning and r.warning.replace(f"at day {at:g}", f"after {at} infusions")})
    return pd.DataFrame(rows)
