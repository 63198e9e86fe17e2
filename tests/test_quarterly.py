"""The quarterly export: suppression, formula safety, files, manifest, and figures equal to the engine's."""
from __future__ import annotations

import hashlib
import json

import openpyxl
import pandas as pd
import pytest

from analytics import OutcomeDefinitions, clinic_summary, load_questionnaires
from analytics.cohorts import quarter_bounds, select_patients
from analytics.errors import NoDataForQuarterError
from analytics.quarterly import INTERNAL_NOTICE, quarterly_export, write_quarterly_export
from analytics.suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE
from cli_runner import run_cli
from conftest import SAMPLE

QUARTER = "2025Q3"
HOSTILE = {"North": "=HYPERLINK(\"http://x\",\"y\")", "Central": "+SUM(A1:A9)", "Riverside": "<script>alert(1)</script>"}


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory):
    """The sample clinic with hostile site names and a three-patient site starting in the quarter."""
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    lo, hi = quarter_bounds(QUARTER)
    # patients whose first course starts in the quarter (a re-induction in it does not make one)
    starts = pd.to_datetime(raw["treatment_start_date"]).groupby(raw["patient_id"]).transform("min")
    in_q = raw.loc[starts.between(lo, hi), "patient_id"].unique()
    raw["site"] = raw["site"].map(HOSTILE)
    raw.loc[raw["patient_id"].isin(in_q[:3]), "site"] = "@Tiny"
    path = tmp_path_factory.mktemp("q") / "hostile.csv"
    raw.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def export(hostile_file):
    return quarterly_export(load_questionnaires(hostile_file), quarter=QUARTER)


@pytest.fixture(scope="module")
def files(export, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return {p.name: p for p in write_quarterly_export(export, out)}


def test_figures_equal_the_engine(hostile_file, export):
    frame = load_questionnaires(hostile_file)
    lo, hi = quarter_bounds(QUARTER)
    s = clinic_summary(select_patients(frame, start_from=lo, start_to=hi))
    raw = export.raw_summary
    own = raw[(raw["dimension"] == "overall") & (raw["benchmark_id"] == "")].set_index("metric")
    assert (own.loc["response", "n"], own.loc["response", "events"]) == (s.response.n, s.response.events)
    assert own.loc["cumulative_remission", "rate"] == pytest.approx(s.cumulative_remission.estimate)
    # every cell the suppressed summary shows is the engine's own figure
    shown = export.summary
    visible = ~shown["n"].isin([SUPPRESSED_COUNT, SUPPRESSED_VALUE])
    assert (shown.loc[visible, "n"].astype(int) == raw.loc[visible, "n"].astype(int)).all()


def test_three_patient_site_and_its_complement_are_suppressed(export):
    site = export.summary[(export.summary["dimension"] == "site") & (export.summary["benchmark_id"] == "")]
    for metric, rows in site.groupby("metric"):
        tiny = rows[rows["stratum"] == "@Tiny"].iloc[0]
        assert tiny["n"] in (SUPPRESSED_COUNT, 0), metric
        hidden = rows["n"].isin([SUPPRESSED_COUNT, SUPPRESSED_VALUE]).sum()
        assert hidden != 1, f"{metric}: a single hidden site could be recovered from the total"
        if tiny["n"] == SUPPRESSED_COUNT:
            assert "n, events" in tiny["suppressed"]


def test_no_patient_level_data_in_any_file(hostile_file, files):
    frame = load_questionnaires(hostile_file)
    ids = set(frame["patient_id"].astype(str))
    lo, hi = quarter_bounds(QUARTER)  # the reporting period itself may be named
    dates = set(frame["assessment_date"].dt.strftime("%Y-%m-%d")) - {f"{lo:%Y-%m-%d}", f"{hi:%Y-%m-%d}"}
    text = files["summary.csv"].read_text(encoding="utf-8-sig") + files[f"report_{QUARTER}.html"].read_text()
    cells = {str(c.value) for ws in openpyxl.load_workbook(files[f"outcomes_{QUARTER}.xlsx"]) for row in ws.iter_rows()
             for c in row if c.value is not None}
    assert not ids & cells and not dates & cells
    tokens = set(pd.Series(text.replace(",", " ").replace("<", " ").replace(">", " ").split()).unique())
    assert not ids & tokens and not dates & tokens


def test_formulas_are_neutralised_and_html_escaped(files):
    csv = pd.read_csv(files["summary.csv"], dtype=str, encoding="utf-8-sig")
    strata = set(csv["stratum"])
    assert "'" + HOSTILE["North"] in strata and "'" + HOSTILE["Central"] in strata and "'@Tiny" in strata
    assert not any(s.startswith(("=", "+", "-", "@")) for s in strata)
    wb = openpyxl.load_workbook(files[f"outcomes_{QUARTER}.xlsx"])
    for ws in wb:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    assert c.data_type == "s" and not c.value.startswith(("=", "+", "@")), (ws.title, c.value)
    html = files[f"report_{QUARTER}.html"].read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_workbook_sheet_by_sheet(files, export):
    wb = openpyxl.load_workbook(files[f"outcomes_{QUARTER}.xlsx"])
    assert wb.sheetnames == ["Summary", "Outcomes", "Published comparisons", "Trend", "Safety",
                             "Volume and completeness", "Quality measures", "Definitions"]
    header = [c.value for c in wb["Outcomes"][1]]
    assert header[:6] == ["Grouped by", "Group", "Outcome", "Patients (n)", "Reached it (events)", "Rate"]
    assert header[-1] == "Status"
    assert wb["Outcomes"].max_row == (export.summary["benchmark_id"] == "").sum() + 1
    # the trend starts at the clinic's first patient (October 2024), not eight quarters back
    trend_quarters = [r[0].value for r in wb["Trend"].iter_rows(min_row=2)]
    assert trend_quarters[0] == "2024Q4" and trend_quarters[-1] == QUARTER and len(set(trend_quarters)) == 4
    defs = {r[0].value: r[1].value for r in wb["Definitions"].iter_rows(min_row=2)}
    assert defs["Quarter"] == QUARTER and defs["Small cell suppression"] == "True" and "Spec v2" in defs["Methods"]
    measures = [r[0].value for r in wb["Quality measures"].iter_rows(min_row=2)]
    assert measures[0].startswith("Remission at 12 months")


def test_empty_quarters_before_the_first_patient_are_left_out(hostile_file):
    frame = load_questionnaires(hostile_file)
    first = quarterly_export(frame, quarter="2024Q4")
    assert set(first.trend["quarter"]) == {"2024Q4"}
    assert (first.headline["previous_quarter"] == "").all()
    later = quarterly_export(frame, quarter="2026Q3")  # eight quarters back from 2026Q3 is 2024Q4
    assert list(dict.fromkeys(later.trend["quarter"]))[0] == "2024Q4" and later.trend["quarter"].nunique() == 8


def test_manifest_and_cli(hostile_file, tmp_path):
    out = run_cli("export", "--quarter", QUARTER, hostile_file, "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / QUARTER
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["sha256"] == hashlib.sha256(hostile_file.read_bytes()).hexdigest()
    assert manifest["files"] == ["summary.csv", f"outcomes_{QUARTER}.xlsx", f"report_{QUARTER}.html"]
    assert manifest["small_cell_suppression"] is True and manifest["parameters"]["week"] == 6
    assert manifest["software_version"] and manifest["generated_at"]


def test_no_suppression_is_marked_internal_everywhere(hostile_file, tmp_path):
    export = quarterly_export(load_questionnaires(hostile_file), quarter=QUARTER, suppression=False)
    files = {p.name: p for p in write_quarterly_export(export, tmp_path)}
    assert set(files) == {"summary_INTERNAL.csv", f"outcomes_{QUARTER}_INTERNAL.xlsx",
                          f"report_{QUARTER}_INTERNAL.html", "manifest.json"}
    csv = pd.read_csv(files["summary_INTERNAL.csv"], dtype=str, encoding="utf-8-sig")
    assert (csv["notice"] == INTERNAL_NOTICE).all() and SUPPRESSED_COUNT not in set(csv["n"])
    assert INTERNAL_NOTICE.startswith("INTERNAL — not for release")
    wb = openpyxl.load_workbook(files[f"outcomes_{QUARTER}_INTERNAL.xlsx"])
    assert all(ws["A1"].value == INTERNAL_NOTICE for ws in wb)
    assert files[f"report_{QUARTER}_INTERNAL.html"].read_text().count(INTERNAL_NOTICE) >= 2
    assert json.loads(files["manifest.json"].read_text())["notice"] == INTERNAL_NOTICE


def test_empty_and_malformed_quarters(hostile_file):
    frame = load_questionnaires(hostile_file)
    with pytest.raises(NoDataForQuarterError, match="no patient started treatment in 2019Q1"):
        quarterly_export(frame, quarter="2019Q1")
    run = lambda *a: run_cli("export", *a)  # noqa: E731
    empty = run("--quarter", "2019Q1", str(hostile_file))
    assert empty.returncode == 1 and "no patient started treatment" in empty.stderr and "Traceback" not in empty.stderr
    bad = run("--quarter", "Q3-2026", str(hostile_file))
    assert bad.returncode == 2 and "2026Q3" in bad.stderr


def test_definitions_reach_the_export(hostile_file):
    e = quarterly_export(load_questionnaires(hostile_file), quarter=QUARTER,
                         definitions=OutcomeDefinitions(week=8, analysis="itt"))
    assert e.manifest["parameters"]["week"] == 8 and e.manifest["parameters"]["analysis"] == "itt"
    assert e.summary["label"].str.contains("week 8").any()


def test_manifest_names_inputs_by_hash_only(tmp_path):
    """A file name can carry a name or a birth date: no manifest, report or table repeats it, nor the folder."""
    folder = tmp_path / "Doe_Jane"
    folder.mkdir()
    source = folder / "Jane_Doe_DOB_1961-04-17.csv"
    source.write_bytes(SAMPLE.read_bytes())
    db = tmp_path / "Smith_store.sqlite"
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert run_cli("import", source, "--db", db).returncode == 0
    for name, args in (("file", [str(source)]), ("store", ["--db", str(db)])):
        out_dir = tmp_path / name
        out = run_cli("export", "--quarter", QUARTER, *args, "--out", out_dir)
        assert out.returncode == 0, out.stderr
        manifest = json.loads((out_dir / QUARTER / "manifest.json").read_text())
        assert manifest["source"]["kind"] == name and digest in json.dumps(manifest["source"])
        for written in (out_dir / QUARTER).iterdir():
            text = written.read_bytes().decode("latin-1")
            for leak in ("Jane", "Doe_", "1961-04-17", "Smith_store", str(tmp_path)):
                assert leak not in text, (written.name, leak)
