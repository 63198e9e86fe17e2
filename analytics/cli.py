"""Command line: ``python -m analytics validate|summary|import|imports``.

Machine contract: command and option names, the JSON keys of ``summary
--format json`` and the exit codes are stable.  Exit codes: 0 done,
1 bad input or refused import (the report is printed), 2 bad options,
3 internal error (reported without a traceback; set ANALYTICS_DEBUG=1 to see it),
4 the store is busy (another import is running; nothing was written).

Every command that reads data takes a FILE or, without one, the store
(``--db PATH``, else ``$OUTCOMES_DB``, else ``data/outcomes.sqlite``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from .definitions import ANALYSIS_MODES, OutcomeDefinitions
from .errors import AnalyticsError, DefinitionError, QuestionnaireValidationError, UnreadableFileError
from .sources import read_source
from .store import (
    ImportConflictError,
    StoreBusyError,
    default_db_path,
    import_questionnaires,
    list_imports,
    read_store,
    revert_import,
)
from .summary import clinic_summary
from .validation import validate_questionnaires

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_BAD_OPTIONS, EXIT_INTERNAL, EXIT_BUSY = 0, 1, 2, 3, 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Outcome analytics for ketamine and interventional-psychiatry clinics (de-identified PHQ-9 data).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    db_help = "the store to read or write (default: $OUTCOMES_DB, else data/outcomes.sqlite)"
    file_help = "questionnaire file (.csv, .xlsx, .parquet; FHIR .json/.ndjson; REDCap CSV); without it, the store"

    v = sub.add_parser("validate", help="check a questionnaire file and print the validation report")
    v.add_argument("file", nargs="?", help=file_help)
    v.add_argument("--db", help=db_help)
    v.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    v.add_argument("--format", choices=("text", "json"), default="text")

    s = sub.add_parser("summary", help="response, remission and SI-resolution rates with benchmarks")
    s.add_argument("file", nargs="?", help=file_help)
    s.add_argument("--db", help=db_help)
    s.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    s.add_argument("--week", type=int, default=6, help="endpoint week W (target day 7*W; default 6)")
    s.add_argument("--window-days", type=int, default=7, help="endpoint window +/- days (default 7)")
    s.add_argument("--min-baseline", type=int, default=10, help="minimum baseline PHQ-9 total (default 10)")
    s.add_argument("--analysis", choices=ANALYSIS_MODES, default="completer",
                   help="completer, itt (intention to treat) or locf (last observation carried forward)")
    s.add_argument("--format", choices=("text", "json"), default="text")

    i = sub.add_parser("import", help="validate a file and add it to the store in one transaction")
    i.add_argument("file", help=file_help.split(";")[0] + "; FHIR .json/.ndjson; REDCap CSV)")
    i.add_argument("--db", help=db_help)
    i.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    i.add_argument("--accept-corrections", action="store_true",
                   help="let new values replace stored ones (the old values are kept in the correction history)")

    e = sub.add_parser("export", help="the quarterly outcome export: summary.csv, XLSX, HTML report, manifest")
    e.add_argument("file", nargs="?", help=file_help)
    e.add_argument("--quarter", required=True, help="e.g. 2026Q3: the patients whose treatment started in it")
    e.add_argument("--db", help=db_help)
    e.add_argument("--mapping", help="TOML mapping of the export's headers to the input contract")
    e.add_argument("--out", default="exports", help="folder for the files (default: exports/<quarter>)")
    e.add_argument("--format", default="xlsx,csv,html", help="comma-separated: xlsx, csv, html (default all)")
    e.add_argument("--no-suppression", action="store_true",
                   help="INTERNAL USE ONLY: show small cells; every file is marked 'INTERNAL – contains small cells'")
    e.add_argument("--week", type=int, default=6)
    e.add_argument("--window-days", type=int, default=7)
    e.add_argument("--min-baseline", type=int, default=10)
    e.add_argument("--analysis", choices=ANALYSIS_MODES, default="completer")
    e.add_argument("--qm-window-days", type=int, default=60,
                   help="half-width of the 12-month quality-measure window (default 60; CMS v6 uses 30)")

    h = sub.add_parser("imports", help="list the import history, or revert one import")
    h.add_argument("--db", help=db_help)
    h.add_argument("--revert", type=int, metavar="ID", help="remove what import ID added and restore what it corrected")
    h.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"validate": _validate, "summary": _summary, "import": _import, "imports": _imports,
                "export": _export}[args.command](args)
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
    except AnalyticsError as exc:
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
    return read_store(args.db or default_db_path())


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
    definitions = OutcomeDefinitions(week=args.week, window_days=args.window_days,
                                     min_baseline=args.min_baseline, analysis=args.analysis)
    report = _load(args)
    if not report.ok:
        print(report.to_text(), file=sys.stderr)
        return EXIT_BAD_INPUT
    summary = clinic_summary(report.frame, definitions=definitions, source=report.source,
                             sha256=report.sha256, validation=report.counts)
    if args.format == "json":
        print(json.dumps(summary.as_dict(), indent=2, default=_jsonable))
    else:
        print(summary.to_text())
        if len(report.warnings):
            print(f"\nValidation: {len(report.warnings)} warning row(s); run `python -m analytics validate "
                  f"{args.file or ''}` to list them.")
    return EXIT_OK


def _import(args) -> int:
    raw = read_source(args.file, mapping=args.mapping)
    for note in raw.notes:
        print(f"note: {note}")
    try:
        result = import_questionnaires(raw, db=args.db, source_format=raw.file_format, mapping=args.mapping,
                                       accept_corrections=args.accept_corrections)
    except QuestionnaireValidationError as exc:
        if isinstance(exc, UnreadableFileError):
            raise
        print(f"refused: {exc}\n", file=sys.stderr)
        print(exc.problems.to_string(index=False), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.to_text())
    print(f"store: {args.db or default_db_path()}")
    return EXIT_OK


def _export(args) -> int:
    from . import __version__
    from .quarterly import quarterly_export, write_quarterly_export
    from .store import list_imports, store_fingerprint

    definitions = OutcomeDefinitions(week=args.week, window_days=args.window_days,
                                     min_baseline=args.min_baseline, analysis=args.analysis)
    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    from .cohorts import quarter_bounds
    quarter_bounds(args.quarter)  # a malformed quarter is an option error, before any reading
    report = _load(args)
    if not report.ok:
        print(report.to_text(), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.file:
        source = {"kind": "file", "file": report.source, "sha256": report.sha256}
    else:
        db = args.db or default_db_path()
        history = list_imports(db)
        source = {"kind": "store", "store": str(db), "fingerprint": store_fingerprint(db),
                  "imports": history[["id", "file_name", "sha256"]].to_dict("records")}
    export = quarterly_export(report.frame, quarter=args.quarter, definitions=definitions,
                              suppression=not args.no_suppression, qm_window_days=args.qm_window_days,
                              source=source, software_version=__version__)
    out = Path(args.out) / export.quarter
    written = write_quarterly_export(export, out, formats=formats)
    if args.no_suppression:
        print("WARNING: small cells are NOT suppressed; every file is marked 'INTERNAL – contains small cells'.",
              file=sys.stderr)
    print(f"{export.quarter}: wrote " + ", ".join(str(p) for p in written))
    return EXIT_OK


def _imports(args) -> int:
    db = args.db or default_db_path()
    if args.revert is not None:
        revert_id = revert_import(args.revert, db=db)
        row = list_imports(db).set_index("id").loc[revert_id]
        print(f"reverted import {args.revert} as entry {revert_id}: {row['removed']} questionnaire(s) removed, "
              f"{row['restored']} restored to their earlier values.")
        return EXIT_OK
    history = list_imports(db)
    if args.format == "json":
        print(json.dumps(_records(history), indent=2, default=_jsonable))
    elif history.empty:
        print(f"{db}: no imports yet.")
    else:
        shown = history[["id", "kind", "started_at", "file_name", "rows_read", "added", "unchanged", "corrected",
                         "removed", "restored", "warnings", "reverted_by"]]
        print(shown.astype(object).where(shown.notna(), "").to_string(index=False))
    return EXIT_OK


def _records(table):
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)
