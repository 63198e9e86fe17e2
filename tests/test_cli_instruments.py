"""``--instrument`` on the command line: the instrument's own totals and thresholds, clear errors, "no data".

The file below was worked out by hand (baseline day 0, endpoint day 28 = week 4, completer):

  patient  MADRS      QIDS-SR16   PHQ-9
  A1       30 -> 12   14 -> 6     20 -> 8
  A2       30 -> 13   14 -> 5     20 -> 8
  A3       24 -> 10   12 -> 8     20 -> 8

MADRS (eligible >= 20): response 12 <= 15, 13 <= 15, 10 <= 12 -> 3/3; remission <= 12: A1, A3 -> 2/3;
remission <= 10 (madrs-10): A3 only -> 1/3.  QIDS-SR16 (eligible >= 11): response 6 <= 7, 5 <= 7,
8 > 6 -> 2/3; remission <= 5: A2 only -> 1/3.  PCL-5: no column -> no data.
"""
from __future__ import annotations

import json

from cli_runner import run_cli
from conftest import TINY

CSV = """patient_id,day,phq9_total,madrs_total,qids_sr16_total
A1,0,20,30,14
A1,28,8,12,6
A2,0,20,30,14
A2,28,8,13,5
A3,0,20,24,12
A3,28,8,10,8
"""


def summary(path, *args) -> dict:
    out = run_cli("summary", path, "--week", "4", "--format", "json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def counts(d, key):
    return d[key]["events"], d[key]["n"]


def test_madrs_default_and_named_thresholds(write_csv):
    path = write_csv(CSV)
    d = summary(path, "--instrument", "madrs")
    assert counts(d, "response") == (3, 3) and counts(d, "remission") == (2, 3)
    assert d["instrument"]["rules"][1] == "endpoint MADRS total <= 12"
    d10 = summary(path, "--instrument", "madrs-10")
    assert counts(d10, "remission") == (1, 3)
    assert d10["instrument"]["rules"][1] == "endpoint MADRS total <= 10"


def test_qids_and_the_default_phq9(write_csv):
    path = write_csv(CSV)
    d = summary(path, "--instrument", "qids-sr16")
    assert counts(d, "response") == (2, 3) and counts(d, "remission") == (1, 3)
    phq = summary(path)
    assert counts(phq, "response") == (3, 3) and counts(phq, "remission") == (0, 3)  # 8 is not < 5
    assert phq["instrument"]["choice"] == "phq9"


def test_text_names_instrument_and_threshold_on_every_rate(write_csv):
    out = run_cli("summary", write_csv(CSV), "--week", "4", "--instrument", "qids-sr16")
    assert out.returncode == 0
    rows = [line for line in out.stdout.splitlines() if line.strip().startswith(("Response", "Remission"))]
    assert len(rows) == 4
    assert all("QIDS-SR16" in r and ("50%" in r or "<= 5" in r) for r in rows)


def test_no_scores_of_the_instrument_is_no_data(write_csv):
    d = summary(write_csv(CSV), "--instrument", "pcl5")
    assert d["meaningful_change"]["n"] == 0 and d["meaningful_change"]["rate"] is None
    assert d["loss_of_probable_ptsd"]["rate"] is None
    out = run_cli("summary", TINY, "--instrument", "gad7")
    assert out.returncode == 0 and "no data" in out.stdout


def test_unknown_instrument_is_a_clear_error():
    out = run_cli("summary", TINY, "--instrument", "hamd")
    assert out.returncode == 2
    assert "instrument='hamd' is not an instrument outcomes can use" in out.stderr
    for allowed in ("phq9", "qids-sr16", "madrs", "gad7", "pcl5"):
        assert allowed in out.stderr
    assert "Traceback" not in out.stderr


def test_cohort_compare_on_an_instrument(write_csv, tmp_path):
    path = write_csv(CSV)
    db = tmp_path / "store.sqlite"
    for name in ("all", "again"):
        assert run_cli("cohort", "save", name, "--db", db, "--file", path).returncode == 0
    out = run_cli("cohort", "compare", "all", "again", "--db", db, "--file", path, "--week", "4",
                  "--instrument", "madrs", "--metric", "remission", "--format", "json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["instrument"] == "madrs" and d["label"] == "Remission (MADRS <= 12)"
    assert [(r["events"], r["n"]) for r in d["rates"]] == [(2, 3), (2, 3)]
    bad = run_cli("cohort", "compare", "all", "again", "--db", db, "--file", path, "--instrument", "madrs",
                  "--metric", "si_resolution")
    assert bad.returncode == 2 and "si_resolution" in bad.stderr
    shown = run_cli("cohort", "show", "all", "--db", db, "--file", path, "--week", "4", "--instrument", "qids-sr16",
                    "--format", "json")
    s = json.loads(shown.stdout)
    assert (s["response"]["events"], s["response"]["n"]) == (2, 3) and "si_resolution" not in s
