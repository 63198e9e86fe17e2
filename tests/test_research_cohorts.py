"""Saved research cohorts: definitions, fingerprints, comparison from the command line."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from analytics import DefinitionError, load_questionnaires, patient_outcomes
from analytics.cohorts import apply_cohort, check_cohort_definition
from analytics.store import import_questionnaires, load_cohort, save_cohort
from cli_runner import run_cli
from conftest import SAMPLE, TINY


run = run_cli  # cli.main in-process (tests/cli_runner.py)


def test_apply_cohort_filters_by_hand():
    tiny = load_questionnaires(TINY)
    p = patient_outcomes(tiny)
    assert sorted(apply_cohort(tiny, p, {"site": ["North"]})["patient_id"]) == ["001", "002", "003"]
    assert sorted(apply_cohort(tiny, p, {"si_at_baseline": True})["patient_id"]) == ["001", "003", "005", "009"]
    assert sorted(apply_cohort(tiny, p, {"baseline_band": ["severe (20-27)"]})["patient_id"]) == ["001", "009"]
    assert sorted(apply_cohort(tiny, p, {"min_questionnaires": 3})["patient_id"]) == ["002", "003", "004"]
    with pytest.raises(DefinitionError, match="unknown cohort filter"):
        check_cohort_definition({"name": ["x"]})
    with pytest.raises(DefinitionError, match="not a date"):
        check_cohort_definition({"start_from": "last tuesday"})


def test_saved_cohort_knows_when_the_data_changed(tmp_path, store_db):
    db = store_db
    import_questionnaires(TINY, db=db)
    out = run("cohort", "save", "north", "--db", db, "--site", "North")
    assert out.returncode == 0 and "3 patients" in out.stdout
    shown = json.loads(run("cohort", "show", "north", "--db", db, "--format", "json").stdout)
    assert shown["data_changed_since_saved"] is False and shown["patients"] == 3
    assert shown["response"]["n"] == 3 and shown["response"]["events"] == 2  # 001 and 002 respond; 003 does not
    extra = tmp_path / "more.csv"
    pd.DataFrame({"patient_id": ["011", "011"], "day": [0, 42], "phq9_total": [20, 4], "phq9_9": [0, 0],
                  "site": ["North", "North"]}).to_csv(extra, index=False)
    import_questionnaires(extra, db=db)
    shown = json.loads(run("cohort", "show", "north", "--db", db, "--format", "json").stdout)
    assert shown["data_changed_since_saved"] is True and shown["patients"] == 4
    assert shown["fingerprint_saved"] == "imports 1" and shown["fingerprint_now"] == "imports 1,2"
    assert run("cohort", "show", "nope", "--db", db).returncode == 1


def test_compare_two_cohorts_from_the_cli(tmp_path, store_db):
    db = store_db
    import_questionnaires(SAMPLE, db=db)
    for name, flag in (("north", "North"), ("central", "Central")):
        assert run("cohort", "save", name, "--db", db, "--site", flag).returncode == 0
    out = run("cohort", "compare", "north", "central", "--db", db, "--metric", "remission", "--format", "json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["test"].startswith("Fisher") and 0 <= res["p_value"] <= 1
    rates = {r["cohort"]: r for r in res["rates"]}
    p = patient_outcomes(load_questionnaires(SAMPLE))
    north = p[p["site"] == "North"]
    assert rates["north"]["n"] == int(north["remission"].notna().sum())
    assert rates["north"]["events"] == int(north["remission"].fillna(False).sum())
    assert res["time_to_event"]["response"]["tests"][0]["p_value"] is not None
    listed = run("cohort", "list", "--db", db)
    assert "north" in listed.stdout and "central" in listed.stdout


def test_file_fingerprint_is_the_sha256(tmp_path, store_db):
    import hashlib
    db = store_db
    assert run("cohort", "save", "all", "--db", db, "--file", TINY).returncode == 0
    assert load_cohort("all", db)["fingerprint"] == "sha256:" + hashlib.sha256(TINY.read_bytes()).hexdigest()
    save_cohort("empty", {}, fingerprint="x", db=db)
    assert load_cohort("empty", db)["definition"] == {}


@pytest.mark.parametrize("mode", ["completer", "itt", "locf"])
def test_research_export_script_reproduces_the_tool(tmp_path, store_db, mode):
    from analytics import remission_rate, response_rate, si_resolution_rate, OutcomeDefinitions

    db = store_db
    import_questionnaires(SAMPLE, db=db)
    assert run("cohort", "save", "north", "--db", db, "--site", "North").returncode == 0
    out_dir = tmp_path / "dataset"
    out = run("research-export", "north", "--db", db, "--out", out_dir, "--analysis", mode)
    assert out.returncode == 0, out.stderr
    names = {p.name for p in out_dir.iterdir()}
    assert names == {"patients.csv", "questionnaires.csv", "data_dictionary.csv", "redcap_import.csv",
                     "redcap_data_dictionary.csv", "cohort.json", "reproduce.py"}
    script = subprocess.run([sys.executable, str(out_dir / "reproduce.py")], capture_output=True, text=True,
                            timeout=120)
    assert script.returncode == 0, script.stderr
    reproduced = json.loads(script.stdout)
    p = patient_outcomes(load_questionnaires(SAMPLE), definitions=OutcomeDefinitions(analysis=mode))
    north = p[p["site"] == "North"]
    for name, fn in (("response", response_rate), ("remission", remission_rate), ("si_resolution", si_resolution_rate)):
        r = fn(north)
        assert (reproduced[name]["n"], reproduced[name]["events"]) == (r.n, r.events), name
        assert reproduced[name]["ci_low"] == pytest.approx(r.ci_low)
    # Safe Harbor: no calendar dates anywhere in the dataset
    long = pd.read_csv(out_dir / "questionnaires.csv", dtype=str)
    assert not any("date" in c for c in long.columns)
    text = "".join((out_dir / n).read_text() for n in names if n.endswith(".csv"))
    assert not pd.Series(text.split(",")).str.match(r"^\d{4}-\d{2}-\d{2}$").any()
    redcap = pd.read_csv(out_dir / "redcap_import.csv", dtype=str)
    assert list(redcap.columns[:3]) == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    dd = pd.read_csv(out_dir / "redcap_data_dictionary.csv", dtype=str)
    assert dd.columns[0] == "Variable / Field Name" and set(redcap.columns) - {"redcap_repeat_instrument",
                                                                                 "redcap_repeat_instance"} <= set(
        dd["Variable / Field Name"])
