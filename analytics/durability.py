"""How long response lasts, who stays in treatment, and how large the change is.

* Durability: among responders, Kaplan-Meier time from first response to loss
  of response (the first later complete questionnaire above 50% of baseline),
  censored at the last complete questionnaire.  Published real-world figure
  for comparison: about 80% still responding at 4 weeks and about 60% at 8
  weeks (McInnes 2022; approximate, read from a Kaplan-Meier curve).
* Attrition: in the data -> with a baseline -> eligible -> with a week-W
  questionnaire; and the share of patients reaching each infusion (published:
  about half do not complete six infusions).
* Effect sizes: pre-post standardised mean change by baseline severity band.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .definitions import RESPONSE_FRACTION, OutcomeDefinitions
from .statistics import km_curve

__all__ = ["response_durability", "attrition_flow", "dropout_by_infusion", "prepost_effect_sizes", "trajectory_model"]


def response_durability(questionnaires: pd.DataFrame, patients: pd.DataFrame, *, at_days=(28, 56)) -> dict:
    """Kaplan-Meier probability of still responding ``at_days`` after first response.

    Returns
    -------
    dict
        ``curve`` (:func:`analytics.km_curve` of the time to loss, on the
        "still responding" scale), ``at`` (one row per day: still_responding,
        ci_low, ci_high, at_risk), ``responders`` and ``losses``.
    """
    unique = patients.drop_duplicates("patient_id")
    base = unique.set_index(unique["patient_id"].astype("str"))["baseline_total"].astype("float64")
    q = questionnaires[questionnaires["complete"] & (questionnaires["day"] > 0)]
    q = q.assign(pid=q["patient_id"].astype("str")).sort_values(["pid", "day"], kind="stable")
    b = q["pid"].map(base).to_numpy(dtype="float64")
    total = q["phq9_total"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        meets = total <= RESPONSE_FRACTION * b
    q = q.assign(meets=meets, day_f=q["day"].astype("float64"))
    first = q[q["meets"]].groupby("pid", sort=False)["day_f"].min()
    q = q.assign(first=q["pid"].map(first))
    after = q[q["first"].notna() & (q["day_f"] > q["first"])]
    lost = after[~after["meets"]].groupby("pid", sort=False)["day_f"].min()
    last = q[q["first"].notna()].groupby("pid", sort=False)["day_f"].max()
    responders = first.index
    loss_day = lost.reindex(responders)
    observed = loss_day.notna().to_numpy()
    duration = np.where(observed, loss_day.to_numpy(), last.reindex(responders).to_numpy()) - first.to_numpy()
    curve = km_curve(duration, observed)
    still = curve.assign(still_responding=curve["survival"], ci_low=1 - curve["ci_high"], ci_high=1 - curve["ci_low"])
    rows = []
    for day in at_days:
        upto = still[still["time"] <= day]
        rows.append({"day": day, "still_responding": float(upto["survival"].iloc[-1]) if len(upto) else 1.0,
                     "ci_low": float(upto["ci_low"].iloc[-1]) if len(upto) else np.nan,
                     "ci_high": float(upto["ci_high"].iloc[-1]) if len(upto) else np.nan,
                     "at_risk": int((duration >= day).sum())})
    return {"curve": still[["time", "at_risk", "events", "censored", "still_responding", "ci_low", "ci_high"]],
            "at": pd.DataFrame(rows), "responders": len(responders), "losses": int(observed.sum())}


def attrition_flow(patients: pd.DataFrame, *, definitions: OutcomeDefinitions | None = None) -> pd.DataFrame:
    """Patients at each step: in the data, with a baseline, eligible, with a week-W questionnaire."""
    d = definitions or OutcomeDefinitions()
    has_base = patients["baseline_day"].notna()
    eligible = patients["eligible"].astype(bool)
    in_window = eligible & (patients["endpoint_source"] == "window").fillna(False)
    steps = [("in the data", len(patients)), ("with a baseline", int(has_base.sum())),
             (f"eligible (baseline >= {d.min_baseline})", int(eligible.sum())),
             (f"with a week-{d.week} questionnaire (days {d.window[0]}-{d.window[1]})", int(in_window.sum()))]
    out = pd.DataFrame(steps, columns=["step", "patients"])
    out["share_of_first"] = out["patients"] / out["patients"].iloc[0] if len(patients) else np.nan
    return out


def dropout_by_infusion(questionnaires: pd.DataFrame, *, up_to: int = 10) -> pd.DataFrame:
    """Share of patients with infusion data who reached infusion k (k = 1 .. up_to)."""
    if "infusion_number" not in questionnaires:
        return pd.DataFrame(columns=["infusion", "patients_reaching", "share"])
    reached = questionnaires.groupby(questionnaires["patient_id"].astype("str"))["infusion_number"].max().dropna()
    k = np.arange(1, up_to + 1)
    counts = (reached.to_numpy()[:, None] >= k[None, :]).sum(axis=0)
    n = len(reached)
    return pd.DataFrame({"infusion": k, "patients_reaching": counts, "share": counts / n if n else np.nan})


def prepost_effect_sizes(patients: pd.DataFrame) -> pd.DataFrame:
    """Pre-post standardised mean change of PHQ-9 by baseline severity band.

    Among patients with a baseline and an endpoint.  ``d_z`` = mean change /
    SD of the changes (Cohen's d for paired data); ``smc_baseline_sd`` = mean
    change / SD of the baseline scores (Becker's standardised mean change).
    Negative values mean improvement.  Bands with fewer than 2 patients get no SD.
    """
    both = patients[patients["baseline_total"].notna() & patients["endpoint_total"].notna()]
    change = both["endpoint_total"].astype("float64") - both["baseline_total"].astype("float64")
    frame = pd.DataFrame({"band": both["baseline_band"].astype("str"), "change": change,
                          "baseline": both["baseline_total"].astype("float64")})
    rows = []
    for band, part in [("all bands", frame)] + list(frame.groupby("band", sort=False)):
        n = len(part)
        sd_change = part["change"].std(ddof=1) if n > 1 else np.nan
        sd_base = part["baseline"].std(ddof=1) if n > 1 else np.nan
        mean = part["change"].mean() if n else np.nan
        rows.append({"band": band, "n": n, "mean_change": mean, "sd_change": sd_change,
                     "d_z": mean / sd_change if sd_change else np.nan,
                     "smc_baseline_sd": mean / sd_base if sd_base else np.nan})
    return pd.DataFrame(rows)


def trajectory_model(questionnaires: pd.DataFrame, groups: pd.DataFrame, *, by: str = "cohort",
                     max_week: int = 12) -> dict:
    """Linear mixed model of PHQ-9 over weeks, by group (``statsmodels`` MixedLM).

    ``phq9_total ~ weeks * group`` with a random intercept and slope per
    patient (``re_formula="~weeks"``), REML.  Complete questionnaires on days
    0 to ``7 * max_week``.

    Parameters
    ----------
    groups : pandas.DataFrame
        ``patient_id`` and the ``by`` column (e.g. stacked cohorts).

    Returns
    -------
    dict
        ``converged`` (bool), ``coefficients`` (term, estimate, std_error,
        ci_low, ci_high, p_value), ``n_patients``, ``n_observations``,
        ``message`` (plain words; says what to do when the model did not converge).
    """
    import warnings

    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    g = groups[["patient_id", by]].assign(patient_id=groups["patient_id"].astype("str"))
    q = questionnaires[questionnaires["complete"] & questionnaires["day"].between(0, 7 * max_week)]
    data = pd.DataFrame({"patient_id": q["patient_id"].astype("str").to_numpy(),
                         "weeks": q["day"].to_numpy(dtype="float64") / 7,
                         "phq9_total": q["phq9_total"].to_numpy(dtype="float64")}).merge(g, on="patient_id")
    data["group"] = data[by].astype("str").to_numpy(dtype=object)
    data["patient_id"] = data["patient_id"].to_numpy(dtype=object)
    empty = pd.DataFrame(columns=["term", "estimate", "std_error", "ci_low", "ci_high", "p_value"])
    n_pat = int(data["patient_id"].nunique())
    if n_pat < 10 or data["group"].nunique() < 1:
        return {"converged": False, "coefficients": empty, "n_patients": n_pat, "n_observations": len(data),
                "message": f"too few patients for a mixed model ({n_pat}); compare the rates instead."}
    formula = "phq9_total ~ weeks * C(group)" if data["group"].nunique() > 1 else "phq9_total ~ weeks"
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fit = smf.mixedlm(formula, data, groups=data["patient_id"], re_formula="~weeks").fit(reml=True)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {"converged": False, "coefficients": empty, "n_patients": n_pat, "n_observations": len(data),
                "message": f"the mixed model could not be fitted ({exc}); the rates and curves above still hold. "
                           "Try fewer weeks or larger cohorts."}
    converged = bool(fit.converged) and not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    ci = fit.conf_int()
    fe = fit.fe_params.index
    coefs = pd.DataFrame({"term": fe, "estimate": fit.fe_params.to_numpy(), "std_error": fit.bse[fe].to_numpy(),
                          "ci_low": ci.loc[fe, 0].to_numpy(), "ci_high": ci.loc[fe, 1].to_numpy(),
                          "p_value": fit.pvalues[fe].to_numpy()})
    message = ("converged" if converged else
               "the model did not converge cleanly: read the coefficients with care, or fit fewer weeks; "
               "the rates and curves above do not depend on it")
    return {"converged": converged, "coefficients": coefs, "n_patients": n_pat, "n_observations": len(data),
            "message": message}
