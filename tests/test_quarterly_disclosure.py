"""An attacker's view of one quarterly export: can any suppressed count be worked out from the published ones?

Every count of an export (all its tables and the manifest) is named by what it
counts, so a number published twice is one unknown.  The attacker knows every
shown count, what each label says (``<11``: 1 to 10; ``suppressed``: 0 or 11 and
more), that strata add up to their total (per metric and dimension), that
events never exceed their n, and which counts are the same quantity across
tables (the cohort, its eligible patients, the completers, SI at baseline).
For each hidden count it asks an integer program for the smallest and the
largest value consistent with all that; one possible value means recovered.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from analytics import OutcomeDefinitions, load_questionnaires
from analytics.quarterly import STRATA, quarterly_export
from analytics.suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE
from conftest import SAMPLE

QUARTER = "2025Q3"
START = date(2025, 7, 7)
HIDDEN = {SUPPRESSED_COUNT, SUPPRESSED_VALUE}


# ----------------------------------------------------------------------------- clinics

def _items(total: int, item9: int) -> list[int]:
    rest, items = total - item9, []
    for _ in range(8):
        items.append(min(3, rest))
        rest -= items[-1]
    assert rest == 0
    return items + [item9]


def clinic(groups) -> pd.DataFrame:
    """Rows of a questionnaire file: ``groups`` of (count, site, protocol, baseline, endpoint or None, si0, si_end)."""
    rows, pid = [], 1000
    for count, site, protocol, base, end, si0, si_end in groups:
        for k in range(count):
            pid += 1
            start = START + timedelta(days=k % 60)
            visits = [(0, base, si0)] + ([] if end is None else [(42, end, si_end)])
            for day, total, si in visits:
                rows.append({"patient_id": f"P{pid}", "assessment_date": (start + timedelta(days=day)).isoformat(),
                             "treatment_start_date": start.isoformat(), "site": site, "protocol": protocol,
                             "infusion_number": 1 if day == 0 else 6,
                             **{f"phq9_{i + 1}": v for i, v in enumerate(_items(total, si))}})
    return pd.DataFrame(rows)


def the_issue_clinic():
    # 0/12 responders at X, 12/13 at Y, plus the total: Y's one non-responder was recoverable
    return clinic([(12, "X", "IV", 20, 18, 0, 0), (12, "Y", "IV", 20, 6, 0, 0), (1, "Y", "IV", 20, 18, 0, 0),
                   (30, "Z", "IN", 20, 6, 1, 0), (20, "Z", "IN", 20, 18, 1, 1)])


def tiny_sites_clinic():
    return clinic([(1, "Solo", "IV", 22, 4, 2, 0), (2, "Duo", "IV", 15, 7, 1, 0), (11, "Main", "IV", 18, 8, 0, 0),
                   (9, "Main", "IN", 18, None, 0, 0), (14, "Main", "IM", 12, 3, 0, 0), (3, "Main", "IM", 12, 11, 1, 1)])


def dropouts_clinic():
    # 30 eligible, 22 with an endpoint: 8 without one, a small cell between completeness and summary
    return clinic([(12, "North", "IV", 20, 8, 1, 0), (10, "South", "IV", 20, 15, 0, 0),
                   (5, "North", "IN", 20, None, 1, 1), (3, "South", "IN", 20, None, 0, 0), (13, "East", "IV", 8, 3, 0, 0)])


def sample_with_tiny_site():
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    # patients whose first course starts in the quarter (a re-induction in it does not make one)
    starts = pd.to_datetime(raw["treatment_start_date"]).groupby(raw["patient_id"]).transform("min")
    in_q = raw.loc[starts.between("2025-07-01", "2025-09-30"), "patient_id"].unique()
    raw.loc[raw["patient_id"].isin(in_q[:3]), "site"] = "Tiny"
    raw.loc[raw["patient_id"].isin(in_q[3:5]), "protocol"] = "Rare"
    return raw


CLINICS = {"issue": the_issue_clinic, "tiny_sites": tiny_sites_clinic, "dropouts": dropouts_clinic,
           "sample": sample_with_tiny_site}


# ----------------------------------------------------------------------------- what the export publishes

def published_counts(export, mode: str) -> list[tuple]:
    """(key, column, published value) for every count of the export, keys naming what is counted."""
    out = []
    n_key = {"response": "D", "remission": "D", "si_resolution": "SD", "cumulative_response": "E",
             "cumulative_remission": "E"}

    def add(n_key_, ev_key, row):
        out.append((n_key_, ev_key, row["n"], row["events"]))

    for row in export.summary.to_dict("records"):
        where = (row["dimension"], row["stratum"])
        add((n_key[row["metric"]], *where), ("events", row["metric"], *where), row)
    overall = ("overall", "all patients")
    for row in export.trend.to_dict("records"):
        if row["quarter"] == export.quarter:
            add((n_key[row["metric"]], *overall), ("events", row["metric"], *overall), row)
        else:
            add((n_key[row["metric"]], row["quarter"]), ("events", row["metric"], row["quarter"]), row)
    s = export.safety.to_dict("records")
    add(("N",), ("SI0",), s[0])
    add(("SD", *overall), ("events", "si_resolution", *overall), s[1])
    add(("worse n",), ("worse",), s[2])
    add(("new n",), ("new",), s[3])
    c = export.completeness.to_dict("records")
    add(("N",), ("N",), c[0])
    add(("N",), ("B",), c[1])
    add(("E", *overall), ("D", *overall) if mode == "completer" else ("W",), c[2])
    add(("Q",), ("Q incomplete",), c[3])
    add(("A",), ("A",), c[4])
    for row in export.quality.to_dict("records"):
        where = (row["measure"], row.get("stratum", "all ages"))  # age strata are rows of their own
        add(("QM", *where), ("QM events", *where), row)
    out.append((("N",), None, export.manifest["cohort_patients"], None))
    return out


def attack(export, truth, mode: str) -> list[str]:
    """Every hidden count (or hidden non-event count) the published ones pin down to one value."""
    seen, truth_of, rows = {}, {}, []
    for (pub, true) in zip(published_counts(export, mode), published_counts(truth, mode)):
        n_key, ev_key, n, ev = pub
        rows.append((n_key, ev_key))
        for key, value, real in ((n_key, n, true[2]), (ev_key, ev, true[3])):
            if key is None:
                continue
            truth_of[key] = int(real)
            seen.setdefault(key, set()).add(value if value in HIDDEN else int(value))
    problems = []
    known, labels = {}, {}
    for key, values in seen.items():
        shown = {v for v in values if v not in HIDDEN}
        if shown:
            known[key] = shown.pop()
            if values & HIDDEN:
                problems.append(f"{key}: shown as {known[key]} in one table, hidden in another")
        else:
            labels[key] = values
    for key, value in labels.items():  # "<11" is printed only for 1 to 10
        if SUPPRESSED_COUNT in value and not 1 <= truth_of[key] <= 10:
            problems.append(f"{key}: reads <11 but is {truth_of[key]}")
    # the events of a row whose n is hidden say nothing by their label
    free = {ev for n_key, ev in rows if n_key in labels and ev in labels and SUPPRESSED_COUNT not in labels[ev]}
    hidden = sorted(labels, key=str)
    index = {k: i for i, k in enumerate(hidden)}
    big = max(truth_of.values()) * 4 + 100
    nvar = 2 * len(hidden)  # a count and, for 'suppressed', a switch between 0 and 11+
    lo, hi = np.zeros(nvar), np.full(nvar, float(big))
    hi[len(hidden):] = 1
    a_rows, a_lo, a_hi = [], [], []

    def constraint(terms: dict, low, high):
        coef, const = np.zeros(nvar), 0.0
        for key, c in terms.items():
            if key in index:
                coef[index[key]] += c
            else:
                const += c * known[key]
        a_rows.append(coef)
        a_lo.append(low - const)
        a_hi.append(high - const)

    for key, i in index.items():
        if SUPPRESSED_COUNT in labels[key] and not 1 <= truth_of[key] <= 10:  # a false label: reported above
            hi[len(hidden) + i] = 0
        elif SUPPRESSED_COUNT in labels[key]:
            lo[i], hi[i] = 1, 10
            hi[len(hidden) + i] = 0
        elif key in free and all(n_key in labels for n_key, ev in rows if ev == key):
            hi[len(hidden) + i] = 0
        else:  # 0, or 11 and more: 11*b <= x <= big*b
            b = len(hidden) + i
            coef = np.zeros(nvar)
            coef[i], coef[b] = 1, -11
            a_rows.append(coef), a_lo.append(0), a_hi.append(np.inf)
            coef = np.zeros(nvar)
            coef[i], coef[b] = 1, -big
            a_rows.append(coef), a_lo.append(-np.inf), a_hi.append(0)
    for n_key, ev_key in rows:  # events never exceed n
        if ev_key is not None and n_key != ev_key and (n_key in index or ev_key in index):
            constraint({ev_key: 1, n_key: -1}, -np.inf, 0)
    for metric_key in ({"D", "SD", "E"} | {("events", m) for m in ("response", "remission", "si_resolution",
                                                                     "cumulative_response", "cumulative_remission")}):
        for dim in STRATA:
            parts = [k for k in truth_of if isinstance(k, tuple) and len(k) == (3 if isinstance(metric_key, str) else 4)
                     and (k[0] == metric_key if isinstance(metric_key, str) else k[:2] == metric_key)
                     and k[-2] == dim]
            total = (metric_key, "overall", "all patients") if isinstance(metric_key, str) else \
                (*metric_key, "overall", "all patients")
            if parts and total in truth_of:
                assert sum(truth_of[k] for k in parts) == truth_of[total], (metric_key, dim)  # the model is right
                constraint({**{k: 1 for k in parts}, total: -1}, 0, 0)
    a = np.array(a_rows) if a_rows else np.zeros((0, nvar))
    cons = LinearConstraint(a, a_lo, a_hi) if a_rows else ()
    integrality = np.ones(nvar)

    def extreme(objective):
        res = milp(objective, constraints=cons, integrality=integrality, bounds=Bounds(lo, hi))
        assert res.success, res.message
        return round(res.fun)

    for key, i in index.items():
        c = np.zeros(nvar)
        c[i] = 1
        low, high = extreme(c), -extreme(-c)
        assert low <= truth_of[key] <= high, (key, low, high, truth_of[key])
        if low == high:
            problems.append(f"{key}: suppressed, but it can only be {low}")
    for n_key, ev_key in rows:  # a hidden non-event count from 1 to 10 (n - events)
        if ev_key is None or n_key not in index or ev_key not in index:
            continue
        if not 1 <= truth_of[n_key] - truth_of[ev_key] <= 10:
            continue
        c = np.zeros(nvar)
        c[index[n_key]], c[index[ev_key]] = 1, -1
        if extreme(c) == -extreme(-c):
            problems.append(f"{n_key} minus {ev_key}: suppressed, but it can only be {extreme(c)}")
    return sorted(set(problems))


@pytest.mark.parametrize("mode", ["completer", "itt", "locf"])
# the 600-patient sample's attacks take minutes on a loaded machine: `make test` and CI run them, `make test-fast`
# keeps the three small clinics built for the edge cases
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "sample" else n for n in CLINICS])
def test_no_suppressed_count_can_be_recovered(tmp_path, name, mode):
    path = tmp_path / f"{name}.csv"
    CLINICS[name]().to_csv(path, index=False)
    frame = load_questionnaires(path)
    d = OutcomeDefinitions(analysis=mode)
    export = quarterly_export(frame, quarter=QUARTER, definitions=d)
    truth = quarterly_export(frame, quarter=QUARTER, definitions=d, suppression=False)
    assert export.summary[["n", "events"]].isin(HIDDEN).any().any(), "the clinic should have something to hide"
    assert attack(export, truth, mode) == []


@pytest.mark.slow  # the sample clinic again (see above)
def test_the_attacker_finds_a_lone_hidden_cell(tmp_path):
    """A control, so that a green run means something: show one complement again and the attack finds its pair."""
    import dataclasses

    path = tmp_path / "sample.csv"
    sample_with_tiny_site().to_csv(path, index=False)
    frame = load_questionnaires(path)
    export = quarterly_export(frame, quarter=QUARTER)
    truth = quarterly_export(frame, quarter=QUARTER, suppression=False)
    summary = export.summary.copy()
    site = (summary["dimension"] == "site") & (summary["metric"] == "response")
    others = summary.loc[site & summary["n"].isin(HIDDEN) & (summary["stratum"] != "Tiny"), "stratum"]
    assert len(others)
    reveal = (summary["dimension"] == "site") & summary["metric"].isin(["response", "remission"]) & \
        (summary["stratum"] == others.iloc[0])
    summary.loc[reveal, ["n", "events"]] = truth.summary.loc[reveal, ["n", "events"]]
    found = attack(dataclasses.replace(export, summary=summary), truth, "completer")
    assert any("'site', 'Tiny'" in p for p in found), found
