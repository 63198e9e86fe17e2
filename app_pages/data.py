"""Data: import an export into the clinic store, see the import history, check data quality."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import (
    AnalyticsError,
    QuestionnaireValidationError,
    validate_questionnaires,
)
from analytics.definitions import BASELINE_WINDOW_DAYS
from analytics.mapping import load_mapping
from analytics.sources import read_source
from analytics.store import (
    ImportConflictError,
    StoreBusyError,
    default_db_path,
    import_questionnaires,
    list_audit,
    list_imports,
)
from analytics.store_backends import store_backend
from analytics.uploads import upload_label, write_upload
from app_pages.access import require_director
from app_pages.common import download, footer, page_setup, plain, show_table, signed_in_user

require_director("data")
st.title("Data")
db = default_db_path()


def _from_store(read) -> pd.DataFrame:
    """A table from the store; empty when there is no store yet (or, with the reason shown, an unreadable one)."""
    try:
        if not store_backend(db).exists():
            return pd.DataFrame()
        return read(db)
    except AnalyticsError as exc:
        st.error(plain(exc))
        return pd.DataFrame()

st.subheader("Import an export")
st.caption(f"Into the clinic store `{db}`. The file is checked first; nothing is written unless all of it is "
           "usable. De-identified data only: files with names, birth dates, addresses and the like are refused.")
DATA_TYPES = ["csv", "xlsx", "parquet", "json", "ndjson"]
upload = st.file_uploader("Questionnaire export", type=DATA_TYPES, key="upload")
mapping_file = st.file_uploader("Column mapping (optional, TOML)", type=["toml"], key="mapping",
                                help="For exports whose headers differ; see sample_data/mappings/.")
accept = st.checkbox("Accept corrections (new values replace stored ones; the old ones are kept in the history)",
                     key="accept")
if upload is not None and st.button("Check and import", type="primary", key="do_import"):
    # The browser's file name is a label only: files are written under names the tool chooses,
    # and the label is shown as written, never as markdown.
    label = upload_label(upload.name)
    with st.status(f"Importing {label}...", expanded=True) as status:
        with tempfile.TemporaryDirectory() as tmp:
            mapping = None
            try:
                path = write_upload(upload.getvalue(), upload.name, directory=tmp, allowed=DATA_TYPES)
                if mapping_file is not None:
                    mp = write_upload(mapping_file.getvalue(), mapping_file.name, directory=tmp, allowed=["toml"])
                    mapping = load_mapping(mp, label=upload_label(mapping_file.name))
                st.write("Reading and checking every row...")
                raw = read_source(path, mapping=mapping, label=label)
                for note in raw.notes:
                    st.write(f"Note: {plain(note)}")
                report = validate_questionnaires(raw)
                if not report.ok:
                    status.update(label=f"{label} refused: nothing was imported", state="error")
                    st.error(f"{len(report.errors)} problem row(s). Fix them in the file and import it again.")
                    show_table(report.errors)
                    download(report.errors, "import_problems", "Download the problems (CSV)")
                else:
                    st.write("Writing to the store in one transaction...")
                    result = import_questionnaires(raw, db=db, file_name=label, source_format=raw.file_format,
                                                   accept_corrections=accept, user=signed_in_user())
                    status.update(label=plain(result.to_text()), state="complete")
                    st.cache_data.clear()
            except ImportConflictError as exc:
                status.update(label=f"{plain(label)} refused: it changes stored questionnaires", state="error")
                st.error(plain(exc))
                show_table(exc.conflicts)
            except QuestionnaireValidationError as exc:
                status.update(label=f"{plain(label)} refused: nothing was imported", state="error")
                st.error(plain(exc))
                show_table(exc.problems)
            except (StoreBusyError, AnalyticsError) as exc:
                status.update(label="Not imported", state="error")
                st.error(plain(exc))

st.subheader("Import history")
history = _from_store(list_imports)
if history.empty:
    st.info("No imports yet. The dashboard shows the synthetic sample until the store holds data.")
else:
    shown = history[["id", "kind", "started_at", "file_name", "sha256", "rows_read", "added", "unchanged",
                     "corrected", "removed", "restored", "warnings", "warning_summary", "reverted_by"]]
    show_table(shown)
    st.caption("Revert an import from the command line: python -m analytics imports --revert ID "
               "(recorded as its own entry).")
    download(shown, "import_history", "Download the import history (CSV)")

st.subheader("Audit trail")
trail = _from_store(list_audit)
if trail.empty:
    st.info("Nothing recorded yet. Every import, revert, export and research export will be listed here.")
else:
    show_table(trail.iloc[::-1])
    st.caption("Append-only: the store refuses any change to these rows, and each row carries the hash of its "
               "content and of the row before, so an edit made to the file directly shows: check it with "
               "python -m analytics audit --verify. Newest first.")
    download(trail, "audit_trail", "Download the audit trail (CSV)")

st.divider()
view = page_setup("Data quality", subheading=True)
report, patients = view.report, view.patients
counts = report.counts
no_followup = patients["baseline_day"].notna() & (patients["last_followup_day"] == 0)
missing_endpoint = patients["eligible"] & patients["endpoint_day"].isna()
quality = pd.DataFrame([
    ("Rows read", counts.get("rows_read"), ""),
    ("Questionnaires", counts.get("questionnaires"), "after exact duplicates were collapsed"),
    ("Exact duplicate rows collapsed", counts.get("duplicates_collapsed"), "kept once"),
    ("Incomplete questionnaires", counts.get("incomplete"), "an item blank: no total, left out of outcomes"),
    ("Patients without a baseline", int(patients["baseline_day"].isna().sum()),
     f"no complete questionnaire on days {BASELINE_WINDOW_DAYS[0]} to {BASELINE_WINDOW_DAYS[1]}: in no denominator"),
    ("Patients with a baseline but no follow-up", int(no_followup.sum()), "censored at day 0 in cumulative rates"),
    (f"Eligible patients without a week-{view.definitions.week} endpoint", int(missing_endpoint.sum()),
     f"nothing on days {view.definitions.window[0]}-{view.definitions.window[1]}: out of completer rates"),
], columns=["Check", "Count", "What it means"])
show_table(quality)
st.caption(view.filter_text + " Counts of rows and questionnaires are for the whole data source.")
download(quality, "data_quality", "Download the data-quality summary (CSV)")
if len(report.warnings):
    st.markdown("**Warning rows** (line numbers of the source file or store export)")
    show_table(report.warnings)
    download(report.warnings, "data_quality_rows", "Download the warning rows (CSV)")
footer()
