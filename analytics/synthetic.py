"""A seeded synthetic clinic: realistic, de-identified, never real patients.

Used for the bundled sample data, the dashboard's demo mode and the
benchmarks.  Patients follow one of three induction protocols (six infusions
over 21 days, six over 14 days, four over 14 days), about half stop before
completing the series (more often when they are not improving), completers may
continue to boosters, and each pre-infusion PHQ-9 is drawn item by item from a
latent trajectory.  Vectorised: a million patients take seconds.

The esketamine site (``esketamine_site``, Riverside by default) labels its
protocols "Esketamine ...": :func:`analytics.synthetic_sessions.synthetic_sessions`
gives that site's patients intranasal esketamine sessions, so the label and the
sessions agree.  Its schedules are the same three as the IV sites (they keep the
PHQ-9 rows of the sample unchanged), not the licensed twice-weekly induction.

With ``more_instruments=True`` (the bundled sample) some patients also answer the
QIDS-SR16, the PCL-5 and the C-SSRS screener (:data:`MORE_INSTRUMENT_SHARES`),
drawn from the same latent course as their PHQ-9 on a random stream of their own,
so the PHQ-9 rows are the same with or without them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .instruments import PCL5, QIDS_SR16

__all__ = ["SYNTHETIC_PROTOCOLS", "MORE_INSTRUMENT_SHARES", "synthetic_clinic"]

#: Protocol name -> nominal induction infusion days.
SYNTHETIC_PROTOCOLS = {
    "IV 6 over 21 days": (0, 3, 7, 10, 14, 18),
    "IV 6 over 14 days": (0, 2, 4, 7, 9, 11),
    "IV 4 over 14 days": (0, 4, 9, 13),
}
_PROTOCOL_SHARE = (0.62, 0.26, 0.12)
_SITES = ("North", "Central", "Riverside")
_SITE_SHARE = (0.45, 0.35, 0.20)
_DIAGNOSES = ("TRD", "MDD", "Bipolar depression", "PTSD with MDD")
_DIAGNOSIS_SHARE = (0.48, 0.32, 0.10, 0.10)
_AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
_AGE_SHARE = (0.09, 0.22, 0.23, 0.19, 0.15, 0.09, 0.03)
_SEXES = ("female", "male", "not recorded")
_SEX_SHARE = (0.57, 0.41, 0.02)
_ITEM_WEIGHTS = np.array([1.15, 1.2, 1.15, 1.3, 0.85, 1.0, 0.95, 0.6])  # items 1-8; mean 1.025
_ESKETAMINE_PREFIX = "Esketamine"

#: Who answers the other scales with ``more_instruments=True`` (shares of patients; each then answers at
#: most of their visits).  Shapes for a demonstration, not published figures: the QIDS-SR16 at about a
#: third of patients, the PCL-5 for most patients with a PTSD diagnosis and a few others (at intake,
#: the first infusion, check-ups and boosters: it asks about the past month), the C-SSRS screener at
#: about half.  Not at the totals-only site's export, except the yes/no C-SSRS screener.
MORE_INSTRUMENT_SHARES = {"qids_sr16": 0.33, "pcl5_ptsd": 0.85, "pcl5_other": 0.08, "cssrs": 0.5}
#: Share of a patient's visits at which an instrument they use was answered.
_ANSWERED_AT = 0.9
# QIDS-SR16 item weights (items 1-16; item 12, suicidal ideation, follows PHQ-9 item 9 instead)
_QIDS_WEIGHTS = np.array([0.8, 0.9, 0.7, 0.25, 1.2, 0.9, 0.9, 0.6, 0.6, 1.1, 1.0, 0.0, 1.2, 1.25, 0.7, 0.7])
# C-SSRS item 1 (wish to be dead) by PHQ-9 item 9 of the same visit: fewer positives than item 9 >= 1, as
# the item over-flags compared with the C-SSRS (shared/references: 41% vs 13% in one comparison)
_CSSRS_WISH_BY_ITEM9 = np.array([0.01, 0.12, 0.35, 0.6])


def synthetic_clinic(n_patients: int = 600, *, seed: int = 20261121, first_start: str = "2024-10-01",
                     last_start: str = "2026-09-30", data_cutoff: str = "2026-11-15",
                     booster_share: float = 0.7, boosters_mean: float = 4.0, max_boosters: int = 12,
                     incomplete_share: float = 0.015, duplicate_share: float = 0.003,
                     gad7_share: float = 0.7, reinduction_share: float = 0.2,
                     totals_only_site: str | None = "Riverside", dates_as_text: bool = True,
                     esketamine_site: str | None = "Riverside", more_instruments: bool = False) -> pd.DataFrame:
    """Generate a synthetic clinic's questionnaire export (long format).

    Parameters
    ----------
    n_patients : int
        Number of patients starting treatment between ``first_start`` and ``last_start``.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same file.
    data_cutoff : str
        Questionnaires after this date are not in the export (recent starters
        are still in follow-up).
    booster_share, boosters_mean, max_boosters : float, float, int
        Share of series completers who continue to boosters, and how many.
    incomplete_share, duplicate_share, gad7_share : float
        Questionnaires with one blank PHQ-9 item, exact duplicate rows, and
        questionnaires that include a GAD-7.
    reinduction_share : float
        Share of patients drawn to come back for a second induction (a second
        episode) 2 to 9 months after their first start; their first course
        stops there, and the second course's screening rows carry a blank
        ``treatment_start_date`` (the 30-day rule assigns them).
    totals_only_site : str or None
        A site whose export carries totals only (``phq9_total``,
        ``gad7_total``; no item answers, so item 9 is unknown there).
    dates_as_text : bool
        ISO text dates, as in a CSV export (default); False keeps ``datetime64``.
    esketamine_site : str or None
        A site giving intranasal esketamine: its protocols are labelled
        "Esketamine ..." (the sessions generator gives it esketamine sessions).
    more_instruments : bool
        Add QIDS-SR16 (``qids_sr16_1..16``), PCL-5 (``pcl5_1..20``) and C-SSRS
        screener (``cssrs_1..6``, ``cssrs_6_recent``: "yes", "no", blank when not
        asked) answers for some patients (:data:`MORE_INSTRUMENT_SHARES`).  Off by
        default so benchmarks and older tests keep their columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, assessment_date, treatment_start_date, site,
        clinician, protocol, diagnosis, age_band, sex, infusion_number,
        phq9_1..phq9_9, gad7_1..gad7_7`` and, with a totals-only site,
        ``phq9_total`` and ``gad7_total``, and with ``more_instruments`` the
        other scales' item columns (dates as ISO text, blanks as missing), one block of rows per patient (patients in the order of their first
        treatment start), each block in date order.
    """
    frame, _ = _courses(n_patients, seed, first_start, last_start, booster_share, boosters_mean, max_boosters,
                        incomplete_share, gad7_share)
    if reinduction_share > 0:
        frame = _add_reinductions(frame, seed, reinduction_share, booster_share, boosters_mean, max_boosters,
                                  incomplete_share, gad7_share)
    if esketamine_site is not None:
        at_site = frame["site"] == esketamine_site
        frame.loc[at_site, "protocol"] = frame.loc[at_site, "protocol"].str.replace("IV", _ESKETAMINE_PREFIX, n=1)
    if more_instruments:
        frame = _more_instruments(frame, seed, totals_only_site)
    frame = frame.drop(columns=["_level", "_course", "_t"])
    if totals_only_site is not None:
        frame = _totals_only(frame, frame["site"] == totals_only_site)

    cutoff = np.datetime64(data_cutoff, "D")
    frame = frame[frame["assessment_date"].to_numpy() <= cutoff]
    dups = frame.sample(frac=duplicate_share, random_state=seed)
    frame = pd.concat([frame, dups], ignore_index=True)
    frame = _sorted_by_patient_and_date(frame)
    if dates_as_text:
        for col in ("assessment_date", "treatment_start_date"):
            frame[col] = pd.to_datetime(frame[col]).dt.strftime("%Y-%m-%d")
    return frame


def _sorted_by_patient_and_date(frame: pd.DataFrame) -> pd.DataFrame:
    """Patients in the order of their first treatment start, each patient's rows in date order.

    What a clinic's export looks like (one block per patient), and what lets the
    validator skip its sort: a second course stays with its patient instead of
    joining the patients who started on its date.
    """
    first_start = frame.groupby("patient_id", sort=False)["treatment_start_date"].transform("min")
    patient = pd.factorize(frame["patient_id"], sort=True)[0]
    order = np.lexsort((frame["assessment_date"].to_numpy(), patient, first_start.to_numpy()))  # stable
    return frame.take(order).reset_index(drop=True)


def _add_reinductions(frame, seed, share, booster_share, boosters_mean, max_boosters, incomplete_share, gad7_share):
    """Second inductions 2-9 months after the first start, for ``share`` of the patients (vectorised)."""
    rng = np.random.default_rng([seed, 2])  # its own stream: the first courses stay as they were
    firsts = frame.drop_duplicates("patient_id")
    chosen = firsts[rng.random(len(firsts)) < share].reset_index(drop=True)
    if chosen.empty:
        return frame
    new_start = chosen["treatment_start_date"].to_numpy() + rng.integers(61, 275, len(chosen)).astype(
        "timedelta64[D]")
    second, pat = _courses(len(chosen), [seed, 3], "2000-01-01", "2000-01-01", booster_share, boosters_mean,
                           max_boosters, incomplete_share, gad7_share)
    offset = second["assessment_date"].to_numpy() - second["treatment_start_date"].to_numpy()
    second["treatment_start_date"] = new_start[pat]
    second["assessment_date"] = new_start[pat] + offset
    for col in ("patient_id", "site", "clinician", "diagnosis", "age_band", "sex"):
        second[col] = chosen[col].to_numpy()[pat]
    # screening before the re-induction: start date left blank, as many exports do
    second["treatment_start_date"] = second["treatment_start_date"].where(offset >= np.timedelta64(0, "D"))
    # the first course stops when the second course's first visit (its screening) comes: one questionnaire a day
    first_visit = second.groupby("patient_id", sort=False)["assessment_date"].min()
    stop = first_visit.reindex(frame["patient_id"]).to_numpy()
    keep = ~(frame["assessment_date"].to_numpy() >= stop)
    return pd.concat([frame[keep], second], ignore_index=True)


def _totals_only(frame, rows):
    """PHQ-9 and GAD-7 totals instead of item answers on ``rows`` (a blank item leaves the total blank)."""
    rows = rows.to_numpy()
    out = frame.copy()
    for name, n_items in (("phq9", 9), ("gad7", 7)):
        items = [f"{name}_{k}" for k in range(1, n_items + 1)]
        total = out[items].sum(axis=1, skipna=False).astype("Int16")
        out.insert(out.columns.get_loc(items[-1]) + 1, f"{name}_total",
                   total.where(pd.Series(rows, index=out.index)))
        out.loc[rows, items] = pd.NA
    return out


def _courses(n_patients, seed, first_start, last_start, booster_share, boosters_mean, max_boosters,
             incomplete_share, gad7_share):
    """One treatment course per patient: the frame before the data cutoff, and each row's patient index."""
    rng = np.random.default_rng(seed)
    n = int(n_patients)

    # patients
    width = max(6, len(str(5 * n)))
    pid = rng.choice(5 * n if n > 200_000 else 10 ** width, size=n, replace=False)
    patient_id = np.char.zfill(pid.astype(str), width)
    site = rng.choice(len(_SITES), n, p=_SITE_SHARE)
    clinician = site * 3 + rng.integers(0, 3, n)
    protocol = rng.choice(len(SYNTHETIC_PROTOCOLS), n, p=_PROTOCOL_SHARE)
    lo, hi = np.datetime64(first_start, "D"), np.datetime64(last_start, "D")
    start = lo + rng.integers(0, (hi - lo).astype(int) + 1, n).astype("timedelta64[D]")

    # latent course: baseline severity, how much and how fast they improve
    base = np.clip(rng.normal(17.5, 4.6, n), 3, 26.5)
    gain = np.clip(rng.beta(2.0, 2.4, n) * 1.08, 0, 1)
    tau = rng.uniform(6, 20, n)
    relapse = rng.uniform(0, 0.5, n) * (rng.random(n) < 0.4)
    si_level = np.where(rng.random(n) < 0.33 + 0.02 * (base - 17.5), rng.uniform(0.25, 0.8, n), 0.0)
    anxiety = np.clip(0.65 * base + rng.normal(0, 3, n), 0, 21)

    # schedule: screening, induction infusions, week-6 check, boosters, 12-month check
    n_ind = np.array([len(v) for v in SYNTHETIC_PROTOCOLS.values()])[protocol]
    ind_days = np.full((n, 6), np.nan)
    for k, days in enumerate(SYNTHETIC_PROTOCOLS.values()):  # three protocols, not per patient
        rows = protocol == k
        ind_days[np.ix_(rows, np.arange(len(days)))] = np.array(days, float)
    jitter = np.cumsum(rng.integers(0, 2, (n, 6)), axis=1)
    jitter[:, 0] = 0
    ind_days = ind_days + jitter
    p_complete = np.clip(0.22 + 0.55 * gain, 0, 0.95)
    completed = rng.random(n) < p_complete
    done = np.where(completed, n_ind, rng.integers(1, np.maximum(n_ind, 2), n))
    ind_days[np.arange(6)[None, :] >= done[:, None]] = np.nan
    last_ind = np.nanmax(ind_days, axis=1)

    screening = np.where(rng.random(n) < 0.18, -rng.integers(5, 22, n), np.nan)[:, None]
    week6_share = np.where(completed, 0.75, 0.2)  # some who stop early still answer a follow-up
    week6 = np.where(rng.random(n) < week6_share, 42 + rng.integers(-4, 5, n), np.nan)[:, None]
    boosted = completed & (rng.random(n) < booster_share)
    n_boost = np.where(boosted, np.minimum(rng.geometric(1 / boosters_mean, n), max_boosters), 0)
    gaps = rng.integers(21, 43, (n, max_boosters)).cumsum(axis=1).astype(float)
    boosters = last_ind[:, None] + gaps
    boosters[np.arange(max_boosters)[None, :] >= n_boost[:, None]] = np.nan
    year = np.where(completed & (rng.random(n) < 0.2), 365 + rng.integers(-40, 41, n), np.nan)[:, None]
    days = np.hstack([screening, ind_days, week6, boosters, year])
    infusion = np.hstack([np.full((n, 1), np.nan), np.tile(np.arange(1, 7, dtype=float), (n, 1)),
                          np.full((n, 1), np.nan), done[:, None] + np.arange(1, max_boosters + 1)[None, :],
                          np.full((n, 1), np.nan)])
    # a few pre-infusion questionnaires are not done; 2% of patients have none at day 0
    missed = rng.random(days.shape) < 0.08
    missed[:, 1] = rng.random(n) < 0.02
    missed[:, 0] |= missed[:, 1]
    days[missed] = np.nan
    has = ~np.isnan(days)
    pat = np.broadcast_to(np.arange(n)[:, None], days.shape)[has]
    t = days[has]
    inf_no = np.where(np.isin(np.nonzero(has)[1], np.r_[1:7, 8:8 + max_boosters]), infusion[has], np.nan)
    # visits on the same day are one questionnaire; keep the infusion visit over a check-up
    order = np.lexsort((np.isnan(inf_no), t, pat))
    pat, t, inf_no = pat[order], t[order], inf_no[order]
    first = np.r_[True, (pat[1:] != pat[:-1]) | (t[1:] != t[:-1])]
    pat, t, inf_no = pat[first], t[first], inf_no[first]

    # scores, item by item, from the latent course
    tt = np.maximum(t, 0)
    course = 1 - gain[pat] * (1 - np.exp(-tt / tau[pat]))
    course += relapse[pat] * np.clip((tt - 60) / 300, 0, 1) * gain[pat]
    level = base[pat] * course
    p_item = np.clip(level[:, None] * _ITEM_WEIGHTS[None, :] / 24.6, 0, 1)
    items = rng.binomial(3, p_item).astype(np.int8)
    q9 = si_level[pat] * np.clip(course, 0.05, 1) ** 1.5 + 0.015 * (course > 0.9)
    item9 = rng.binomial(3, np.clip(q9, 0, 1)).astype(np.int8)
    a_level = anxiety[pat] * (1 - 0.6 * gain[pat] * (1 - np.exp(-tt / tau[pat])))
    gad = rng.binomial(3, np.clip(a_level[:, None] / 21, 0, 1), (t.size, 7)).astype(np.int8)

    frame = pd.DataFrame({
        "patient_id": patient_id[pat],
        "assessment_date": (start[pat] + t.astype("timedelta64[D]")),
        "treatment_start_date": start[pat],
        "site": np.array(_SITES)[site[pat]],
        "clinician": np.char.add("CL", np.char.zfill((clinician[pat] + 1).astype(str), 2)),
        "protocol": np.array(list(SYNTHETIC_PROTOCOLS))[protocol[pat]],
        "diagnosis": np.array(_DIAGNOSES)[rng.choice(len(_DIAGNOSES), n, p=_DIAGNOSIS_SHARE)][pat],
        "age_band": np.array(_AGE_BANDS)[rng.choice(len(_AGE_BANDS), n, p=_AGE_SHARE)][pat],
        "sex": np.array(_SEXES)[rng.choice(len(_SEXES), n, p=_SEX_SHARE)][pat],
        "infusion_number": pd.array(inf_no, dtype="Int16"),
    })
    for k in range(8):
        frame[f"phq9_{k + 1}"] = pd.array(items[:, k], dtype="Int8")
    frame["phq9_9"] = pd.array(item9, dtype="Int8")
    with_gad = rng.random(t.size) < gad7_share
    for k in range(7):
        frame[f"gad7_{k + 1}"] = pd.Series(gad[:, k], dtype="Int8").where(with_gad)
    blank_rows = np.flatnonzero(rng.random(t.size) < incomplete_share)
    blank_items = rng.integers(1, 9, blank_rows.size)
    for k in range(1, 9):  # eight columns, not per row
        frame.loc[blank_rows[blank_items == k], f"phq9_{k}"] = pd.NA
    # the latent course, for the other scales (dropped before the frame is returned)
    frame["_level"], frame["_course"], frame["_t"] = level, course, t
    return frame, pat


def _more_instruments(frame, seed, totals_only_site):
    """QIDS-SR16, PCL-5 and C-SSRS screener answers of some patients, from each row's latent course.

    Its own random stream: the PHQ-9 and GAD-7 answers are the same with or without these.
    Vectorised over rows; the loops below run over item columns.
    """
    rng = np.random.default_rng([seed, 5])
    n = len(frame)
    pcode, patients = pd.factorize(frame["patient_id"])
    m = len(patients)
    level = frame["_level"].to_numpy(dtype="float64")
    course = frame["_course"].to_numpy(dtype="float64")
    t = frame["_t"].to_numpy(dtype="float64")
    item9 = frame["phq9_9"].to_numpy(dtype="float64", na_value=0.0).astype(np.int64)
    infusion = frame["infusion_number"].to_numpy(dtype="float64", na_value=np.nan)
    items_site = (frame["site"] != totals_only_site).to_numpy() if totals_only_site is not None else np.ones(n, bool)
    shares = MORE_INSTRUMENT_SHARES
    uses_qids = (rng.random(m) < shares["qids_sr16"])[pcode] & items_site
    ptsd = (frame["diagnosis"] == "PTSD with MDD").to_numpy()
    uses_pcl5 = (rng.random(m)[pcode] < np.where(ptsd, shares["pcl5_ptsd"], shares["pcl5_other"])) & items_site
    uses_cssrs = (rng.random(m) < shares["cssrs"])[pcode]
    answered = rng.random((n, 3)) < _ANSWERED_AT
    out = {}

    # QIDS-SR16 from the PHQ-9's latent level; appetite and weight go one way per patient (about a third up,
    # with more sleeping), so the domain maxima do not add every item
    atypical = (rng.random(m) < 0.3)[pcode]
    weights = np.tile(_QIDS_WEIGHTS, (n, 1))
    weights[:, [5, 7]] *= ~atypical[:, None]
    weights[:, [6, 8]] *= atypical[:, None]
    weights[:, 3] = np.where(atypical, 0.8, 0.15)
    qids = rng.binomial(3, np.clip(level[:, None] * weights / 27, 0, 1))
    shift = rng.integers(-1, 2, n) * (rng.random(n) < 0.25)  # QIDS item 12 mostly agrees with PHQ-9 item 9
    qids[:, 11] = np.clip(item9 + shift, 0, 3)
    has_qids = uses_qids & answered[:, 0]
    for k, col in enumerate(QIDS_SR16.items):
        out[col] = pd.Series(qids[:, k], dtype="Int8").where(has_qids)

    # PCL-5: PTSD symptoms improve with the depression, less fully; asked at intake, the first infusion,
    # check-ups and boosters (the infusion numbers after the induction)
    ptsd_base = np.where(ptsd, np.clip(rng.normal(50, 11, m)[pcode], 20, 80),
                         np.clip(rng.normal(22, 12, m)[pcode], 0, 60))
    ptsd_level = ptsd_base * (0.35 + 0.65 * np.clip(course, 0, 1.3))
    item_weights = rng.uniform(0.8, 1.2, PCL5.n_items)  # fixed per item
    pcl5 = rng.binomial(4, np.clip(ptsd_level[:, None] * item_weights[None, :] / 80, 0, 1))
    pcl5_visit = np.isnan(infusion) | (infusion == 1) | (infusion > 6)
    has_pcl5 = uses_pcl5 & pcl5_visit & answered[:, 1]
    for k, col in enumerate(PCL5.items):
        out[col] = pd.Series(pcl5[:, k], dtype="Int8").where(has_pcl5)

    # C-SSRS screener ("since last visit" version) from the same visit's PHQ-9 item 9; items 3-5 only
    # after a yes to item 2, the recent question only after a yes to item 6 (the screener's skip rules)
    u = rng.random((n, 5))
    wish = u[:, 0] < _CSSRS_WISH_BY_ITEM9[item9]
    active = u[:, 1] < np.where(wish, 0.45, 0.02)
    method = u[:, 2] < 0.45
    intent = u[:, 3] < np.where(item9 >= 2, 0.2, 0.08)
    plan = intent & (u[:, 4] < 0.3)
    behaviour = (rng.random(m) < 0.18)[pcode]  # lifetime suicidal behaviour (asked every time)
    recent = (rng.random(m) < 0.15)[pcode] & (t <= 60)  # within the past three months: early in the course
    has_cssrs = uses_cssrs & answered[:, 2]

    def yes_no(values, asked):
        return pd.Series(np.where(values, "yes", "no"), dtype="object").where(has_cssrs & asked)

    always = np.ones(n, bool)
    # the registry's item names (CSSRS_SCREENER.items), in its order
    for col, values, asked in (("cssrs_1", wish, always), ("cssrs_2", active, always), ("cssrs_3", method, active),
                               ("cssrs_4", intent, active), ("cssrs_5", plan, active), ("cssrs_6", behaviour, always),
                               ("cssrs_6_recent", recent, behaviour)):  # seven columns
        out[col] = yes_no(values, asked)
    extra = pd.DataFrame(out, index=range(n)).set_axis(frame.index)
    return pd.concat([frame, extra], axis=1)
