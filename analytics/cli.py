"""Command line: ``python -m analytics COMMAND`` (installed as ``ketamine-outcomes COMMAND``).

Commands (one handler function each, named after the command):

``validate [FILE]``
    Check a questionnaire file (or the store) and print the validation report.
``summary [FILE]``
    Response, remission and SI-resolution rates with the published benchmarks.
``import FILE``
    Validate a file and add it to the store in one transaction.
``imports [--revert ID]``
    List the import history, or revert one import.
``export [FILE] --quarter YYYYQn``
    The quarterly outcome export: summary.csv, XLSX, HTML report and manifest.
``cohort save|list|show|compare``
    Save, list, show and compare research cohorts (kept in the store).
``research-export COHORT --out DIR``
    A reproducible de-identified dataset of a saved cohort.
``audit [--verify]``
    The audit trail of every import, revert, export and research export; ``--verify`` checks its hash chain.
``store copy --from SOURCE --to TARGET``
    Copy a store (e.g. an SQLite file into PostgreSQL) with its history and audit trail, and verify the copy.
``store init``
    Create the store's tables or migrate them (on PostgreSQL, as the owner role).
``import-sessions FILE``, ``validate-sessions [FILE]``
    The sessions table (one row per treatment session): handlers in :mod:`analytics.cli_sessions`.
    ``summary`` and ``export`` take ``--sessions FILE`` (the store's sessions go with the store).

Machine contract: command and option names, the JSON keys of ``summary
--format json`` and the exit codes are stable.  Exit codes: 0 done,
1 bad input or refused import (the report is printed), 2 bad options,
3 internal error (reported without a traceback; set ANALYTICS_DEBUG=1 to see it),
4 the store is busy (another import is running; nothing was written).

Every command that reads data takes a FILE or, without one, the store
(``--db PATH``, else ``$OUTCOMES_DB``, else ``data/outcomes.sqlite``).  The store may be a
PostgreSQL database: ``--db postgresql://USER@HOST:PORT/DATABASE``, the password in
``$PGPASSWORD`` or ``~/.pgpass`` (a URL with a password is refused).

Longer than most modules (about 500 lines) on purpose: the parser and one short handler per command, so the
whole machine contract (commands, options, output and exit codes) reads in one place; the work itself is
done by the modules it imports.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from . import __version__, cli_sessions
from .audit import audited, list_audit, verify_audit
from .cohorts import apply_cohort, quarter_bounds
from .comparisons import compare_rates, compare_time_to_event
from .definitions import ANALYSIS_MODES, EPISODE_SELECTIONS, QUALITY_12M_WINDOW_DAYS, OutcomeDefinitions
from .episodes import split_episodes_after_gap
from .errors import AnalyticsError, DefinitionError, QuestionnaireValidationError, UnreadableFileError
from .instruments import INSTRUMENT_CHOICES, outcome_scale
from .outcomes import patient_outcomes, scale_metrics
from .progress import progress_reporter
from .quarterly import quarterly_export, write_quarterly_export
from .research_export import write_research_export
from .settings import load_settings
from .sources import read_source
from .statistics import wilson_proportion
from .store import (
    ImportConflictError,
    StoreBusyError,
    default_db_path,
    import_questionnaires,
    list_cohorts,
    list_imports,
    load_cohort,
    read_store,
    revert_import,
    save_cohort,
    store_fingerprint,
)
from .summary import clinic_summary
from .validation import validate_questionnaires

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_BAD_OPTIONS, EXIT_INTERNAL, EXIT_BUSY = 0, 1, 2, 3, 4


def _add_definition_options(parser) -> None:
    """The outcome definitions every analysing command takes (defaults: those of ``OutcomeDefinitions``)."""
    spec = OutcomeDefinitions()
    parser.add_argument("--week", type=int, default=spec.week,
                        help=f"endpoint week W (target day 7*W; default {spec.week})")
    parser.add_argument("--window-days", type=int, default=spec.window_days,
                        help=f"endpoint window +/- days (default {spec.window_days})")
    parser.add_argument("--min-baseline", type=int, default=spec.min_baseline,
                        help=f"minimum baseline PHQ-9 total (default {spec.min_baseline})")
    parser.add_argument("--analysis", choices=ANALYSIS_MODES, default=spec.analysis,
                        help="completer, itt (intention to treat) or locf (last observation carried forward)")
    parser.add_argument("--episodes", choices=EPISODE_SELECTIONS, default=spec.episodes,
                        help="which treatment courses count: first (default; the first induction), all (every "
                             "episode a unit; episodes of one patient are not independent) or latest")
    parser.add_argument("--new-episode-after-days", type=int, metavar="N",
                        help="for patients without treatment_start_date: start a new episode at the first scored "
                             "questionnaire after a gap of at least N days without any (off by default)")


def _instrument(value: str):
    """``--instrument``: the outcome scale, or an argparse error naming the allowed values."""
    try:
        return outcome_scale(value)
    except DefinitionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_instrument_option(parser) -> None:
    parser.add_argument("--instrument", type=_instrument, default=outcome_scale("phq9"), metavar="NAME",
                        help=f"the instrument the outcomes use: {', '.join(INSTRUMENT_CHOICES)} (default phq9; "
                             "madrs: remission <= 12, madrs-10: remission <= 10; pcl5: meaningful change and probable "
                             "PTSD). Its own total and thresholds; 'no data' when the data have none of its scores")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Outcome analytics for ketamine and interventional-psychiatry clinics (de-identified PHQ-9 data).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    db_help = ("the store to read or write: a file, or postgresql://USER@HOST:PORT/DATABASE (default: $OUTCOMES_DB, "
               "else data/outcomes.sqlite)")
    file_help = "questionnaire file (.csv, .xlsx, .parquet; FHIR .json/.ndjson; REDCap CSV); without it, the store"

    v = sub.add_parser("validate", help="check a questionnaire file and print the validation report")
    v.add_argument("file", nargs="?", help=file_help)
    v.add_argument("--db", help=db_help)
    v.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.set_defaults(handler=_validate)

    s = sub.add_parser("summary", help="response, remission and SI-resolution rates with benchmarks")
    s.add_argument("file", nargs="?", help=file_help)
    s.add_argument("--db", help=db_help)
    s.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    _add_definition_options(s)
    _add_instrument_option(s)
    s.add_argument("--format", choices=("text", "json"), default="text")
    cli_sessions.add_sessions_option(s)
    s.set_defaults(handler=_summary)

    i = sub.add_parser("import", help="validate a file and add it to the store in one transaction")
    i.add_argument("file", help=file_help.split(";")[0] + "; FHIR .json/.ndjson; REDCap CSV)")
    i.add_argument("--db", help=db_help)
    i.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    i.add_argument("--accept-corrections", action="store_true",
                   help="let new values replace stored ones (the old values are kept in the correction history)")
    i.set_defaults(handler=_import)

    e = sub.add_parser("export", help="the quarterly outcome export: summary.csv, XLSX, HTML report, manifest")
    e.add_argument("file", nargs="?", help=file_help)
    e.add_argument("--quarter", required=True, help="e.g. 2026Q3: the patients whose treatment started in it")
    e.add_argument("--db", help=db_help)
    e.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    e.add_argument("--out", default="exports", help="folder for the files (default: exports/<quarter>)")
    e.add_argument("--format", default="xlsx,csv,html",
                   help="comma-separated: xlsx, csv, html, pdf (default xlsx,csv,html; pdf needs Chromium)")
    e.add_argument("--clinic-name", help="the clinic's name at the top of the report (default: the saved setting, "
                                         "$OUTCOMES_SETTINGS or data/settings.toml, else 'Our clinic')")
    e.add_argument("--no-suppression", action="store_true",
                   help="INTERNAL USE ONLY (the director's version): show small cells and every site's figures; "
                        "every file is marked 'INTERNAL — not for release'")
    _add_definition_options(e)
    e.add_argument("--qm-window-days", type=int, default=QUALITY_12M_WINDOW_DAYS,
                   help=f"half-width of the 12-month quality-measure window (default {QUALITY_12M_WINDOW_DAYS}; "
                        "CMS v6 uses 30)")
    cli_sessions.add_sessions_option(e)
    e.set_defaults(handler=_export)

    c = sub.add_parser("cohort", help="save, list, show and compare research cohorts (kept in the store)")
    csub = c.add_subparsers(dest="cohort_command", required=True)
    for name, helptext, handler in (
            ("save", "save a cohort definition by name", _cohort_save),
            ("list", "list saved cohorts", _cohort_list),
            ("show", "a saved cohort: definition, whether the data changed, headline figures", _cohort_show),
            ("compare", "compare two or more saved cohorts", _cohort_compare)):
        cp = csub.add_parser(name, help=helptext)
        cp.set_defaults(handler=handler)
        if name in ("save", "show"):
            cp.add_argument("name")
        if name == "compare":
            cp.add_argument("names", nargs="+", metavar="NAME")
            cp.add_argument("--metric", choices=("response", "remission", "si_resolution", "meaningful_change",
                                                 "loss_of_probable_ptsd"), default=None,
                            help="default: response (PCL-5: meaningful_change); si_resolution is PHQ-9's only")
        cp.add_argument("--db", help=db_help)
        if name != "list":
            cp.add_argument("--file", help="read the data from this file instead of the store")
            cp.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
            _add_definition_options(cp)
            if name in ("show", "compare"):
                _add_instrument_option(cp)
            cp.add_argument("--format", choices=("text", "json"), default="text")
        if name == "save":
            for flag in ("site", "clinician", "protocol", "diagnosis", "age-band", "sex", "baseline-band"):
                cp.add_argument(f"--{flag}", nargs="+", metavar="VALUE")
            cp.add_argument("--si-at-baseline", choices=("yes", "no"))
            cp.add_argument("--start-from", metavar="YYYY-MM-DD")
            cp.add_argument("--start-to", metavar="YYYY-MM-DD")
            cp.add_argument("--min-infusions", type=int)
            cp.add_argument("--min-questionnaires", type=int)

    r = sub.add_parser("research-export", help="a reproducible de-identified dataset of a saved cohort")
    r.add_argument("cohort", help="name of a saved cohort (python -m analytics cohort list)")
    r.add_argument("--out", required=True, help="folder for the dataset")
    r.add_argument("--db", help=db_help)
    r.add_argument("--file", help="read the data from this file instead of the store")
    r.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    _add_definition_options(r)
    cli_sessions.add_sessions_option(r)
    r.set_defaults(handler=_research_export)

    a = sub.add_parser("audit", help="the audit trail: every import, revert, export and research export")
    a.add_argument("--db", help=db_help)
    a.add_argument("--format", choices=("text", "json"), default="text")
    a.add_argument("--verify", action="store_true",
                   help="check the hash chain: exit 0 when every row verifies, 1 naming the first broken row")
    a.set_defaults(handler=_audit)

    h = sub.add_parser("imports", help="list the import history, or revert one import")
    h.add_argument("--db", help=db_help)
    h.add_argument("--revert", type=int, metavar="ID", help="remove what import ID added and restore what it corrected")
    h.add_argument("--format", choices=("text", "json"), default="text")
    h.set_defaults(handler=_imports)

    st = sub.add_parser("store", help="move the store: copy an SQLite store to PostgreSQL (or back), verified")
    ssub = st.add_subparsers(dest="store_command", required=True)
    sc = ssub.add_parser("copy", help="copy every table (history, corrections, audit trail, cohorts) into an empty "
                                      "store, then verify row counts, content hashes, fingerprint and audit chain")
    sc.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                    help="the store to copy: a file, or postgresql://USER@HOST:PORT/DATABASE")
    sc.add_argument("--to", dest="target", required=True, metavar="TARGET",
                    help="an empty store: postgresql://USER@HOST:PORT/DATABASE (password from $PGPASSWORD or "
                         "~/.pgpass, never in the URL), or a new file")
    sc.add_argument("--format", choices=("text", "json"), default="text")
    sc.set_defaults(handler=_store_copy)
    si = ssub.add_parser("init", help="create the store's tables, or migrate them to this version (on PostgreSQL: "
                                      "run it as the owner role)")
    si.add_argument("--db", help=db_help)
    si.set_defaults(handler=_store_init)
    for add_parser in cli_sessions.PARSERS:
        add_parser(sub, db_help)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    except StoreBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except ImportConflictError as exc:
        print(f"refused: {exc}\n", file=sys.stderr)
        print(exc.conflicts.to_string(index=False), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnreadableFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except QuestionnaireValidationError as exc:  # a refused sessions table given with --sessions
        print(f"refused: {exc}\n", file=sys.stderr)
        print(exc.problems.to_string(index=False), file=sys.stderr)
        return EXIT_BAD_INPUT
    except AnalyticsError as exc:  # an unreadable file included
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # never a traceback for the user
        if os.environ.get("ANALYTICS_DEBUG"):
            traceback.print_exc()
        print("internal error: the analysis failed unexpectedly. Please report it with the command you ran "
              "(set ANALYTICS_DEBUG=1 to see the details).", file=sys.stderr)
        return EXIT_INTERNAL


def _load(args):
    """Validation report of the FILE argument, or of the store when there is none."""
    if args.file:
        raw = read_source(args.file, mapping=args.mapping)
        for note in raw.notes:
            print(f"note: {note}", file=sys.stderr)
        return validate_questionnaires(raw)
    return read_store(_db(args))


def _db(args):
    """The store a command reads or writes: ``--db``, else ``$OUTCOMES_DB``, else the default path."""
    return args.db or default_db_path()


def _definitions(args) -> OutcomeDefinitions:
    return OutcomeDefinitions(week=args.week, window_days=args.window_days, min_baseline=args.min_baseline,
                              analysis=args.analysis, episodes=args.episodes)


def _usable(args):
    """The validated data, or None after printing the report of a refused source."""
    report = _load(args)
    if not report.ok:
        print(report.to_text(), file=sys.stderr)
        return None
    gap = getattr(args, "new_episode_after_days", None)
    if gap is not None:
        frame = split_episodes_after_gap(report.frame, after_days=gap)
        print(f"note: episodes split after gaps of {gap} days or more without a questionnaire (patients "
              "without treatment_start_date only)", file=sys.stderr)
        report = replace(report, frame=frame, counts={**report.counts, "new_episode_after_days": gap})
    return report


def _fingerprint(args, report) -> str:
    """What the figures were computed from: the file's hash, or the store's fingerprint."""
    return f"sha256:{report.sha256}" if args.file else store_fingerprint(_db(args))


# ----------------------------------------------------------------------------- one handler per command

def _validate(args) -> int:
    report = _load(args)
    if args.format == "json":
        print(json.dumps({
            "source": report.source, "sha256": report.sha256, "ok": report.ok, "counts": report.counts,
            "errors": _records(report.errors), "warnings": _records(report.warnings),
        }, indent=2))
    else:
        print(report.to_text())
    return EXIT_OK if report.ok else EXIT_BAD_INPUT


def _summary(args) -> int:
    definitions = _definitions(args)
    report = _usable(args)
    if report is None:
        return EXIT_BAD_INPUT
    report, sessions = cli_sessions.with_sessions(report, args)
    summary = clinic_summary(report.frame, definitions=definitions, source=report.source,
                             sha256=report.sha256, validation=report.counts, instrument=args.instrument)
    patients = report.frame["patient_id"].astype("str").unique()
    if args.format == "json":
        out = summary.as_dict()
        if sessions is not None:
            out["tolerability"] = cli_sessions.tolerability_json(sessions, patients)
        print(json.dumps(out, indent=2, default=_jsonable))
    else:
        print(summary.to_text())
        if sessions is not None:
            print(cli_sessions.tolerability_text(sessions, patients))
        if len(report.warnings):
            print(f"\nValidation: {len(report.warnings)} warning row(s); run `python -m analytics validate "
                  f"{args.file or ''}` to list them.")
    return EXIT_OK


def _terminal_progress(command: str):
    """Progress lines on stderr for a person watching a terminal; nothing when output goes to a file or a pipe."""
    if not sys.stderr.isatty():
        return None
    return lambda step: print(f"{command}: {step.to_text()}", file=sys.stderr, flush=True)


def _import(args) -> int:
    raw = read_source(args.file, mapping=args.mapping)
    for note in raw.notes:
        print(f"note: {note}")
    try:
        result = import_questionnaires(raw, db=args.db, source_format=raw.file_format, mapping=args.mapping,
                                       accept_corrections=args.accept_corrections, progress=_terminal_progress("import"))
    except UnreadableFileError:
        raise  # one problem and no table: main reports it as an error
    except QuestionnaireValidationError as exc:
        print(f"refused: {exc}\n", file=sys.stderr)
        print(exc.problems.to_string(index=False), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.to_text())
    print(f"store: {_db(args)}")
    if not result.changed_nothing:
        _prepare_dashboard_tables(_db(args))
    return EXIT_OK


def _prepare_dashboard_tables(db) -> None:
    """The dashboard's outcome tables of the new store state, computed now so its first visitor reads them."""
    from .outcome_cache import precompute_outcome_tables
    started = time.perf_counter()
    print("preparing the dashboard's outcome tables for its first visitor (the import itself is done) ...",
          flush=True)
    if not precompute_outcome_tables(db):  # an empty or unreadable store: nothing written, nothing raised
        print("  none prepared; the dashboard computes what it needs on its first visit.")
        return
    print(f"  prepared in {time.perf_counter() - started:.1f} s.")


def _imports(args) -> int:
    db = _db(args)
    if args.revert is not None:
        revert_id = revert_import(args.revert, db=db)
        row = list_imports(db).set_index("id").loc[revert_id]
        unit = "session(s)" if row.get("data_table") == "sessions" else "questionnaire(s)"
        print(f"reverted import {args.revert} as entry {revert_id}: {row['removed']} {unit} removed, "
              f"{row['restored']} restored to their earlier values.")
        _prepare_dashboard_tables(db)
        return EXIT_OK
    history = list_imports(db)
    if args.format == "json":
        print(json.dumps(_records(history), indent=2, default=_jsonable))
    elif history.empty:
        print(f"{db}: no imports yet.")
    else:
        shown = history[["id", "kind", "data_table", "started_at", "file_name", "rows_read", "added", "unchanged", "corrected",
                         "removed", "restored", "warnings", "reverted_by"]]
        print(shown.astype(object).where(shown.notna(), "").to_string(index=False))
    return EXIT_OK


def _export(args) -> int:
    definitions = _definitions(args)
    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    quarter_bounds(args.quarter)  # a malformed quarter is an option error, before any reading
    say = progress_reporter(_terminal_progress("export"))
    say("reading the data", 0.0)
    report = _usable(args)
    if report is None:
        return EXIT_BAD_INPUT
    report, sessions = cli_sessions.with_sessions(report, args)
    say(f"computing quarter {args.quarter}", 0.4)
    if args.file:
        source = {"kind": "file", "file": report.source, "sha256": report.sha256}
    else:
        db = _db(args)
        history = list_imports(db)
        source = {"kind": "store", "store": str(db), "fingerprint": store_fingerprint(db),
                  "imports": history[["id", "file_name", "sha256"]].to_dict("records")}
    clinic_name = args.clinic_name if args.clinic_name is not None else load_settings().clinic_name
    export = quarterly_export(report.frame, quarter=args.quarter, definitions=definitions,
                              suppression=not args.no_suppression, qm_window_days=args.qm_window_days,
                              source=source, software_version=__version__, clinic_name=clinic_name,
                              sessions=sessions)
    out = Path(args.out) / export.quarter
    # recorded before the first file is written and after the last: a failure half-way is on record
    say(f"writing {', '.join(formats)}", 0.7)
    with audited("export", {"quarter": export.quarter, "parameters": export.manifest["parameters"],
                            "source": source, "out": str(out)}, db=_db(args)) as done:
        written = _writing(out, lambda: write_quarterly_export(export, out, formats=formats))
        done["files"] = _hashes(written)
    say("done", 1.0)
    if args.no_suppression:
        print("WARNING: small cells are NOT suppressed; every file is marked 'INTERNAL — not for release'.",
              file=sys.stderr)
    print(f"{export.quarter}: wrote " + ", ".join(str(p) for p in written))
    return EXIT_OK


def _cohort_list(args) -> int:
    db = _db(args)
    cohorts = list_cohorts(db)
    print(cohorts.to_string(index=False) if len(cohorts) else f"{db}: no saved cohorts.")
    return EXIT_OK


def _cohort_save(args) -> int:
    definitions = _definitions(args)
    report = _usable(args)
    if report is None:
        return EXIT_BAD_INPUT
    fingerprint = _fingerprint(args, report)
    patients = patient_outcomes(report.frame, definitions=definitions)
    definition = {
        "site": args.site, "clinician": args.clinician, "protocol": args.protocol, "diagnosis": args.diagnosis,
        "age_band": args.age_band, "sex": args.sex, "baseline_band": args.baseline_band,
        "si_at_baseline": None if args.si_at_baseline is None else args.si_at_baseline == "yes",
        "start_from": args.start_from, "start_to": args.start_to, "min_infusions": args.min_infusions,
        "min_questionnaires": args.min_questionnaires}
    selected = apply_cohort(report.frame, patients, definition)
    save_cohort(args.name, definition, fingerprint=fingerprint, db=_db(args))
    print(f"saved cohort {args.name!r}: {len(selected)} patients now; data fingerprint {fingerprint}")
    return EXIT_OK


def _cohort_show(args) -> int:
    definitions = _definitions(args)
    report = _usable(args)
    if report is None:
        return EXIT_BAD_INPUT
    fingerprint = _fingerprint(args, report)
    patients = patient_outcomes(report.frame, definitions=definitions)
    saved = load_cohort(args.name, _db(args))
    selected = apply_cohort(report.frame, patients, saved["definition"])
    scale = args.instrument
    selected = _on_instrument(report.frame, selected, definitions, scale)
    rates = {m: _proportion(selected, column).as_dict() for m, (column, _) in scale_metrics(scale).items()}
    out = {"name": saved["name"], "definition": saved["definition"], "saved_at": saved["saved_at"],
           "fingerprint_saved": saved["fingerprint"], "fingerprint_now": fingerprint,
           "data_changed_since_saved": saved["fingerprint"] != fingerprint, "patients": len(selected),
           **rates, "instrument": scale.choice, "instrument_rules": list(scale.rules),
           "definitions": definitions.as_dict()}
    if args.format == "json":
        print(json.dumps(out, indent=2, default=_jsonable))
        return EXIT_OK
    changed = ("CHANGED since the cohort was saved" if out["data_changed_since_saved"]
               else "unchanged since the cohort was saved")
    print(f"cohort {out['name']}: {json.dumps(out['definition'])}\n  saved {out['saved_at']}; data "
          f"{changed} ({out['fingerprint_saved']} -> {fingerprint})\n  {len(selected)} patients. "
          f"{definitions.describe()}" + ("" if scale.is_phq9 else f"\n  {scale.describe()}"))
    for key, (_, label) in scale_metrics(scale).items():
        r = out[key]
        rate = "no data" if r["rate"] is None else f"{r['rate']:.1%} ({r['ci_low']:.1%}-{r['ci_high']:.1%})"
        print(f"  {key:14} n={r['n']:<6} events={r['events']:<6} {rate}   {label}")
    return EXIT_OK


def _cohort_compare(args) -> int:
    definitions = _definitions(args)
    report = _usable(args)
    if report is None:
        return EXIT_BAD_INPUT
    patients = patient_outcomes(report.frame, definitions=definitions)
    scale = args.instrument
    metric = args.metric or scale.metrics[0]
    parts = [_on_instrument(report.frame, apply_cohort(report.frame, patients, load_cohort(name, _db(args))["definition"]),
                            definitions, scale).assign(cohort=name)
             for name in args.names]
    stacked = pd.concat(parts, ignore_index=True)
    overlap = stacked[["patient_id", "episode"]].duplicated().sum()
    rates = compare_rates(stacked, by="cohort", metric=metric, instrument=scale)
    timing = {m: compare_time_to_event(stacked, by="cohort", metric=m, definitions=definitions, instrument=scale)
              for m in scale.metrics}
    warning = (f"{overlap} patient(s) are in more than one cohort: the tests assume separate groups"
               if overlap else None)
    if args.format == "json":
        print(json.dumps({"metric": metric, "instrument": scale.choice, "label": scale_metrics(scale)[metric][1],
                          "rates": _records(rates["rates"]), "test": rates["test"],
                          "statistic": rates["statistic"], "p_value": rates["p_value"],
                          "pairs": _records(rates["pairs"]), "warning": rates["warning"] or warning,
                          "time_to_event": {m: {"method": t["method"], "tests": _records(t["tests"]),
                                                "omnibus": {"chi_square": t["omnibus"].chi_square,
                                                            "df": t["omnibus"].df, "p_value": t["omnibus"].p_value,
                                                            "warning": t["omnibus"].warning},
                                                "at_risk": _records(t["at_risk"])}
                                            for m, t in timing.items()},
                          "definitions": definitions.as_dict()}, indent=2, default=_jsonable))
        return EXIT_OK
    print(f"{scale_metrics(scale)[metric][1]} by cohort. {definitions.describe()}"
          + ("" if scale.is_phq9 else f" {scale.describe()}") + "\n")
    print(rates["rates"].to_string(index=False))
    print(f"\ntest: {rates['test']}" + ("" if rates["p_value"] is None else
                                         f", p = {rates['p_value']:.3g}"))
    for w in (rates["warning"], warning):
        if w:
            print(f"note: {w}")
    if len(rates["pairs"]):
        print("\n" + rates["pairs"].to_string(index=False))
    for m, t in timing.items():
        omni = t["omnibus"]
        print(f"\ntime to first {m}: {t['method']}\nomnibus log-rank: " +
              (f"chi-square {omni.chi_square:.2f}, {omni.df} df, p = {omni.p_value:.3g}" if omni.p_value is not None
               else omni.warning) + "\n" + t["tests"].to_string(index=False))
    return EXIT_OK


def _on_instrument(frame: pd.DataFrame, selected: pd.DataFrame, definitions, scale) -> pd.DataFrame:
    """The cohort's units (chosen on PHQ-9, as saved) with their outcomes on ``scale`` (the same rows on PHQ-9)."""
    if scale.is_phq9:
        return selected
    on_scale = patient_outcomes(frame, definitions=definitions, instrument=scale)
    keys = pd.MultiIndex.from_frame(selected[["patient_id", "episode"]])
    return on_scale[pd.MultiIndex.from_frame(on_scale[["patient_id", "episode"]]).isin(keys)].reset_index(drop=True)


def _proportion(patients: pd.DataFrame, column: str):
    values = patients[column]
    return wilson_proportion(int(values.fillna(False).sum()), int(values.notna().sum()))


def _research_export(args) -> int:
    db = _db(args)
    definitions = _definitions(args)
    saved = load_cohort(args.cohort, db)
    say = progress_reporter(_terminal_progress("research-export"))
    say("reading the data", 0.0)
    report = _usable(args)
    if report is None:
        return EXIT_BAD_INPUT
    say("selecting the cohort", 0.4)
    fingerprint = _fingerprint(args, report)
    report, sessions = cli_sessions.with_sessions(report, args)
    if fingerprint != saved["fingerprint"]:
        print(f"note: the data changed since cohort {saved['name']!r} was saved ({saved['fingerprint']} -> "
              f"{fingerprint}); the export uses the data as they are now.", file=sys.stderr)
    patients = apply_cohort(report.frame, patient_outcomes(report.frame, definitions=definitions),
                            saved["definition"])
    say(f"writing {len(patients):,} patients under new study ids", 0.6)
    with audited("research export", {"cohort": saved["name"], "definition": saved["definition"],
                                     "parameters": definitions.as_dict(), "fingerprint": fingerprint,
                                     "out": str(args.out), "patients": len(patients)}, db=db) as done:
        # the key (study id -> pseudonym) goes into the store that holds the cohort, never into --out
        result = _writing(args.out, lambda: write_research_export(
            report.frame, patients, cohort={"name": saved["name"], "definition": saved["definition"]},
            definitions=definitions, out_dir=args.out, fingerprint=fingerprint, software_version=__version__,
            db=db, sessions=sessions))
        done["files"] = _hashes(result.files)
        done["export_id"] = result.export_id
    say("done", 1.0)
    print(f"{saved['name']}: {result.patients} patients under new study ids; wrote "
          + ", ".join(p.name for p in result.files) + f" to {args.out}. The key to the study ids is kept in the "
          f"store {db} (export id {result.export_id}), not in the export.")
    return EXIT_OK


def _audit(args) -> int:
    db = _db(args)
    if args.verify:
        result = verify_audit(db)
        if args.format == "json":
            print(json.dumps({"ok": result.ok, "rows_verified": result.rows, "broken_id": result.broken_id,
                              "problem": result.problem or None}, indent=2))
        else:
            print(result.to_text(), file=sys.stdout if result.ok else sys.stderr)
        return EXIT_OK if result.ok else EXIT_BAD_INPUT
    trail = list_audit(db).drop(columns=["prev_hash", "hash"])
    if args.format == "json":
        print(json.dumps(_records(trail.assign(details=trail["details"].map(json.loads))), indent=2,
                         default=_jsonable))
    elif trail.empty:
        print("the audit trail is empty.")
    else:
        print(trail.assign(details=trail["details"].str.slice(0, 120)).to_string(index=False))
    return EXIT_OK


def _store_init(args) -> int:
    from .store_backends import store_backend
    from .store_connection import open_store

    db = _db(args)
    con = open_store(db)
    try:
        version = store_backend(db).schema_version(con)
    finally:
        con.close()
    print(f"{store_backend(db)}: store ready, schema v{version}.")
    return EXIT_OK


def _store_copy(args) -> int:
    from .store_copy import copy_store

    result = copy_store(args.source, args.target)
    if args.format == "json":
        print(json.dumps({"source": result.source, "target": result.target, "rows": result.rows,
                          "sha256": result.digests, "fingerprint": result.fingerprint,
                          "audit_rows_verified": result.audit_rows}, indent=2))
    else:
        print(result.to_text())
    return EXIT_OK


# ----------------------------------------------------------------------------- output helpers

def _writing(out, write):
    """Run ``write``; a folder that cannot be written is the user's to fix, said plainly (the audit trail keeps
    the started and failed rows)."""
    try:
        return write()
    except OSError as exc:
        raise AnalyticsError(f"{out}: the export could not be written ({exc.strerror or exc}"
                             f"{': ' + str(exc.filename) if exc.filename else ''}). Files written before the "
                             "failure may be incomplete; choose a writable folder with --out and run it again.") \
            from None


def _hashes(paths) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _records(table):
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)
