"""Questionnaire instruments: item columns, score ranges, scoring, bands and outcomes.

PHQ-9 bands follow Kroenke, Spitzer and Williams (2001); GAD-7 bands follow
Spitzer et al. (2006); QIDS-SR16 scoring and bands follow Rush et al. (2003);
PCL-5 follows Weathers et al. (2013) and the National Center for PTSD scoring
guidance; MADRS follows Montgomery and Asberg (1979) with the bands of Snaith
et al. (1986); the C-SSRS screener follows the Columbia Lighthouse Project's
screen version (Posner et al. 2011).  Every source, and where a source is
uncertain, is listed in ``docs/instruments.md``.

Scoring is written once per rule and vectorised over whole frames (column
operations only, no loop over rows).  :data:`OUTCOME_SCALES` is what outcomes run on
(``instrument=``, ``--instrument``): each instrument's two outcome rules, built from the
thresholds here and in ``definitions.py``.

LOINC codes: only the PHQ-9 (44261-6) and GAD-7 (70274-6) totals are given.
Codes for the QIDS-SR16, PCL-5, MADRS and C-SSRS screener totals could not be
verified against a LOINC source this round, so they are left out
(``loinc_total == ""``) rather than guessed.

Why one module of ~460 lines: it is the instrument registry, one short section per instrument
(items, ranges, scoring, bands, outcome thresholds), kept together so every scale is defined once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .definitions import INSTRUMENT_MIN_BASELINE, REMISSION_BELOW, RESPONSE_FRACTION, RESPONSE_MIN_FALL
from .errors import DefinitionError

__all__ = [
    "Instrument",
    "Screener",
    "InstrumentOutcomes",
    "PHQ9",
    "GAD7",
    "QIDS_SR16",
    "PCL5",
    "MADRS",
    "CSSRS_SCREENER",
    "INSTRUMENTS",
    "ALL_INSTRUMENTS",
    "SCREENERS",
    "OUTCOMES",
    "QIDS_SR16_DOMAINS",
    "PCL5_MEANINGFUL_CHANGE",
    "PCL5_PROBABLE_PTSD_RANGE",
    "PCL5_PROBABLE_PTSD_DEFAULT",
    "MADRS_REMISSION_THRESHOLDS",
    "MADRS_REMISSION_DEFAULT",
    "CSSRS_YES_NO",
    "score_items",
    "score_instrument",
    "qids_domain_scores",
    "severity_band",
    "response_met",
    "remission_met",
    "pcl5_meaningful_change",
    "pcl5_probable_ptsd",
    "parse_yes_no",
    "score_cssrs_screener",
    "OutcomeScale",
    "OUTCOME_SCALES",
    "SCORE_PREFIXES",
    "INSTRUMENT_CHOICES",
    "outcome_scale",
]


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: item columns, item range and severity bands.

    ``bands`` is a tuple of ``(lowest total, label)`` in increasing order.
    ``loinc_total`` is "" when no LOINC code could be verified.  ``domains``, when
    given, makes the total the sum of domain maxima (QIDS-SR16); ``rater`` says who
    fills it in.
    """

    key: str
    name: str
    n_items: int
    item_max: int
    bands: tuple[tuple[int, str], ...]
    loinc_total: str
    #: "self-report" or "clinician-rated"
    rater: str = "self-report"
    #: Scoring domains as ``(name, item numbers)``: each domain scores the highest
    #: of its items and the total is the sum of the domain scores (QIDS-SR16).
    #: Empty: the total is the plain sum of the items.
    domains: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def items(self) -> list[str]:
        return [f"{self.key}_{i}" for i in range(1, self.n_items + 1)]

    @property
    def total(self) -> str:
        return f"{self.key}_total"

    @property
    def total_max(self) -> int:
        return (len(self.domains) if self.domains else self.n_items) * self.item_max

    @property
    def band_labels(self) -> list[str]:
        edges = [lo for lo, _ in self.bands] + [self.total_max + 1]
        return [f"{lab} ({lo}-{edges[i + 1] - 1})" for i, (lo, lab) in enumerate(self.bands)]


PHQ9 = Instrument(
    key="phq9",
    name="PHQ-9",
    n_items=9,
    item_max=3,
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
    loinc_total="44261-6",
)
GAD7 = Instrument(
    key="gad7",
    name="GAD-7",
    n_items=7,
    item_max=3,
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
    loinc_total="70274-6",
)

#: QIDS-SR16 domains (Rush et al. 2003): sleep = highest of items 1-4, weight/appetite =
#: highest of items 6-9, psychomotor = highest of items 15-16; the other six domains are
#: single items.  Nine domains of 0-3 give a total of 0-27.
QIDS_SR16_DOMAINS = (
    ("sleep", (1, 2, 3, 4)),
    ("sad mood", (5,)),
    ("appetite/weight", (6, 7, 8, 9)),
    ("concentration", (10,)),
    ("view of self", (11,)),
    ("suicidal ideation", (12,)),
    ("interest", (13,)),
    ("energy", (14,)),
    ("psychomotor", (15, 16)),
)
QIDS_SR16 = Instrument(
    key="qids_sr16",
    name="QIDS-SR16",
    n_items=16,
    item_max=3,
    # Rush et al. 2003 severity: none 0-5, mild 6-10, moderate 11-15, severe 16-20, very severe 21-27
    bands=((0, "none"), (6, "mild"), (11, "moderate"), (16, "severe"), (21, "very severe")),
    loinc_total="",  # not verified: left out
    domains=QIDS_SR16_DOMAINS,
)

#: PCL-5: a fall of at least this many points is a clinically meaningful change (the
#: figure the National Center for PTSD's PCL-5 guidance is quoted for; the guidance page
#: itself was not re-read this round, see docs/instruments.md).
PCL5_MEANINGFUL_CHANGE = 10
#: PCL-5 probable-PTSD cut-points: the National Center for PTSD says a total of 31-33
#: indicates probable PTSD across samples (Bovin et al. 2016), and that the right
#: cut-point depends on the population and purpose.
PCL5_PROBABLE_PTSD_RANGE = (31, 33)
#: Default cut-point (total at or above): 33, the top of the range (Bovin et al. 2016,
#: veterans).  Choose 31 or 32 for a more sensitive screen; always print the one used.
PCL5_PROBABLE_PTSD_DEFAULT = 33
PCL5 = Instrument(
    key="pcl5",
    name="PCL-5",
    n_items=20,
    item_max=4,
    # no published severity bands: the only band edge is the probable-PTSD cut-point
    bands=((0, "below probable-PTSD cut-point"), (PCL5_PROBABLE_PTSD_DEFAULT, "probable PTSD")),
    loinc_total="",  # not verified: left out
)

#: MADRS remission thresholds in use: total <= 10 (e.g. Zimmerman et al. 2004) or
#: <= 12 (the esketamine programme; TRANSFORM-2, Popova et al. 2019).  Name the one used.
MADRS_REMISSION_THRESHOLDS = {"<=10": 10, "<=12": 12}
#: Default: <= 12, so clinic figures compare like for like with TRANSFORM-2.
MADRS_REMISSION_DEFAULT = 12
MADRS = Instrument(
    key="madrs",
    name="MADRS",
    n_items=10,
    item_max=6,
    # Snaith et al. 1986: 0-6 normal/absent, 7-19 mild, 20-34 moderate, 35-60 severe
    bands=((0, "normal"), (7, "mild"), (20, "moderate"), (35, "severe")),
    loinc_total="",  # not verified: left out
    rater="clinician-rated",
)

INSTRUMENTS = {PHQ9.key: PHQ9, GAD7.key: GAD7}
#: Column-name prefixes of every instrument's scores (items, totals, screener answers and flags): never
#: patient attributes or record-level fields.
SCORE_PREFIXES = ("phq9_", "gad7_", "qids_sr16_", "madrs_", "pcl5_", "cssrs_")
#: Every scored instrument, PHQ-9 and GAD-7 included (``INSTRUMENTS`` are the two a questionnaire file's
#: score parser reads with the PHQ-9; the others are read by :mod:`analytics.instrument_columns`).
ALL_INSTRUMENTS = {i.key: i for i in (PHQ9, GAD7, QIDS_SR16, PCL5, MADRS)}


@dataclass(frozen=True)
class InstrumentOutcomes:
    """Published response and remission definitions of one instrument.

    ``response_fraction``: response is an endpoint total at most this fraction of the
    baseline total (a fall of at least ``1 - fraction``).  ``remission_at_most``:
    remission is an endpoint total at or below this value (``None``: the instrument has
    no remission definition).  ``remission_text`` is the rule as the source words it.
    """

    instrument: Instrument
    response_fraction: float | None
    remission_at_most: int | None
    remission_text: str
    source: str


#: Outcome definitions per instrument; sources in docs/instruments.md.
#: Response is the same >= 50% fall on every instrument (RESPONSE_FRACTION of spec v1).
OUTCOMES = {
    PHQ9.key: InstrumentOutcomes(PHQ9, RESPONSE_FRACTION, REMISSION_BELOW - 1, f"total < {REMISSION_BELOW}",
                                 "Kroenke et al. 2001; spec v1 (definitions.py)"),
    GAD7.key: InstrumentOutcomes(GAD7, RESPONSE_FRACTION, 4, "total < 5",
                                 "response >= 50% fall; remission < 5 (the GAD-7 'minimal' band, Spitzer et al. 2006)"),
    QIDS_SR16.key: InstrumentOutcomes(QIDS_SR16, RESPONSE_FRACTION, 5, "total <= 5",
                                      "Rush et al. 2003; STAR*D (Rush et al. 2006); ELEKT-D (Anand et al. 2023)"),
    MADRS.key: InstrumentOutcomes(MADRS, RESPONSE_FRACTION, MADRS_REMISSION_DEFAULT, f"total <= {MADRS_REMISSION_DEFAULT}",
                                  "TRANSFORM-2 (Popova et al. 2019) <= 12; others use <= 10"),
    PCL5.key: InstrumentOutcomes(PCL5, None, None, "no remission definition: use the meaningful-change "
                                 f"({PCL5_MEANINGFUL_CHANGE} points) and probable-PTSD cut-point rules",
                                 "National Center for PTSD PCL-5 guidance"),
}


def score_items(items: pd.DataFrame) -> pd.Series:
    """Sum item scores row-wise; a row with any blank item has no total.

    Parameters
    ----------
    items : pandas.DataFrame
        Item columns of one instrument, nullable integers.

    Returns
    -------
    pandas.Series
        Nullable ``Int16`` totals, ``<NA>`` where any item is missing.
    """
    total = items.sum(axis=1, skipna=True, min_count=1).astype("Int16")
    return total.mask(items.isna().any(axis=1))


def severity_band(totals: pd.Series, instrument: Instrument = PHQ9) -> pd.Series:
    """Label each total with its severity band, e.g. ``"moderate (10-14)"``.

    Returns an ordered categorical; missing totals stay missing.
    """
    edges = [lo for lo, _ in instrument.bands] + [instrument.total_max + 1]
    values = pd.to_numeric(totals, errors="coerce").astype("float64")
    codes = np.searchsorted(edges, values.to_numpy(), side="right") - 1
    codes = np.where(np.isnan(values.to_numpy()), -1, codes)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=instrument.band_labels, ordered=True),
        index=totals.index,
        name=f"{instrument.key}_band",
    )


# ----------------------------------------------------------------------------- more scoring

def qids_domain_scores(items: pd.DataFrame, instrument: Instrument = QIDS_SR16) -> pd.DataFrame:
    """The domain scores of a domain-scored instrument (QIDS-SR16), one column a domain.

    A domain is the highest of its items; it is missing when any of its items is
    missing (the total is then missing too, as for every instrument here).

    >>> row = pd.DataFrame([[1, 3, 0, 2] + [0] * 12], columns=QIDS_SR16.items)
    >>> int(qids_domain_scores(row)["sleep"].iloc[0])
    3
    """
    if not instrument.domains:
        raise DefinitionError(f"{instrument.name} has no scoring domains; its total is the sum of its items")
    out = {}
    for name, numbers in instrument.domains:  # nine domains: columns, not rows
        cols = items[[f"{instrument.key}_{i}" for i in numbers]]
        out[name] = cols.max(axis=1, skipna=True).astype("Int16").mask(cols.isna().any(axis=1))
    return pd.DataFrame(out, index=items.index)


def score_instrument(items: pd.DataFrame, instrument: Instrument) -> pd.Series:
    """Total of one instrument, row-wise; missing where any item is missing.

    Sum of the items, or for a domain-scored instrument (QIDS-SR16) the sum of the
    domain maxima.  ``items`` holds the instrument's item columns (others ignored).
    """
    if instrument.domains:
        total = qids_domain_scores(items, instrument).sum(axis=1, min_count=1).astype("Int16")
        return total.mask(items[instrument.items].isna().any(axis=1)).rename(instrument.total)
    return score_items(items[instrument.items]).rename(instrument.total)


def _as_float(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _flag(met: np.ndarray, known: np.ndarray, index) -> pd.Series:
    return pd.Series(pd.array(np.where(known, met, False), dtype="boolean"), index=index).mask(~known)


def response_met(baseline, endpoint, instrument: Instrument) -> pd.Series:
    """Response: endpoint total at most the response fraction of the baseline (a >= 50% fall).

    Missing (``<NA>``) where either total is missing or the baseline is 0 (no fall is
    possible).  ``baseline`` and ``endpoint`` are aligned sequences of totals.
    """
    rule = OUTCOMES[instrument.key]
    if rule.response_fraction is None:
        raise DefinitionError(f"{instrument.name} has no response definition; see OUTCOMES[{instrument.key!r}]")
    index = endpoint.index if isinstance(endpoint, pd.Series) else None
    b, e = _as_float(baseline), _as_float(endpoint)
    known = ~np.isnan(b) & ~np.isnan(e) & (b > 0)
    with np.errstate(invalid="ignore"):
        met = e <= rule.response_fraction * b
    return _flag(met, known, index)


def remission_met(totals, instrument: Instrument, *, at_most: int | None = None) -> pd.Series:
    """Remission: total at or below the instrument's threshold (``<NA>`` where missing).

    ``at_most`` overrides the default; for MADRS it must be one of
    :data:`MADRS_REMISSION_THRESHOLDS` (10 or 12) so the figure names a published rule.
    """
    rule = OUTCOMES[instrument.key]
    if rule.remission_at_most is None:
        raise DefinitionError(f"{instrument.name} has no remission definition; {rule.remission_text}")
    limit = rule.remission_at_most if at_most is None else at_most
    if instrument is MADRS and limit not in MADRS_REMISSION_THRESHOLDS.values():
        raise DefinitionError(f"MADRS remission at_most={limit!r} is not a published threshold; use 10 or 12")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= instrument.total_max:
        raise DefinitionError(f"remission at_most={limit!r} is out of range; use a total from 0 to "
                              f"{instrument.total_max}")
    index = totals.index if isinstance(totals, pd.Series) else None
    t = _as_float(totals)
    with np.errstate(invalid="ignore"):
        return _flag(t <= limit, ~np.isnan(t), index)


def pcl5_meaningful_change(baseline, endpoint, *, points: int = PCL5_MEANINGFUL_CHANGE) -> pd.Series:
    """PCL-5 clinically meaningful improvement: a fall of at least ``points`` (default 10)."""
    index = endpoint.index if isinstance(endpoint, pd.Series) else None
    b, e = _as_float(baseline), _as_float(endpoint)
    with np.errstate(invalid="ignore"):
        return _flag(b - e >= points, ~np.isnan(b) & ~np.isnan(e), index)


def pcl5_probable_ptsd(totals, *, cut_point: int = PCL5_PROBABLE_PTSD_DEFAULT) -> pd.Series:
    """PCL-5 total at or above the probable-PTSD cut-point (31-33; default 33)."""
    lo, hi = PCL5_PROBABLE_PTSD_RANGE
    if isinstance(cut_point, bool) or not isinstance(cut_point, int) or not lo <= cut_point <= hi:
        raise DefinitionError(f"cut_point={cut_point!r} is outside the published range; use {lo} to {hi}")
    index = totals.index if isinstance(totals, pd.Series) else None
    t = _as_float(totals)
    with np.errstate(invalid="ignore"):
        return _flag(t >= cut_point, ~np.isnan(t), index)


# ----------------------------------------------------------------------------- C-SSRS screener

#: Accepted spellings of a yes/no answer (trimmed, lower case).
CSSRS_YES_NO = {"yes": True, "y": True, "1": True, "true": True, "no": False, "n": False, "0": False,
                "false": False}


@dataclass(frozen=True)
class Screener:
    """A yes/no screener: its items, which are always asked and which only after a yes.

    ``asked_if_yes`` pairs an item column with the item column whose "yes" opens it;
    an item reached only that way must be blank otherwise.
    """

    key: str
    name: str
    n_items: int
    asked_if_yes: tuple[tuple[str, str], ...]
    loinc_total: str = ""
    rater: str = "self-report or clinician-administered"

    @property
    def items(self) -> list[str]:
        return [f"{self.key}_{i}" for i in range(1, self.n_items + 1)] + [f"{self.key}_6_recent"]

    @property
    def always_asked(self) -> list[str]:
        gated = {item for item, _ in self.asked_if_yes}
        return [c for c in self.items if c not in gated]


#: C-SSRS screener, "since last visit"/recent version (Columbia Lighthouse Project; Posner
#: et al. 2011).  Items: 1 wish to be dead; 2 non-specific active suicidal thoughts;
#: 3 active ideation with any methods, without intent to act; 4 active ideation with some
#: intent to act, without a specific plan; 5 active ideation with a specific plan and intent;
#: 6 any suicidal behaviour (ever), and ``cssrs_6_recent``: was it within the past 3 months.
#: Skip logic: items 3-5 are asked only if item 2 is yes (if item 2 is no, go to item 6);
#: ``cssrs_6_recent`` only if item 6 is yes.
CSSRS_SCREENER = Screener(key="cssrs", name="C-SSRS screener", n_items=6,
                          asked_if_yes=(("cssrs_3", "cssrs_2"), ("cssrs_4", "cssrs_2"), ("cssrs_5", "cssrs_2"),
                                        ("cssrs_6_recent", "cssrs_6")))
SCREENERS = {CSSRS_SCREENER.key: CSSRS_SCREENER}


def parse_yes_no(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Yes/no cells as nullable booleans, plus a mask of cells that are neither.

    Accepts the spellings in :data:`CSSRS_YES_NO` (any case, spaces trimmed) and
    booleans or 0/1 numbers; blank cells are ``<NA>`` and not refused.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean"), np.zeros(len(values), bool)
    codes, uniques = pd.factorize(values)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype("str").str.strip().str.lower()
    text = text.str.replace(r"\.0$", "", regex=True)  # 1.0 / 0.0 from numeric columns
    mapped = text.map(CSSRS_YES_NO)
    blank_u = (text == "") | (text == "nan") | (text == "<na>") | (text == "none")
    u_vals = np.append(mapped.to_numpy(dtype=object), None)
    u_bad = np.append((mapped.isna() & ~blank_u).to_numpy(), False)
    out = pd.Series(pd.array(u_vals[codes], dtype="boolean"), index=values.index)
    return out, u_bad[codes]


def score_cssrs_screener(items: pd.DataFrame, screener: Screener = CSSRS_SCREENER) -> pd.DataFrame:
    """Flags of the C-SSRS screener, one row per answered screener.

    ``items`` holds ``cssrs_1`` ... ``cssrs_6`` and ``cssrs_6_recent`` as nullable
    booleans (see :func:`parse_yes_no`); skip logic is checked in validation, so a
    gated item is read as "no" when it was not asked.

    Returns a frame with
    ``recent_ideation`` (yes to any of items 1-5: the screener asks about the past month),
    ``active_ideation`` (item 2), ``ideation_with_method`` (item 3), ``ideation_with_intent``
    (item 4 or 5), ``lifetime_behaviour`` (item 6), ``recent_behaviour`` (item 6 within
    the past 3 months) and ``positive_screen`` (recent ideation or recent behaviour).
    A flag is ``<NA>`` when an item it needs was not answered.  This positive-screen rule
    is this tool's convention (any yes to items 1-5, or behaviour in the past 3 months);
    services draw the line differently (see docs/instruments.md), so it is printed with
    every figure.
    """
    k = screener.key
    def col(i):
        name = f"{k}_{i}"
        return items[name].astype("boolean") if name in items else pd.Series(pd.NA, index=items.index,
                                                                               dtype="boolean")
    q = {i: col(i) for i in range(1, 7)}
    q["6_recent"] = col("6_recent")
    # not asked because the gate is no: counts as no (an unknown gate leaves the item as given)
    item2_no = (q[2] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712 (nullable boolean)
    for i in (3, 4, 5):
        q[i] = q[i].mask(item2_no, False)
    q["6_recent"] = q["6_recent"].mask((q[6] == False).fillna(False).to_numpy(dtype=bool), False)  # noqa: E712
    ideation = q[1] | q[2] | q[3] | q[4] | q[5]  # Kleene logic: True wins over <NA>
    out = pd.DataFrame({
        "recent_ideation": ideation,
        "active_ideation": q[2],
        "ideation_with_method": q[3],
        "ideation_with_intent": q[4] | q[5],
        "lifetime_behaviour": q[6],
        "recent_behaviour": q[6] & q["6_recent"],
    }, index=items.index)
    out["positive_screen"] = out["recent_ideation"] | out["recent_behaviour"]
    return out


# ----------------------------------------------------------------------------- outcomes per instrument

@dataclass(frozen=True)
class OutcomeScale:
    """The instrument an outcome analysis runs on, with its two outcome rules written once.

    ``choice`` is the name a user gives (``--instrument``, the sidebar).  ``metrics``
    names the two per-episode outcomes: ``("response", "remission")`` for the depression
    and anxiety scales, ``("meaningful_change", "loss_of_probable_ptsd")`` for PCL-5,
    which has no response or remission definition.  ``min_baseline`` is the lowest
    baseline total in their denominators (``None``: PHQ-9, whose threshold is
    ``OutcomeDefinitions.min_baseline``).  PHQ-9 item 9 (SI) figures exist only on PHQ-9.
    """

    choice: str
    instrument: Instrument
    metrics: tuple[str, str]
    labels: tuple[str, str]
    rules: tuple[str, str]
    min_baseline: int | None
    source: str
    remission_at_most: int | None = None

    @property
    def is_phq9(self) -> bool:
        return self.instrument is PHQ9

    @property
    def name(self) -> str:
        return self.instrument.name

    @property
    def total(self) -> str:
        return self.instrument.total

    def eligibility_text(self, phq9_min_baseline: int) -> str:
        lo = phq9_min_baseline if self.min_baseline is None else self.min_baseline
        return f"baseline {self.name} total >= {lo}"

    def first_met(self, total, baseline):
        """Response (a >= 50% fall), or for PCL-5 a fall of at least 10 points; vectorised, NaN is not met."""
        if self.instrument is PCL5:
            return baseline - total >= PCL5_MEANINGFUL_CHANGE
        return total <= RESPONSE_FRACTION * baseline

    def second_met(self, total):
        """Remission (at or below the instrument's threshold; PHQ-9 below 5), or for PCL-5 a total below the
        probable-PTSD cut-point; vectorised, NaN is not met."""
        if self.is_phq9:
            return total < REMISSION_BELOW
        if self.instrument is PCL5:
            return total < PCL5_PROBABLE_PTSD_DEFAULT
        return total <= self.remission_at_most

    def describe(self) -> str:
        """The instrument and both rules in one sentence, for every printed rate."""
        return (f"Instrument: {self.name} ({self.instrument.rater}, total 0-{self.instrument.total_max}). "
                f"{self.labels[0]}: {self.rules[0]}; {self.labels[1]}: {self.rules[1]}. Source: {self.source}.")


def _depression_scale(choice: str, instrument: Instrument, at_most: int, source: str, *,
                      below: bool = False) -> OutcomeScale:
    """Response and remission on ``instrument``; ``below`` words remission as "< at_most + 1" (GAD-7's "< 5")."""
    text = f"< {at_most + 1}" if below else f"<= {at_most}"
    return OutcomeScale(
        choice=choice, instrument=instrument, metrics=("response", "remission"),
        labels=(f"Response ({instrument.name} >= {RESPONSE_MIN_FALL:.0%} fall)", f"Remission ({instrument.name} {text})"),
        rules=(f"endpoint {instrument.name} total <= {RESPONSE_FRACTION:.0%} of baseline total",
               f"endpoint {instrument.name} total {text}"),
        min_baseline=INSTRUMENT_MIN_BASELINE[instrument.key], source=source, remission_at_most=at_most)


#: Every instrument outcomes can run on, by the name a user gives (``phq9`` is the default and spec v2).
OUTCOME_SCALES = {
    "phq9": OutcomeScale(
        choice="phq9", instrument=PHQ9, metrics=("response", "remission"),
        labels=(f"Response (>= {RESPONSE_MIN_FALL:.0%} fall from baseline)", f"Remission (PHQ-9 < {REMISSION_BELOW})"),
        rules=(f"endpoint PHQ-9 total <= {RESPONSE_FRACTION:.0%} of baseline total",
               f"endpoint PHQ-9 total < {REMISSION_BELOW}"),
        min_baseline=None, source=OUTCOMES[PHQ9.key].source, remission_at_most=REMISSION_BELOW - 1),
    "qids-sr16": _depression_scale("qids-sr16", QIDS_SR16, OUTCOMES[QIDS_SR16.key].remission_at_most,
                                   OUTCOMES[QIDS_SR16.key].source),
    "madrs": _depression_scale("madrs", MADRS, MADRS_REMISSION_THRESHOLDS["<=12"],
                               f"response >= {RESPONSE_MIN_FALL:.0%} fall; remission <= "
                               f"{MADRS_REMISSION_THRESHOLDS['<=12']} as TRANSFORM-2 (Popova et al. 2019)"),
    "madrs-10": _depression_scale("madrs-10", MADRS, MADRS_REMISSION_THRESHOLDS["<=10"],
                                  f"response >= {RESPONSE_MIN_FALL:.0%} fall; remission <= "
                                  f"{MADRS_REMISSION_THRESHOLDS['<=10']} (e.g. Zimmerman et al. 2004)"),
    "gad7": _depression_scale("gad7", GAD7, OUTCOMES[GAD7.key].remission_at_most, OUTCOMES[GAD7.key].source,
                              below=True),
    "pcl5": OutcomeScale(
        choice="pcl5", instrument=PCL5, metrics=("meaningful_change", "loss_of_probable_ptsd"),
        labels=(f"Meaningful change (PCL-5 fall >= {PCL5_MEANINGFUL_CHANGE} points)",
                f"Below probable PTSD (PCL-5 < {PCL5_PROBABLE_PTSD_DEFAULT})"),
        rules=(f"endpoint PCL-5 total at least {PCL5_MEANINGFUL_CHANGE} points below baseline",
               f"endpoint PCL-5 total below the probable-PTSD cut-point {PCL5_PROBABLE_PTSD_DEFAULT} (published "
               f"cut-points {PCL5_PROBABLE_PTSD_RANGE[0]}-{PCL5_PROBABLE_PTSD_RANGE[1]})"),
        min_baseline=PCL5_PROBABLE_PTSD_DEFAULT, source=OUTCOMES[PCL5.key].source + " (Bovin et al. 2016 cut-points)"),
}
#: The names ``instrument=`` accepts, in the order a menu shows them.
INSTRUMENT_CHOICES = tuple(OUTCOME_SCALES)
_ALIASES = {"phq-9": "phq9", "qids": "qids-sr16", "qids_sr16": "qids-sr16", "qidssr16": "qids-sr16",
            "gad-7": "gad7", "pcl-5": "pcl5", "madrs10": "madrs-10", "madrs_10": "madrs-10"}


def outcome_scale(instrument: "str | OutcomeScale" = "phq9") -> OutcomeScale:
    """The :class:`OutcomeScale` of a name (``"phq9"``, ``"qids-sr16"``, ``"madrs"``, ``"madrs-10"``,
    ``"gad7"``, ``"pcl5"``; case and ``_``/``-`` spellings of the registry keys accepted).

    Raises
    ------
    DefinitionError
        Naming the allowed values, for any other name.
    """
    if isinstance(instrument, OutcomeScale):
        return instrument
    key = str(instrument).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in OUTCOME_SCALES:
        raise DefinitionError(f"instrument={instrument!r} is not an instrument outcomes can use; use one of "
                              f"{', '.join(INSTRUMENT_CHOICES)} (madrs: remission <= 12; madrs-10: remission <= 10; "
                              "pcl5: meaningful change and probable PTSD instead of response and remission)")
    return OUTCOME_SCALES[key]
