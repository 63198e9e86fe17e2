"""The quarterly report a board reads: clinic name, plain-language summary worked out by hand, section order,
hidden values marked in charts and tables, the director's internal version, and the readable workbook."""
from __future__ import annotations

from datetime import date, timedelta

import openpyxl
import pandas as pd
import pytest

from analytics import load_questionnaires
from analytics.errors import SettingsError
from analytics.quarterly import INTERNAL_NOTICE, quarterly_export, write_quarterly_export
from analytics.quarterly_charts import HIDDEN_RULE, HIDDEN_SMALL
from analytics.quarterly_report import html_report, summary_sentences
from analytics.quarterly_workbook import PERCENT, POINTS, STATUS_HEADER
from analytics.suppression import SUPPRESSED_COUNT, SUPPRESSED_VALUE

QUARTER = "2025Q3"


def _items(total: int) -> list[int]:
    rest, items = total, []
    for _ in range(8):
        items.append(min(3, rest))
        rest -= items[-1]
    return items + [0]  # item 9 = 0: no suicidal thoughts, so SI resolution has no denominator


def clinic(groups) -> pd.DataFrame:
    """Questionnaire rows: ``groups`` of (count, first start, site, baseline total, day-42 total)."""
    rows, pid = [], 1000
    for count, first, site, base, end in groups:
        for k in range(count):
            pid += 1
            start = first + timedelta(days=k % 50)
            for day, total in ((0, base), (42, end)):
                rows.append({"patient_id": f"P{pid}", "assessment_date": (start + timedelta(days=day)).isoformat(),
                             "treatment_start_date": start.isoformat(), "site": site, "protocol": "IV",
                             "infusion_number": 1 if day == 0 else 6,
                             **{f"phq9_{i + 1}": v for i, v in enumerate(_items(total))}})
    return pd.DataFrame(rows)


Q2, Q3 = date(2025, 4, 3), date(2025, 7, 3)
# Worked by hand.  2025Q3: 40 eligible patients (baseline 20), 20 fall to 4 (response and remission), 20 stay at
# 18: 20/40 = 50.0% for both.  2025Q2: 12 of 40 fall to 4: 30.0%.  Change +20.0 pp.  Everyone is followed to day
# 42, so the Kaplan-Meier "reached by week 6" estimate is the plain share.  Site "Small" holds 4 of 2025Q3's
# responders: hidden in the release version.
HAND = [(12, Q2, "Main", 20, 4), (28, Q2, "Main", 20, 18),
        (16, Q3, "Main", 20, 4), (4, Q3, "Small", 20, 4), (20, Q3, "Main", 20, 18)]


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "hand.csv"
    clinic(HAND).to_csv(path, index=False)
    return load_questionnaires(path)


@pytest.fixture(scope="module")
def release(frame):
    return quarterly_export(frame, quarter=QUARTER, clinic_name='Riverside <b>"Clinic"</b> & Co')


@pytest.fixture(scope="module")
def internal(frame):
    return quarterly_export(frame, quarter=QUARTER, clinic_name="Riverside", suppression=False)


def test_summary_sentences_worked_by_hand(release):
    response, remission, si = summary_sentences(release)
    assert response.startswith("Response by week 6: 50.0% (95% CI ")
    assert "of 40 patients. Previous quarter (2025 Q2): 30.0%, a change of +20.0 pp" in response
    assert "intervals overlap, so the change may be chance" in response
    # Oliver 2022's 50% response at week 6 is like for like: the difference and its interval in pp
    assert "Published: 50% (Oliver 2022, 424 patients), measured the same way: a difference of +0.0 pp (95% CI" \
        in response and "consistent with the published figure" in response
    assert remission.startswith("Remission by week 6: 50.0% (95% CI ") and "a change of +20.0 pp" in remission
    assert "not measured the same way, so only indicative" in remission
    # nobody had suicidal thoughts at the start: no denominator, "no data", never 0%
    assert "no data (no patient in the denominator)" in si and "0.0%" not in si


def test_report_opens_with_the_clinic_and_quarter_then_sections_in_order(release):
    page = html_report(release)
    assert '<h1>Riverside &lt;b&gt;&quot;Clinic&quot;&lt;/b&gt; &amp; Co</h1>' in page
    assert "Outcome report, 2025 Q3: patients whose treatment started from 1 July 2025 to 30 September 2025" in page
    order = [page.index(f'<section id="{s}">') for s in ("summary", "volume", "retention", "outcomes", "safety",
                                                          "quality", "methods")]
    assert order == sorted(order)
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    assert "Response by week 6: 50.0%" in summary and "40 patients started treatment" in summary
    assert "<script" not in page and len(page.encode()) < 200_000  # static SVG charts: no plotly.js


def test_volume_this_quarter_and_the_previous(release):
    volume = release.completeness.set_index("key")
    # each quarter: 40 starts within its first four weeks, each with a day-0 and a day-42 questionnaire (numbered
    # infusions 1 and 6) that both fall inside the same quarter: 80 questionnaires, 80 infusions
    assert volume.loc["starts", "n"] == 40 and volume.loc["starts_previous", "n"] == 40
    assert volume.loc["infusions", "n"] == 80 and volume.loc["infusions_previous", "n"] == 80
    assert volume.loc["incomplete", "n"] == 80 and volume.loc["questionnaires_previous", "n"] == 80
    page = html_report(release).split('<section id="volume">')[1].split("</section>")[0]
    assert "<th class=num>2025 Q3</th>" in page and "<th class=num>2025 Q2</th>" in page


def test_hidden_values_are_marked_not_missing(release, internal):
    sites = release.summary[(release.summary["dimension"] == "site") & (release.summary["benchmark_id"] == "")]
    small = sites[(sites["stratum"] == "Small") & (sites["metric"] != "si_resolution")]  # SI: n = 0, shown
    assert small["n"].isin([SUPPRESSED_COUNT]).all()  # 4 patients
    page = html_report(release)
    outcomes = page.split('<section id="outcomes">')[1].split("</section>")[0]
    svg_site = outcomes.split(">By site: estimates and 95% intervals</text>")[1].split("</svg>")[0]
    assert ">Small</text>" in svg_site and f">{HIDDEN_SMALL}</text>" in svg_site
    # the site "Main" is hidden too (its complement), and says so without claiming it is small
    assert f">{HIDDEN_RULE}</text>" in svg_site or f">{HIDDEN_SMALL}</text>" in svg_site.split(">Main<")[1]
    table = outcomes.split("<h3>By site</h3>")[1].split("</table>")[0]
    assert f"<td class=hidden>{HIDDEN_SMALL}</td>" in table
    # the director's version shows the small site with its interval and its n, marked internal
    inside = html_report(internal)
    assert inside.count(INTERNAL_NOTICE) >= 2 and HIDDEN_SMALL not in inside.split('id="methods"')[0]
    site_svg = inside.split(">By site: estimates and 95% intervals</text>")[1].split("</svg>")[0]
    assert "100%, n = 4 (small)" in site_svg  # 4 of 4 responded
    by_site = inside.split("<h3>By site</h3>")[1].split("</table>")[0]
    # 4 of 4 reached it: a Kaplan-Meier estimate of 100% has no log-log interval, and the cell says so
    assert "<td>Small</td><td>100.0% (95% CI not defined), n = 4</td>" in by_site


def test_clinic_name_is_checked(frame):
    for bad in ("", "   ", "x" * 121, "North\x00Clinic"):
        with pytest.raises(SettingsError):
            quarterly_export(frame, quarter=QUARTER, clinic_name=bad)


# ----------------------------------------------------------------------------- workbook

@pytest.fixture(scope="module")
def workbooks(frame, release, internal, tmp_path_factory):
    out = tmp_path_factory.mktemp("xlsx")
    hostile = quarterly_export(frame, quarter=QUARTER, clinic_name="=HYPERLINK(\"http://x\",\"y\")")
    paths = {}
    for name, export in (("release", release), ("internal", internal), ("hostile", hostile)):
        paths[name] = next(p for p in write_quarterly_export(export, out / name, formats=("xlsx",))
                           if p.suffix == ".xlsx")
    return {k: openpyxl.load_workbook(v) for k, v in paths.items()}


NUMBER_HEADERS = {"Patients (n)", "Reached it (events)", "Rate", "95% CI low", "95% CI high", "Published rate",
                  "Difference (pp)", "Difference, 95% CI low (pp)", "Difference, 95% CI high (pp)", "p",
                  "p (Holm-adjusted)"}


def _rows(ws, header_row):
    header = [c.value for c in ws[header_row]]
    return header, [dict(zip(header, (c.value for c in r))) for r in ws.iter_rows(min_row=header_row + 1)]


def test_number_columns_hold_numbers_status_says_what_is_hidden(workbooks, release):
    wb = workbooks["release"]
    for name in wb.sheetnames[1:]:
        ws = wb[name]
        header, rows = _rows(ws, 1)
        assert header[-1] == STATUS_HEADER and ws.freeze_panes == "A2", name
        for row in rows:
            for h in NUMBER_HEADERS & set(header):
                assert row[h] is None or isinstance(row[h], (int, float)), (name, h, row[h])
            assert not {SUPPRESSED_COUNT, SUPPRESSED_VALUE} & {v for k, v in row.items() if k != STATUS_HEADER}
    header, rows = _rows(wb["Outcomes"], 1)
    small = [r for r in rows if r["Group"] == "Small" and not r["Outcome"].startswith("SI")]  # SI: n = 0
    assert small and all(r["Patients (n)"] is None and r[STATUS_HEADER].startswith("<11: Patients (n)")
                         for r in small)
    overall = next(r for r in rows if r["Grouped by"] == "all patients" and r["Outcome"].startswith("Response re"))
    assert overall["Patients (n)"] == 40 and overall["Reached it (events)"] == 20 and overall["Rate"] == 0.5
    assert overall[STATUS_HEADER] is None
    # rates as percentages, differences stored and shown in percentage points
    ws = wb["Published comparisons"]
    header, rows = _rows(ws, 1)
    col = {h: i + 1 for i, h in enumerate(header)}
    like = next(i for i, r in enumerate(rows, start=2) if r["Published figure (id)"] == "oliver2022-response-6w"
                and r["Grouped by"] == "all patients")
    assert ws.cell(like, col["Rate"]).number_format == PERCENT
    assert ws.cell(like, col["Difference (pp)"]).number_format == POINTS
    assert ws.cell(like, col["Difference (pp)"]).value == pytest.approx(0.0, abs=1e-9)  # 50% - 50%
    assert ws.cell(like, col["Published rate"]).value == 0.5


def test_widths_fit_and_summary_sheet_is_readable(workbooks):
    wb = workbooks["release"]
    ws = wb["Outcomes"]
    header, rows = _rows(ws, 1)
    outcome = ws.column_dimensions["C"].width
    longest = max(len(r["Outcome"]) for r in rows)
    assert min(longest, 60) <= outcome <= 62
    summary = wb["Summary"]
    assert summary["A1"].value == 'Riverside <b>"Clinic"</b> & Co'
    texts = [c.value for c in summary["A"] if isinstance(c.value, str)]
    assert any(t.startswith("• Response by week 6: 50.0%") for t in texts)
    assert summary.max_row < 30 and summary.max_column <= 12  # a page, not 217 x 18
    volume = next(r for r in summary.iter_rows(values_only=True) if r[0] == "Volume")
    assert volume[:3] == ("Volume", "2025 Q3", "2025 Q2")
    starts = next(r for r in summary.iter_rows(values_only=True) if r[0] == "New treatment starts")
    assert starts[1:3] == (40, 40)


def test_workbook_formulas_neutralised_and_internal_marked(workbooks):
    cell = workbooks["hostile"]["Summary"]["A1"]
    assert cell.value.startswith("'=HYPERLINK") and cell.data_type == "s"
    for ws in workbooks["internal"]:
        assert ws["A1"].value == INTERNAL_NOTICE and (ws.title == "Summary" or ws.freeze_panes == "A4")


def test_pdf_status_names_what_is_missing(monkeypatch, tmp_path):
    from analytics.report_pdf import PdfUnavailableError, pdf_status, print_pdf

    monkeypatch.setenv("OUTCOMES_CHROMIUM", str(tmp_path / "no-such-browser"))
    status = pdf_status()
    assert not status.available and "OUTCOMES_CHROMIUM" in status.reason and "no-such-browser" in status.reason
    with pytest.raises(PdfUnavailableError, match="prints to PDF from any browser"):
        print_pdf(tmp_path / "r.html", tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    monkeypatch.delenv("OUTCOMES_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "install the Debian package chromium" in pdf_status().reason


def test_hidden_counts_read_as_words_in_sentences(tmp_path):
    """A quarter of 5 new starts: the volume sentence says "Fewer than 11 patients", never the table label."""
    path = tmp_path / "tiny.csv"
    clinic([(5, Q3, "Main", 20, 4)]).to_csv(path, index=False)
    page = html_report(quarterly_export(load_questionnaires(path), quarter=QUARTER))
    assert "Fewer than 11 patients started treatment, fewer than 11 infusions and fewer than 11 questionnaires" \
        in page  # 5 starts, 10 infusions, 10 questionnaires: each 1-10, hidden
    assert f"{HIDDEN_SMALL} patients" not in page and f"{HIDDEN_SMALL} new starts" not in page
