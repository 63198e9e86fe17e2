"""The command line: exit codes, JSON contract, no tracebacks.

Most tests call ``cli.main`` in-process (``run``); the smoke tests marked below start a real
``python -m analytics`` (``run_subprocess``) so the interpreter entry point stays covered.
"""
from __future__ import annotations

import json
import pytest

from cli_runner import run_cli, run_subprocess
from conftest import SAMPLE, TINY


run = run_cli


def test_summary_json_contract():
    out = run_subprocess("summary", SAMPLE, "--format", "json")  # smoke test: a real interpreter
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in ("patients", "eligible", "si_at_baseline", "response", "remission", "si_resolution",
                "cumulative", "benchmarks", "definitions"):
        assert key in d
    for key in ("response", "remission", "si_resolution"):
        assert set(d[key]) >= {"n", "events", "rate", "ci_low", "ci_high"}
    assert set(d["cumulative"]) == {"response", "remission"}
    assert set(d["benchmarks"][0]) >= {"id", "metric", "rate", "difference", "p_value", "comparable", "reason"}
    assert d["patients"] == 599
    assert d["definitions"]["spec_version"] == "2" and d["definitions"]["week"] == 6
    # spec v2 keys: one episode per patient in the sample's first-episode view
    assert d["definitions"]["episodes"] == "first"
    for key in ("episodes", "patients_with_repeat_episodes", "si_unknown", "si_endpoint_unknown"):
        assert key in d


def test_summary_options_change_the_numbers():
    d = json.loads(run("summary", TINY, "--format", "json", "--analysis", "locf").stdout)
    assert (d["response"]["events"], d["response"]["n"]) == (5, 7)
    d = json.loads(run("summary", TINY, "--format", "json", "--min-baseline", "16").stdout)
    assert d["eligible"] == 4  # 001 (20), 004 (18), 009 (22), 010 (16)
    # day 35 exactly: only 002 (baseline 12, endpoint 4) -> 1/1
    d = json.loads(run("summary", TINY, "--format", "json", "--week", "5", "--window-days", "0").stdout)
    assert (d["response"]["events"], d["response"]["n"]) == (1, 1)
    assert d["definitions"]["endpoint_window_days"] == [35, 35]
    # ... and with baseline >= 13, 002 is not eligible: no data, never 0%
    d = json.loads(run("summary", TINY, "--format", "json", "--week", "5", "--window-days", "0",
                       "--min-baseline", "13").stdout)
    assert d["response"]["n"] == 0 and d["response"]["rate"] is None


def test_summary_text_is_readable():
    out = run("summary", TINY)
    assert out.returncode == 0
    for phrase in ("Spec v2", "Response", "Kaplan-Meier", "oliver2022-remission-6w", "not clinical advice"):
        assert phrase in out.stdout


def test_validate_exit_codes(write_csv):
    assert run("validate", TINY).returncode == 0
    bad = write_csv("patient_id,assessment_date,phq9_total,phq9_9\n001,2025-01-01,40,1\n")
    out = run("validate", bad)
    assert out.returncode == 1
    assert "REFUSED" in out.stdout and "phq9_total" in out.stdout and "Traceback" not in out.stdout + out.stderr
    out = run("validate", bad, "--format", "json")
    assert json.loads(out.stdout)["errors"][0]["line"] == 2


@pytest.mark.parametrize("content, name", [("", "empty.csv"), ("a,b\n1,2\n", "nope.txt")])
def test_bad_input_is_exit_1_without_traceback(write_csv, content, name):
    out = run_subprocess("summary", write_csv(content, name), "--format", "json")
    assert out.returncode == 1 and out.stdout == ""
    assert "error:" in out.stderr and "Traceback" not in out.stderr


def test_refused_file_prints_report_on_stderr(write_csv):
    path = write_csv("patient_id,day,phq9_total,phq9_9,email\n001,0,12,1,a@b.org\n")
    out = run("summary", path, "--format", "json")
    assert out.returncode == 1 and out.stdout == ""
    assert "de-identified" in out.stderr and "line" in out.stderr


def test_bad_options_exit_2():
    out = run("summary", TINY, "--week", "0")
    assert out.returncode == 2 and "week=0" in out.stderr and "Traceback" not in out.stderr
    assert run("summary", TINY, "--analysis", "pp").returncode == 2


def test_episodes_and_gap_options(write_csv):
    from test_episodes import DATED, GAP
    dated = write_csv(DATED, "dated.csv")
    first = json.loads(run("summary", dated, "--format", "json").stdout)
    every = json.loads(run("summary", dated, "--format", "json", "--episodes", "all").stdout)
    assert (first["patients"], first["episodes"], first["remission"]["events"]) == (2, 2, 0)
    assert (every["patients"], every["episodes"], every["remission"]["events"]) == (2, 3, 1)
    assert every["patients_with_repeat_episodes"] == 1 and every["definitions"]["episodes"] == "all"
    assert any("not independent" in w for w in every["warnings"])
    gap = write_csv(GAP, "gap.csv")
    plain = json.loads(run("summary", gap, "--format", "json", "--episodes", "all").stdout)
    out = run("summary", gap, "--format", "json", "--episodes", "all", "--new-episode-after-days", "90")
    split = json.loads(out.stdout)
    assert plain["episodes"] == 2 and split["episodes"] == 3 and "gaps of 90 days" in out.stderr
    assert run("summary", gap, "--new-episode-after-days", "0").returncode == 2
