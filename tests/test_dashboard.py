"""Dashboard under Streamlit's AppTest: every page runs, controls change the numbers (checked against the engine)."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import OutcomeDefinitions, clinic_summary, load_questionnaires, patient_outcomes, rate_table
from analytics.activity import activity_summary
from analytics.cohorts import quarter_bounds, select_patients
from analytics.definitions import LOST_TO_FOLLOW_UP_DAYS
from analytics.safety import safety_worklist
from conftest import ROOT, SAMPLE, TINY

PAGES = ["overview", "patient", "safety", "tolerability", "trajectories", "research", "export", "data"]


pytestmark = pytest.mark.usefixtures("without_clinic_store")


@pytest.fixture(scope="module")
def sample():
    return load_questionnaires(SAMPLE)


def app(monkeypatch, data=None, page="overview"):
    if data is not None:
        monkeypatch.setenv("OUTCOMES_DATA", str(data))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def outcome_cell(at, outcome, column):
    return at.dataframe[0].value.set_index("Outcome").loc[outcome, column]


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_with_its_controls(monkeypatch, page):
    at = app(monkeypatch, page=page)
    assert not at.exception, at.exception
    assert any("Synthetic sample data" in i.value for i in at.info)
    keys = {w.key for w in at.sidebar.selectbox} | {w.key for w in at.sidebar.number_input} | \
        {w.key for w in at.sidebar.multiselect}
    assert {"source", "period", "analysis", "week", "window", "min_baseline", "filter_site", "filter_clinician",
            "filter_protocol"} <= keys
    assert any("clinical advice" in c.value for c in at.caption)


def test_overview_matches_engine(monkeypatch, sample):
    at = app(monkeypatch)
    s = clinic_summary(sample)
    assert outcome_cell(at, "Response", "n") == s.response.n
    assert outcome_cell(at, "Response", "Rate") == f"{s.response.estimate:.1%}"
    assert outcome_cell(at, "Remission reached by week", "Events") == s.cumulative_remission.events
    a = activity_summary(sample, patient_outcomes(sample))
    assert metric(at, "Patients treated") == str(a.patients_treated)
    assert metric(at, "Any follow-up") == f"{a.completeness.estimate:.1%}"
    assert any("Spec v2" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 4 and not at.get("plotly_chart")  # the Overview draws no plotly


def test_filters_and_definitions_change_the_numbers(monkeypatch, sample):
    at = app(monkeypatch)
    before = outcome_cell(at, "Response", "n")
    at.sidebar.multiselect(key="filter_site").set_value(["North"]).run()
    at.selectbox(key="analysis").set_value("itt").run()
    assert not at.exception
    north = select_patients(sample, site=["North"])
    expected = clinic_summary(north, definitions=OutcomeDefinitions(analysis="itt"))
    assert outcome_cell(at, "Response", "n") == expected.response.n != before
    assert outcome_cell(at, "Response", "Events") == expected.response.events
    lo, hi = quarter_bounds("2025Q2")
    at.selectbox(key="period").set_value("2025Q2").run()
    at.number_input(key="min_baseline").set_value(15).run()
    expected = clinic_summary(select_patients(sample, site=["North"], start_from=lo, start_to=hi),
                              definitions=OutcomeDefinitions(analysis="itt", min_baseline=15))
    assert outcome_cell(at, "Remission", "n") == expected.remission.n
    assert outcome_cell(at, "Remission", "Events") == expected.remission.events
    assert any("2025Q2" in c.value and "site: North" in c.value for c in at.caption)


def test_empty_state_explains_what_to_do(monkeypatch, sample):
    at = app(monkeypatch)
    north_clinicians = set(select_patients(sample, site=["North"])["clinician"].astype(str))
    other = sorted(set(sample["clinician"].astype(str)) - north_clinicians)[0]
    at.sidebar.multiselect(key="filter_site").set_value(["North"]).run()
    at.sidebar.multiselect(key="filter_clinician").set_value([other]).run()
    assert not at.exception
    assert "No patients match these filters" in at.warning[0].value
    assert not at.dataframe


def test_no_data_is_shown_as_no_data(monkeypatch):
    at = app(monkeypatch, TINY)
    at.number_input(key="week").set_value(5).run()
    at.number_input(key="window").set_value(0).run()
    at.number_input(key="min_baseline").set_value(13).run()
    assert not at.exception
    assert outcome_cell(at, "Response", "Rate") == "no data" and outcome_cell(at, "Response", "n") == 0
    assert any("no calendar dates" in i.value for i in at.info)


def test_patient_page_shows_engine_outcome(monkeypatch, sample):
    at = app(monkeypatch, page="patient")
    pid = at.selectbox(key="patient").value
    p = patient_outcomes(sample).set_index("patient_id").loc[pid]
    assert metric(at, "Baseline PHQ-9") == str(int(p["baseline_total"]))
    assert metric(at, "Endpoint (week 6)") == str(int(p["endpoint_total"]))
    chosen = next(x for x in patient_outcomes(sample)["patient_id"] if x != pid)
    at.selectbox(key="patient").set_value(chosen).run()
    assert not at.exception and at.selectbox(key="patient").value == chosen
    assert len(at.get("plotly_chart")) >= 1


def test_patient_page_finds_a_patient_by_searching(monkeypatch, sample):
    """A registry's 100,000 pseudonyms are not sent as one list: a search box narrows it; an exact pseudonym opens
    that patient; a search matching nobody says so and keeps the list."""
    at = app(monkeypatch, page="patient")
    everyone = list(at.selectbox(key="patient").options)
    assert len(everyone) == sample["patient_id"].nunique()  # the sample's 599 fit in one list
    wanted = everyone[len(everyone) // 2]
    at.text_input(key="patient_search").input(wanted[:3]).run()
    assert not at.exception, at.exception
    narrowed = list(at.selectbox(key="patient").options)
    assert narrowed == [p for p in everyone if wanted[:3] in p]  # fullest courses first, as the whole list
    at.text_input(key="patient_search").input(wanted).run()
    assert at.selectbox(key="patient").value == wanted
    p = patient_outcomes(sample).assign(patient_id=lambda t: t["patient_id"].astype(str)).set_index("patient_id")
    assert metric(at, "Baseline PHQ-9") == str(int(p.loc[wanted, "baseline_total"]))
    at.text_input(key="patient_search").input("no such patient").run()
    assert any("No patient in this cohort matches" in w.value for w in at.warning)
    assert at.selectbox(key="patient").value == wanted and len(at.selectbox(key="patient").options) == len(everyone)


def test_safety_page_lists_engine_worklist(monkeypatch, sample):
    at = app(monkeypatch, page="safety")
    assert not at.exception, at.exception
    expected = safety_worklist(sample, lost_after_days=LOST_TO_FOLLOW_UP_DAYS)
    table = at.dataframe[0].value
    assert list(table["Patient"]) == list(expected["patient_id"].astype("str"))
    assert list(table["Why listed"]) == list(expected["reason"])
    assert "not an alerting service" in at.warning[0].value
    assert metric(at, "To review") == str(len(expected))
    assert metric(at, "New SI during treatment") == str(int(expected["new_si"].sum()))
    assert table["Patient page"].iloc[0] == f"patient?patient={expected['patient_id'].iloc[0]}"


def test_safety_review_flow(monkeypatch, tmp_path, sample):
    """Mark a patient reviewed: kept in the store, audited, off the to-review list, back when the gap changes nothing."""
    from analytics.audit import list_audit
    from analytics.reviews import list_reviews

    db = tmp_path / "reviews.sqlite"
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    at = app(monkeypatch, page="safety")
    first = at.dataframe[0].value["Patient"].iloc[0]
    assert at.selectbox(key="review_patient").value == first
    at.button(key="mark_reviewed").click().run()  # no note: refused, nothing written
    assert any("needs a note" in e.value for e in at.error) and list_reviews(db).empty
    at.text_area(key="review_note").input("called, safety plan reviewed").run()
    at.button(key="mark_reviewed").click().run()
    assert not at.exception, at.exception
    assert any(f"Patient {first} marked reviewed" in s.value for s in at.success)
    reviews = list_reviews(db)
    assert list(reviews["patient_id"]) == [first] and reviews["note"].iloc[0] == "called, safety plan reviewed"
    assert reviews["data_source"].iloc[0].startswith("sha256:")
    assert list(list_audit(db)["action"]) == ["safety review"]
    assert first not in list(at.dataframe[0].value["Patient"])  # hidden once reviewed
    assert at.selectbox(key="review_patient").value == at.dataframe[0].value["Patient"].iloc[0]  # the next one
    assert metric(at, "To review") == str(len(safety_worklist(sample)) - 1)
    at.toggle(key="hide_reviewed").set_value(False).run()
    shown = at.dataframe[0].value.set_index("Patient")
    assert shown.loc[first, "Reviewed"] == "yes" and shown.loc[first, "Review note"] == "called, safety plan reviewed"
    # a stricter gap changes who is lost to follow-up, not the review
    at.number_input(key="lost_after").set_value(7).run()
    assert not at.exception and at.dataframe[0].value.set_index("Patient").loc[first, "Reviewed"] == "yes"


def test_patient_page_opens_the_linked_patient(monkeypatch, sample):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.run()
    wanted = str(safety_worklist(sample)["patient_id"].iloc[3])
    at.query_params["patient"] = wanted
    at.switch_page("app_pages/patient.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="patient").value == wanted


def test_trajectories_and_data_pages(monkeypatch):
    at = app(monkeypatch, page="trajectories")
    assert not at.exception and len(at.dataframe) >= 2  # baseline band, site, protocol tables
    at = app(monkeypatch, page="data")
    assert not at.exception
    checks = at.dataframe[-2].value if len(at.dataframe) > 1 else at.dataframe[0].value
    assert "Check" in checks.columns and "Incomplete questionnaires" in set(checks["Check"])


def test_refused_file_shows_error_table(monkeypatch, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,day,phq9_total,phq9_9,email\n001,0,12,1,a@b.org\n")
    at = app(monkeypatch, bad)
    assert not at.exception and "refused" in at.error[0].value
    problems = at.dataframe[0].value
    assert list(problems.columns) == ["Line", "Column", "Value", "Problem"] and problems.iloc[0]["Column"] == "email"


def test_unreadable_file_is_a_message_not_a_traceback(monkeypatch, tmp_path):
    at = app(monkeypatch, tmp_path / "missing.csv")
    assert not at.exception and "could not be read" in at.error[0].value


def test_dashboard_reads_the_store_when_it_holds_data(monkeypatch, store_db):
    from analytics.store import import_questionnaires

    db = store_db  # an SQLite file, then a PostgreSQL database (tests/pg_fixtures.py)
    import_questionnaires(TINY, db=db)
    monkeypatch.setenv("OUTCOMES_DB", str(db))
    at = app(monkeypatch)
    assert not at.exception
    assert at.selectbox(key="source").value == "store"
    assert not any("Synthetic" in i.value for i in at.info)
    assert any("clinic store" in c.value for c in at.caption)
    expected = clinic_summary(load_questionnaires(TINY))
    assert outcome_cell(at, "Response", "n") == expected.response.n == 4


def test_export_page_builds_the_four_files(monkeypatch):
    at = app(monkeypatch, page="export")
    quarter = at.selectbox(key="export_quarter").value
    for pdf in [c for c in at.checkbox if c.key == "export_pdf"]:  # the PDF: tests/test_quarterly_export_page.py
        pdf.uncheck()
    at.button(key="build_export").click().run()
    assert not at.exception
    names = [b.label for b in at.get("download_button")]
    audit = "Download the audit list (CSV)"  # the director's patient-level quality list, not an export file
    assert [n for n in names if n != audit] == ["summary.csv", f"outcomes_{quarter}.xlsx", f"report_{quarter}.html",
                                                "manifest.json"]
    assert audit in names
    shown = next(df.value for df in at.dataframe if "In the denominator" in df.value.columns)
    assert shown["Measure"].str.startswith("Remission at 12 months").any()
    at.checkbox(key="export_internal").check().run()
    at.button(key="build_export").click().run()
    assert any("INTERNAL" in e.value for e in at.error)


def test_research_page_matches_engine_and_saves_a_cohort(monkeypatch, sample, tmp_path):
    from analytics.comparisons import compare_rates
    from analytics.store import list_cohorts

    at = app(monkeypatch, page="research")
    at.selectbox(key="research_by").set_value("protocol").run()
    at.selectbox(key="research_metric").set_value("remission").run()
    assert not at.exception
    expected = compare_rates(patient_outcomes(sample), by="protocol", metric="remission")
    shown = at.dataframe[0].value.set_index("Group")
    for row in expected["rates"].itertuples():
        assert shown.loc[row.protocol, "n"] == row.n and shown.loc[row.protocol, "Events"] == row.events
    assert any(expected["test"] in c.value for c in at.caption)
    # number at risk: units followed to at least each day, from the engine (not the last event's count)
    from analytics.comparisons import compare_time_to_event
    tte = compare_time_to_event(patient_outcomes(sample), by="protocol", metric="remission")
    risk = next(df.value for df in at.dataframe if "day 0" in df.value.columns).set_index("Group")
    for row in tte["at_risk"].itertuples():
        assert risk.loc[row.group, f"day {row.day}"] == row.at_risk
    assert any(c.value.startswith("Omnibus log-rank") for c in at.caption)
    at.sidebar.multiselect(key="filter_site").set_value(["North"]).run()
    at.text_input(key="cohort_name").input("north only").run()
    at.button(key="save_cohort").click().run()
    assert not at.exception and "Saved cohort 'north only'" in at.success[-1].value
    saved = list_cohorts(tmp_path / "no-store.sqlite").set_index("name")
    assert saved.loc["north only", "definition"] == '{"site": ["North"]}'
    # on the page, a saved cohort's definition reads as a sentence, not a Python dict
    at.run()
    shown = next(df.value for df in at.dataframe if "Definition" in df.value.columns).set_index("Name")
    assert shown.loc["north only", "Definition"] == "Patients with site North."
    assert any("define the cohort: Patients with site North." in c.value for c in at.caption)


def test_research_page_compares_saved_cohorts(monkeypatch, sample, tmp_path):
    from analytics.cohorts import apply_cohort
    from analytics.store import save_cohort

    db = tmp_path / "no-store.sqlite"
    save_cohort("north", {"site": ["North"]}, fingerprint="x", db=db)
    save_cohort("severe", {"baseline_band": ["severe (20-27)"]}, fingerprint="x", db=db)
    at = app(monkeypatch, page="research")
    at.selectbox(key="research_by").set_value("cohort").run()
    assert not at.exception
    p = patient_outcomes(sample)
    north = apply_cohort(sample, p, {"site": ["North"]})
    shown = at.dataframe[0].value.set_index("Group")
    assert shown.loc["north", "n"] == int(north["response"].notna().sum())
    assert any("more than one of these cohorts" in w.value for w in at.warning)  # severe North patients overlap


def test_overview_comparison_says_why_and_how_uncertain(monkeypatch):
    at = app(monkeypatch)
    table = next(df.value for df in at.dataframe if "Published figure" in df.value.columns)
    # named by author and year, never by the library id
    assert not table["Published figure"].str.contains(r"\d{4}-|-6w", regex=True).any()
    week6 = "within 6 weeks of the first infusion"
    row = table.set_index(["Published figure", "Outcome", "Published timepoint"]).loc[
        ("Oliver 2022", "Response reached by week", week6)]
    assert row["Like for like"] == "yes" and row["p"].startswith("p ")
    assert "floor" in row["Published figure's uncertainty"] and "censoring rule" in row["In plain language"]
    other = table.set_index(["Published figure", "Outcome"]).loc[("McInnes 2022", "Response")]
    assert other["p"] == "" and other["95% CI of difference"] == ""
    assert "Not like for like, so no test" in other["In plain language"]
    at.sidebar.multiselect(key="filter_site").set_value(["North"]).run()
    table = next(df.value for df in at.dataframe if "Published figure" in df.value.columns)
    assert (table["Like for like"] == "no").all() and (table["p"] == "").all()
    assert "site 'North'" in table.set_index(["Published figure", "Outcome", "Published timepoint"]).loc[
        ("Oliver 2022", "Response reached by week", week6), "In plain language"]


EPISODES_CSV = """patient_id,assessment_date,treatment_start_date,infusion_number,phq9_total,phq9_9
A,2024-12-20,,1,21,2
A,2025-01-01,2025-01-01,1,20,2
A,2025-01-05,2025-01-01,2,15,1
A,2025-02-12,,,8,0
A,2025-05-10,,,18,1
A,2025-06-01,2025-06-01,1,17,1
A,2025-07-13,2025-06-01,,4,0
B,2025-03-01,,1,15,0
B,2025-03-04,,2,12,0
B,2025-04-12,,,6,0
"""


def test_patient_page_shows_every_episode_on_one_axis(monkeypatch, tmp_path):
    data = tmp_path / "episodes.csv"
    data.write_text(EPISODES_CSV)
    at = app(monkeypatch, data=data, page="patient")
    assert not at.exception, at.exception
    at.selectbox(key="patient").set_value("A").run()
    assert not at.exception, at.exception
    table = next(t.value for t in at.dataframe if "Episode" in t.value.columns)
    # episode 1: 20 -> 8 (response); episode 2: baseline 17 (day 0, after the day -22 screening), 4: remission
    assert table["Outcome"].tolist() == ["response", "remission"]
    assert str(table["Days since previous start"].tolist()[1]) == "151"
    assert metric(at, "Baseline PHQ-9") == "20"  # the first episode by default
    at.selectbox(key="episodes").set_value("latest").run()
    assert metric(at, "Baseline PHQ-9") == "17" and metric(at, "Outcome") == "remission"
    assert any("episode" in c.value and "baseline windows" in c.value for c in at.caption)


def test_overview_shows_reinductions_and_infusion_counts(monkeypatch, tmp_path):
    data = tmp_path / "episodes.csv"
    data.write_text(EPISODES_CSV)
    at = app(monkeypatch, data=data)
    assert not at.exception, at.exception
    assert metric(at, "Patients with a second episode") == "50.0%"  # A of A and B
    assert metric(at, "Median time to the second episode") == "151 days"
    assert metric(at, "Response: second vs first episodes") == "100.0% vs 100.0%"
    inf = next(t.value for t in at.dataframe if "Oliver 2022" in t.value.columns)
    assert inf["Like for like"].eq("no").all() and inf["Oliver 2022"].tolist() == ["72%", "38%", "half"]
    assert any("infusion_number - 1" in c.value for c in at.caption)
    at.selectbox(key="episodes").set_value("all").run()
    assert not at.exception
    assert any("not independent" in w.value for w in at.warning)


# ----------------------------------------------------------------------------- text from data is plain text

HOSTILE = {"site": {"North": "<b>x</b>"}, "clinician": {"CL01": "**bold**"},
           "protocol": {"IV 6 over 21 days": "[link](http://evil)"}}


@pytest.fixture(scope="module")
def hostile_csv(tmp_path_factory):
    import pandas as pd

    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    for column, names in HOSTILE.items():
        frame[column] = frame[column].replace(names)
    path = tmp_path_factory.mktemp("hostile") / "hostile_clinic.csv"
    frame.to_csv(path, index=False)
    return path


def markdown_texts(at) -> list[str]:
    """Every text the page renders as markdown (captions, markdown, alerts, headings, status labels)."""
    out = []
    for kind in ("caption", "markdown", "error", "warning", "info", "success", "title", "subheader", "header"):
        out += [str(e.value) for e in at.get(kind)]
        out += [str(e.value) for e in at.sidebar.get(kind)]
    return out


def shows_raw(text: str) -> bool:
    return any(raw in text for names in HOSTILE.values() for raw in names.values())


@pytest.mark.parametrize("page", ["overview", "safety", "trajectories", "research", "data"])
def test_names_from_the_data_are_never_markdown(monkeypatch, hostile_csv, page):
    at = app(monkeypatch, data=hostile_csv, page=page)
    for column, names in HOSTILE.items():
        at.sidebar.multiselect(key=f"filter_{column}").set_value(list(names.values())).run()
    assert not at.exception, at.exception
    texts = markdown_texts(at)
    assert not [t for t in texts if shows_raw(t)]
    # the cohort caption names them, escaped so markdown shows them exactly as written
    assert any(r"\<b\>x\</b\>" in t and r"\*\*bold\*\*" in t and r"\[link\]\(http://evil\)" in t for t in texts)


def test_chart_legends_and_hover_text_from_data_are_escaped(monkeypatch, hostile_csv):
    import json

    at = app(monkeypatch, data=hostile_csv, page="research")
    at.selectbox(key="research_by").set_value("site").run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [t.get("name") for s in specs for t in s["data"] if t.get("name")]
    assert "&lt;b&gt;x&lt;/b&gt;" in names and "<b>x</b>" not in names


def test_a_cohort_name_is_shown_as_written(monkeypatch, tmp_path):
    at = app(monkeypatch, page="research")
    at.text_input(key="cohort_name").input("**big** [here](http://evil)").run()
    at.button(key="save_cohort").click().run()
    assert not at.exception
    message = at.success[-1].value
    assert r"\*\*big\*\* \[here\]\(http://evil\)" in message and "**big**" not in message


def test_plain_and_chart_text_escape_every_special_character():
    from app_pages.common import chart_text, plain

    assert plain("<b>x</b> & **y** _z_ `c` [l](u) $x$ :red[t] ~~s~~ a|b") == (
        r"\<b\>x\</b\> \& \*\*y\*\* \_z\_ \`c\` \[l\]\(u\) \$x\$ :red\[t\] \~\~s\~\~ a\|b")
    assert plain("two\nlines") == "two lines"
    assert [plain(t) for t in ("# h", "- item", "+ item", "12. item", "3) item", "x. y")] == [
        r"\# h", r"\- item", r"\+ item", r"12\. item", r"3\) item", "x. y"]
    assert chart_text("<a href='x'>A & B</a>") == "&lt;a href='x'&gt;A &amp; B&lt;/a&gt;"


# ------------------------------------------------------------------------- plain language on every page

CODE_CELLS = {"None", "nan", "NaN", "<NA>", "NaT", "True", "False"}


def _code_style(header) -> bool:
    """``start_quarter``, ``diff_ci_low``, ``C(group)[T.Westlake]``, ``events``: a name from the code."""
    h = str(header)
    return "_" in h or h.startswith("C(") or (h.isidentifier() and h.islower() and h not in {"n", "p"})


def _walk(monkeypatch, page):
    at = app(monkeypatch, page=page)
    if page == "export":
        at.button(key="build_export").click().run()
    if page == "research":
        for by in ("protocol", "site"):
            at.selectbox(key="research_by").set_value(by).run()
    return at


@pytest.mark.parametrize("page", [*PAGES, "glossary"])
def test_no_table_shows_code_headers_or_code_values(monkeypatch, page):
    """Walk every page on the sample clinic: no dataframe shows None/nan/True/False or a code-style header."""
    at = _walk(monkeypatch, page)
    assert not at.exception, at.exception
    for df in at.dataframe:
        frame = df.value
        headers = [h for h in frame.columns if _code_style(h)]
        assert not headers, f"{page}: code-style headers {headers}"
        cells = set(frame.astype(str).to_numpy().ravel())
        assert not cells & CODE_CELLS, f"{page}: {cells & CODE_CELLS} in a table with columns {list(frame.columns)}"
        # rates read as percentages, never 0.1875
        for col in frame.columns:
            if str(col).startswith(("Rate", "95% CI")) and frame[col].dtype.kind == "f":
                raise AssertionError(f"{page}: {col} is a bare fraction")


def test_overview_headline_cards(monkeypatch, sample):
    at = app(monkeypatch)
    s = clinic_summary(sample)
    headline = [m for m in at.markdown if "— published:" in m.value]
    assert len(headline) == 3
    rem = next(m.value for m in headline if "Remission by week 6" in m.value)
    assert f"{s.cumulative_remission.estimate:.1%}" in rem and f"of {s.cumulative_remission.n} patients" in rem
    assert "20% (Oliver 2022, 424 patients)" in rem and "oliver2022" not in rem
    assert metric(at, "Remission by week 6") == f"{s.cumulative_remission.estimate:.1%}"
    # the other counts are one click away, each with a sentence saying how it differs
    expanders = [e for e in at.expander if e.label == "Other ways to count this"]
    assert len(expanders) == 3
    text = " ".join(m.value for m in expanders[1].markdown)
    assert "Completers only" in text and "intention to treat" in text and "carried forward" in text
    assert f"{s.remission.estimate:.1%}" in text  # completers, the default mode
    # every figure keeps its n, definition, mode and spec version in the caption
    assert sum("spec v2" in c.value and "n = " in c.value for c in at.caption) >= 3
    # completeness as a director means it, beside "any follow-up"
    from analytics.activity import endpoint_completeness
    c = endpoint_completeness(patient_outcomes(sample))
    assert metric(at, "Measured at week 6") == f"{c.estimate:.1%}"


def test_headline_no_data_is_no_data(monkeypatch):
    at = app(monkeypatch, TINY)
    at.number_input(key="min_baseline").set_value(27).run()
    assert not at.exception
    assert metric(at, "Remission by week 6") == "no data"
    assert not any(re.search(r"(?<![\d.])0\.0% \(95% CI", m.value) for m in at.markdown)


def test_glossary_page_explains_the_terms(monkeypatch):
    from analytics.wording import GLOSSARY

    at = app(monkeypatch, page="glossary")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for term in GLOSSARY:
        assert term in text


def test_small_quarters_are_hollow_markers(monkeypatch, sample):
    """The quarters chart as the browser receives it: a hollow marker labelled with its n for every small quarter,
    and no small quarter on its outcome's line (the expected quarters computed here from the engine's table)."""
    import json

    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    from analytics.definitions import SMALL_CELL_MAX

    at = app(monkeypatch)
    chart = next(c for c in at.get("vega_lite_chart") if "Quarter of treatment start" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    data = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets}
    layers = [(layer, data[layer.get("data", spec.get("data", {})).get("name")]) for layer in spec["layer"]]

    def kind(layer):
        return layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]

    hollow = [rows for layer, rows in layers if kind(layer) == "point" and layer["mark"].get("filled") is False]
    lines = [rows for layer, rows in layers if kind(layer) == "line"]
    labels = [rows for layer, rows in layers if kind(layer) == "text"]
    from analytics.cohorts import patient_start_dates, quarter_of

    patients = patient_outcomes(sample)
    starts = patient_start_dates(sample).reindex(patients["patient_id"]).to_numpy()
    patients["start_quarter"] = quarter_of(pd.Series(starts)).to_numpy()
    by_q = rate_table(patients.dropna(subset=["start_quarter"]), by="start_quarter")
    small = by_q[(by_q["n"] <= SMALL_CELL_MAX) & by_q["rate"].notna()]
    assert len(hollow) == 1 and len(lines) == 1 and len(labels) == 1
    assert sorted(zip(hollow[0]["series"], hollow[0]["start_quarter"])) == sorted(
        zip(small["label"], small["start_quarter"].astype(str))) != []
    assert all(text.startswith("n = ") for text in labels[0]["label"])
    # no small quarter sits on its outcome's line; every other quarter with a rate does
    on_line = set(zip(lines[0]["series"], lines[0]["start_quarter"]))
    shown = by_q[(by_q["n"] > SMALL_CELL_MAX) & by_q["rate"].notna()]
    assert on_line == set(zip(shown["label"], shown["start_quarter"].astype(str)))
    assert lines[0]["series"].nunique() == 3


def _spec(at, needle):
    import json

    return json.loads(next(c for c in at.get("plotly_chart") if needle in c.proto.spec).proto.spec)


def test_waterfall_legend_explains_its_colours(monkeypatch, sample):
    at = app(monkeypatch, page="trajectories")
    assert not at.exception
    chart = _spec(at, "Change from baseline")
    names = [t["name"] for t in chart["data"]]
    p = patient_outcomes(sample)
    change = p.loc[p["eligible"] & p["change_pct"].notna(), "change_pct"]
    assert names == [f"Response (fall of 50% or more): {int((change <= -0.5).sum())}",
                     f"Improved, less than 50%: {int(((change > -0.5) & (change < 0)).sum())}",
                     f"No change or worse: {int((change >= 0).sum())}"]
    assert any("Green: response" in c.value and "orange-red: no change or worse" in c.value for c in at.caption)


def test_patient_chart_labels_do_not_share_a_corner(monkeypatch):
    """Band labels sit inside left, remission bottom right at y 4.5; window and episode labels along the top,
    each anchored on its own edge, so no two labels are drawn at the same place."""
    at = app(monkeypatch, page="patient")
    chart = _spec(at, "PHQ-9 total (0-27)")
    labels = [a for a in chart["layout"]["annotations"] if a.get("text")]
    anchors = [(a.get("x"), a.get("y"), a.get("xref"), a.get("yref"), a.get("xanchor"), a.get("yanchor"))
               for a in labels]
    assert len(anchors) == len(set(anchors)), labels
    top = [a for a in labels if a["text"] in ("baseline", "week 6") or a["text"].startswith("episode")]
    assert all(a.get("yanchor") == "top" or a.get("y") == 1 for a in top), top
    # the episode label runs up its line: no width along the axis to collide with the week label
    assert all(a.get("textangle") == -90 for a in top if a["text"].startswith("episode"))


def test_severity_bands_sort_by_severity(monkeypatch):
    at = app(monkeypatch, page="trajectories")
    table = next(df.value for df in at.dataframe if "Baseline severity" in df.value.columns)
    order = ["minimal", "mild", "moderate", "moderately severe", "severe"]
    shown = [b.split(" (")[0] for b in table["Baseline severity"]]
    assert shown == [b for b in order if b in shown] and len(shown) >= 3
    assert (table["Response"].str.contains("%") | (table["Response"] == "no data")).all()  # "54% (38/70)", never 0.54


@pytest.mark.parametrize("filters", [{"site": ["North"]}, {"clinician": ["CL01", "CL02"], "protocol": ["IV 6 over 21 days"]},
                                     {"start_from": "2025-01-01", "start_to": "2025-06-30"}])
@pytest.mark.parametrize("d", [OutcomeDefinitions(), OutcomeDefinitions(analysis="locf", episodes="all", week=4)])
def test_a_filtered_cohorts_outcomes_are_the_source_tables_rows(sample, filters, d):
    # why the dashboard selects rows of the whole source's outcome table on a filter change: a patient's rows
    # depend on that patient's questionnaires only, so the table is the same frame as one computed afresh
    cohort = select_patients(sample, **filters)
    assert 0 < cohort["patient_id"].nunique() < sample["patient_id"].nunique()
    whole = patient_outcomes(sample, definitions=d)
    rows = whole[whole["patient_id"].isin(cohort["patient_id"].astype("str").unique())].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, patient_outcomes(cohort, definitions=d))


def test_overview_computes_each_outcome_table_once(monkeypatch):
    # the Overview used to compute the outcome table seven times per change (summary, three headline modes,
    # re-inductions, the cohort); now once per analysis mode and episode choice (and once more with the
    # attribute columns, per episode choice), whatever the filters
    import analytics.episodes
    import analytics.headline
    import analytics.outcome_cache
    import analytics.outcomes
    import analytics.summary
    import app_pages.common

    from analytics.questionnaire_schema import reserved_columns
    reserved_columns()  # validation asks the engine for its column names once per process: not a table counted here
    calls = []
    real = analytics.outcomes.patient_outcomes

    def counted(frame, *, definitions=None, **kwargs):
        calls.append((definitions.analysis, definitions.episodes))
        return real(frame, definitions=definitions, **kwargs)

    for module in (analytics.outcomes, analytics.headline, analytics.summary, analytics.outcome_cache,
                   app_pages.common):
        monkeypatch.setattr(module, "patient_outcomes", counted)
    from app_pages.common import clear_caches
    clear_caches()
    at = app(monkeypatch)
    assert not at.exception, at.exception
    assert sorted(calls) == [("completer", "all"), ("completer", "first"), ("completer", "first"),
                             ("itt", "first"), ("locf", "first")]
    calls.clear()
    at.sidebar.multiselect(key="filter_site").set_value(["North"]).run()
    assert not at.exception and calls == []  # a filter selects rows of the tables computed once
    at.sidebar.selectbox(key="analysis").set_value("itt").run()
    assert not at.exception and calls == [("itt", "all")]  # only the re-inductions' table is new
    assert outcome_cell(at, "Response", "n") == clinic_summary(
        select_patients(load_questionnaires(SAMPLE), site=["North"]),
        definitions=OutcomeDefinitions(analysis="itt")).response.n


def test_membership_by_arrow_is_pandas_isin():
    # the filter's row selection of the outcome tables: Arrow's lookup, the same answer as pandas' isin
    from app_pages.common import _is_in
    wanted = pd.Index(["002", "010", "x"], dtype="str")
    for values in (pd.Series(["001", "002", None, "010", "002"], dtype="str"),
                   pd.Series(["001", "002", None, "010", "002"], dtype="object"),
                   pd.Series(["001", "002", None, "010", "002"], dtype="category")):
        assert _is_in(values, wanted).tolist() == values.isin(wanted).tolist() == [False, True, False, True, True]


def test_research_page_fits_the_trajectory_model_when_asked(monkeypatch, sample):
    """The mixed model of every questionnaire is fitted on request (minutes at registry size), then stays shown."""
    from analytics.durability import trajectory_model

    at = app(monkeypatch, page="research")
    assert not at.exception, at.exception
    model_text = [m.value for m in (*at.success, *at.warning) if "Linear mixed model" in m.value]
    assert not model_text and any("fitted when you ask" in c.value for c in at.caption)
    at.button(key="fit_model").click().run()
    assert not at.exception, at.exception
    by = at.selectbox(key="research_by").value
    patients = patient_outcomes(sample)
    groups = patients.assign(group=patients[by].astype("str"))
    expected = trajectory_model(sample, groups, by="group")
    message = next(m.value for m in (*at.success, *at.warning) if "Linear mixed model" in m.value)
    assert f"{expected['n_patients']} patients, {expected['n_observations']} questionnaires" in message
    at.selectbox(key="research_metric").set_value("remission").run()  # another run: the model stays shown
    assert any("Linear mixed model" in m.value for m in (*at.success, *at.warning))
