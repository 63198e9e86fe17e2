"""Episodes (treatment courses): which course each questionnaire belongs to, and which courses count.

Spec v2 (``docs/methods.md``): every distinct ``treatment_start_date`` of a
patient starts an episode, numbered 1, 2, ... in date order.  A row with its
own start date belongs to that episode; a row with a blank start date belongs
to the episode with the latest start S such that its assessment date is on or
after S - 30 days (a screening questionnaire before a re-induction is that
episode's baseline candidate), else to episode 1.  Everything is vectorised
over arrays of rows: no loop per patient.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .definitions import (
    EPISODE_LOOKBACK_DAYS,
    EPISODE_UNKNOWN_GAP_DAYS,
    NEW_EPISODE_AFTER_DAYS_RANGE,
    OutcomeDefinitions,
)
from .errors import DefinitionError
from .statistics import Proportion, wilson_proportion

__all__ = [
    "assign_episodes",
    "split_episodes_after_gap",
    "episode_origins",
    "episode_axis_offsets",
    "Reinductions",
    "reinduction_summary",
]

# start dates are days since 1970 within 1900-2100: offset them into [0, 2**17)
_DATE_OFFSET = 2 ** 16
_KEY_SHIFT = 2 ** 20


def assign_episodes(pcodes: np.ndarray, start: np.ndarray, date: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Episode number and that episode's start date for every row.

    Parameters
    ----------
    pcodes : numpy.ndarray
        Patient code of each row (integers >= 0; -1 for a blank patient).
    start, date : numpy.ndarray
        ``treatment_start_date`` and ``assessment_date`` as days since 1970 (NaN = blank).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Episode numbers (int16, from 1) and the episode's start date (NaN when
        the patient has no start date).
    """
    n = pcodes.size
    episode = np.ones(n, np.int16)
    # the start dates' own float type (float32 from validation: whole days are exact), else float64
    ep_start = np.full(n, np.nan, dtype=start.dtype if start.dtype.kind == "f" else np.float64)
    has = ~np.isnan(start) & (pcodes >= 0)
    if not has.any():
        return episode, ep_start
    blocks = _sorted_pair_blocks(pcodes, start, has)
    if blocks is not None:  # rows in (patient, start) order: the distinct pairs from neighbours, block by block
        ukeys = np.concatenate([k for _, k in blocks])
    else:  # not in (patient, start) order: one int64 key per row, factorised
        key = pcodes[has].astype(np.int64)  # built in place: no int64 temporaries of the rows' size
        key *= _KEY_SHIFT
        key += _DATE_OFFSET
        np.add(key, start[has], out=key, casting="unsafe")  # whole days: exact through float64
        inverse, ukeys = _sorted_codes(key)
        del key
    upat = ukeys // _KEY_SHIFT
    first_of_patient = np.r_[0, np.flatnonzero(upat[1:] != upat[:-1]) + 1]
    rank = (np.arange(ukeys.size) - np.repeat(first_of_patient, np.diff(np.r_[first_of_patient, ukeys.size])) + 1
            ).astype(np.int16)  # episode numbers are int16 (EPISODE_LIMIT)
    ustart = (ukeys % _KEY_SHIFT - _DATE_OFFSET).astype(ep_start.dtype)
    if blocks is not None:
        _label_blocks(blocks, has, rank, ustart, episode, ep_start)
    else:
        episode[has] = rank[inverse]
        ep_start[has] = ustart[inverse]
        del inverse

    # blank start, dated: the latest start S with S <= date + 30 days, else episode 1
    blank = ~has & ~np.isnan(date) & (pcodes >= 0)
    if blank.any():
        p = pcodes[blank].astype(np.int64)
        limit = np.clip(date[blank] + EPISODE_LOOKBACK_DAYS + _DATE_OFFSET, 0, _KEY_SHIFT - 1).astype(np.int64)
        at = np.searchsorted(ukeys, p * _KEY_SHIFT + limit, side="right") - 1
        found = (at >= 0) & (upat[np.maximum(at, 0)] == p)
        # the patient's first start: episode 1 for rows earlier than every start - 30 days
        first_at = np.searchsorted(ukeys, p * _KEY_SHIFT, side="left")
        has_any = (first_at < ukeys.size) & (upat[np.minimum(first_at, ukeys.size - 1)] == p)
        pick = np.where(found, at, first_at)
        ok = found | has_any
        ep = np.ones(p.size, np.int16)
        st = np.full(p.size, np.nan)
        ep[ok] = rank[pick[ok]]
        st[ok] = ustart[pick[ok]]
        episode[blank], ep_start[blank] = ep, st
    # blank start, undated rows of a patient with starts: episode 1 and its start
    undated = ~has & np.isnan(date) & (pcodes >= 0)
    if undated.any():
        p = pcodes[undated].astype(np.int64)
        first_at = np.searchsorted(ukeys, p * _KEY_SHIFT, side="left")
        has_any = (first_at < ukeys.size) & (upat[np.minimum(first_at, ukeys.size - 1)] == p)
        st = np.full(p.size, np.nan)
        st[has_any] = ustart[first_at[has_any]]
        ep_start[undated] = st
    return episode, ep_start


def _sorted_pair_blocks(pcodes: np.ndarray, start: np.ndarray, has: np.ndarray):
    """When the rows with a start date are in (patient, start) order: for each block of :data:`_BLOCK` rows,
    which of its dated rows begin a new (patient, start) pair, and those pairs' keys (``patient * _KEY_SHIFT
    + start + _DATE_OFFSET``, sorted and distinct over all blocks).  None when the rows are not in that order.

    Compared a block at a time against the block's own neighbours and the previous block's last dated row, so
    no copy or difference of the whole columns is made (on twenty million rows those were the validation's
    largest temporaries)."""
    blocks, last = [], None
    for a in range(0, pcodes.size, _BLOCK):  # blocks of a million rows, not rows
        b = min(pcodes.size, a + _BLOCK)
        m = has[a:b]
        p, st = pcodes[a:b][m], start[a:b][m]
        new = np.empty(p.size, bool)
        if p.size:
            dp, ds = np.diff(p), np.diff(st)
            if ((dp < 0) | ((dp == 0) & (ds < 0))).any():
                return None
            if last is not None:
                if p[0] < last[0] or (p[0] == last[0] and st[0] < last[1]):
                    return None
                new[0] = p[0] != last[0] or st[0] != last[1]
            else:
                new[0] = True
            np.not_equal(dp, 0, out=new[1:])
            new[1:] |= ds != 0
            last = (p[-1], st[-1])
        keys = p[new].astype(np.int64) * _KEY_SHIFT + (st[new] + _DATE_OFFSET).astype(np.int64)
        blocks.append((new, keys))
    return blocks


def _label_blocks(blocks, has, rank, ustart, episode, ep_start) -> None:
    """Episode and start of every dated row from :func:`_sorted_pair_blocks`' blocks (filled in place)."""
    before = 0  # distinct pairs in the blocks before this one
    for i, (new, keys) in enumerate(blocks):
        a = i * _BLOCK
        b = min(has.size, a + _BLOCK)
        codes = np.cumsum(new, dtype=np.int32)
        codes += before - 1  # a block's first row continuing the previous pair takes that pair's code
        m = has[a:b]
        episode[a:b][m] = rank[codes]
        ep_start[a:b][m] = ustart[codes]
        before += keys.size


_BLOCK = 1 << 20


def _sorted_codes(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted distinct keys, and those keys (as ``pandas.factorize(key, sort=True)``).

    Exports written one patient at a time in date order give keys already in order: then
    neighbours are compared instead of hashing every row."""
    if key.size and (key[1:] >= key[:-1]).all():
        new = np.empty(key.size, bool)
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
        codes = np.cumsum(new, dtype=np.int32)  # int32: rows fit (MAX_ROWS), half the memory of int64
        codes -= 1
        return codes, key[new]
    return pd.factorize(key, sort=True)  # hashing, then sorting only the distinct (patient, start)


def episode_origins(frame: pd.DataFrame) -> pd.Series:
    """Calendar day 0 of every row's episode (``assessment_date - day``), NaT when undated."""
    if "assessment_date" not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[s]")
    day = pd.to_timedelta(frame["day"].astype("float64"), unit="D")
    return frame["assessment_date"] - day


def episode_axis_offsets(episodes: pd.DataFrame, *, unknown_gap_days: int = EPISODE_UNKNOWN_GAP_DAYS) -> pd.Series:
    """Where each episode of one patient starts on a common axis (days since the first episode's start).

    ``episodes``: one patient's rows of :func:`analytics.patient_outcomes` with
    ``episodes="all"``.  Known gaps (``days_since_previous_episode``) are used;
    an unknown one (no dates) places the episode ``unknown_gap_days`` after the
    previous episode's last questionnaire day.
    """
    gap = episodes["days_since_previous_episode"].astype("float64")
    span = episodes["last_followup_day"].astype("float64").fillna(0) + unknown_gap_days
    step = gap.fillna(span.shift(1)).fillna(0.0)
    step.iloc[:1] = 0.0
    return step.cumsum()


def split_episodes_after_gap(frame: pd.DataFrame, *, after_days: int) -> pd.DataFrame:
    """Start a new episode at the first scored questionnaire after a gap of >= ``after_days`` days.

    Applies only to patients with no ``treatment_start_date`` and a single
    episode (their episodes are not otherwise known); a gap counts days without
    any questionnaire.  Each new episode's day 0 is its first scored
    questionnaire.  Off unless asked for (``--new-episode-after-days N``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical frame (sorted by patient, episode and study day).
    after_days : int
        Gap length, in whole days within ``NEW_EPISODE_AFTER_DAYS_RANGE`` (1 to 3650).
    """
    lo, hi = NEW_EPISODE_AFTER_DAYS_RANGE
    if isinstance(after_days, bool) or not isinstance(after_days, int) or not lo <= after_days <= hi:
        raise DefinitionError(f"new_episode_after_days={after_days!r} is out of range; use whole days from {lo} "
                              f"to {hi}.")
    if frame.empty:
        return frame
    codes = frame["patient_id"].cat.codes.to_numpy() if isinstance(frame["patient_id"].dtype, pd.CategoricalDtype) \
        else pd.factorize(frame["patient_id"])[0]
    episode = frame["episode"].to_numpy(dtype="int64") if "episode" in frame else np.ones(len(frame), np.int64)
    n_cat = codes.max() + 1
    several = np.bincount(codes, weights=episode > 1, minlength=n_cat) > 0
    if "treatment_start_date" in frame:
        several |= np.bincount(codes, weights=frame["treatment_start_date"].notna().to_numpy(), minlength=n_cat) > 0
    eligible = ~several[codes]
    if "assessment_date" in frame:
        time = frame["assessment_date"].to_numpy(dtype="datetime64[D]").astype("int64").astype("float64")
        time[frame["assessment_date"].isna().to_numpy()] = np.nan
        time = np.where(np.isnan(time), frame["day"].to_numpy(dtype="float64", na_value=np.nan), time)
    else:
        time = frame["day"].to_numpy(dtype="float64", na_value=np.nan)
    order = np.lexsort((time, codes))
    c, t = codes[order], time[order]
    same = np.r_[False, c[1:] == c[:-1]]
    with np.errstate(invalid="ignore"):
        gap = same & (np.diff(np.r_[np.nan, t]) >= after_days) & eligible[order]
    segment = np.cumsum(~same | gap)  # one id per (patient, segment)
    complete = frame["complete"].to_numpy(dtype=bool)[order]
    seg_scored = np.bincount(segment, weights=complete, minlength=segment.max() + 1) > 0
    gap &= seg_scored[segment]  # a gap followed only by unscored questionnaires starts nothing
    new_ep = np.cumsum(~same | gap)
    first_of_pat = np.maximum.accumulate(np.where(~same, new_ep, 0))
    ep_sorted = new_ep - first_of_pat + 1
    # day 0 of each new episode: its first scored questionnaire
    scored_t = np.where(complete, t, np.inf)
    origin = np.full(new_ep.max() + 1, np.inf)
    np.minimum.at(origin, new_ep, scored_t)
    changed = eligible[order] & (ep_sorted > 1)
    out = frame.copy()
    ep_all = episode.copy()
    ep_all[order[changed]] = ep_sorted[changed]
    day = out["day"].to_numpy(dtype="float64", na_value=np.nan)
    new_day = t[changed] - origin[new_ep[changed]]
    day[order[changed]] = np.where(np.isfinite(new_day), new_day, np.nan)
    out["episode"] = ep_all.astype(np.int16)
    out["day"] = pd.arrays.IntegerArray(np.nan_to_num(day).astype(np.int16), np.isnan(day))
    resort = np.lexsort((np.nan_to_num(day, nan=1e7), ep_all, codes))
    return out.iloc[resort].reset_index(drop=True)


@dataclass(frozen=True)
class Reinductions:
    """Re-induction figures of a clinic: who comes back, when, and how second courses do."""

    patients: int
    with_second: Proportion
    median_days_to_second: float | None
    days_known: int
    first_response: Proportion
    second_response: Proportion


def reinduction_summary(frame: pd.DataFrame, *, definitions: OutcomeDefinitions | None = None,
                        outcomes: pd.DataFrame | None = None) -> Reinductions:
    """Share of patients with a second episode, median days from first to second start, response by episode.

    Response uses the definitions' analysis mode, in first episodes and in second episodes separately.
    ``outcomes``: :func:`analytics.patient_outcomes` of ``frame`` with every episode (``episodes="all"``)
    under the definitions' other choices, when the caller has it already; computed here otherwise.
    """
    from .outcomes import patient_outcomes  # outcomes imports nothing from here; keep the module order simple

    d = replace(definitions or OutcomeDefinitions(), episodes="all")
    units = patient_outcomes(frame, definitions=d, attributes=False) if outcomes is None else outcomes
    firsts = units[units["episode"] == units.groupby("patient_id")["episode"].transform("min")]
    seconds = units[units["patient_id"].duplicated()]
    seconds = seconds[~seconds["patient_id"].duplicated()]  # each patient's second episode
    gaps = seconds["days_since_previous_episode"].dropna().astype("float64")
    return Reinductions(
        patients=len(firsts),
        with_second=wilson_proportion(len(seconds), len(firsts)),
        median_days_to_second=float(gaps.median()) if len(gaps) else None,
        days_known=len(gaps),
        first_response=wilson_proportion(int(firsts["response"].fillna(False).sum()),
                                         int(firsts["response"].notna().sum())),
        second_response=wilson_proportion(int(seconds["response"].fillna(False).sum()),
                                          int(seconds["response"].notna().sum())),
    )
