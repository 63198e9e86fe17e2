"""Baseline, endpoint and outcomes per episode (treatment course), and the clinic's rates.

Implements spec v2 (``docs/methods.md``) on the canonical frame from
:mod:`analytics.validation`.  The unit of analysis is an episode: a patient's
treatment course (one per patient in spec v1 data, where v2 gives exactly the
v1 figures).  Everything is vectorised over NumPy arrays of scored
questionnaires sorted by unit and study day: no Python loop per patient or per row.

Why one module of ~470 lines: baseline, endpoint and the three rates share one sorted-array
pass per episode; splitting them would repeat that pass or pass its private arrays between modules.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from .definitions import (
    BASELINE_WINDOW_DAYS,
    INFUSIONS_RESPONSE_AT,
    INFUSIONS_SI_AT,
    REMISSION_BELOW,
    RESPONSE_FRACTION,
    RESPONSE_MIN_FALL,
    SI_ITEM_POSITIVE_AT,
    OutcomeDefinitions,
)
from .errors import DefinitionError
from .instruments import PHQ9, SCORE_PREFIXES, OutcomeScale, outcome_scale, severity_band
from .statistics import CumulativeIncidence, Proportion, km_cumulative, wilson_proportion

__all__ = [
    "METRICS",
    "meets_response",
    "meets_remission",
    "patient_outcomes",
    "response_rate",
    "remission_rate",
    "si_resolution_rate",
    "cumulative_rate",
    "event_times",
    "infusion_event_times",
    "infusion_cumulative_rate",
    "rate_table",
    "scale_metrics",
]

#: Snapshot metrics: per-patient column in :func:`patient_outcomes` and its label.
METRICS = {
    "response": f"Response (>= {RESPONSE_MIN_FALL:.0%} fall from baseline)",
    "remission": f"Remission (PHQ-9 < {REMISSION_BELOW})",
    "si_resolution": "SI resolution (item 9 falls to 0)",
}
_OUTCOME_COLUMN = {"response": "response", "remission": "remission", "si_resolution": "si_resolved"}
_CORE = {"patient_id", "episode", "day", "assessment_date", "phq9_total", "complete", "line"}
_SCORE_PREFIXES = SCORE_PREFIXES  # score columns (every instrument's): never patient attributes


def scale_metrics(instrument: "str | OutcomeScale" = "phq9") -> dict:
    """Snapshot metrics of an instrument: ``{metric: (column in patient_outcomes, label)}``.

    PHQ-9: response, remission and SI resolution (item 9); QIDS-SR16, MADRS and GAD-7:
    response and remission on their own thresholds; PCL-5: meaningful change and loss
    of probable PTSD.  Every label names the instrument and the threshold.
    """
    scale = outcome_scale(instrument)
    if scale.is_phq9:
        return {m: (_OUTCOME_COLUMN[m], METRICS[m]) for m in METRICS}
    return {m: (m, label) for m, label in zip(scale.metrics, scale.labels)}


_UNIT_STRIDE = 1 << 16  # episode numbers are below this (validation allows up to 1000)
# Row-level days, totals and items: whole numbers far below 2**24, so float32 holds them exactly (NaN =
# unknown) in half the memory of float64; per-unit results stay float64.
_ROW_FLOAT = "float32"


def meets_response(total, baseline):
    """The response rule, applied wherever response is decided: a PHQ-9 total at or below
    ``RESPONSE_FRACTION`` of the reference (baseline) total.  Vectorised; NaN compares as not met."""
    return total <= RESPONSE_FRACTION * baseline


def meets_remission(total):
    """The remission rule, applied wherever remission is decided: a PHQ-9 total below ``REMISSION_BELOW``.
    Vectorised; NaN compares as not met."""
    return total < REMISSION_BELOW


def patient_outcomes(questionnaires: pd.DataFrame, *, definitions: OutcomeDefinitions | None = None,
                     attributes: bool = True, instrument: "str | OutcomeScale" = "phq9") -> pd.DataFrame:
    """One row per selected episode: baseline, endpoint and outcomes under the definitions.

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Canonical frame (:func:`analytics.load_questionnaires`); without an
        ``episode`` column every patient has one episode.
    definitions : OutcomeDefinitions, optional
        Defaults to spec defaults (week 6 +/- 7 days, baseline >= 10, completer,
        first episodes).  ``definitions.episodes`` chooses the rows returned:
        each patient's first episode, every episode, or each patient's latest.
    attributes : bool
        Carry each episode's first non-blank value of every other column
        (site, protocol, ...) for stratification.
    instrument : str
        The instrument whose totals are the course (:data:`analytics.instruments.INSTRUMENT_CHOICES`):
        ``"phq9"`` (default, spec v2), ``"qids-sr16"``, ``"madrs"`` (remission <= 12),
        ``"madrs-10"`` (remission <= 10), ``"gad7"`` or ``"pcl5"``.  Another instrument uses
        the rows where its total is known, its own thresholds
        (:class:`analytics.instruments.OutcomeScale`) and its own eligibility
        (``INSTRUMENT_MIN_BASELINE``); its SI columns are empty (item 9 is PHQ-9's).  PCL-5
        gives ``meaningful_change`` and ``loss_of_probable_ptsd`` instead of ``response`` and
        ``remission`` (and ``first_meaningful_change_day`` ... accordingly).  Without the
        instrument's total column every unit is outside the denominators ("no data").

    Returns
    -------
    pandas.DataFrame
        One row per selected episode (unit), with ``patient_id``, ``episode``,
        ``n_episodes`` (the patient's), ``days_since_previous_episode`` (start
        to start; <NA> for a first episode or without dates), ``baseline_day``,
        ``baseline_total``, ``baseline_item9``, ``baseline_band``, ``eligible``,
        ``si_at_baseline``, ``si_unknown`` (baseline item 9 unknown),
        ``endpoint_day``, ``endpoint_total``, ``endpoint_item9``,
        ``endpoint_source`` ("window" or "carried forward"),
        ``si_endpoint_unknown``, ``change_pct``, ``response``, ``remission``,
        ``si_resolved`` (nullable booleans: ``<NA>`` means outside that
        denominator under the analysis mode), ``first_response_day``,
        ``first_remission_day`` and ``last_followup_day`` (the inputs of the
        cumulative Kaplan-Meier estimates) and, when ``infusion_number`` is
        given, ``first_response_infusions``, ``first_remission_infusions``,
        ``first_si_free_infusions`` and ``last_followup_infusions`` (infusions
        received before the questionnaire, i.e. ``infusion_number - 1``).
    """
    d = definitions or OutcomeDefinitions()
    scale = outcome_scale(instrument)
    missing = {"patient_id", "day", "phq9_total", "complete"} - set(questionnaires.columns)
    if missing:
        raise DefinitionError(
            f"the frame lacks columns {sorted(missing)}; pass the canonical frame from load_questionnaires()."
        )
    blocks = _patient_blocks(questionnaires, _PARALLEL_BLOCKS) if len(questionnaires) >= _PARALLEL_ROWS else None
    if blocks is not None:
        # every unit's outcomes depend on its own patient's rows only: a large frame's blocks of whole patients
        # are computed two at a time, one on each core (the bulk NumPy work releases the GIL), and stacked;
        # blocks of a quarter of the rows keep the working arrays of the two running ones near one pass's
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = list(pool.map(lambda block: _unit_outcomes(block, d, attributes, scale), blocks))
        return pd.concat(parts, ignore_index=True)
    return _unit_outcomes(questionnaires, d, attributes, scale)


def _patient_blocks(questionnaires: pd.DataFrame, parts: int):
    """The frame's rows in up to ``parts`` consecutive blocks split at changes of patient (views, no copies),
    or None when its patients are not in blocks of rows (only the canonical frame's categorical ids sorted by
    patient are split) or it cannot be split."""
    ids = questionnaires["patient_id"]
    if not isinstance(ids.dtype, pd.CategoricalDtype) or len(ids) == 0:
        return None
    codes = ids.cat.codes.to_numpy()
    if codes[0] < 0 or (np.diff(codes) < 0).any():
        return None
    cuts = np.unique(np.searchsorted(codes, codes[np.arange(1, parts) * codes.size // parts]))
    cuts = [0, *(int(c) for c in cuts if 0 < c < codes.size), codes.size]
    if len(cuts) <= 2:  # one block: nothing to split
        return None
    return [questionnaires.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def _unit_outcomes(questionnaires: pd.DataFrame, d: OutcomeDefinitions, attributes: bool,
                   scale: OutcomeScale) -> pd.DataFrame:
    """:func:`patient_outcomes` of one frame (or of one block of whole patients' rows)."""
    m_first, m_second = scale.metrics
    pcodes, patients = _patient_codes(questionnaires["patient_id"])
    codes, unit_patient, unit_episode = _units(pcodes, questionnaires)
    n_pat = unit_patient.size  # units: (patient, episode)
    day_all = questionnaires["day"].to_numpy(dtype=_ROW_FLOAT, na_value=np.nan)
    if scale.is_phq9:
        keep = questionnaires["complete"].to_numpy(dtype=bool) & ~np.isnan(day_all)
        total = questionnaires["phq9_total"].to_numpy(dtype=_ROW_FLOAT, na_value=np.nan)[keep]
    else:  # another instrument: its scored rows (none when the file has no such column)
        total = (questionnaires[scale.total].to_numpy(dtype=_ROW_FLOAT, na_value=np.nan) if scale.total in
                 questionnaires else np.full(day_all.size, np.nan))
        keep = ~np.isnan(total) & ~np.isnan(day_all)
        total = total[keep]
    p = codes[keep]
    day = day_all[keep]
    del day_all
    item9 = (questionnaires["phq9_9"].to_numpy(dtype=_ROW_FLOAT, na_value=np.nan)[keep]
             if "phq9_9" in questionnaires and scale.is_phq9 else np.full(p.size, np.nan))
    has_inf = "infusion_number" in questionnaires
    received = (questionnaires["infusion_number"].to_numpy(dtype=_ROW_FLOAT, na_value=np.nan)[keep] - 1
                if has_inf else None)
    order = _sort_order(p, day)
    if order is not None:
        p, day, total, item9 = p[order], day[order], total[order], item9[order]
        if has_inf:
            received = received[order]

    # baseline: latest scored questionnaire on days [-30, 0]
    lo, hi = BASELINE_WINDOW_DAYS
    base = _by_patient(n_pat, p, (day >= lo) & (day <= hi), "last", day, total, item9)
    base_day, base_total, base_item9 = base
    has_base = ~np.isnan(base_day)
    eligible = has_base & (base_total >= (d.min_baseline if scale.is_phq9 else scale.min_baseline))
    si_base = has_base & (base_item9 >= SI_ITEM_POSITIVE_AT)
    si_unknown = has_base & np.isnan(base_item9) & scale.is_phq9

    # endpoint in the window, closest to T, ties to the earlier day
    T, (w_lo, w_hi) = d.target_day, d.window
    in_window = (day > 0) & (day >= w_lo) & (day <= w_hi)
    win_day, win_total, win_item9 = _closest_by_patient(n_pat, p, in_window, np.abs(day - T), day, total, item9)
    has_win = ~np.isnan(win_day)

    if d.analysis == "locf":
        b_row = base_day[p]  # NaN for units without baseline: comparisons are False
        before = (day >= b_row) & (day < w_lo)
        cf_day, cf_total, cf_item9 = _by_patient(n_pat, p, before, "last", day, total, item9)
        end_day = np.where(has_win, win_day, cf_day)
        end_total = np.where(has_win, win_total, cf_total)
        end_item9 = np.where(has_win, win_item9, cf_item9)
        source = np.where(has_win, 0, np.where(np.isnan(cf_day), -1, 1)).astype(np.int8)
    else:
        end_day, end_total, end_item9 = win_day, win_total, win_item9
        source = np.where(has_win, 0, -1).astype(np.int8)
    has_end = ~np.isnan(end_day)
    si_end_unknown = si_base & has_end & np.isnan(end_item9)

    with np.errstate(invalid="ignore", divide="ignore"):
        responded = has_end & _first_met(scale, end_total, base_total)
        remitted = has_end & _second_met(scale, end_total)
        resolved = has_end & (end_item9 == 0)
        change = np.where(has_end & has_base & (base_total > 0), (end_total - base_total) / base_total, np.nan)

    if d.analysis == "completer":
        in_rr, in_si = eligible & has_win, si_base & has_win
    else:  # itt and locf: every eligible unit; no endpoint counts as not met
        in_rr, in_si = eligible, si_base
    in_si = in_si & ~si_end_unknown  # an unknown endpoint item 9 leaves the SI denominator in every mode

    # cumulative: first day in (0, T] meeting the criterion; otherwise censored at last follow-up
    b_total_row = base_total.astype(_ROW_FLOAT)[p]
    with np.errstate(invalid="ignore"):
        early = (day > 0) & (day <= T)
        first_resp = _by_patient(n_pat, p, early & _first_met(scale, total, b_total_row), "first", day)[0]
        first_rem = _by_patient(n_pat, p, early & _second_met(scale, total), "first", day)[0]
    last_fu = _by_patient(n_pat, p, day > 0, "last", day)[0]
    last_fu = np.where(np.isnan(last_fu), 0.0, last_fu)

    n_episodes = np.bincount(unit_patient, minlength=len(patients))[unit_patient]
    out = pd.DataFrame({
        "patient_id": _unit_ids(patients, unit_patient),
        "episode": unit_episode.astype(np.int64),
        "n_episodes": n_episodes.astype(np.int64),
        "days_since_previous_episode": _int(_days_since_previous(questionnaires, codes, unit_patient)),
        "n_questionnaires": np.bincount(codes, minlength=n_pat),
        "n_complete": np.bincount(p, minlength=n_pat),
        "baseline_day": _int(base_day),
        "baseline_total": _int(base_total),
        "baseline_item9": _int(base_item9),
        "eligible": eligible,
        "si_at_baseline": si_base,
        "si_unknown": si_unknown,
        "endpoint_day": _int(end_day),
        "endpoint_total": _int(end_total),
        "endpoint_item9": _int(end_item9),
        "endpoint_source": _endpoint_sources(source),
        "si_endpoint_unknown": si_end_unknown,
        "change_pct": change,
        m_first: _nullable(responded, in_rr),
        m_second: _nullable(remitted, in_rr),
        "si_resolved": _nullable(resolved, in_si),
        f"first_{m_first}_day": _int(np.where(eligible, first_resp, np.nan)),
        f"first_{m_second}_day": _int(np.where(eligible, first_rem, np.nan)),
        "last_followup_day": _int(last_fu),
    })
    out.insert(9, "baseline_band", severity_band(out["baseline_total"], scale.instrument))
    if has_inf:
        # infusions received before each questionnaire after baseline (infusion_number - 1)
        after = (day > 0) & ~np.isnan(received)
        with np.errstate(invalid="ignore"):
            r_resp = _by_patient(n_pat, p, after & _first_met(scale, total, b_total_row), "first", received)[0]
            r_rem = _by_patient(n_pat, p, after & _second_met(scale, total), "first", received)[0]
            r_si = _by_patient(n_pat, p, after & (item9 == 0), "first", received)[0]
        r_last = _max_by_patient(n_pat, p, after, received)
        out[f"first_{m_first}_infusions"] = _int(np.where(eligible, r_resp, np.nan))
        out[f"first_{m_second}_infusions"] = _int(np.where(eligible, r_rem, np.nan))
        out["first_si_free_infusions"] = _int(np.where(si_base, r_si, np.nan))
        out["last_followup_infusions"] = _int(np.where(np.isnan(r_last), 0.0, r_last))
    if attributes:
        out = _attach_attributes(out, questionnaires, codes)
    selected = _selected_units(unit_patient, d.episodes)
    if selected is not None:
        out = out[selected].reset_index(drop=True)
    return out


def _patient_codes(patient_id: pd.Series):
    """``pandas.factorize`` of the patient ids: codes in order of first appearance, and the ids.

    The canonical frame's categorical ids, sorted by patient with every category used, already are
    those codes (int32, no hashing of twenty million rows); anything else is factorised."""
    if isinstance(patient_id.dtype, pd.CategoricalDtype) and len(patient_id):
        codes = patient_id.cat.codes.to_numpy()
        step = np.diff(codes)
        if codes[0] >= 0 and ((step == 0) | (step == 1)).all():
            # a block of consecutive categories (all of them, or one part of a frame split between patients)
            first, last = int(codes[0]), int(codes[-1])
            return (codes - codes.dtype.type(first) if first else codes), patient_id.cat.categories[first:last + 1]
    return pd.factorize(patient_id)


def _first_met(scale: OutcomeScale, total, baseline):
    """Response (PHQ-9: :func:`meets_response`, the spec's one rule) or the instrument's first outcome."""
    return meets_response(total, baseline) if scale.is_phq9 else scale.first_met(total, baseline)


def _second_met(scale: OutcomeScale, total):
    """Remission (PHQ-9: :func:`meets_remission`) or the instrument's second outcome."""
    return meets_remission(total) if scale.is_phq9 else scale.second_met(total)


def _units(pcodes: np.ndarray, questionnaires: pd.DataFrame):
    """Unit code of every row, and each unit's patient code and episode; units sorted by patient, episode."""
    if "episode" not in questionnaires:
        n = int(pcodes.max()) + 1 if pcodes.size else 0
        return pcodes, np.arange(n), np.ones(n, np.int64)
    episode = questionnaires["episode"].to_numpy(dtype="int64")
    if episode.size == 0 or (episode == 1).all():  # spec v1 data: one unit per patient, no extra work
        n = int(pcodes.max()) + 1 if pcodes.size else 0
        return pcodes, np.arange(n), np.ones(n, np.int64)
    step_p = np.diff(pcodes)
    if (step_p >= 0).all() and ((step_p > 0) | (np.diff(episode) >= 0)).all():
        # sorted by patient then episode (the canonical frame is): units from the boundaries, no hashing
        new = np.r_[True, (step_p != 0) | (np.diff(episode) != 0)]
        return np.cumsum(new, dtype=np.int32) - 1, pcodes[new].astype(np.int64), episode[new]
    key = pcodes.astype(np.int64) * _UNIT_STRIDE + episode
    codes, keys = pd.factorize(key, sort=True)
    return codes, keys // _UNIT_STRIDE, keys % _UNIT_STRIDE


def _selected_units(unit_patient: np.ndarray, episodes: str):
    """Mask of the units ``episodes`` selects (None: all); units are sorted by patient then episode."""
    if episodes == "all" or unit_patient.size == 0:
        return None
    if episodes == "first":
        return np.r_[True, unit_patient[1:] != unit_patient[:-1]]
    return np.r_[unit_patient[1:] != unit_patient[:-1], True]  # latest


def _days_since_previous(questionnaires: pd.DataFrame, codes: np.ndarray, unit_patient: np.ndarray) -> np.ndarray:
    """Days from the previous episode's day 0 to this one's (NaN for a first episode or without dates)."""
    n_units = unit_patient.size
    gap = np.full(n_units, np.nan)
    if n_units < 2 or "assessment_date" not in questionnaires or not (unit_patient[1:] == unit_patient[:-1]).any():
        return gap
    dates = questionnaires["assessment_date"]
    date = dates.to_numpy(dtype="datetime64[D]").astype("int64").astype("float64")
    date[dates.isna().to_numpy()] = np.nan
    origin = date - questionnaires["day"].to_numpy(dtype="float64", na_value=np.nan)
    ok = ~np.isnan(origin)
    first = pd.Series(origin[ok]).groupby(codes[ok]).min().reindex(np.arange(n_units)).to_numpy()
    same = unit_patient[1:] == unit_patient[:-1]
    gap[1:] = np.where(same, first[1:] - first[:-1], np.nan)
    return gap


def _unit_ids(patients: pd.Index, unit_patient: np.ndarray) -> pd.Series:
    """Each unit's patient id as text: the distinct ids converted once, then taken (in Arrow, not as a million
    Python strings)."""
    return pd.Series(pd.array(patients, dtype="str").take(unit_patient), copy=False)


def _endpoint_sources(codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Endpoint sources as text from their codes (0 "window", 1 "carried forward", -1 none), built in Arrow."""
    import pyarrow as pa

    words = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(_ENDPOINT_SOURCES))
    return pd.array(words.cast(pa.large_string()), dtype="str")


_ENDPOINT_SOURCES = ("window", "carried forward")
#: Rows from which patient_outcomes computes a frame in blocks of patients on two threads (speed only: below it
#: the threads cost more than they save; the result is the same either way).
_PARALLEL_ROWS = 200_000
_PARALLEL_BLOCKS = 4


def _int(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole numbers as nullable integers (NaN becomes <NA>)."""
    return pd.array(values, dtype="Int64")


def _nullable(values: np.ndarray, in_denominator: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values.astype(bool), ~in_denominator)


def _sort_order(p: np.ndarray, day: np.ndarray):
    """Order by patient then day, or None when already so (the canonical frame is)."""
    if p.size < 2:
        return None
    step_p = np.diff(p)
    if (step_p >= 0).all() and ((step_p > 0) | (np.diff(day) > 0)).all():
        return None
    return np.lexsort((day, p))


def _by_patient(n_pat, p, mask, which, *columns):
    """Values of the first or last masked row of each patient (NaN where none)."""
    pp = p[mask]  # masked rows by boolean mask: no int64 row index of the rows' size
    if which == "last":
        pick = np.ones(pp.size, bool)
        pick[:-1] = pp[1:] != pp[:-1]
    else:
        pick = np.ones(pp.size, bool)
        pick[1:] = pp[1:] != pp[:-1]
    pats = pp[pick]
    del pp
    result = []
    for col in columns:
        arr = np.full(n_pat, np.nan)
        arr[pats] = col[mask][pick]
        result.append(arr)
    return result


def _max_by_patient(n_pat, p, mask, values):
    """Largest masked value of each patient (NaN where none); ``p`` is sorted."""
    out = np.full(n_pat, np.nan)
    pp = p[mask]
    if pp.size:
        starts = np.flatnonzero(np.r_[True, pp[1:] != pp[:-1]])
        out[pp[starts]] = np.maximum.reduceat(values[mask], starts)
    return out


def _closest_by_patient(n_pat, p, mask, distance, *columns):
    """Per patient, the masked row with the smallest distance; ties to the earlier row."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return [np.full(n_pat, np.nan) for _ in columns]
    pp, dist = p[idx], distance[idx]
    starts = np.flatnonzero(np.r_[True, pp[1:] != pp[:-1]])
    smallest = np.repeat(np.minimum.reduceat(dist, starts), np.diff(np.r_[starts, pp.size]))
    is_min = dist == smallest
    sub = [col[idx] for col in columns]
    return _by_patient(n_pat, pp, is_min, "first", *sub)


def _attach_attributes(out, questionnaires, codes):
    """Each unit's first non-blank value of every attribute column (``codes``: the rows' units)."""
    extra = [c for c in questionnaires.columns
             if c not in _CORE and not c.startswith(_SCORE_PREFIXES) and c not in ("infusion_number",)]
    if not extra:
        return out
    firsts = questionnaires[extra].groupby(codes, sort=True).first()
    firsts.index = out.index
    return pd.concat([out, firsts], axis=1)


# ----------------------------------------------------------------------------- rates

def _rate(patients: pd.DataFrame, column: str) -> Proportion:
    values = patients[column]
    n = int(values.notna().sum())
    return wilson_proportion(int(values.fillna(False).sum()), n)


def response_rate(patients: pd.DataFrame) -> Proportion:
    """Share of the response denominator with endpoint total <= 50% of baseline.

    Parameters
    ----------
    patients : pandas.DataFrame
        From :func:`patient_outcomes` (the analysis mode is already applied).
    """
    return _rate(patients, "response")


def remission_rate(patients: pd.DataFrame) -> Proportion:
    """Share of the remission denominator with endpoint PHQ-9 total < 5."""
    return _rate(patients, "remission")


def si_resolution_rate(patients: pd.DataFrame) -> Proportion:
    """Share of patients with SI at baseline (item 9 >= 1) whose endpoint item 9 is 0."""
    return _rate(patients, "si_resolved")


def cumulative_rate(patients: pd.DataFrame, *, metric: str, definitions: OutcomeDefinitions | None = None
                    ) -> CumulativeIncidence:
    """Kaplan-Meier probability of first response or remission by the target day.

    Among eligible patients; event time is the first day in ``(0, T]`` meeting
    the criterion, otherwise the patient is censored at the last complete
    questionnaire day (0 if none after baseline).  Wraps ``scipy.stats.ecdf``.

    Parameters
    ----------
    patients : pandas.DataFrame
        From :func:`patient_outcomes`.
    metric : {"response", "remission"}
    definitions : OutcomeDefinitions, optional
    """
    d = definitions or OutcomeDefinitions()
    times, observed = event_times(patients[patients["eligible"]], metric=metric)
    return km_cumulative(times, observed, at=d.target_day)


def event_times(patients: pd.DataFrame, *, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier inputs for first response or remission: (time, observed) per patient row.

    Time is the first day meeting the criterion when there is one, else the
    last follow-up day (censoring).  The caller chooses the rows (eligible patients).
    """
    if f"first_{metric}_day" not in patients:
        known = [c[len("first_"):-len("_day")] for c in patients.columns
                 if c.startswith("first_") and c.endswith("_day")]
        raise DefinitionError(f"metric={metric!r}: times to event exist for {', '.join(map(repr, known)) or 'none'} "
                              "in these outcomes (PCL-5: 'meaningful_change' and 'loss_of_probable_ptsd').")
    first = patients[f"first_{metric}_day"]
    observed = first.notna().to_numpy()
    times = np.where(observed, first.to_numpy(dtype="float64", na_value=np.nan),
                     patients["last_followup_day"].to_numpy(dtype="float64"))
    return times, observed


#: Infusion-count metrics: the rows they count among, the column of the first event, the figure's count.
_INFUSION_METRICS = {
    "response": ("eligible", "first_response_infusions", INFUSIONS_RESPONSE_AT),
    "remission": ("eligible", "first_remission_infusions", INFUSIONS_RESPONSE_AT),
    "si_free": ("si_at_baseline", "first_si_free_infusions", INFUSIONS_SI_AT),
}


def infusion_event_times(patients: pd.DataFrame, *, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier inputs on the infusion axis: (infusions received, observed) per unit row.

    Time is the number of infusions received before the first questionnaire
    after baseline that meets the criterion (``infusion_number - 1``), else
    before the last questionnaire with an infusion number (censoring).  The
    caller chooses the rows (eligible units; SI at baseline for ``si_free``).
    """
    if metric not in _INFUSION_METRICS:
        raise DefinitionError(f"metric={metric!r}: infusion counts exist for {', '.join(_INFUSION_METRICS)}.")
    column = _INFUSION_METRICS[metric][1]
    if column not in patients:
        raise DefinitionError("the data have no infusion_number column: outcomes by infusions received need "
                              "the infusion each questionnaire was completed before.")
    first = patients[column]
    observed = first.notna().to_numpy()
    times = np.where(observed, first.to_numpy(dtype="float64", na_value=np.nan),
                     patients["last_followup_infusions"].to_numpy(dtype="float64"))
    return times, observed


def infusion_cumulative_rate(patients: pd.DataFrame, *, metric: str, at: int | None = None) -> CumulativeIncidence:
    """Kaplan-Meier probability of first response, remission or SI-free (item 9 = 0) by ``at`` infusions.

    Among eligible units (response, remission) or units with SI at baseline
    (``si_free``).  Default ``at``: 10 infusions for response and remission, six
    for SI, the counts Oliver 2022 reports.  The returned ``time`` is in
    infusions received, not days.
    """
    if metric not in _INFUSION_METRICS:
        raise DefinitionError(f"metric={metric!r}: infusion counts exist for {', '.join(_INFUSION_METRICS)}.")
    among, _, default_at = _INFUSION_METRICS[metric]
    rows = patients[patients[among].to_numpy(dtype=bool)]
    times, observed = infusion_event_times(rows, metric=metric)
    return km_cumulative(times, observed, at=default_at if at is None else at)


def rate_table(patients: pd.DataFrame, *, by: str | list[str] | None = None,
               definitions: OutcomeDefinitions | None = None, instrument: "str | OutcomeScale" = "phq9"
               ) -> pd.DataFrame:
    """Tidy table of every snapshot rate, overall or by stratum.

    ``instrument``: the one ``patients`` was computed on (:func:`patient_outcomes`);
    its metrics and labels (:func:`scale_metrics`) are the rows.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``metric``, ``label``, ``n``, ``events``,
        ``rate``, ``ci_low``, ``ci_high``, ``method``, ``analysis``, ``warning``.
        Rates with ``n == 0`` are missing, never 0.
    """
    d = definitions or OutcomeDefinitions()
    metrics = scale_metrics(instrument)
    keys = [by] if isinstance(by, str) else list(by or [])
    groups = patients.groupby(keys, observed=True, dropna=False, sort=True) if keys else [((), patients)]
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric, (column, label) in metrics.items():
            r = _rate(part, column)
            rows.append((*key, metric, label, r.n, r.events, r.estimate, r.ci_low, r.ci_high,
                         r.method, d.analysis, r.warning))
    return pd.DataFrame(rows, columns=[*keys, "metric", "label", "n", "events", "rate", "ci_low", "ci_high",
                                       "method", "analysis", "warning"])
