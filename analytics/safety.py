"""Suicidal-ideation (PHQ-9 item 9) review: who needs a look, and how often SI appears or worsens.

A review aid, not an alerting service: item 9 is a screening item that
over-flags compared with the C-SSRS, and the data are only as recent as the
last export.  Nothing here notifies anyone; a director opens the worklist.

The worklist (:func:`safety_worklist`) lists a patient for any of three reasons,
each computed per episode on the rows where item 9 is recorded:

* **item 9 rose during treatment**: a questionnaire on study day > 0 has a
  higher item 9 than the patient's previous questionnaire of the same episode.
  Listed even when the rise later resolved (a mid-course spike is reviewed).
* **new SI**: the episode's baseline item 9 (latest complete questionnaire on
  study days -30 to 0, as the outcome definitions) is 0 and a later
  questionnaire (day > 0) has item 9 >= 1.
* **SI at the last questionnaire**: the patient's last questionnaire with item 9
  recorded has item 9 >= 1 and no questionnaire (scored or not) came after it.
  Days since that last contact are counted to ``as_of``; more than
  ``lost_after_days`` is "lost to follow-up".

When the data hold C-SSRS screeners, :func:`si_by_measure` puts SI at baseline and
SI resolution on the screener beside the same figures on item 9.  The two are
different measures and are never pooled: item 9 over-flags compared with the
C-SSRS (the shared reference: positive in 41% vs 13% in one comparison).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .definitions import BASELINE_WINDOW_DAYS, LOST_TO_FOLLOW_UP_DAYS, SI_ITEM_POSITIVE_AT, OutcomeDefinitions
from .errors import DefinitionError
from .instruments import CSSRS_SCREENER, parse_yes_no, score_cssrs_screener
from .outcomes import _UNIT_STRIDE, patient_outcomes  # a unit's (patient, episode) integer key
from .statistics import Proportion, wilson_proportion

__all__ = [
    "WORKLIST_COLUMNS",
    "WORKLIST_REASONS",
    "SafetyCounts",
    "safety_worklist",
    "apply_reviews",
    "safety_counts",
    "si_review",
    "si_change_rates",
    "SI_MEASURES",
    "SI_MEASURE_COLUMNS",
    "has_cssrs_screens",
    "cssrs_si_outcomes",
    "si_by_measure",
]

#: The reasons a patient is on the worklist, in the order they are written.
WORKLIST_REASONS = {
    "si_at_last": "SI at the last questionnaire, no contact since",
    "new_si": "new SI during treatment (none at baseline)",
    "rise": "item 9 rose during treatment",
}
WORKLIST_COLUMNS = [
    "patient_id", "si_at_last", "lost_to_follow_up", "days_since_contact", "new_si", "rise", "rise_resolved",
    "first_rise_episode", "first_rise_day", "first_rise_date", "rises", "peak_item9", "item9_baseline",
    "item9_latest", "last_episode", "last_day", "last_date", "reason",
]


def si_review(questionnaires: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Patients whose latest complete questionnaire shows SI, or SI new or higher than before.

    Returns
    -------
    pandas.DataFrame
        One row per flagged patient: ``patient_id, last_date, last_day,
        item9_latest, item9_previous, item9_baseline, phq9_total_latest,
        reason``, sorted by latest item 9 (highest first), then most recent.
    """
    # by episode then day: the latest questionnaire is in the patient's latest episode
    order = [c for c in ("patient_id", "episode", "day") if c in questionnaires]
    q = questionnaires[questionnaires["complete"]].sort_values(order, kind="stable")
    pid = q["patient_id"].astype("str")
    last = ~pid.duplicated(keep="last")
    prev_item9 = q["phq9_9"].groupby(pid, sort=False).shift(1)
    latest = pd.DataFrame({
        "patient_id": pid[last].to_numpy(),
        "last_date": q.loc[last, "assessment_date"].to_numpy() if "assessment_date" in q else pd.NaT,
        "last_day": q.loc[last, "day"].to_numpy(),
        "item9_latest": q.loc[last, "phq9_9"].to_numpy(),
        "item9_previous": prev_item9[last].to_numpy(),
        "phq9_total_latest": q.loc[last, "phq9_total"].to_numpy(),
    })
    latest_unit = patients.drop_duplicates("patient_id", keep="last")  # one row per patient whatever --episodes
    base = latest_unit.set_index(latest_unit["patient_id"].astype("str"))["baseline_item9"]
    latest["item9_baseline"] = base.reindex(latest["patient_id"]).to_numpy()
    item9 = latest["item9_latest"].astype("float64")
    prev = latest["item9_previous"].astype("float64")
    basel = latest["item9_baseline"].astype("float64")
    positive = item9 >= 1
    new_vs_base = positive & (basel == 0)
    worse_vs_base = (item9 > basel) & (basel >= 1)
    worse_vs_prev = item9 > prev
    reason = np.where(new_vs_base, "new since baseline",
                      np.where(worse_vs_base, "higher than baseline",
                               np.where(worse_vs_prev, "higher than the previous questionnaire",
                                        "item 9 >= 1 on the latest questionnaire")))
    flagged = latest[(positive | worse_vs_prev).to_numpy()].assign(reason=reason[(positive | worse_vs_prev).to_numpy()])
    flagged = flagged.sort_values(["item9_latest", "last_day"], ascending=[False, False], kind="stable")
    if "last_date" in flagged and flagged["last_date"].notna().any():
        flagged = flagged.sort_values(["item9_latest", "last_date"], ascending=[False, False], kind="stable")
    cols = ["patient_id", "last_date", "last_day", "item9_latest", "item9_previous", "item9_baseline",
            "phq9_total_latest", "reason"]
    return flagged[cols].reset_index(drop=True)


def _patient_ranks(ids: pd.Series) -> tuple[pd.Series | np.ndarray, np.ndarray | None]:
    """Each row's patient as an integer that sorts as its id's text does, and each integer's text; or the ids as
    text and None when they cannot be ranked so (a blank id, two categories with one text).  Grouping, sorting
    and looking up integers instead of millions of text values was most of the worklist's time."""
    if isinstance(ids.dtype, pd.CategoricalDtype) and not ids.isna().any():
        names = ids.cat.categories.astype("str")
        if not names.has_duplicates:
            order = np.argsort(names.to_numpy(dtype=object), kind="stable")
            rank = np.empty(len(names), np.int64)
            rank[order] = np.arange(len(names))
            return rank[ids.cat.codes.to_numpy()], names.to_numpy(dtype=object)[order]
    text = ids.astype("str")
    if text.isna().any():
        return text.to_numpy(), None
    codes, uniques = pd.factorize(text, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _ordered_rows(questionnaires: pd.DataFrame) -> pd.DataFrame:
    """Patient (an integer ranked as its id's text: :func:`_patient_ranks`), episode, day, date, item 9 and
    completeness of every row, in time order within each patient."""
    missing = {"patient_id", "day", "phq9_9"} - set(questionnaires.columns)
    if missing:
        raise DefinitionError(f"the frame lacks columns {sorted(missing)}; the safety worklist needs PHQ-9 item 9 "
                              "answers: pass the canonical frame from load_questionnaires().")
    n = len(questionnaires)
    rows = pd.DataFrame({
        "patient_id": _patient_ranks(questionnaires["patient_id"])[0],
        "episode": (questionnaires["episode"].to_numpy(dtype="int64") if "episode" in questionnaires
                    else np.ones(n, dtype="int64")),
        "day": questionnaires["day"].to_numpy(dtype="float64", na_value=np.nan),
        "date": (pd.to_datetime(questionnaires["assessment_date"]).to_numpy() if "assessment_date" in questionnaires
                 else np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")),
        "item9": questionnaires["phq9_9"].to_numpy(dtype="float64", na_value=np.nan),
        "complete": (questionnaires["complete"].to_numpy(dtype=bool) if "complete" in questionnaires
                     else np.ones(n, dtype=bool)),
    })
    # episodes follow each other in time; within one, study days order the rows (dates break no tie: a row
    # without a day sorts last of its episode)
    return rows.sort_values(["patient_id", "episode", "day"], kind="stable", na_position="last", ignore_index=True)


def safety_worklist(questionnaires: pd.DataFrame, *, as_of=None,
                    lost_after_days: int = LOST_TO_FOLLOW_UP_DAYS) -> pd.DataFrame:
    """Patients to review for suicidal ideation: a rise in item 9, new SI, or SI at the last contact.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        The canonical frame (every episode of every patient; the worklist ignores the
        episode selection of the outcome figures, so no course is hidden from review).
    as_of : date-like, optional
        The day "days since last contact" count to; default the latest assessment date
        in the data (the data are as recent as their last import, not as today).
    lost_after_days : int
        More than this many days since the last contact, with SI at it: lost to follow-up.

    Returns
    -------
    pandas.DataFrame
        One row per listed patient, columns :data:`WORKLIST_COLUMNS`.  ``days_since_contact``
        and ``lost_to_follow_up`` are missing when the data carry no dates.  ``last_*`` describe
        the patient's last questionnaire row (what a review covers).  Sorted: SI at the last
        contact first (longest without contact first), then new SI, then rises, each by the
        highest item 9 during treatment.
    """
    if isinstance(lost_after_days, bool) or not isinstance(lost_after_days, (int, np.integer)) or lost_after_days < 0:
        raise DefinitionError(f"lost_after_days={lost_after_days!r} is not a number of days; use a whole number "
                              "of days from 0 up.")
    rows = _ordered_rows(questionnaires)
    text_of = _patient_ranks(questionnaires["patient_id"])[1]
    pid = rows["patient_id"]
    if as_of is None:
        as_of = rows["date"].max()
    as_of = pd.Timestamp(as_of) if as_of is not None and not pd.isna(as_of) else pd.NaT

    # the patient's last row: the contact a review covers
    last = rows[~pid.duplicated(keep="last")].set_index("patient_id")

    scored = rows[rows["item9"].notna()]
    s_pid = scored["patient_id"]
    unit = [s_pid, scored["episode"]]
    previous = scored["item9"].groupby(unit, sort=False).shift(1)
    treating = scored["day"] > 0
    rose = treating & (scored["item9"] > previous)  # NaN previous (the episode's first row) compares False

    lo, hi = BASELINE_WINDOW_DAYS
    in_base = scored["complete"] & (scored["day"] >= lo) & (scored["day"] <= hi)
    base = scored[in_base]
    # a unit (patient, episode) as one integer when patients are ranked integers: looking up pairs of a
    # MultiIndex built millions of tuples (most of the worklist's time)
    stride = _UNIT_STRIDE if text_of is not None and (rows["episode"].to_numpy() < _UNIT_STRIDE).all() \
        and (rows["episode"].to_numpy() >= 0).all() else None
    if stride is not None:
        def unit_of(patients, episodes):
            return np.asarray(patients, dtype=np.int64) * stride + np.asarray(episodes, dtype=np.int64)
        base_item9 = base["item9"].groupby(unit_of(base["patient_id"], base["episode"]), sort=False).last()
        row_base = pd.Series(base_item9.reindex(unit_of(s_pid, scored["episode"])).to_numpy(dtype="float64"),
                             index=scored.index, dtype="float64")
    else:
        base_item9 = base.groupby([base["patient_id"], base["episode"]], sort=False)["item9"].last()
        row_base = pd.Series(pd.MultiIndex.from_arrays([s_pid, scored["episode"]]).map(base_item9),
                             index=scored.index, dtype="float64")
    new_si = treating & (row_base == 0) & (scored["item9"] >= SI_ITEM_POSITIVE_AT)

    by = scored.groupby(s_pid, sort=False)
    latest_scored = scored[~s_pid.duplicated(keep="last")].set_index("patient_id")
    out = pd.DataFrame(index=pd.Index(by.size().index, name="patient_id"))
    out["rises"] = rose.groupby(s_pid, sort=False).sum().astype("int64")
    out["rise"] = out["rises"] > 0
    out["new_si"] = new_si.groupby(s_pid, sort=False).any()
    out["peak_item9"] = scored["item9"].where(treating).groupby(s_pid, sort=False).max()
    first = scored[rose][~s_pid[rose].duplicated(keep="first")].set_index("patient_id")
    out["first_rise_episode"] = first["episode"].reindex(out.index)
    out["first_rise_day"] = first["day"].reindex(out.index)
    out["first_rise_date"] = first["date"].reindex(out.index)
    # baseline item 9 of the patient's latest episode
    if stride is not None:
        latest_unit = unit_of(out.index, last["episode"].reindex(out.index))
        out["item9_baseline"] = base_item9.reindex(latest_unit).to_numpy(dtype="float64")
    else:
        latest_key = pd.MultiIndex.from_arrays([out.index, last["episode"].reindex(out.index)])
        out["item9_baseline"] = latest_key.map(base_item9).to_numpy(dtype="float64")
    out["item9_latest"] = latest_scored["item9"].reindex(out.index)
    # SI at the last questionnaire with item 9 recorded, and that questionnaire is the last contact
    # rows are numbered in time order within each patient: the last scored row is the last contact or not
    last_row = pd.Series(rows.index, index=pid.to_numpy()).groupby(level=0, sort=False).max()
    last_scored_row = pd.Series(scored.index, index=s_pid.to_numpy()).groupby(level=0, sort=False).max()
    no_contact_since = (last_scored_row.reindex(out.index) == last_row.reindex(out.index)).to_numpy()
    out["si_at_last"] = (out["item9_latest"] >= SI_ITEM_POSITIVE_AT) & no_contact_since
    out["rise_resolved"] = out["rise"] & (out["item9_latest"] == 0)
    out["last_episode"] = last["episode"].reindex(out.index)
    out["last_day"] = last["day"].reindex(out.index)
    out["last_date"] = last["date"].reindex(out.index)
    days = (as_of - out["last_date"]).dt.days if not pd.isna(as_of) else pd.Series(np.nan, index=out.index)
    out["days_since_contact"] = days.astype("Int64")
    out["lost_to_follow_up"] = (out["days_since_contact"] > lost_after_days).where(out["si_at_last"], False)
    out.loc[out["si_at_last"] & out["days_since_contact"].isna(), "lost_to_follow_up"] = pd.NA
    out["lost_to_follow_up"] = out["lost_to_follow_up"].astype("boolean")

    listed = out[out["rise"] | out["new_si"] | out["si_at_last"]].copy()
    reason = pd.Series("", index=listed.index, dtype="object")
    for flag, text in WORKLIST_REASONS.items():  # three reasons, each a whole column at once
        reason = reason + np.where(listed[flag].to_numpy(dtype=bool), text + "; ", "")
    listed["reason"] = reason.str.removesuffix("; ")
    listed = listed.reset_index()
    listed["_si_days"] = listed["days_since_contact"].astype("float64").where(listed["si_at_last"])
    listed = listed.sort_values(["si_at_last", "_si_days", "new_si", "peak_item9", "patient_id"],
                                ascending=[False, False, False, False, True], na_position="last", kind="stable")
    for col in ("first_rise_episode", "first_rise_day", "last_episode", "last_day", "peak_item9", "item9_baseline",
                "item9_latest"):
        listed[col] = listed[col].astype("Int64")
    if text_of is not None:  # the listed patients' ids as text again
        listed["patient_id"] = pd.Series(text_of[listed["patient_id"].to_numpy(dtype=np.int64)],
                                         index=listed.index, dtype="str")
    return listed[WORKLIST_COLUMNS].reset_index(drop=True)


def apply_reviews(worklist: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """The worklist with each patient's latest review, and whether it still covers their last questionnaire.

    A review covers a patient while no questionnaire newer than the one it was made through has
    arrived: newer by date when both carry one, else by (episode, study day).  Adds ``reviewed``
    (the review still holds), ``review_outdated`` (a review exists, but a newer questionnaire came
    since), ``reviewed_at``, ``reviewed_by`` and ``review_note`` (of the latest review, outdated or not).
    """
    latest = (reviews.sort_values("id", kind="stable").drop_duplicates("patient_id", keep="last")
              .assign(patient_id=lambda r: r["patient_id"].astype("str")).set_index("patient_id"))
    out = worklist.copy()
    pids = out["patient_id"].astype("str")
    r = latest.reindex(pids)
    has = pids.isin(latest.index).to_numpy()
    out["reviewed_at"] = r["reviewed_at"].to_numpy(dtype="object")
    out["reviewed_by"] = r["user"].to_numpy(dtype="object")
    out["review_note"] = r["note"].to_numpy(dtype="object")
    through_date = pd.to_datetime(r["through_date"], errors="coerce").to_numpy()
    last_date = pd.to_datetime(out["last_date"], errors="coerce").to_numpy()
    dated = ~pd.isna(through_date) & ~pd.isna(last_date)
    te, td = (pd.to_numeric(r[c], errors="coerce").to_numpy(dtype="float64") for c in ("through_episode",
                                                                                        "through_day"))
    le, ld = (out[c].to_numpy(dtype="float64", na_value=np.nan) for c in ("last_episode", "last_day"))
    # without dates and with a study day missing on either side nothing shows it is the same questionnaire:
    # the review does not cover it
    unknown = np.isnan(te) | np.isnan(le) | np.isnan(td) | np.isnan(ld)
    newer = np.where(dated, last_date > through_date, unknown | (le > te) | ((le == te) & (ld > td)))
    out["review_outdated"] = has & newer
    out["reviewed"] = has & ~newer
    return out


@dataclass(frozen=True)
class SafetyCounts:
    """How many patients the worklist holds, by reason (a patient can have several) and review state."""

    listed: int
    si_at_last: int
    lost_to_follow_up: int
    new_si: int
    rise: int
    rise_resolved: int
    reviewed: int
    to_review: int


def safety_counts(worklist: pd.DataFrame) -> SafetyCounts:
    """Counts of :func:`safety_worklist` (after :func:`apply_reviews` for the review columns)."""
    reviewed = int(worklist["reviewed"].sum()) if "reviewed" in worklist else 0
    return SafetyCounts(
        listed=len(worklist),
        si_at_last=int(worklist["si_at_last"].sum()),
        lost_to_follow_up=int(worklist["lost_to_follow_up"].fillna(False).sum()),
        new_si=int(worklist["new_si"].sum()),
        rise=int(worklist["rise"].sum()),
        rise_resolved=int(worklist["rise_resolved"].sum()),
        reviewed=reviewed,
        to_review=len(worklist) - reviewed,
    )


def si_change_rates(patients: pd.DataFrame) -> dict[str, Proportion]:
    """SI worsened and new SI at the endpoint, among patients with a baseline and an endpoint.

    ``si_worsened``: endpoint item 9 above baseline item 9 (compare McInnes 2022:
    6.0%).  ``si_new``: endpoint item 9 >= 1 among those with item 9 = 0 at baseline.
    """
    both = patients[patients["baseline_item9"].notna() & patients["endpoint_item9"].notna()]
    worse = both["endpoint_item9"] > both["baseline_item9"]
    none_at_base = both[both["baseline_item9"] == 0]
    return {
        "si_worsened": wilson_proportion(int(worse.sum()), len(both)),
        "si_new": wilson_proportion(int((none_at_base["endpoint_item9"] >= 1).sum()), len(none_at_base)),
    }


# ----------------------------------------------------------------------------- SI on the C-SSRS screener

#: The two SI measures: their names and what "SI" means on each (printed with every figure).
SI_MEASURES = {
    "phq9_item9": ("PHQ-9 item 9", f"item 9 >= {SI_ITEM_POSITIVE_AT} (any answer but 'not at all'); resolution: "
                                   "item 9 falls to 0"),
    "cssrs": ("C-SSRS screener", "ideation in the past month: a yes to any of items 1-5 (wish to be dead, "
                                 "suicidal thoughts, with method, intent or plan); resolution: no to all five"),
}
SI_MEASURE_COLUMNS = ["measure", "statistic", "definition", "events", "n", "estimate", "ci_low", "ci_high",
                      "method", "warning"]


def _cssrs_ideation(questionnaires: pd.DataFrame) -> pd.Series:
    """Ideation in the past month on each row's C-SSRS screener (``<NA>``: no screener, or not enough answered).

    The items may be booleans (the canonical frame) or yes/no text; skip logic is validation's
    (:mod:`analytics.instrument_validation`), so an item that was not asked reads as no.
    """
    items = {}
    for col in CSSRS_SCREENER.items:  # seven item columns, not rows
        if col in questionnaires:
            items[col] = parse_yes_no(questionnaires[col])[0]
    if not items:
        return pd.Series(pd.NA, index=questionnaires.index, dtype="boolean")
    flags = score_cssrs_screener(pd.DataFrame(items, index=questionnaires.index))
    return flags["recent_ideation"]


def has_cssrs_screens(questionnaires: pd.DataFrame) -> bool:
    """Whether any row holds a C-SSRS screener whose ideation questions were answered."""
    return bool(_cssrs_ideation(questionnaires).notna().any())


def cssrs_si_outcomes(questionnaires: pd.DataFrame, *, definitions: OutcomeDefinitions | None = None) -> pd.DataFrame:
    """SI at baseline and SI resolution on the C-SSRS screener, one row per episode with a screener.

    The baseline, endpoint window and analysis mode are the PHQ-9 item 9 rules, applied to the
    rows that hold a screener: baseline is the latest screener on study days -30 to 0, the
    endpoint the screener closest to the target day in the window (carried forward under LOCF),
    and resolution (``si_resolved``) is no ideation at the endpoint among episodes with ideation
    at baseline (``<NA>``: outside that denominator under the mode).  Written once: the
    engine's :func:`analytics.outcomes.patient_outcomes` runs on the screener rows with the
    ideation flag (0 or 1) in item 9's place, so the two measures cannot drift apart in rules.

    Returns
    -------
    pandas.DataFrame
        ``patient_id, episode, baseline_day, si_at_baseline, endpoint_day, si_resolved``, for
        every episode (the caller keeps the episodes its figures use).
    """
    missing = {"patient_id", "day"} - set(questionnaires.columns)
    if missing:
        raise DefinitionError(f"the frame lacks columns {sorted(missing)}; pass the canonical frame from "
                              "load_questionnaires().")
    d = definitions or OutcomeDefinitions()
    ideation = _cssrs_ideation(questionnaires)
    rows = questionnaires[ideation.notna().to_numpy() & questionnaires["day"].notna().to_numpy()]
    flag = ideation[rows.index].astype("int8")
    surrogate = pd.DataFrame({
        "patient_id": rows["patient_id"].astype("str").to_numpy(),
        "day": rows["day"].to_numpy(dtype="float64", na_value=np.nan),
        # the response/remission columns this total feeds are dropped below: only the SI columns are read
        "phq9_total": np.zeros(len(rows)),
        "phq9_9": flag.to_numpy(dtype="float64"),
        "complete": np.ones(len(rows), dtype=bool),
    })
    if "episode" in rows:
        surrogate["episode"] = rows["episode"].to_numpy(dtype="int64")
    cols = ["patient_id", "episode", "baseline_day", "si_at_baseline", "endpoint_day", "si_resolved"]
    if surrogate.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    units = patient_outcomes(surrogate, definitions=replace(d, episodes="all"), attributes=False)
    return units[cols]


def si_by_measure(questionnaires: pd.DataFrame, patients: pd.DataFrame, *,
                  definitions: OutcomeDefinitions | None = None) -> pd.DataFrame:
    """SI at baseline and SI resolution on PHQ-9 item 9 and on the C-SSRS screener, never pooled.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        The cohort's canonical frame (C-SSRS item columns ``cssrs_1`` ... ``cssrs_6_recent`` when
        screeners were given).
    patients : pandas.DataFrame
        :func:`analytics.outcomes.patient_outcomes` of the same frame and definitions: its episodes
        are the units of both measures.
    definitions : OutcomeDefinitions
        Window and analysis mode (the same as ``patients``').

    Returns
    -------
    pandas.DataFrame
        :data:`SI_MEASURE_COLUMNS`, one row per measure and statistic: "SI at baseline" (among
        episodes with that measure at baseline), "SI resolution" (among episodes with SI on that
        measure at baseline; endpoint as the analysis mode says) and, on episodes with both measures
        at baseline, "SI at baseline, episodes with both measures" for each: the same patients on
        the two measures.  ``estimate`` is ``None`` ("no data") at ``n = 0``.  The C-SSRS rows are
        there only when the data hold screeners.
    """
    d = definitions or OutcomeDefinitions()
    units = patients[["patient_id", "episode"]].astype({"patient_id": "str"})
    item9_known = patients["baseline_item9"].notna().to_numpy()
    item9_si = patients["si_at_baseline"].to_numpy(dtype=bool)
    rows = [("phq9_item9", "SI at baseline", int((item9_known & item9_si).sum()), int(item9_known.sum())),
            ("phq9_item9", "SI resolution", int(patients["si_resolved"].eq(True).sum()),
             int(patients["si_resolved"].notna().sum()))]
    if has_cssrs_screens(questionnaires):
        c = units.merge(cssrs_si_outcomes(questionnaires, definitions=d).astype({"patient_id": "str"}),
                        on=["patient_id", "episode"], how="left")
        c_known = c["baseline_day"].notna().to_numpy()
        c_si = c["si_at_baseline"].fillna(False).to_numpy(dtype=bool) & c_known
        resolved = c["si_resolved"].astype("boolean")
        both = item9_known & c_known
        rows += [("cssrs", "SI at baseline", int(c_si.sum()), int(c_known.sum())),
                 ("cssrs", "SI resolution", int(resolved.eq(True).sum()), int(resolved.notna().sum())),
                 ("phq9_item9", "SI at baseline, episodes with both measures", int((item9_si & both).sum()),
                  int(both.sum())),
                 ("cssrs", "SI at baseline, episodes with both measures", int((c_si & both).sum()), int(both.sum()))]
    out = []
    for key, statistic, events, n in rows:  # at most six figures
        name, rule = SI_MEASURES[key]
        r = wilson_proportion(events, n)
        out.append({"measure": name, "statistic": statistic, "definition": rule, "events": r.events, "n": r.n,
                    "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                    "method": r.method, "warning": r.warning})
    return pd.DataFrame(out, columns=SI_MEASURE_COLUMNS)
