"""Command-line handlers for the sessions table: ``import-sessions`` and ``validate-sessions``.

One handler per subcommand (``add_*_parser`` builds its options and sets ``handler``,
``run_*`` runs it and returns the exit code); :mod:`analytics.cli` registers them.  :func:`sessions_for`
gives the commands that read questionnaires (``summary``, ``export``) the sessions
that go with them: ``--sessions FILE``, else the store's sessions when the
questionnaires come from the store.
"""
from __future__ import annotations

import json
import sys

import pandas as pd

from .errors import SessionValidationError
from .session_store import import_sessions, read_session_store, store_has_sessions
from .sessions import DISSOCIATION_SCALES, validate_sessions
from .sources import read_session_source
from .store import default_db_path

__all__ = ["add_import_sessions_parser", "add_validate_sessions_parser", "add_sessions_option", "run_import_sessions",
           "run_validate_sessions", "sessions_for", "with_sessions", "tolerability_text", "tolerability_json",
           "PARSERS"]

EXIT_OK, EXIT_BAD_INPUT = 0, 1
_FILE_HELP = "sessions table (.csv, .xlsx, .parquet): one row per treatment session"
_SCALE_HELP = "scale of the dissociation column when the table has no dissociation_scale column"


def add_import_sessions_parser(sub, db_help: str) -> None:
    p = sub.add_parser("import-sessions", help="validate a sessions table and add it to the store in one transaction")
    p.add_argument("file", help=_FILE_HELP)
    p.add_argument("--db", help=db_help)
    p.add_argument("--mapping", help="TOML mapping of the export's headers to the sessions table's columns")
    p.add_argument("--dissociation-scale", choices=tuple(DISSOCIATION_SCALES), help=_SCALE_HELP)
    p.add_argument("--accept-corrections", action="store_true",
                   help="let new values replace stored ones (the old values are kept in the correction history)")
    p.set_defaults(handler=run_import_sessions)


def add_validate_sessions_parser(sub, db_help: str) -> None:
    p = sub.add_parser("validate-sessions", help="check a sessions table and print the validation report")
    p.add_argument("file", nargs="?", help=_FILE_HELP + "; without it, the store's sessions")
    p.add_argument("--db", help=db_help)
    p.add_argument("--mapping", help="TOML mapping of the export's headers to the sessions table's columns")
    p.add_argument("--dissociation-scale", choices=tuple(DISSOCIATION_SCALES), help=_SCALE_HELP)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_validate_sessions)


def add_sessions_option(parser) -> None:
    """``--sessions FILE`` for a command that reads questionnaires (the store's sessions go with the store)."""
    parser.add_argument("--sessions", metavar="FILE",
                        help="sessions table to go with a questionnaire FILE (tolerability figures); when reading "
                             "the store, its sessions are used")
    parser.add_argument("--dissociation-scale", choices=tuple(DISSOCIATION_SCALES), help=_SCALE_HELP)


def run_import_sessions(args) -> int:
    raw = read_session_source(args.file, mapping=args.mapping)
    try:
        result = import_sessions(raw, db=args.db, source_format=raw.file_format, mapping=args.mapping,
                                 dissociation_scale=args.dissociation_scale,
                                 accept_corrections=args.accept_corrections)
    except SessionValidationError as exc:
        print(f"refused: {exc}\n", file=sys.stderr)
        print(exc.problems.to_string(index=False), file=sys.stderr)
        return EXIT_BAD_INPUT
    if result.changed_nothing:
        print(f"{result.file_name}: nothing new; all {result.unchanged} session(s) are already in the store with the "
              "same values. The store is unchanged.")
    else:
        print(f"{result.file_name}: import {result.import_id} done. {result.rows_read} rows read, {result.added} "
              f"session(s) added, {result.unchanged} already present, {result.corrected} corrected, "
              f"{result.warnings} warning row(s).")
    print(f"store: {args.db or default_db_path()}")
    return EXIT_OK


def run_validate_sessions(args) -> int:
    if args.file:
        report = validate_sessions(read_session_source(args.file, mapping=args.mapping),
                                   dissociation_scale=args.dissociation_scale)
    else:
        report = read_session_store(args.db or default_db_path())
    if args.format == "json":
        print(json.dumps({"source": report.source, "sha256": report.sha256, "ok": report.ok, "counts": report.counts,
                          "errors": _records(report.errors), "warnings": _records(report.warnings)}, indent=2,
                         default=str))
    else:
        print(report.to_text())
    return EXIT_OK if report.ok else EXIT_BAD_INPUT


#: the parser builders analytics.cli registers (each sets its handler)
PARSERS = (add_import_sessions_parser, add_validate_sessions_parser)


def sessions_for(args) -> pd.DataFrame | None:
    """The canonical sessions that go with the command's questionnaires, or None when there are none.

    ``--sessions FILE`` when given; otherwise, when the questionnaires come from the
    store, the store's sessions (if any).  A refused sessions table stops the
    command (its report is raised), rather than leaving tolerability out silently.
    """
    path = getattr(args, "sessions", None)
    if path:
        report = validate_sessions(read_session_source(path, mapping=None),
                                   dissociation_scale=getattr(args, "dissociation_scale", None))
        report.raise_if_invalid()
        return report.frame
    if getattr(args, "file", None):
        return None
    db = args.db or default_db_path()
    return read_session_store(db).frame if store_has_sessions(db) else None


def with_sessions(report, args):
    """``(report, sessions)``: the sessions that go with the questionnaires (:func:`sessions_for`), and the report
    with ``infusion_number`` derived from them when the questionnaires have none (a note says so)."""
    from dataclasses import replace

    from .sessions import with_infusion_numbers

    sessions = sessions_for(args)
    frame = with_infusion_numbers(report.frame, sessions)
    if frame is not report.frame:
        print("note: infusion_number derived from the sessions table (1 + sessions with a dose before the "
              "questionnaire, within its episode)", file=sys.stderr)
        report = replace(report, frame=frame, counts={**report.counts, "infusion_number": "derived from sessions"})
    return report, sessions


def tolerability_json(sessions: pd.DataFrame, patients=None) -> dict:
    """The tolerability figures for ``summary --format json`` (counts, rates and intervals; no suppression:
    the summary is for the clinic itself)."""
    from .definitions import TOLERABILITY_SOURCES
    from .tolerability import tolerability_table

    table = tolerability_table(sessions, patients=patients, suppression=False).drop(columns=["suppressed"])
    return {"rows": _records(table), "threshold_sources": dict(TOLERABILITY_SOURCES)}


def tolerability_text(sessions: pd.DataFrame, patients=None) -> str:
    """Tolerability for ``summary``: every measure with n, events, rate and its 95% interval."""
    from .tolerability import tolerability_table

    table = tolerability_table(sessions, patients=patients, suppression=False)
    lines = [f"\nTolerability ({table.loc[table['unit'] == 'patient', 'n'].max()} patients with sessions; "
             "Wilson 95% intervals; thresholds are clinic conventions, see docs/methods.md):"]
    for r in table.itertuples(index=False):  # tens of rows
        rate = "no data" if r.rate is None or pd.isna(r.rate) else \
            f"{r.rate:.1%} ({r.ci_low:.1%}-{r.ci_high:.1%})"
        lines.append(f"  {r.measure:40} {r.unit:8} {r.route:22} n={r.n:<6} events={r.events:<6} {rate}")
    return "\n".join(lines)


def _records(table):
    return table.astype(object).where(table.notna(), None).to_dict("records")

