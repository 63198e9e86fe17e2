"""The Export page under AppTest: the clinic's name saved (and audited) and printed on the report, the PDF when
a Chromium is present and a clear notice when not, and the director's internal version."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analytics.audit import list_audit
from analytics.report_pdf import pdf_status
from analytics.settings import load_settings
from conftest import ROOT


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("OUTCOMES_DB", str(tmp_path / "store.sqlite"))
    monkeypatch.setenv("OUTCOMES_SETTINGS", str(tmp_path / "settings.toml"))
    monkeypatch.delenv("OUTCOMES_DATA", raising=False)
    return tmp_path


def export_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception, at.exception
    return at


def downloads(at) -> dict:
    return {b.label: b for b in at.get("download_button")}


def test_clinic_name_is_saved_audited_and_printed(isolated):
    at = export_page()
    assert at.text_input(key="clinic_name").value == "Our clinic"
    at.text_input(key="clinic_name").set_value("Harbour Ketamine Centre")
    at.button[0].click().run()  # the form's save button
    assert not at.exception and any("Harbour Ketamine Centre" in s.value for s in at.success)
    assert load_settings().clinic_name == "Harbour Ketamine Centre"
    audit = list_audit(isolated / "store.sqlite")
    assert (audit["action"] == "settings (dashboard)").any()
    if pdf_status().available:
        at.checkbox(key="export_pdf").uncheck()  # the PDF has its own test below
    at.button(key="build_export").click().run()
    quarter = at.selectbox(key="export_quarter").value
    assert not at.exception and f"report_{quarter}.html" in downloads(at)
    # the built files are kept in the session: the report carries the saved name
    files = at.session_state["export_files"][2]
    assert b"<h1>Harbour Ketamine Centre</h1>" in files[f"report_{quarter}.html"]
    # the summary the board reads first is shown on the page too
    assert any("Response by week 6:" in m.value and "Previous quarter" in m.value for m in at.markdown)


def test_an_empty_name_is_refused_and_the_old_one_kept(isolated):
    at = export_page()
    at.text_input(key="clinic_name").set_value("   ")
    at.button[0].click().run()
    assert any("not saved" in e.value and "empty" in e.value for e in at.error)
    assert not (isolated / "settings.toml").exists()


@pytest.mark.skipif(not pdf_status().available, reason="no Chromium here: the notice is tested below")
def test_pdf_is_built_beside_the_html(isolated):
    at = export_page()
    assert at.checkbox(key="export_pdf").value is True
    at.button(key="build_export").click().run()
    quarter = at.selectbox(key="export_quarter").value
    files = at.session_state["export_files"][2]
    assert files[f"report_{quarter}.pdf"].startswith(b"%PDF-") and f"report_{quarter}.pdf" in downloads(at)


def test_without_a_browser_the_page_says_pdf_is_unavailable(isolated, monkeypatch):
    monkeypatch.setenv("PATH", str(isolated / "no-bin"))
    monkeypatch.delenv("OUTCOMES_CHROMIUM", raising=False)
    at = export_page()
    assert any("PDF unavailable on this server" in w.value and "chromium" in w.value for w in at.warning)
    assert not [c for c in at.checkbox if c.key == "export_pdf"]
    at.button(key="build_export").click().run()
    quarter = at.selectbox(key="export_quarter").value
    assert sorted(at.session_state["export_files"][2]) == sorted(
        ["summary.csv", f"outcomes_{quarter}.xlsx", f"report_{quarter}.html", "manifest.json"])


def test_internal_version_is_marked_and_named(isolated):
    at = export_page()
    if pdf_status().available:
        at.checkbox(key="export_pdf").uncheck()
    at.checkbox(key="export_internal").check().run()
    at.button(key="build_export").click().run()
    quarter = at.selectbox(key="export_quarter").value
    files = at.session_state["export_files"][2]
    assert f"report_{quarter}_INTERNAL.html" in files
    assert files[f"report_{quarter}_INTERNAL.html"].count("INTERNAL — not for release".encode()) >= 2
    assert any("not for release" in e.value for e in at.error)
