"""Synthetic treatment sessions for the synthetic clinic: never real patients.

Built from a questionnaire frame of :func:`analytics.synthetic.synthetic_clinic`:
every questionnaire with an ``infusion_number`` was given on a session day
(before dosing), and a session whose questionnaire was missed is placed between
its neighbours.  Two sites give IV ketamine (one records dissociation as a CADSS
total, the other as a 0-10 rating); one gives intranasal esketamine (56 or 84 mg,
monitored at least two hours): the site whose questionnaires carry an
"Esketamine ..." protocol (``synthetic_clinic(esketamine_site=...)``), so a
course's protocol label and its sessions' route always agree.

The shapes are chosen to look like published descriptions, not to reproduce any
figure: blood pressure rises after dosing and is nearer baseline at discharge;
dissociation is highest at the first sessions and fades over the series; a few
sessions have nausea, vomiting, treated hypertension or an emergence reaction,
and about 2% are stopped early.  Esketamine monitoring is sometimes recorded
under two hours or not at all, so monitoring completeness is below 100%.
Vectorised; seeded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SESSION_COLUMNS", "synthetic_sessions"]

SESSION_COLUMNS = [
    "patient_id", "session_date", "episode", "route", "dose_mg", "dose_mg_per_kg",
    "systolic_pre", "diastolic_pre", "heart_rate_pre", "systolic_post", "diastolic_post", "heart_rate_post",
    "systolic_discharge", "diastolic_discharge", "heart_rate_discharge", "spo2_lowest", "dissociation",
    "dissociation_scale", "sedation_moaas", "minutes_monitored", "adverse_events", "completed",
]
#: Days between sessions assumed when a session's questionnaire was missed at the start of a series.
_GAP_DAYS = 3
#: A course whose protocol label starts with this is given intranasal esketamine.
_ESKETAMINE = "Esketamine"


def synthetic_sessions(questionnaires: pd.DataFrame, *, seed: int = 20261121,
                       rating_site: str = "Central") -> pd.DataFrame:
    """The sessions table of a synthetic clinic (one row per session, ISO text dates).

    Parameters
    ----------
    questionnaires : pandas.DataFrame
        Output of :func:`analytics.synthetic.synthetic_clinic` (``patient_id``,
        ``assessment_date``, ``treatment_start_date``, ``site``, ``protocol``,
        ``infusion_number``).  Courses whose protocol starts with "Esketamine" get
        intranasal esketamine sessions; the others IV ketamine.
    seed : int
        The same seed and questionnaires give the same table.
    rating_site : str
        An IV site that records dissociation on a 0-10 rating instead of the CADSS.

    Returns
    -------
    pandas.DataFrame
        :data:`SESSION_COLUMNS`, sorted by patient, date.
    """
    rng = np.random.default_rng([seed, 17])
    q = questionnaires[questionnaires["infusion_number"].notna() & questionnaires["treatment_start_date"].notna()]
    q = q.drop_duplicates(["patient_id", "treatment_start_date", "infusion_number"])
    start = pd.to_datetime(q["treatment_start_date"]).to_numpy(dtype="datetime64[D]")
    date = pd.to_datetime(q["assessment_date"]).to_numpy(dtype="datetime64[D]")
    known = pd.DataFrame({"patient_id": q["patient_id"].to_numpy(), "start": start,
                          "k": q["infusion_number"].to_numpy(dtype="int64"),
                          "t": (date - start).astype("int64"), "site": q["site"].to_numpy(),
                          "esketamine": q["protocol"].astype("str").str.startswith(_ESKETAMINE).to_numpy()})

    # every infusion 1..last known of each course, missed questionnaires placed between their neighbours
    last = known.groupby(["patient_id", "start"], sort=False).agg(kmax=("k", "max"), site=("site", "first"),
                                                                     esketamine=("esketamine", "first"))
    last = last.reset_index()
    reps = last["kmax"].to_numpy()
    full = last.loc[last.index.repeat(reps)].reset_index(drop=True)
    full["k"] = np.arange(len(full)) - np.repeat(np.cumsum(reps) - reps, reps) + 1
    full = full.merge(known[["patient_id", "start", "k", "t"]], on=["patient_id", "start", "k"], how="left")
    g = full.groupby(["patient_id", "start"], sort=False)
    prev_t, prev_k = g["t"].ffill(), full["k"].where(full["t"].notna()).groupby([full["patient_id"],
                                                                                    full["start"]]).ffill()
    next_t, next_k = g["t"].bfill(), full["k"].where(full["t"].notna()).groupby([full["patient_id"],
                                                                                    full["start"]]).bfill()
    step = ((next_t - prev_t) / (next_k - prev_k)).fillna(_GAP_DAYS)
    guess = np.where(prev_t.notna(), prev_t + (full["k"] - prev_k) * step, next_t - (next_k - full["k"]) * _GAP_DAYS)
    full["t"] = full["t"].fillna(pd.Series(np.floor(guess), index=full.index))
    full = full.sort_values(["patient_id", "start", "t", "k"], kind="stable").drop_duplicates(
        ["patient_id", "start", "t"]).reset_index(drop=True)
    n = len(full)

    # courses of one patient are episodes 1, 2, ... in start order
    episode = full.groupby("patient_id", sort=False)["start"].rank(method="dense").astype("int64")
    session_date = full["start"].to_numpy(dtype="datetime64[D]") + full["t"].to_numpy(dtype="int64").astype(
        "timedelta64[D]")
    k = full["k"].to_numpy(dtype="int64")
    esk = full["esketamine"].to_numpy(dtype=bool)
    rating = (full["site"] == rating_site).to_numpy()

    # patient-level traits: codes of the patient, so one draw per patient
    pcode, patients = pd.factorize(full["patient_id"])
    m = len(patients)
    sys_base = rng.normal(124, 12, m)
    dia_offset = rng.normal(10, 4, m)  # diastolic follows systolic: about 78 at 124
    hr_base = rng.normal(74, 9, m)
    sensitivity = rng.lognormal(0, 0.35, m)  # how strongly a patient dissociates
    escalate = rng.random(m)

    # dose: IV 0.5 mg/kg, raised to 0.75 (and a few to 1.0) from the fourth infusion; esketamine 56 then 84 mg
    per_kg = np.where(k >= 4, np.where(escalate[pcode] < 0.08, 1.0, np.where(escalate[pcode] < 0.3, 0.75, 0.5)), 0.5)
    mg = np.where(k >= 2, np.where(escalate[pcode] < 0.6, 84.0, 56.0), 56.0)
    dose_rel = np.where(esk, mg / 56.0, per_kg / 0.5)

    def vital(base, sd, lo, hi):
        return np.clip(np.round(base + rng.normal(0, sd, n)), lo, hi)

    systolic_pre = vital(sys_base[pcode], 7, 90, 185)
    diastolic_pre = np.minimum(vital(0.55 * systolic_pre + dia_offset[pcode], 3, 50, 110), systolic_pre - 25)
    hr_pre = vital(hr_base[pcode], 6, 48, 120)
    rise_s = rng.gamma(2.2, 6.5, n) * np.sqrt(dose_rel)  # mean about 14 mmHg; a tail past 40
    rise_d = rise_s * 0.6 + rng.normal(0, 4, n)
    systolic_post = np.clip(np.round(systolic_pre + rise_s), 90, 230)
    diastolic_post = np.clip(np.round(diastolic_pre + rise_d), 50, 140)
    diastolic_post = np.minimum(diastolic_post, systolic_post - 20)
    hr_post = vital(hr_pre + 6, 5, 48, 140)
    systolic_dis = np.clip(np.round(systolic_pre + rise_s * 0.25 + rng.normal(0, 5, n)), 90, 200)
    diastolic_dis = np.minimum(np.clip(np.round(diastolic_pre + rise_d * 0.25 + rng.normal(0, 4, n)), 50, 120),
                               systolic_dis - 20)
    hr_dis = vital(hr_pre + 2, 5, 48, 130)
    spo2 = np.clip(np.round(98 - rng.gamma(1.2, 1.3, n)), 88, 100)

    # dissociation fades over the series: highest at the first sessions
    fade = np.exp(-(k - 1) / 4.0)
    cadss = np.clip(np.round((4 + 16 * fade) * sensitivity[pcode] * np.sqrt(dose_rel) + rng.normal(0, 3, n)), 0, 92)
    nrs = np.clip(np.round((1 + 5 * fade) * sensitivity[pcode] * np.sqrt(dose_rel) + rng.normal(0, 0.8, n)), 0, 10)
    dissociation = np.where(rating, nrs, cadss)
    moaas = np.clip(5 - rng.binomial(2, np.clip(0.06 + 0.12 * fade * dose_rel, 0, 1)), 0, 5)

    # adverse events (more nausea with esketamine), sessions stopped early
    u = rng.random((n, 5))
    nausea = u[:, 0] < np.where(esk, 0.18, 0.05)
    vomiting = u[:, 1] < np.where(esk, 0.05, 0.015)
    treated = (systolic_post - systolic_pre >= 40) & (u[:, 2] < 0.25)
    emergence = u[:, 3] < 0.006 * (1 + 2 * fade)
    other = u[:, 4] < 0.008
    stopped = (rng.random(n) < 0.01) | emergence & (rng.random(n) < 0.6) | treated & (rng.random(n) < 0.3)
    events = np.full(n, "", dtype=object)
    for name, hit in (("nausea", nausea), ("vomiting", vomiting), ("hypertension needing treatment", treated),
                      ("emergence reaction", emergence), ("other", other)):  # five terms, not rows
        events = np.where(hit, np.where(events == "", name, events + "; " + name), events)
    events = np.where(events == "", "none", events)

    # monitoring: IV about 90 minutes; esketamine at least 120 minutes, with some records short or blank
    minutes = np.where(esk, 120 + rng.integers(0, 41, n), 70 + rng.integers(0, 51, n)).astype(float)
    short = esk & (rng.random(n) < 0.05)
    minutes[short] = 100 + rng.integers(0, 19, int(short.sum()))
    minutes[rng.random(n) < 0.02] = np.nan
    minutes[stopped] = np.round(minutes[stopped] * 0.6)
    no_post = rng.random(n) < 0.03  # post-dose check not recorded
    no_discharge = stopped | (rng.random(n) < 0.04)

    def cells(values, blank=None):
        """Whole numbers as a nullable integer column (NaN and ``blank`` rows left empty)."""
        arr = pd.array(np.asarray(values, dtype="float64"), dtype="Float64").astype("Int64")
        if blank is not None:
            arr[blank] = pd.NA
        return arr

    frame = pd.DataFrame({
        "patient_id": full["patient_id"].to_numpy(),
        "session_date": pd.to_datetime(session_date).strftime("%Y-%m-%d"),
        "episode": episode.to_numpy(),
        "route": np.where(esk, "intranasal esketamine", "IV ketamine"),
        "dose_mg": pd.array(np.where(esk, mg, np.nan), dtype="Float64"),
        "dose_mg_per_kg": pd.array(np.where(esk, np.nan, per_kg), dtype="Float64"),
        "systolic_pre": cells(systolic_pre), "diastolic_pre": cells(diastolic_pre), "heart_rate_pre": cells(hr_pre),
        "systolic_post": cells(systolic_post, no_post), "diastolic_post": cells(diastolic_post, no_post),
        "heart_rate_post": cells(hr_post, no_post),
        "systolic_discharge": cells(systolic_dis, no_discharge),
        "diastolic_discharge": cells(diastolic_dis, no_discharge),
        "heart_rate_discharge": cells(hr_dis, no_discharge),
        "spo2_lowest": cells(spo2), "dissociation": cells(dissociation),
        "dissociation_scale": np.where(rating, "0-10", "cadss"),
        "sedation_moaas": cells(moaas.astype(float)), "minutes_monitored": cells(minutes),
        "adverse_events": events, "completed": np.where(stopped, "no", "yes"),
    })
    return frame.sort_values(["patient_id", "session_date"], kind="stable", ignore_index=True)[SESSION_COLUMNS]
