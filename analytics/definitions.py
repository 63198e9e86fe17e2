"""Outcome definitions: every threshold, window and mode lives here.

Spec v2 (see ``docs/methods.md``).  Anything that prints a number prints
:meth:`OutcomeDefinitions.describe` next to it, so a figure never travels
without the definition it was computed under.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import DefinitionError

__all__ = [
    "SPEC_VERSION",
    "ANALYSIS_MODES",
    "ANALYSIS_MODE_LABELS",
    "BASELINE_WINDOW_DAYS",
    "RESPONSE_FRACTION",
    "REMISSION_BELOW",
    "SI_ITEM_POSITIVE_AT",
    "EPISODE_SELECTIONS",
    "EPISODE_SELECTION_LABELS",
    "EPISODE_LOOKBACK_DAYS",
    "INFUSIONS_RESPONSE_AT",
    "INFUSIONS_SI_AT",
    "OutcomeDefinitions",
]

SPEC_VERSION = "2"

#: Baseline: the latest complete questionnaire with study day in this closed range.
BASELINE_WINDOW_DAYS = (-30, 0)
#: Response: endpoint total <= this fraction of the baseline total (a fall of >= 50%).
RESPONSE_FRACTION = 0.5
#: Remission: endpoint total strictly below this value.
REMISSION_BELOW = 5
#: Suicidal ideation present: PHQ-9 item 9 at or above this score.
SI_ITEM_POSITIVE_AT = 1

#: A questionnaire with a blank start date belongs to the episode with the latest
#: start S such that its date >= S - this many days (a screening before a re-induction).
EPISODE_LOOKBACK_DAYS = 30
#: Infusion-count figures: "after 10 infusions" (response, remission) and "after six" (SI), as Oliver 2022.
INFUSIONS_RESPONSE_AT = 10
INFUSIONS_SI_AT = 6

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
        _check_int("week", self.week, 1, 104, "whole weeks from 1 to 104")
        _check_int("window_days", self.window_days, 0, 60, "whole days from 0 to 60")
        _check_int("min_baseline", self.min_baseline, 0, 27, "a PHQ-9 total from 0 to 27")
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
        raise DefinitionError(f"{name}={value!r} is out of range; use {allowed}.")
