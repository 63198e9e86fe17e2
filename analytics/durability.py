"""How long response lasts, who stays in treatment, and how large the change is.

* Durability: among eligible patients responding at the endpoint questionnaire
  (the end of induction, as McInnes 2022), Kaplan-Meier time from that
  questionnaire to loss of response (by default two consecutive complete
  questionnaires above 50% of baseline), censored at the last complete questionnaire.  Published real-world figure
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

from .definitions import (
    BASELINE_WINDOW_DAYS,
    DURABILITY_AT_DAYS,
    DURABILITY_DEFAULT_LOSS_RULE,
    DURABILITY_LOSS_RULES,
    DROPOUT_MAX_INFUSION,
    MIXED_MODEL_MIN_PATIENTS,
    RESPONSE_FRACTION,
    TRENDS_MAX_WEEK,
    OutcomeDefinitions,
)
from .errors import DefinitionError
from .statistics import km_curve

__all__ = ["response_durability", "attrition_flow", "dropout_by_infusion", "prepost_effect_sizes", "trajectory_model"]


def response_durability(questionnaires: pd.DataFrame, patients: pd.DataFrame, *, at_days=DURABILITY_AT_DAYS,
                        loss_rule: str = DURABILITY_DEFAULT_LOSS_RULE) -> dict:
    """Kaplan-Meier probability of still responding ``at_days`` after the end of induction.

    As the McInnes 2022 durability curve: responders are *eligible* patients
    (baseline at or above the minimum) who respond at the endpoint
    questionnaire (in the endpoint window, the end of induction); time zero is
    that questionnaire's day.  Loss of response follows ``loss_rule`` (see
    :data:`analytics.definitions.DURABILITY_LOSS_RULES`; by default two
    consecutive questionnaires above 50% of baseline, dated at the first);
    otherwise a responder is censored at the last complete questionnaire.

    Returns
    -------
    dict
        ``curve`` (:func:`analytics.km_curve` of the time to loss, on the
        "still responding" scale, from day 0), ``at`` (one row per day:
        still_responding, ci_low, ci_high, at_risk, note; estimates are
        missing when nobody is still followed that day), ``responders``,
        ``losses``, ``loss_rule`` and ``definition`` (plain words).
    """
    if loss_rule not in DURABILITY_LOSS_RULES:
        raise DefinitionError(f"loss_rule={loss_rule!r} is not a known rule; use one of "
                              f"{', '.join(DURABILITY_LOSS_RULES)}.")
    unique = patients.drop_duplicates("patient_id")
    responders = unique[unique["eligible"].astype(bool) & unique["response"].fillna(False).astype(bool)
                        & (unique["endpoint_source"] == "window").fillna(False).astype(bool)
                        & unique["endpoint_day"].notna()]
    pid = responders["patient_id"].astype("str").to_numpy()
    start = pd.Series(responders["endpoint_day"].to_numpy(dtype="float64"), index=pid)
    base = pd.Series(responders["baseline_total"].to_numpy(dtype="float64"), index=pid)
    q = questionnaires[questionnaires["complete"]]
    q = pd.DataFrame({"pid": q["patient_id"].astype("str").to_numpy(), "day": q["day"].to_numpy(dtype="float64"),
                      "total": q["phq9_total"].to_numpy(dtype="float64")})
    q = q[q["pid"].isin(start.index)]
    q = q[q["day"].to_numpy() > q["pid"].map(start).to_numpy()].sort_values(["pid", "day"], kind="stable")
    above = q["total"].to_numpy() > RESPONSE_FRACTION * q["pid"].map(base).to_numpy()
    if loss_rule == "two_consecutive":
        same_next = q["pid"].shift(-1).to_numpy() == q["pid"].to_numpy()
        lost_here = above & same_next & np.r_[above[1:], False]
    else:
        lost_here = above
    loss_day = q.loc[lost_here, ["pid", "day"]].groupby("pid", sort=False)["day"].min().reindex(pid)
    last_day = q.groupby("pid", sort=False)["day"].max().reindex(pid).fillna(start)
    observed = loss_day.notna().to_numpy()
    duration = np.where(observed, loss_day.to_numpy(), last_day.to_numpy()) - start.to_numpy()
    curve = km_curve(duration, observed)
    still = curve.assign(still_responding=curve["survival"], ci_low=1 - curve["ci_high"], ci_high=1 - curve["ci_low"])
    rows = []
    for day in at_days:
        at_risk = int((duration >= day).sum())
        upto = still[still["time"] <= day]
        shown = at_risk > 0 and len(upto) > 0
        rows.append({"day": day, "still_responding": float(upto["still_responding"].iloc[-1]) if shown else np.nan,
                     "ci_low": float(upto["ci_low"].iloc[-1]) if shown else np.nan,
                     "ci_high": float(upto["ci_high"].iloc[-1]) if shown else np.nan,
                     "at_risk": at_risk,
                     "note": "" if shown else "nobody still followed on this day: no estimate"})
    definition = (f"Responders: eligible patients responding at the endpoint questionnaire (end of induction); "
                  f"time zero = that questionnaire's day. Loss of response: {DURABILITY_LOSS_RULES[loss_rule]}; "
                  "otherwise censored at the last complete questionnaire. Kaplan-Meier, log-log 95% intervals.")
    return {"curve": still[["time", "at_risk", "events", "censored", "still_responding", "ci_low", "ci_high"]],
            "at": pd.DataFrame(rows, columns=["day", "still_responding", "ci_low", "ci_high", "at_risk", "note"]),
            "responders": len(pid), "losses": int(observed.sum()), "loss_rule": loss_rule, "definition": definition}


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


def dropout_by_infusion(questionnaires: pd.DataFrame, *, up_to: int = DROPOUT_MAX_INFUSION) -> pd.DataFrame:
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

    Among patients with a baseline and an endpoint; the overall row ("all
    eligible") counts eligible patients only, like every other outcome, while
    each band row shows its band (below-threshold bands are marked
    ``eligible = False``).  ``d_z`` = mean change /
    SD of the changes (Cohen's d for paired data); ``smc_baseline_sd`` = mean
    change / SD of the baseline scores (Becker's standardised mean change).
    Negative values mean improvement.  Bands with fewer than 2 patients get no SD.
    """
    both = patients[patients["baseline_total"].notna() & patients["endpoint_total"].notna()]
    change = both["endpoint_total"].astype("float64") - both["baseline_total"].astype("float64")
    frame = pd.DataFrame({"band": both["baseline_band"].astype("str"), "change": change,
                          "baseline": both["baseline_total"].astype("float64"),
                          "eligible": both["eligible"].astype(bool)})
    rows = []
    for band, part in [("all eligible", frame[frame["eligible"]])] + list(frame.groupby("band", sort=False)):
        n = len(part)
        sd_change = part["change"].std(ddof=1) if n > 1 else np.nan
        sd_base = part["baseline"].std(ddof=1) if n > 1 else np.nan
        mean = part["change"].mean() if n else np.nan
        rows.append({"band": band, "eligible": bool(part["eligible"].all()) if n else True, "n": n,
                     "mean_change": mean, "sd_change": sd_change,
                     "d_z": mean / sd_change if sd_change else np.nan,
                     "smc_baseline_sd": mean / sd_base if sd_base else np.nan})
    return pd.DataFrame(rows)


def trajectory_model(questionnaires: pd.DataFrame, groups: pd.DataFrame, *, by: str = "cohort",
                     max_week: int = TRENDS_MAX_WEEK) -> dict:
    """Linear mixed model of PHQ-9 over weeks, by group (``statsmodels`` MixedLM, REML as lme4's default).

    ``phq9_total ~ weeks * group`` with a correlated random intercept and
    slope per patient (``re_formula="~weeks"``; lme4:
    ``phq9_total ~ weeks * group + (weeks | patient_id)``).  Data: each
    patient's baseline questionnaire (the latest complete one in the baseline
    window, wherever it falls, at its own study day, possibly before day 0)
    and every complete questionnaire on days 1 to ``7 * max_week``.

    Fixed-effect standard errors are model-based, ``(X' V^-1 X)^-1`` at the
    REML estimates, as ``lme4`` reports them; intervals and p-values are Wald
    (normal) from those.  A fit whose random-effect covariance is at the
    boundary (relative Cholesky factor with a diagonal element below 1e-4,
    lme4's ``isSingular`` rule) is reported as singular, not as non-convergence.

    Parameters
    ----------
    groups : pandas.DataFrame
        ``patient_id`` and the ``by`` column (e.g. stacked cohorts).

    Returns
    -------
    dict
        ``status`` ("converged", "singular", "not converged" or "not fitted"),
        ``converged`` (bool: True when converged or singular), ``coefficients``
        (term, estimate, std_error, ci_low, ci_high, p_value),
        ``variance_components`` (component, value: intercept and slope
        variances, their correlation, residual variance), ``se_method``,
        ``n_patients``, ``n_observations``, ``message`` (plain words).
    """
    import warnings

    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    g = groups[["patient_id", by]].assign(patient_id=groups["patient_id"].astype("str"))
    q = questionnaires[questionnaires["complete"]]
    q = pd.DataFrame({"patient_id": q["patient_id"].astype("str").to_numpy(),
                      "day": q["day"].to_numpy(dtype="float64", na_value=np.nan),
                      "phq9_total": q["phq9_total"].to_numpy(dtype="float64")})
    lo, hi = BASELINE_WINDOW_DAYS
    in_base = q[q["day"].between(lo, hi)]
    baseline = in_base.sort_values(["patient_id", "day"], kind="stable").drop_duplicates("patient_id", keep="last")
    follow = q[(q["day"] > hi) & (q["day"] <= 7 * max_week)]
    q = pd.concat([baseline, follow], ignore_index=True).sort_values(["patient_id", "day"], kind="stable")
    data = pd.DataFrame({"patient_id": q["patient_id"].to_numpy(), "weeks": q["day"].to_numpy() / 7,
                         "phq9_total": q["phq9_total"].to_numpy()}).merge(g, on="patient_id")
    data["group"] = data[by].astype("str").to_numpy(dtype=object)
    data["patient_id"] = data["patient_id"].to_numpy(dtype=object)
    empty = pd.DataFrame(columns=["term", "estimate", "std_error", "ci_low", "ci_high", "p_value"])
    no_vc = pd.DataFrame(columns=["component", "value"])
    se_method = "model-based (X' V^-1 X)^-1 at the REML estimates, as lme4; Wald 95% intervals and p-values"
    n_pat = int(data["patient_id"].nunique())
    base_result = {"converged": False, "status": "not fitted", "coefficients": empty, "variance_components": no_vc,
                   "se_method": se_method, "n_patients": n_pat, "n_observations": len(data)}
    if n_pat < MIXED_MODEL_MIN_PATIENTS or data["group"].nunique() < 1:
        return {**base_result, "message": f"too few patients for a mixed model ({n_pat}); compare the rates instead."}
    formula = "phq9_total ~ weeks * C(group)" if data["group"].nunique() > 1 else "phq9_total ~ weeks"
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = smf.mixedlm(formula, data, groups=data["patient_id"], re_formula="~weeks")
            # L-BFGS first: statsmodels' default BFGS stalls on ordinary clinic data where L-BFGS reaches
            # the REML optimum (checked against lme4 in tests/reference)
            fit = model.fit(reml=True, method=["lbfgs", "powell", "nm"], maxiter=2000)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {**base_result, "message": f"the mixed model could not be fitted ({exc}); the rates and curves above "
                                          "still hold. Try fewer weeks or larger cohorts."}
    cov_re = np.asarray(fit.cov_re, dtype="float64")
    scale = float(fit.scale)
    singular = _is_singular(cov_re, scale)
    boundary = any("boundary" in str(w.message) or "singular" in str(w.message).lower() for w in caught)
    failed = any(issubclass(w.category, ConvergenceWarning) and not ("boundary" in str(w.message)
                 or "singular" in str(w.message).lower()) for w in caught)
    converged = bool(fit.converged) and not failed
    # at the boundary the optimiser often stops with a warning: that is a singular fit, not a failure
    status = "singular" if singular or (boundary and converged) else ("converged" if converged else "not converged")
    fe = fit.fe_params.index
    beta = fit.fe_params.to_numpy()
    se = _model_based_se(model.exog, model.exog_re, model.group_labels, model.groups, cov_re, scale)
    from scipy import stats as sps
    z = sps.norm.ppf(0.975)
    coefs = pd.DataFrame({"term": fe, "estimate": beta, "std_error": se, "ci_low": beta - z * se,
                          "ci_high": beta + z * se, "p_value": 2 * sps.norm.sf(np.abs(beta / se))})
    corr = (cov_re[0, 1] / np.sqrt(cov_re[0, 0] * cov_re[1, 1]) if cov_re[0, 0] > 0 and cov_re[1, 1] > 0
            else np.nan)
    vc = pd.DataFrame({"component": ["random intercept variance", "random slope variance (per week)",
                                     "intercept-slope correlation", "residual variance"],
                       "value": [cov_re[0, 0], cov_re[1, 1], corr, scale]})
    message = {"converged": "converged",
               "singular": "singular fit: the random-slope variance (or the intercept-slope correlation) is at the "
                           "boundary of its range, so the data cannot separate patient-level slope variation from "
                           "noise; the fixed effects are still estimated, but read the variance components with care "
                           "or fit a random intercept only",
               "not converged": "the model did not converge cleanly: read the coefficients with care, or fit fewer "
                                "weeks; the rates and curves above do not depend on it"}[status]
    return {"converged": status != "not converged", "status": status, "coefficients": coefs, "variance_components": vc,
            "se_method": se_method, "n_patients": n_pat, "n_observations": len(data), "message": message}


def _is_singular(cov_re: np.ndarray, scale: float, tol: float = 1e-4) -> bool:
    """lme4's ``isSingular``: a diagonal element of the relative Cholesky factor below ``tol``."""
    rel = cov_re / scale
    try:
        chol = np.linalg.cholesky(rel)
    except np.linalg.LinAlgError:
        return True
    return bool((np.abs(np.diag(chol)) < tol).any())


def _model_based_se(exog, exog_re, labels, groups, cov_re, scale) -> np.ndarray:
    """sqrt(diag((X' V^-1 X)^-1)) with V_i = Z_i G Z_i' + s I, batched over patients (no loop per patient).

    Uses V_i^-1 = (I - Z_i (s I + G Z_i'Z_i)^-1 G Z_i') / s, valid when G is singular.
    """
    codes = pd.Series(groups).map({k: i for i, k in enumerate(labels)}).to_numpy()
    x = np.asarray(exog, dtype="float64")
    zz = np.asarray(exog_re, dtype="float64")
    n, p, q = len(labels), x.shape[1], zz.shape[1]

    def per_patient(a, b):
        out = np.zeros((n, a.shape[1], b.shape[1]))
        np.add.at(out, codes, a[:, :, None] * b[:, None, :])
        return out

    xx, zx, ztz = per_patient(x, x), per_patient(zz, x), per_patient(zz, zz)
    m = scale * np.eye(q)[None] + cov_re[None] @ ztz
    inner = np.linalg.solve(m, cov_re[None] @ zx)  # (s I + G Z'Z)^-1 G Z'X
    info = (xx - np.transpose(zx, (0, 2, 1)) @ inner).sum(axis=0) / scale
    return np.sqrt(np.diag(np.linalg.inv(info)))
