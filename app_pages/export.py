"""Export: the quarterly outcome report, built here exactly as `python -m analytics export` builds it."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import streamlit as st

from analytics import AnalyticsError, __version__, patient_outcomes
from analytics.audit import audited, record_audit
from analytics.cohorts import quarter_bounds
from analytics.quality import quality_audit_list, quality_measures
from analytics.quarterly import DEFAULT_FORMATS, INTERNAL_NOTICE, quarterly_export, write_quarterly_export
from analytics.quarterly_report import summary_sentences
from analytics.report_pdf import pdf_status
from analytics.settings import ClinicSettings, load_settings, save_settings
from analytics.store import default_db_path
from app_pages.access import require_director
from app_pages.common import download, footer, page_setup, plain, quarters_in, show_table, signed_in_user
from app_pages.session_data import source_sessions

MIME = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".html": "text/html", ".pdf": "application/pdf", ".json": "application/json"}

require_director("export")
view = page_setup("Quarterly export")
st.caption("The report for a board, payer or registry: aggregate figures only, small cells suppressed, spreadsheet "
           "formulas neutralised. The sidebar's definitions apply; its cohort filters do not (the export covers the "
           "whole clinic, by site, protocol and baseline severity).")

try:
    settings = load_settings()
except AnalyticsError as exc:
    st.error(f"{plain(exc)} Until then the report uses the default name.")
    settings = ClinicSettings()
with st.form("clinic_settings", border=True):
    name = st.text_input("Clinic name printed at the top of the report", value=settings.clinic_name,
                         key="clinic_name", help="Saved for everyone who builds the report here (and for the "
                                                 "command line's export).")
    if st.form_submit_button("Save the clinic name"):
        try:
            saved = save_settings(ClinicSettings(clinic_name=name))
            record_audit("settings (dashboard)", {"clinic_name": load_settings(saved).clinic_name},
                         db=default_db_path(), user=signed_in_user())
            settings = load_settings(saved)
            st.success(f"Saved: the report is now headed \u201c{plain(settings.clinic_name)}\u201d.")
        except (AnalyticsError, OSError) as exc:
            st.error(f"The clinic name was not saved: {plain(exc)}")

quarters = quarters_in(view.report, view.key[0])
if not quarters:
    st.info("These data have no calendar dates, so there are no quarters to export.")
    footer()
    st.stop()
quarter = st.selectbox("Quarter of treatment start", quarters, key="export_quarter")
internal = st.checkbox("Internal version for the director: every site's figures with their intervals and small "
                       f"cells shown (every file is marked '{INTERNAL_NOTICE}')", key="export_internal")
pdf = pdf_status()
if pdf.available:
    with_pdf = st.checkbox("Also print the report as PDF", value=True, key="export_pdf")
else:
    with_pdf = False
    st.warning(f"PDF unavailable on this server: {plain(pdf.reason)}. The HTML report prints to PDF from any "
               "browser (File, Print).", icon=":material/picture_as_pdf:")
if st.button("Build the export", type="primary", key="build_export"):
    with st.spinner(f"Building the {quarter} export..."):
        try:
            source = {"kind": view.kind, "source": view.report.source, "sha256": view.report.sha256}
            export = quarterly_export(view.report.frame, quarter=quarter, definitions=view.definitions,
                                      suppression=not internal, source=source, software_version=__version__,
                                      clinic_name=settings.clinic_name,
                                      sessions=source_sessions(view))  # adds the tolerability table
            formats = DEFAULT_FORMATS + (("pdf",) if with_pdf else ())
            # recorded before the files are built and after: a failure half-way is on record
            with audited("export (dashboard)", {"quarter": export.quarter, "parameters": export.manifest["parameters"],
                                                "source": source, "internal": internal}, db=default_db_path(),
                         user=signed_in_user()) as done, tempfile.TemporaryDirectory() as tmp:
                files = {p.name: p.read_bytes() for p in write_quarterly_export(export, Path(tmp), formats=formats)}
                done["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
            st.session_state["export_files"] = (quarter, internal, files)
            st.session_state["export_summary"] = summary_sentences(export)
        except (AnalyticsError, OSError) as exc:
            st.session_state.pop("export_files", None)
            st.session_state.pop("export_summary", None)
            st.error(plain(exc))
built = st.session_state.get("export_files")
if built:
    quarter_built, was_internal, files = built
    if was_internal:
        st.error(f"{INTERNAL_NOTICE}: do not send these files outside the clinic.", icon=":material/lock:")
    st.success(f"{quarter_built}: {len(files)} files ready.")
    st.markdown("**The report's summary**\n\n" + "\n".join(f"- {plain(t)}" for t in
                                                          st.session_state.get("export_summary", [])))
    cols = st.columns(len(files))
    for col, (name, data) in zip(cols, files.items()):
        col.download_button(name, data, name, MIME[Path(name).suffix], key=f"dl_{name}")
    with st.expander("Quality measures: the patients behind each number (director only; never in the export)"):
        lo, hi = quarter_bounds(quarter_built)
        frame = view.report.frame
        audit = quality_audit_list(quality_measures(
            frame, patient_outcomes(frame, definitions=view.definitions, attributes=False), period_start=lo,
            period_end=hi))
        st.caption("One row per candidate patient and measure: exclusion, whether in the denominator, the "
                   "questionnaire that decided it, met or not. Use it to audit a figure; do not send it out.")
        show_table(audit)
        download(audit, f"quality_audit_{quarter_built}", "Download the audit list (CSV)")
footer()
