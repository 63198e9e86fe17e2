"""Data: import an export into the clinic store (matching its columns on screen), the import history with
reverts, the audit trail, and data quality.

Why one page of ~460 lines: the mapping screen, the import with its corrections preview and the
import history share the page's session state; the logic itself is in :mod:`analytics.header_suggestion`,
:mod:`analytics.import_review` and the store.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import AnalyticsError, QuestionnaireValidationError, validate_questionnaires
from analytics.deidentification import DEIDENTIFIED_ONLY, identifier_column_reason
from analytics.definitions import BASELINE_WINDOW_DAYS, HEADER_SEARCH_ROWS, IMPORT_PREVIEW_ROWS as PREVIEW_ROWS
from analytics.header_suggestion import (
    CONTRACT_FIELDS,
    DATE_FORMATS,
    detect_header_row,
    read_top_rows,
    suggest_columns,
    suggest_date_format,
)
from analytics.import_review import column_label, correction_preview, locate_warnings
from analytics.loading import normalise_header
from analytics.mapping import (
    ColumnMapping,
    list_saved_mappings,
    load_mapping,
    mapping_folder,
    mapping_from_choices,
    save_mapping,
)
from analytics.data_quality import data_quality_counts
from analytics.outcome_cache import precompute_outcome_tables
from analytics.sources import read_source
from analytics.store import (
    ImportConflictError,
    StoreBusyError,
    default_db_path,
    import_questionnaires,
    list_audit,
    list_imports,
    revert_import,
)
from analytics.store_backends import store_backend
from analytics.uploads import upload_label, upload_suffix, write_upload
from app_pages.access import require_director
from app_pages.common import (
    browser_text,
    clear_caches,
    download,
    footer,
    page_setup,
    plain,
    show_table,
    signed_in_user,
)

require_director("data")
st.title("Data")
db = default_db_path()
DATA_TYPES = ["csv", "xlsx", "parquet", "json", "ndjson"]
NOT_IN_FILE = "— not in this file —"
REFUSED = "refused: nothing was imported"  # the one title every refusal carries
def _from_store(read) -> pd.DataFrame:
    """A table from the store; empty when there is no store yet (or, with the reason shown, an unreadable one)."""
    try:
        if not store_backend(db).exists():
            return pd.DataFrame()
        return read(db)
    except AnalyticsError as exc:
        st.error(browser_text(exc))
        return pd.DataFrame()


# ----------------------------------------------------------------------------- cached reads of the upload

@st.cache_data(max_entries=8, show_spinner=False)
def _top_rows(data: bytes, suffix: str, label: str) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_upload(data, f"x{suffix}", directory=tmp, allowed=DATA_TYPES)
        return read_top_rows(path, label=label, rows=HEADER_SEARCH_ROWS)


@st.cache_data(max_entries=8, show_spinner="Reading the file with these columns...")
def _read_mapped(data: bytes, suffix: str, label: str, layout: tuple):
    columns, date_format, header_row, leave_out = layout
    mapping = ColumnMapping(dict(columns), date_format or None, "the mapping screen", header_row=header_row,
                            leave_out=leave_out)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_upload(data, f"x{suffix}", directory=tmp, allowed=DATA_TYPES)
        return read_source(path, mapping=mapping, label=label)


@st.cache_data(max_entries=4, show_spinner="Finding the patient and date of each warning...")
def _located_warnings(_report, source_key: tuple) -> pd.DataFrame:
    """The source's warning rows with the patient and date each is about (2 s at 100,000 patients: once per
    source state, not on every run of the page)."""
    return locate_warnings(_report.warnings, _report.frame, source=_report.source)


def _layout(mapping: ColumnMapping) -> tuple:
    return tuple(sorted(mapping.columns.items())), mapping.date_format or "", mapping.header_row, mapping.leave_out


# ----------------------------------------------------------------------------- the last import, said first

def _show_last_import() -> None:
    done = st.session_state.get("last_import")
    if not done:
        return
    st.success(f"{plain(done['text'])} The dashboard now shows the clinic store (Data source in the sidebar).",
               icon=":material/check_circle:")
    warnings = done["warnings"]
    if warnings.empty:
        st.caption(f"No warnings for {plain(done['file'])}.")
    else:
        st.markdown(f"**Warnings of this import** ({len(warnings)}): the questionnaires were imported; check these "
                    "rows in the source system.")
        show_table(warnings)
        download(warnings, "import_warnings", "Download these warnings (CSV)")


def _refused(label: str, reason: str, problems: pd.DataFrame | None = None) -> None:
    """Every refusal looks the same: one title, the reason, and the problems in an open table."""
    st.error(f"**{plain(label)} {REFUSED}.** {reason}", icon=":material/block:")
    if problems is not None and len(problems):
        st.markdown("**Problems found**")
        show_table(problems)
        download(problems, "import_problems", "Download the problems (CSV)")


# ----------------------------------------------------------------------------- the mapping screen

def _headers_of(rows: list, header_row: int) -> list[str]:
    if header_row > len(rows):
        return []
    seen, out = set(), []
    for cell in rows[header_row - 1]:
        text = str(cell).strip()
        if text and normalise_header(text) not in seen:
            seen.add(normalise_header(text))
            out.append(text)
    return out


def _headerless(rows: list, header_row: int) -> dict[str, str]:
    """``#N (no header)`` -> its first values, for each column with a blank header cell (an empty one too: a
    trailing comma on every line makes one, and the reader refuses it like any other)."""
    if header_row > len(rows):
        return {}
    head, body = rows[header_row - 1], rows[header_row:]
    width = max([len(head), *(len(r) for r in body)])
    out = {}
    for position in range(width):
        if position < len(head) and str(head[position]).strip():
            continue
        values = [str(r[position]).strip() for r in body if len(r) > position and str(r[position]).strip()]
        out[f"#{position + 1} (no header)"] = ("first values " + ", ".join(values[:3])) if values \
            else "empty in the first rows"
    return out


def _leave_out_box(headers: list[str], rows: list, header_row: int, picked: dict, base, token: str) -> list[str]:
    """Columns not to import: those without a header, and headers matched to nothing (never an identifier)."""
    blank = _headerless(rows, header_row)
    used = {h for h in picked.values() if h}
    named = [h for h in headers if h not in used and not identifier_column_reason(h)]
    if not blank and not named:
        return []
    written = {normalise_header(h): h for h in headers}
    before = [] if base is None else [f"{k} (no header)" if k.startswith("#") else written.get(k, k)
                                      for k in base.leave_out]
    options = [*blank, *named]
    chosen = st.multiselect(
        "Columns not to import", options, default=[c for c in before if c in options], key=f"leave_out_{token}",
        format_func=lambda c: f"{c}: {blank[c]}" if c in blank else c,
        help="Columns the data does not need, such as an index column without a header. Columns not matched "
             "above and not left out are kept as extra attributes. A column that looks like an identifier cannot be "
             "left out: remove it from the export.")
    if blank and not set(blank) <= set(chosen):
        st.caption("A column without a header is refused unless it is left out here (or given a header in the "
                   "export): " + "; ".join(f"{c}, {v}" for c, v in blank.items() if c not in chosen)
                   + ".")
    return [c.split(" ")[0] if c in blank else c for c in chosen]


def _prefill(mapping: ColumnMapping | None, headers: list[str], *, partial: bool = False) -> dict:
    """Contract column -> header as written, from a saved or uploaded mapping, else from the suggestions.

    A saved mapping is the whole screen as it was saved; a mapping file may name only the headers that
    differ (``partial``), so the suggestions fill in the rest."""
    suggested = suggest_columns(headers)
    out = dict(zip(suggested["column"], suggested["header"])) if mapping is None or partial else {}
    if mapping is not None:
        written = {normalise_header(h): h for h in headers}
        named = {dst: written.get(src) for src, dst in mapping.columns.items()}
        out = {c: h for c, h in out.items() if h not in named.values()} | named
    return out


def _fits(mapping: ColumnMapping, rows: list) -> bool:
    """The saved layout fits this file: every header it names for a required column is on its header row."""
    present = {normalise_header(h) for h in _headers_of(rows, mapping.header_row)}
    needed = [src for src, dst in mapping.columns.items() if dst in ("patient_id", "phq9_total", "assessment_date",
                                                                       "day")]
    return bool(needed) and all(src in present for src in needed)


def _mapping_screen(data: bytes, suffix: str, label: str) -> ColumnMapping | None:
    """Match the export's columns on screen; return the mapping to import with (None: nothing to import yet)."""
    rows = _top_rows(data, suffix, label)
    with st.expander("Use a mapping file (TOML) instead", expanded=False):
        mapping_file = st.file_uploader("Column mapping (optional, TOML)", type=["toml"], key="mapping",
                                        help="A mapping written by hand or saved by IT; see sample_data/mappings/.")
    uploaded = None
    if mapping_file is not None:
        with tempfile.TemporaryDirectory() as tmp:
            mp = write_upload(mapping_file.getvalue(), mapping_file.name, directory=tmp, allowed=["toml"])
            uploaded = load_mapping(mp, label=upload_label(mapping_file.name))
    first = {normalise_header(c) for c in (rows[0] if rows else [])}
    if {"record_id", "redcap_event_name"} <= first:
        st.info("This is a REDCap export: it is read by the REDCap reader (one row per event, the PHQ-9 form's "
                "fields). A mapping file can name other field names.", icon=":material/info:")
        return uploaded or ColumnMapping()
    saved = list_saved_mappings(mapping_folder(db))

    choices = [""] + [m.name for m in saved]  # "": suggested (a saved mapping's name is never empty)
    fitting = [m.name for m in saved if _fits(m, rows)]
    names = {"": "Suggested from the headers of this file"}
    file_key = hashlib.sha256(data).hexdigest()[:12]
    if uploaded is not None:
        chosen_name, base = "uploaded file", uploaded
        st.caption(f"Columns matched as the mapping file {plain(upload_label(mapping_file.name))} says; check them "
                   "below.")
    else:
        default = choices.index(fitting[0]) if fitting else 0
        chosen_name = st.selectbox("Match the columns", choices, index=default, key=f"mapping_choice_{file_key}",
                                   format_func=lambda n: names.get(n, f"Saved mapping: {n}"),
                                   help="A saved mapping fills in the matches of an earlier export of the same "
                                        "layout.")
        if fitting and chosen_name == fitting[0]:
            st.caption(f"This file has the layout saved as {plain(fitting[0])!s}: its matches are filled in.")
        base = next((m for m in saved if m.name == chosen_name), None)

    if suffix == ".parquet":
        header_row = 1
    else:
        guess = detect_header_row(rows)
        start = base.header_row if base is not None else guess.row
        header_row = int(st.number_input("Row holding the column headers", min_value=1,
                                         max_value=max(len(rows), 1), value=min(start, max(len(rows), 1)), step=1,
                                         key=f"header_row_{file_key}_{chosen_name}",
                                         help="Rows above it (a title, a report date) are skipped."))
        if base is None:
            st.caption(plain(guess.why[0].upper() + guess.why[1:]) + ".")
        if header_row > 1:
            title = [c for r in rows[:header_row - 1] for c in r if str(c).strip()]
            st.caption("Skipped above the headers: " + "; ".join(f"“{plain(c)}”" for c in title) if title
                       else "Skipped above the headers: blank rows.")
    headers = _headers_of(rows, header_row)
    if not headers:
        _refused(label, f"Row {header_row} holds no column headers; choose the row that names the columns.")
        return None

    refused = [(h, identifier_column_reason(h)) for h in headers if identifier_column_reason(h)]
    if refused:
        st.error("This file holds column(s) that look like direct identifiers: "
                 + "; ".join(f"**{plain(h)}** ({w})" for h, w in refused)
                 + f". It will be refused whatever the matches say: {DEIDENTIFIED_ONLY}. Remove the column(s) from "
                   "the export and upload it again.", icon=":material/privacy_tip:")

    token = hashlib.sha256(repr((data[:4096], len(data), chosen_name, header_row)).encode()).hexdigest()[:12]
    prefill = _prefill(base, headers, partial=uploaded is not None)
    options = [NOT_IN_FILE, *headers]
    picked = {}
    main = [f for f in CONTRACT_FIELDS if not re.fullmatch(r"(phq9_[1-8]|gad7_\d)", f.column)]
    items = [f for f in CONTRACT_FIELDS if f not in main]
    st.markdown("**Which column holds what** (suggested from the headers; change any that is wrong)")
    grid = st.columns(3)
    for i, f in enumerate(main):
        picked[f.column] = _field_box(grid[i % 3], f, options, prefill, token)
    with st.expander("PHQ-9 items 1-8 and GAD-7 items", expanded=any(prefill.get(f.column) for f in items)):
        grid = st.columns(3)
        for i, f in enumerate(items):
            picked[f.column] = _field_box(grid[i % 3], f, options, prefill, token)

    date_column = picked.get("assessment_date") or picked.get("treatment_start_date")
    fmt_default = base.date_format if base is not None and base.date_format else ""
    why = ""
    if date_column and (base is None or not base.date_format):
        position = headers.index(date_column)
        values = [r[position] for r in rows[header_row:] if len(r) > position]
        guess_fmt = suggest_date_format(values)
        fmt_default, why = guess_fmt.format, guess_fmt.why
    formats = list(DATE_FORMATS)
    date_format = st.selectbox("How dates are written", formats, index=formats.index(fmt_default)
                               if fmt_default in formats else 0, format_func=DATE_FORMATS.get,
                               key=f"date_format_{token}")
    if why:
        st.caption(plain(why[0].upper() + why[1:]) + ".")

    leave_out = _leave_out_box(headers, rows, header_row, picked, base, token)

    missing = _missing_required(picked)
    if missing:
        st.warning("Still to match: " + "; ".join(missing) + ". Choose the column that holds each, or check the "
                   "row holding the headers.", icon=":material/edit:")
    try:
        mapping = mapping_from_choices(picked, date_format=date_format or None, header_row=header_row,
                                       name=chosen_name if base is not None and uploaded is None else "",
                                       leave_out=leave_out)
    except AnalyticsError as exc:
        st.error(browser_text(exc))
        return None

    try:
        raw = _read_mapped(data, suffix, label, _layout(mapping))
    except AnalyticsError as exc:
        _refused(label, browser_text(exc),
                 getattr(exc, "problems", None) if isinstance(exc, QuestionnaireValidationError) else None)
        return None
    contract = [f.column for f in CONTRACT_FIELDS if f.column in raw.frame.columns]
    preview = raw.frame[contract].head(PREVIEW_ROWS).assign(Line=raw.lines[:PREVIEW_ROWS])
    preview = preview[["Line", *contract]].rename(columns=column_label)
    st.markdown(f"**Preview: the first {len(preview)} of {len(raw.frame):,} rows as they will be read** "
                "(dates as the tool reads them, YYYY-MM-DD)")
    show_table(preview)
    for note in raw.notes:
        st.caption(f"Note: {plain(note)}")

    with st.form("save_mapping_form", clear_on_submit=False, border=False):
        cols = st.columns([3, 1])
        name = cols[0].text_input("Save these matches as", key="mapping_name", placeholder="EHR flowsheet export",
                                  help="Saved for the next export of the same layout; it is offered first then.")
        if cols[1].form_submit_button("Save mapping"):
            try:
                save_mapping(mapping, name, folder=mapping_folder(db),
                             headers={normalise_header(h): h for h in headers})
                st.success(f"Saved as {plain(name.strip())}. The next export with these headers is matched "
                           "the same way.")
            except AnalyticsError as exc:
                st.error(browser_text(exc))
    return mapping


def _field_box(where, f, options: list, prefill: dict, token: str) -> str:
    default = prefill.get(f.column)
    index = options.index(default) if default in options else 0
    star = " *" if f.need == "required" else ""
    chosen = where.selectbox(f.label + star, options, index=index, key=f"map_{f.column}_{token}",
                             help=f.need.capitalize())
    return None if chosen == NOT_IN_FILE else chosen


def _missing_required(picked: dict) -> list[str]:
    has = {c for c, h in picked.items() if h}
    out = []
    if "patient_id" not in has:
        out.append("the patient pseudonym")
    if not has & {"assessment_date", "day"}:
        out.append("the date of the questionnaire (or the study day)")
    if "phq9_total" not in has and not all(f"phq9_{i}" in has for i in range(1, 10)):
        out.append("the PHQ-9 total (or all nine items)")
    return out


# ----------------------------------------------------------------------------- importing

def _import(data: bytes, suffix: str, label: str, mapping: ColumnMapping | None, *, accept: bool) -> None:
    """Check and import; on success remember what was done and show the store; on refusal say why, openly."""
    fingerprint = hashlib.sha256(data).hexdigest()
    layout = _layout(mapping) if mapping is not None and mapping.columns else None
    try:
        with st.spinner("Reading and checking every row..."):
            with tempfile.TemporaryDirectory() as tmp:
                path = write_upload(data, f"x{suffix}", directory=tmp, allowed=DATA_TYPES)
                raw = read_source(path, mapping=mapping if layout is not None else None, label=label)
            report = validate_questionnaires(raw)
        if not report.ok:
            _refused(label, f"{len(report.errors)} problem row(s). Fix them in the file (or the column matches "
                            "above) and import it again.", report.errors)
            return
        bar = st.progress(0.0, text="Writing to the store in one transaction...")
        result = import_questionnaires(raw, db=db, file_name=label, sha256=fingerprint,
                                       source_format=raw.file_format, mapping=mapping.name or None
                                       if mapping is not None and mapping.columns else None,
                                       accept_corrections=accept, user=signed_in_user(),
                                       progress=lambda step: bar.progress(step.fraction, text=plain(step.stage)))
    except ImportConflictError as exc:
        st.session_state["pending_corrections"] = {"sha256": fingerprint, "layout": layout,
                                                   "preview": correction_preview(exc.conflicts)}
        return
    except QuestionnaireValidationError as exc:
        _refused(label, browser_text(exc), exc.problems)
        return
    except (StoreBusyError, AnalyticsError) as exc:
        _refused(label, browser_text(exc))
        return
    st.session_state.pop("pending_corrections", None)
    rows = report.frame[[c for c in ("line", "patient_id", "assessment_date", "day") if c in report.frame]]
    located = locate_warnings(result.report.warnings if result.report is not None else report.warnings,
                              pd.concat([rows, raw.frame.assign(line=raw.lines)], ignore_index=True),
                              source=label)
    st.session_state["last_import"] = {"text": result.to_text(), "file": label, "warnings": located}
    st.session_state["source"] = "store"  # the sidebar's data source: the store now holds this import
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1  # an empty uploader
    if not result.changed_nothing:
        _prepare_dashboard_tables(db)
    clear_caches()
    st.rerun()


def _prepare_dashboard_tables(db) -> None:
    """The Overview's outcome tables of the new store state, computed now (kept beside the store) so that the
    first visit after this import reads them instead of computing them."""
    with st.spinner("Preparing the dashboard's outcome tables..."):
        precompute_outcome_tables(db)


def _offer_corrections(data: bytes, suffix: str, label: str, mapping) -> bool:
    """After a conflict: what would change, old → new per questionnaire, and the button that accepts it."""
    pending = st.session_state.get("pending_corrections")
    layout = _layout(mapping) if mapping is not None and mapping.columns else None
    if not pending or pending["sha256"] != hashlib.sha256(data).hexdigest() or pending["layout"] != layout:
        return False
    preview = pending["preview"]
    _refused(label, f"{len(preview)} questionnaire(s) already in the store have other values in this file. If the "
                    "file holds corrections, accept them below: the new values replace the stored ones, and the old "
                    "ones are kept in the correction history (the import can be reverted).")
    st.markdown("**What would change** (stored value → value in this file; a value the file leaves blank is kept)")
    show_table(preview)
    download(preview, "corrections_preview", "Download what would change (CSV)")
    if st.button(f"Accept these {len(preview)} correction(s) and import", type="primary", key="accept_corrections"):
        _import(data, suffix, label, mapping, accept=True)
    return True


# ----------------------------------------------------------------------------- the page

_show_last_import()
st.subheader("Import an export")
st.caption(f"Into the clinic store `{plain(db)}`. The file is checked first; nothing is written unless all of it "
           "is usable. De-identified data only: files with names, birth dates, addresses and the like are refused.")
upload = st.file_uploader("Questionnaire export", type=DATA_TYPES,
                          key=f"upload_{st.session_state.get('upload_round', 0)}")
if upload is not None:
    st.session_state.pop("last_import", None)
    label = upload_label(upload.name)
    data = upload.getvalue()
    mapping = None
    try:
        suffix = upload_suffix(upload.name, DATA_TYPES)
        if suffix in (".json", ".ndjson"):
            st.caption("A FHIR export: its questionnaires are read by their codes; no columns to match.")
        else:
            mapping = _mapping_screen(data, suffix, label)
    except AnalyticsError as exc:
        _refused(label, browser_text(exc), getattr(exc, "problems", None))
        suffix = None
    if suffix is not None and (mapping is not None or suffix in (".json", ".ndjson")):
        if not _offer_corrections(data, suffix, label, mapping):
            if st.button("Check and import", type="primary", key="do_import"):
                st.session_state.pop("pending_corrections", None)  # one left from another file is stale
                _import(data, suffix, label, mapping, accept=False)
                if st.session_state.get("pending_corrections"):
                    st.rerun()

st.subheader("Import history")
history = _from_store(list_imports)
if history.empty:
    st.info("No imports yet. The dashboard shows the synthetic sample until the store holds data.")
else:
    shown = history[["id", "kind", "started_at", "user", "file_name", "mapping", "sha256", "rows_read", "added",
                     "unchanged", "corrected", "removed", "restored", "warnings", "warning_summary", "reverted_by"]]
    show_table(shown)
    download(shown, "import_history", "Download the import history (CSV)")
    open_imports = history[(history["kind"] == "import") & history["reverted_by"].isna()]
    if st.session_state.get("role") == "director" and len(open_imports):
        with st.expander("Revert an import"):
            described = {int(r["id"]): f"Import {r['id']}: {r['file_name']} ({r['started_at']}; {r['added']} added, "
                                        f"{r['corrected']} corrected)" for r in open_imports.to_dict("records")}
            chosen = st.selectbox("Import to revert", list(described)[::-1], key="revert_id",
                                  format_func=described.get)
            st.caption("Removes the questionnaires it added and restores the values it corrected. The revert is "
                       "its own entry in the history and on the audit trail; import the file again to undo it.")
            sure = st.checkbox(f"Yes, revert import {chosen}", key="revert_confirm")
            if st.button("Revert import", key="do_revert", disabled=not sure):
                try:
                    revert_id = revert_import(int(chosen), db=db, user=signed_in_user())
                    st.session_state["reverted"] = (int(chosen), revert_id)
                    st.session_state.pop("last_import", None)
                    _prepare_dashboard_tables(db)
                    clear_caches()
                    st.rerun()
                except AnalyticsError as exc:
                    st.error(browser_text(exc))
    if st.session_state.get("reverted"):
        done, entry = st.session_state["reverted"]
        row = history.set_index("id").loc[entry] if entry in set(history["id"]) else None
        if row is not None:
            st.success(f"Import {done} reverted (history entry {entry}): {row['removed']} questionnaire(s) removed, "
                       f"{row['restored']} restored. Recorded on the audit trail.", icon=":material/undo:")

st.subheader("Audit trail")
trail = _from_store(list_audit)
if trail.empty:
    st.info("Nothing recorded yet. Every import, revert, export and research export will be listed here.")
else:
    show_table(trail.iloc[::-1])
    st.caption("Append-only: the store refuses any change to these rows, and each row carries the hash of its "
               "content and of the row before, so an edit made to the file directly shows (the command-line tool "
               "verifies the chain). Newest first.")
    download(trail, "audit_trail", "Download the audit trail (CSV)")

st.divider()
view = page_setup("Data quality", subheading=True)
report, patients = view.report, view.patients
counts = report.counts
quality = data_quality_counts(patients, counts, definitions=view.definitions)
show_table(quality)
st.caption(view.filter_text + " Counts of rows and questionnaires are for the whole data source.")
download(quality, "data_quality", "Download the data-quality summary (CSV)")
if len(report.warnings):
    located = _located_warnings(report, view.key[0])
    st.markdown("**Warning rows**, with the patient and date each is about")
    show_table(located)
    download(located, "data_quality_rows", "Download the warning rows (CSV)")
footer()
